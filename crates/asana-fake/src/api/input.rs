//! Validation of what a request carries, with Asana's error messages: the
//! `data` object of a body and its typed fields, rich text, times, gids in the
//! path and `insert_before` / `insert_after` positions.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::model::{Kind, Position, State};
use crate::request::{type_name, ApiError, Body};

pub(super) fn wrong_type(key: &str, want: &str, got: &Value) -> ApiError {
    ApiError::bad(format!(
        "{key}: Expected {want} but got {}: {got}",
        type_name(got)
    ))
}

/// The `data` object of a POST/PUT body.
pub(super) fn data_of(body: &Body) -> Result<Map<String, Value>, ApiError> {
    match body {
        Body::None => Err(ApiError::bad("data: Missing input")),
        Body::Invalid(e) => Err(ApiError::bad(format!(
            "Could not parse request data, invalid JSON: {e}"
        ))),
        Body::Json(Value::Object(m)) => match m.get("data") {
            Some(Value::Object(d)) => Ok(d.clone()),
            Some(other) => Err(wrong_type("data", "an object", other)),
            None => Err(ApiError::bad("data: Missing input")),
        },
        Body::Json(other) => Err(wrong_type("body", "an object", other)),
    }
}

pub(super) fn opt_str(d: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

/// A string field that may be explicitly `null`: outer `None` = absent.
pub(super) fn opt_nullable_str(
    d: &Map<String, Value>,
    key: &str,
) -> Result<Option<Option<String>>, ApiError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(other) => Err(wrong_type(key, "a string or null", other)),
    }
}

pub(super) fn req_str(d: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    opt_str(d, key)?.ok_or_else(|| ApiError::bad(format!("{key}: Missing input")))
}

pub(super) fn opt_bool(d: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(key, "a boolean", other)),
    }
}

pub(super) fn opt_str_array(
    d: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(&format!("{key}[]"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(wrong_type(key, "an array", other)),
    }
}

pub(super) fn unknown_ref(key: &str, value: &str) -> ApiError {
    ApiError::bad(format!("{key}: Not a recognized ID: {value}"))
}

/// Strips tags from Asana rich text, keeping the text (for `html_notes` and
/// `html_text`). Requires the `<body>…</body>` wrapper.
pub(super) fn rich_to_plain(key: &str, html: &str) -> Result<String, ApiError> {
    let inner = html
        .trim()
        .strip_prefix("<body>")
        .and_then(|s| s.strip_suffix("</body>"))
        .ok_or_else(|| {
            ApiError::bad(format!(
                "{key}: XML is invalid: must be wrapped in <body></body>"
            ))
        })?;
    let mut out = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' if !in_tag => in_tag = true,
            '>' if in_tag => in_tag = false,
            '<' | '>' => return Err(ApiError::bad(format!("{key}: XML is invalid"))),
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    if in_tag {
        return Err(ApiError::bad(format!("{key}: XML is invalid")));
    }
    Ok(out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&"))
}

pub(super) fn parse_time(key: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    Err(ApiError::bad(format!("{key}: Not a valid date-time: {s}")))
}

fn check_gid(kind: Kind, gid: &str) -> Result<(), ApiError> {
    if !gid.is_empty() && gid.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "{}_gid: Not a valid gid: {gid}",
            kind.as_str()
        )))
    }
}

pub(super) fn missing(kind: Kind, gid: &str) -> ApiError {
    ApiError::not_found(format!("{}: Unknown object: {gid}", kind.as_str()))
}

fn exists(state: &State, kind: Kind, gid: &str) -> bool {
    match kind {
        Kind::Workspace => state.workspaces.contains_key(gid),
        Kind::User => state.users.contains_key(gid),
        Kind::Project => state.projects.contains_key(gid),
        Kind::Section => state.sections.contains_key(gid),
        Kind::Task => state.tasks.contains_key(gid),
        Kind::Tag => state.tags.contains_key(gid),
        Kind::Story => state.stories.contains_key(gid),
        Kind::CustomField => state.custom_fields.contains_key(gid),
        Kind::EnumOption => state.enum_options.contains_key(gid),
        Kind::CustomFieldSetting => state.custom_field_settings.contains_key(gid),
        Kind::Webhook => state.webhooks.contains_key(gid),
    }
}

/// Checks that the path gid names an existing resource of `kind`.
pub(super) fn path_obj(state: &State, kind: Kind, gid: &str) -> Result<(), ApiError> {
    check_gid(kind, gid)?;
    if exists(state, kind, gid) {
        Ok(())
    } else {
        Err(missing(kind, gid))
    }
}

/// Reads `insert_before` / `insert_after` (mutually exclusive) and checks that
/// the named item is in `container`.
pub(super) fn position_input(
    d: &Map<String, Value>,
    container: &[String],
    default: Position,
) -> Result<Position, ApiError> {
    let before = opt_nullable_str(d, "insert_before")?.flatten();
    let after = opt_nullable_str(d, "insert_after")?.flatten();
    match (before, after) {
        (Some(_), Some(_)) => Err(ApiError::bad(
            "insert_before: Cannot be provided together with insert_after",
        )),
        (Some(b), None) if container.contains(&b) => Ok(Position::Before(b)),
        (Some(b), None) => Err(unknown_ref("insert_before", &b)),
        (None, Some(a)) if container.contains(&a) => Ok(Position::After(a)),
        (None, Some(a)) => Err(unknown_ref("insert_after", &a)),
        (None, None) => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rich_text_is_stripped() {
        assert_eq!(
            rich_to_plain("x", "<body>a <strong>b</strong> &amp; c</body>").ok(),
            Some("a b & c".to_string())
        );
        assert!(rich_to_plain("x", "no body").is_err());
        assert!(rich_to_plain("x", "<body><b</body>").is_err());
    }
}
