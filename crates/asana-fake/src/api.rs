//! The Asana REST API proper: routing of `/api/1.0` requests, input
//! validation with Asana-style error bodies, pagination, the Events API and
//! the Batch API.
//!
//! [`dispatch`] is synchronous and works on the locked [`State`]; the HTTP
//! layer (auth, rate limits, faults, latency) lives in `server.rs`, and the
//! Batch API calls [`dispatch`] once per action. Custom fields, their enum
//! options and project settings live in the `custom_fields` submodule.

mod custom_fields;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use crate::model::{Due, Kind, Position, State, Task};
use crate::render::{render, FieldTree, Fields};
use crate::strict;

/// Help text attached to every error, as Asana does.
const HELP: &str = "For more information on API status codes and how to handle them, \
read the docs on errors: https://developers.asana.com/docs/errors";

/// Message of the 412 answer of `GET /events`.
const SYNC_MESSAGE: &str = "Sync token invalid or too old. If you are attempting to keep \
resources in sync, you must fetch the full dataset for this query now and use the new sync \
token for the next sync.";

/// Most events returned by one `GET /events` call.
const EVENTS_PAGE: usize = 100;

/// Most actions in one batch request.
const MAX_BATCH_ACTIONS: usize = 10;

const TAG_COLORS: &[&str] = &[
    "dark-pink",
    "dark-green",
    "dark-blue",
    "dark-red",
    "dark-teal",
    "dark-brown",
    "dark-orange",
    "dark-purple",
    "dark-warm-gray",
    "light-pink",
    "light-green",
    "light-blue",
    "light-red",
    "light-teal",
    "light-brown",
    "light-orange",
    "light-purple",
    "light-warm-gray",
];

/// The body of an API request as received.
pub(crate) enum Body {
    /// No body at all.
    None,
    /// A body that is not valid JSON (with the parser's complaint).
    Invalid(String),
    /// A parsed JSON body.
    Json(Value),
}

/// One API request, relative to `/api/1.0`.
pub(crate) struct ApiRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path below `/api/1.0`, starting with `/`, without query string.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The request body.
    pub body: Body,
}

/// One API response.
pub(crate) struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

impl ApiResponse {
    fn ok(body: Value) -> ApiResponse {
        ApiResponse {
            status: 200,
            body,
            location: None,
        }
    }

    fn data(data: Value) -> ApiResponse {
        ApiResponse::ok(json!({ "data": data }))
    }

    fn created(data: Value, location: String) -> ApiResponse {
        ApiResponse {
            status: 201,
            body: json!({ "data": data }),
            location: Some(location),
        }
    }
}

/// An Asana-style error.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            message: message.into(),
        }
    }

    /// 402: the workspace's plan lacks a premium feature.
    fn payment_required(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 402,
            message: message.into(),
        }
    }
}

/// The `{"errors": [...]}` body Asana sends with `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    if status == 401 || status == 412 {
        // Asana's 401 and 412 bodies carry the message only.
        return json!({ "errors": [{ "message": message }] });
    }
    let mut err = json!({ "message": message, "help": HELP });
    if status >= 500 {
        err["phrase"] = json!("6 sad squid snuggle softly");
    }
    json!({ "errors": [err] })
}

impl From<ApiError> for ApiResponse {
    fn from(e: ApiError) -> ApiResponse {
        ApiResponse {
            status: e.status,
            body: error_body(e.status, &e.message),
            location: None,
        }
    }
}

type Res = Result<ApiResponse, ApiError>;

/// Query parameters with Asana's conventions.
struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The field selection: `opt_fields` when given, else `default`.
    fn fields(&self, default: Fields) -> Fields {
        match self.get("opt_fields") {
            Some(f) if !f.trim().is_empty() => Fields::Select(FieldTree::parse(f)),
            _ => default,
        }
    }
}

/// The page offset of list position `index`, valid while the offsets' `epoch` lasts
/// (`expire_offsets` starts a new one).
fn encode_offset(index: usize, epoch: u64) -> String {
    let check = ((index as u64) ^ epoch.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44;
    format!("eyJ0{index:x}x{epoch:x}x{check:x}")
}

/// The list position of an offset issued in `epoch`; `None` for anything else.
fn decode_offset(s: &str, epoch: u64) -> Option<usize> {
    let rest = s.strip_prefix("eyJ0")?;
    let (idx, _) = rest.split_once('x')?;
    let index = usize::from_str_radix(idx, 16).ok()?;
    (encode_offset(index, epoch) == s).then_some(index)
}

/// Builds a paginated list response of `gids` rendered as `kind`.
fn list(state: &State, req: &ApiRequest, kind: Kind, gids: Vec<String>) -> Res {
    let params = Params(&req.query);
    let limit = match params.get("limit") {
        None => None,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => Some(n as usize),
            Ok(_) => return Err(ApiError::bad("limit: Must be between 1 and 100")),
            Err(_) => return Err(ApiError::bad(format!("limit: Not a valid integer: {l}"))),
        },
    };
    let start = match params.get("offset") {
        None => 0,
        Some(o) => decode_offset(o, state.offset_epoch).ok_or_else(|| {
            ApiError::bad(format!(
                "offset: Your pagination token is invalid or expired: {o}"
            ))
        })?,
    };
    let fields = params.fields(Fields::Compact);
    let end = limit.map_or(gids.len(), |l| (start + l).min(gids.len()));
    let start = start.min(gids.len());
    let data: Vec<Value> = gids[start..end]
        .iter()
        .map(|g| render(state, kind, g, &fields))
        .collect();
    let next_page = if end < gids.len() {
        let offset = encode_offset(end, state.offset_epoch);
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k != "offset")
            .cloned()
            .collect();
        q.push(("offset".into(), offset.clone()));
        let qs = serde_urlencoded::to_string(&q).unwrap_or_default();
        let path = format!("{}?{}", req.path, qs);
        json!({"offset": offset, "uri": format!("{}{}", state.base_url, path), "path": path})
    } else {
        Value::Null
    };
    Ok(ApiResponse::ok(
        json!({"data": data, "next_page": next_page}),
    ))
}

