//! The one normalization rule of one-line ticket fields (subject, assignee, comment author).
//!
//! The store applies it to every value it writes and the `sync` provider to every value it
//! pulls from Asana, so the store, what is pushed and what is pulled back agree: a subject
//! typed as `"  padded  "` is `"padded"` everywhere, and a pull records no change. Free text
//! (descriptions, comment bodies) is kept exactly as written.

/// A one-line value as it is stored: control characters become spaces (input validation
/// refuses them, but Asana may hold them), then leading and trailing whitespace goes.
pub fn normalize_line(value: &str) -> String {
    let line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::normalize_line;

    #[test]
    fn normalize_line_by_table() {
        let cases = [
            ("plain", "plain"),
            ("  padded subject  ", "padded subject"),
            ("\tTabbed\t", "Tabbed"),
            ("inner  spaces kept", "inner  spaces kept"),
            ("line\nbreak", "line break"),
            ("\u{00a0}nbsp\u{00a0}", "nbsp"),
            ("   ", ""),
            ("ünïcødé ✓ ", "ünïcødé ✓"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_line(input), want, "{input:?}");
            // Applying it again changes nothing: store, push and pull agree.
            assert_eq!(normalize_line(want), want, "{want:?}");
        }
    }
}
