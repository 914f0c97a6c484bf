//! What Asana answered, checked before it is believed: the one place that decides whether a
//! body has the shape its endpoint promises, and the one place that turns the text of an error
//! answer into text fit to show.
//!
//! A broken proxy, a captive portal or a maintenance page can answer 200 with an HTML page,
//! `{}`, `{"data":null}`, `[]` or nothing at all. Read leniently, such an answer is an empty
//! project, and a caller would conclude that every task is gone. Here it is an
//! [`AsanaError::Decode`] (a temporary "unavailable" error) naming the endpoint and what was
//! wrong, never quoting the body.
//!
//! The message of an error answer is text from outside too: a proxy may echo the
//! `Authorization` header, and any message may carry ESC, BEL, CR or newlines. It is shown
//! only after [`error_message`] has redacted the token and every `Bearer …` value, escaped
//! control characters and capped its length.

use serde_json::Value;
use ticket_provider_api::text::{for_display, Layout, REDACTED};

use crate::error::AsanaError;

/// At most this many characters of an error answer's message are kept.
pub(crate) const MAX_MESSAGE_CHARS: usize = 300;

/// What is wrong with a body that is not a JSON object (never the body itself).
fn not_an_object(body: &Value) -> &'static str {
    match body {
        Value::Null => "the answer is empty or not JSON",
        Value::Array(_) => "the answer is a JSON list, not an object",
        _ => "the answer is not a JSON object",
    }
}

/// The `data` member of an answer, which must be there and not null.
fn data_of<'a>(what: &str, body: &'a Value) -> Result<&'a Value, AsanaError> {
    let Value::Object(members) = body else {
        return Err(AsanaError::decode(what, not_an_object(body)));
    };
    match members.get("data") {
        None => Err(AsanaError::decode(what, "the answer has no `data`")),
        Some(Value::Null) => Err(AsanaError::decode(what, "the answer's `data` is null")),
        Some(data) => Ok(data),
    }
}

/// The record of a single-object answer: an object whose `data` is an object.
pub(crate) fn record(what: &str, body: Value) -> Result<Value, AsanaError> {
    match data_of(what, &body)? {
        Value::Object(_) => match body {
            Value::Object(mut members) => Ok(members.remove("data").unwrap_or(Value::Null)),
            _ => Err(AsanaError::decode(what, not_an_object(&body))),
        },
        _ => Err(AsanaError::decode(
            what,
            "the answer's `data` is not an object",
        )),
    }
}

/// The items of one page of a listing: an object whose `data` is a list.
pub(crate) fn page<'a>(what: &str, body: &'a Value) -> Result<&'a [Value], AsanaError> {
    match data_of(what, body)? {
        Value::Array(items) => Ok(items),
        _ => Err(AsanaError::decode(
            what,
            "the answer's `data` is not a list",
        )),
    }
}

/// The `data` of a successful batch action: an object or a list, as its endpoint answers.
pub(crate) fn action_data(what: &str, body: &Value) -> Result<Value, AsanaError> {
    match data_of(what, body)? {
        data @ (Value::Object(_) | Value::Array(_)) => Ok(data.clone()),
        _ => Err(AsanaError::decode(
            what,
            "the answer's `data` is neither an object nor a list",
        )),
    }
}

/// A task read for its fields (`GET /tasks/{gid}`): a record with a `gid` and a
/// `memberships` list. Without the list the task would read as outside the project, and a
/// caller would conclude that its link is lost.
pub(crate) fn task(what: &str, data: Value) -> Result<Value, AsanaError> {
    if data.get("gid").and_then(Value::as_str).is_none() {
        return Err(AsanaError::decode(what, "the task has no `gid`"));
    }
    if !data.get("memberships").is_some_and(Value::is_array) {
        return Err(AsanaError::decode(
            what,
            "the task has no `memberships` list",
        ));
    }
    Ok(data)
}

/// The message of an error answer (`errors[0].message`), fit to show: see [`clean`].
pub(crate) fn error_message(body: &Value, secrets: &[&str]) -> String {
    body.get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(|m| clean(m, secrets))
        .unwrap_or_else(|| "no error message".to_string())
}