// ---------------------------------------------------------------------------
// Body validation helpers

/// The JSON type of a value, as error messages name it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(key: &str, want: &str, got: &Value) -> ApiError {
    ApiError::bad(format!(
        "{key}: Expected {want} but got {}: {got}",
        type_name(got)
    ))
}

/// The `data` object of a POST/PUT body.
fn data_of(body: &Body) -> Result<Map<String, Value>, ApiError> {
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

fn opt_str(d: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

/// A string field that may be explicitly `null`: outer `None` = absent.
fn opt_nullable_str(d: &Map<String, Value>, key: &str) -> Result<Option<Option<String>>, ApiError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(other) => Err(wrong_type(key, "a string or null", other)),
    }
}

fn req_str(d: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    opt_str(d, key)?.ok_or_else(|| ApiError::bad(format!("{key}: Missing input")))
}

fn opt_bool(d: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(key, "a boolean", other)),
    }
}

fn opt_str_array(d: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ApiError> {
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

fn unknown_ref(key: &str, value: &str) -> ApiError {
    ApiError::bad(format!("{key}: Not a recognized ID: {value}"))
}

/// Strips tags from Asana rich text, keeping the text (for `html_notes` and
/// `html_text`). Requires the `<body>…</body>` wrapper.
fn rich_to_plain(key: &str, html: &str) -> Result<String, ApiError> {
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

fn parse_time(key: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
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

fn missing(kind: Kind, gid: &str) -> ApiError {
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
    }
}

/// Checks that the path gid names an existing resource of `kind`.
fn path_obj(state: &State, kind: Kind, gid: &str) -> Result<(), ApiError> {
    check_gid(kind, gid)?;
    if exists(state, kind, gid) {
        Ok(())
    } else {
        Err(missing(kind, gid))
    }
}

fn location(state: &State, kind: Kind, gid: &str) -> String {
    format!("{}/{}s/{gid}", state.base_url, kind.as_str())
}

fn single(state: &State, req: &ApiRequest, kind: Kind, gid: &str) -> Value {
    render(
        state,
        kind,
        gid,
        &Params(&req.query).fields(Fields::Default),
    )
}

// ---------------------------------------------------------------------------
// Routing

/// Answers one API request against `state`.
pub(crate) fn dispatch(state: &mut State, req: &ApiRequest) -> ApiResponse {
    if let Err(message) = strict::check(req) {
        return ApiError::bad(message).into();
    }
    route(state, req).unwrap_or_else(ApiResponse::from)
}

fn route(state: &mut State, req: &ApiRequest) -> Res {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let m = req.method.as_str();
    match (m, segs.as_slice()) {
        ("GET", ["tasks"]) => get_tasks(state, req),
        ("POST", ["tasks"]) => create_task(state, req),
        ("GET", ["tasks", t]) => {
            path_obj(state, Kind::Task, t)?;
            Ok(ApiResponse::data(single(state, req, Kind::Task, t)))
        }
        ("PUT", ["tasks", t]) => update_task(state, req, t),
        ("DELETE", ["tasks", t]) => {
            path_obj(state, Kind::Task, t)?;
            state.delete_task(t);
            Ok(ApiResponse::data(json!({})))
        }
        ("GET", ["tasks", t, "stories"]) => {
            path_obj(state, Kind::Task, t)?;
            let gids = state
                .tasks
                .get(*t)
                .map(|x| x.stories.clone())
                .unwrap_or_default();
            list(state, req, Kind::Story, gids)
        }
        ("POST", ["tasks", t, "stories"]) => create_story(state, req, t),
        ("GET", ["tasks", t, "tags"]) => {
            path_obj(state, Kind::Task, t)?;
            let gids = state
                .tasks
                .get(*t)
                .map(|x| x.tags.clone())
                .unwrap_or_default();
            list(state, req, Kind::Tag, gids)
        }
        ("POST", ["tasks", t, "addTag"]) => task_tag(state, req, t, true),
        ("POST", ["tasks", t, "removeTag"]) => task_tag(state, req, t, false),
        ("POST", ["tasks", t, "addProject"]) => add_project(state, req, t),
        ("POST", ["tasks", t, "removeProject"]) => remove_project(state, req, t),
        ("GET", ["stories", s]) => {
            path_obj(state, Kind::Story, s)?;
            Ok(ApiResponse::data(single(state, req, Kind::Story, s)))
        }
        ("GET", ["projects", p]) => {
            path_obj(state, Kind::Project, p)?;
            Ok(ApiResponse::data(single(state, req, Kind::Project, p)))
        }
        ("GET", ["projects", p, "tasks"]) => {
            path_obj(state, Kind::Project, p)?;
            let gids = state.project_task_gids(p);
            let gids = filter_tasks(state, req, gids)?;
            list(state, req, Kind::Task, gids)
        }
        ("GET", ["projects", p, "sections"]) => {
            path_obj(state, Kind::Project, p)?;
            let gids = state
                .projects
                .get(*p)
                .map(|x| x.sections.clone())
                .unwrap_or_default();
            list(state, req, Kind::Section, gids)
        }
        ("POST", ["projects", p, "sections"]) => create_section(state, req, p),
        ("GET", ["projects", p, "custom_field_settings"]) => {
            custom_fields::list_settings(state, req, p)
        }
        ("POST", ["projects", p, "addCustomFieldSetting"]) => {
            custom_fields::add_setting(state, req, p)
        }
        ("POST", ["projects", p, "removeCustomFieldSetting"]) => {
            custom_fields::remove_setting(state, req, p)
        }
        ("POST", ["custom_fields"]) => custom_fields::create_field(state, req),
        ("GET", ["custom_fields", f]) => {
            path_obj(state, Kind::CustomField, f)?;
            Ok(ApiResponse::data(single(state, req, Kind::CustomField, f)))
        }
        ("POST", ["custom_fields", f, "enum_options"]) => {
            custom_fields::create_option(state, req, f)
        }
        ("PUT", ["enum_options", o]) => custom_fields::update_option(state, req, o),
        ("GET", ["sections", s]) => {
            path_obj(state, Kind::Section, s)?;
            Ok(ApiResponse::data(single(state, req, Kind::Section, s)))
        }
        ("PUT", ["sections", s]) => update_section(state, req, s),
        ("DELETE", ["sections", s]) => delete_section(state, s),
        ("GET", ["sections", s, "tasks"]) => {
            path_obj(state, Kind::Section, s)?;
            let gids = state
                .sections
                .get(*s)
                .map(|x| x.tasks.clone())
                .unwrap_or_default();
            let gids = filter_tasks(state, req, gids)?;
            list(state, req, Kind::Task, gids)
        }
        ("POST", ["sections", s, "addTask"]) => add_task_to_section(state, req, s),
        ("GET", ["tags"]) => {
            let ws = Params(&req.query)
                .get("workspace")
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad("workspace: Missing input"))?;
            if !state.workspaces.contains_key(&ws) {
                return Err(unknown_ref("workspace", &ws));
            }
            list_tags(state, req, &ws)
        }
        ("POST", ["tags"]) => create_tag(state, req, None),
        ("GET", ["tags", t]) => {
            path_obj(state, Kind::Tag, t)?;
            Ok(ApiResponse::data(single(state, req, Kind::Tag, t)))
        }
        ("GET", ["workspaces"]) => {
            let gids = state.workspaces.keys().cloned().collect();
            list(state, req, Kind::Workspace, gids)
        }
        ("GET", ["workspaces", w]) => {
            path_obj(state, Kind::Workspace, w)?;
            Ok(ApiResponse::data(single(state, req, Kind::Workspace, w)))
        }
        ("GET", ["workspaces", w, "tags"]) => {
            path_obj(state, Kind::Workspace, w)?;
            list_tags(state, req, w)
        }
        ("POST", ["workspaces", w, "tags"]) => {
            path_obj(state, Kind::Workspace, w)?;
            create_tag(state, req, Some(w))
        }
        ("GET", ["workspaces", w, "users"]) => {
            path_obj(state, Kind::Workspace, w)?;
            // Not paginated in Asana (capped at 2000 users): no next_page.
            let fields = Params(&req.query).fields(Fields::Compact);
            let data: Vec<Value> = state
                .users
                .keys()
                .map(|g| render(state, Kind::User, g, &fields))
                .collect();
            Ok(ApiResponse::data(Value::Array(data)))
        }
        ("GET", ["workspaces", w, "projects"]) => {
            path_obj(state, Kind::Workspace, w)?;
            let gids = state
                .projects
                .iter()
                .filter(|(_, p)| p.workspace == *w)
                .map(|(g, _)| g.clone())
                .collect();
            list(state, req, Kind::Project, gids)
        }
        ("GET", ["users", u]) => {
            let gid = state
                .resolve_user(u)
                .ok_or_else(|| ApiError::not_found(format!("user: Unknown object: {u}")))?;
            Ok(ApiResponse::data(single(state, req, Kind::User, &gid)))
        }
        ("GET", ["events"]) => events(state, req),
        ("POST", ["batch"]) => batch(state, req),
        _ => Err(ApiError::not_found("No matching route for request")),
    }
}

// ---------------------------------------------------------------------------
// Tasks

/// Applies `completed_since` and `modified_since` to a task list.
fn filter_tasks(
    state: &State,
    req: &ApiRequest,
    gids: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    let params = Params(&req.query);
    // `now` keeps only incomplete tasks (DateTime::MAX_UTC is never reached).
    let completed_since = match params.get("completed_since") {
        None => None,
        Some("now") => Some(DateTime::<Utc>::MAX_UTC),
        Some(s) => Some(parse_time("completed_since", s)?),
    };
    let modified_since = match params.get("modified_since") {
        None => None,
        Some(s) => Some(parse_time("modified_since", s)?),
    };
    let keep = |t: &Task| {
        let c = completed_since
            .is_none_or(|since| !t.completed || t.completed_at.is_some_and(|at| at >= since));
        let m = modified_since.is_none_or(|since| t.modified_at >= since);
        c && m
    };
    Ok(gids
        .into_iter()
        .filter(|g| state.tasks.get(g).is_some_and(keep))
        .collect())
}

fn get_tasks(state: &State, req: &ApiRequest) -> Res {
    let params = Params(&req.query);
    let project = params.get("project");
    let section = params.get("section");
    let assignee = params.get("assignee");
    let workspace = params.get("workspace");
    let sources =
        [project, section].iter().filter(|x| x.is_some()).count() + usize::from(assignee.is_some());
    if sources != 1 || (workspace.is_some() && assignee.is_none()) {
        return Err(ApiError::bad(
            "Must specify exactly one of project, section, or assignee + workspace",
        ));
    }
    let gids: Vec<String> = if let Some(p) = project {
        if !state.projects.contains_key(p) {
            return Err(unknown_ref("project", p));
        }
        state.project_task_gids(p)
    } else if let Some(s) = section {
        state
            .sections
            .get(s)
            .ok_or_else(|| unknown_ref("section", s))?
            .tasks
            .clone()
    } else {
        let a = assignee.unwrap_or_default();
        let ws = workspace.ok_or_else(|| ApiError::bad("workspace: Missing input"))?;
        if !state.workspaces.contains_key(ws) {
            return Err(unknown_ref("workspace", ws));
        }
        let user = state
            .resolve_user(a)
            .ok_or_else(|| unknown_ref("assignee", a))?;
        state
            .tasks
            .iter()
            .filter(|(_, x)| x.workspace == ws && x.assignee.as_deref() == Some(user.as_str()))
            .map(|(g, _)| g.clone())
            .collect()
    };
    let gids = filter_tasks(state, req, gids)?;
    list(state, req, Kind::Task, gids)
}

/// Notes from `notes` or `html_notes` (not both).
fn notes_input(d: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let notes = opt_str(d, "notes")?;
    let html = opt_str(d, "html_notes")?;
    match (notes, html) {
        (Some(_), Some(_)) => Err(ApiError::bad(
            "notes: You may only provide one of notes or html_notes",
        )),
        (Some(n), None) => Ok(Some(n)),
        (None, Some(h)) => rich_to_plain("html_notes", &h).map(Some),
        (None, None) => Ok(None),
    }
}

/// Reads `due_on` / `due_at`: at most one of them per request (the spec: "should
/// not be used together"); either one replaces the whole due date, and `null`
/// clears it. Returns the new due date and the field that set it.
fn due_input(d: &Map<String, Value>) -> Result<Option<(Due, &'static str)>, ApiError> {
    for key in ["start_on", "start_at"] {
        if d.contains_key(key) {
            return Err(ApiError::bad(format!(
                "{key}: Start dates are not supported by this fake"
            )));
        }
    }
    match (
        opt_nullable_str(d, "due_on")?,
        opt_nullable_str(d, "due_at")?,
    ) {
        (Some(_), Some(_)) => Err(ApiError::bad(
            "due_at: You may only provide one of due_on or due_at",
        )),
        (Some(None), None) => Ok(Some((Due::None, "due_on"))),
        (Some(Some(s)), None) => Ok(Some((Due::On(parse_date("due_on", &s)?), "due_on"))),
        (None, Some(None)) => Ok(Some((Due::None, "due_at"))),
        (None, Some(Some(s))) => Ok(Some((Due::At(parse_instant("due_at", &s)?), "due_at"))),
        (None, None) => Ok(None),
    }
}

/// A calendar date written exactly as `YYYY-MM-DD`.
fn parse_date(key: &str, s: &str) -> Result<NaiveDate, ApiError> {
    let b = s.as_bytes();
    let shaped = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| shaped)
        .ok_or_else(|| ApiError::bad(format!("{key}: Not a valid date (YYYY-MM-DD): {s}")))
}

/// An ISO 8601 date-time with a time zone (`Z` or an offset), kept in UTC to
/// the millisecond as Asana does.
fn parse_instant(key: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
        .ok_or_else(|| {
            ApiError::bad(format!(
                "{key}: Not a valid ISO 8601 date-time with a time zone \
                 (e.g. 2019-09-15T02:06:58.147Z): {s}"
            ))
        })
}

fn assignee_input(
    state: &State,
    d: &Map<String, Value>,
) -> Result<Option<Option<String>>, ApiError> {
    match opt_nullable_str(d, "assignee")? {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(a)) => state
            .resolve_user(&a)
            .map(|g| Some(Some(g)))
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "assignee: Not a recognized ID, email or \"me\": {a}"
                ))
            }),
    }
}

