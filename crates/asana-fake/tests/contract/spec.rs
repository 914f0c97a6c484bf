//! Asana's OpenAPI spec as the contract test reads it: the operations the
//! fake serves, `$ref` resolution and the schema checker (a small hand-written
//! OAS 3.0 subset, see the test's module comment).

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

/// The operations the fake serves: (method, path template of the spec).
pub(crate) const SERVED: &[(&str, &str)] = &[
    ("POST", "/tasks"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{task_gid}"),
    ("PUT", "/tasks/{task_gid}"),
    ("DELETE", "/tasks/{task_gid}"),
    ("GET", "/projects/{project_gid}/tasks"),
    ("GET", "/sections/{section_gid}/tasks"),
    ("GET", "/projects/{project_gid}/sections"),
    ("POST", "/projects/{project_gid}/sections"),
    ("GET", "/sections/{section_gid}"),
    ("PUT", "/sections/{section_gid}"),
    ("DELETE", "/sections/{section_gid}"),
    ("POST", "/sections/{section_gid}/addTask"),
    ("GET", "/tags"),
    ("POST", "/tags"),
    ("GET", "/tags/{tag_gid}"),
    ("GET", "/workspaces/{workspace_gid}/tags"),
    ("POST", "/workspaces/{workspace_gid}/tags"),
    ("POST", "/tasks/{task_gid}/addTag"),
    ("POST", "/tasks/{task_gid}/removeTag"),
    ("GET", "/tasks/{task_gid}/tags"),
    ("POST", "/tasks/{task_gid}/addProject"),
    ("POST", "/tasks/{task_gid}/removeProject"),
    ("POST", "/tasks/{task_gid}/stories"),
    ("GET", "/tasks/{task_gid}/stories"),
    ("GET", "/stories/{story_gid}"),
    ("GET", "/users/{user_gid}"),
    ("GET", "/workspaces"),
    ("GET", "/workspaces/{workspace_gid}"),
    ("GET", "/workspaces/{workspace_gid}/users"),
    ("GET", "/workspaces/{workspace_gid}/projects"),
    ("GET", "/projects/{project_gid}"),
    ("GET", "/events"),
    ("POST", "/batch"),
    ("POST", "/custom_fields"),
    ("GET", "/custom_fields/{custom_field_gid}"),
    ("PUT", "/custom_fields/{custom_field_gid}"),
    ("DELETE", "/custom_fields/{custom_field_gid}"),
    ("POST", "/custom_fields/{custom_field_gid}/enum_options"),
    ("PUT", "/enum_options/{enum_option_gid}"),
    ("POST", "/projects/{project_gid}/addCustomFieldSetting"),
    ("POST", "/projects/{project_gid}/removeCustomFieldSetting"),
    ("GET", "/projects/{project_gid}/custom_field_settings"),
    ("POST", "/webhooks"),
    ("GET", "/webhooks"),
    ("GET", "/webhooks/{webhook_gid}"),
    ("PUT", "/webhooks/{webhook_gid}"),
    ("DELETE", "/webhooks/{webhook_gid}"),
];

/// Whether a body is a request (readOnly fields skipped) or a response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Request,
    Response,
    /// A response to a request with `opt_fields`: any field of the full
    /// record may appear where the spec shows a compact record.
    ResponseOptFields,
}

/// The parsed spec with `$ref` resolution.
pub(crate) struct Spec {
    pub(crate) root: Value,
}

