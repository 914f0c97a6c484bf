//! Contract test: drives a scenario through every endpoint the fake serves and
//! validates every response body against the response schema of the matching
//! operation in Asana's OpenAPI spec, and every accepted request body against
//! the operation's request-body schema.
//!
//! The spec is read at test time from `ASANA_OAS_PATH`, else from
//! `<workspace root>/../shared/asana/asana_oas.yaml`; when it is absent the
//! test says so and passes without checking.
//!
//! The schema checker (`spec.rs`) is a small hand-written OAS 3.0 subset: `$ref`,
//! `allOf`/`oneOf`/`anyOf`, `nullable`, `readOnly` (ignored in requests),
//! `type`, `properties`, `items`, `enum`, `required`, `format: date-time`, and
//! — stricter than the spec, which rarely sets `additionalProperties` — every
//! field sent must be declared somewhere in the (allOf-composed) schema.
//!
//! The bodies of the webhook deliveries the scenario causes are checked too: each
//! event against `EventResponse`.
//!
//! `scenario.rs` drives the fake; `table.rs` derives the fake's own table of
//! the spec, which `the_fakes_table_matches_the_spec` compares.

mod scenario;
mod spec;
mod table;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use self::scenario::scenario;
use self::spec::{load_spec, Mode, SERVED};
use self::table::{spec_table, table_path};

#[tokio::test]
async fn responses_and_requests_match_the_spec() {
    let Some(spec) = load_spec() else {
        return;
    };
    let (c, hook_bodies) = scenario().await;
    let log = c.log.lock().expect("log").clone();
    let mut errs = Vec::new();
    let mut covered: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    let mut check = |method: &str,
                     path: &str,
                     status: u16,
                     req: Option<&Value>,
                     resp: &Value,
                     opt_fields: Option<Vec<String>>| {
        let Some(template) = spec.template(path) else {
            errs.push(format!("{method} {path}: no such path in the spec"));
            return;
        };
        let Some(op) = spec.operation(method, &template) else {
            errs.push(format!(
                "{method} {template}: no such operation in the spec"
            ));
            return;
        };
        covered
            .entry((method.to_string(), template.clone()))
            .or_default()
            .insert(status);
        let at = format!("{method} {template} -> {status}");
        if (200..300).contains(&status) {
            // Every field the fake accepted must be in the operation's enum.
            let documented = spec.opt_fields(op);
            for f in opt_fields.iter().flatten() {
                if !documented.contains(f) {
                    errs.push(format!("{at}: accepted the undocumented opt_field {f}"));
                }
            }
        }
        match spec.response_schema(op, status) {
            Some(schema) => {
                let mode = if opt_fields.is_some() {
                    Mode::ResponseOptFields
                } else {
                    Mode::Response
                };
                spec.validate(schema, resp, &at, mode, true, &mut errs)
            }
            None => errs.push(format!("{at}: status not declared in the spec")),
        }
        if let (Some(body), true) = (req, (200..300).contains(&status)) {
            match spec.request_schema(op) {
                Some(schema) => spec.validate(
                    schema,
                    body,
                    &format!("{method} {template} request"),
                    Mode::Request,
                    true,
                    &mut errs,
                ),
                None => errs.push(format!(
                    "{method} {template}: sent a body the spec does not take"
                )),
            }
        }
    };
    for x in &log {
        check(
            &x.method,
            &x.path,
            x.status,
            x.request.as_ref(),
            &x.response,
            x.opt_fields(),
        );
        // Validate every batch action's result against its own operation.
        if x.path == "/batch" && x.status == 200 {
            let actions = x.request.as_ref().and_then(|r| r.pointer("/data/actions"));
            let results = x.response["data"].as_array();
            if let (Some(Value::Array(actions)), Some(results)) = (actions, results) {
                for (a, r) in actions.iter().zip(results) {
                    let m = a["method"].as_str().unwrap_or("get").to_ascii_uppercase();
                    let path = a["relative_path"].as_str().unwrap_or("/");
                    let status = r["status_code"].as_u64().unwrap_or(0) as u16;
                    let body = a.get("data").map(|d| json!({"data": d}));
                    let body = if m == "GET" { None } else { body };
                    let fields = a
                        .pointer("/options/fields")
                        .and_then(Value::as_array)
                        .map(|f| {
                            f.iter()
                                .map(|x| x.as_str().unwrap_or_default().to_string())
                                .collect()
                        });
                    check(&m, path, status, body.as_ref(), &r["body"], fields);
                }
            }
        }
    }
    // Webhook deliveries: `{"events": [EventResponse...]}`, each event skinny.
    assert!(
        hook_bodies
            .iter()
            .any(|b| b["events"].as_array().is_some_and(|e| !e.is_empty())),
        "the scenario made webhook deliveries with events"
    );
    let event = json!({"$ref": "#/components/schemas/EventResponse"});
    for body in &hook_bodies {
        let keys: Vec<&String> = body
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        if keys != ["events"] {
            errs.push(format!(
                "webhook delivery: not {{\"events\": [...]}}: {body}"
            ));
        }
        for e in body["events"].as_array().into_iter().flatten() {
            spec.validate(&event, e, "webhook event", Mode::Response, true, &mut errs);
        }
    }
    let expected = SERVED;
    for (m, t) in expected {
        let ok = covered
            .get(&(m.to_string(), t.to_string()))
            .is_some_and(|s| s.iter().any(|x| (200..300).contains(x)));
        if !ok {
            errs.push(format!(
                "{m} {t}: not exercised successfully by the scenario"
            ));
        }
    }
    for (k, v) in &covered {
        println!("{} {} {:?}", k.0, k.1, v);
    }
    assert!(
        errs.is_empty(),
        "{} contract violations:\n{}",
        errs.len(),
        errs.join("\n")
    );
}