fn create_task(state: &mut State, req: &ApiRequest) -> Res {
    let d = data_of(&req.body)?;
    let name = opt_str(&d, "name")?.unwrap_or_default();
    let notes = notes_input(&d)?.unwrap_or_default();
    let completed = opt_bool(&d, "completed")?.unwrap_or(false);
    let assignee = assignee_input(state, &d)?.flatten();
    let subtype = opt_str(&d, "resource_subtype")?.unwrap_or_else(|| "default_task".into());
    if !["default_task", "milestone", "approval"].contains(&subtype.as_str()) {
        return Err(ApiError::bad(format!(
            "resource_subtype: Not a valid subtype: {subtype}"
        )));
    }
    if let Some(Some(p)) = opt_nullable_str(&d, "parent")? {
        return Err(ApiError::bad(format!(
            "parent: Subtasks are not supported by this fake: {p}"
        )));
    }
    let mut projects = opt_str_array(&d, "projects")?.unwrap_or_default();
    for p in &projects {
        if !state.projects.contains_key(p) {
            return Err(unknown_ref("projects", p));
        }
    }
    // memberships: [{project, section}]
    let mut placements: Vec<(String, String)> = Vec::new();
    match d.get("memberships") {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Value::Object(m) = item else {
                    return Err(wrong_type("memberships[]", "an object", item));
                };
                let p = opt_str(m, "project")
                    .map_err(|e| ApiError::bad(format!("memberships[].{}", e.message)))?
                    .ok_or_else(|| ApiError::bad("memberships[].project: Missing input"))?;
                let s = opt_str(m, "section")
                    .map_err(|e| ApiError::bad(format!("memberships[].{}", e.message)))?;
                if !state.projects.contains_key(&p) {
                    return Err(unknown_ref("memberships[].project", &p));
                }
                if let Some(s) = s {
                    match state.sections.get(&s) {
                        None => return Err(unknown_ref("memberships[].section", &s)),
                        Some(sec) if sec.project != p => {
                            return Err(ApiError::bad(format!(
                                "memberships[].section: Section {s} is not in project {p}"
                            )))
                        }
                        Some(_) => placements.push((p.clone(), s)),
                    }
                }
                if !projects.contains(&p) {
                    projects.push(p);
                }
            }
        }
        Some(other) => return Err(wrong_type("memberships", "an array", other)),
    }
    let workspace = match opt_str(&d, "workspace")? {
        Some(w) => {
            if !state.workspaces.contains_key(&w) {
                return Err(unknown_ref("workspace", &w));
            }
            w
        }
        None => match projects.first() {
            Some(p) => state
                .projects
                .get(p)
                .map(|x| x.workspace.clone())
                .unwrap_or_default(),
            None => return Err(ApiError::bad(
                "workspace: Missing input: you should specify one of workspace, parent, projects",
            )),
        },
    };
    for p in &projects {
        if state
            .projects
            .get(p)
            .is_some_and(|x| x.workspace != workspace)
        {
            return Err(ApiError::bad(format!(
                "projects: Project {p} is not in workspace {workspace}"
            )));
        }
    }
    let tags = opt_str_array(&d, "tags")?.unwrap_or_default();
    for t in &tags {
        match state.tags.get(t) {
            None => return Err(unknown_ref("tags", t)),
            Some(tag) if tag.workspace != workspace => {
                return Err(ApiError::bad(format!(
                    "tags: Tag {t} is not in workspace {workspace}"
                )))
            }
            Some(_) => {}
        }
    }
    let mut followers = Vec::new();
    for f in opt_str_array(&d, "followers")?.unwrap_or_default() {
        let g = state
            .resolve_user(&f)
            .ok_or_else(|| unknown_ref("followers", &f))?;
        if !followers.contains(&g) {
            followers.push(g);
        }
    }
    let due = due_input(&d)?.map_or(Due::None, |(due, _)| due);
    let custom_values = custom_fields::values_input(state, &d, &projects, &Default::default())?
        .into_iter()
        .flatten()
        .filter_map(|(f, v)| Some((f, v?)))
        .collect();

    let gid = state.gid();
    let now = state.now();
    let owner = state.owner.clone();
    if !followers.contains(&owner) {
        followers.push(owner.clone());
    }
    state.tasks.insert(
        gid.clone(),
        Task {
            name,
            notes,
            resource_subtype: subtype,
            completed,
            completed_at: completed.then_some(now),
            completed_by: completed.then(|| owner.clone()),
            assignee,
            created_at: now,
            modified_at: now,
            created_by: owner,
            workspace,
            memberships: Vec::new(),
            tags,
            followers,
            stories: Vec::new(),
            due,
            custom_values,
        },
    );
    for p in &projects {
        let section = placements
            .iter()
            .find(|(pp, _)| pp == p)
            .map(|(_, s)| s.clone())
            .or_else(|| {
                state
                    .projects
                    .get(p)
                    .and_then(|x| x.sections.first().cloned())
            });
        if let Some(s) = section {
            state.place_task(&gid, &s, &Position::End, false);
        }
    }
    if projects.is_empty() {
        state.task_event(&gid, "added", None, None);
    }
    let body = single(state, req, Kind::Task, &gid);
    Ok(ApiResponse::created(
        body,
        location(state, Kind::Task, &gid),
    ))
}

