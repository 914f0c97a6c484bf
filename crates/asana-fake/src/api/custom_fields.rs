//! Custom fields: their definitions (`POST /custom_fields`, `GET
//! /custom_fields/{gid}`), enum options (`POST
//! /custom_fields/{gid}/enum_options`, `PUT /enum_options/{gid}`), project
//! settings (`addCustomFieldSetting`, `removeCustomFieldSetting`, `GET
//! /projects/{gid}/custom_field_settings`) and the `custom_fields` map of task
//! writes.
//!
//! Every subtype Asana defines for task values is modelled: text, number
//! (with its precision), enum and multi-enum (options enabled or disabled),
//! date (a day or an instant) and people; fields can be renamed (`PUT
//! /custom_fields/{gid}`) and deleted (`DELETE /custom_fields/{gid}`, which
//! takes the field off every project and its values off every task). Custom
//! fields are a premium feature: with [`State::custom_fields_premium`] off
//! every custom-field write answers 402.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Number, Value};

use super::input::{
    data_of, opt_bool, opt_str, path_obj, position_input, req_str, unknown_ref, wrong_type,
};
use super::query::{list, location, single};
use crate::model::{
    CfType, CfValue, CustomField, CustomFieldSetting, Due, EnumOption, Kind, State,
};
use crate::request::{type_name, ApiError, ApiRequest, ApiResponse, Res};

/// Message of the 402 answered to custom-field writes on a plan without them.
const PREMIUM_MESSAGE: &str = "Custom fields are a premium feature: the request is valid, but \
this workspace's plan does not include custom fields. Upgrade the plan to use them.";

/// Colours of enum options (Asana's palette, as the spec lists it for other
/// resources, e.g. time tracking categories).
const ENUM_COLORS: &[&str] = &[
    "none",
    "red",
    "orange",
    "yellow-orange",
    "yellow",
    "yellow-green",
    "green",
    "blue-green",
    "aqua",
    "blue",
    "indigo",
    "purple",
    "magenta",
    "hot-pink",
    "pink",
    "cool-gray",
];

/// Body fields of `createCustomField` the fake models; the spec documents more
/// (formats, references, ...), which are refused by name.
const FIELD_KEYS: &[&str] = &[
    "workspace",
    "name",
    "resource_subtype",
    "description",
    "enum_options",
    "precision",
    "has_notifications_enabled",
];

/// Names of built-in task properties a custom field may not take (the spec names these).
const RESERVED_NAMES: &[&str] = &["due date", "assignee"];

/// Most enum options of one custom field (disabled ones included).
const MAX_ENUM_OPTIONS: usize = 500;

/// Longest text value.
const MAX_TEXT: usize = 1024;

/// The most users of one people value.
const MAX_PEOPLE: usize = 100;

/// Body fields of `updateCustomField` the fake models.
/// (`workspace`, which the spec requires in the body, is create-only: it must
/// be the field's own.)
const UPDATE_KEYS: &[&str] = &[
    "workspace",
    "name",
    "description",
    "precision",
    "has_notifications_enabled",
];

/// Refuses custom-field writes when the plan lacks custom fields.
fn premium(state: &State) -> Result<(), ApiError> {
    if state.custom_fields_premium {
        Ok(())
    } else {
        Err(ApiError::payment_required(PREMIUM_MESSAGE))
    }
}

/// `custom field GID ("Name")`, for messages.
fn label(state: &State, field: &str) -> String {
    match state.name_of(Kind::CustomField, field) {
        Some(name) => format!("custom field {field} (\"{name}\")"),
        None => format!("custom field {field}"),
    }
}

