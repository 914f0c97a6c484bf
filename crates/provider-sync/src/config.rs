//! Typed settings of the sync provider: how long an operation waits for Asana, and how the
//! circuit breaker backs off. Everything else (database, Asana project, token) belongs to the
//! two providers it combines and is read by them.

use std::time::Duration;

use ticket_provider_api::Config;

/// How long an operation waits for its push by default (`sync_push_timeout_ms`).
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long a push claim lasts without renewal by default.
pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(30);

/// Settings of [`crate::SyncProvider`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// How long an operation waits for its push before returning with `sync_state: pending`.
    /// The push itself goes on in the background.
    pub push_timeout: Duration,
    /// Consecutive "Asana is down" failures (transport errors, 5xx, refused token) that open
    /// the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open the first time; doubled on every failed probe.
    pub breaker_base_backoff: Duration,
    /// The longest the breaker stays open before it lets one probe through.
    pub breaker_max_backoff: Duration,
    /// How many tickets [`crate::SyncProvider::flush`] pushes at once.
    pub flush_concurrency: usize,
    /// How long a ticket's push claim in the internal store lasts without renewal. A push
    /// renews it every third of this; a process that dies holding it blocks that ticket's
    /// pushes (by other instances) for at most this long. Keep it well above the clock
    /// difference between machines sharing the database.
    pub claim_ttl: Duration,
    /// How long a push after an operation (or `sync_to_asana`) waits for a ticket claimed by
    /// another instance before leaving its changes pending; `flush` does not wait.
    pub claim_wait: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            push_timeout: DEFAULT_PUSH_TIMEOUT,
            breaker_threshold: 3,
            breaker_base_backoff: Duration::from_secs(1),
            breaker_max_backoff: Duration::from_secs(60),
            flush_concurrency: 4,
            claim_ttl: DEFAULT_CLAIM_TTL,
            claim_wait: Duration::from_secs(2),
        }
    }
}

impl SyncSettings {
    /// The defaults, with `homechoice.ticket.sync_push_timeout_ms` and `sync_claim_ttl_ms`
    /// applied.
    pub fn from_config(config: &Config) -> Self {
        let mut s = SyncSettings::default();
        if let Some(ms) = config.ticket.sync_push_timeout_ms {
            s.push_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = config.ticket.sync_claim_ttl_ms {
            s.claim_ttl = Duration::from_millis(ms);
        }
        s
    }
}