fn update_task(state: &mut State, req: &ApiRequest, gid: &str) -> Res {
    path_obj(state, Kind::Task, gid)?;
    let d = data_of(&req.body)?;
    for (key, hint) in [
        ("projects", "use addProject and removeProject"),
        (
            "memberships",
            "use addProject, removeProject or sections/addTask",
        ),
        ("tags", "use addTag and removeTag"),
        ("followers", "use addFollowers and removeFollowers"),
        ("workspace", "a task's workspace cannot change"),
    ] {
        if d.contains_key(key) {
            return Err(ApiError::bad(format!(
                "{key}: Cannot write this property after creation; {hint}"
            )));
        }
    }
    let name = opt_str(&d, "name")?;
    let notes = notes_input(&d)?;
    let completed = opt_bool(&d, "completed")?;
    let assignee = assignee_input(state, &d)?;
    let due = due_input(&d)?;
    let (projects, current) = state
        .tasks
        .get(gid)
        .map(|t| {
            let projects: Vec<String> = t.memberships.iter().map(|(p, _)| p.clone()).collect();
            (projects, t.custom_values.clone())
        })
        .unwrap_or_default();
    let custom = custom_fields::values_input(state, &d, &projects, &current)?;
    if let Some(n) = name {
        state.set_task_name(gid, n);
    }
    if let Some(n) = notes {
        state.set_task_notes(gid, n);
    }
    if let Some(a) = assignee {
        state.set_task_assignee(gid, a);
    }
    if let Some(c) = completed {
        state.set_task_completed(gid, c);
    }
    if let Some((due, field)) = due {
        state.set_task_due(gid, due, field);
    }
    for (field, value) in custom.into_iter().flatten() {
        state.set_task_custom_value(gid, &field, value);
    }
    Ok(ApiResponse::data(single(state, req, Kind::Task, gid)))
}

