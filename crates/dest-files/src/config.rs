//! [`FilesConfig`]: where the files go, in which format, and how they are compressed.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use spillway_core::{DestError, ErrorKind, WriteModes};

/// The file format of the part files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Format {
    /// Apache Parquet (the default), zstd-compressed unless told otherwise.
    #[default]
    Parquet,
    /// Newline-delimited JSON, one object per row; optionally gzip-compressed.
    Ndjson,
    /// CSV with a header line; optionally gzip-compressed.
    Csv,
}

impl Format {
    /// The name used in the configuration (`parquet`, `ndjson`, `csv`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }

    /// The compression used when the configuration names none.
    pub fn default_compression(self) -> Compression {
        match self {
            Format::Parquet => Compression::Zstd,
            Format::Ndjson | Format::Csv => Compression::None,
        }
    }

    /// Whether this format can use `compression`.
    pub fn supports(self, compression: Compression) -> bool {
        match self {
            Format::Parquet => compression != Compression::Gzip,
            Format::Ndjson | Format::Csv => {
                matches!(compression, Compression::Gzip | Compression::None)
            }
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "parquet" => Ok(Format::Parquet),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "format = {other:?} is unknown; expected \"parquet\", \"ndjson\" or \"csv\""
            )),
        }
    }
}

impl TryFrom<String> for Format {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// How part files are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Compression {
    /// Parquet's zstd codec (the Parquet default).
    Zstd,
    /// Parquet's snappy codec.
    Snappy,
    /// The whole NDJSON/CSV file gzip-compressed (`.ndjson.gz`, `.csv.gz`).
    Gzip,
    /// No compression (the NDJSON/CSV default).
    None,
}

impl Compression {
    /// The name used in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zstd" => Ok(Compression::Zstd),
            "snappy" => Ok(Compression::Snappy),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "none" | "uncompressed" => Ok(Compression::None),
            other => Err(format!(
                "compression = {other:?} is unknown; expected \"zstd\" or \"snappy\" (parquet), \
                 \"gzip\" (ndjson, csv) or \"none\""
            )),
        }
    }
}

impl TryFrom<String> for Compression {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The files destination's configuration (the TOML keys of a `kind = "files"` destination,
/// less `kind`).
///
/// `path` is a local directory (created if missing) or `s3://bucket/prefix`. For S3 the
/// credentials, region and endpoint come from the usual AWS environment variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, …); the keys below override them. An `http://` endpoint (MinIO, moto,
/// a local gateway) is allowed without setting `allow_http`.
///
/// `Debug` never prints the secret key or the session token.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// A local directory or `s3://bucket/prefix`.
    pub path: String,
    /// The format of new part files (default Parquet).
    #[serde(default)]
    pub format: Format,
    /// The compression (default: zstd for Parquet, none for NDJSON and CSV).
    #[serde(default)]
    pub compression: Option<Compression>,
    /// S3: the endpoint URL (S3-compatible storage); else `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3: the region; else `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: allow plain HTTP (implied by an `http://` endpoint).
    #[serde(default)]
    pub allow_http: Option<bool>,
    /// S3: the access key id; else `AWS_ACCESS_KEY_ID`.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// S3: the secret access key; else `AWS_SECRET_ACCESS_KEY`. Never printed.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// S3: a session token; else `AWS_SESSION_TOKEN`. Never printed.
    #[serde(default)]
    pub session_token: Option<String>,
    /// The write modes (set by the caller, not a TOML key of this struct).
    #[serde(skip)]
    pub modes: WriteModes,
}

impl FilesConfig {
    /// Parquet (zstd) files under `path`, every stream in `upsert`.
    pub fn new(path: impl Into<String>) -> Self {
        FilesConfig {
            path: path.into(),
            ..FilesConfig::default()
        }
    }

    /// Sets the format.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the compression.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Sets the write modes.
    pub fn with_modes(mut self, modes: WriteModes) -> Self {
        self.modes = modes;
        self
    }

    /// S3: sets the endpoint URL.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// S3: sets the access key id and secret access key.
    pub fn with_credentials(
        mut self,
        key_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(key_id.into());
        self.secret_access_key = Some(secret.into());
        self
    }

    /// The compression in effect, checked against the format; the error names the key.
    pub fn effective_compression(&self) -> Result<Compression, DestError> {
        let c = self
            .compression
            .unwrap_or_else(|| self.format.default_compression());
        if self.format.supports(c) {
            Ok(c)
        } else {
            Err(DestError::new(
                ErrorKind::Config,
                format!(
                    "files destination {}: compression = {:?} does not apply to format = {:?}; \
                     use {}",
                    self.path,
                    c.name(),
                    self.format.name(),
                    match self.format {
                        Format::Parquet => "\"zstd\", \"snappy\" or \"none\"",
                        _ => "\"gzip\" or \"none\"",
                    }
                ),
            ))
        }
    }

    /// Checks the configuration without touching storage; the error names the key to fix.
    pub fn validate(&self) -> Result<(), DestError> {
        let config_error = |m: String| DestError::new(ErrorKind::Config, m);
        if self.path.trim().is_empty() {
            return Err(config_error(
                "files destination: `path` is empty; set a local directory or s3://bucket/prefix"
                    .into(),
            ));
        }
        if let Some((scheme, _)) = self.path.split_once("://")
            && scheme != "s3"
            && scheme != "file"
        {
            return Err(config_error(format!(
                "files destination: path = {:?} has the unsupported scheme {scheme:?}; use a \
                 local directory, file:///dir or s3://bucket/prefix",
                self.path
            )));
        }
        self.effective_compression()?;
        self.modes
            .validate()
            .map_err(|e| config_error(format!("files destination {}: {e}", self.path)))?;
        Ok(())
    }
}

impl fmt::Debug for FilesConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("FilesConfig")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("compression", &self.compression)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("modes", &self.modes)
            .finish()
    }
}
