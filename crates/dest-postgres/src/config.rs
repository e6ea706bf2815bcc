//! Configuration of the Postgres destination, and the password-free descriptions of it used in
//! messages.

use std::fmt;
use std::time::Duration;

use spillway_core::{DestError, ErrorKind, WriteModes};
use tokio_postgres::config::Host;

/// The schema tables go to unless the configuration names another.
pub const DEFAULT_SCHEMA: &str = "public";

/// How long connecting may take unless the URL sets `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest identifier Postgres keeps (`NAMEDATALEN - 1` bytes); longer ones are truncated
/// by the server, so spillway refuses them instead.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Where the Postgres destination writes.
///
/// ```toml
/// [[destination]]
/// kind = "postgres"
/// url = "postgres://postgres@127.0.0.1:5432/analytics"   # password via ${VAR} or PGPASSWORD
/// schema = "convex"                                        # default "public"
/// ```
///
/// `url` is a `postgres://` / `postgresql://` URL or a libpq-style `key=value` string. Without
/// a password in it, `PGPASSWORD` is used when set. Without a host, `localhost`. Connections
/// are plain TCP (or a Unix socket when the host is a path): TLS is not supported yet.
///
/// The write modes (`write_mode`, `soft_delete` and per-stream overrides) are not keys of
/// this struct: the CLI reads them and sets them with [`PostgresConfig::with_modes`]
/// (default: `upsert` for every stream).
///
/// `Debug` prints the URL with its password replaced by `***`.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct PostgresConfig {
    /// The connection string. Its password is never printed.
    pub url: String,
    /// The schema holding the tables and `_spillway_state`; created if missing.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// How each stream is written (see [`spillway_core::write_mode`]); checked at connect.
    #[serde(skip)]
    pub modes: WriteModes,
}

fn default_schema() -> String {
    DEFAULT_SCHEMA.to_string()
}

impl PostgresConfig {
    /// A configuration for `url`, writing to the schema `public`.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            schema: default_schema(),
            modes: WriteModes::default(),
        }
    }

    /// The same configuration writing streams in `modes`.
    pub fn with_modes(mut self, modes: WriteModes) -> Self {
        self.modes = modes;
        self
    }

    /// The same configuration writing to `schema`.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// `url` with its password (in the userinfo, a `password=` key or query parameter)
    /// replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// Parses `url` into a connection configuration, filling in the defaults (PGPASSWORD,
    /// `localhost`, a 10 s connect timeout, `application_name=spillway`).
    pub(crate) fn connect_config(&self) -> Result<tokio_postgres::Config, DestError> {
        let mut config: tokio_postgres::Config = self.url.parse().map_err(|e| {
            DestError::new(
                ErrorKind::Config,
                format!(
                    "Postgres destination: `url` {} is not a valid connection string ({e}); \
                     expected postgres://user@host:port/database or \
                     \"host=... port=... dbname=... user=...\"",
                    self.redacted_url()
                ),
            )
        })?;
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            config.host("localhost");
        }
        if config.get_password().is_none()
            && let Ok(p) = std::env::var("PGPASSWORD")
        {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("spillway");
        }
        if self.schema.is_empty() || self.schema.len() > MAX_IDENTIFIER_BYTES {
            return Err(DestError::new(
                ErrorKind::Config,
                format!(
                    "Postgres destination: `schema` {:?} must be 1 to {MAX_IDENTIFIER_BYTES} bytes \
                     long",
                    self.schema
                ),
            ));
        }
        if let Err(why) = self.modes.validate() {
            return Err(DestError::new(
                ErrorKind::Config,
                format!("Postgres destination: {why}"),
            ));
        }
        if self.schema.contains('\0') {
            return Err(DestError::new(
                ErrorKind::Config,
                "Postgres destination: `schema` contains a NUL character",
            ));
        }
        Ok(config)
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.redacted_url())
            .field("schema", &self.schema)
            .field("modes", &self.modes)
            .finish()
    }
}

