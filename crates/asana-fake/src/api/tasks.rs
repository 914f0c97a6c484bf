//! Tasks: listing with filters, creation, updates (name, notes, completion,
//! assignee, due date, custom fields), tags and project membership.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::custom_fields;
use super::input::{
    data_of, opt_bool, opt_nullable_str, opt_str, opt_str_array, parse_time, path_obj,
    position_input, req_str, rich_to_plain, unknown_ref, wrong_type,
};
use super::query::{list, location, single, Params};
use crate::model::{Due, Kind, Position, State, Task};
use crate::request::{ApiError, ApiRequest, ApiResponse, Res};

/// Applies `completed_since` and `modified_since` to a task list.
pub(super) fn filter_tasks(
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

pub(super) fn get_tasks(state: &State, req: &ApiRequest) -> Res {
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

pub(super) fn create_task(state: &mut State, req: &ApiRequest) -> Res {
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

pub(super) fn update_task(state: &mut State, req: &ApiRequest, gid: &str) -> Res {
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

pub(super) fn task_tag(state: &mut State, req: &ApiRequest, task: &str, add: bool) -> Res {
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

pub(super) fn add_project(state: &mut State, req: &ApiRequest, task: &str) -> Res {
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

pub(super) fn remove_project(state: &mut State, req: &ApiRequest, task: &str) -> Res {
    path_obj(state, Kind::Task, task)?;
    let d = data_of(&req.body)?;
    let project = req_str(&d, "project")?;
    if !state.projects.contains_key(&project) {
        return Err(unknown_ref("project", &project));
    }
    state.remove_task_from_project(task, &project);
    Ok(ApiResponse::data(json!({})))
}
