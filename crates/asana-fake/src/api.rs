//! The Asana REST API proper: routing of `/api/1.0` requests to one handler
//! module per resource family.
//!
//! [`dispatch`] is synchronous and works on the locked [`State`]; the HTTP
//! layer (auth, rate limits, faults, latency) lives in `server.rs`, the spec
//! check in `strict.rs`, and the request types all three share in
//! `request.rs`. The handlers: `tasks`, `stories`, `sections`, `tags`,
//! `custom_fields` (fields, enum options, project settings), `events` (the
//! Events API), `webhooks` (the Webhooks API; the handshake and the deliveries
//! are the server's, in `hooks.rs`) and `batch` (the Batch API, which answers each action through
//! [`dispatch`]). `input` validates bodies and path gids; `query` reads query
//! parameters, paginates and renders.

mod batch;
mod custom_fields;
mod events;
mod input;
mod query;
mod sections;
mod stories;
mod tags;
mod tasks;
mod webhooks;

use serde_json::{json, Value};

use self::batch::batch;
pub(crate) use self::batch::{batch_actions, batch_cost};
use self::events::events;
use self::input::{path_obj, unknown_ref};
use self::query::{list, single, Params};
use self::sections::{add_task_to_section, create_section, delete_section, update_section};
use self::stories::create_story;
use self::tags::{create_tag, list_tags};
use self::tasks::{
    add_project, create_task, filter_tasks, get_tasks, remove_project, task_tag, update_task,
};
use crate::model::{Kind, State};
use crate::render::{render, Fields};
use crate::request::{ApiError, ApiRequest, ApiResponse, Res};
use crate::strict;

pub(crate) use self::webhooks::{finish_create, NewWebhook};

/// The checks `POST /webhooks` passes before its handshake: the spec's (as for every
/// request) and the handler's (see `webhooks::prepare_create`).
pub(crate) fn prepare_webhook(state: &State, req: &ApiRequest) -> Result<NewWebhook, ApiResponse> {
    strict::check(req).map_err(|m| ApiResponse::from(ApiError::bad(m)))?;
    webhooks::prepare_create(state, req).map_err(ApiResponse::from)
}

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
        ("PUT", ["custom_fields", f]) => custom_fields::update_field(state, req, f),
        ("DELETE", ["custom_fields", f]) => custom_fields::delete_field(state, f),
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
        ("GET", ["webhooks"]) => webhooks::list_webhooks(state, req),
        // The server creates webhooks itself: the handshake needs the request's own
        // connection, which a batch action does not have.
        ("POST", ["webhooks"]) => Err(ApiError::bad(
            "POST /webhooks cannot be a batch action in the fake; send it on its own",
        )),
        ("GET", ["webhooks", w]) => {
            path_obj(state, Kind::Webhook, w)?;
            Ok(ApiResponse::data(single(state, req, Kind::Webhook, w)))
        }
        ("PUT", ["webhooks", w]) => webhooks::update_webhook(state, req, w),
        ("DELETE", ["webhooks", w]) => webhooks::delete_webhook(state, w),
        ("POST", ["batch"]) => batch(state, req, dispatch),
        _ => Err(ApiError::not_found("No matching route for request")),
    }
}
