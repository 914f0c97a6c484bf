//! What a command prints, and the one path it goes through: the serialised result with
//! `--json` ([`Printer::emit`]), else the human-readable text made here; and one-line
//! messages on stderr ([`Printer::error`], [`note`]) and log lines ([`LogWriter`]).
//!
//! Every human-readable byte passes [`for_display`] before it reaches the terminal: each
//! field from outside (a subject, an assignee, a comment, a guid argument echoed in an
//! error) is cleaned where it is placed, so a newline cannot forge a table row, and the
//! whole text is cleaned again on its way out with the known secrets (the Asana token),
//! so an ESC sequence, a bidi override or the token never reaches the terminal whatever
//! code made the text. `--json` stays exact: JSON escaping already keeps every character
//! inert. Table columns are sized by display width (`unicode-width`), so a CJK subject
//! or assignee, two columns a character, keeps its row aligned.

use std::fmt::Write as _;
use std::io::Write as _;

use homechoice_tickets::text::{for_display, Layout};
use homechoice_tickets::{
    Check, Error, OperationResult, Ticket, TicketDetails, TicketField, TicketValue,
};
use serde::Serialize;
use unicode_width::UnicodeWidthStr as _;

/// A one-line field from outside, safe to place in a line of text.
fn field(s: &str) -> String {
    for_display(s, Layout::OneLine, &[])
}

