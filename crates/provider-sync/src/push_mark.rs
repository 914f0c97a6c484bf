//! The push mark: the id of the newest outbox entry a push carried out on a task, kept by
//! Asana in the task's notes as a line `[sync-push: N]` just above the `[ticket-guid: …]`
//! marker. Asana holds it even when the store is restored from an earlier copy, so a push
//! that reads it knows which of its pending entries were carried out already (see the crate
//! documentation, "Restoring the store"). Pure text functions; the push writes the mark, and
//! [`crate::reconcile::remote_fields`] strips it from every description it reads.

/// The start of the mark line.
const PREFIX: &str = "[sync-push: ";

/// Splits a description as read from Asana (the notes without the marker line) into the
/// description proper and the push mark of its last line, when it has one.
pub(crate) fn split(description: &str) -> (String, Option<i64>) {
    let trimmed = description.trim_end();
    let (before, last) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let mark = last
        .trim()
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(']'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<i64>().ok());
    match mark {
        Some(n) => (
            before.strip_suffix('\n').unwrap_or(before).to_string(),
            Some(n),
        ),
        None => (description.to_string(), None),
    }
}

/// `description` with the push mark `id` as its last line (what a push writes as the
/// task's description; the provider adds the marker line below it).
pub(crate) fn with_mark(description: &str, id: i64) -> String {
    if description.is_empty() {
        format!("{PREFIX}{id}]")
    } else {
        format!("{description}\n\n{PREFIX}{id}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_reads_the_mark_of_the_last_line_only() {
        let cases: &[(&str, &str, Option<i64>)] = &[
            ("", "", None),
            ("plain text", "plain text", None),
            ("[sync-push: 42]", "", Some(42)),
            ("text\n\n[sync-push: 42]", "text", Some(42)),
            ("text\n[sync-push: 42]", "text", Some(42)),
            ("text\n\n[sync-push: 42]\n", "text", Some(42)),
            ("two\nlines\n\n[sync-push: 7]", "two\nlines", Some(7)),
            // Not a mark: not the last line, not a number, empty, negative, too big.
            ("[sync-push: 42]\nafter", "[sync-push: 42]\nafter", None),
            ("x\n\n[sync-push: 4x]", "x\n\n[sync-push: 4x]", None),
            ("x\n\n[sync-push: ]", "x\n\n[sync-push: ]", None),
            ("x\n\n[sync-push: -4]", "x\n\n[sync-push: -4]", None),
            (
                "x\n\n[sync-push: 99999999999999999999]",
                "x\n\n[sync-push: 99999999999999999999]",
                None,
            ),
        ];
        for (text, description, mark) in cases {
            assert_eq!(
                split(text),
                (description.to_string(), *mark),
                "split({text:?})"
            );
        }
    }

    #[test]
    fn with_mark_round_trips() {
        for d in [
            "",
            "d",
            "two\nlines",
            "ends with newline\n",
            "[sync-push: 3]",
        ] {
            let marked = with_mark(d, 1_765_000_000_000_123);
            assert_eq!(
                split(&marked),
                (d.to_string(), Some(1_765_000_000_000_123)),
                "{d:?}"
            );
        }
    }
}
