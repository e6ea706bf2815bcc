//! Error kinds the engine acts on, and the source/destination error types.

use std::fmt;

/// What kind of failure an error is; decides retry and exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's configuration is wrong (bad URL, bad table name, impossible option).
    Config,
    /// Credentials are missing, wrong or insufficient, or the plan lacks the feature.
    Auth,
    /// A failure that may go away on retry (5xx, 429, timeouts, resets).
    Transient,
    /// Data that cannot be handled (malformed page, undecodable value).
    Data,
    /// A saved position is no longer readable (expired cursor); a re-snapshot is needed.
    Expired,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorKind {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Transient)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Config => "configuration error",
            ErrorKind::Auth => "authentication error",
            ErrorKind::Transient => "transient error",
            ErrorKind::Data => "data error",
            ErrorKind::Expired => "expired position",
            ErrorKind::Internal => "internal error",
        })
    }
}

/// A failure of a source. The message says what failed and, for user errors, what to fix;
/// it never contains credentials.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// The kind, for retry and exit-code decisions.
    pub kind: ErrorKind,
    /// The user-facing message.
    pub message: String,
}

impl SourceError {
    /// Builds an error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SourceError {
            kind,
            message: message.into(),
        }
    }

    /// Whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// A failure of a destination.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct DestError {
    /// The kind, for retry and exit-code decisions.
    pub kind: ErrorKind,
    /// The user-facing message.
    pub message: String,
}

impl DestError {
    /// Builds an error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DestError {
            kind,
            message: message.into(),
        }
    }
}
