//! The one attribution codec of both Asana providers: how a comment and its author are
//! written as an Asana story's text, and read back. Pure functions.
//!
//! Asana authors every story posted through the API as the token owner. So a comment's
//! author, when it has one, rides in the text: a first line `[author: NAME]`, then what the
//! user wrote. Nothing else is added (no machine marker). The `asana` provider and the `sync`
//! provider both write and read stories with [`encode`] and [`decode`] only.
//!
//! The attribution cannot be forged:
//!
//! * only stories created by the token owner (the integration's own user) are decoded at all
//!   ([`StoryOrigin::TokenOwner`]); a story anybody else wrote in Asana is taken verbatim,
//!   authored by its creator ([`StoryOrigin::Other`]);
//! * a body that could be read as an attribution (after any number of leading backslashes it
//!   starts with `[author: `) gets one more leading backslash when encoded, and decoding takes
//!   exactly one away again. So `ticket comment GUID $'[author: mallory]\nhello'` is stored in
//!   Asana as `\[author: mallory]` + `\nhello` and comes back unchanged, without an author.
//!
//! For every body and every author that [`NewComment::validate`] accepts,
//! `decode(&encode(body, author), StoryOrigin::TokenOwner) == (author, body)`.
//!
//! [`NewComment::validate`]: ticket_provider_api::NewComment::validate

const AUTHOR_PREFIX: &str = "[author: ";
const ESCAPE: char = '\\';

/// Who created a story in Asana.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryOrigin<'a> {
    /// The token owner: the story was posted through the API (by us, normally), so its
    /// attribution line and escaping are ours.
    TokenOwner,
    /// Someone else, named as Asana reports them (e-mail, else name), when known. Their
    /// text is taken as it is.
    Other(Option<&'a str>),
}

/// A story text read back as a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedStory {
    /// The comment's author.
    pub author: Option<String>,
    /// The comment text, exactly as written.
    pub body: String,
}

/// Whether `text` could be read as an attribution once its leading backslashes are gone.
fn attribution_like(text: &str) -> bool {
    text.trim_start_matches(ESCAPE).starts_with(AUTHOR_PREFIX)
}

/// `body` with one more leading backslash when it could be read as an attribution.
fn escape(body: &str) -> String {
    if attribution_like(body) {
        format!("{ESCAPE}{body}")
    } else {
        body.to_string()
    }
}

/// The inverse of [`escape`].
fn unescape(text: &str) -> &str {
    if attribution_like(text) {
        text.strip_prefix(ESCAPE).unwrap_or(text)
    } else {
        text
    }
}

/// The story text for a comment: the attribution line when there is an author, then the
/// body (escaped, see the module documentation).
pub fn encode(body: &str, author: Option<&str>) -> String {
    match author {
        Some(a) => format!("{AUTHOR_PREFIX}{a}]\n{}", escape(body)),
        None => escape(body),
    }
}

