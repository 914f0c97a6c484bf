//! The Batch API: `POST /batch` validates every action, then answers each one
//! through the router it is given.

use serde_json::{json, Map, Value};

use super::input::{data_of, req_str, wrong_type};
use crate::model::State;
use crate::request::{ApiError, ApiRequest, ApiResponse, Body, Res};

/// Most actions in one batch request.
const MAX_BATCH_ACTIONS: usize = 10;

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

/// Answers a batch request, each action through `dispatch` (the router, handed
/// in so that this module does not depend on its parent).
pub(super) fn batch(
    state: &mut State,
    req: &ApiRequest,
    dispatch: fn(&mut State, &ApiRequest) -> ApiResponse,
) -> Res {
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
