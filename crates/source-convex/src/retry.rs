//! Retry policy: exponential backoff with full jitter, honouring `Retry-After`, capped in total
//! time. Whether to retry is decided only from the error's [`ErrorKind`]; failures that may be
//! permanent although they look transient (a 500, a malformed body) are also capped in
//! attempts ([`ApiError::max_attempts`]).

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use spillway_core::ErrorKind;
use tokio::time::Instant;
use tracing::warn;

use crate::client::ApiError;

/// How transient failures are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First backoff delay.
    pub initial: Duration,
    /// Largest single delay.
    pub max_delay: Duration,
    /// Give up once this much time has passed since the first failure.
    pub total: Duration,
}

impl RetryPolicy {
    /// The default policy with a total budget of `total`.
    pub fn with_total(total: Duration) -> Self {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            total,
        }
    }

    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy::with_total(Duration::ZERO)
    }

    /// The delay before attempt `attempt` (1-based retry count): full jitter over an
    /// exponentially growing window, but never less than the server's `Retry-After`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let window = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)))
            .min(self.max_delay);
        let jittered = rand::rng().random_range(window / 2..=window);
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_delay.max(ra))),
            None => jittered,
        }
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the budget runs out.
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut first_failure: Option<Instant> = None;
        let mut attempt = 0u32;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.kind == ErrorKind::Transient => {
                    let started = *first_failure.get_or_insert_with(Instant::now);
                    attempt += 1;
                    let delay = self.delay(attempt, e.retry_after);
                    let out_of_attempts = e.max_attempts.is_some_and(|max| attempt >= max);
                    if out_of_attempts || started.elapsed() + delay > self.total {
                        let mut e = e;
                        if attempt > 1 {
                            e.message = format!(
                                "{} (gave up after {attempt} attempts over {:.1?})",
                                e.message,
                                started.elapsed()
                            );
                        }
                        return Err(e);
                    }
                    warn!(request = what, attempt, delay_ms = delay.as_millis() as u64, error = %e.message, "Transient failure; retrying from the same position.");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delays_grow_and_respect_retry_after() {
        let p = RetryPolicy::with_total(Duration::from_secs(60));
        let d1 = p.delay(1, None);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(200));
        assert!(p.delay(30, None) <= Duration::from_secs(30));
        assert!(p.delay(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }

    #[tokio::test]
    async fn retries_transient_until_success_and_not_fatal() {
        let p = RetryPolicy {
            initial: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            total: Duration::from_secs(5),
        };
        let calls = AtomicU32::new(0);
        let r = p
            .run("x", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(ApiError::new(ErrorKind::Transient, "503"))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let calls = AtomicU32::new(0);
        let r: Result<(), _> = p
            .run("x", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(ApiError::new(ErrorKind::Auth, "401"))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_that_may_be_permanent_are_capped_in_attempts() {
        let p = RetryPolicy {
            initial: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            total: Duration::from_secs(60),
        };
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = p
            .run("x", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(ApiError::new(ErrorKind::Transient, "500").with_max_attempts(4))
            })
            .await;
        let e = r.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(
            e.message.contains("gave up after 4 attempts"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_budget() {
        let p = RetryPolicy {
            initial: Duration::from_millis(5),
            max_delay: Duration::from_millis(5),
            total: Duration::from_millis(30),
        };
        let r: Result<(), _> = p
            .run("x", || async {
                Err(ApiError::new(ErrorKind::Transient, "502"))
            })
            .await;
        assert!(r.unwrap_err().message.contains("gave up"));
    }
}