/// The secrets this process knows and no human-readable output may show: the Asana token
/// from the environment (never read from a file), read once.
fn known_secrets() -> &'static [&'static str] {
    static SECRETS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    SECRETS.get_or_init(|| {
        #[cfg(feature = "provider-asana")]
        let names = [homechoice_tickets::provider_asana::ASANA_TOKEN_ENV];
        #[cfg(not(feature = "provider-asana"))]
        let names: [&str; 0] = [];
        names
            .iter()
            .filter_map(|n| std::env::var(n).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            // Lives as long as the process; one string a secret.
            .map(|t| &*Box::leak(t.into_boxed_str()))
            .collect()
    })
}

/// `text` as it may reach stderr: secrets redacted, controls escaped, on one line.
fn stderr_text(text: &str) -> String {
    for_display(&one_line(text), Layout::OneLine, known_secrets())
}

/// Where log lines go: stderr, each line cleaned like all output (a provider's warning may
/// quote an answer from Asana). Made for each event by the log subscriber.
pub(crate) struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = for_display(&text, Layout::Block, known_secrets());
        std::io::stderr().lock().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Joins a multi-line message into one line (libpq, for one, writes several), so every
/// message on stderr is one line.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A one-line message on stderr (a notice, not a result), cleaned like all output.
pub(crate) fn note(message: &str) {
    eprintln!("{}", stderr_text(message));
}

/// What a command prints: JSON on request, text otherwise.
pub(crate) struct Printer {
    /// JSON on stdout instead of text.
    pub(crate) json: bool,
}

impl Printer {
    /// Prints a command's result: `value` as JSON with `--json`, else the `text` made from
    /// it, cleaned on the way out with the known secrets.
    pub(crate) fn emit<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        let out = if self.json {
            serde_json::to_string_pretty(value)
                .map_err(|e| Error::internal(format!("cannot encode the result as JSON: {e}")))?
        } else {
            for_display(&text(), Layout::Block, known_secrets())
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

    /// The one line on stderr of a failed command: `error: ...`, cleaned.
    pub(crate) fn error(message: &str) {
        note(&format!("error: {message}"));
    }
}

/// One line about a changed ticket, e.g. `3f2c... IN_PROGRESS (internal)`.
pub fn operation(verb: &str, r: &OperationResult) -> String {
    let mut s = format!(
        "{verb} {} — status {} (provider {})",
        field(&r.guid),
        r.status,
        field(&r.provider)
    );
    if let Some(c) = &r.comment_guid {
        let _ = write!(s, ", comment {}", field(c));
    }
    if let Some(a) = &r.assigned_to {
        let _ = write!(s, ", assigned to {}", field(a));
    }
    if let Some(g) = &r.asana_gid {
        let _ = write!(s, ", asana task {}", field(g));
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
    let block = |s: &str| for_display(s, Layout::Block, &[]);
    let mut s = String::new();
    let _ = writeln!(s, "guid:        {}", field(&k.guid));
    // One line per field with a value (the assignee always), from the field set: the
    // built-in fields but the description (a block, below), the labels, the custom fields.
    let one_line = TicketField::BUILT_IN
        .into_iter()
        .filter(|f| *f != TicketField::Description)
        .chain([TicketField::Labels])
        .chain(k.fields.keys().cloned().map(TicketField::Custom));
    for f in one_line {
        let shown = match (&f, f.of(k)) {
            (_, TicketValue::Labels(l)) => {
                (!l.is_empty()).then(|| l.iter().map(|l| field(l)).collect::<Vec<_>>().join(", "))
            }
            (TicketField::Assignee, v) => Some(field(&v.display().unwrap_or_else(|| "-".into()))),
            (_, v) => v.display().map(|d| field(&d)),
        };
        let name = match &f {
            TicketField::Custom(name) => name.clone(),
            other => other.name(),
        };
        if let Some(shown) = shown {
            let _ = writeln!(s, "{:<13}{shown}", format!("{name}:"));
        }
    }
    let _ = writeln!(s, "provider:    {}", field(&k.provider));
    if let Some(g) = &k.asana_gid {
        let _ = writeln!(s, "asana task:  {}", field(g));
    }
    let _ = writeln!(s, "created:     {}", k.created_at.to_rfc3339());
    let _ = writeln!(s, "updated:     {}", k.updated_at.to_rfc3339());
    if !k.description.is_empty() {
        let _ = writeln!(s, "description:");
        for line in block(&k.description).lines() {
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
            field(who),
            field(&c.comment_guid)
        );
        for line in block(&c.body).lines() {
            let _ = writeln!(s, "    {line}");
        }
    }
    s
}

/// A one-line field cleaned and cut to at most `width` terminal columns (with `…` when
/// cut).
fn clip(s: &str, width: usize) -> String {
    let s = field(s);
    if s.width() <= width {
        return s;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width.saturating_sub(1) {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `cell` followed by spaces up to `width` terminal columns.
fn pad(cell: &str, width: usize) -> String {
    let fill = width.saturating_sub(cell.width());
    format!("{cell}{}", " ".repeat(fill))
}

/// A table with one row a ticket; columns sized by display width.
pub fn table(tickets: &[Ticket]) -> String {
    let header = [
        "GUID", "STATUS", "PRIORITY", "ASSIGNEE", "DUE", "LABELS", "SUBJECT",
    ];
    let rows: Vec<[String; 7]> = tickets
        .iter()
        .map(|t| {
            [
                field(&t.guid),
                t.status.to_string(),
                t.priority.to_string(),
                clip(t.assignee.as_deref().unwrap_or("-"), 24),
                t.due.map_or_else(|| "-".to_string(), |d| d.to_string()),
                if t.labels.is_empty() {
                    "-".to_string()
                } else {
                    clip(&t.labels.iter().cloned().collect::<Vec<_>>().join(","), 24)
                },
                clip(&t.subject, 60),
            ]
        })
        .collect();
    let mut widths = header.map(str::width);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.width());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, cells: &[&str]| {
        let parts: Vec<String> = cells.iter().zip(widths).map(|(c, w)| pad(c, w)).collect();
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
        let _ = writeln!(s, "[{mark}] {}: {}", field(&c.name), field(&c.detail));
        if let Some(fix) = &c.fix {
            let _ = writeln!(s, "       fix: {}", field(fix));
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let _ = write!(s, "{} check(s), {failed} failed", checks.len());
    s
}

/// One change of the feed on one line: when, the ticket, what changed, where it came from.
pub fn change(c: &homechoice_tickets::Change) -> String {
    use homechoice_tickets::{ChangeKind, ChangeOrigin};
    let opt = |v: &Option<String>| clip(v.as_deref().unwrap_or("-"), 40);
    let what = match &c.what {
        ChangeKind::Created { status } => format!("created ({status})"),
        ChangeKind::Field { field: f, old, new } => {
            format!("{} {} -> {}", field(&f.to_string()), opt(old), opt(new))
        }
        ChangeKind::Labels { old, new } => format!(
            "labels {} -> {}",
            clip(&old.join(", "), 40),
            clip(&new.join(", "), 40)
        ),
        ChangeKind::CommentAdded { author, body, .. } => format!(
            "comment by {}: {}",
            field(author.as_deref().unwrap_or("-")),
            clip(body, 60)
        ),
        ChangeKind::SyncNote { before, after } => {
            format!("sync {} -> {}", opt(before), opt(after))
        }
        ChangeKind::Other { name, old, new } => {
            format!("{} {} -> {}", field(name), opt(old), opt(new))
        }
        other => format!("{other:?}"),
    };
    let origin = match &c.origin {
        ChangeOrigin::Pulled {
            asana_user: Some(u),
        } => format!("pulled, Asana user {}", field(u)),
        o => o.as_str().to_string(),
    };
    format!(
        "{}  {}  {what}  ({origin})",
        c.at.to_rfc3339(),
        field(&c.guid)
    )
}

/// Writes `value` as one line of JSON on stdout and flushes it (`ticket changes --follow`).
/// `Ok(false)` when stdout is closed (the reader went away).
pub(crate) fn json_line<T: Serialize>(value: &T) -> Result<bool, Error> {
    let line = serde_json::to_string(value)
        .map_err(|e| Error::internal(format!("cannot encode the result as JSON: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|_| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::internal(format!("cannot write to stdout: {e}"))),
    }
}

/// A ticket's changes, oldest first.
pub fn history(entries: &[homechoice_tickets::HistoryEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        let old = e.old_value.as_deref().unwrap_or("-");
        let new = e.new_value.as_deref().unwrap_or("-");
        let _ = writeln!(
            s,
            "{}  {} {} -> {}",
            e.changed_at.to_rfc3339(),
            pad(&field(&e.field), 12),
            clip(old, 40),
            clip(new, 40)
        );
    }
    let _ = write!(s, "{} change(s)", entries.len());
    s
}

#[cfg(test)]
mod tests {
    /// The output path is one path only if nothing else prints: no other source file of
    /// this binary writes to stdout or stderr by itself.
    #[test]
    fn only_this_module_prints() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut printing = Vec::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "output.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in ["println!", "print!(", "eprint", "io::stdout", "io::stderr"] {
                if text.contains(needle) {
                    printing.push(format!("{}: {needle}", path.display()));
                }
            }
        }
        assert!(
            printing.is_empty(),
            "printing outside output.rs: {printing:?}"
        );
    }

    #[test]
    fn cells_are_cut_and_padded_by_display_width() {
        use unicode_width::UnicodeWidthStr as _;
        assert_eq!(super::clip("田中太郎", 8), "田中太郎");
        // Seven columns: three wide characters and the ellipsis.
        assert_eq!(super::clip("田中太郎", 7), "田中太…");
        assert_eq!(super::clip("a\nb", 10), "a\\u{a}b");
        assert_eq!(super::pad("田中", 6).width(), 6);
        assert_eq!(super::pad("abc", 2), "abc");
    }
}
