//! The legacy API's pages fetched ahead of the reader ([`Pipeline`]): each body's
//! continuation is read by [`crate::scan`] so the next request goes out while the page is
//! decoded on the blocking pool. The decode checks that it reads the same continuation; a page
//! whose body cannot be scanned ends the pipeline (the reader asks for the next page itself).

use bytes::Bytes;
use spillway_convex_protocol::selection::Selection;
use spillway_core::ErrorKind;
use tokio::task::JoinHandle;

use crate::client::{ApiError, ConvexClient};
use crate::decode::{DeltasPage, SnapshotPage};
use crate::prefetch::Pipeline;
use crate::retry::RetryPolicy;
use crate::scan::{deltas_continuation, snapshot_continuation};

/// Pages that may exist ahead of the one the reader holds — being fetched, decoded or waiting
/// (a legacy page is about a megabyte of body, plus its decode). With 3, one is fetched while
/// two decode or wait: what `BENCHMARKS.md` measured.
const DEPTH: usize = 3;

/// The request for a snapshot page after the first.
pub(crate) struct SnapshotRequest {
    /// The snapshot being read.
    pub snapshot: i64,
    /// The cursor the previous page ended with.
    pub cursor: String,
}

/// Snapshot pages from `first` on.
pub(crate) fn snapshot_pages(
    client: &ConvexClient,
    selection: &Selection,
    retry: &RetryPolicy,
    first: SnapshotRequest,
) -> Pipeline<SnapshotPage> {
    let (client, selection, retry) = (client.clone(), selection.clone(), retry.clone());
    Pipeline::start(first, DEPTH, move |req: SnapshotRequest| {
        let (client, selection, retry) = (client.clone(), selection.clone(), retry.clone());
        async move {
            let body = retry
                .run("list_snapshot", || {
                    client.list_snapshot_body(Some(req.snapshot), Some(&req.cursor), &selection)
                })
                .await?;
            let scanned = snapshot_continuation(&body);
            let next = match &scanned {
                Some((snapshot, Some(cursor), true)) => Some(SnapshotRequest {
                    snapshot: *snapshot,
                    cursor: cursor.clone(),
                }),
                _ => None,
            };
            let decoding = decode_ahead("list_snapshot", body, scanned, move |body| {
                let page = client.decode_snapshot(body)?;
                let read = (page.snapshot, page.cursor.clone(), page.has_more);
                Ok((page, read))
            });
            Ok((decoding, next))
        }
    })
}

/// Deltas pages from the cursor `first` on.
pub(crate) fn deltas_pages(
    client: &ConvexClient,
    selection: &Selection,
    retry: &RetryPolicy,
    first: i64,
) -> Pipeline<DeltasPage> {
    let (client, selection, retry) = (client.clone(), selection.clone(), retry.clone());
    Pipeline::start(first, DEPTH, move |cursor: i64| {
        let (client, selection, retry) = (client.clone(), selection.clone(), retry.clone());
        async move {
            let body = retry
                .run("document_deltas", || {
                    client.document_deltas_body(cursor, &selection)
                })
                .await?;
            let scanned = deltas_continuation(&body);
            let next = match scanned {
                Some((cursor, true)) => Some(cursor),
                _ => None,
            };
            let decoding = decode_ahead("document_deltas", body, scanned, move |body| {
                let page = client.decode_deltas(body)?;
                let read = (page.cursor, page.has_more);
                Ok((page, read))
            });
            Ok((decoding, next))
        }
    })
}

/// Decodes `body` on the blocking pool; `decode` returns the page and the continuation it
/// read, which must be the `scanned` one the next request went out with (if any), else the
/// reader asks for the page again.
fn decode_ahead<P, C>(
    path: &'static str,
    body: Bytes,
    scanned: Option<C>,
    decode: impl FnOnce(&[u8]) -> Result<(P, C), ApiError> + Send + 'static,
) -> JoinHandle<Result<P, ApiError>>
where
    P: Send + 'static,
    C: PartialEq + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let (page, read) = decode(&body)?;
        match scanned {
            Some(s) if s != read => Err(ApiError::new(
                ErrorKind::Transient,
                format!("{path}: the page's continuation read ahead differs from the decoded one"),
            )),
            _ => Ok(page),
        }
    })
}
