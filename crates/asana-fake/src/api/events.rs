//! The Events API: `GET /events` with sync tokens, pages of events and the
//! 412 answer that hands out a fresh token.

use serde_json::json;

use super::input::unknown_ref;
use super::query::Params;
use crate::model::State;
use crate::request::{error_body, ApiError, ApiRequest, ApiResponse, Res};

/// Message of the 412 answer of `GET /events`.
const SYNC_MESSAGE: &str = "Sync token invalid or too old. If you are attempting to keep \
resources in sync, you must fetch the full dataset for this query now and use the new sync \
token for the next sync.";

/// Most events returned by one `GET /events` call.
const EVENTS_PAGE: usize = 100;

pub(super) fn events(state: &mut State, req: &ApiRequest) -> Res {
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
