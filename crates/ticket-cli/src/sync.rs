//! `ticket sync ...`: the maintenance commands of a provider that offers the
//! [`SyncMaintenance`] extension (the `sync` provider does).

use homechoice_tickets::{Capability, Error, SyncMaintenance};

use crate::cli::SyncCommand;
use crate::{Printer, Session};

pub async fn run(session: &Session, cmd: &SyncCommand, out: &Printer) -> Result<(), Error> {
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