/// Name and colour of a new enum option (`at` prefixes messages). New options
/// are always enabled (spec: "On creation of an enum option, `enabled` is always
/// set to `true`"), so `enabled: false` is refused rather than ignored.
fn option_input(m: &Map<String, Value>, at: &str) -> Result<(String, String), ApiError> {
    let prefixed = |e: ApiError| ApiError::bad(format!("{at}{}", e.message));
    let name = req_str(m, "name").map_err(prefixed)?;
    if name.trim().is_empty() {
        return Err(ApiError::bad(format!("{at}name: Cannot be empty")));
    }
    let color = opt_str(m, "color")
        .map_err(prefixed)?
        .unwrap_or_else(|| "none".into());
    if !ENUM_COLORS.contains(&color.as_str()) {
        return Err(ApiError::bad(format!(
            "{at}color: Not a valid color: {color} (one of {})",
            ENUM_COLORS.join(", ")
        )));
    }
    if opt_bool(m, "enabled").map_err(prefixed)? == Some(false) {
        return Err(ApiError::bad(format!(
            "{at}enabled: A new enum option is always enabled; disable it afterwards with \
             PUT /enum_options/{{enum_option_gid}}"
        )));
    }
    Ok((name, color))
}

fn add_option(state: &mut State, field: &str, name: String, color: String) -> String {
    let gid = state.gid();
    state.enum_options.insert(
        gid.clone(),
        EnumOption {
            field: field.to_string(),
            name,
            enabled: true,
            color,
        },
    );
    gid
}

/// `POST /custom_fields` (createCustomField).
pub(super) fn create_field(state: &mut State, req: &ApiRequest) -> Res {
    let d = data_of(&req.body)?;
    premium(state)?;
    if let Some(key) = d.keys().find(|k| !FIELD_KEYS.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "{key}: Not modelled by this fake's custom fields (it takes {})",
            FIELD_KEYS.join(", ")
        )));
    }
    let workspace = req_str(&d, "workspace")?;
    if !state.workspaces.contains_key(&workspace) {
        return Err(unknown_ref("workspace", &workspace));
    }
    let name = req_str(&d, "name")?;
    if name.trim().is_empty() {
        return Err(ApiError::bad("name: Cannot be empty"));
    }
    if RESERVED_NAMES.contains(&name.trim().to_lowercase().as_str()) {
        return Err(ApiError::bad(format!(
            "name: \"{name}\" conflicts with a built-in task property"
        )));
    }
    if state
        .custom_fields
        .values()
        .any(|f| f.workspace == workspace && f.name.trim().eq_ignore_ascii_case(name.trim()))
    {
        return Err(ApiError::bad(format!(
            "name: A custom field named \"{name}\" already exists in this workspace"
        )));
    }
    let subtype_name = req_str(&d, "resource_subtype")?;
    let Some(subtype) = CfType::parse(&subtype_name) else {
        return Err(ApiError::bad(format!(
            "resource_subtype: This fake models text, enum, multi_enum, number, date and \
             people custom fields, not {subtype_name}"
        )));
    };
    let description = opt_str(&d, "description")?.unwrap_or_default();
    let has_notifications_enabled = opt_bool(&d, "has_notifications_enabled")?.unwrap_or(true);
    let precision = precision_input(&d, subtype)?.unwrap_or(0);
    let mut options = Vec::new();
    match d.get("enum_options") {
        None => {}
        Some(_) if !subtype.has_options() => {
            return Err(ApiError::bad(
                "enum_options: Only enum and multi_enum custom fields have enum options",
            ))
        }
        Some(Value::Array(items)) => {
            for item in items {
                let Value::Object(m) = item else {
                    return Err(wrong_type("enum_options[]", "an object", item));
                };
                options.push(option_input(m, "enum_options[].")?);
            }
        }
        Some(other) => return Err(wrong_type("enum_options", "an array", other)),
    }
    if subtype.has_options() && options.is_empty() {
        return Err(ApiError::bad(format!(
            "enum_options: A custom field of type {} needs at least one enum option",
            subtype.as_str()
        )));
    }
    if options.len() > MAX_ENUM_OPTIONS {
        return Err(ApiError::bad(format!(
            "enum_options: A custom field can have at most {MAX_ENUM_OPTIONS} enum options"
        )));
    }
    let gid = state.gid();
    let option_gids = options
        .into_iter()
        .map(|(name, color)| add_option(state, &gid, name, color))
        .collect();
    let created_by = state.owner.clone();
    state.custom_fields.insert(
        gid.clone(),
        CustomField {
            name,
            workspace,
            subtype,
            description,
            options: option_gids,
            precision,
            has_notifications_enabled,
            created_by,
        },
    );
    let body = single(state, req, Kind::CustomField, &gid);
    Ok(ApiResponse::created(
        body,
        location(state, Kind::CustomField, &gid),
    ))
}

