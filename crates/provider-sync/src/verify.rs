//! `verify`: every linked ticket compared with its Asana task, field by field, and the
//! orphans on either side. The comparison ([`differences`]) and the sorting of links and
//! tasks into compared, skipped and orphaned ([`classify`]) are pure functions; the engine
//! around them ([`Engine::verify`]) only reads (one full listing of the project, one store
//! read) and, with repair, imports or pushes through the usual paths.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use provider_asana::RemoteTask;
use ticket_provider_api::maintenance::{FieldDifference, Orphan, OrphanKind, VerifyReport};
use ticket_provider_api::{ListQuery, Result, Ticket, TicketProvider};

use crate::db::{Link, LinkState};
use crate::engine::Engine;
use crate::push::PushMode;
use crate::reconcile::{cuts, remote_fields, Cut, CutField};
use crate::snapshot::{fields_of, Fields};

/// The fields on which `local` and `remote` differ: `(field, local, remote)` as
/// [`TicketValue::display`](ticket_provider_api::TicketValue::display) shows them, in field
/// order. A field `remote` lacks counts as its empty value.
pub(crate) fn differences(
    local: &Fields,
    remote: &Fields,
) -> Vec<(String, Option<String>, Option<String>)> {
    local
        .iter()
        .filter_map(|(field, l)| {
            let r = remote.get_or_default(field);
            (r.as_ref() != Some(l))
                .then(|| (field.name(), l.display(), r.and_then(|r| r.display())))
        })
        .collect()
}

/// The difference that reports `cut` on ticket `guid` (task `gid`): the two lengths, the
/// local one saying it was cut on import.
pub(crate) fn cut_difference(guid: &str, gid: &str, cut: &Cut) -> FieldDifference {
    FieldDifference {
        ticket_guid: guid.to_string(),
        asana_gid: gid.to_string(),
        field: cut.field.to_string(),
        local: Some(format!(
            "{} characters (cut on import: the store keeps at most {})",
            cut.kept_chars, cut.kept_chars
        )),
        remote: Some(format!("{} characters", cut.asana_chars)),
    }
}

/// Where one ticket or task stands for `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Linked to a listed task, nothing pending: compare them.
    Compare { guid: String, gid: String },
    /// A local change waits to be pushed (or the task is being created): not compared.
    Pending,
    /// On one side only.
    Orphan(OrphanKind, Option<String>, Option<String>),
    /// Unlinked on purpose (local only): neither compared nor an orphan.
    LocalOnly,
}

/// Sorts every ticket (`guids`, with its link if any and whether it has pending entries)
/// and every listed task (`listed`) into verdicts. Pure.
pub(crate) fn classify(
    guids: &[String],
    links: &HashMap<String, Link>,
    pending: &HashSet<String>,
    listed: &HashSet<String>,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    let mut known: HashSet<&str> = HashSet::new();
    for g in guids {
        let link = links.get(g);
        if let Some(gid) = link.and_then(|l| l.asana_gid.as_deref()) {
            known.insert(gid);
        }
        let v = match link {
            Some(l) if l.state == LinkState::LocalOnly => Verdict::LocalOnly,
            Some(l) if l.state == LinkState::Lost => Verdict::Orphan(
                OrphanKind::TaskMissing,
                Some(g.clone()),
                l.asana_gid.clone(),
            ),
            _ if pending.contains(g) => Verdict::Pending,
            Some(l) => match (l.state, l.asana_gid.as_deref()) {
                (LinkState::Linked, Some(gid)) if listed.contains(gid) => Verdict::Compare {
                    guid: g.clone(),
                    gid: gid.to_string(),
                },
                (LinkState::Linked, Some(gid)) => Verdict::Orphan(
                    OrphanKind::TaskMissing,
                    Some(g.clone()),
                    Some(gid.to_string()),
                ),
                // Creating with nothing pending: an interrupted create, redone by a push.
                _ => Verdict::Orphan(OrphanKind::TicketWithoutTask, Some(g.clone()), None),
            },
            None => Verdict::Orphan(OrphanKind::TicketWithoutTask, Some(g.clone()), None),
        };
        out.push(v);
    }
    let mut remote_only: Vec<&String> = listed
        .iter()
        .filter(|gid| !known.contains(gid.as_str()))
        .collect();
    remote_only.sort();
    for gid in remote_only {
        out.push(Verdict::Orphan(
            OrphanKind::RemoteTaskWithoutTicket,
            None,
            Some(gid.clone()),
        ));
    }
    out
}

