//! Settling the sync once faults stop, and the invariants checked afterwards.

use std::collections::{BTreeMap, BTreeSet};

use provider_sync::{SyncProvider, CONFLICT_AUTHOR};
use ticket_provider_api::{ListQuery, SyncState, TicketDetails, TicketHistory, TicketProvider};

use crate::world::{Field, LastWrite, World};

/// The marker (ticket guid) of a task's notes: their last line `[ticket-guid: …]`.
pub fn marker_of(notes: &str) -> Option<String> {
    let last = notes.trim_end().rsplit('\n').next()?.trim();
    last.strip_prefix("[ticket-guid: ")
        .and_then(|r| r.strip_suffix(']'))
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

/// Splits text at its last line when `is_line` accepts that line: (the text before it, the
/// line). The line is separated by one blank line, as the providers write it.
fn split_last_line(text: &str, is_line: impl Fn(&str) -> bool) -> Option<(String, String)> {
    let trimmed = text.trim_end();
    let (before, last) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    is_line(last.trim()).then(|| {
        (
            before.strip_suffix('\n').unwrap_or(before).to_string(),
            last.trim().to_string(),
        )
    })
}

/// The push mark line `[sync-push: N #check]` of a description, when it ends with one.
pub fn split_push_mark(description: &str) -> Option<(String, String)> {
    split_last_line(description, provider_sync::is_push_mark_line)
}

/// The push mark line of a task's notes (above the marker line), when there is one.
pub fn push_mark_line(notes: &str) -> Option<String> {
    let (before, _) = split_last_line(notes, |l| l.starts_with("[ticket-guid: "))?;
    split_push_mark(&before).map(|(_, line)| line)
}

/// The description in a task's notes (without the marker line and the push mark).
pub fn description_of(notes: &str) -> String {
    let Some((before, _)) = split_last_line(notes, |l| l.starts_with("[ticket-guid: ")) else {
        return notes.to_string();
    };
    match split_push_mark(&before) {
        Some((d, _)) => d,
        None => before,
    }
}

/// How a conflict note starts on a task: its story carries the author line.
const TASK_NOTE_PREFIX: &str = "[author: sync]\n";

/// The field and Asana's value a conflict note names (`Sync conflict on FIELD: Asana had
/// "VALUE" while ...`), for the fields the model follows.
fn note_names(note: &str) -> Option<(Field, String)> {
    let rest = note.strip_prefix("Sync conflict on ")?;
    let (name, rest) = rest.split_once(": Asana had \"")?;
    let (value, _) = rest.split_once('"')?;
    let field = match name {
        "subject" => Field::Subject,
        "description" => Field::Description,
        "status" => Field::Status,
        _ => return None,
    };
    Some((field, value.to_string()))
}

/// How many identical copies of conflict note `note` ticket `guid` may hold: one per
/// time people gave the field the value it names (each can be a conflict of its own).
fn conflicts_allowed(w: &World, guid: &str, note: &str) -> u32 {
    note_names(note)
        .and_then(|(field, value)| {
            w.model
                .person_writes
                .get(&(guid.to_string(), field, value))
                .copied()
        })
        .unwrap_or(1)
        .max(1)
}

/// How many push/pull rounds the settling may take.
const ROUNDS: usize = 6;

/// Faults stop and the sync settles: every instance flushes and pulls, a full read (the
/// worker's reconcile) marks tasks that disappeared as lost, an operator relinks each lost
/// ticket, and the instances flush and pull again until nothing is pending. Returns the
/// trace lines of what it did, or the violation when it does not settle.
pub async fn settle(w: &mut World) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    w.fake.clear_faults();
    rounds(w, &mut lines, 2).await?;
    w.fake.expire_sync_tokens();
    let full = w
        .inst(0)
        .pull_all(&|_| {})
        .await
        .map_err(|e| format!("settle: the full pull failed: {e}"))?;
    lines.push(format!("settle: full pull lost={}", full.lost));
    let status = w
        .inst(0)
        .status()
        .await
        .map_err(|e| format!("settle: status failed: {e}"))?;
    for lost in &status.lost_links {
        w.inst(0)
            .relink(&lost.ticket_guid)
            .await
            .map_err(|e| format!("settle: relink {} failed: {e}", lost.ticket_guid))?;
    }
    lines.push(format!("settle: relinked {}", status.lost_links.len()));
    for round in 0..ROUNDS {
        let pending = rounds(w, &mut lines, 1).await?;
        if pending == 0 {
            return Ok(lines);
        }
        if round + 1 == ROUNDS {
            let s = w.inst(0).status().await.map_err(|e| e.to_string())?;
            return Err(format!(
                "the sync does not settle: {pending} change(s) still pending after {ROUNDS} rounds of flush and pull without faults ({s:?})"
            ));
        }
    }
    Ok(lines)
}

