//! The worker's side of its Asana webhook: the listener started with the worker, the
//! registration (reuse or clean up earlier ones, then create), the silence fallback and the
//! check at reconcile time, and the health written to the store for `sync status`. The rules
//! are described in the `webhook` module's documentation.

use std::sync::Arc;
use std::time::Duration;

use provider_asana::WebhookCreated;
use ticket_provider_api::{Error, Result, SecretString, WebhookState};
use tokio::time::Instant;

use crate::config::WebhookEndpoint;
use crate::engine::Engine;
use crate::webhook::{
    fallback_of, next_hook_state, next_register_backoff, StoredRegistration, WebhookReceiver,
    HEALTH_KEY, REGISTRATION_KEY_PREFIX,
};

/// How often, at most, changed health is written to the store.
const HEALTH_WRITE_EVERY: Duration = Duration::from_millis(500);

/// The webhook part of the worker loop.
pub(crate) struct HookDriver {
    pub(crate) rx: Arc<WebhookReceiver>,
    endpoint: WebhookEndpoint,
    server: tokio::task::JoinHandle<()>,
    state: WebhookState,
    gid: Option<String>,
    next_attempt: Instant,
    backoff: Duration,
    next_check: Instant,
    written: Option<(u64, Instant)>,
}

impl HookDriver {
    /// Binds the listener when the engine has a webhook endpoint; `None` when it has none.
    pub(crate) async fn start(engine: &Engine) -> Result<Option<Self>> {
        let (Some(endpoint), Some(rx)) = (engine.settings.webhook.clone(), engine.webhook.clone())
        else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(endpoint.addr)
            .await
            .map_err(|e| {
                Error::config(format!(
                    "sync_webhook_addr (--webhook-addr) {}: cannot listen there: {e}",
                    endpoint.addr
                ))
            })?;
        let path = endpoint.path();
        tracing::info!(addr = %endpoint.addr, path = %path, target = %endpoint.url, "webhook listener started");
        let server = tokio::spawn(crate::webhook_server::serve(
            listener,
            path,
            Arc::clone(&rx),
        ));
        let now = Instant::now();
        Ok(Some(HookDriver {
            rx,
            endpoint,
            server,
            state: WebhookState::Registering,
            gid: None,
            next_attempt: now,
            backoff: Duration::ZERO,
            next_check: now + engine.settings.reconcile_interval,
            written: None,
        }))
    }

    /// Whether the worker polls Asana's events meanwhile (every state but healthy).
    pub(crate) fn polls(&self) -> bool {
        fallback_of(self.state) == ticket_provider_api::WebhookFallback::Polling
    }

    fn set_state(&mut self, state: WebhookState) {
        if state != self.state {
            tracing::info!(
                from = self.state.as_str(),
                to = state.as_str(),
                "webhook state"
            );
        }
        self.state = state;
        self.rx.set_state(state, self.gid.as_deref());
    }

    /// One look at the webhook: the check at reconcile time, the silence limit, a
    /// registration when one is due; then the health is written when it changed.
    pub(crate) async fn step(&mut self, engine: &Engine) {
        let now = Instant::now();
        if self.state == WebhookState::Healthy && now >= self.next_check {
            self.next_check = now + engine.settings.reconcile_interval;
            if let Some(gid) = self.gid.clone() {
                match engine.remote.webhook(&gid).await {
                    Ok(Some(w)) if w.active => {}
                    Ok(_) => {
                        tracing::warn!(webhook = %gid, "webhook: Asana no longer has it; registering again");
                        self.gid = None;
                        self.next_attempt = now;
                        self.set_state(WebhookState::Registering);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook: cannot read it from Asana; keeping it")
                    }
                }
            }
        }
        let silent = self
            .rx
            .since_contact()
            .is_some_and(|d| d > engine.settings.webhook_silence);
        let (state, register) = next_hook_state(self.state, silent, now >= self.next_attempt);
        if state == WebhookState::Silent && self.state == WebhookState::Healthy {
            tracing::warn!(
                silence_s = engine.settings.webhook_silence.as_secs(),
                "webhook: no delivery or heartbeat within the limit; polling and registering again"
            );
        }
        self.set_state(state);
        if register {
            // A silent webhook is suspect: replaced, never reused.
            let reuse = self.state != WebhookState::Silent;
            match engine
                .register_webhook(&self.rx, &self.endpoint.url, reuse)
                .await
            {
                Ok(gid) => {
                    self.backoff = Duration::ZERO;
                    self.gid = Some(gid);
                    self.next_check = Instant::now() + engine.settings.reconcile_interval;
                    self.set_state(WebhookState::Healthy);
                    // Catch up on what changed before the webhook existed.
                    self.rx.want_pull();
                }
                Err(e) => {
                    let why = crate::reconcile::clean_line(&e.to_string(), 300);
                    tracing::warn!(error = %why, "webhook: registering failed; polling meanwhile");
                    self.rx.registration_failed(&why);
                    self.backoff = next_register_backoff(self.backoff);
                    self.next_attempt = Instant::now() + self.backoff;
                    if self.state == WebhookState::Registering {
                        self.set_state(WebhookState::Failed);
                    }
                }
            }
        }
        self.write_health(engine, false).await;
    }

