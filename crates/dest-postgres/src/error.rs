//! Errors of the Postgres destination: every message names the server (`user@host:port/db`,
//! never the password) and what was being done (table, column, `_id`).

use spillway_core::{DestError, ErrorKind};
use tokio_postgres::error::SqlState;

/// A `DestError` of `kind` about the server `target`.
pub(crate) fn error(kind: ErrorKind, target: &str, what: impl std::fmt::Display) -> DestError {
    DestError::new(kind, format!("Postgres {target}: {what}"))
}

/// A data error (a value or batch that cannot be written).
pub(crate) fn data_error(target: &str, what: impl std::fmt::Display) -> DestError {
    error(ErrorKind::Data, target, what)
}

/// A configuration error (the database holds something spillway did not create, ...).
pub(crate) fn config_error(target: &str, what: impl std::fmt::Display) -> DestError {
    error(ErrorKind::Config, target, what)
}

/// An internal error (a broken invariant or an unexpected answer).
pub(crate) fn internal_error(target: &str, what: impl std::fmt::Display) -> DestError {
    error(ErrorKind::Internal, target, what)
}

/// Whether `e` means the connection is gone (closed, reset, or the server ended the session).
pub(crate) fn is_connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        }
        // Not a server error: an I/O failure on the socket.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// The kind of a failed statement.
pub(crate) fn classify(e: &tokio_postgres::Error) -> ErrorKind {
    if is_connection_lost(e) {
        return ErrorKind::Transient;
    }
    let Some(code) = e.code() else {
        return ErrorKind::Internal;
    };
    let c = code.code();
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
        || c.starts_with("53")
    {
        ErrorKind::Transient
    } else if c.starts_with("28") {
        ErrorKind::Auth
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE
        || *code == SqlState::INVALID_CATALOG_NAME
        || *code == SqlState::INVALID_SCHEMA_NAME
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        ErrorKind::Config
    } else if c.starts_with("22") || c.starts_with("23") {
        ErrorKind::Data
    } else {
        ErrorKind::Internal
    }
}

/// The server's message (with its detail and hint) or the client's, on one line.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; hint: {h}"));
            }
            if let Some(w) = db.where_() {
                s.push_str(&format!("; at: {}", w.replace('\n', " / ")));
            }
            s
        }
        None => match std::error::Error::source(e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    }
}

/// The error for a failed statement: `what` was being done, the server said `e`.
pub(crate) fn sql_error(target: &str, what: &str, e: &tokio_postgres::Error) -> DestError {
    let kind = classify(e);
    if is_connection_lost(e) {
        return error(
            kind,
            target,
            format!(
                "{what}: the connection was lost ({}); everything written since the last commit \
                 is discarded, nothing committed is lost",
                describe(e)
            ),
        );
    }
    error(kind, target, format!("{what}: {}", describe(e)))
}

/// The error for a connection that could not be opened, with a hint for the usual causes.
pub(crate) fn connect_error(target: &str, e: &tokio_postgres::Error) -> DestError {
    let msg = describe(e);
    let code = e.code();
    let (kind, hint) = if code == Some(&SqlState::INVALID_CATALOG_NAME) {
        (
            ErrorKind::Config,
            "the database does not exist; create it or fix the database name in `url`",
        )
    } else if code.is_some_and(|c| c.code().starts_with("28")) || msg.contains("password") {
        (
            ErrorKind::Auth,
            "the server refused the user or password; check the user in `url` and the password \
             (in `url` or PGPASSWORD)",
        )
    } else {
        (
            ErrorKind::Config,
            "is Postgres running there and reachable? check the host and port in `url`",
        )
    };
    error(kind, target, format!("cannot connect: {hint} ({msg})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_target() {
        let e = data_error("u@h:5432/db", "table \"t\", column \"c\": bad");
        assert_eq!(e.kind, ErrorKind::Data);
        assert_eq!(
            e.message,
            "Postgres u@h:5432/db: table \"t\", column \"c\": bad"
        );
    }
}
