//! What Asana's OpenAPI spec documents for each operation the fake serves, and
//! the check of every request against it: query parameters, `opt_fields`
//! entries, body fields (known, writable, of the right type) and bodies on
//! methods that take none.
//!
//! The knowledge comes from `spec_table.json`, compiled into the fake, so the
//! binary needs no spec file at run time. The table is generated from
//! `shared/asana/asana_oas.yaml` by `tests/contract.rs`, which also fails when
//! the table and the spec disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::request::{type_name, ApiRequest, Body};

/// Body fields the spec marks read-only but documents as writable once, at
/// creation: `(operationId, field)`. The handler checks their shape itself.
const WRITE_ONCE: &[(&str, &str)] = &[("createTask", "memberships")];

/// Keys of a JSON body's top-level `options` object (Asana's input options).
const BODY_OPTIONS: &[&str] = &["fields", "pretty"];

/// The table: one entry per served operation.
#[derive(Debug, Deserialize)]
struct Table {
    operations: Vec<Operation>,
}

/// One operation of the spec, reduced to what requests are checked against.
#[derive(Debug, Deserialize)]
pub(crate) struct Operation {
    /// The spec's `operationId`.
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template, e.g. `/tasks/{task_gid}`.
    pub path: String,
    /// Documented query parameters and their types.
    query: BTreeMap<String, String>,
    /// The `opt_fields` enum.
    opt_fields: BTreeSet<String>,
    /// The schema of the body's `data`, for operations that take a body.
    body: Option<Schema>,
}

/// A simplified JSON schema (see `simplify` in `tests/contract.rs`).
#[derive(Debug, Deserialize)]
struct Schema {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    nullable: bool,
    #[serde(default)]
    read_only: bool,
    #[serde(default, rename = "enum")]
    values: Option<Vec<String>>,
    #[serde(default)]
    open: bool,
    #[serde(default)]
    properties: BTreeMap<String, Schema>,
    #[serde(default)]
    items: Option<Box<Schema>>,
}

fn table() -> Result<&'static Table, &'static str> {
    static TABLE: OnceLock<Result<Table, String>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            serde_json::from_str(include_str!("spec_table.json")).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|_| "the fake's spec table is unreadable")
}

/// The operation serving `method` on the concrete `path` (below `/api/1.0`),
/// preferring the template with most literal segments; `None` when the fake
/// serves no such operation.
pub(crate) fn operation(method: &str, path: &str) -> Option<&'static Operation> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut best: Option<(usize, &Operation)> = None;
    for op in &table().ok()?.operations {
        if op.method != method {
            continue;
        }
        let tsegs: Vec<&str> = op.path.split('/').filter(|s| !s.is_empty()).collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                true
            } else {
                literal += usize::from(t == s);
                t == s
            }
        });
        if fits && best.is_none_or(|(l, _)| literal > l) {
            best = Some((literal, op));
        }
    }
    best.map(|(_, op)| op)
}

/// Checks `req` against the spec. `Err` carries the message of the 400.
pub(crate) fn check(req: &ApiRequest) -> Result<(), String> {
    let op = match table() {
        Ok(_) => match operation(&req.method, &req.path) {
            Some(op) => op,
            // Not served: the router answers 404.
            None => return Ok(()),
        },
        Err(e) => return Err(e.to_string()),
    };
    for (key, value) in &req.query {
        if key == "body" && op.body.is_some() && official_client_echo(&req.body) {
            continue;
        }
        if key == "limit" && OFFICIAL_CLIENT_LIMIT.contains(&op.id.as_str()) {
            // Still a page size: an integer.
            check_param_type(key, "integer", value)?;
            continue;
        }
        check_param(op, key, value)?;
    }
    match (&req.body, &op.body) {
        (Body::None, _) => Ok(()),
        // The official Python client sends `{}` with every write that has no body (e.g.
        // `deleteTask`); an empty object carries nothing and Asana serves that client.
        (Body::Json(Value::Object(top)), None) if top.is_empty() => Ok(()),
        (_, None) => Err(format!(
            "{} {} ({}) takes no request body",
            op.method, op.path, op.id
        )),
        // The handler reports unparsable bodies and a missing `data`.
        (Body::Invalid(_), Some(_)) => Ok(()),
        (Body::Json(Value::Object(top)), Some(schema)) => check_body(op, schema, top),
        (Body::Json(_), Some(_)) => Ok(()),
    }
}

/// Asana's official Python client (`asana` 5.x) sends the options of operations with an
/// optional body (`createSectionForProject`, `addTaskForSection`, ...) as query parameters,
/// the body included: `?body={'data': ...}` beside the same JSON body. Asana serves that
/// client, so the echo is tolerated — only beside a JSON body, never on its own.
fn official_client_echo(body: &Body) -> bool {
    matches!(body, Body::Json(_))
}

/// Operations whose answer is a list without documented paging, to which the official
/// Python client's page iterator (its default mode) still adds `limit`: Asana serves that
/// client, so a `limit` is tolerated there.
const OFFICIAL_CLIENT_LIMIT: [&str; 2] = ["createBatchRequest", "getEvents"];

