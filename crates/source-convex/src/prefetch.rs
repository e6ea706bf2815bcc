//! The next page's request, started before the current page is decoded and sent.
//!
//! Every page carries the cursor of the next one, so the reader asks for page N+1 as soon as
//! page N has arrived and only then decodes N: the server (and the network) work while the
//! client converts and the destination writes. At most one request is ahead, so at most one
//! extra page is held in memory. A prefetch that is not used (the read stopped or failed) is
//! aborted when dropped.

use std::future::Future;

use spillway_core::ErrorKind;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::client::ApiError;

/// At most one request running ahead of the reader.
pub(crate) struct Prefetch<T>(Option<JoinHandle<Result<T, ApiError>>>);

impl<T: Send + 'static> Prefetch<T> {
    /// Nothing running.
    pub(crate) fn none() -> Self {
        Prefetch(None)
    }

    /// Starts `request` in the background (replacing, and aborting, any earlier one).
    pub(crate) fn start<F>(&mut self, request: F)
    where
        F: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        if let Some(old) = self.0.replace(tokio::spawn(request)) {
            old.abort();
        }
    }

    /// The prefetched result if one was started, else the result of `now`.
    pub(crate) async fn take_or<Fut>(&mut self, now: impl FnOnce() -> Fut) -> Result<T, ApiError>
    where
        Fut: Future<Output = Result<T, ApiError>>,
    {
        match self.0.take() {
            Some(handle) => handle.await.unwrap_or_else(|e| {
                Err(ApiError::new(
                    ErrorKind::Internal,
                    format!("the prefetched page request did not complete: {e}"),
                ))
            }),
            None => now().await,
        }
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// Pages fetched ahead of the reader by a task of their own, each decoded on the blocking pool
/// while the next is fetched.
///
/// [`Prefetch`] asks for page N+1 only once page N is decoded, so the server's work and the
/// decoding take turns. A pipeline's fetching task reads the next request out of each body as
/// it arrives ([`crate::scan`]) and asks for it at once, so serving, decoding and writing all
/// overlap; at most `depth` fetched pages (being fetched, decoded or waiting) exist besides the
/// one the reader holds.
pub(crate) struct Pipeline<P> {
    pages: mpsc::Receiver<Slot<P>>,
    fetcher: JoinHandle<()>,
}

/// One fetched page: its decode (running or done), or why fetching it failed.
pub(crate) enum Slot<P> {
    /// The body arrived and is being decoded.
    Decoding(JoinHandle<Result<P, ApiError>>),
    /// Fetching failed after the retries the fetch function made; the pipeline has stopped.
    Failed(ApiError),
}

/// What the reader gets from [`Pipeline::next`].
pub(crate) enum Next<P> {
    /// The next page.
    Page(P),
    /// Fetching the next page failed (retried as far as the policy allows).
    FetchFailed(ApiError),
    /// The body of the next page arrived but could not be decoded, or the pipeline ended
    /// early: the reader asks for the page again itself (which retries a malformed body).
    Refetch,
}

impl<P: Send + 'static> Pipeline<P> {
    /// Starts fetching from `first`. `fetch` makes one request (with its retries) and returns
    /// the page's decode and the request after it (`None` after the last page, or when the
    /// body did not say).
    pub(crate) fn start<R, F, Fut>(first: R, depth: usize, mut fetch: F) -> Self
    where
        R: Send + 'static,
        F: FnMut(R) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(JoinHandle<Result<P, ApiError>>, Option<R>), ApiError>> + Send,
    {
        let (tx, pages) = mpsc::channel(depth.max(1));
        let fetcher = tokio::spawn(async move {
            let mut request = first;
            loop {
                // A free slot first: at most `depth` fetched pages exist besides the reader's.
                let Ok(slot) = tx.reserve().await else {
                    return;
                };
                match fetch(request).await {
                    Ok((decoding, next)) => {
                        slot.send(Slot::Decoding(decoding));
                        match next {
                            Some(r) => request = r,
                            None => return,
                        }
                    }
                    Err(e) => {
                        slot.send(Slot::Failed(e));
                        return;
                    }
                }
            }
        });
        Pipeline { pages, fetcher }
    }

    /// Whether every page was taken and no more will come (the body of the last one did not
    /// say where to go on): the reader starts a new pipeline from the page it decoded.
    pub(crate) fn ended(&self) -> bool {
        self.pages.is_closed() && self.pages.is_empty()
    }

    /// The next page in order.
    pub(crate) async fn next(&mut self) -> Next<P> {
        match self.pages.recv().await {
            Some(Slot::Decoding(decoding)) => match decoding.await {
                Ok(Ok(page)) => Next::Page(page),
                Ok(Err(e)) => {
                    debug!(error = %e.message, "A page fetched ahead did not decode; asking for it again.");
                    Next::Refetch
                }
                Err(e) => {
                    debug!(error = %e, "Decoding a page fetched ahead failed; asking for it again.");
                    Next::Refetch
                }
            },
            Some(Slot::Failed(e)) => Next::FetchFailed(e),
            None => Next::Refetch,
        }
    }
}

/// The next page of `ahead`; when there is no pipeline, or its page must be asked for again,
/// the pipeline is dropped and the page is `refetch`ed.
pub(crate) async fn next_or<P, Fut>(
    ahead: &mut Option<Pipeline<P>>,
    refetch: impl FnOnce() -> Fut,
) -> Result<P, ApiError>
where
    P: Send + 'static,
    Fut: Future<Output = Result<P, ApiError>>,
{
    let next = match ahead.as_mut() {
        Some(pages) => pages.next().await,
        None => Next::Refetch,
    };
    match next {
        Next::Page(page) => Ok(page),
        Next::FetchFailed(e) => Err(e),
        Next::Refetch => {
            *ahead = None;
            refetch().await
        }
    }
}

impl<P> Drop for Pipeline<P> {
    fn drop(&mut self) {
        self.fetcher.abort();
    }
}
