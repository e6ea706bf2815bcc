//! One Postgres connection, with the server's name attached to every error.

use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};
use tracing::{debug, warn};

use spillway_core::DestError;

use crate::config::{PostgresConfig, target};
use crate::error::{connect_error, sql_error};

/// An open connection.
pub(crate) struct Db {
    /// The client half (statements go through it).
    pub(crate) client: Client,
    /// The connection half, driven by a task of its own.
    task: JoinHandle<()>,
    /// `user@host:port/db`, for messages.
    pub(crate) target: String,
}

impl Db {
    /// Connects (plain TCP or a Unix socket; TLS is not supported yet).
    pub(crate) async fn connect(config: &PostgresConfig) -> Result<Self, DestError> {
        let pg = config.connect_config()?;
        let target = target(&pg);
        let (client, connection) = pg
            .connect(NoTls)
            .await
            .map_err(|e| connect_error(&target, &e))?;
        let t = target.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                warn!(target = %t, error = %crate::error::describe(&e), "Postgres connection ended.");
            }
        });
        debug!(target = %target, "Connected to Postgres.");
        Ok(Db {
            client,
            task,
            target,
        })
    }

    /// Whether the connection is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs statements without parameters (simple protocol; several may be separated by `;`).
    pub(crate) async fn exec(
        &self,
        sql: &str,
        what: impl FnOnce() -> String,
    ) -> Result<(), DestError> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| sql_error(&self.target, &what(), &e))
    }

    /// Runs one statement with parameters; returns the number of changed rows.
    pub(crate) async fn exec_params(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        what: impl FnOnce() -> String,
    ) -> Result<u64, DestError> {
        self.client
            .execute(sql, params)
            .await
            .map_err(|e| sql_error(&self.target, &what(), &e))
    }

    /// Runs a query with parameters and returns its rows.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        what: impl FnOnce() -> String,
    ) -> Result<Vec<Row>, DestError> {
        self.client
            .query(sql, params)
            .await
            .map_err(|e| sql_error(&self.target, &what(), &e))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Dropping the client ends the connection task by itself (it sends Terminate); the
        // server then rolls back any open transaction. Aborting is only for a task stuck on a
        // dead socket.
        if self.client.is_closed() {
            self.task.abort();
        }
    }
}