/// The `precision` of a create or update: only number fields have one, 0 to 6.
fn precision_input(d: &Map<String, Value>, subtype: CfType) -> Result<Option<u32>, ApiError> {
    match d.get("precision") {
        None => Ok(None),
        Some(_) if subtype != CfType::Number => Err(ApiError::bad(
            "precision: Only number custom fields have a precision",
        )),
        Some(v) => match v.as_u64() {
            Some(p) if p <= 6 => Ok(Some(p as u32)),
            _ => Err(ApiError::bad(format!(
                "precision: Must be an integer between 0 and 6: {v}"
            ))),
        },
    }
}

/// `PUT /custom_fields/{gid}` (updateCustomField): `name`, `description`,
/// `precision` (number fields), `has_notifications_enabled`.
pub(super) fn update_field(state: &mut State, req: &ApiRequest, field: &str) -> Res {
    path_obj(state, Kind::CustomField, field)?;
    let d = data_of(&req.body)?;
    premium(state)?;
    if let Some(key) = d.keys().find(|k| !UPDATE_KEYS.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "{key}: Not modelled by this fake's custom field updates (it takes {})",
            UPDATE_KEYS.join(", ")
        )));
    }
    let Some(f) = state.custom_fields.get(field) else {
        return Err(unknown_ref("custom_field", field));
    };
    if let Some(ws) = opt_str(&d, "workspace")? {
        if ws != f.workspace {
            return Err(ApiError::bad(format!(
                "workspace: Create-only: the workspace of {} cannot change",
                label(state, field)
            )));
        }
    }
    let name = opt_str(&d, "name")?;
    if let Some(n) = &name {
        if n.trim().is_empty() {
            return Err(ApiError::bad("name: Cannot be empty"));
        }
        if RESERVED_NAMES.contains(&n.trim().to_lowercase().as_str()) {
            return Err(ApiError::bad(format!(
                "name: \"{n}\" conflicts with a built-in task property"
            )));
        }
        let taken = state.custom_fields.iter().any(|(g, o)| {
            g != field && o.workspace == f.workspace && o.name.trim().eq_ignore_ascii_case(n.trim())
        });
        if taken {
            return Err(ApiError::bad(format!(
                "name: A custom field named \"{n}\" already exists in this workspace"
            )));
        }
    }
    let precision = precision_input(&d, f.subtype)?;
    let description = opt_str(&d, "description")?;
    let notifications = opt_bool(&d, "has_notifications_enabled")?;
    if let Some(f) = state.custom_fields.get_mut(field) {
        if let Some(n) = name {
            f.name = n;
        }
        if let Some(p) = precision {
            f.precision = p;
        }
        if let Some(x) = description {
            f.description = x;
        }
        if let Some(x) = notifications {
            f.has_notifications_enabled = x;
        }
    }
    Ok(ApiResponse::data(single(
        state,
        req,
        Kind::CustomField,
        field,
    )))
}

/// `DELETE /custom_fields/{gid}` (deleteCustomField): the field, its options,
/// its settings on every project and its values on every task are gone; a
/// write naming it afterwards is refused as an unknown custom field.
pub(super) fn delete_field(state: &mut State, field: &str) -> Res {
    path_obj(state, Kind::CustomField, field)?;
    premium(state)?;
    let Some(f) = state.custom_fields.remove(field) else {
        return Err(unknown_ref("custom_field", field));
    };
    for o in &f.options {
        state.enum_options.remove(o);
    }
    let settings: Vec<String> = state
        .custom_field_settings
        .iter()
        .filter(|(_, s)| s.field == field)
        .map(|(g, _)| g.clone())
        .collect();
    for s in &settings {
        state.custom_field_settings.remove(s);
    }
    for p in state.projects.values_mut() {
        p.custom_field_settings.retain(|s| !settings.contains(s));
    }
    for t in state.tasks.values_mut() {
        t.custom_values.remove(field);
    }
    Ok(ApiResponse::data(json!({})))
}