/// `text` from Asana as one line fit to show: each of `secrets` and every `Bearer …` value
/// replaced by [`REDACTED`], control characters escaped, and at most
/// [`MAX_MESSAGE_CHARS`] characters kept (saying so when it was cut).
pub(crate) fn clean(text: &str, secrets: &[&str]) -> String {
    let shown = for_display(&redact_bearer(text), Layout::OneLine, secrets);
    let total = shown.chars().count();
    if total <= MAX_MESSAGE_CHARS {
        return shown;
    }
    let kept: String = shown.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{kept}… (cut; {total} characters in all)")
}

/// `text` with the value after every `Bearer ` (any case) replaced by [`REDACTED`]; the value
/// ends at whitespace or a control character.
fn redact_bearer(text: &str) -> String {
    const WORD: &str = "bearer ";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(at) = lower[rest..].find(WORD) {
        let start = rest + at + WORD.len();
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || c.is_control())
            .map_or(text.len(), |n| start + n);
        out.push_str(&text[rest..start]);
        if end > start {
            out.push_str(REDACTED);
        }
        rest = end;
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_are_checked_before_they_are_believed() {
        let what = "GET /projects/1/tasks";
        for (body, why) in [
            (Value::Null, "empty or not JSON"),
            (json!([]), "JSON list"),
            (json!("x"), "not a JSON object"),
            (json!({}), "no `data`"),
            (json!({"data": null}), "`data` is null"),
            (json!({"data": {}}), "not a list"),
            (json!({"data": "x"}), "not a list"),
        ] {
            let err = page(what, &body).unwrap_err().to_string();
            assert!(err.contains(what) && err.contains(why), "{body}: {err}");
        }
        assert_eq!(page(what, &json!({"data": [1]})).unwrap(), [json!(1)]);
        for body in [
            json!({}),
            json!({"data": null}),
            json!({"data": []}),
            json!([]),
        ] {
            assert!(record(what, body.clone()).is_err(), "{body}");
        }
        assert_eq!(
            record(what, json!({"data": {"gid": "1"}})).unwrap(),
            json!({"gid": "1"})
        );
        assert!(action_data(what, &json!({"data": []})).is_ok());
        assert!(action_data(what, &json!({"data": {}})).is_ok());
        assert!(action_data(what, &json!({"data": 3})).is_err());
        assert!(action_data(what, &Value::Null).is_err());
        assert!(task(what, json!({"gid": "1", "memberships": []})).is_ok());
        for data in [
            json!({"gid": "1"}),
            json!({"memberships": []}),
            json!({"gid": "1", "memberships": null}),
        ] {
            assert!(task(what, data.clone()).is_err(), "{data}");
        }
    }

    #[test]
    fn error_text_is_redacted_escaped_and_capped() {
        for (text, want) in [
            ("name: Missing input", "name: Missing input"),
            (
                "rejected header Bearer abc.def",
                "rejected header Bearer [redacted]",
            ),
            ("BEARER x y", "BEARER [redacted] y"),
            ("bearer\u{1b}[2J", "bearer\\u{1b}[2J"),
            (
                "Bearer s3cr3t\u{1b}]0;t\u{7}",
                "Bearer [redacted]\\u{1b}]0;t\\u{7}",
            ),
            ("token s3cr3t seen", "token [redacted] seen"),
            ("a\r\nb", "a\\u{d}\\u{a}b"),
        ] {
            assert_eq!(clean(text, &["s3cr3t"]), want, "{text:?}");
        }
        let long = clean(&"x".repeat(1000), &[]);
        assert!(long.starts_with(&"x".repeat(MAX_MESSAGE_CHARS)), "{long}");
        assert!(long.ends_with("(cut; 1000 characters in all)"), "{long}");
        assert_eq!(
            error_message(&json!({"errors": []}), &[]),
            "no error message"
        );
        assert_eq!(
            error_message(&json!({"errors": [{"message": 3}]}), &[]),
            "no error message"
        );
    }
}