/// `host:port/database` of a parsed configuration, for messages (never the password).
pub(crate) fn target(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = if config.get_hosts().is_empty() {
        config
            .get_hostaddrs()
            .iter()
            .map(ToString::to_string)
            .collect()
    } else {
        config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(s) => s.clone(),
                #[cfg(unix)]
                Host::Unix(p) => p.display().to_string(),
            })
            .collect()
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("(default)");
    format!("{user}{}:{port}/{db}", hosts.join(","))
}

/// Replaces the password of a connection string with `***`.
fn redact(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        redact_url(url)
    } else {
        redact_key_value(url)
    }
}

/// URL form: the password of the userinfo and a `password` query parameter.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = url[..scheme_end].to_string();
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

/// Key/value form: the value of every `password` key (quoted or not).
fn redact_key_value(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        // Copy whitespace.
        if chars[i].is_whitespace() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A key, up to `=` or whitespace.
        let key_start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let key: String = chars[key_start..i].iter().collect();
        out.push_str(&key);
        // Spaces and `=`.
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == '=') {
            out.push(chars[i]);
            i += 1;
        }
        // The value: quoted (with backslash escapes) or up to whitespace.
        let value_start = i;
        if i < chars.len() && chars[i] == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = i.min(chars.len());
        }
        if key.eq_ignore_ascii_case("password") {
            out.push_str("***");
        } else {
            out.extend(&chars[value_start..i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let cases = [
            (
                "postgres://user:s3cret@db.example:5433/app",
                "postgres://user:***@db.example:5433/app",
            ),
            (
                "postgresql://u:p%40ss@h/db?sslmode=disable&password=x2&application_name=a",
                "postgresql://u:***@h/db?sslmode=disable&password=***&application_name=a",
            ),
            (
                "postgres://postgres@127.0.0.1/test",
                "postgres://postgres@127.0.0.1/test",
            ),
            ("postgres://a:b@c@h", "postgres://a:***@h"),
            (
                "host=h user=u password=s3cret dbname=d",
                "host=h user=u password=*** dbname=d",
            ),
            (
                "host=h password = 'se cr\\'et' dbname=d",
                "host=h password = *** dbname=d",
            ),
            ("password=x", "password=***"),
            ("PASSWORD='a b'", "PASSWORD=***"),
        ];
        for (url, want) in cases {
            let c = PostgresConfig::new(url);
            assert_eq!(c.redacted_url(), want, "{url}");
            let dbg = format!("{c:?}");
            assert!(!dbg.contains("s3cret") && !dbg.contains("x2"), "{dbg}");
        }
    }

    #[test]
    fn targets_name_host_port_and_database() {
        let c = PostgresConfig::new("postgres://u:pw@db.example:5433/app");
        let t = target(&c.connect_config().unwrap());
        assert_eq!(t, "u@db.example:5433/app");
        let c = PostgresConfig::new("user=u dbname=d");
        assert_eq!(target(&c.connect_config().unwrap()), "u@localhost:5432/d");
    }

    #[test]
    fn modes_are_not_config_keys_and_are_checked() {
        let c: PostgresConfig =
            serde_json::from_str(r#"{"url": "postgres://h/db", "schema": "s"}"#).unwrap();
        assert_eq!(c.schema, "s");
        assert_eq!(c.modes, WriteModes::default());
        let bad = spillway_core::StreamMode {
            mode: spillway_core::WriteMode::Append,
            soft_delete: true,
        };
        let e = PostgresConfig::new("postgres://h/db")
            .with_modes(WriteModes::all(bad))
            .connect_config()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("soft_delete"), "{e}");
    }

    #[test]
    fn bad_config_is_a_config_error() {
        let e = PostgresConfig::new("postgres://u:pw@h:notaport/db")
            .connect_config()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(!e.message.contains("pw@"), "{e}");
        let e = PostgresConfig::new("postgres://h/db")
            .with_schema("x".repeat(64))
            .connect_config()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("`schema`"), "{e}");
    }
}
