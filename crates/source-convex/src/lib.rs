//! Convex source: reads a deployment through its data sync API or the legacy streaming export
//! API (`source.api`, default `auto`: data sync when the deployment offers it).
//!
//! Data sync (`/api/v1/data/sync`) pages a snapshot and then changes through one opaque cursor,
//! with explicit truncates for new, replaced and dropped tables. The legacy API takes a
//! consistent snapshot in pages (`list_snapshot`) and then follows the change log
//! (`document_deltas`). Either way later reads resume from the saved cursor, and a destination
//! synced through the legacy API moves to data sync without re-reading. Values are lossless
//! (`export_json` / `convex_encoded_json`), so Int64, bytes, NaN/±∞ and −0.0 survive.
//!
//! ```no_run
//! # async fn demo() -> Result<(), spillway_core::SourceError> {
//! use spillway_core::Source;
//! use spillway_source_convex::{ConvexConfig, ConvexSource};
//! let source = ConvexSource::try_new(ConvexConfig::new("https://happy-animal-123.convex.cloud", "prod:…"))?;
//! source.check().await?;
//! for s in source.streams().await? { println!("{}", s.id); }
//! # Ok(()) }
//! ```

mod ahead;
pub mod client;
pub mod columns;
pub mod config;
pub mod convert;
pub mod decode;
mod prefetch;
mod read;
mod read_data_sync;
pub mod retry;
pub mod scan;
pub mod state;
mod streams;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use spillway_convex_protocol::selection::Selection;
use spillway_core::channel::EventSender;
use spillway_core::{
    ErrorKind, ReadOptions, Source, SourceError, SourceState, StateKey, StreamId, StreamInfo,
};

pub use client::ConvexClient;
pub use config::{ApiMode, ConvexConfig, Secret};
pub use state::ConvexState;

use crate::retry::RetryPolicy;
use crate::state::Position;

/// The Convex source.
pub struct ConvexSource {
    client: ConvexClient,
    tables: Option<Vec<StreamId>>,
    selection: Selection,
    retry: RetryPolicy,
    resnapshot_on_expiry: bool,
    api: ApiMode,
}

impl ConvexSource {
    /// Validates `config` (no network) and builds the source.
    pub fn try_new(config: ConvexConfig) -> Result<Self, SourceError> {
        let (url, tables) = config.validate()?;
        let key = config.deploy_key.clone().filter(|k| !k.expose().trim().is_empty()).ok_or_else(|| {
            SourceError::new(
                ErrorKind::Config,
                "no deploy key: set source.deploy_key (e.g. deploy_key = \"${CONVEX_DEPLOY_KEY}\") or export CONVEX_DEPLOY_KEY",
            )
        })?;
        let client = ConvexClient::new(&url, &key, config.request_timeout)?;
        let mut source = ConvexSource {
            client,
            tables: None,
            selection: Selection::everything(),
            retry: RetryPolicy::with_total(config.retry_for),
            resnapshot_on_expiry: config.resnapshot_on_expiry,
            api: config.api,
        };
        if let Some(t) = tables {
            source = source.with_streams(t);
        }
        Ok(source)
    }

    /// Restricts the read to these streams (overrides `tables`).
    pub fn with_streams(mut self, streams: Vec<StreamId>) -> Self {
        self.selection = Selection::tables(
            streams
                .iter()
                .map(|s| (s.namespace.clone(), s.name.clone())),
        );
        self.tables = Some(streams);
        self
    }

    /// Chooses the export API (`source.api`).
    pub fn with_api(mut self, api: ApiMode) -> Self {
        self.api = api;
        self
    }

    /// Replaces the retry policy (tests use short budgets).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The selected streams, or `None` for every table.
    pub fn selected(&self) -> Option<&[StreamId]> {
        self.tables.as_deref()
    }
}

#[async_trait]
impl Source for ConvexSource {
    fn state_key(&self) -> StateKey {
        // The selection is part of the key: a different selection has its own cursor (deltas
        // cannot backfill a newly selected table, spec §17.15), so changing `tables` starts a
        // fresh snapshot of the new selection.
        let mut key = format!("convex:{}", self.client.host());
        if let Some(t) = &self.tables {
            let names: BTreeSet<String> = t.iter().map(StreamId::qualified).collect();
            key.push(':');
            key.push_str(&names.into_iter().collect::<Vec<_>>().join(","));
        }
        StateKey(key)
    }

    async fn check(&self) -> Result<(), SourceError> {
        let quick = RetryPolicy::with_total(Duration::from_secs(3));
        quick
            .run("test_streaming_export_connection", || {
                self.client.test_connection()
            })
            .await
            .map_err(SourceError::from)
    }

    async fn streams(&self) -> Result<Vec<StreamInfo>, SourceError> {
        streams::list(&self.client, &self.selection, &self.retry).await
    }

    async fn read(
        &self,
        resume: Option<SourceState>,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<(), SourceError> {
        let (resume, stale_tables) = match resume {
            Some(s) if !options.full_refresh => (Some(ConvexState::from_source_state(&s)?), None),
            // A full refresh empties every table the previous position had seen, even those
            // the server no longer lists (dropped tables send no tombstones, spec §17.13).
            Some(s) => (
                None,
                ConvexState::from_source_state(&s)
                    .ok()
                    .map(|s| s.tables_seen),
            ),
            None => (None, None),
        };
        let mut reader = read::Reader {
            client: &self.client,
            selection: &self.selection,
            retry: &self.retry,
            out,
            resnapshot_on_expiry: self.resnapshot_on_expiry,
            warned: BTreeSet::new(),
        };
        reader
            .run_api(self.api, resume, stale_tables.unwrap_or_default())
            .await
    }

    /// Destinations all reading deltas resume from the earliest cursor (the others skip the
    /// changes they hold); any other mix needs one read per destination.
    fn resume_from(&self, saved: &[Option<SourceState>]) -> Option<SourceState> {
        let first = saved.first()?;
        if saved.iter().all(|s| s == first) {
            return first.clone();
        }
        saved
            .iter()
            .map(|s| {
                let state = ConvexState::from_source_state(s.as_ref()?).ok()?;
                match state.position {
                    Position::Deltas { cursor } => Some((cursor.0, s.clone())),
                    // Data sync cursors are opaque: positions cannot be compared.
                    Position::Snapshot { .. } | Position::DataSync { .. } => None,
                }
            })
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min_by_key(|(cursor, _)| *cursor)
            .and_then(|(_, s)| s)
    }

    /// A deltas cursor: every change committed at or before it is delivered (spec §7).
    fn delivered_through(&self, state: &SourceState) -> Option<i64> {
        match ConvexState::from_source_state(state).ok()?.position {
            Position::Deltas { cursor } => Some(cursor.0),
            Position::Snapshot { .. } | Position::DataSync { .. } => None,
        }
    }
}