impl Spec {
    pub(crate) fn resolve<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let ptr = r.trim_start_matches('#');
                    match self.root.pointer(ptr) {
                        Some(t) => s = t,
                        None => return &Value::Null,
                    }
                }
                None => return s,
            }
        }
        s
    }

    /// With `opt_fields`, a `XCompact` reference stands for the full
    /// `XResponse` record.
    fn promote<'a>(&'a self, s: &'a Value, mode: Mode) -> &'a Value {
        if mode != Mode::ResponseOptFields {
            return s;
        }
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        let Some(base) = r.strip_suffix("Compact") else {
            return s;
        };
        let ptr = format!("{}Response", base.trim_start_matches('#'));
        match self.root.pointer(&ptr) {
            Some(full) => full,
            None => s,
        }
    }

    /// The path template in `paths` matching a concrete path, preferring the
    /// template with most literal segments.
    pub(crate) fn template(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let paths = self.root.get("paths")?.as_object()?;
        let mut best: Option<(usize, &String)> = None;
        for key in paths.keys() {
            let tsegs: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
            if tsegs.len() != segs.len() {
                continue;
            }
            let mut literal = 0;
            let ok = tsegs.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') {
                    true
                } else if t == s {
                    literal += 1;
                    true
                } else {
                    false
                }
            });
            if ok && best.is_none_or(|(l, _)| literal > l) {
                best = Some((literal, key));
            }
        }
        best.map(|(_, k)| k.clone())
    }

    pub(crate) fn operation(&self, method: &str, template: &str) -> Option<&Value> {
        self.root
            .get("paths")?
            .get(template)?
            .get(method.to_ascii_lowercase())
    }

    pub(crate) fn response_schema<'a>(&'a self, op: &'a Value, status: u16) -> Option<&'a Value> {
        let responses = op.get("responses")?;
        let r = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))?;
        let r = self.resolve(r);
        r.pointer("/content/application~1json/schema")
    }

    /// The `opt_fields` enum of an operation.
    pub(crate) fn opt_fields(&self, op: &Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for p in op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = self.resolve(p);
            if p.get("name").and_then(Value::as_str) != Some("opt_fields") {
                continue;
            }
            let items = self.resolve(&p["schema"]["items"]);
            for f in items
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(f) = f.as_str() {
                    out.insert(f.to_string());
                }
            }
        }
        out
    }

    pub(crate) fn request_schema<'a>(&'a self, op: &'a Value) -> Option<&'a Value> {
        let rb = self.resolve(op.get("requestBody")?);
        rb.pointer("/content/application~1json/schema")
    }

    fn nullable(&self, s: &Value) -> bool {
        let s = self.resolve(s);
        s.get("nullable") == Some(&Value::Bool(true))
            || s.get("enum")
                .and_then(Value::as_array)
                .is_some_and(|e| e.contains(&Value::Null))
            || s.get("allOf")
                .and_then(Value::as_array)
                .is_some_and(|parts| parts.iter().any(|p| self.nullable(p)))
            // Spec gap: e.g. EventResponse.parent is documented as "`null` for
            // other event types" in an inline allOf part but not flagged.
            || s.get("allOf").and_then(Value::as_array).is_some_and(|parts| {
                parts.iter().any(|p| {
                    p.get("$ref").is_none()
                        && p.get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|d| d.contains("`null`"))
                })
            })
    }

    /// Every property declared by `s` and its allOf parts (recursively).
    /// `mode` promotes compact references at the top level only (the full
    /// records' allOf parts refer back to the compact ones).
    fn declared(&self, s: &Value, mode: Option<Mode>, out: &mut BTreeSet<String>) {
        let inline = s.get("$ref").is_none();
        let s = match mode {
            Some(m) => self.resolve(self.promote(s, m)),
            None => self.resolve(s),
        };
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            out.extend(p.keys().cloned());
        }
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            for p in parts {
                // An inline `allOf: [$ref XCompact, ...]` property is promoted too.
                let p = match mode {
                    Some(m) if inline => self.promote(p, m),
                    _ => p,
                };
                self.declared(p, None, out);
            }
        }
    }

    fn is_open(&self, s: &Value) -> bool {
        let s = self.resolve(s);
        s.get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false))
            || s.get("allOf")
                .and_then(Value::as_array)
                .is_some_and(|parts| parts.iter().any(|p| self.is_open(p)))
    }

    pub(crate) fn validate(
        &self,
        schema: &Value,
        v: &Value,
        at: &str,
        mode: Mode,
        strict: bool,
        errs: &mut Vec<String>,
    ) {
        // allOf parts (strict = false) are never promoted, which also stops
        // XResponse -> XBase -> XCompact -> XResponse cycles.
        let s = if strict {
            self.resolve(self.promote(schema, mode))
        } else {
            self.resolve(schema)
        };
        if v.is_null() {
            let typed = s.get("type").is_some()
                || s.get("properties").is_some()
                || s.get("allOf").is_some()
                || s.get("oneOf").is_some()
                || s.get("anyOf").is_some()
                || s.get("enum").is_some();
            if typed && !self.nullable(s) {
                errs.push(format!("{at}: null is not allowed here"));
            }
            return;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = s.get(key).and_then(Value::as_array) {
                let ok = alts.iter().any(|a| {
                    let mut e = Vec::new();
                    self.validate(a, v, at, mode, true, &mut e);
                    e.is_empty()
                });
                if !ok {
                    errs.push(format!("{at}: matches no alternative of {key}"));
                }
                return;
            }
        }
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            let inline = schema.get("$ref").is_none();
            for p in parts {
                let p = if strict && inline {
                    self.promote(p, mode)
                } else {
                    p
                };
                self.validate(p, v, at, mode, false, errs);
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                errs.push(format!("{at}: {v} is not one of {e:?}"));
            }
        }
        let ty = s.get("type").and_then(Value::as_str);
        let type_ok = match ty {
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            Some("array") => v.is_array(),
            Some("object") => v.is_object(),
            _ => true,
        };
        if !type_ok {
            errs.push(format!("{at}: expected {}, got {v}", ty.unwrap_or("?")));
            return;
        }
        if s.get("format").and_then(Value::as_str) == Some("date-time") {
            if let Some(t) = v.as_str() {
                let ok = t.len() == 24
                    && t.as_bytes()[10] == b'T'
                    && t.ends_with('Z')
                    && t.as_bytes()[19] == b'.';
                if !ok {
                    errs.push(format!("{at}: not an ISO-8601 UTC time with millis: {t}"));
                }
            }
        }
        if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
            for (i, x) in arr.iter().enumerate() {
                self.validate(items, x, &format!("{at}[{i}]"), mode, true, errs);
            }
        }
        if let Some(obj) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(props) = props {
                for (k, x) in obj {
                    if let Some(ps) = props.get(k) {
                        let read_only = self.resolve(ps).get("readOnly")
                            == Some(&Value::Bool(true))
                            || ps.get("readOnly") == Some(&Value::Bool(true));
                        if mode == Mode::Request && read_only {
                            continue;
                        }
                        self.validate(ps, x, &format!("{at}.{k}"), mode, true, errs);
                    }
                }
            }
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        errs.push(format!("{at}: required field {r} is missing"));
                    }
                }
            }
            if strict && !self.is_open(s) {
                let mut declared = BTreeSet::new();
                self.declared(schema, Some(mode), &mut declared);
                if !declared.is_empty() {
                    for k in obj.keys() {
                        if !declared.contains(k) {
                            errs.push(format!("{at}.{k}: field not declared in the schema"));
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn spec_path() -> PathBuf {
    match std::env::var_os("ASANA_OAS_PATH") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join("../shared/asana/asana_oas.yaml"),
    }
}

pub(crate) fn load_spec() -> Option<Spec> {
    let path = spec_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            println!(
                "contract test skipped: cannot read the Asana OpenAPI spec at {} ({e}); set ASANA_OAS_PATH",
                path.display()
            );
            return None;
        }
    };
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("spec is valid YAML");
    let root = serde_json::to_value(yaml).expect("spec converts to JSON");
    Some(Spec { root })
}