    async fn write_health(&mut self, engine: &Engine, force: bool) {
        let version = self.rx.version();
        if let Some((v, at)) = self.written {
            if v == version || (!force && at.elapsed() < HEALTH_WRITE_EVERY) {
                return;
            }
        }
        let text = match serde_json::to_string(&self.rx.health()) {
            Ok(t) => t,
            Err(_) => return,
        };
        match engine.settled().await.kv_put(HEALTH_KEY, &text).await {
            Ok(()) => self.written = Some((version, Instant::now())),
            Err(e) => tracing::warn!(error = %e, "webhook: cannot write its health to the store"),
        }
    }

    /// Stops the listener and records the stop.
    pub(crate) async fn stop(mut self, engine: &Engine) {
        self.server.abort();
        self.set_state(WebhookState::Stopped);
        self.write_health(engine, true).await;
    }
}

impl Drop for HookDriver {
    /// A worker task dropped at the stop deadline stops its listener too.
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Engine {
    /// Makes sure Asana delivers the project's changes to `target` with a secret `rx`
    /// knows: reuses this store's registration when `reuse` and Asana still has it active,
    /// else deletes every webhook with this target and creates one. The webhook's gid.
    pub(crate) async fn register_webhook(
        &self,
        rx: &WebhookReceiver,
        target: &str,
        reuse: bool,
    ) -> Result<String> {
        let key = format!("{REGISTRATION_KEY_PREFIX}{target}");
        let stored: Option<StoredRegistration> = self
            .settled()
            .await
            .kv_get(&key)
            .await?
            .and_then(|t| serde_json::from_str(&t).ok());
        let ours: Vec<_> = self
            .remote
            .project_webhooks()
            .await?
            .into_iter()
            .filter(|w| w.target == target)
            .collect();
        if let (true, Some(st)) = (reuse, &stored) {
            if ours.iter().any(|w| w.gid == st.gid && w.active) {
                for w in ours.iter().filter(|w| w.gid != st.gid) {
                    self.remote.delete_webhook(&w.gid).await?;
                }
                rx.use_secret(SecretString::new(st.secret.clone()));
                tracing::info!(webhook = %st.gid, "webhook: reusing this store's registration");
                return Ok(st.gid.clone());
            }
        }
        for w in &ours {
            tracing::info!(webhook = %w.gid, "webhook: deleting an earlier one with this target");
            self.remote.delete_webhook(&w.gid).await?;
        }
        for _ in 0..2 {
            rx.begin_registration();
            let created = self.remote.create_webhook(target).await;
            let handshake = rx.end_registration();
            match created? {
                WebhookCreated::New { webhook, secret } => {
                    let secret = match (secret, handshake) {
                        (Some(answer), Some(shake)) => {
                            if answer.expose() != shake.expose() {
                                tracing::warn!(webhook = %webhook.gid, "webhook: the answer's secret differs from the handshake's; keeping the answer's");
                            }
                            answer
                        }
                        (Some(s), None) | (None, Some(s)) => s,
                        (None, None) => {
                            let _ = self.remote.delete_webhook(&webhook.gid).await;
                            return Err(Error::internal(format!(
                                "Asana created webhook {} without a secret",
                                webhook.gid
                            )));
                        }
                    };
                    let record = StoredRegistration {
                        gid: webhook.gid.clone(),
                        secret: secret.expose().to_string(),
                    };
                    let text = serde_json::to_string(&record).map_err(|e| {
                        Error::internal(format!("cannot encode a registration: {e}"))
                    })?;
                    self.settled().await.kv_put(&key, &text).await?;
                    rx.use_secret(secret);
                    tracing::info!(webhook = %webhook.gid, "webhook: registered");
                    return Ok(webhook.gid);
                }
                WebhookCreated::Duplicated => {
                    tracing::info!("webhook: Asana has one with this target already; deleting it and creating again");
                    for w in self.remote.project_webhooks().await? {
                        if w.target == target {
                            self.remote.delete_webhook(&w.gid).await?;
                        }
                    }
                }
            }
        }
        Err(Error::internal(format!(
            "Asana kept answering 'Duplicated webhook' for {target}"
        )))
    }
}
