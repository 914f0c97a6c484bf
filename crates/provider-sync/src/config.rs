//! Typed settings of the sync provider: how long an operation waits for Asana, how long a
//! claim lasts, how long a shutdown waits for pushes in flight, and how the circuit breaker
//! backs off. Everything else (database, Asana project, token) belongs to the two providers
//! it combines and is read by them.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use ticket_provider_api::{Config, Error, KeyDoc, ProviderSettings, Result};

/// How long an operation waits for its push by default (`sync_push_timeout_ms`).
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long a push claim lasts without renewal by default.
pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(30);

/// How long [`crate::SyncProvider::shutdown`] waits for pushes in flight by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How often the worker (`ticket sync run`) follows Asana's events by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(5000);

/// How often the worker reads the whole project by default.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the worker looks for new outbox entries by default.
pub const DEFAULT_OUTBOX_POLL: Duration = Duration::from_millis(200);

/// How long the worker's webhook may stay silent (no delivery, no heartbeat) by default
/// before the worker polls again and registers it anew: 9 hours, since Asana sends a
/// heartbeat to a quiet webhook every 8 hours.
pub const DEFAULT_WEBHOOK_SILENCE: Duration = Duration::from_secs(9 * 3600);

/// The sync provider's own keys under `homechoice.ticket` (it also reads the internal
/// store's and the Asana provider's keys, through those crates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SyncConfigKeys {
    /// How long an operation waits for its push, in milliseconds (`0`: never wait).
    #[serde(default)]
    pub sync_push_timeout_ms: Option<u64>,
    /// How long a push claim lasts without renewal, in milliseconds (at least 100).
    #[serde(default)]
    pub sync_claim_ttl_ms: Option<u64>,
    /// How long a shutdown (the end of every `ticket` command) waits for pushes still in
    /// flight before it leaves them pending, in milliseconds.
    #[serde(default)]
    pub sync_shutdown_grace_ms: Option<u64>,
    /// How often `ticket sync run` follows Asana's events, in milliseconds (at least 100).
    #[serde(default)]
    pub sync_poll_interval_ms: Option<u64>,
    /// How often `ticket sync run` compares the whole project with the store, in seconds
    /// (at least 1).
    #[serde(default)]
    pub sync_reconcile_interval_s: Option<u64>,
    /// How often `ticket sync run` looks for newly committed changes to push, in
    /// milliseconds (at least 10).
    #[serde(default)]
    pub sync_outbox_poll_ms: Option<u64>,
    /// Where `ticket sync run` serves Asana's webhook deliveries (`IP:PORT`); with
    /// `sync_webhook_url`.
    #[serde(default)]
    pub sync_webhook_addr: Option<String>,
    /// The URL Asana delivers to (the public address in front of `sync_webhook_addr`);
    /// with `sync_webhook_addr`.
    #[serde(default)]
    pub sync_webhook_url: Option<String>,
    /// How long the webhook may stay silent before the worker polls and registers it
    /// again, in seconds (at least 1).
    #[serde(default)]
    pub sync_webhook_silence_s: Option<u64>,
}

