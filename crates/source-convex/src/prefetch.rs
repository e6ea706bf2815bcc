//! The next page's request, started before the current page is decoded and sent.
//!
//! Every page carries the cursor of the next one, so the reader asks for page N+1 as soon as
//! page N has arrived and only then decodes N: the server (and the network) work while the
//! client converts and the destination writes. At most one request is ahead, so at most one
//! extra page is held in memory. A prefetch that is not used (the read stopped or failed) is
//! aborted when dropped.

use std::future::Future;

use spillway_core::ErrorKind;
use tokio::task::JoinHandle;

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
