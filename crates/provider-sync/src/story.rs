//! How a local comment is written as an Asana story, and read back.
//!
//! A pushed comment's text is `[author: NAME]` on a first line when the comment has an author
//! (the same convention as the `asana` provider, since Asana authors every API story as the
//! token owner), then the body, then a last line `[ticket-comment: <comment guid>]`. The marker
//! lets a push whose answer was lost find the story instead of posting it twice, and lets a
//! pull recognise our own comments.

const AUTHOR_PREFIX: &str = "[author: ";
const MARKER_PREFIX: &str = "[ticket-comment: ";

/// The marker line of a comment, e.g. `[ticket-comment: 0193...]`.
pub fn comment_marker(comment_guid: &str) -> String {
    format!("{MARKER_PREFIX}{comment_guid}]")
}

/// The story text for a local comment.
pub fn story_text(comment_guid: &str, body: &str, author: Option<&str>) -> String {
    let marker = comment_marker(comment_guid);
    match author {
        Some(a) => format!("{AUTHOR_PREFIX}{a}]\n{body}\n\n{marker}"),
        None => format!("{body}\n\n{marker}"),
    }
}

/// A story text split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryParts {
    /// The author of an `[author: …]` first line.
    pub author: Option<String>,
    /// The comment text itself.
    pub body: String,
    /// The comment guid of a `[ticket-comment: …]` last line.
    pub comment_guid: Option<String>,
}

/// Splits a story text written by [`story_text`] (or by hand, in Asana) into its parts.
pub fn split_story(text: &str) -> StoryParts {
    let (rest, comment_guid) = split_marker(text);
    let (author, body) = split_author(rest);
    StoryParts {
        author,
        body: body.to_string(),
        comment_guid,
    }
}

fn split_marker(text: &str) -> (&str, Option<String>) {
    let trimmed = text.trim_end();
    let (before, last) = match trimmed.rfind('\n') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    match last
        .trim()
        .strip_prefix(MARKER_PREFIX)
        .and_then(|r| r.strip_suffix(']'))
    {
        Some(g) if !g.is_empty() && !g.contains(']') => {
            let body = before.strip_suffix('\n').unwrap_or(before);
            (body, Some(g.to_string()))
        }
        _ => (text, None),
    }
}

fn split_author(text: &str) -> (Option<String>, &str) {
    if let Some(rest) = text.strip_prefix(AUTHOR_PREFIX) {
        if let Some((first, body)) = rest.split_once('\n') {
            if let Some(author) = first.strip_suffix(']') {
                return (Some(author.to_string()), body);
            }
        }
    }
    (None, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn story_texts_round_trip() {
        for body in ["x", "two\nlines", "ends with newline\n", "  spaced  "] {
            for author in [None, Some("Ann")] {
                let t = story_text("g-1", body, author);
                let p = split_story(&t);
                assert_eq!(p.body, body, "{t:?}");
                assert_eq!(p.author.as_deref(), author);
                assert_eq!(p.comment_guid.as_deref(), Some("g-1"));
            }
        }
        let p = split_story("written in Asana");
        assert_eq!(p.body, "written in Asana");
        assert_eq!((p.author, p.comment_guid), (None, None));
    }
}
