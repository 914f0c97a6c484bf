//! The sync engine's metrics, kept with `prometheus-client` (the Prometheus project's own
//! Rust client: typed families, text exposition done by the crate). Counters move where the
//! engine acts (pushes, pulls, conflicts); gauges are read from the store when the metrics
//! are encoded, so a scrape shows what `sync status` would say at that moment; Asana request
//! counts come from the Asana client's own tally.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use provider_asana::RequestStatsSnapshot;

use ticket_provider_api::{WebhookFallback, WebhookHealth, WebhookState};

use crate::store::StoreGauges;

/// A label set of one label (`result` or `status`).
type Label = Vec<(&'static str, String)>;

/// How one outbox entry's push ended (label `result` of `ticket_sync_pushes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushResult {
    /// In Asana.
    Ok,
    /// Kept for retry (temporary failure).
    Failed,
    /// Refused for good: set aside.
    SetAside,
    /// The task is lost: kept until relink or unlink.
    Lost,
}

impl PushResult {
    fn label(self) -> &'static str {
        match self {
            PushResult::Ok => "ok",
            PushResult::Failed => "failed",
            PushResult::SetAside => "set_aside",
            PushResult::Lost => "lost",
        }
    }
}

/// Every metric of one engine.
#[derive(Debug)]
pub(crate) struct SyncMetrics {
    registry: Registry,
    pending: Gauge,
    oldest_pending: Gauge<f64, AtomicU64>,
    set_aside: Gauge,
    lost: Gauge,
    conflicts: Counter,
    pushes: Family<Label, Counter>,
    pulled: Counter,
    requests: Family<Label, Counter>,
    rate_limited: Counter<f64, AtomicU64>,
    last_pull: Gauge<f64, AtomicU64>,
    hook_last_delivery: Gauge<f64, AtomicU64>,
    hook_deliveries: Family<Label, Counter>,
    hook_failures: Family<Label, Counter>,
    hook_state: Family<Label, Gauge>,
    hook_polling: Gauge,
}

impl Default for SyncMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let m = SyncMetrics {
            pending: Gauge::default(),
            oldest_pending: Gauge::default(),
            set_aside: Gauge::default(),
            lost: Gauge::default(),
            conflicts: Counter::default(),
            pushes: Family::default(),
            pulled: Counter::default(),
            requests: Family::default(),
            rate_limited: Counter::default(),
            last_pull: Gauge::default(),
            hook_last_delivery: Gauge::default(),
            hook_deliveries: Family::default(),
            hook_failures: Family::default(),
            hook_state: Family::default(),
            hook_polling: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "ticket_sync_pending_changes",
            "Outbox entries waiting to be pushed to Asana",
            m.pending.clone(),
        );
        registry.register(
            "ticket_sync_oldest_pending_seconds",
            "Age of the oldest outbox entry waiting to be pushed (0 when none)",
            m.oldest_pending.clone(),
        );
        registry.register(
            "ticket_sync_set_aside_changes",
            "Outbox entries Asana refused for good, kept until retried or discarded",
            m.set_aside.clone(),
        );
        registry.register(
            "ticket_sync_lost_links",
            "Tickets whose Asana task is lost (deleted, out of the project, or not visible)",
            m.lost.clone(),
        );
        registry.register(
            "ticket_sync_conflicts",
            "Fields changed on both sides, decided by the conflict rule",
            m.conflicts.clone(),
        );
        registry.register(
            "ticket_sync_pushes",
            "Outbox entries pushed, by result (ok, failed, set_aside, lost)",
            m.pushes.clone(),
        );
        registry.register(
            "ticket_sync_pulled_changes",
            "Tickets created or updated by pulls",
            m.pulled.clone(),
        );
        registry.register(
            "ticket_asana_requests",
            "Asana requests sent (each attempt), by HTTP status, or error when none came",
            m.requests.clone(),
        );
        registry.register(
            "ticket_asana_rate_limited_seconds",
            "Seconds spent waiting because Asana answered 429",
            m.rate_limited.clone(),
        );
        registry.register(
            "ticket_sync_last_pull_timestamp_seconds",
            "Unix time of the last pull that completed (0: none yet)",
            m.last_pull.clone(),
        );
        registry.register(
            "ticket_sync_webhook_last_delivery_timestamp_seconds",
            "Unix time of the last verified webhook delivery or heartbeat (0: none yet)",
            m.hook_last_delivery.clone(),
        );
        registry.register(
            "ticket_sync_webhook_deliveries",
            "Verified webhook deliveries, by kind (events, heartbeat)",
            m.hook_deliveries.clone(),
        );
        registry.register(
            "ticket_sync_webhook_failures",
            "Webhook failures, by reason (bad_signature, handler_error, registration)",
            m.hook_failures.clone(),
        );
        registry.register(
            "ticket_sync_webhook_state",
            "1 for the webhook's state (registering, healthy, silent, failed, stopped), 0 for the others",
            m.hook_state.clone(),
        );
        registry.register(
            "ticket_sync_webhook_polling",
            "1 while the worker polls Asana's events as a fallback (no webhook, or not healthy)",
            m.hook_polling.clone(),
        );
        SyncMetrics { registry, ..m }
    }
}

