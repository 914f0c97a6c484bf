//! JSON rendering of stored resources and `opt_fields` selection.
//!
//! Every resource is first rendered as a "full" record in which references to
//! other resources are themselves expanded (to a bounded depth). The output is
//! then cut down to what Asana would send: the compact record (list
//! endpoints), the default record (single-object endpoints; nested objects
//! compact, opt-in fields left out) or exactly the requested `opt_fields`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::model::{date_value, ts, CfType, CfValue, Extra, Kind, State, Webhook};

/// A parsed `opt_fields` list: a tree of (dotted) field paths.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldTree(BTreeMap<String, FieldTree>);

impl FieldTree {
    /// Parses a comma-separated list of dotted paths; empty items are ignored.
    pub(crate) fn parse(s: &str) -> FieldTree {
        let mut root = FieldTree::default();
        for path in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut node = &mut root;
            for part in path.split('.').filter(|p| !p.is_empty()) {
                node = node.0.entry(part.to_string()).or_default();
            }
        }
        root
    }

    /// Builds a tree from a flat list of top-level names.
    fn of(names: &[&str]) -> FieldTree {
        FieldTree(
            names
                .iter()
                .map(|n| (n.to_string(), FieldTree::default()))
                .collect(),
        )
    }
}

/// How much of a record to send.
#[derive(Debug, Clone)]
pub(crate) enum Fields {
    /// The compact record (default of list endpoints).
    Compact,
    /// The default full record (default of single-object endpoints).
    Default,
    /// Exactly these fields (plus `gid`).
    Select(FieldTree),
}

fn compact_names(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Task => &["resource_type", "name", "resource_subtype", "created_by"],
        Kind::Story => &[
            "resource_type",
            "created_at",
            "created_by",
            "resource_subtype",
            "text",
        ],
        Kind::CustomField => &["resource_type", "name", "resource_subtype", "type"],
        Kind::EnumOption => &["resource_type", "name", "enabled", "color"],
        Kind::Webhook => &["resource_type", "active", "resource", "target"],
        _ => &["resource_type", "name"],
    }
}

fn opt_in_names(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Task => &["html_notes"],
        Kind::Story => &["html_text"],
        Kind::CustomField => &["description"],
        _ => &[],
    }
}

/// Fields the default record keeps whole instead of reducing their nested
/// objects to compact records: a task's author (`{gid, resource_type}` only, as
/// Asana) and custom field values, and a custom field's enum options.
fn kept_whole(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Task => &["created_by", "custom_fields"],
        Kind::CustomField => &["enum_options"],
        _ => &[],
    }
}

/// Escapes text for inclusion in Asana rich text.
pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn reference(state: &State, kind: Kind, gid: &str, depth: u32) -> Value {
    if depth == 0 {
        match state.name_of(kind, gid) {
            Some(name) => json!({"gid": gid, "resource_type": kind.as_str(), "name": name}),
            None => json!({"gid": gid, "resource_type": kind.as_str()}),
        }
    } else {
        full(state, kind, gid, depth - 1)
    }
}

fn opt_ref(state: &State, kind: Kind, gid: Option<&String>, depth: u32) -> Value {
    gid.map_or(Value::Null, |g| reference(state, kind, g, depth))
}

/// One entry of a task's `custom_fields`: the custom field's metadata beside
/// the task's value (`enum_value`, `multi_enum_values`, `text_value`,
/// `number_value`, `date_value` or `people_value`, and `display_value`).
/// `enabled` is false for a value kept on the task after its field left all of
/// the task's projects. People are user references expanded `depth` levels.
fn custom_field_value(
    state: &State,
    field: &str,
    value: Option<&CfValue>,
    enabled: bool,
    depth: u32,
) -> Value {
    let Some(f) = state.custom_fields.get(field) else {
        return Value::Null;
    };
    let sub = f.subtype.as_str();
    let mut v = json!({
        "gid": field, "resource_type": "custom_field", "name": f.name,
        "resource_subtype": sub, "type": sub, "representation_type": sub,
        "enabled": enabled, "is_formula_field": false,
        "display_value": value.map(|x| state.display_value(field, x)),
        "created_by": reference(state, Kind::User, &f.created_by, 0),
    });
    let Some(o) = v.as_object_mut() else {
        return v;
    };
    let options = |gids: &[String]| -> Value {
        Value::Array(
            gids.iter()
                .map(|g| full(state, Kind::EnumOption, g, 0))
                .collect(),
        )
    };
    if f.subtype.has_options() {
        o.insert("enum_options".into(), options(&f.options));
    }
    let shown = match (f.subtype, value) {
        (CfType::Enum, Some(CfValue::Enum(g))) => full(state, Kind::EnumOption, g, 0),
        (CfType::MultiEnum, Some(CfValue::MultiEnum(gs))) => options(gs),
        (CfType::MultiEnum, _) => json!([]),
        (CfType::Text, Some(CfValue::Text(t))) => json!(t),
        (CfType::Number, Some(CfValue::Number(n))) => json!(n),
        (CfType::Date, Some(CfValue::Date(d))) => date_value(*d),
        (CfType::People, Some(CfValue::People(us))) => Value::Array(
            us.iter()
                .map(|u| reference(state, Kind::User, u, depth))
                .collect(),
        ),
        (CfType::People, _) => json!([]),
        _ => Value::Null,
    };
    o.insert(f.subtype.value_key().into(), shown);
    if f.subtype == CfType::Number {
        o.insert("precision".into(), json!(f.precision));
    }
    v
}