impl Engine {
    /// Every local ticket (all pages).
    async fn all_tickets(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        let mut q = ListQuery {
            limit: Some(ticket_provider_api::model::MAX_LIST_LIMIT),
            ..Default::default()
        };
        loop {
            let page = self.settled().await.local().list_tickets(q.clone()).await?;
            out.extend(page.tickets);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// See [`ticket_provider_api::SyncMaintenance::verify`].
    pub(crate) async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        let tasks: HashMap<String, RemoteTask> = self
            .remote
            .list_remote_tasks(None)
            .await?
            .into_iter()
            .map(|t| (t.gid.clone(), t))
            .collect();
        let tickets: HashMap<String, Ticket> = self
            .all_tickets()
            .await?
            .into_iter()
            .map(|t| (t.guid.clone(), t))
            .collect();
        let mut guids: Vec<String> = tickets.keys().cloned().collect();
        guids.sort();
        let links: HashMap<String, Link> = self
            .settled()
            .await
            .links()
            .await?
            .into_iter()
            .map(|l| (l.ticket_guid.clone(), l))
            .collect();
        let pending: HashSet<String> = self.settled().await.pending_set(&guids).await?;
        let listed: HashSet<String> = tasks.keys().cloned().collect();
        let mut report = VerifyReport::default();
        let mut to_import: Vec<String> = Vec::new();
        let mut to_push: Vec<String> = Vec::new();
        let mut missing: Vec<(String, String)> = Vec::new();
        let mut uncut: Vec<String> = Vec::new();
        // Which of `report.differences` are cuts: repairs do not settle them.
        let mut cut_at: HashSet<usize> = HashSet::new();
        let carried = self.carried();
        for v in classify(&guids, &links, &pending, &listed) {
            match v {
                Verdict::Compare { guid, gid } => {
                    report.compared += 1;
                    let (Some(t), Some(task)) = (tickets.get(&guid), tasks.get(&gid)) else {
                        continue;
                    };
                    let agreed = links
                        .get(&guid)
                        .map(|l| l.agreed.clone())
                        .unwrap_or_default();
                    let (remote, _) = remote_fields(task, Some(t), &agreed, &carried);
                    let diffs = differences(&fields_of(t, &carried), &remote);
                    if !diffs.is_empty() {
                        to_import.push(gid.clone());
                    }
                    for (field, local, remote) in diffs {
                        report.differences.push(FieldDifference {
                            ticket_guid: guid.clone(),
                            asana_gid: gid.clone(),
                            field: field.to_string(),
                            local,
                            remote,
                        });
                    }
                    // A value longer than the store keeps was cut on import: a difference
                    // no repair can settle (it would cut Asana's value too).
                    for cut in cuts(task) {
                        uncut.push(format!(
                            "ticket {guid}: Asana's {} (task {gid}) has {} characters, more than the store keeps ({}); not repaired: shorten it in Asana",
                            cut.field, cut.asana_chars, cut.kept_chars
                        ));
                        cut_at.insert(report.differences.len());
                        report.differences.push(cut_difference(&guid, &gid, &cut));
                    }
                }
                Verdict::Pending => report.skipped_pending += 1,
                Verdict::LocalOnly => {}
                Verdict::Orphan(kind, guid, gid) => {
                    match (kind, &guid, &gid) {
                        (OrphanKind::RemoteTaskWithoutTicket, _, Some(gid)) => {
                            to_import.push(gid.clone())
                        }
                        (OrphanKind::TicketWithoutTask, Some(g), _) => to_push.push(g.clone()),
                        (OrphanKind::TaskMissing, Some(g), Some(gid))
                            if links.get(g).map(|l| l.state) == Some(LinkState::Linked) =>
                        {
                            missing.push((g.clone(), gid.clone()))
                        }
                        _ => {}
                    }
                    report.orphans.push(Orphan {
                        kind,
                        ticket_guid: guid,
                        asana_gid: gid,
                    });
                }
            }
        }
        // Comment stories cut on import: verify reads no stories, the import recorded them.
        let story_cuts = self.settled().await.story_cuts().await?;
        for c in &story_cuts {
            let cut = Cut {
                field: CutField::Comment(c.story_gid.clone()),
                asana_chars: c.asana_chars,
                kept_chars: c.kept_chars,
            };
            cut_at.insert(report.differences.len());
            report
                .differences
                .push(cut_difference(&c.ticket_guid, &c.asana_gid, &cut));
        }
        report.unresolved = report.differences.len() + report.orphans.len();
        if !repair {
            return Ok(report);
        }
        // A cut comment cannot be made whole here (the store keeps no more); repair
        // acknowledges it: reported once more, then forgotten. Asana keeps the whole text.
        let mut settled = 0;
        for c in story_cuts {
            self.settled().await.forget_story_cut(&c.story_gid).await?;
            settled += 1;
            report.repairs.push(format!(
                "ticket {}: kept the comment of story {} cut to {} characters (Asana keeps all {}); no longer reported",
                c.ticket_guid, c.story_gid, c.kept_chars, c.asana_chars
            ));
        }
        report.repairs.extend(uncut);
        // Each repair goes through the usual paths: the conflict rule decides each field (no
        // local change is pending, so Asana's value is taken), a task without a ticket is
        // pulled, a ticket without a task is pushed, a task the project no longer lists
        // marks the link lost (relink or unlink resolves it).
        for gid in to_import {
            let _gate = self.pull_gate.write().await;
            let read_at = Utc::now();
            let done = match self.remote.get_remote_task(&gid).await {
                Ok(task) => self
                    .import_task(task, read_at, self.settings.claim_wait)
                    .await
                    .map(|i| (i.guid, i.kind)),
                Err(e) => Err(e),
            };
            match done {
                Ok((guid, crate::pull::ImportKind::Created)) => {
                    settled += 1;
                    report
                        .repairs
                        .push(format!("pulled Asana task {gid} as new ticket {guid}"));
                }
                Ok((guid, crate::pull::ImportKind::ClaimedElsewhere)) => {
                    report.repairs.push(format!(
                    "ticket {guid} (task {gid}) is being pushed by another instance; not repaired"
                ))
                }
                Ok((guid, _)) => {
                    let fields: Vec<&str> = report
                        .differences
                        .iter()
                        .enumerate()
                        .filter(|(i, d)| d.asana_gid == gid && !cut_at.contains(i))
                        .map(|(_, d)| d.field.as_str())
                        .collect();
                    settled += fields.len();
                    report.repairs.push(format!(
                        "ticket {guid}: took Asana's {} from task {gid} (the conflict rule: no local change was pending)",
                        fields.join(", ")
                    ));
                }
                Err(e) => report
                    .repairs
                    .push(format!("task {gid}: not repaired: {e}")),
            }
        }
        for guid in to_push {
            let out = self.push_ticket(&guid, PushMode::Full).await;
            match out {
                Ok(o) if o.gid.is_some() && o.left_pending == 0 && !o.blocked => {
                    settled += 1;
                    report.repairs.push(format!(
                        "pushed ticket {guid} as Asana task {}",
                        o.gid.unwrap_or_default()
                    ));
                }
                Ok(_) => report
                    .repairs
                    .push(format!("ticket {guid}: push not finished; still pending")),
                Err(e) => report
                    .repairs
                    .push(format!("ticket {guid}: not repaired: {e}")),
            }
        }
        for (guid, gid) in missing {
            self.settled().await
                .mark_lost(
                    &guid,
                    &gid,
                    "verify: the project does not list the task (deleted or removed from the project)",
                )
                .await?;
            report.repairs.push(format!(
                "ticket {guid}: link to task {gid} marked lost; resolve with `ticket sync relink {guid}` or `ticket sync unlink {guid}`"
            ));
        }
        report.unresolved = report.unresolved.saturating_sub(settled);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_provider_api::{
        Due, FieldValue, Labels, Priority, Status, TicketField, TicketValue,
    };

    fn fields() -> Fields {
        [
            (TicketField::Subject, TicketValue::Text("s".into())),
            (TicketField::Description, TicketValue::Text("d".into())),
            (TicketField::Status, TicketValue::Status(Status::New)),
            (
                TicketField::Priority,
                TicketValue::Priority(Priority::Normal),
            ),
            (TicketField::Assignee, TicketValue::Person(None)),
            (TicketField::Due, TicketValue::Due(None)),
            (
                TicketField::Custom("severity".into()),
                TicketValue::Custom(Some(FieldValue::Enum("S1".into()))),
            ),
            (
                TicketField::Custom("customer".into()),
                TicketValue::Custom(None),
            ),
            (
                TicketField::Labels,
                TicketValue::Labels(["vip".to_string()].into()),
            ),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn differences_by_table() {
        // (field, Asana's value, local shown, Asana's shown)
        let cases: Vec<(&str, TicketValue, Option<&str>, Option<&str>)> = vec![
            (
                "subject",
                TicketValue::Text("t".into()),
                Some("s"),
                Some("t"),
            ),
            (
                "description",
                TicketValue::Text("e".into()),
                Some("d"),
                Some("e"),
            ),
            (
                "status",
                TicketValue::Status(Status::Closed),
                Some("NEW"),
                Some("CLOSED"),
            ),
            (
                "priority",
                TicketValue::Priority(Priority::High),
                Some("normal"),
                Some("high"),
            ),
            (
                "assignee",
                TicketValue::Person(Some("a@x".into())),
                None,
                Some("a@x"),
            ),
            (
                "due",
                TicketValue::Due("2026-12-24".parse::<Due>().ok()),
                None,
                Some("2026-12-24"),
            ),
            (
                "fields.severity",
                TicketValue::Custom(Some(FieldValue::Enum("S2".into()))),
                Some("S1"),
                Some("S2"),
            ),
            (
                "fields.customer",
                TicketValue::Custom(Some(FieldValue::Text("ACME".into()))),
                None,
                Some("ACME"),
            ),
            (
                "labels",
                TicketValue::Labels(["ops".to_string(), "vip".to_string()].into()),
                Some("vip"),
                Some("ops, vip"),
            ),
            (
                "labels",
                TicketValue::Labels(Labels::new()),
                Some("vip"),
                None,
            ),
        ];
        assert!(differences(&fields(), &fields()).is_empty());
        for (name, value, local, remote) in cases {
            let mut r = fields();
            r.insert(TicketField::parse(name).unwrap(), value);
            let d = differences(&fields(), &r);
            assert_eq!(
                d,
                vec![(
                    name.to_string(),
                    local.map(String::from),
                    remote.map(String::from)
                )],
                "{name}"
            );
        }
        // A custom field Asana's values lack is no value there.
        let mut r = fields();
        r.remove(&TicketField::Custom("severity".into()));
        let d = differences(&fields(), &r);
        assert_eq!(
            d,
            vec![("fields.severity".to_string(), Some("S1".to_string()), None)]
        );
    }

    fn link(guid: &str, gid: Option<&str>, state: LinkState) -> Link {
        Link {
            ticket_guid: guid.into(),
            asana_gid: gid.map(String::from),
            state,
            last_synced_at: None,
            remote_modified_at: None,
            creating_since: None,
            agreed: Default::default(),
            pushed_at: None,
        }
    }

    #[test]
    fn classify_by_table() {
        use OrphanKind::*;
        // (link, pending, task listed, verdict)
        let s = |x: &str| Some(x.to_string());
        let cases = [
            (
                Some(link("t", Some("1"), LinkState::Linked)),
                false,
                true,
                Verdict::Compare {
                    guid: "t".into(),
                    gid: "1".into(),
                },
            ),
            (
                Some(link("t", Some("1"), LinkState::Linked)),
                true,
                true,
                Verdict::Pending,
            ),
            (
                Some(link("t", Some("1"), LinkState::Linked)),
                false,
                false,
                Verdict::Orphan(TaskMissing, s("t"), s("1")),
            ),
            (
                Some(link("t", Some("1"), LinkState::Lost)),
                true,
                false,
                Verdict::Orphan(TaskMissing, s("t"), s("1")),
            ),
            (
                Some(link("t", Some("1"), LinkState::LocalOnly)),
                false,
                true,
                Verdict::LocalOnly,
            ),
            (None, true, false, Verdict::Pending),
            (
                None,
                false,
                false,
                Verdict::Orphan(TicketWithoutTask, s("t"), None),
            ),
            (
                Some(link("t", None, LinkState::Creating)),
                false,
                false,
                Verdict::Orphan(TicketWithoutTask, s("t"), None),
            ),
        ];
        for (i, (l, pending, listed, want)) in cases.into_iter().enumerate() {
            let links: HashMap<String, Link> =
                l.into_iter().map(|l| (l.ticket_guid.clone(), l)).collect();
            let pending: HashSet<String> = pending.then(|| "t".to_string()).into_iter().collect();
            let listed: HashSet<String> = listed.then(|| "1".to_string()).into_iter().collect();
            let got = classify(&["t".to_string()], &links, &pending, &listed);
            assert_eq!(got, vec![want], "case {i}");
        }
        // A listed task no ticket is linked to is an orphan of the remote side; a task of a
        // local-only ticket is not.
        let listed: HashSet<String> = ["1", "2"].iter().map(|s| s.to_string()).collect();
        let links: HashMap<String, Link> =
            [("t".to_string(), link("t", Some("1"), LinkState::LocalOnly))]
                .into_iter()
                .collect();
        let got = classify(&["t".to_string()], &links, &HashSet::new(), &listed);
        assert_eq!(
            got,
            vec![
                Verdict::LocalOnly,
                Verdict::Orphan(RemoteTaskWithoutTicket, None, s("2"))
            ]
        );
    }
}