impl SyncMetrics {
    /// One entry's push ended with `result`.
    pub(crate) fn pushed(&self, result: PushResult) {
        self.pushes
            .get_or_create(&vec![("result", result.label().to_string())])
            .inc();
    }

    /// `n` conflicts were recorded.
    pub(crate) fn conflicts(&self, n: usize) {
        if n > 0 {
            self.conflicts.inc_by(n as u64);
        }
    }

    /// A pull created or updated `n` tickets.
    pub(crate) fn pulled(&self, n: usize) {
        if n > 0 {
            self.pulled.inc_by(n as u64);
        }
    }

    /// A pull completed now.
    pub(crate) fn pull_done(&self) {
        let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
        self.last_pull.set(now);
    }

    /// Sets the webhook metrics from `hook` (`None`: no webhook, the worker polls).
    fn set_webhook(&self, hook: Option<&WebhookHealth>) {
        let Some(h) = hook else {
            self.hook_polling.set(1);
            return;
        };
        let grow = |family: &Family<Label, Counter>, key: &'static str, label: &str, n: u64| {
            let c = family.get_or_create(&vec![(key, label.to_string())]);
            let seen = c.get();
            if n > seen {
                c.inc_by(n - seen);
            }
        };
        grow(&self.hook_deliveries, "kind", "events", h.deliveries);
        grow(&self.hook_deliveries, "kind", "heartbeat", h.heartbeats);
        grow(
            &self.hook_failures,
            "reason",
            "bad_signature",
            h.bad_signatures,
        );
        grow(
            &self.hook_failures,
            "reason",
            "handler_error",
            h.handler_errors,
        );
        grow(
            &self.hook_failures,
            "reason",
            "registration",
            h.registration_failures,
        );
        for state in [
            WebhookState::Registering,
            WebhookState::Healthy,
            WebhookState::Silent,
            WebhookState::Failed,
            WebhookState::Stopped,
        ] {
            self.hook_state
                .get_or_create(&vec![("state", state.as_str().to_string())])
                .set(i64::from(state == h.state));
        }
        self.hook_polling
            .set(i64::from(h.fallback == WebhookFallback::Polling));
        self.hook_last_delivery.set(
            h.last_delivery_at
                .map_or(0.0, |t| t.timestamp_micros() as f64 / 1e6),
        );
    }

    /// The text exposition, with the gauges set from `store`, the Asana counters from
    /// `asana` and the webhook's from `hook` first.
    pub(crate) fn encode(
        &self,
        store: &StoreGauges,
        asana: &RequestStatsSnapshot,
        hook: Option<&WebhookHealth>,
    ) -> String {
        self.set_webhook(hook);
        self.pending
            .set(i64::try_from(store.pending).unwrap_or(i64::MAX));
        self.set_aside
            .set(i64::try_from(store.set_aside).unwrap_or(i64::MAX));
        self.lost.set(i64::try_from(store.lost).unwrap_or(i64::MAX));
        let age = store.oldest_pending_at.map_or(0.0, |t| {
            ((chrono::Utc::now() - t).num_microseconds().unwrap_or(0) as f64 / 1e6).max(0.0)
        });
        self.oldest_pending.set(age);
        // Counters only grow: add what the client counted since the last encoding.
        for (status, n) in &asana.by_status {
            let c = self
                .requests
                .get_or_create(&vec![("status", status.clone())]);
            let seen = c.get();
            if *n > seen {
                c.inc_by(n - seen);
            }
        }
        let waited = asana.rate_limited_seconds - self.rate_limited.get();
        if waited > 0.0 {
            self.rate_limited.inc_by(waited);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_metric_with_the_gauges_and_counts_given() {
        let m = SyncMetrics::default();
        m.pushed(PushResult::Ok);
        m.pushed(PushResult::Ok);
        m.pushed(PushResult::SetAside);
        m.conflicts(2);
        let asana = RequestStatsSnapshot {
            by_status: vec![("200".into(), 5), ("error".into(), 1)],
            rate_limited_seconds: 1.5,
        };
        let gauges = StoreGauges {
            pending: 3,
            set_aside: 1,
            oldest_pending_at: None,
            lost: 2,
        };
        let text = m.encode(&gauges, &asana, None);
        for line in [
            "ticket_sync_pending_changes 3",
            "ticket_sync_oldest_pending_seconds 0.0",
            "ticket_sync_set_aside_changes 1",
            "ticket_sync_lost_links 2",
            "ticket_sync_conflicts_total 2",
            "ticket_sync_pushes_total{result=\"ok\"} 2",
            "ticket_sync_pushes_total{result=\"set_aside\"} 1",
            "ticket_sync_pulled_changes_total 0",
            "ticket_asana_requests_total{status=\"200\"} 5",
            "ticket_asana_requests_total{status=\"error\"} 1",
            "ticket_asana_rate_limited_seconds_total 1.5",
            "ticket_sync_last_pull_timestamp_seconds 0.0",
            "ticket_sync_webhook_polling 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // A second encoding with grown counts adds only the difference.
        let asana = RequestStatsSnapshot {
            by_status: vec![("200".into(), 7)],
            rate_limited_seconds: 1.5,
        };
        let hook = WebhookHealth {
            target: "http://127.0.0.1:1/h".into(),
            webhook_id: Some("12".into()),
            state: WebhookState::Healthy,
            fallback: WebhookFallback::None,
            last_delivery_at: chrono::DateTime::from_timestamp(1_700_000_000, 0),
            deliveries: 4,
            heartbeats: 2,
            bad_signatures: 1,
            handler_errors: 0,
            registration_failures: 3,
            last_failure: None,
            updated_at: chrono::Utc::now(),
        };
        let text = m.encode(&gauges, &asana, Some(&hook));
        assert!(
            text.contains("ticket_asana_requests_total{status=\"200\"} 7"),
            "{text}"
        );
        for line in [
            "ticket_sync_webhook_polling 0",
            "ticket_sync_webhook_state{state=\"healthy\"} 1",
            "ticket_sync_webhook_state{state=\"silent\"} 0",
            "ticket_sync_webhook_deliveries_total{kind=\"events\"} 4",
            "ticket_sync_webhook_deliveries_total{kind=\"heartbeat\"} 2",
            "ticket_sync_webhook_failures_total{reason=\"bad_signature\"} 1",
            "ticket_sync_webhook_failures_total{reason=\"registration\"} 3",
            "ticket_sync_webhook_last_delivery_timestamp_seconds 1700000000.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