fn task_tag(state: &mut State, req: &ApiRequest, task: &str, add: bool) -> Res {
    path_obj(state, Kind::Task, task)?;
    let d = data_of(&req.body)?;
    let tag = req_str(&d, "tag")?;
    let workspace = state.tasks.get(task).map(|t| t.workspace.clone());
    match state.tags.get(&tag) {
        None => return Err(unknown_ref("tag", &tag)),
        Some(t) if Some(&t.workspace) != workspace.as_ref() => {
            return Err(ApiError::bad(format!(
                "tag: Tag {tag} is not in the task's workspace"
            )))
        }
        Some(_) => {}
    }
    if add {
        state.add_task_tag(task, &tag);
    } else {
        state.remove_task_tag(task, &tag);
    }
    Ok(ApiResponse::data(json!({})))
}

/// Reads `insert_before` / `insert_after` (mutually exclusive) and checks that
/// the named item is in `container`.
fn position_input(
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

fn add_project(state: &mut State, req: &ApiRequest, task: &str) -> Res {
    path_obj(state, Kind::Task, task)?;
    let d = data_of(&req.body)?;
    let project = req_str(&d, "project")?;
    let Some(p) = state.projects.get(&project) else {
        return Err(unknown_ref("project", &project));
    };
    if state
        .tasks
        .get(task)
        .is_some_and(|t| t.workspace != p.workspace)
    {
        return Err(ApiError::bad(format!(
            "project: Project {project} is not in the task's workspace"
        )));
    }
    let section = match opt_nullable_str(&d, "section")?.flatten() {
        Some(s) => match state.sections.get(&s) {
            Some(sec) if sec.project == project => s,
            Some(_) => {
                return Err(ApiError::bad(format!(
                    "section: Section {s} is not in project {project}"
                )))
            }
            None => return Err(unknown_ref("section", &s)),
        },
        None => match p.sections.first() {
            Some(s) => s.clone(),
            None => return Err(ApiError::bad("project: Project has no sections")),
        },
    };
    let tasks = state
        .sections
        .get(&section)
        .map(|s| s.tasks.clone())
        .unwrap_or_default();
    let pos = position_input(&d, &tasks, Position::End)?;
    state.place_task(task, &section, &pos, true);
    Ok(ApiResponse::data(json!({})))
}

fn remove_project(state: &mut State, req: &ApiRequest, task: &str) -> Res {
    path_obj(state, Kind::Task, task)?;
    let d = data_of(&req.body)?;
    let project = req_str(&d, "project")?;
    if !state.projects.contains_key(&project) {
        return Err(unknown_ref("project", &project));
    }
    state.remove_task_from_project(task, &project);
    Ok(ApiResponse::data(json!({})))
}

// ---------------------------------------------------------------------------
// Stories

fn create_story(state: &mut State, req: &ApiRequest, task: &str) -> Res {
    path_obj(state, Kind::Task, task)?;
    let d = data_of(&req.body)?;
    let text = match (opt_str(&d, "text")?, opt_str(&d, "html_text")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "text: You may only provide one of text or html_text",
            ))
        }
        (Some(t), None) => t,
        (None, Some(h)) => rich_to_plain("html_text", &h)?,
        (None, None) => return Err(ApiError::bad("text: Missing input")),
    };
    if text.trim().is_empty() {
        return Err(ApiError::bad("text: Cannot be empty"));
    }
    let pinned = opt_bool(&d, "is_pinned")?.unwrap_or(false);
    let gid = state.add_story(task, "comment_added", text, pinned, Vec::new());
    let body = single(state, req, Kind::Story, &gid);
    Ok(ApiResponse::created(
        body,
        location(state, Kind::Story, &gid),
    ))
}

