//! Configuration of the Convex source (`[source] kind = "convex"`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use spillway_convex_protocol::names::{validate_component_path, validate_table_name};
use spillway_core::{ErrorKind, SourceError, StreamId};

/// A secret string whose `Debug`/`Display` never show the value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; only for building the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `[source]` for `kind = "convex"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvexConfig {
    /// Deployment URL, e.g. `https://happy-animal-123.convex.cloud` (no path).
    pub url: String,
    /// Deploy key (`prod:happy-animal-123|…`). Use `${CONVEX_DEPLOY_KEY}`; when absent the
    /// `CONVEX_DEPLOY_KEY` environment variable is used.
    #[serde(default)]
    pub deploy_key: Option<Secret>,
    /// Tables to read: `name` for the root component, `component/path/name` for a component's.
    /// Default: every table.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// Per-request timeout (default 5 minutes: a snapshot page may hold up to ~1 GiB).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long transient failures (5xx, 429, timeouts, resets) are retried before the sync
    /// fails (default 10 minutes).
    #[serde(default = "default_retry_for", with = "humantime_serde")]
    pub retry_for: Duration,
    /// Restart the snapshot automatically when the saved position has expired on the server
    /// (`SnapshotTooOld`, `InvalidWindowToReadDocuments`). Default true.
    #[serde(default = "default_true")]
    pub resnapshot_on_expiry: bool,
    /// Which export API to read through (default `auto`).
    #[serde(default)]
    pub api: ApiMode,
}

/// `source.api`: which of Convex's export APIs to read through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiMode {
    /// Data sync when the deployment offers it (and migrate a legacy position to it), else
    /// the legacy API.
    #[default]
    Auto,
    /// Only `POST /api/v1/data/sync` (spec §12); a deployment without it is an error.
    DataSync,
    /// Only `list_snapshot` + `document_deltas` (spec §7, §8).
    Legacy,
}

impl ApiMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiMode::Auto => "auto",
            ApiMode::DataSync => "data_sync",
            ApiMode::Legacy => "legacy",
        }
    }
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_retry_for() -> Duration {
    Duration::from_secs(600)
}

fn default_true() -> bool {
    true
}

impl ConvexConfig {
    /// A config for `url` and `deploy_key` with every other setting at its default.
    pub fn new(url: impl Into<String>, deploy_key: impl Into<String>) -> Self {
        ConvexConfig {
            url: url.into(),
            deploy_key: Some(Secret::new(deploy_key)),
            tables: None,
            request_timeout: default_request_timeout(),
            retry_for: default_retry_for(),
            resnapshot_on_expiry: true,
            api: ApiMode::Auto,
        }
    }

    /// Validates without any network access; returns the parsed base URL and table selection.
    pub fn validate(&self) -> Result<(url::Url, Option<Vec<StreamId>>), SourceError> {
        let config_err = |m: String| SourceError::new(ErrorKind::Config, m);
        let url = url::Url::parse(self.url.trim()).map_err(|e| {
            config_err(format!(
                "source.url {:?} is not a valid URL ({e}); expected e.g. https://happy-animal-123.convex.cloud",
                self.url
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(config_err(format!(
                "source.url {:?} must be an http(s) URL with a host, e.g. https://happy-animal-123.convex.cloud",
                self.url
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(config_err(
                "source.url must not contain credentials; put the deploy key in source.deploy_key"
                    .to_string(),
            ));
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.path().trim_end_matches('/').is_empty()
        {
            return Err(config_err(format!(
                "source.url {:?} must be the deployment's root URL without a path or query, e.g. https://{}",
                self.url,
                url.host_str().unwrap_or("happy-animal-123.convex.cloud")
            )));
        }
        let tables = match &self.tables {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(config_err(
                    "source.tables is empty; remove it to read every table, or list tables"
                        .to_string(),
                ));
            }
            Some(list) => {
                let mut streams = Vec::new();
                for (i, t) in list.iter().enumerate() {
                    let stream = StreamId::parse(t);
                    validate_table_name(&stream.name)
                        .and_then(|_| validate_component_path(&stream.namespace))
                        .map_err(|m| config_err(format!("source.tables[{i}]: {m}")))?;
                    streams.push(stream);
                }
                Some(streams)
            }
        };
        Ok((url, tables))
    }
}

mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// Parses `300ms`, `30s`, `5m`, `1h`.
    pub fn parse_duration(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}; use e.g. 30s, 5m, 500ms"))?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => {
                return Err(format!(
                    "invalid duration {text:?}; use e.g. 30s, 5m, 500ms"
                ));
            }
        };
        Ok(d)
    }
}

pub use humantime_serde::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let c = ConvexConfig::new("https://a.convex.cloud", "prod:a|supersecret");
        assert!(!format!("{c:?}").contains("supersecret"));
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = ConvexConfig::new("https://a.convex.cloud/api", "k");
        assert!(c.validate().unwrap_err().message.contains("root URL"));
        c.url = "not a url".into();
        assert!(c.validate().unwrap_err().message.contains("source.url"));
        c.url = "https://a.convex.cloud/".into();
        c.tables = Some(vec!["users".into(), "bad-name".into()]);
        let e = c.validate().unwrap_err().message;
        assert!(e.contains("source.tables[1]"), "{e}");
        c.tables = Some(vec!["waitlist/entries".into()]);
        let (_, t) = c.validate().unwrap();
        assert_eq!(t.unwrap()[0], StreamId::new("waitlist", "entries"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("fast").is_err());
    }
}