/// A story text as a comment (see the module documentation).
pub fn decode(text: &str, origin: StoryOrigin<'_>) -> DecodedStory {
    match origin {
        StoryOrigin::Other(creator) => DecodedStory {
            author: creator.map(str::to_string),
            body: text.to_string(),
        },
        StoryOrigin::TokenOwner => {
            let attributed = text.strip_prefix(AUTHOR_PREFIX).and_then(|rest| {
                let (first, body) = rest.split_once('\n')?;
                let author = first.strip_suffix(']')?;
                (!author.trim().is_empty()).then_some((author, body))
            });
            match attributed {
                Some((author, body)) => DecodedStory {
                    author: Some(author.to_string()),
                    body: unescape(body).to_string(),
                },
                None => DecodedStory {
                    author: None,
                    body: unescape(text).to_string(),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (body, author, the story text in Asana)
    const ENCODED: &[(&str, Option<&str>, &str)] = &[
        ("hello", None, "hello"),
        ("hello", Some("Ann"), "[author: Ann]\nhello"),
        ("two\nlines", Some("Ann"), "[author: Ann]\ntwo\nlines"),
        ("  spaced  \n", None, "  spaced  \n"),
        // Lines that look like attributions are escaped, with or without an author.
        (
            "[author: mallory]\nhello",
            None,
            "\\[author: mallory]\nhello",
        ),
        (
            "[author: mallory]\nhello",
            Some("Ann"),
            "[author: Ann]\n\\[author: mallory]\nhello",
        ),
        ("\\[author: x]", None, "\\\\[author: x]"),
        ("\\\\[author: ", None, "\\\\\\[author: "),
        // Not attribution-like: left alone.
        ("\\ backslash first", None, "\\ backslash first"),
        (" [author: x]\ny", None, " [author: x]\ny"),
        ("[Author: x]\ny", None, "[Author: x]\ny"),
        ("text\n[author: x]", None, "text\n[author: x]"),
        // The old machine marker is plain text now.
        (
            "late comment\n\n[ticket-comment: 01a2]",
            None,
            "late comment\n\n[ticket-comment: 01a2]",
        ),
        ("a]b", Some("x]y"), "[author: x]y]\na]b"),
        ("ünïcødé ✓", Some("Zoë"), "[author: Zoë]\nünïcødé ✓"),
    ];

    #[test]
    fn encode_and_decode_by_table() {
        for (body, author, text) in ENCODED {
            assert_eq!(encode(body, *author), *text, "encode({body:?}, {author:?})");
            let d = decode(text, StoryOrigin::TokenOwner);
            assert_eq!(d.body, *body, "decode({text:?})");
            assert_eq!(d.author.as_deref(), *author, "decode({text:?})");
        }
    }

    #[test]
    fn every_body_round_trips_with_every_author() {
        let bodies = [
            "",
            "hello",
            "[author: mallory]\nhello",
            "\\[author: mallory]\nhello",
            "\\\\\\[author: ",
            "[author: ]\n",
            "[author: x]",
            "\\",
        ];
        for body in bodies {
            for author in [None, Some("Ann"), Some("[author: x"), Some("a]b")] {
                let text = encode(body, author);
                let d = decode(&text, StoryOrigin::TokenOwner);
                assert_eq!(
                    (d.author.as_deref(), d.body.as_str()),
                    (author, body),
                    "{text:?}"
                );
                // Someone else's story with the same text is theirs, verbatim.
                let d = decode(&text, StoryOrigin::Other(Some("eve@example.com")));
                assert_eq!(d.author.as_deref(), Some("eve@example.com"));
                assert_eq!(d.body, text);
            }
        }
    }

    /// (story text, origin, decoded author, decoded body)
    const DECODED: &[(&str, StoryOrigin<'static>, Option<&str>, &str)] = &[
        // Another user's story is verbatim, by its creator: no forged attribution.
        (
            "[author: mallory]\nhello",
            StoryOrigin::Other(Some("eve@example.com")),
            Some("eve@example.com"),
            "[author: mallory]\nhello",
        ),
        (
            "\\[author: x]",
            StoryOrigin::Other(None),
            None,
            "\\[author: x]",
        ),
        // Our own stories that no encode produced: taken as they are.
        ("[author: x", StoryOrigin::TokenOwner, None, "[author: x"),
        ("[author: x]", StoryOrigin::TokenOwner, None, "[author: x]"),
        (
            "[author:  ]\nbody",
            StoryOrigin::TokenOwner,
            None,
            "[author:  ]\nbody",
        ),
        ("plain", StoryOrigin::TokenOwner, None, "plain"),
    ];

    #[test]
    fn decode_by_table() {
        for (text, origin, author, body) in DECODED {
            let d = decode(text, *origin);
            assert_eq!(d.author.as_deref(), *author, "{text:?} from {origin:?}");
            assert_eq!(d.body, *body, "{text:?} from {origin:?}");
        }
    }
}
