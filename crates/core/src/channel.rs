//! A channel of [`SourceEvent`]s bounded in bytes.
//!
//! The sender waits until the receiver has *finished with* enough earlier events (dropped their
//! [`Delivery`]) to stay under the budget, so a stalled destination stops the source and the
//! data in flight never exceeds the budget plus the one event being sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::SourceEvent;

/// Creates a channel holding at most `max_bytes` of events in flight (at least one event).
pub fn channel(max_bytes: usize) -> (EventSender, EventReceiver) {
    let max_bytes = max_bytes.clamp(1, u32::MAX as usize >> 1);
    let budget = Arc::new(Semaphore::new(max_bytes));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel(1024);
    (
        EventSender {
            tx,
            budget: budget.clone(),
            max_bytes,
            in_flight: in_flight.clone(),
        },
        EventReceiver { rx, in_flight },
    )
}

/// The source's end.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Delivery>,
    budget: Arc<Semaphore>,
    max_bytes: usize,
    in_flight: Arc<AtomicUsize>,
}

/// The receiver went away (the sync is stopping).
#[derive(Debug, thiserror::Error)]
#[error("the destination side of the sync has stopped")]
pub struct Closed;

impl EventSender {
    /// Sends an event, waiting while the byte budget is used up.
    pub async fn send(&self, event: SourceEvent) -> Result<(), Closed> {
        let size = event.memory_size().clamp(1, self.max_bytes);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(size as u32)
            .await
            .map_err(|_| Closed)?;
        let rows = match &event {
            SourceEvent::Batch(b) => b.num_rows(),
            _ => 0,
        };
        self.in_flight.fetch_add(rows, Ordering::SeqCst);
        self.tx
            .send(Delivery {
                event,
                rows,
                _permit: permit,
                in_flight: self.in_flight.clone(),
            })
            .await
            .map_err(|_| Closed)
    }

    /// Rows sent and not yet released by the receiver.
    pub fn rows_in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// The engine's end.
pub struct EventReceiver {
    rx: mpsc::Receiver<Delivery>,
    in_flight: Arc<AtomicUsize>,
}

impl EventReceiver {
    /// The next event, or `None` when every sender is gone.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// Rows received or queued and not yet released.
    pub fn rows_in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// An event plus its share of the byte budget, released when this is dropped.
pub struct Delivery {
    /// The event.
    pub event: SourceEvent,
    rows: usize,
    _permit: OwnedSemaphorePermit,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(self.rows, Ordering::SeqCst);
    }
}
