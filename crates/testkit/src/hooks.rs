//! A destination wrapper that fails, stalls or cancels on cue, for crash, resume and
//! backpressure tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use spillway_core::{
    Batch, Checkpoint, DestError, Destination, ErrorKind, SourceState, StateKey, StreamId,
};
use spillway_engine::CancellationToken;
use tokio::sync::Semaphore;

/// What to do, counted from the wrapper's creation.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Fail the commit with this 1-based number, before it reaches the inner destination
    /// (the transaction is then rolled back: a crash just before commit).
    pub fail_commit: Option<usize>,
    /// Fail the write with this 1-based number (a crash in the middle of a page).
    pub fail_write: Option<usize>,
    /// Cancel this token once this many commits have succeeded (an interrupt between pages).
    pub cancel_after_commits: Option<(usize, CancellationToken)>,
    /// Every write first takes one permit from here: with zero permits, the destination stalls.
    pub gate: Option<Arc<Semaphore>>,
}

/// Wraps a destination with [`Hooks`] and counts calls.
pub struct HookedDestination<D> {
    inner: D,
    hooks: Hooks,
    /// Successful commits so far.
    pub commits: Arc<AtomicUsize>,
    /// Writes started so far.
    pub writes: Arc<AtomicUsize>,
}

impl<D: Destination> HookedDestination<D> {
    /// Wraps `inner`.
    pub fn new(inner: D, hooks: Hooks) -> Self {
        HookedDestination {
            inner,
            hooks,
            commits: Arc::default(),
            writes: Arc::default(),
        }
    }

    /// The wrapped destination.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

fn injected(what: &str) -> DestError {
    DestError::new(ErrorKind::Internal, format!("injected failure: {what}"))
}

#[async_trait]
impl<D: Destination> Destination for HookedDestination<D> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn holds_transaction_in_memory(&self) -> bool {
        self.inner.holds_transaction_in_memory()
    }

    async fn check(&mut self) -> Result<(), DestError> {
        self.inner.check().await
    }

    async fn load_state(&mut self, key: &StateKey) -> Result<Option<SourceState>, DestError> {
        self.inner.load_state(key).await
    }

    async fn truncate(&mut self, stream: &StreamId) -> Result<(), DestError> {
        self.inner.truncate(stream).await
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), DestError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(gate) = &self.hooks.gate {
            gate.acquire()
                .await
                .map_err(|_| injected("gate closed"))?
                .forget();
        }
        if self.hooks.fail_write == Some(n) {
            return Err(injected(&format!("write {n}")));
        }
        self.inner.write(batch).await
    }

    async fn commit(&mut self, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError> {
        let n = self.commits.load(Ordering::SeqCst) + 1;
        if self.hooks.fail_commit == Some(n) {
            return Err(injected(&format!("commit {n}")));
        }
        self.inner.commit(key, checkpoint).await?;
        self.commits.store(n, Ordering::SeqCst);
        if let Some((after, token)) = &self.hooks.cancel_after_commits
            && n >= *after
        {
            token.cancel();
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), DestError> {
        self.inner.finish().await
    }

    async fn rollback(&mut self) -> Result<(), DestError> {
        self.inner.rollback().await
    }

    async fn list_states(&mut self) -> Result<Vec<spillway_core::SavedState>, DestError> {
        self.inner.list_states().await
    }

    async fn reset_state(&mut self, key: &StateKey) -> Result<(), DestError> {
        self.inner.reset_state(key).await
    }
}