fn check_param_type(key: &str, ty: &str, value: &str) -> Result<(), String> {
    match ty {
        "integer" if value.trim().parse::<i64>().is_err() => {
            Err(format!("{key}: Not a valid integer: {value}"))
        }
        "boolean" if !matches!(value, "true" | "false") => {
            Err(format!("{key}: Not a valid boolean: {value}"))
        }
        _ => Ok(()),
    }
}

fn check_param(op: &Operation, key: &str, value: &str) -> Result<(), String> {
    let Some(ty) = op.query.get(key) else {
        let known: Vec<&str> = op.query.keys().map(String::as_str).collect();
        return Err(format!(
            "{key}: Not a documented parameter of {} ({} {}); documented: {}",
            op.id,
            op.method,
            op.path,
            known.join(", ")
        ));
    };
    check_param_type(key, ty, value)?;
    if key == "opt_fields" {
        check_fields(op, value.split(','))?;
    }
    Ok(())
}

fn check_fields<'a>(op: &Operation, fields: impl Iterator<Item = &'a str>) -> Result<(), String> {
    for f in fields.map(str::trim).filter(|f| !f.is_empty()) {
        if !op.opt_fields.contains(f) {
            return Err(format!(
                "opt_fields: {f} is not a documented field of {} ({} {})",
                op.id, op.method, op.path
            ));
        }
    }
    Ok(())
}

fn check_body(op: &Operation, schema: &Schema, top: &Map<String, Value>) -> Result<(), String> {
    let Some(Value::Object(data)) = top.get("data") else {
        // Missing or mistyped `data`: the handler says so.
        return Ok(());
    };
    for (key, value) in top {
        match key.as_str() {
            "data" => {}
            "options" => check_options(op, value)?,
            other => {
                return Err(format!(
                    "{other}: Not a documented part of the request body of {}; send {{\"data\": {{...}}}}",
                    op.id
                ))
            }
        }
    }
    for (key, value) in data {
        let Some(field) = schema.properties.get(key) else {
            if schema.open {
                continue;
            }
            return Err(format!("{key}: Not a documented field of {}", op.id));
        };
        if WRITE_ONCE.contains(&(op.id.as_str(), key.as_str())) {
            continue;
        }
        if field.read_only {
            return Err(format!(
                "{key}: Cannot write this read-only field ({})",
                op.id
            ));
        }
        check_value(field, value, key)?;
    }
    Ok(())
}

fn check_options(op: &Operation, options: &Value) -> Result<(), String> {
    let Value::Object(options) = options else {
        return Err(format!(
            "options: Expected an object but got {}: {options}",
            type_name(options)
        ));
    };
    for (key, value) in options {
        if !BODY_OPTIONS.contains(&key.as_str()) {
            return Err(format!("options.{key}: Not a documented input option"));
        }
        if key == "fields" {
            let Value::Array(items) = value else {
                return Err(format!(
                    "options.fields: Expected an array but got {}: {value}",
                    type_name(value)
                ));
            };
            check_fields(op, items.iter().map(|v| v.as_str().unwrap_or("")))?;
        }
    }
    Ok(())
}

fn check_value(schema: &Schema, v: &Value, at: &str) -> Result<(), String> {
    if v.is_null() {
        return if schema.nullable || schema.ty == "any" {
            Ok(())
        } else {
            Err(format!("{at}: Cannot be null"))
        };
    }
    let fits = match schema.ty.as_str() {
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    };
    if !fits {
        return Err(format!(
            "{at}: Expected {} but got {}: {v}",
            schema.ty,
            type_name(v)
        ));
    }
    if let (Some(values), Some(s)) = (&schema.values, v.as_str()) {
        if !values.iter().any(|x| x == s) {
            return Err(format!(
                "{at}: Not one of the documented values ({}): {s}",
                values.join(", ")
            ));
        }
    }
    match v {
        Value::Array(items) => {
            if let Some(item) = &schema.items {
                for x in items {
                    check_value(item, x, &format!("{at}[]"))?;
                }
            }
        }
        Value::Object(m) if !schema.properties.is_empty() => {
            for (k, x) in m {
                match schema.properties.get(k) {
                    Some(p) if p.read_only => {
                        return Err(format!("{at}.{k}: Cannot write this read-only field"))
                    }
                    Some(p) => check_value(p, x, &format!("{at}.{k}"))?,
                    None if schema.open => {}
                    None => return Err(format!("{at}.{k}: Not a documented field")),
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_loads_and_finds_operations() {
        assert!(table().is_ok());
        let op = operation("GET", "/tasks/123").map(|o| o.id.as_str());
        assert_eq!(op, Some("getTask"));
        let op = operation("POST", "/tasks/123/addTag").map(|o| o.id.as_str());
        assert_eq!(op, Some("addTagForTask"));
        assert!(operation("PATCH", "/tasks/123").is_none());
        assert!(operation("GET", "/nowhere").is_none());
    }
}
