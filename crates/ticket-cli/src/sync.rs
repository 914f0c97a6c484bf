//! `ticket sync ...`: the maintenance commands of a provider that offers the
//! [`SyncMaintenance`] extension (the `sync` provider does).

use std::sync::Arc;

use homechoice_tickets::{Capability, Error, ErrorKind, SyncMaintenance, SyncWorker};

use crate::cli::SyncCommand;
use crate::output::Printer;
use crate::session::Session;

/// The config keys a command's flags set (`sync run --webhook-addr/--webhook-url`).
pub(crate) fn config_overrides(cmd: &crate::cli::Command) -> Vec<(&'static str, String)> {
    let mut keys = Vec::new();
    if let crate::cli::Command::Sync(SyncCommand::Run {
        webhook_addr,
        webhook_url,
        ..
    }) = cmd
    {
        if let Some(a) = webhook_addr {
            keys.push(("sync_webhook_addr", a.to_string()));
        }
        if let Some(u) = webhook_url {
            keys.push(("sync_webhook_url", u.clone()));
        }
    }
    keys
}

pub async fn run(session: &Session, cmd: &SyncCommand, out: &Printer) -> Result<(), Error> {
    if let SyncCommand::Push { guid }
    | SyncCommand::Relink { guid }
    | SyncCommand::Unlink { guid } = cmd
    {
        // Checked before anything is opened, like every other command.
        if guid.trim().is_empty() {
            return Err(Error::invalid_input("the ticket guid must not be empty"));
        }
    }
    if let SyncCommand::Run { metrics_addr, .. } = cmd {
        return run_worker(session, *metrics_addr, out).await;
    }
    if let SyncCommand::Pull {
        asana_gid: Some(gid),
        ..
    } = cmd
    {
        if gid.is_empty() || !gid.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid_input(format!(
                "{gid:?} is not an Asana task gid (a string of digits)"
            )));
        }
    }
    let sync = session
        .provider(Some(Capability::SyncMaintenance))
        .await?
        .extensions()
        .get::<dyn SyncMaintenance>()
        .ok_or_else(|| {
            Error::internal(
                "the provider declares the sync_maintenance capability but offers no sync maintenance",
            )
        })?;
    match cmd {
        SyncCommand::Push { guid } => {
            let r = sync.push(guid).await?;
            out.emit(&r, || crate::output::operation("pushed", &r))
        }
        SyncCommand::Pull {
            asana_gid: Some(gid),
            ..
        } => {
            let r = sync.pull(gid).await?;
            out.emit(&r, || crate::output::operation("pulled", &r))
        }
        SyncCommand::Pull {
            asana_gid: None, ..
        } => {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} tasks ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            let progress = |p: homechoice_tickets::PullProgress| {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
                bar.set_message(format!("pull ({})", p.mode.as_str()));
            };
            let report = sync.pull_all(&progress).await;
            bar.finish_and_clear();
            let report = report?;
            out.emit(&report, || {
                format!(
                    "pulled {} task(s) ({:?} read): {} created, {} updated, {} unchanged, {} conflict(s), {} skipped{}",
                    report.tasks_seen,
                    report.mode,
                    report.created,
                    report.updated,
                    report.unchanged,
                    report.conflicts,
                    report.skipped.len(),
                    report
                        .skipped
                        .iter()
                        .map(|s| format!("\n  skipped {}: {}", s.asana_gid, s.reason))
                        .collect::<String>()
                )
            })
        }
        SyncCommand::Flush => {
            let report = sync.flush().await?;
            out.emit(&report, || {
                format!(
                    "flushed {} ticket(s): {} change(s) pushed, {} set aside, {} still pending ({} ticket(s) being pushed by another instance){}",
                    report.tickets,
                    report.pushed,
                    report.set_aside,
                    report.pending,
                    report.claimed_elsewhere,
                    if report.stopped_early {
                        " (stopped early: Asana looks down)"
                    } else {
                        ""
                    }
                )
            })?;
            if report.pending > 0 {
                tracing::warn!(
                    pending = report.pending,
                    "changes are still pending; run 'ticket sync flush' again later"
                );
            }
            Ok(())
        }
        SyncCommand::Retry { id } => {
            sync.retry_set_aside(*id).await?;
            let st = sync.status().await?;
            out.emit(&st, || {
                format!(
                    "change #{id} is back in the queue; {} change(s) pending, {} set aside",
                    st.pending, st.set_aside
                )
            })
        }
        SyncCommand::Discard { id } => {
            sync.discard_set_aside(*id).await?;
            let st = sync.status().await?;
            out.emit(&st, || {
                format!(
                    "change #{id} discarded; {} change(s) pending, {} set aside",
                    st.pending, st.set_aside
                )
            })
        }
        SyncCommand::Relink { guid } => {
            let r = sync.relink(guid).await?;
            out.emit(&r, || crate::output::operation("relinked", &r))
        }
        SyncCommand::Unlink { guid } => {
            let r = sync.unlink(guid).await?;
            out.emit(&r, || {
                format!("unlinked {}: it stays in the local store only", r.guid)
            })
        }
        SyncCommand::Verify { repair } => {
            let report = sync.verify(*repair).await?;
            out.emit(&report, || verify_text(&report, *repair))?;
            if report.unresolved > 0 {
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!(
                        "verify: {} difference(s) and orphan(s) {}",
                        report.unresolved,
                        if *repair { "left unresolved" } else { "found" }
                    ),
                ));
            }
            Ok(())
        }
        SyncCommand::Run { .. } => Ok(()),
        SyncCommand::Status => {
            let st = sync.status().await?;
            out.emit(&st, || {
                let mut s = format!(
                    "{} change(s) pending, {} set aside{}",
                    st.pending,
                    st.set_aside,
                    if st.asana_paused {
                        "; pushes paused (Asana looked down)"
                    } else {
                        ""
                    }
                );
                if st.lost > 0 {
                    s.push_str(&format!(
                        "\n{} lost link(s) (the Asana task is gone; resolve with `ticket sync relink GUID` or `ticket sync unlink GUID`):",
                        st.lost
                    ));
                    for l in &st.lost_links {
                        s.push_str(&format!(
                            "\n  lost {} (task {})",
                            l.ticket_guid,
                            l.asana_gid.as_deref().unwrap_or("-")
                        ));
                    }
                }
                if let Some(h) = &st.webhook {
                    s.push('\n');
                    s.push_str(&webhook_text(h));
                }
                for e in &st.set_aside_entries {
                    s.push_str(&format!(
                        "\n  #{} {} {} ({}): {}",
                        e.id,
                        e.ticket_guid,
                        e.operation,
                        e.created_at.to_rfc3339(),
                        e.reason
                    ));
                }
                s
            })
        }
    }
}

