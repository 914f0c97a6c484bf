//! Text from outside (a task a stranger wrote in Asana, an error an answer carried, an
//! argument) made safe to show a person: the one function every human-readable output
//! goes through ([`for_display`]), and the characters that can hide text
//! ([`hides_text`]), which input checks refuse.
//!
//! A terminal obeys what it prints: ESC starts a sequence that retitles the window or clears
//! the screen, CR and BS overwrite what came before, a newline in a one-line field forges a
//! table row, and the Unicode bidi controls reorder what is shown (`invoice\u{202E}fdp.exe`
//! shows as `invoiceexe.pdf`). Each of them is shown as its escape (`\u{1b}`), so the text
//! stays readable and nothing in it acts. JSON output does not need this: its escaping
//! already keeps every character inert, and it stays exact.
//!
//! The input checks of text fields live here too ([`check_line`], [`check_text`]), so that
//! the model and the custom fields share them.

/// Whether a character can hide or reorder text while being invisible itself: the bidi
/// embeddings and overrides (U+202A–U+202E), the bidi isolates (U+2066–U+2069), the
/// zero-width space, non-joiner and joiner and the left-to-right and right-to-left marks
/// (U+200B–U+200F), and the zero-width no-break space (U+FEFF).
pub fn hides_text(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}')
}

/// Checks that a one-line field a person typed has no character that [`hides_text`]: such a
/// character makes a subject or an assignee read differently from what it is. Not part of
/// [`crate::model::check_line`], which also checks values imported from elsewhere (a task
/// name in Asana may carry them; it is shown escaped instead).
pub fn check_no_hiding(field: &str, value: &str) -> crate::Result<()> {
    match value.chars().find(|c| hides_text(*c)) {
        Some(c) => Err(crate::Error::invalid_input(format!(
            "{field} contains the invisible character {} (a bidi or zero-width control, which can hide or reorder text); remove it",
            c.escape_unicode()
        ))),
        None => Ok(()),
    }
}

/// How much of a text's layout [`for_display`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A field shown on one line (a subject, an assignee, a table cell, an error): newlines
    /// and tabs are escaped too.
    OneLine,
    /// A block shown over several lines (a description, a comment): newlines and tabs stay.
    Block,
}

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// `text` as it may be shown to a person: each of `secrets` (empty ones are ignored)
/// replaced by [`REDACTED`], then every control character (ESC, CR, BS, NUL, BEL, DEL and
/// the C1 range; newline and tab too for [`Layout::OneLine`]) and every character that
/// [`hides_text`] written as its Rust escape, e.g. `\u{1b}`.
pub fn for_display(text: &str, layout: Layout, secrets: &[&str]) -> String {
    let mut redacted = std::borrow::Cow::Borrowed(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if redacted.contains(secret) {
            redacted = std::borrow::Cow::Owned(redacted.replace(secret, REDACTED));
        }
    }
    let kept = |c: char| layout == Layout::Block && matches!(c, '\n' | '\t');
    let mut out = String::with_capacity(redacted.len());
    for c in redacted.chars() {
        if (c.is_control() && !kept(c)) || hides_text(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks a one-line text field: not blank, no control characters, at most `max` characters.
pub fn check_line(field: &str, value: &str, max: usize) -> crate::Result<()> {
    if value.trim().is_empty() {
        return Err(crate::Error::invalid_input(format!(
            "{field} must not be empty or only whitespace"
        )));
    }
    check_length(field, value, max)?;
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(crate::Error::invalid_input(format!(
            "{field} must be one line without control characters (found {c:?})"
        )));
    }
    Ok(())
}

/// Checks a free-text field: at most `max` characters, no control characters other than
/// newline, carriage return and tab.
pub fn check_text(field: &str, value: &str, max: usize) -> crate::Result<()> {
    check_length(field, value, max)?;
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(crate::Error::invalid_input(format!(
            "{field} contains the control character {c:?}"
        )));
    }
    Ok(())
}

fn check_length(field: &str, value: &str, max: usize) -> crate::Result<()> {
    let n = value.chars().count();
    if n > max {
        return Err(crate::Error::invalid_input(format!(
            "{field} is {n} characters long; the limit is {max}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_acts_on_a_terminal_is_shown_escaped() {
        use Layout::{Block, OneLine};
        for (text, layout, shown) in [
            ("plain text", OneLine, "plain text"),
            ("Größe 日本語 ✓", OneLine, "Größe 日本語 ✓"),
            ("\u{1b}]0;owned\u{7}", OneLine, "\\u{1b}]0;owned\\u{7}"),
            ("\u{1b}[2J", Block, "\\u{1b}[2J"),
            ("done\rFAILED", OneLine, "done\\u{d}FAILED"),
            ("done\rFAILED", Block, "done\\u{d}FAILED"),
            ("ab\u{8}\u{8}xy", OneLine, "ab\\u{8}\\u{8}xy"),
            ("nul\0", OneLine, "nul\\u{0}"),
            ("c1\u{9b}2J", OneLine, "c1\\u{9b}2J"),
            ("del\u{7f}", OneLine, "del\\u{7f}"),
            ("row\nforged", OneLine, "row\\u{a}forged"),
            ("line one\nline two", Block, "line one\nline two"),
            ("a\tb", OneLine, "a\\u{9}b"),
            ("a\tb", Block, "a\tb"),
            ("invoice\u{202E}fdp.exe", OneLine, "invoice\\u{202e}fdp.exe"),
            ("\u{2066}x\u{2069}", Block, "\\u{2066}x\\u{2069}"),
            ("zero\u{200B}width", OneLine, "zero\\u{200b}width"),
            ("\u{200F}mark\u{200E}", OneLine, "\\u{200f}mark\\u{200e}"),
            ("\u{FEFF}bom", OneLine, "\\u{feff}bom"),
        ] {
            assert_eq!(for_display(text, layout, &[]), shown, "{text:?}");
        }
    }

    #[test]
    fn secrets_are_redacted_before_anything_else() {
        let shown = for_display(
            "rejected header Bearer 1/abc\u{1b}\nand again 1/abc",
            Layout::OneLine,
            &["", "1/abc"],
        );
        assert_eq!(
            shown,
            "rejected header Bearer [redacted]\\u{1b}\\u{a}and again [redacted]"
        );
        assert_eq!(for_display("x", Layout::OneLine, &[""]), "x");
    }

    #[test]
    fn typed_fields_with_hiding_characters_are_refused_naming_the_field() {
        assert!(check_no_hiding("subject", "Größe 日本語").is_ok());
        let err = check_no_hiding("assignee", "ann\u{202E}moc.x").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(
            err.to_string().contains("assignee") && err.to_string().contains("\\u{202e}"),
            "{err}"
        );
    }

    #[test]
    fn the_hiding_characters_are_exactly_the_listed_ranges() {
        let hiding: Vec<u32> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| hides_text(*c))
            .map(u32::from)
            .collect();
        let mut expected: Vec<u32> = (0x200B..=0x200F).collect();
        expected.extend(0x202A..=0x202E);
        expected.extend(0x2066..=0x2069);
        expected.push(0xFEFF);
        assert_eq!(hiding, expected);
    }
}
