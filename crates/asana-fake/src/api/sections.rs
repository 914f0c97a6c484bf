//! Sections: creation, renaming, deletion and moving a task into one.

use serde_json::json;

use super::input::{data_of, missing, opt_str, path_obj, position_input, req_str, unknown_ref};
use super::query::{location, single};
use crate::model::{Kind, Position, State};
use crate::request::{ApiError, ApiRequest, ApiResponse, Res};

pub(super) fn create_section(state: &mut State, req: &ApiRequest, project: &str) -> Res {
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

pub(super) fn update_section(state: &mut State, req: &ApiRequest, section: &str) -> Res {
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

pub(super) fn delete_section(state: &mut State, section: &str) -> Res {
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

pub(super) fn add_task_to_section(state: &mut State, req: &ApiRequest, section: &str) -> Res {
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