// ---------------------------------------------------------------------------
// Sections

fn create_section(state: &mut State, req: &ApiRequest, project: &str) -> Res {
    path_obj(state, Kind::Project, project)?;
    let d = data_of(&req.body)?;
    let name = req_str(&d, "name")?;
    if name.trim().is_empty() {
        return Err(ApiError::bad("name: Cannot be empty"));
    }
    let sections = state
        .projects
        .get(project)
        .map(|p| p.sections.clone())
        .unwrap_or_default();
    let pos = position_input(&d, &sections, Position::End)?;
    let gid = state.add_section(project, &name, &pos);
    let body = single(state, req, Kind::Section, &gid);
    Ok(ApiResponse::created(
        body,
        location(state, Kind::Section, &gid),
    ))
}

fn update_section(state: &mut State, req: &ApiRequest, section: &str) -> Res {
    path_obj(state, Kind::Section, section)?;
    let d = data_of(&req.body)?;
    if let Some(name) = opt_str(&d, "name")? {
        if name.trim().is_empty() {
            return Err(ApiError::bad("name: Cannot be empty"));
        }
        if let Some(s) = state.sections.get_mut(section) {
            s.name = name;
        }
    }
    Ok(ApiResponse::data(single(
        state,
        req,
        Kind::Section,
        section,
    )))
}

