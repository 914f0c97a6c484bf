//! Tags: listing a workspace's tags and creating one.

use super::input::{data_of, opt_nullable_str, opt_str, unknown_ref};
use super::query::{list, location, single};
use crate::model::{Kind, State};
use crate::request::{ApiError, ApiRequest, ApiResponse, Res};

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

pub(super) fn list_tags(state: &State, req: &ApiRequest, workspace: &str) -> Res {
    let gids = state
        .tags
        .iter()
        .filter(|(_, t)| t.workspace == workspace)
        .map(|(g, _)| g.clone())
        .collect();
    list(state, req, Kind::Tag, gids)
}

pub(super) fn create_tag(state: &mut State, req: &ApiRequest, workspace: Option<&str>) -> Res {
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