/// `POST /custom_fields/{gid}/enum_options` (createEnumOptionForCustomField).
pub(super) fn create_option(state: &mut State, req: &ApiRequest, field: &str) -> Res {
    path_obj(state, Kind::CustomField, field)?;
    let d = data_of(&req.body)?;
    premium(state)?;
    let Some(f) = state.custom_fields.get(field) else {
        return Err(unknown_ref("custom_field", field));
    };
    if !f.subtype.has_options() {
        return Err(ApiError::bad(format!(
            "custom_field_gid: {} is a {} field; only enum and multi_enum custom fields have \
             enum options",
            label(state, field),
            f.subtype.as_str()
        )));
    }
    if f.options.len() >= MAX_ENUM_OPTIONS {
        return Err(ApiError::bad(format!(
            "custom_field_gid: A custom field can have at most {MAX_ENUM_OPTIONS} enum options"
        )));
    }
    let siblings = f.options.clone();
    let (name, color) = option_input(&d, "")?;
    let pos = position_input(&d, &siblings, crate::model::Position::End)?;
    let gid = add_option(state, field, name, color);
    if let Some(f) = state.custom_fields.get_mut(field) {
        crate::model::insert_at(&mut f.options, gid.clone(), &pos);
    }
    let body = single(state, req, Kind::EnumOption, &gid);
    Ok(ApiResponse::created(
        body,
        location(state, Kind::EnumOption, &gid),
    ))
}

/// `PUT /enum_options/{gid}` (updateEnumOption): `name`, `color`, `enabled`.
pub(super) fn update_option(state: &mut State, req: &ApiRequest, option: &str) -> Res {
    path_obj(state, Kind::EnumOption, option)?;
    let d = data_of(&req.body)?;
    premium(state)?;
    let name = opt_str(&d, "name")?;
    if name.as_ref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::bad("name: Cannot be empty"));
    }
    let color = opt_str(&d, "color")?;
    if let Some(c) = &color {
        if !ENUM_COLORS.contains(&c.as_str()) {
            return Err(ApiError::bad(format!(
                "color: Not a valid color: {c} (one of {})",
                ENUM_COLORS.join(", ")
            )));
        }
    }
    let enabled = opt_bool(&d, "enabled")?;
    let field = state
        .enum_options
        .get(option)
        .map(|o| o.field.clone())
        .unwrap_or_default();
    if enabled == Some(false) {
        let others_enabled = state.custom_fields.get(&field).is_some_and(|f| {
            f.options
                .iter()
                .filter(|g| *g != option)
                .any(|g| state.enum_options.get(g).is_some_and(|o| o.enabled))
        });
        if !others_enabled {
            return Err(ApiError::bad(format!(
                "enabled: An enum custom field needs at least one enabled enum option; \
                 {option} is the last one of {}",
                label(state, &field)
            )));
        }
    }
    if let Some(o) = state.enum_options.get_mut(option) {
        if let Some(n) = name {
            o.name = n;
        }
        if let Some(c) = color {
            o.color = c;
        }
        if let Some(e) = enabled {
            o.enabled = e;
        }
    }
    Ok(ApiResponse::data(single(
        state,
        req,
        Kind::EnumOption,
        option,
    )))
}