fn delete_section(state: &mut State, section: &str) -> Res {
    path_obj(state, Kind::Section, section)?;
    let Some(s) = state.sections.get(section) else {
        return Err(missing(Kind::Section, section));
    };
    if !s.tasks.is_empty() {
        return Err(ApiError::bad("section: Only empty sections can be deleted"));
    }
    let project = s.project.clone();
    if state
        .projects
        .get(&project)
        .is_some_and(|p| p.sections.len() <= 1)
    {
        return Err(ApiError::bad(
            "section: The last section of a project cannot be deleted",
        ));
    }
    state.sections.remove(section);
    if let Some(p) = state.projects.get_mut(&project) {
        p.sections.retain(|x| x != section);
    }
    Ok(ApiResponse::data(json!({})))
}

fn add_task_to_section(state: &mut State, req: &ApiRequest, section: &str) -> Res {
    path_obj(state, Kind::Section, section)?;
    let d = data_of(&req.body)?;
    let task = req_str(&d, "task")?;
    let Some(t) = state.tasks.get(&task) else {
        return Err(unknown_ref("task", &task));
    };
    let project = state
        .sections
        .get(section)
        .map(|s| s.project.clone())
        .unwrap_or_default();
    if state
        .projects
        .get(&project)
        .is_some_and(|p| p.workspace != t.workspace)
    {
        return Err(ApiError::bad(format!(
            "task: Task {task} is not in the section's workspace"
        )));
    }
    let tasks = state
        .sections
        .get(section)
        .map(|s| s.tasks.clone())
        .unwrap_or_default();
    let pos = position_input(&d, &tasks, Position::Start)?;
    state.place_task(&task, section, &pos, true);
    Ok(ApiResponse::data(json!({})))
}

// ---------------------------------------------------------------------------
// Tags

fn list_tags(state: &State, req: &ApiRequest, workspace: &str) -> Res {
    let gids = state
        .tags
        .iter()
        .filter(|(_, t)| t.workspace == workspace)
        .map(|(g, _)| g.clone())
        .collect();
    list(state, req, Kind::Tag, gids)
}

fn create_tag(state: &mut State, req: &ApiRequest, workspace: Option<&str>) -> Res {
    let d = data_of(&req.body)?;
    let workspace = match (workspace, opt_str(&d, "workspace")?) {
        (Some(w), Some(b)) if w != b => {
            return Err(ApiError::bad(format!(
                "workspace: Does not match the workspace in the path: {b}"
            )))
        }
        (Some(w), _) => w.to_string(),
        (None, Some(b)) => b,
        (None, None) => return Err(ApiError::bad("workspace: Missing input")),
    };
    if !state.workspaces.contains_key(&workspace) {
        return Err(unknown_ref("workspace", &workspace));
    }
    let name = opt_str(&d, "name")?.unwrap_or_default();
    let notes = opt_str(&d, "notes")?.unwrap_or_default();
    let color = opt_nullable_str(&d, "color")?.flatten();
    if let Some(c) = &color {
        if !TAG_COLORS.contains(&c.as_str()) {
            return Err(ApiError::bad(format!("color: Not a valid color: {c}")));
        }
    }
    let gid = state.gid();
    let now = state.now();
    state.tags.insert(
        gid.clone(),
        crate::model::Tag {
            name,
            workspace,
            color,
            notes,
            created_at: now,
        },
    );
    let body = single(state, req, Kind::Tag, &gid);
    Ok(ApiResponse::created(body, location(state, Kind::Tag, &gid)))
}

// ---------------------------------------------------------------------------
// Events

fn events(state: &mut State, req: &ApiRequest) -> Res {
    let params = Params(&req.query);
    let resource = params
        .get("resource")
        .ok_or_else(|| ApiError::bad("resource: Missing input"))?
        .to_string();
    if !(state.projects.contains_key(&resource)
        || state.tasks.contains_key(&resource)
        || state.sections.contains_key(&resource))
    {
        return Err(unknown_ref("resource", &resource));
    }
    let cursor = params
        .get("sync")
        .and_then(|s| state.sync_tokens.get(s))
        .filter(|c| c.resource == resource)
        .map(|c| c.pos);
    let Some(pos) = cursor else {
        let end = state.events.len();
        let token = state.new_sync_token(&resource, end);
        let mut body = error_body(412, SYNC_MESSAGE);
        body["sync"] = json!(token);
        return Ok(ApiResponse {
            status: 412,
            body,
            location: None,
        });
    };
    let mut data = Vec::new();
    let mut next = state.events.len();
    let mut has_more = false;
    for (i, e) in state.events.iter().enumerate().skip(pos) {
        if !e.scopes.contains(&resource) {
            continue;
        }
        if data.len() == EVENTS_PAGE {
            has_more = true;
            next = i;
            break;
        }
        data.push(e.json.clone());
    }
    let token = state.new_sync_token(&resource, next);
    Ok(ApiResponse::ok(
        json!({"data": data, "sync": token, "has_more": has_more}),
    ))
}