/// The full record of a resource, references expanded `depth` levels deep.
pub(crate) fn full(state: &State, kind: Kind, gid: &str, depth: u32) -> Value {
    let web = "https://app.asana.com/0";
    match kind {
        Kind::Workspace => match state.workspaces.get(gid) {
            Some(w) => json!({
                "gid": gid, "resource_type": "workspace", "name": w.name,
                "email_domains": ["example.com"], "is_organization": false,
            }),
            None => Value::Null,
        },
        Kind::User => match state.users.get(gid) {
            Some(u) => {
                let workspaces: Vec<Value> = state
                    .workspaces
                    .keys()
                    .map(|w| reference(state, Kind::Workspace, w, depth))
                    .collect();
                json!({
                    "gid": gid, "resource_type": "user", "name": u.name,
                    "email": u.email, "photo": null, "workspaces": workspaces,
                })
            }
            None => Value::Null,
        },
        Kind::Project => match state.projects.get(gid) {
            Some(p) => json!({
                "gid": gid, "resource_type": "project", "name": p.name,
                "archived": false, "color": null, "completed": false,
                "completed_at": null, "created_at": ts(p.created_at),
                "modified_at": ts(p.modified_at), "notes": "", "default_view": "list",
                "public": true, "followers": [], "members": [],
                "owner": reference(state, Kind::User, &state.owner, depth),
                "workspace": reference(state, Kind::Workspace, &p.workspace, depth),
                "permalink_url": format!("{web}/{gid}/list"),
                "custom_field_settings": p
                    .custom_field_settings
                    .iter()
                    .map(|s| reference(state, Kind::CustomFieldSetting, s, depth))
                    .collect::<Vec<Value>>(),
                // Custom field values of projects (set through portfolios) are not modelled.
                "custom_fields": [],
            }),
            None => Value::Null,
        },
        Kind::Section => match state.sections.get(gid) {
            Some(s) => json!({
                "gid": gid, "resource_type": "section", "name": s.name,
                "created_at": ts(s.created_at),
                "project": reference(state, Kind::Project, &s.project, depth),
                "projects": [reference(state, Kind::Project, &s.project, depth)],
            }),
            None => Value::Null,
        },
        Kind::Tag => match state.tags.get(gid) {
            Some(t) => json!({
                "gid": gid, "resource_type": "tag", "name": t.name,
                "color": t.color, "notes": t.notes, "created_at": ts(t.created_at),
                "followers": [],
                "workspace": reference(state, Kind::Workspace, &t.workspace, depth),
                "permalink_url": format!("{web}/{gid}/list"),
            }),
            None => Value::Null,
        },
        Kind::Task => match state.tasks.get(gid) {
            Some(t) => {
                let memberships: Vec<Value> = t
                    .memberships
                    .iter()
                    .map(|(p, s)| {
                        json!({
                            "project": reference(state, Kind::Project, p, depth),
                            "section": reference(state, Kind::Section, s, depth),
                        })
                    })
                    .collect();
                let projects: Vec<Value> = t
                    .memberships
                    .iter()
                    .map(|(p, _)| reference(state, Kind::Project, p, depth))
                    .collect();
                let tags: Vec<Value> = t
                    .tags
                    .iter()
                    .map(|g| reference(state, Kind::Tag, g, depth))
                    .collect();
                let followers: Vec<Value> = t
                    .followers
                    .iter()
                    .map(|g| reference(state, Kind::User, g, depth))
                    .collect();
                let on = state.task_field_gids(gid);
                let mut custom_fields: Vec<Value> = on
                    .iter()
                    .map(|f| custom_field_value(state, f, t.custom_values.get(f), true, depth))
                    .collect();
                custom_fields.extend(
                    t.custom_values
                        .iter()
                        .filter(|(f, _)| !on.contains(f))
                        .map(|(f, x)| custom_field_value(state, f, Some(x), false, depth)),
                );
                let mut v = json!({
                    "gid": gid, "resource_type": "task", "name": t.name,
                    "resource_subtype": t.resource_subtype,
                    "created_by": {"gid": t.created_by, "resource_type": "user"},
                    "assignee": opt_ref(state, Kind::User, t.assignee.as_ref(), depth),
                    "assignee_status": "inbox",
                    "completed": t.completed,
                    "completed_at": t.completed_at.map(ts),
                    "completed_by": opt_ref(state, Kind::User, t.completed_by.as_ref(), depth),
                    "created_at": ts(t.created_at),
                    "modified_at": ts(t.modified_at),
                    "due_at": t.due.due_at().map(ts), "due_on": t.due.due_on_text(),
                    "start_at": null, "start_on": null,
                    "notes": t.notes,
                    "html_notes": format!("<body>{}</body>", escape_html(&t.notes)),
                    "hearted": false, "hearts": [], "num_hearts": 0,
                    "liked": false, "likes": [], "num_likes": 0,
                    "num_subtasks": 0,
                    "memberships": memberships,
                    "projects": projects,
                    "tags": tags,
                    "followers": followers,
                    "custom_fields": custom_fields,
                    "parent": null,
                    "workspace": reference(state, Kind::Workspace, &t.workspace, depth),
                    "permalink_url": format!("{web}/0/{gid}/f"),
                });
                if t.resource_subtype == "approval" {
                    v["approval_status"] = json!("pending");
                }
                v
            }
            None => Value::Null,
        },
        Kind::CustomField => match state.custom_fields.get(gid) {
            Some(f) => {
                let sub = f.subtype.as_str();
                let mut v = json!({
                    "gid": gid, "resource_type": "custom_field", "name": f.name,
                    "resource_subtype": sub, "type": sub, "representation_type": sub,
                    "description": f.description,
                    "is_global_to_workspace": true,
                    "has_notifications_enabled": f.has_notifications_enabled,
                    "asana_created_field": null,
                    "is_formula_field": false,
                    "is_value_read_only": false,
                    "created_by": reference(state, Kind::User, &f.created_by, depth),
                });
                if let Some(o) = v.as_object_mut() {
                    if f.subtype.has_options() {
                        let options: Vec<Value> = f
                            .options
                            .iter()
                            .map(|g| full(state, Kind::EnumOption, g, 0))
                            .collect();
                        o.insert("enum_options".into(), Value::Array(options));
                    }
                    if f.subtype == CfType::Number {
                        o.insert("precision".into(), json!(f.precision));
                        o.insert("format".into(), json!("none"));
                    }
                }
                v
            }
            None => Value::Null,
        },
        Kind::EnumOption => match state.enum_options.get(gid) {
            Some(o) => json!({
                "gid": gid, "resource_type": "enum_option", "name": o.name,
                "enabled": o.enabled, "color": o.color,
            }),
            None => Value::Null,
        },
        Kind::CustomFieldSetting => match state.custom_field_settings.get(gid) {
            Some(s) => json!({
                "gid": gid, "resource_type": "custom_field_setting",
                "custom_field": reference(state, Kind::CustomField, &s.field, depth),
                "is_important": s.is_important,
                "parent": reference(state, Kind::Project, &s.project, depth),
                "project": reference(state, Kind::Project, &s.project, depth),
            }),
            None => Value::Null,
        },
        Kind::Webhook => match state.webhooks.get(gid) {
            Some(w) => webhook(state, gid, w, depth),
            None => Value::Null,
        },
        Kind::Story => match state.stories.get(gid) {
            Some(s) => {
                let mut v = json!({
                    "gid": gid, "resource_type": "story",
                    "created_at": ts(s.created_at),
                    "created_by": reference(state, Kind::User, &s.created_by, depth),
                    "resource_subtype": s.resource_subtype,
                    "type": s.story_type(),
                    "text": s.text,
                    "html_text": format!("<body>{}</body>", escape_html(&s.text)),
                    "is_pinned": s.is_pinned,
                    "is_editable": s.story_type() == "comment",
                    "is_edited": false,
                    "hearted": false, "hearts": [], "num_hearts": 0,
                    "liked": false, "likes": [], "num_likes": 0,
                    "previews": [],
                    "source": "api",
                    "target": reference(state, Kind::Task, &s.task, depth),
                });
                if let Some(obj) = v.as_object_mut() {
                    for (k, e) in &s.extras {
                        let val = match e {
                            Extra::Str(x) => json!(x),
                            Extra::Obj(k2, g) => reference(state, *k2, g, depth),
                            Extra::Json(x) => x.clone(),
                        };
                        obj.insert((*k).to_string(), val);
                    }
                }
                v
            }
            None => Value::Null,
        },
    }
}

