//! A small circuit breaker, so that while Asana is down operations do not wait for it at all.
//!
//! Closed: pushes run. After `threshold` consecutive failures that mean "Asana is down" the
//! breaker opens for a backoff; while open, pushes are skipped (changes stay in the outbox).
//! When the backoff has passed one probe is let through (half-open): its success closes the
//! breaker, its failure opens it again for twice as long (capped).

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { since: Instant },
}

/// What [`CircuitBreaker::allow`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// Go ahead.
    Go,
    /// A probe is already in flight: wait a little and ask again.
    Wait,
    /// Asana is considered down: skip the push.
    Skip,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    state: Mutex<(State, Duration)>,
    threshold: u32,
    base: Duration,
    max: Duration,
}

/// A probe that has not reported back within this time no longer blocks others.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

impl CircuitBreaker {
    pub(crate) fn new(threshold: u32, base: Duration, max: Duration) -> Self {
        CircuitBreaker {
            state: Mutex::new((State::Closed { failures: 0 }, base)),
            threshold: threshold.max(1),
            base,
            max: max.max(base),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut (State, Duration)) -> T) -> T {
        match self.state.lock() {
            Ok(mut g) => f(&mut g),
            // The state stays meaningful even if a holder panicked.
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Whether a push may talk to Asana now.
    pub(crate) fn allow(&self) -> Permit {
        let now = Instant::now();
        self.with(|(state, _)| match *state {
            State::Closed { .. } => Permit::Go,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { since: now };
                Permit::Go
            }
            State::Open { .. } => Permit::Skip,
            State::HalfOpen { since } if now.duration_since(since) > PROBE_TIMEOUT => {
                *state = State::HalfOpen { since: now };
                Permit::Go
            }
            State::HalfOpen { .. } => Permit::Wait,
        })
    }

    /// Whether the breaker is open (pushes are skipped).
    pub(crate) fn is_open(&self) -> bool {
        let now = Instant::now();
        self.with(|(state, _)| matches!(*state, State::Open { until } if now < until))
    }

    /// Lets the next push through as a probe, whatever the backoff (used by `flush`).
    pub(crate) fn probe_now(&self) {
        let now = Instant::now();
        self.with(|(state, _)| {
            if let State::Open { .. } = *state {
                *state = State::Open { until: now };
            }
        });
    }

    /// A push reached Asana. Returns true when this closed an open (or half-open) breaker,
    /// i.e. Asana is back.
    pub(crate) fn success(&self) -> bool {
        let base = self.base;
        self.with(|s| {
            let recovered = !matches!(s.0, State::Closed { .. });
            *s = (State::Closed { failures: 0 }, base);
            recovered
        })
    }

    /// A push failed because Asana looks down.
    pub(crate) fn failure(&self) {
        let now = Instant::now();
        let (threshold, max) = (self.threshold, self.max);
        self.with(|(state, backoff)| match *state {
            State::Closed { failures } if failures + 1 < threshold => {
                *state = State::Closed {
                    failures: failures + 1,
                };
            }
            State::Closed { .. } => {
                tracing::warn!(
                    backoff_ms = backoff.as_millis() as u64,
                    "Asana looks down; pushes pause (changes stay in the outbox)"
                );
                *state = State::Open {
                    until: now + *backoff,
                };
            }
            State::HalfOpen { .. } | State::Open { .. } => {
                *backoff = (*backoff * 2).min(max);
                *state = State::Open {
                    until: now + *backoff,
                };
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_after_backoff() {
        let b = CircuitBreaker::new(2, Duration::from_millis(30), Duration::from_millis(100));
        assert_eq!(b.allow(), Permit::Go);
        b.failure();
        assert_eq!(b.allow(), Permit::Go);
        b.failure();
        assert!(b.is_open());
        assert_eq!(b.allow(), Permit::Skip);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.allow(), Permit::Go);
        assert_eq!(b.allow(), Permit::Wait);
        b.failure();
        assert_eq!(b.allow(), Permit::Skip);
        b.probe_now();
        assert_eq!(b.allow(), Permit::Go);
        assert!(b.success());
        assert!(!b.success());
        assert!(!b.is_open());
        assert_eq!(b.allow(), Permit::Go);
    }
}