/// `POST /projects/{gid}/addCustomFieldSetting` (addCustomFieldSettingForProject).
pub(super) fn add_setting(state: &mut State, req: &ApiRequest, project: &str) -> Res {
    path_obj(state, Kind::Project, project)?;
    let d = data_of(&req.body)?;
    premium(state)?;
    let field = match d.get("custom_field") {
        None => return Err(ApiError::bad("custom_field: Missing input")),
        Some(Value::String(g)) => g.clone(),
        Some(Value::Object(_)) => {
            return Err(ApiError::bad(
                "custom_field: Creating a custom field inside addCustomFieldSetting is not \
                 supported by this fake; create it with POST /custom_fields and pass its gid",
            ))
        }
        Some(other) => return Err(wrong_type("custom_field", "a string", other)),
    };
    let Some(f) = state.custom_fields.get(&field) else {
        return Err(unknown_ref("custom_field", &field));
    };
    let Some(p) = state.projects.get(project) else {
        return Err(unknown_ref("project", project));
    };
    if f.workspace != p.workspace {
        return Err(ApiError::bad(format!(
            "custom_field: {} is not in the project's workspace",
            label(state, &field)
        )));
    }
    if state.project_field_gids(project).contains(&field) {
        return Err(ApiError::bad(format!(
            "custom_field: {} is already on project {project}",
            label(state, &field)
        )));
    }
    let is_important = opt_bool(&d, "is_important")?.unwrap_or(false);
    let settings = p.custom_field_settings.clone();
    let pos = position_input(&d, &settings, crate::model::Position::End)?;
    let gid = state.gid();
    state.custom_field_settings.insert(
        gid.clone(),
        CustomFieldSetting {
            project: project.to_string(),
            field,
            is_important,
        },
    );
    let now = state.now();
    if let Some(p) = state.projects.get_mut(project) {
        crate::model::insert_at(&mut p.custom_field_settings, gid.clone(), &pos);
        p.modified_at = now;
    }
    Ok(ApiResponse::data(single(
        state,
        req,
        Kind::CustomFieldSetting,
        &gid,
    )))
}

/// `POST /projects/{gid}/removeCustomFieldSetting`. Values already set on tasks
/// stay there, shown disabled, until cleared or the field comes back.
pub(super) fn remove_setting(state: &mut State, req: &ApiRequest, project: &str) -> Res {
    path_obj(state, Kind::Project, project)?;
    let d = data_of(&req.body)?;
    premium(state)?;
    let field = req_str(&d, "custom_field")?;
    if !state.custom_fields.contains_key(&field) {
        return Err(unknown_ref("custom_field", &field));
    }
    let setting = state.projects.get(project).and_then(|p| {
        p.custom_field_settings
            .iter()
            .find(|s| {
                state
                    .custom_field_settings
                    .get(*s)
                    .is_some_and(|x| x.field == field)
            })
            .cloned()
    });
    let Some(setting) = setting else {
        return Err(ApiError::bad(format!(
            "custom_field: {} is not on project {project}",
            label(state, &field)
        )));
    };
    state.custom_field_settings.remove(&setting);
    let now = state.now();
    if let Some(p) = state.projects.get_mut(project) {
        p.custom_field_settings.retain(|s| *s != setting);
        p.modified_at = now;
    }
    Ok(ApiResponse::data(json!({})))
}

/// `GET /projects/{gid}/custom_field_settings` (compact records, paginated).
pub(super) fn list_settings(state: &State, req: &ApiRequest, project: &str) -> Res {
    path_obj(state, Kind::Project, project)?;
    let gids = state
        .projects
        .get(project)
        .map(|p| p.custom_field_settings.clone())
        .unwrap_or_default();
    list(state, req, Kind::CustomFieldSetting, gids)
}

/// One entry of a task's `custom_fields` write: the field and its new value
/// (`None` clears it).
pub(super) type ValueWrite = (String, Option<CfValue>);

/// A number rounded to the field's precision (an integer for precision 0).
fn rounded(x: f64, precision: u32) -> Option<Number> {
    if precision == 0 && x.abs() < 9.0e15 {
        return Some(Number::from(x.round() as i64));
    }
    let m = 10f64.powi(precision as i32);
    Number::from_f64((x * m).round() / m)
}

