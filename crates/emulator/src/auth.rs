//! Authentication, plan gate and permission check (spec §2.2, §2.4), and the `Convex-Client`
//! header check.

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use spillway_convex_protocol::wire::codes;

use crate::EmulatorConfig;
use crate::errors::{
    ApiError, BAD_ADMIN_KEY_MESSAGE, OPERATION_NOT_PERMITTED_MESSAGE,
    STREAMING_EXPORT_NOT_ENABLED_MESSAGE,
};

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// No credentials at all.
    Unknown,
    /// An admin key with `deployment:data:view`.
    Admin,
    /// A valid key without `deployment:data:view`.
    Restricted,
}

const CLIENT_HEADER: &str = "convex-client";

/// Global middleware check: `Convex-Client` must contain a `-` (spec §2.2).
pub(crate) fn check_client_version(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CLIENT_HEADER) else {
        return Ok(());
    };
    let value = value.to_str().map_err(|_| {
        ApiError::bad_request(
            codes::HEADER_PARSE_FAILURE,
            "Convex-Client header contains non-ASCII characters",
        )
    })?;
    if !value.contains('-') {
        return Err(ApiError::bad_request(
            codes::INVALID_CLIENT_VERSION,
            format!("Invalid Convex-Client header {value:?}: expected <client-name>-<semver>"),
        ));
    }
    Ok(())
}

/// Parses `Authorization` (or the `adminKey` query parameter) into an identity.
pub(crate) fn authenticate(
    headers: &HeaderMap,
    raw_query: Option<&str>,
    config: &EmulatorConfig,
) -> Result<Identity, ApiError> {
    let key = match headers.get(header::AUTHORIZATION) {
        Some(h) => {
            let h = h.to_str().map_err(|_| {
                ApiError::bad_request(
                    codes::HEADER_PARSE_FAILURE,
                    "Authorization header contains non-ASCII characters",
                )
            })?;
            if h.len() < 7 {
                return Err(ApiError::bad_request(
                    codes::INVALID_HEADER_FAILURE,
                    "Invalid Authorization header: expected `Convex <deploy key>`",
                ));
            }
            let (scheme, rest) = h.split_at(7);
            if scheme.eq_ignore_ascii_case("convex ") {
                rest.to_string()
            } else if scheme.eq_ignore_ascii_case("bearer ") {
                // End-user OIDC tokens cannot be verified by the emulator (no identity provider).
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    codes::UNAUTHENTICATED,
                    "Could not verify OIDC token claim. Check that the token signature is valid \
                     and the token hasn't expired.",
                ));
            } else {
                return Err(ApiError::bad_request(
                    codes::INVALID_ADMIN_KEY,
                    "Invalid admin key",
                ));
            }
        }
        None => match admin_key_param(raw_query) {
            Some(k) => k,
            None => return Ok(Identity::Unknown),
        },
    };
    let presented = normalize_key(&key)?;
    let matches = |keys: &[String]| {
        keys.iter()
            .any(|k| normalize_key(k).is_ok_and(|k| !k.is_empty() && k == presented))
    };
    if matches(&config.admin_keys) {
        Ok(Identity::Admin)
    } else if matches(&config.restricted_keys) {
        Ok(Identity::Restricted)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::BAD_ADMIN_KEY,
            BAD_ADMIN_KEY_MESSAGE,
        ))
    }
}

/// Plan gate, then permission (spec §2.4 steps 3–4).
pub(crate) fn authorize(identity: Identity, config: &EmulatorConfig) -> Result<(), ApiError> {
    if !config.streaming_export_enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::STREAMING_EXPORT_NOT_ENABLED,
            STREAMING_EXPORT_NOT_ENABLED_MESSAGE,
        ));
    }
    match identity {
        Identity::Admin => Ok(()),
        Identity::Restricted => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::OPERATION_NOT_PERMITTED,
            OPERATION_NOT_PERMITTED_MESSAGE,
        )),
        Identity::Unknown => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::BAD_DEPLOY_KEY,
            format!(
                "The provided deploy key was invalid for deployment '{}'. Double check that the \
                 environment this key was generated for matches the desired deployment.",
                config.deployment_name
            ),
        )),
    }
}

fn admin_key_param(raw_query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw_query?).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k == "adminKey")
        .map(|(_, v)| v)
}

/// Strips the display prefix (`prod:`/`dev:` keep `<name>|<secret>`; `preview:`/`project:` keep
/// `<secret>`) and an "acting as user" `:<base64 json>` suffix.
pub(crate) fn normalize_key(key: &str) -> Result<String, ApiError> {
    let key = key.trim();
    let stripped = if let Some(rest) = key
        .strip_prefix("prod:")
        .or_else(|| key.strip_prefix("dev:"))
    {
        rest
    } else if key.starts_with("preview:") || key.starts_with("project:") {
        key.split_once('|').map_or(key, |(_, secret)| secret)
    } else {
        key
    };
    // The acting-user suffix lives after the secret.
    let (head, secret) = match stripped.rsplit_once('|') {
        Some((name, secret)) => (Some(name), secret),
        None => (None, stripped),
    };
    let secret = match secret.split_once(':') {
        Some((secret, suffix)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(suffix)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(suffix))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            if decoded.is_none() {
                return Err(ApiError::bad_request(
                    codes::HEADER_PARSE_FAILURE,
                    "Failed to parse the acting-user part of the admin key",
                ));
            }
            secret
        }
        None => secret,
    };
    Ok(match head {
        Some(name) => format!("{name}|{secret}"),
        None => secret.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prefixes() {
        assert_eq!(
            normalize_key("prod:happy-animal-123|abc").unwrap(),
            "happy-animal-123|abc"
        );
        assert_eq!(normalize_key("dev:x|abc").unwrap(), "x|abc");
        assert_eq!(normalize_key("preview:team:proj|abc").unwrap(), "abc");
        assert_eq!(normalize_key("project:team:proj|abc").unwrap(), "abc");
        assert_eq!(normalize_key("x|abc").unwrap(), "x|abc");
        let suffix = base64::engine::general_purpose::STANDARD.encode(b"{\"subject\":\"u\"}");
        assert_eq!(normalize_key(&format!("x|abc:{suffix}")).unwrap(), "x|abc");
        assert!(normalize_key("x|abc:notjson!").is_err());
    }
}
