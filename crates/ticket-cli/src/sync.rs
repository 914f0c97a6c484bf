//! `ticket sync ...`: the dual-write provider's maintenance commands, and the clean shutdown
//! of every sync provider the command opened.

use homechoice_tickets::{Config, Error};

use crate::cli::SyncCommand;
use crate::Printer;

/// Sync providers this process opened, shut down before it exits.
#[cfg(feature = "provider-sync")]
static OPENED: std::sync::Mutex<Vec<homechoice_tickets::provider_sync::SyncProvider>> =
    std::sync::Mutex::new(Vec::new());

/// Opens the sync provider the config describes and remembers it for [`shutdown_all`].
#[cfg(feature = "provider-sync")]
pub async fn open(
    config: &Config,
) -> Result<homechoice_tickets::provider_sync::SyncProvider, Error> {
    use homechoice_tickets::{BuildContext, Operation};
    let sync = homechoice_tickets::provider_sync::SyncProvider::from_context(&BuildContext::new(
        config.clone(),
    ))
    .await
    .map_err(|e| e.with_provider("sync").with_operation(Operation::Build))?;
    if let Ok(mut opened) = OPENED.lock() {
        opened.push(sync.clone());
    }
    Ok(sync)
}

/// Stops the background pushes of every sync provider opened and releases their claims, so
/// another process need not wait for them to expire.
pub async fn shutdown_all() {
    #[cfg(feature = "provider-sync")]
    {
        let opened = OPENED
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default();
        for sync in opened {
            sync.shutdown().await;
        }
    }
}

#[cfg(feature = "provider-sync")]
pub async fn run(config: &Config, cmd: &SyncCommand, out: &Printer) -> Result<(), Error> {
    use homechoice_tickets::ErrorKind;

    let configured = config.ticket.provider.as_str();
    if configured != "sync" {
        return Err(Error::new(
            ErrorKind::Config,
            format!("'ticket sync' works on the sync provider, but homechoice.ticket.provider is '{configured}'; set it to sync"),
        ));
    }
    if let SyncCommand::Push { guid } = cmd {
        // Checked before anything is opened, like every other command.
        if guid.trim().is_empty() {
            return Err(Error::invalid_input("the ticket guid must not be empty"));
        }
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
    let sync = open(config).await?;
    match cmd {
        SyncCommand::Push { guid } => {
            let r = sync.sync_to_asana(guid).await?;
            out.emit(&r, || crate::output::operation("pushed", &r))
        }
        SyncCommand::Pull {
            asana_gid: Some(gid),
            ..
        } => {
            let r = sync.sync_from_asana(gid).await?;
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
            let progress = |p: homechoice_tickets::provider_sync::PullProgress| {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
                bar.set_message(format!(
                    "pull ({})",
                    serde_json::to_value(p.mode)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ));
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

#[cfg(not(feature = "provider-sync"))]
pub async fn run(_config: &Config, _cmd: &SyncCommand, _out: &Printer) -> Result<(), Error> {
    Err(Error::new(
        homechoice_tickets::ErrorKind::Unsupported,
        "this build has no sync provider; build ticket-cli with the Cargo feature 'provider-sync'",
    ))
}