impl ProviderSettings for SyncConfigKeys {
    const KEYS: &'static [KeyDoc] = &[
        KeyDoc::new(
            "sync_push_timeout_ms",
            "integer (ms)",
            "`1500`",
            "1500",
            "How long an operation waits for its push to Asana before it returns with the change pending (`0`: never wait; the push goes on in the background until the provider shuts down).",
        ),
        KeyDoc::new(
            "sync_claim_ttl_ms",
            "integer (ms) ≥ 100",
            "`30000`",
            "30000",
            "How long an instance's claim on a ticket it pushes lasts unrenewed: a process killed mid-push delays that ticket by at most this.",
        ),
        KeyDoc::new(
            "sync_shutdown_grace_ms",
            "integer (ms)",
            "`5000`",
            "5000",
            "How long the end of a command (or `shutdown()`) waits for pushes still in flight before it leaves them pending.",
        ),
        KeyDoc::new(
            "sync_poll_interval_ms",
            "integer (ms) ≥ 100",
            "`5000`",
            "5000",
            "`ticket sync run`: how often the worker follows Asana's events.",
        ),
        KeyDoc::new(
            "sync_reconcile_interval_s",
            "integer (s) ≥ 1",
            "`3600`",
            "3600",
            "`ticket sync run`: how often the worker reads the whole project and compares it with the store.",
        ),
        KeyDoc::new(
            "sync_outbox_poll_ms",
            "integer (ms) ≥ 10",
            "`200`",
            "200",
            "`ticket sync run`: how often the worker looks for changes committed by other processes.",
        ),
        KeyDoc::new(
            "sync_webhook_addr",
            "`IP:PORT`",
            "unset (no webhook)",
            "127.0.0.1:8088",
            "`ticket sync run`: where the worker serves Asana's webhook deliveries (its own listener, not the metrics one); with `sync_webhook_url`; without them the worker polls (`--webhook-addr`).",
        ),
        KeyDoc::new(
            "sync_webhook_url",
            "URL",
            "unset (no webhook)",
            "https://tickets.example.com/asana/webhook",
            "`ticket sync run`: the URL Asana delivers to, the public address in front of `sync_webhook_addr`; deliveries are accepted on its path (`--webhook-url`).",
        ),
        KeyDoc::new(
            "sync_webhook_silence_s",
            "integer (s) ≥ 1",
            "`32400`",
            "32400",
            "`ticket sync run`: with no webhook delivery or heartbeat for this long, the worker polls Asana's events again and registers the webhook anew (Asana sends a heartbeat every 8 hours).",
        ),
    ];

    fn check(&self) -> Result<()> {
        for (key, value, min) in [
            ("sync_claim_ttl_ms", self.sync_claim_ttl_ms, 100),
            ("sync_poll_interval_ms", self.sync_poll_interval_ms, 100),
            (
                "sync_reconcile_interval_s",
                self.sync_reconcile_interval_s,
                1,
            ),
            ("sync_outbox_poll_ms", self.sync_outbox_poll_ms, 10),
            ("sync_webhook_silence_s", self.sync_webhook_silence_s, 1),
        ] {
            if let Some(v) = value.filter(|v| *v < min) {
                return Err(Error::config(format!(
                    "homechoice.ticket.{key} must be at least {min} (it is {v})"
                )));
            }
        }
        WebhookEndpoint::from_keys(
            self.sync_webhook_addr.as_deref(),
            self.sync_webhook_url.as_deref(),
        )?;
        Ok(())
    }
}

/// Where the worker receives Asana's webhook deliveries (`sync_webhook_addr`,
/// `sync_webhook_url`; `ticket sync run --webhook-addr --webhook-url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// The address the worker listens on.
    pub addr: SocketAddr,
    /// The URL Asana delivers to: the public address in front of [`Self::addr`].
    pub url: String,
}

impl WebhookEndpoint {
    /// The endpoint of the two keys: both or neither. Errors name the key and what is
    /// wrong with it.
    pub fn from_keys(addr: Option<&str>, url: Option<&str>) -> Result<Option<Self>> {
        match (addr, url) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::config(
                "homechoice.ticket.sync_webhook_addr is set but sync_webhook_url is not; set both (the URL Asana calls, in front of the address) or neither",
            )),
            (None, Some(_)) => Err(Error::config(
                "homechoice.ticket.sync_webhook_url is set but sync_webhook_addr is not; set both (the address the worker listens on) or neither",
            )),
            (Some(a), Some(u)) => {
                let addr = a.trim().parse::<SocketAddr>().map_err(|_| {
                    Error::config(format!(
                        "homechoice.ticket.sync_webhook_addr {a:?} is not IP:PORT (e.g. 127.0.0.1:8088)"
                    ))
                })?;
                url_path(u)?;
                Ok(Some(WebhookEndpoint {
                    addr,
                    url: u.trim().to_string(),
                }))
            }
        }
    }

    /// The path deliveries arrive on: the URL's, without its query.
    pub fn path(&self) -> String {
        url_path(&self.url).unwrap_or_else(|_| "/".to_string())
    }
}