/// `n` rounds of a flush then a pull on every instance; the pending count after the last.
async fn rounds(w: &World, lines: &mut Vec<String>, n: usize) -> Result<u64, String> {
    let mut pending = 0;
    for _ in 0..n {
        pending = 0;
        for p in &w.instances {
            let r = p
                .flush()
                .await
                .map_err(|e| format!("settle: flush failed without faults: {e}"))?;
            pending = pending.max(r.pending);
        }
        for p in &w.instances {
            let r = p
                .pull_all(&|_| {})
                .await
                .map_err(|e| format!("settle: pull failed without faults: {e}"))?;
            lines.push(format!(
                "settle: pull {} updated={} conflicts={} skipped={}",
                r.mode.as_str(),
                r.updated,
                r.conflicts,
                r.skipped.len()
            ));
        }
    }
    Ok(pending)
}

/// Every ticket of the store with its comments, by guid.
async fn all_tickets(p: &SyncProvider) -> Result<BTreeMap<String, TicketDetails>, String> {
    let mut out = BTreeMap::new();
    let mut q = ListQuery {
        limit: Some(500),
        ..ListQuery::default()
    };
    loop {
        let page = p.list_tickets(q.clone()).await.map_err(|e| e.to_string())?;
        for t in page.tickets {
            let d = p.get_ticket(&t.guid).await.map_err(|e| e.to_string())?;
            out.insert(t.guid.clone(), d);
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// The invariants, checked after [`settle`]. Returns every violation found.
pub async fn invariants(w: &World) -> Result<Vec<String>, String> {
    let mut bad = Vec::new();
    let p = w.inst(0);

    // `verify` finds no difference and no orphan.
    let v = p
        .verify(false)
        .await
        .map_err(|e| format!("verify failed: {e}"))?;
    for d in &v.differences {
        bad.push(format!("verify: difference {d:?}"));
    }
    for o in &v.orphans {
        bad.push(format!("verify: orphan {o:?}"));
    }
    if v.skipped_pending > 0 {
        bad.push(format!(
            "verify: {} ticket(s) still pending",
            v.skipped_pending
        ));
    }

    // `sync status` is truthful: nothing pending, set aside or lost, and every ticket says
    // `synced`.
    let status = p
        .status()
        .await
        .map_err(|e| format!("status failed: {e}"))?;
    if status.pending != 0 || status.set_aside != 0 || status.lost != 0 {
        bad.push(format!("status after settling: {status:?}"));
    }
    let tickets = all_tickets(p).await?;
    for (guid, d) in &tickets {
        if d.ticket.sync_state != Some(SyncState::Synced) {
            bad.push(format!(
                "ticket {guid}: sync_state {:?} while status reports nothing pending",
                d.ticket.sync_state
            ));
        }
    }

    // No task twice, no comment twice; every task is the task of exactly one ticket and
    // every ticket has its task in the project.
    let tasks = w.tasks();
    let mut task_of: BTreeMap<String, &asana_fake::TaskSnapshot> = BTreeMap::new();
    let mut ticket_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (guid, d) in &tickets {
        let Some(gid) = d.ticket.asana_gid.as_deref() else {
            bad.push(format!("ticket {guid} has no task"));
            continue;
        };
        if let Some(other) = ticket_of.insert(gid, guid) {
            bad.push(format!(
                "tickets {other} and {guid} are both linked to task {gid}"
            ));
        }
        match tasks.iter().find(|t| t.gid == gid) {
            Some(t) => {
                task_of.insert(guid.clone(), t);
            }
            None => bad.push(format!(
                "ticket {guid}: its task {gid} is not in the project"
            )),
        }
    }
    let mut markers = BTreeSet::new();
    for t in &tasks {
        let Some(guid) = ticket_of.get(t.gid.as_str()) else {
            bad.push(format!("task {} belongs to no ticket", t.gid));
            continue;
        };
        match marker_of(&t.notes) {
            Some(m) => {
                if !markers.insert(m.clone()) {
                    bad.push(format!("two tasks carry the marker {m} (a duplicate task)"));
                }
                // After a restore, a task made for a ticket the copy does not hold is pulled
                // as a new ticket (see the crate documentation).
                if m != *guid && w.model.epoch == 0 {
                    bad.push(format!(
                        "task {} carries {m} but belongs to ticket {guid}",
                        t.gid
                    ));
                }
            }
            None => bad.push(format!("task {} has no marker", t.gid)),
        }
        let mut seen: BTreeMap<&String, u32> = BTreeMap::new();
        for c in &t.comments {
            let n = seen.entry(c).or_default();
            *n += 1;
            let note = c.strip_prefix(TASK_NOTE_PREFIX);
            if *n == 2 || (*n > 2 && note.is_some()) {
                let allowed = note.map_or(1, |n| conflicts_allowed(w, guid, n));
                if *n > allowed {
                    bad.push(format!("task {}: comment {c:?} twice", t.gid));
                }
            }
        }
    }
    for (guid, d) in &tickets {
        let mut seen: BTreeMap<(&String, &Option<String>), u32> = BTreeMap::new();
        for c in &d.comments {
            let n = seen.entry((&c.body, &c.author)).or_default();
            *n += 1;
            let note = c.author.as_deref() == Some(CONFLICT_AUTHOR);
            if *n == 2 || (*n > 2 && note) {
                let allowed = if note {
                    conflicts_allowed(w, guid, &c.body)
                } else {
                    1
                };
                if *n > allowed {
                    bad.push(format!("ticket {guid}: comment {:?} twice", c.body));
                }
            }
        }
    }

    // No accepted change is lost.
    let epoch = w.model.epoch;
    for (guid, body, e) in &w.model.local_comments {
        if *e != epoch {
            continue; // a later restore may have undone it
        }
        let Some(d) = tickets.get(guid) else {
            bad.push(format!(
                "ticket {guid} with accepted comment {body:?} is gone"
            ));
            continue;
        };
        if !d.comments.iter().any(|c| &c.body == body) {
            bad.push(format!("ticket {guid}: accepted comment {body:?} lost"));
        }
        if let Some(t) = task_of.get(guid) {
            if !t.comments.iter().any(|c| c == body) {
                bad.push(format!(
                    "task {}: comment {body:?} never reached Asana",
                    t.gid
                ));
            }
        }
    }
    for (gid, text) in &w.model.person_comments {
        if w.model.gone_tasks.contains(gid) {
            continue;
        }
        let Some(guid) = ticket_of.get(gid.as_str()) else {
            continue;
        };
        let kept = tickets
            .get(*guid)
            .is_some_and(|d| d.comments.iter().any(|c| &c.body == text));
        if !kept {
            bad.push(format!(
                "ticket {guid}: Asana comment {text:?} was not pulled"
            ));
        }
    }

    // Nothing overwritten without a conflict record; the last accepted local write stays.
    for ((guid, field), last) in &w.model.last {
        let Some(d) = tickets.get(guid) else {
            if matches!(last, LastWrite::Local { epoch: e, .. } if *e == epoch) {
                bad.push(format!("ticket {guid} with an accepted change is gone"));
            }
            continue;
        };
        let now = match field {
            Field::Subject => d.ticket.subject.clone(),
            Field::Description => d.ticket.description.clone(),
            Field::Status => d.ticket.status.to_string(),
        };
        match last {
            LastWrite::Local { value, epoch: e } if *e == epoch && &now != value => {
                bad.push(format!(
                    "ticket {guid}: {field:?} is {now:?}, but the last accepted change set {value:?} and nothing changed it since"
                ));
            }
            LastWrite::Asana { value, task } => {
                // A task deleted or removed before a pull read it takes its edits with it.
                let task_gone = w.model.gone_tasks.contains(task);
                let recorded = d.comments.iter().any(|c| {
                    c.author.as_deref() == Some(CONFLICT_AUTHOR) && c.body.contains(value.as_str())
                });
                // A change Asana had before the store was restored must not come back over a
                // later value, conflict note or not: the restored store replayed it.
                if &now != value
                    && !task_gone
                    && w.model
                        .pushed_before_restore
                        .contains(&(guid.clone(), *field, now.clone()))
                {
                    bad.push(format!(
                        "ticket {guid}: Asana's {field:?} {value:?} was rolled back to {now:?}, a change Asana already had before the store was restored"
                    ));
                }
                if &now != value && !recorded && !task_gone {
                    bad.push(format!(
                        "ticket {guid}: Asana's {field:?} {value:?} was overwritten by {now:?} without a conflict record"
                    ));
                }
            }
            _ => {}
        }
    }

    // Asana holds what the store holds (verify compares too; this also checks the marker
    // line and the comments).
    for (guid, d) in &tickets {
        let Some(t) = task_of.get(guid) else {
            continue;
        };
        if t.name != d.ticket.subject || description_of(&t.notes) != d.ticket.description {
            bad.push(format!(
                "task {}: name/notes {:?}/{:?} differ from ticket {guid} {:?}/{:?}",
                t.gid,
                t.name,
                description_of(&t.notes),
                d.ticket.subject,
                d.ticket.description
            ));
        }
    }

    // History agrees with the state: the last recorded value of each field is the current one.
    for (guid, d) in &tickets {
        let history = p.history(guid).await.map_err(|e| e.to_string())?;
        for (name, now) in [
            ("subject", d.ticket.subject.clone()),
            ("description", d.ticket.description.clone()),
            ("status", d.ticket.status.to_string()),
        ] {
            let last = history.iter().rev().find(|h| h.field == name);
            if let Some(h) = last {
                if h.new_value.as_deref().unwrap_or("") != now {
                    bad.push(format!(
                        "ticket {guid}: history's last {name} is {:?}, the ticket has {now:?}",
                        h.new_value
                    ));
                }
            }
        }
    }
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_note_names_its_field_and_asana_value() {
        let note = |field: &str, value: &str| {
            format!("Sync conflict on {field}: Asana had \"{value}\" while a local change to \"X\" was waiting to be pushed. The local value was kept and will be pushed to Asana.")
        };
        let cases = [
            (
                note("status", "IN_PROGRESS"),
                Some((Field::Status, "IN_PROGRESS")),
            ),
            (
                note("subject", "asana name #7"),
                Some((Field::Subject, "asana name #7")),
            ),
            (
                note("description", "asana notes #3"),
                Some((Field::Description, "asana notes #3")),
            ),
            // A field the model does not follow, and text that is no note.
            (note("priority", "high"), None),
            ("local comment #4".to_string(), None),
        ];
        for (text, want) in cases {
            let want = want.map(|(f, v)| (f, v.to_string()));
            assert_eq!(note_names(&text), want, "{text}");
        }
    }
}