/// The full record of a webhook (`WebhookResponse`). Health timestamps and the last
/// failure's content are left out while unset: the spec types them as non-nullable.
fn webhook(state: &State, gid: &str, w: &Webhook, depth: u32) -> Value {
    let h = &w.health;
    let filters: Vec<Value> = w.filters.iter().map(|f| f.to_json()).collect();
    let mut v = json!({
        "gid": gid, "resource_type": "webhook", "active": true,
        "resource": reference(state, w.resource_kind, &w.resource, depth),
        "target": w.target, "created_at": ts(w.created_at),
        "delivery_retry_count": h.delivery_retry_count,
        "filters": filters,
    });
    if let Some(o) = v.as_object_mut() {
        let times = [
            ("last_success_at", h.last_success_at),
            ("last_failure_at", h.last_failure_at),
            ("next_attempt_after", h.next_attempt_after),
            ("failure_deletion_timestamp", h.failure_deletion_timestamp),
        ];
        for (k, t) in times {
            if let Some(t) = t {
                o.insert(k.into(), json!(ts(t)));
            }
        }
        if let Some(c) = &h.last_failure_content {
            o.insert("last_failure_content".into(), json!(c));
        }
    }
    v
}

/// `{gid, resource_type}` of an object, applied recursively through arrays and
/// gid-less objects (e.g. memberships).
pub(crate) fn shallow(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("gid") => {
            let mut out = Map::new();
            for k in ["gid", "resource_type"] {
                if let Some(x) = m.get(k) {
                    out.insert(k.to_string(), x.clone());
                }
            }
            Value::Object(out)
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), shallow(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shallow).collect()),
        other => other.clone(),
    }
}

