//! The Webhooks API: the checks of `POST /webhooks` before and after its
//! handshake (which `hooks.rs` makes, outside the state's lock), `GET
//! /webhooks`, and `GET|PUT|DELETE /webhooks/{gid}`; and the rule of which
//! targets the fake delivers to.

use std::net::IpAddr;

use reqwest::Url;
use serde_json::{json, Map, Value};

use super::input::{data_of, path_obj, req_str, unknown_ref, wrong_type};
use super::query::{list, location, single, Params};
use crate::model::{Action, Filter, Health, Kind, State, Webhook};
use crate::request::{ApiError, ApiRequest, ApiResponse, Res};

/// Asana's answer to a second webhook on the same resource and target.
const DUPLICATE: &str = "Duplicated webhook. You already have an existing webhook for the \
given resource and target. Delete the old one before creating another.";

/// A webhook asked for and checked, waiting for its handshake.
pub(crate) struct NewWebhook {
    pub resource: String,
    pub resource_kind: Kind,
    pub target: String,
    pub filters: Vec<Filter>,
}

/// Checks a webhook target: an `http(s)` URL, and, since the fake never connects
/// outside loopback and has no TLS, a plain `http://` URL on a loopback address.
/// `localhost` by name is refused with 403, as Asana refuses it.
pub(crate) fn check_target(target: &str) -> Result<(), ApiError> {
    let url = Url::parse(target)
        .map_err(|_| ApiError::bad(format!("target: Not a valid URL: {target}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::bad(format!(
            "target: Must be an https URL: {target}"
        )));
    }
    let host = url.host_str().unwrap_or_default();
    if host.eq_ignore_ascii_case("localhost") {
        return Err(ApiError::forbidden(format!(
            "target: Invalid hostname: {host} (the fake takes loopback addresses such as \
             127.0.0.1 instead)"
        )));
    }
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(ApiError::forbidden(format!(
            "target: The fake delivers only to loopback addresses (127.0.0.0/8, [::1]): {target}"
        )));
    }
    if url.scheme() == "https" {
        return Err(ApiError::bad(format!(
            "target: The fake has no TLS: use a plain http:// loopback URL instead of {target}"
        )));
    }
    Ok(())
}

/// Reads `filters` (an array of `WebhookFilter`).
fn filters_input(v: &Value) -> Result<Vec<Filter>, ApiError> {
    let Value::Array(items) = v else {
        return Err(wrong_type("filters", "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("filters[{i}]");
            let Value::Object(m) = item else {
                return Err(wrong_type(&at, "an object", item));
            };
            let text = |k: &str| -> Result<Option<String>, ApiError> {
                match m.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(other) => Err(wrong_type(&format!("{at}.{k}"), "a string", other)),
                }
            };
            let action = match text("action")? {
                None => None,
                Some(a) => Some(Action::parse(&a).ok_or_else(|| {
                    let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                    ApiError::bad(format!("{at}.action: Not one of {}: {a}", names.join(", ")))
                })?),
            };
            let fields = match m.get("fields") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(fs)) => fs
                    .iter()
                    .map(|f| match f {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(wrong_type(&format!("{at}.fields[]"), "a string", other)),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => return Err(wrong_type(&format!("{at}.fields"), "an array", other)),
            };
            if !fields.is_empty() && action != Some(Action::Changed) {
                return Err(ApiError::bad(format!(
                    "{at}.fields: Only valid in a filter whose action is \"changed\""
                )));
            }
            Ok(Filter {
                resource_type: text("resource_type")?,
                resource_subtype: text("resource_subtype")?,
                action,
                fields,
            })
        })
        .collect()
}

/// What a webhook may follow: a project or a task of the fake.
fn resource_kind(state: &State, resource: &str) -> Result<Kind, ApiError> {
    if state.projects.contains_key(resource) {
        return Ok(Kind::Project);
    }
    if state.tasks.contains_key(resource) {
        return Ok(Kind::Task);
    }
    let other = [
        (Kind::Workspace, state.workspaces.contains_key(resource)),
        (Kind::Section, state.sections.contains_key(resource)),
        (Kind::Tag, state.tags.contains_key(resource)),
        (Kind::User, state.users.contains_key(resource)),
        (Kind::Story, state.stories.contains_key(resource)),
    ];
    match other.iter().find(|(_, found)| *found) {
        Some((kind, _)) => Err(ApiError::bad(format!(
            "resource: The fake models webhooks on projects and tasks only; {resource} is a {}",
            kind.as_str()
        ))),
        None => Err(unknown_ref("resource", resource)),
    }
}

fn duplicate(state: &State, resource: &str, target: &str) -> Result<(), ApiError> {
    if state
        .webhooks
        .values()
        .any(|w| w.resource == resource && w.target == target)
    {
        return Err(ApiError::forbidden(DUPLICATE));
    }
    Ok(())
}

/// The checks of `POST /webhooks` before its handshake: the body, the resource, the
/// filters, the target, and no webhook on the same resource and target yet.
pub(crate) fn prepare_create(state: &State, req: &ApiRequest) -> Result<NewWebhook, ApiError> {
    let d = data_of(&req.body)?;
    let resource = req_str(&d, "resource")?;
    let target = req_str(&d, "target")?;
    let resource_kind = resource_kind(state, &resource)?;
    let filters = match d.get("filters") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => filters_input(v)?,
    };
    check_target(&target)?;
    duplicate(state, &resource, &target)?;
    Ok(NewWebhook {
        resource,
        resource_kind,
        target,
        filters,
    })
}

