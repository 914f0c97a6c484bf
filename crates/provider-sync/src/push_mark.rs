//! The push mark: the id of the newest outbox entry a push carried out on a task, kept by
//! Asana in the task's notes as a line `[sync-push: N]` just above the `[ticket-guid: …]`
//! marker. Asana holds it even when the store is restored from an earlier copy, so a push
//! that reads it knows which of its pending entries were carried out already (see the crate
//! documentation, "Restoring the store"). Pure text functions; the push writes the mark, and
//! [`crate::reconcile::remote_fields`] strips it from every description it reads.

/// The start of the mark line.
const PREFIX: &str = "[sync-push: ";

/// The check of mark `id` on ticket `guid`: eight hex digits of FNV-1a over both. A line a
/// person typed, or copied from another ticket's task, fails it and stays description text:
/// only a mark the sync wrote for this ticket can say that changes were carried out.
fn check(guid: &str, id: i64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in guid.bytes().chain([b':']).chain(id.to_string().bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

/// The mark `line` holds for ticket `guid` (`[sync-push: N #check]`), if it is one.
fn mark_of(line: &str, guid: &str) -> Option<i64> {
    let inner = line.trim().strip_prefix(PREFIX)?.strip_suffix(']')?;
    let (n, sum) = inner.split_once(" #")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id = n.parse::<i64>().ok()?;
    (sum == check(guid, id)).then_some(id)
}

/// Whether `line` has the shape of a mark line (`[sync-push: N #check]`), whatever ticket
/// it is for: what tests and tools that read notes strip as the sync's own line.
pub fn is_push_mark_line(line: &str) -> bool {
    line.trim()
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.split_once(" #"))
        .is_some_and(|(n, sum)| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && sum.len() == 8
                && sum.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// Splits a description as read from Asana (the notes without the marker line) of ticket
/// `guid`'s task into the description proper and the push mark of its last line, when it
/// has one written for this ticket.
pub(crate) fn split(description: &str, guid: &str) -> (String, Option<i64>) {
    let trimmed = description.trim_end();
    let (before, last) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    match mark_of(last, guid) {
        Some(n) => (
            before.strip_suffix('\n').unwrap_or(before).to_string(),
            Some(n),
        ),
        None => (description.to_string(), None),
    }
}

/// `description` with the push mark `id` of ticket `guid` as its last line (what a push
/// writes as the task's description; the provider adds the marker line below it).
pub(crate) fn with_mark(description: &str, id: i64, guid: &str) -> String {
    let line = format!("{PREFIX}{id} #{}]", check(guid, id));
    if description.is_empty() {
        line
    } else {
        format!("{description}\n\n{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "01a24f9c-a461-71b4-a35f-774abb9835b4";

    #[test]
    fn split_reads_only_a_mark_written_for_this_ticket_on_the_last_line() {
        let m = |id: i64| with_mark("", id, G);
        let other = with_mark("", 42, "01a24f9c-0000-7000-8000-000000000000");
        let cases: Vec<(String, String, Option<i64>)> = vec![
            (String::new(), String::new(), None),
            ("plain text".into(), "plain text".into(), None),
            (m(42), String::new(), Some(42)),
            (format!("text\n\n{}", m(42)), "text".into(), Some(42)),
            (format!("text\n{}", m(42)), "text".into(), Some(42)),
            (format!("text\n\n{}\n", m(42)), "text".into(), Some(42)),
            (
                format!("two\nlines\n\n{}", m(7)),
                "two\nlines".into(),
                Some(7),
            ),
            // Not a mark: not the last line; typed by a person; another ticket's; altered.
            (
                format!("{}\nafter", m(42)),
                format!("{}\nafter", m(42)),
                None,
            ),
            (
                "x\n\n[sync-push: 42]".into(),
                "x\n\n[sync-push: 42]".into(),
                None,
            ),
            (
                "x\n\n[sync-push: 9223372036854775807 #00000000]".into(),
                "x\n\n[sync-push: 9223372036854775807 #00000000]".into(),
                None,
            ),
            (format!("x\n\n{other}"), format!("x\n\n{other}"), None),
            (
                m(42).replace("42 ", "43 "),
                m(42).replace("42 ", "43 "),
                None,
            ),
        ];
        for (text, description, mark) in cases {
            assert_eq!(split(&text, G), (description, mark), "split({text:?})");
        }
    }

    #[test]
    fn with_mark_round_trips_and_keeps_a_look_alike_line_as_text() {
        for d in [
            "",
            "d",
            "two\nlines",
            "ends with newline\n",
            "[sync-push: 3]",
            "[sync-push: 3 #12345678]",
        ] {
            let marked = with_mark(d, 1_765_000_000_000_123, G);
            assert!(
                is_push_mark_line(marked.lines().last().unwrap()),
                "{marked:?}"
            );
            assert_eq!(
                split(&marked, G),
                (d.to_string(), Some(1_765_000_000_000_123)),
                "{d:?}"
            );
        }
    }
}