/// Reads the `custom_fields` map of a task write: `{custom_field_gid: value}`
/// with, per the field's type, a string (text), a number (number, rounded to
/// the field's precision), an enum option gid (enum), an array of option gids
/// (multi_enum), `{"date": "YYYY-MM-DD"}` or `{"date_time": "<ISO 8601>"}` or
/// that string itself (date), an array of user gids, e-mails or `"me"`
/// (people); `null` (or an empty array) clears. Only fields added to one of
/// `projects` (the task's projects) may be set; a value whose field left those
/// projects (`current`) may only be cleared. Everything is checked before
/// anything is written. `None` when absent.
pub(super) fn values_input(
    state: &State,
    d: &Map<String, Value>,
    projects: &[String],
    current: &BTreeMap<String, CfValue>,
) -> Result<Option<Vec<ValueWrite>>, ApiError> {
    let map = match d.get("custom_fields") {
        None => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(wrong_type("custom_fields", "an object", other)),
    };
    if map.is_empty() {
        return Ok(Some(Vec::new()));
    }
    premium(state)?;
    let on: Vec<String> = projects
        .iter()
        .flat_map(|p| state.project_field_gids(p))
        .collect();
    let mut out = Vec::new();
    for (f, v) in map {
        let Some(field) = state.custom_fields.get(f) else {
            return Err(ApiError::bad(format!(
                "custom_fields: Not a recognized custom field ID: {f}"
            )));
        };
        let what = label(state, f);
        let on_task = on.contains(f);
        let clears = v.is_null() || v.as_array().is_some_and(|a| a.is_empty());
        if clears && (on_task || current.contains_key(f)) {
            out.push((f.clone(), None));
            continue;
        }
        if !on_task {
            let hint = if current.contains_key(f) {
                "; the task's value of it is disabled and can only be cleared (null)"
            } else {
                "; add it to one of them with addCustomFieldSetting first"
            };
            return Err(ApiError::bad(format!(
                "custom_fields: {what} is not on any of the task's projects{hint}"
            )));
        }
        let value = value_input(state, f, field, &what, v)?;
        out.push((f.clone(), Some(value)));
    }
    Ok(Some(out))
}

/// One value of a `custom_fields` write, checked against field `f`'s type.
fn value_input(
    state: &State,
    f: &str,
    field: &CustomField,
    what: &str,
    v: &Value,
) -> Result<CfValue, ApiError> {
    let value = match (field.subtype, v) {
        (CfType::Enum, Value::String(o)) => CfValue::Enum(option_input_of(state, f, what, o)?),
        (CfType::MultiEnum, Value::Array(items)) => {
            let mut gids: Vec<String> = Vec::new();
            for item in items {
                let Value::String(o) = item else {
                    return Err(ApiError::bad(format!(
                        "custom_fields: {what} takes an array of enum option gids, got {}: {item}",
                        type_name(item)
                    )));
                };
                let o = option_input_of(state, f, what, o)?;
                if !gids.contains(&o) {
                    gids.push(o);
                }
            }
            CfValue::MultiEnum(gids)
        }
        (CfType::Text, Value::String(s)) if s.chars().count() <= MAX_TEXT => {
            CfValue::Text(s.clone())
        }
        (CfType::Text, Value::String(_)) => {
            return Err(ApiError::bad(format!(
                "custom_fields: The value of {what} is longer than {MAX_TEXT} characters"
            )))
        }
        (CfType::Number, Value::Number(n)) => {
            match n.as_f64().and_then(|x| rounded(x, field.precision)) {
                Some(n) => CfValue::Number(n),
                None => {
                    return Err(ApiError::bad(format!(
                        "custom_fields: Not a usable number for {what}: {n}"
                    )))
                }
            }
        }
        (CfType::Date, Value::Object(m)) => CfValue::Date(date_object(what, m)?),
        (CfType::Date, Value::String(s)) => CfValue::Date(date_text(what, "", s)?),
        (CfType::People, Value::Array(items)) => {
            if items.len() > MAX_PEOPLE {
                return Err(ApiError::bad(format!(
                    "custom_fields: {what} takes at most {MAX_PEOPLE} users"
                )));
            }
            let mut gids: Vec<String> = Vec::new();
            for item in items {
                let Value::String(u) = item else {
                    return Err(ApiError::bad(format!(
                        "custom_fields: {what} takes an array of user gids, e-mails or \"me\", got {}: {item}",
                        type_name(item)
                    )));
                };
                let Some(g) = state.resolve_user(u) else {
                    return Err(ApiError::bad(format!(
                        "custom_fields: Not a recognized user ID, email or \"me\" for {what}: {u}"
                    )));
                };
                if !gids.contains(&g) {
                    gids.push(g);
                }
            }
            CfValue::People(gids)
        }
        (subtype, other) => {
            let want = match subtype {
                CfType::Enum => "the gid of one of its enum options",
                CfType::MultiEnum => "an array of gids of its enum options",
                CfType::Text => "a string",
                CfType::Number => "a number",
                CfType::Date => "{\"date\": \"YYYY-MM-DD\"} or {\"date_time\": \"<ISO 8601>\"}",
                CfType::People => "an array of user gids, e-mails or \"me\"",
            };
            return Err(ApiError::bad(format!(
                "custom_fields: {what} takes {want} or null, got {}: {other}",
                type_name(other)
            )));
        }
    };
    Ok(value)
}

