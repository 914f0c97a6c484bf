//! The fake's table of the spec (`src/spec_table.json`): each served
//! operation's parameters and simplified request and response schemas, as
//! the contract test derives them from the spec.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{json, Value};

use super::spec::{Spec, SERVED};

/// Deepest schema level kept in the table: `data` (0), its fields (1), their
/// items or properties (2) and one more (3), enough for batch actions.
const TABLE_DEPTH: u32 = 3;

/// The table's simplified form of a schema: `type`, and when set `nullable`,
/// `read_only`, `enum` (strings), `open` (additionalProperties),
/// `properties` and `items`. allOf parts are merged, later parts winning.
fn simplify(spec: &Spec, s: &Value, depth: u32) -> Value {
    let mut out = serde_json::Map::new();
    if depth > TABLE_DEPTH {
        out.insert("type".into(), json!("any"));
        return Value::Object(out);
    }
    simplify_into(spec, s, depth, &mut out);
    if !out.contains_key("type") {
        let ty = if out.contains_key("properties") {
            "object"
        } else {
            "any"
        };
        out.insert("type".into(), json!(ty));
    }
    Value::Object(out)
}

fn simplify_into(spec: &Spec, s: &Value, depth: u32, out: &mut serde_json::Map<String, Value>) {
    let s = spec.resolve(s);
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        for p in parts {
            simplify_into(spec, p, depth, out);
        }
    }
    if s.get("oneOf").is_some() || s.get("anyOf").is_some() {
        out.insert("type".into(), json!("any"));
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        out.insert("type".into(), json!(t));
    }
    match s.get("nullable").and_then(Value::as_bool) {
        Some(true) => {
            out.insert("nullable".into(), json!(true));
        }
        Some(false) => {
            out.remove("nullable");
        }
        None => {}
    }
    match s.get("readOnly").and_then(Value::as_bool) {
        Some(true) => {
            out.insert("read_only".into(), json!(true));
        }
        Some(false) => {
            out.remove("read_only");
        }
        None => {}
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        let names: Vec<Value> = e.iter().filter(|v| v.is_string()).cloned().collect();
        out.insert("enum".into(), Value::Array(names));
        if e.contains(&Value::Null) {
            out.insert("nullable".into(), json!(true));
        }
    }
    if s.get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false))
    {
        out.insert("open".into(), json!(true));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        let slot = out
            .entry("properties")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(m) = slot {
            for (k, v) in props {
                m.insert(k.clone(), simplify(spec, v, depth + 1));
            }
        }
    }
    if let Some(items) = s.get("items") {
        out.insert("items".into(), simplify(spec, items, depth + 1));
    }
}

/// The table of the operations in [`SERVED`] as the spec describes them.
pub(crate) fn spec_table(spec: &Spec) -> Value {
    let mut ops = Vec::new();
    for (method, template) in SERVED {
        let Some(op) = spec.operation(method, template) else {
            panic!("{method} {template}: not in the spec");
        };
        let shared = spec
            .root
            .pointer(&format!(
                "/paths/{}/parameters",
                template.replace('/', "~1")
            ))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let own = op
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut query = BTreeMap::new();
        let mut opt_fields = BTreeSet::new();
        for p in shared.iter().chain(&own) {
            let p = spec.resolve(p);
            if p.get("in").and_then(Value::as_str) != Some("query") {
                continue;
            }
            let name = p["name"].as_str().expect("parameter name").to_string();
            let schema = spec.resolve(&p["schema"]);
            let ty = schema
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string");
            if name == "opt_fields" {
                if let Some(e) = spec.resolve(&schema["items"]).get("enum") {
                    for f in e.as_array().into_iter().flatten() {
                        opt_fields.insert(f.as_str().expect("field").to_string());
                    }
                }
            }
            query.insert(name, json!(ty));
        }
        let body = spec
            .request_schema(op)
            .map(|s| spec.resolve(s))
            .and_then(|s| s.pointer("/properties/data"))
            .map(|d| simplify(spec, d, 0))
            .unwrap_or(Value::Null);
        ops.push(json!({
            "id": op["operationId"],
            "method": method,
            "path": template,
            "query": query,
            "opt_fields": opt_fields,
            "body": body,
        }));
    }
    json!({
        "source": "shared/asana/asana_oas.yaml, generated by tests/contract/table.rs",
        "operations": ops,
    })
}

pub(crate) fn table_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/spec_table.json")
}