/// The checker itself must catch wrong types and unknown fields.
#[test]
fn checker_is_strict() {
    let Some(spec) = load_spec() else {
        return;
    };
    let schema = json!({"$ref": "#/components/schemas/TaskCompact"});
    let good = json!({"gid": "1", "resource_type": "task", "name": "x", "resource_subtype": "default_task"});
    let mut errs = Vec::new();
    spec.validate(&schema, &good, "t", Mode::Response, true, &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    for bad in [
        json!({"gid": 1}),
        json!({"gid": "1", "nmae": "typo"}),
        json!({"gid": "1", "resource_subtype": "bogus"}),
        json!({"gid": "1", "name": null}),
    ] {
        let mut errs = Vec::new();
        spec.validate(&schema, &bad, "t", Mode::Response, true, &mut errs);
        assert!(!errs.is_empty(), "{bad} should fail");
    }
    // allOf composition: TaskResponse declares fields of TaskBase and itself.
    let schema = json!({"$ref": "#/components/schemas/TaskResponse"});
    let mut errs = Vec::new();
    spec.validate(
        &schema,
        &json!({"gid": "1", "completed": true, "workspace": {"gid": "2", "resource_type": "workspace"}}),
        "t",
        Mode::Response,
        true,
        &mut errs,
    );
    assert!(errs.is_empty(), "{errs:?}");
    let mut errs = Vec::new();
    spec.validate(
        &schema,
        &json!({"completed": "yes"}),
        "t",
        Mode::Response,
        true,
        &mut errs,
    );
    assert!(!errs.is_empty());
}

/// The fake validates requests with a table it carries (it needs no spec file
/// at run time). The table must say what the spec says, for every operation
/// served. `ASANA_FAKE_WRITE_TABLE=1` rewrites it from the spec.
#[test]
fn the_fakes_table_matches_the_spec() {
    let Some(spec) = load_spec() else {
        return;
    };
    let want = spec_table(&spec);
    let path = table_path();
    if std::env::var_os("ASANA_FAKE_WRITE_TABLE").is_some() {
        let text = serde_json::to_string_pretty(&want).expect("serialise the table") + "\n";
        std::fs::write(&path, text).expect("write the table");
    }
    let have: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read src/spec_table.json"))
            .expect("src/spec_table.json is JSON");
    assert!(
        have == want,
        "src/spec_table.json differs from the spec; regenerate it with \
         ASANA_FAKE_WRITE_TABLE=1 cargo test -p asana-fake --test contract the_fakes_table"
    );
}