/// The path of an `http://` or `https://` URL with a host (`/` when it names none).
fn url_path(url: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::config(format!(
            "homechoice.ticket.sync_webhook_url {url:?} {why} (e.g. https://tickets.example.com/asana/webhook)"
        ))
    };
    let u = url.trim();
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or_else(|| bad("is not an http:// or https:// URL"))?;
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("has spaces or control characters"));
    }
    let (host, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(bad("names no host"));
    }
    if path.contains('#') {
        return Err(bad("has a fragment, which is never sent"));
    }
    let path = path.split('?').next().unwrap_or_default();
    Ok(if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    })
}

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
    /// How long [`crate::SyncProvider::shutdown`] lets pushes in flight finish before it stops
    /// them (they stay pending and are pushed by the next operation or flush).
    pub shutdown_grace: Duration,
    /// How often the worker follows Asana's events (`sync_poll_interval_ms`).
    pub poll_interval: Duration,
    /// How often the worker reads the whole project (`sync_reconcile_interval_s`).
    pub reconcile_interval: Duration,
    /// How often the worker looks for new outbox entries (`sync_outbox_poll_ms`).
    pub outbox_poll: Duration,
    /// How long a push's record in the store waits for another write transaction of this
    /// instance to ride along before a transaction of its own lands it (group commit; see
    /// the crate documentation, "The engine"). Not a configuration key.
    pub commit_delay: Duration,
    /// Where the worker receives Asana's webhook deliveries (`None`: it only polls).
    pub webhook: Option<WebhookEndpoint>,
    /// How long the webhook may stay silent before the worker polls again and registers it
    /// anew (`sync_webhook_silence_s`).
    pub webhook_silence: Duration,
}

/// The default [`SyncSettings::commit_delay`].
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_millis(2);

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
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            outbox_poll: DEFAULT_OUTBOX_POLL,
            commit_delay: DEFAULT_COMMIT_DELAY,
            webhook: None,
            webhook_silence: DEFAULT_WEBHOOK_SILENCE,
        }
    }
}

