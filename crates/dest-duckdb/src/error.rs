//! Errors of the DuckDB destination, with the file, table and column they concern.

use std::path::{Path, PathBuf};

use spillway_core::{DestError, ErrorKind};

/// A failure inside the DuckDB destination, before it becomes a [`DestError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum DuckDbError {
    /// The database file could not be opened.
    #[error("cannot open DuckDB database {}: {reason}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why, with what to do about it.
        reason: String,
    },
    /// A statement failed.
    #[error("DuckDB database {}: {what}: {source}", path.display())]
    Sql {
        /// The file.
        path: PathBuf,
        /// What was being done (names the table and column).
        what: String,
        /// DuckDB's error.
        #[source]
        source: duckdb::Error,
    },
    /// A batch or a stored value cannot be handled.
    #[error("DuckDB database {}: {what}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the table and column).
        what: String,
    },
    /// The database holds something spillway did not expect (e.g. a foreign table).
    #[error("DuckDB database {}: {what}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },
}

impl From<DuckDbError> for DestError {
    fn from(e: DuckDbError) -> Self {
        let kind = match &e {
            DuckDbError::Open { .. } | DuckDbError::Config { .. } => ErrorKind::Config,
            DuckDbError::Data { .. } => ErrorKind::Data,
            DuckDbError::Sql { source, .. } => classify(source),
        };
        DestError::new(kind, e.to_string())
    }
}

/// The kind of a DuckDB error: bad values are data errors, the rest is internal.
fn classify(e: &duckdb::Error) -> ErrorKind {
    let msg = e.to_string();
    let data_prefixes = [
        "Conversion Error",
        "Constraint Error",
        "Invalid Input Error",
        "Out of Range Error",
    ];
    if data_prefixes.iter().any(|p| msg.contains(p)) || msg.contains("Malformed JSON") {
        ErrorKind::Data
    } else if msg.contains("Out of Memory Error") || msg.contains("IO Error") {
        ErrorKind::Transient
    } else {
        ErrorKind::Internal
    }
}

/// Attaches the file and a description of the operation to DuckDB errors.
pub(crate) trait Context<T> {
    /// Wraps the error with `what` (evaluated only on failure).
    fn context(self, path: &Path, what: impl FnOnce() -> String) -> Result<T, DestError>;
}

impl<T> Context<T> for duckdb::Result<T> {
    fn context(self, path: &Path, what: impl FnOnce() -> String) -> Result<T, DestError> {
        self.map_err(|source| {
            DuckDbError::Sql {
                path: path.to_path_buf(),
                what: what(),
                source,
            }
            .into()
        })
    }
}

/// A data error about `path`.
pub(crate) fn data_error(path: &Path, what: impl Into<String>) -> DestError {
    DuckDbError::Data {
        path: path.to_path_buf(),
        what: what.into(),
    }
    .into()
}

/// A configuration error about `path`.
pub(crate) fn config_error(path: &Path, what: impl Into<String>) -> DestError {
    DuckDbError::Config {
        path: path.to_path_buf(),
        what: what.into(),
    }
    .into()
}

/// The error for a database that cannot be opened, with a hint for the usual causes.
pub(crate) fn open_error(path: &Path, source: &duckdb::Error) -> DestError {
    let msg = source.to_string();
    let hint = if msg.contains("Could not set lock") || msg.contains("Conflicting lock") {
        "the file is in use by another process (another spillway run, or a DuckDB shell); \
         close it and retry"
    } else if msg.contains("No such file or directory") || msg.contains("not exist") {
        "its directory does not exist; create it or fix `path`"
    } else if msg.contains("not a valid DuckDB database") {
        "the file exists but is not a DuckDB database; choose another `path`"
    } else if msg.contains("Permission denied") {
        "permission denied; check the file's and directory's permissions"
    } else {
        "check `path`"
    };
    DuckDbError::Open {
        path: path.to_path_buf(),
        reason: format!("{hint} ({msg})"),
    }
    .into()
}