/// Checks that `o` is an enabled option of field `f`; returns its gid.
fn option_input_of(state: &State, f: &str, what: &str, o: &str) -> Result<String, ApiError> {
    let Some(opt) = state.enum_options.get(o) else {
        return Err(ApiError::bad(format!(
            "custom_fields: Not a recognized enum option ID for {what}: {o}"
        )));
    };
    if opt.field != f {
        return Err(ApiError::bad(format!(
            "custom_fields: Enum option {o} (\"{}\") belongs to {}, not to {what}",
            opt.name,
            label(state, &opt.field)
        )));
    }
    if !opt.enabled {
        return Err(ApiError::bad(format!(
            "custom_fields: Enum option {o} (\"{}\") of {what} is disabled and cannot be chosen",
            opt.name
        )));
    }
    Ok(o.to_string())
}

/// A date value given as `{"date": ...}` or `{"date_time": ...}` (exactly one).
fn date_object(what: &str, m: &Map<String, Value>) -> Result<Due, ApiError> {
    if let Some(k) = m
        .keys()
        .find(|k| !["date", "date_time"].contains(&k.as_str()))
    {
        return Err(ApiError::bad(format!(
            "custom_fields: {what}: unknown key {k} of a date value (it takes date or date_time)"
        )));
    }
    let text = |k: &str| match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad(format!(
            "custom_fields: {what}: {k} must be a string, got {}: {other}",
            type_name(other)
        ))),
    };
    match (text("date")?, text("date_time")?) {
        (Some(_), Some(_)) => Err(ApiError::bad(format!(
            "custom_fields: {what}: give one of date or date_time, not both"
        ))),
        (Some(d), None) => date_text(what, "date", &d),
        (None, Some(t)) => date_text(what, "date_time", &t),
        (None, None) => Err(ApiError::bad(format!(
            "custom_fields: {what}: a date value needs date or date_time (or null to clear)"
        ))),
    }
}

/// A date value's text: `YYYY-MM-DD` (a day) or an ISO 8601 date-time with a
/// zone (an instant, kept to the millisecond). `key` restricts it to one form.
fn date_text(what: &str, key: &str, s: &str) -> Result<Due, ApiError> {
    let b = s.as_bytes();
    let day_shaped = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    if key != "date_time" && day_shaped {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Due::On(d));
        }
    }
    if key != "date" {
        if let Some(t) = DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()))
        {
            return Ok(Due::At(t));
        }
    }
    let want = match key {
        "date" => "a date (YYYY-MM-DD)",
        "date_time" => "an ISO 8601 date-time with a time zone (e.g. 2019-09-15T02:06:58.147Z)",
        _ => "a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone",
    };
    Err(ApiError::bad(format!(
        "custom_fields: {what}: not {want}: {s}"
    )))
}
