//! Stories: comments added to a task (`POST /tasks/{gid}/stories`).

use super::input::{data_of, opt_bool, opt_str, path_obj, rich_to_plain};
use super::query::{location, single};
use crate::model::{Kind, State};
use crate::request::{ApiError, ApiRequest, ApiResponse, Res};

pub(super) fn create_story(state: &mut State, req: &ApiRequest, task: &str) -> Res {
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
