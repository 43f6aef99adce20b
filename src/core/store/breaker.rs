//! Circuit breaker: after a connectivity failure, calls fail fast for a back-off period,
//! then one call probes. Keeps a down Redis from costing every request a timeout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

const MIN_BACKOFF: Duration = Duration::from_millis(200);
// Short enough that instances resume within about a second after Redis comes back.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// One probe is in flight; everyone else still fails fast.
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    inner: Mutex<(State, u32)>,
    /// Why it opened: failing fast must still say what is wrong (TLS, auth, refused...).
    cause: Mutex<String>,
}

/// What the caller may do.
#[derive(Debug, PartialEq)]
pub enum Admit {
    Go,
    Probe,
    Reject { retry_in: Duration, failures: u32, cause: String },
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker { inner: Mutex::new((State::Closed, 0)), cause: Mutex::new(String::new()) }
    }
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, (State, u32)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cause(&self) -> String {
        self.cause.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn admit(&self) -> Admit {
        let mut g = self.lock();
        match g.0 {
            State::Closed => Admit::Go,
            State::HalfOpen => Admit::Reject { retry_in: Duration::ZERO, failures: g.1, cause: self.cause() },
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    g.0 = State::HalfOpen;
                    Admit::Probe
                } else {
                    Admit::Reject { retry_in: until - now, failures: g.1, cause: self.cause() }
                }
            }
        }
    }

    pub fn success(&self) {
        let mut g = self.lock();
        *g = (State::Closed, 0);
    }

    pub fn failure(&self, cause: &str) {
        *self.cause.lock().unwrap_or_else(|p| p.into_inner()) = cause.to_owned();
        let mut g = self.lock();
        let failures = g.1.saturating_add(1);
        let backoff = MIN_BACKOFF.saturating_mul(1 << failures.min(8).saturating_sub(1)).min(MAX_BACKOFF);
        *g = (State::Open { until: Instant::now() + backoff }, failures);
    }

    /// A probe that ended without telling us anything about connectivity.
    pub fn release_probe(&self) {
        let mut g = self.lock();
        if g.0 == State::HalfOpen {
            g.0 = State::Closed;
        }
    }

    pub fn is_open(&self) -> bool {
        self.lock().0 != State::Closed
    }

    pub fn failures(&self) -> u32 {
        self.lock().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_then_probes_once_then_closes() {
        let b = Breaker::default();
        assert_eq!(b.admit(), Admit::Go);
        b.failure("refused");
        assert!(matches!(b.admit(), Admit::Reject { failures: 1, ref cause, .. } if cause == "refused"));
        std::thread::sleep(MIN_BACKOFF + Duration::from_millis(20));
        assert_eq!(b.admit(), Admit::Probe);
        assert!(matches!(b.admit(), Admit::Reject { .. }), "only one probe at a time");
        b.success();
        assert_eq!(b.admit(), Admit::Go);
        assert!(!b.is_open());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Breaker::default();
        for _ in 0..20 {
            b.failure("refused");
        }
        match b.admit() {
            Admit::Reject { retry_in, failures, .. } => {
                assert_eq!(failures, 20);
                assert!(retry_in <= MAX_BACKOFF && retry_in > MAX_BACKOFF / 2);
            }
            other => panic!("{other:?}"),
        }
    }
}