/// The webhook's lines of `sync status`.
fn webhook_text(h: &homechoice_tickets::WebhookHealth) -> String {
    let fallback = match h.fallback {
        homechoice_tickets::WebhookFallback::None => "none (deliveries wake the worker)",
        homechoice_tickets::WebhookFallback::Polling => "polling Asana's events",
    };
    let mut s = format!(
        "webhook: {} ({}{}); fallback: {fallback}\n  last delivery {}; {} delivery(ies), {} heartbeat(s); failures: {} bad signature(s), {} handler error(s), {} registration(s) (as of {})",
        h.state.as_str(),
        crate::output::one_line(&h.target),
        h.webhook_id
            .as_deref()
            .map_or(String::new(), |g| format!(", webhook {g}")),
        h.last_delivery_at
            .map_or("never".to_string(), |t| t.to_rfc3339()),
        h.deliveries,
        h.heartbeats,
        h.bad_signatures,
        h.handler_errors,
        h.registration_failures,
        h.updated_at.to_rfc3339(),
    );
    if let Some(f) = &h.last_failure {
        s.push_str(&format!("\n  last failure: {}", crate::output::one_line(f)));
    }
    s
}

/// `verify`'s text form: one line per difference and orphan, then the repairs.
fn verify_text(r: &homechoice_tickets::VerifyReport, repair: bool) -> String {
    let show = |v: &Option<String>| {
        v.as_deref()
            .map_or("(none)".to_string(), |s| format!("{s:?}"))
    };
    let mut s = format!(
        "compared {} ticket(s) ({} with pending changes not compared): {} difference(s), {} orphan(s)",
        r.compared,
        r.skipped_pending,
        r.differences.len(),
        r.orphans.len()
    );
    for d in &r.differences {
        s.push_str(&format!(
            "\n  ticket {} task {} {}: local {} asana {}",
            d.ticket_guid,
            d.asana_gid,
            d.field,
            show(&d.local),
            show(&d.remote)
        ));
    }
    for o in &r.orphans {
        s.push_str(&format!(
            "\n  orphan {:?}: ticket {} task {}",
            o.kind,
            o.ticket_guid.as_deref().unwrap_or("-"),
            o.asana_gid.as_deref().unwrap_or("-")
        ));
    }
    if repair {
        for line in &r.repairs {
            s.push_str(&format!("\n  repaired: {line}"));
        }
    }
    s
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `ticket sync run`: the worker until SIGTERM or Ctrl-C, with metrics when asked.
async fn run_worker(
    session: &Session,
    metrics_addr: Option<std::net::SocketAddr>,
    out: &Printer,
) -> Result<(), Error> {
    // The signal handlers first: a SIGTERM right after start still stops cleanly.
    let (tell, stopped) = tokio::sync::oneshot::channel::<()>();
    let signals = tokio::spawn(async move {
        stop_signal().await;
        let _ = tell.send(());
    });
    let listener = match metrics_addr {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::invalid_input(format!("--metrics-addr {addr}: cannot listen there: {e}"))
        })?),
        None => None,
    };
    let worker: Arc<dyn SyncWorker> = session
        .provider(Some(Capability::SyncMaintenance))
        .await?
        .extensions()
        .get::<dyn SyncWorker>()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "the configured provider offers sync maintenance but no worker (`ticket sync run`)",
            )
        })?;
    let server = match listener {
        Some(l) => {
            let local = l
                .local_addr()
                .map_err(|e| Error::internal(format!("cannot read the metrics address: {e}")))?;
            crate::output::note(&format!(
                "ticket sync run: metrics on http://{local}/metrics"
            ));
            Some(tokio::spawn(crate::metrics_server::serve(
                l,
                Arc::clone(&worker),
            )))
        }
        None => None,
    };
    crate::output::note("ticket sync run: started; stop with SIGTERM or Ctrl-C");
    let stop = Box::pin(async move {
        let _ = stopped.await;
    });
    let report = worker.run_worker(stop).await;
    signals.abort();
    if let Some(s) = server {
        s.abort();
    }
    let report = report?;
    out.emit(&report, || {
        format!(
            "sync worker stopped: {} change(s) pushed, {} pull(s), {} reconcile(s){}",
            report.pushed,
            report.pulls,
            report.reconciles,
            if report.stopped_in_flight {
                " (work in flight left pending)"
            } else {
                ""
            }
        )
    })
}