impl SyncSettings {
    /// The defaults, with `homechoice.ticket.sync_push_timeout_ms`, `sync_claim_ttl_ms`,
    /// `sync_shutdown_grace_ms`, `sync_poll_interval_ms`, `sync_reconcile_interval_s` and
    /// `sync_outbox_poll_ms`, `sync_webhook_addr`, `sync_webhook_url` and
    /// `sync_webhook_silence_s` applied.
    pub fn from_config(config: &Config) -> Result<Self> {
        let keys: SyncConfigKeys = config.settings()?;
        keys.check()?;
        let mut s = SyncSettings::default();
        if let Some(ms) = keys.sync_push_timeout_ms {
            s.push_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = keys.sync_claim_ttl_ms {
            s.claim_ttl = Duration::from_millis(ms);
        }
        if let Some(ms) = keys.sync_shutdown_grace_ms {
            s.shutdown_grace = Duration::from_millis(ms);
        }
        if let Some(ms) = keys.sync_poll_interval_ms {
            s.poll_interval = Duration::from_millis(ms);
        }
        if let Some(secs) = keys.sync_reconcile_interval_s {
            s.reconcile_interval = Duration::from_secs(secs);
        }
        if let Some(ms) = keys.sync_outbox_poll_ms {
            s.outbox_poll = Duration::from_millis(ms);
        }
        s.webhook = WebhookEndpoint::from_keys(
            keys.sync_webhook_addr.as_deref(),
            keys.sync_webhook_url.as_deref(),
        )?;
        if let Some(secs) = keys.sync_webhook_silence_s {
            s.webhook_silence = Duration::from_secs(secs);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_endpoints_by_table() {
        /// (addr, url, Ok(path) or the error's words)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Result<Option<&'a str>, &'a str>,
        );
        let cases: [Case; 9] = [
            (None, None, Ok(None)),
            (
                Some("127.0.0.1:9"),
                Some("http://127.0.0.1:9/hook"),
                Ok(Some("/hook")),
            ),
            (
                Some("[::1]:9"),
                Some("https://x.example/a/b?k=v"),
                Ok(Some("/a/b")),
            ),
            (Some("0.0.0.0:9"), Some("https://x.example"), Ok(Some("/"))),
            (
                Some("localhost:9"),
                Some("http://x/h"),
                Err("is not IP:PORT"),
            ),
            (
                Some("127.0.0.1:9"),
                Some("ftp://x/h"),
                Err("is not an http:// or https:// URL"),
            ),
            (Some("127.0.0.1:9"), Some("http:///h"), Err("names no host")),
            (
                Some("127.0.0.1:9"),
                Some("http://x/h#f"),
                Err("has a fragment"),
            ),
            (Some("127.0.0.1:9"), Some("http://x/a b"), Err("spaces")),
        ];
        for (addr, url, want) in cases {
            let got = WebhookEndpoint::from_keys(addr, url);
            match (got, want) {
                (Ok(e), Ok(path)) => assert_eq!(e.map(|e| e.path()).as_deref(), path, "{url:?}"),
                (Err(e), Err(words)) => assert!(e.to_string().contains(words), "{url:?}: {e}"),
                (got, want) => panic!("{addr:?} {url:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn keys_apply_and_are_checked_when_a_file_loads() {
        let cfg = Config::parse(
            "homechoice:\n  ticket:\n    sync_push_timeout_ms: 0\n    sync_claim_ttl_ms: 250\n    sync_shutdown_grace_ms: 1200\n    sync_poll_interval_ms: 300\n    sync_reconcile_interval_s: 7\n    sync_outbox_poll_ms: 50\n",
            "c",
        )
        .unwrap();
        let s = SyncSettings::from_config(&cfg).unwrap();
        assert_eq!(s.push_timeout, Duration::ZERO);
        assert_eq!(s.claim_ttl, Duration::from_millis(250));
        assert_eq!(s.shutdown_grace, Duration::from_millis(1200));
        assert_eq!(s.poll_interval, Duration::from_millis(300));
        assert_eq!(s.reconcile_interval, Duration::from_secs(7));
        assert_eq!(s.outbox_poll, Duration::from_millis(50));
        assert_eq!(s.webhook, None);
        let s = SyncSettings::from_config(&Config::default()).unwrap();
        assert_eq!(s, SyncSettings::default());
        let cfg = Config::parse(
            "homechoice:\n  ticket:\n    sync_webhook_addr: 127.0.0.1:8088\n    sync_webhook_url: https://t.example.com/asana/hook?x=1\n    sync_webhook_silence_s: 60\n",
            "c",
        )
        .unwrap();
        let s = SyncSettings::from_config(&cfg).unwrap();
        let hook = s.webhook.unwrap();
        assert_eq!(hook.addr, "127.0.0.1:8088".parse().unwrap());
        assert_eq!(hook.url, "https://t.example.com/asana/hook?x=1");
        assert_eq!(hook.path(), "/asana/hook");
        assert_eq!(s.webhook_silence, Duration::from_secs(60));
        for (text, needle) in [
            (
                "sync_claim_ttl_ms: 5",
                "sync_claim_ttl_ms must be at least 100",
            ),
            ("sync_push_timeout_ms: soon", "sync_push_timeout_ms"),
            (
                "sync_poll_interval_ms: 5",
                "sync_poll_interval_ms must be at least 100 (it is 5)",
            ),
            (
                "sync_reconcile_interval_s: 0",
                "sync_reconcile_interval_s must be at least 1",
            ),
            (
                "sync_outbox_poll_ms: 1",
                "sync_outbox_poll_ms must be at least 10",
            ),
            (
                "sync_webhook_silence_s: 0",
                "sync_webhook_silence_s must be at least 1",
            ),
            (
                "sync_webhook_addr: 127.0.0.1:1",
                "sync_webhook_addr is set but sync_webhook_url is not",
            ),
            (
                "sync_webhook_url: http://h/x",
                "sync_webhook_url is set but sync_webhook_addr is not",
            ),
        ] {
            let yaml = format!("homechoice:\n  ticket:\n    {text}\n");
            let err = Config::parse(&yaml, "c.yaml").unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