// ---------------------------------------------------------------------------
// Batch

/// Number of actions in a batch body (for rate limiting); 1 when unreadable.
pub(crate) fn batch_cost(body: &Body) -> u32 {
    match body {
        Body::Json(v) => v
            .pointer("/data/actions")
            .and_then(Value::as_array)
            .map_or(1, |a| a.len().clamp(1, MAX_BATCH_ACTIONS) as u32),
        _ => 1,
    }
}

/// `(upper-case method, relative path)` of each action of a batch body, as far as
/// readable (for the request log and the concurrent-request limits).
pub(crate) fn batch_actions(body: &Body) -> Vec<(String, String)> {
    let Body::Json(v) = body else {
        return Vec::new();
    };
    v.pointer("/data/actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_BATCH_ACTIONS)
        .map(|a| {
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (text("method").to_ascii_uppercase(), text("relative_path"))
        })
        .collect()
}

fn batch(state: &mut State, req: &ApiRequest) -> Res {
    let d = data_of(&req.body)?;
    let actions = match d.get("actions") {
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Err(wrong_type("actions", "an array", other)),
        None => return Err(ApiError::bad("actions: Missing input")),
    };
    if actions.is_empty() {
        return Err(ApiError::bad("actions: Must contain at least one action"));
    }
    if actions.len() > MAX_BATCH_ACTIONS {
        return Err(ApiError::bad(format!(
            "actions: At most {MAX_BATCH_ACTIONS} actions are allowed, got {}",
            actions.len()
        )));
    }
    // Validate every action before running any.
    let mut requests = Vec::new();
    for a in &actions {
        let Value::Object(a) = a else {
            return Err(wrong_type("actions[]", "an object", a));
        };
        let rel = req_str(a, "relative_path")
            .map_err(|e| ApiError::bad(format!("actions[].{}", e.message)))?;
        let method = req_str(a, "method")
            .map_err(|e| ApiError::bad(format!("actions[].{}", e.message)))?
            .to_ascii_uppercase();
        if !["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"].contains(&method.as_str()) {
            return Err(ApiError::bad(format!(
                "actions[].method: Not a valid method: {method}"
            )));
        }
        let (path, qs) = rel.split_once('?').unwrap_or((rel.as_str(), ""));
        if !path.starts_with('/') {
            return Err(ApiError::bad(format!(
                "actions[].relative_path: Must start with /: {rel}"
            )));
        }
        let mut query: Vec<(String, String)> = serde_urlencoded::from_str(qs).unwrap_or_default();
        let data = match a.get("data") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m.clone()),
            Some(other) => return Err(wrong_type("actions[].data", "an object", other)),
        };
        match a.get("options") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    let val = match (k.as_str(), v) {
                        ("fields", Value::Array(f)) => {
                            let names: Vec<&str> = f.iter().filter_map(Value::as_str).collect();
                            query.push(("opt_fields".into(), names.join(",")));
                            continue;
                        }
                        (_, Value::String(s)) => s.clone(),
                        (_, other) => other.to_string(),
                    };
                    let key = match k.as_str() {
                        "limit" | "offset" => k.clone(),
                        other => format!("opt_{other}"),
                    };
                    query.push((key, val));
                }
            }
            Some(other) => return Err(wrong_type("actions[].options", "an object", other)),
        }
        let body = match (method.as_str(), data) {
            ("GET" | "HEAD", data) => {
                for (k, v) in data.unwrap_or_default() {
                    let val = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    query.push((k, val));
                }
                Body::None
            }
            // A DELETE takes no body: `data` on one is refused like a body.
            ("DELETE", None) => Body::None,
            (_, Some(m)) => Body::Json(json!({ "data": m })),
            (_, None) => Body::Json(json!({ "data": {} })),
        };
        let method = if method == "HEAD" {
            "GET".to_string()
        } else {
            method
        };
        requests.push(ApiRequest {
            method,
            path: path.to_string(),
            query,
            body,
        });
    }
    let mut results = Vec::new();
    for r in &requests {
        let resp = if r.path.trim_end_matches('/') == "/batch" {
            ApiError::bad("relative_path: Batch requests cannot be nested").into()
        } else {
            dispatch(state, r)
        };
        let mut headers = Map::new();
        if let Some(loc) = resp.location {
            headers.insert("location".into(), json!(loc));
        }
        results.push(json!({
            "status_code": resp.status,
            "headers": headers,
            "body": resp.body,
        }));
    }
    Ok(ApiResponse::data(Value::Array(results)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_reject_garbage() {
        for i in [0usize, 1, 99, 12345] {
            assert_eq!(decode_offset(&encode_offset(i, 0), 0), Some(i));
            assert_eq!(decode_offset(&encode_offset(i, 0), 1), None, "expired");
            assert_eq!(decode_offset(&encode_offset(i, 3), 3), Some(i));
        }
        assert_eq!(decode_offset("0", 0), None);
        assert_eq!(decode_offset("eyJ0ax0", 0), None);
        assert_eq!(decode_offset("", 0), None);
    }

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
