//! What a command prints: the serialised result with `--json` ([`Printer`]), else the
//! human-readable text made here.

use std::fmt::Write as _;
use std::io::Write as _;

use homechoice_tickets::{Check, Error, OperationResult, Ticket, TicketDetails};
use serde::Serialize;

/// What a command prints: JSON on request, text otherwise.
pub(crate) struct Printer {
    /// JSON on stdout instead of text.
    pub(crate) json: bool,
}

impl Printer {
    pub(crate) fn emit<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        let out = if self.json {
            serde_json::to_string_pretty(value)
                .map_err(|e| Error::internal(format!("cannot encode the result as JSON: {e}")))?
        } else {
            text()
        };
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`ticket list | head`) is not an error worth a message.
        match writeln!(stdout, "{out}").and_then(|_| stdout.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Error::internal(format!("cannot write to stdout: {e}")))
            }
            _ => Ok(()),
        }
    }
}

/// One line about a changed ticket, e.g. `3f2c... IN_PROGRESS (internal)`.
pub fn operation(verb: &str, r: &OperationResult) -> String {
    let mut s = format!(
        "{verb} {} — status {} (provider {})",
        r.guid, r.status, r.provider
    );
    if let Some(c) = &r.comment_guid {
        let _ = write!(s, ", comment {c}");
    }
    if let Some(a) = &r.assigned_to {
        let _ = write!(s, ", assigned to {a}");
    }
    if let Some(g) = &r.asana_gid {
        let _ = write!(s, ", asana task {g}");
    }
    if let Some(st) = r.sync_state {
        let _ = write!(
            s,
            ", sync {}",
            serde_json::to_value(st)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("")
        );
    }
    s
}

/// The whole ticket, one field a line, then the comments.
pub fn details(t: &TicketDetails) -> String {
    let k = &t.ticket;
    let mut s = String::new();
    let _ = writeln!(s, "guid:        {}", k.guid);
    let _ = writeln!(s, "subject:     {}", k.subject);
    let _ = writeln!(s, "status:      {}", k.status);
    let _ = writeln!(s, "priority:    {}", k.priority);
    let _ = writeln!(s, "assignee:    {}", k.assignee.as_deref().unwrap_or("-"));
    if let Some(d) = &k.due {
        let _ = writeln!(s, "due:         {d}");
    }
    let _ = writeln!(s, "provider:    {}", k.provider);
    if let Some(g) = &k.asana_gid {
        let _ = writeln!(s, "asana task:  {g}");
    }
    let _ = writeln!(s, "created:     {}", k.created_at.to_rfc3339());
    let _ = writeln!(s, "updated:     {}", k.updated_at.to_rfc3339());
    if !k.description.is_empty() {
        let _ = writeln!(s, "description:");
        for line in k.description.lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    let _ = writeln!(s, "comments:    {}", t.comments.len());
    for c in &t.comments {
        let who = c.author.as_deref().unwrap_or("?");
        let _ = writeln!(
            s,
            "  [{}] {} ({}):",
            c.created_at.to_rfc3339(),
            who,
            c.comment_guid
        );
        for line in c.body.lines() {
            let _ = writeln!(s, "    {line}");
        }
    }
    s
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A table with one row a ticket.
pub fn table(tickets: &[Ticket]) -> String {
    let header = ["GUID", "STATUS", "PRIORITY", "ASSIGNEE", "DUE", "SUBJECT"];
    let rows: Vec<[String; 6]> = tickets
        .iter()
        .map(|t| {
            [
                t.guid.clone(),
                t.status.to_string(),
                t.priority.to_string(),
                clip(t.assignee.as_deref().unwrap_or("-"), 24),
                t.due.map_or_else(|| "-".to_string(), |d| d.to_string()),
                clip(&t.subject, 60),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, cells: &[&str]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "{}", parts.join("  ").trim_end());
    };
    line(&mut s, &header);
    for r in &rows {
        line(&mut s, &r.each_ref().map(String::as_str));
    }
    let _ = write!(s, "{} ticket(s)", tickets.len());
    s
}

/// Self-check results, one line each, with the fix under a failing one.
pub fn checks(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(s, "[{mark}] {}: {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(s, "       fix: {fix}");
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let _ = write!(s, "{} check(s), {failed} failed", checks.len());
    s
}

/// A ticket's changes, oldest first.
pub fn history(entries: &[homechoice_tickets::HistoryEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        let old = e.old_value.as_deref().unwrap_or("-");
        let new = e.new_value.as_deref().unwrap_or("-");
        let _ = writeln!(
            s,
            "{}  {:<12} {} -> {}",
            e.changed_at.to_rfc3339(),
            e.field,
            clip(old, 40),
            clip(new, 40)
        );
    }
    let _ = write!(s, "{} change(s)", entries.len());
    s
}