/// The compact form of a nested object: gid, resource_type, name (when any).
fn nested_compact(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("gid") => {
            let mut out = Map::new();
            for k in ["gid", "resource_type", "name"] {
                if let Some(x) = m.get(k) {
                    out.insert(k.to_string(), x.clone());
                }
            }
            Value::Object(out)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), nested_compact(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(nested_compact).collect()),
        other => other.clone(),
    }
}

fn select(v: &Value, tree: &FieldTree) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| select(x, tree)).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            if let Some(g) = m.get("gid") {
                out.insert("gid".into(), g.clone());
            }
            for (k, sub) in &tree.0 {
                if let Some(x) = m.get(k) {
                    let val = if sub.0.is_empty() {
                        shallow(x)
                    } else {
                        select(x, sub)
                    };
                    out.insert(k.clone(), val);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn tree_depth(t: &FieldTree) -> u32 {
    t.0.values().map(|c| 1 + tree_depth(c)).max().unwrap_or(0)
}

/// Renders one resource as Asana would for the given field selection.
pub(crate) fn render(state: &State, kind: Kind, gid: &str, fields: &Fields) -> Value {
    match fields {
        Fields::Compact => {
            let v = full(state, kind, gid, 0);
            let mut out = select(&v, &FieldTree::of(compact_names(kind)));
            // Compact stories name their author (UserCompact), as Asana does.
            if kind == Kind::Story {
                if let (Some(o), Some(by)) = (out.as_object_mut(), v.get("created_by")) {
                    o.insert("created_by".into(), nested_compact(by));
                }
            }
            out
        }
        Fields::Default => {
            let mut v = full(state, kind, gid, 0);
            if let Some(m) = v.as_object_mut() {
                for k in opt_in_names(kind) {
                    m.remove(*k);
                }
                for (k, x) in m.iter_mut() {
                    if !kept_whole(kind).contains(&k.as_str()) {
                        *x = nested_compact(x);
                    }
                }
            }
            v
        }
        Fields::Select(tree) => {
            let depth = tree_depth(tree).saturating_sub(1).min(3);
            let v = full(state, kind, gid, depth);
            select(&v, tree)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_tree_parses_dotted_paths() {
        let t = FieldTree::parse("name, memberships.section.name,memberships.project.gid,,tags.");
        assert_eq!(
            t.0.keys().collect::<Vec<_>>(),
            vec!["memberships", "name", "tags"]
        );
        let m = &t.0["memberships"];
        assert_eq!(m.0.keys().collect::<Vec<_>>(), vec!["project", "section"]);
        assert_eq!(tree_depth(&t), 3);
    }

    #[test]
    fn select_keeps_gid_and_reduces_unexpanded_objects() {
        let v = json!({"gid": "1", "name": "n", "assignee": {"gid": "2", "resource_type": "user", "name": "A"}});
        let out = select(&v, &FieldTree::parse("assignee"));
        assert_eq!(
            out,
            json!({"gid": "1", "assignee": {"gid": "2", "resource_type": "user"}})
        );
        let out = select(&v, &FieldTree::parse("assignee.name"));
        assert_eq!(
            out,
            json!({"gid": "1", "assignee": {"gid": "2", "name": "A"}})
        );
    }
}