/// Creates the webhook after its handshake succeeded with `secret` (checking again what
/// may have changed meanwhile) and answers `POST /webhooks`: 201, the record, and the
/// secret beside `data`, as the spec's example shows. Returns the new gid too.
pub(crate) fn finish_create(
    state: &mut State,
    req: &ApiRequest,
    new: NewWebhook,
    secret: String,
) -> Result<(String, ApiResponse), ApiError> {
    resource_kind(state, &new.resource)?;
    duplicate(state, &new.resource, &new.target)?;
    let gid = state.gid();
    let created_at = state.now();
    let workspace = match new.resource_kind {
        Kind::Task => state.tasks.get(&new.resource).map(|t| t.workspace.clone()),
        _ => state
            .projects
            .get(&new.resource)
            .map(|p| p.workspace.clone()),
    }
    .unwrap_or_default();
    let cursor = state.events.len();
    state.webhooks.insert(
        gid.clone(),
        Webhook {
            resource: new.resource,
            resource_kind: new.resource_kind,
            workspace,
            target: new.target,
            filters: new.filters,
            secret: secret.clone(),
            created_at,
            health: Health::default(),
            cursor,
        },
    );
    let data = single(state, req, Kind::Webhook, &gid);
    let mut resp = ApiResponse::created(data, location(state, Kind::Webhook, &gid));
    if let Some(o) = resp.body.as_object_mut() {
        o.insert("X-Hook-Secret".into(), json!(secret));
    }
    Ok((gid, resp))
}

/// `GET /webhooks?workspace=..[&resource=..]`: compact records, paginated.
pub(super) fn list_webhooks(state: &State, req: &ApiRequest) -> Res {
    let params = Params(&req.query);
    let ws = params
        .get("workspace")
        .ok_or_else(|| ApiError::bad("workspace: Missing input"))?;
    if !state.workspaces.contains_key(ws) {
        return Err(unknown_ref("workspace", ws));
    }
    let resource = params.get("resource");
    let gids = state
        .webhooks
        .iter()
        .filter(|(_, w)| w.workspace == ws && resource.is_none_or(|r| w.resource == r))
        .map(|(g, _)| g.clone())
        .collect();
    list(state, req, Kind::Webhook, gids)
}

/// `PUT /webhooks/{gid}`: replaces the filters.
pub(super) fn update_webhook(state: &mut State, req: &ApiRequest, gid: &str) -> Res {
    path_obj(state, Kind::Webhook, gid)?;
    let d: Map<String, Value> = data_of(&req.body)?;
    let filters = match d.get("filters") {
        None => return Err(ApiError::bad("filters: Missing input")),
        Some(Value::Null) => Vec::new(),
        Some(v) => filters_input(v)?,
    };
    if let Some(w) = state.webhooks.get_mut(gid) {
        w.filters = filters;
    }
    Ok(ApiResponse::data(single(state, req, Kind::Webhook, gid)))
}

/// `DELETE /webhooks/{gid}`: no delivery starts after it (one in flight may still land).
pub(super) fn delete_webhook(state: &mut State, gid: &str) -> Res {
    path_obj(state, Kind::Webhook, gid)?;
    state.webhooks.remove(gid);
    state.wake_deliverers();
    Ok(ApiResponse::data(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_plain_http_on_loopback() {
        // (target, status of the refusal, or 0 when accepted)
        let table = [
            ("http://127.0.0.1:8080/hook", 0),
            ("http://127.0.0.2:1/x?y=z", 0),
            ("http://[::1]:9000/hook", 0),
            ("https://127.0.0.1:8443/hook", 400),
            ("http://localhost:8080/hook", 403),
            ("https://LOCALHOST/hook", 403),
            ("https://example.com/hook", 403),
            ("http://example.com/hook", 403),
            ("http://10.0.0.1/hook", 403),
            ("http://[2001:db8::1]/hook", 403),
            ("ftp://127.0.0.1/hook", 400),
            ("not a url", 400),
            ("", 400),
        ];
        for (target, want) in table {
            let got = check_target(target).err().map_or(0, |e| e.status);
            assert_eq!(got, want, "{target}");
        }
    }

    #[test]
    fn filters_are_read_and_checked() {
        let ok = json!([{"resource_type": "task", "action": "changed", "fields": ["name"]},
                        {"resource_type": "story", "resource_subtype": "comment_added"}]);
        let got = filters_input(&ok).expect("valid");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].action, Some(Action::Changed));
        assert_eq!(got[0].fields, vec!["name".to_string()]);
        assert_eq!(got[1].resource_subtype.as_deref(), Some("comment_added"));
        // (filters, part of the message)
        let bad = [
            (json!({}), "filters: Expected an array"),
            (json!(["task"]), "filters[0]: Expected an object"),
            (
                json!([{"action": "poked"}]),
                "filters[0].action: Not one of",
            ),
            (
                json!([{"action": "added", "fields": ["name"]}]),
                "filters[0].fields: Only valid",
            ),
            (
                json!([{"fields": ["name"]}]),
                "filters[0].fields: Only valid",
            ),
            (
                json!([{"action": "changed", "fields": "name"}]),
                "filters[0].fields: Expected an array",
            ),
            (
                json!([{"resource_type": 3}]),
                "filters[0].resource_type: Expected a string",
            ),
        ];
        for (v, want) in bad {
            let e = filters_input(&v).expect_err("refused");
            assert!(e.message.starts_with(want), "{v}: {}", e.message);
        }
    }
}
