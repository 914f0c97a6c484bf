//! `ticket doctor` for the Asana provider: what is set up, what is missing, and how to fix it.
//!
//! Every finding is a [`Check`]; nothing here fails or writes. Later checks are skipped
//! (and say so) when an earlier one makes them meaningless, e.g. no token.
//!
//! Priority is checked the way it is kept: with priority tags (the default), whether the
//! tags exist (missing ones are created on first use); with `asana_priority_field`, whether
//! the field is on the project and is an enum field ("priority field"), and whether every
//! priority's option exists and is enabled ("priority options"). A plan without custom
//! fields shows when Asana answers the read of the project's custom fields with 402; a
//! plan that lets them be read but not written only shows on the first write (the doctor
//! writes nothing).
//!
//! Every field `asana_fields` maps gets a check "field NAME": the Asana custom field is on
//! the project, its type is the declared one (a number field keeps at least the declared
//! digits), and every declared option exists and is enabled.

use ticket_provider_api::{BoxFuture, BuildContext, Check, Priority, Status};

use crate::config::ASANA_TOKEN_ENV;

use crate::client::{AsanaClient, Request};
use crate::config::AsanaSettings;
use crate::mapped_fields;
use crate::priority_field::{self, Problem};
use crate::remote::str_field;

/// Runs the checks (registered with the provider descriptor).
pub(crate) fn doctor(ctx: BuildContext) -> BoxFuture<'static, Vec<Check>> {
    Box::pin(async move { run(&ctx).await })
}

async fn run(ctx: &BuildContext) -> Vec<Check> {
    let mut checks = Vec::new();
    let project = match ctx.config().require_asana_project() {
        Ok(p) => {
            checks.push(Check::pass("asana_project", format!("project gid {p}")));
            Some(p.to_string())
        }
        Err(e) => {
            checks.push(Check::fail(
                "asana_project",
                e.message().to_string(),
                "set homechoice.ticket.asana_project to the GID of the Asana project (the number in the project's URL)",
            ));
            None
        }
    };
    if ctx.secret(ASANA_TOKEN_ENV).is_some() {
        checks.push(Check::pass("token", format!("{ASANA_TOKEN_ENV} is set")));
    } else {
        checks.push(Check::fail(
            "token",
            format!("{ASANA_TOKEN_ENV} is not set"),
            format!("create a personal access token in Asana (My settings > Apps > Developer apps) and export {ASANA_TOKEN_ENV}"),
        ));
    }
    let Some(project) = project else {
        return checks;
    };
    let settings = match AsanaSettings::from_context(ctx).and_then(|s| s.validate().map(|_| s)) {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::fail(
                "settings",
                e.message().to_string(),
                "fix the setting named above",
            ));
            return checks;
        }
    };
    let client = match AsanaClient::new(&settings) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail(
                "http client",
                e.to_string(),
                "report this as a bug",
            ));
            return checks;
        }
    };

    match client
        .data(&Request::get("/users/me").fields("email,name"))
        .await
    {
        Ok(me) => checks.push(Check::pass(
            "authentication",
            format!(
                "the token works (user {})",
                str_field(&me, "email")
                    .or_else(|| str_field(&me, "name"))
                    .unwrap_or("?")
            ),
        )),
        Err(e) => {
            let fix = match e.status() {
                Some(401) => format!("Asana refused the token: check {ASANA_TOKEN_ENV} (wrong, expired or revoked token)"),
                _ => format!("check that {} is reachable", settings.base_url),
            };
            checks.push(Check::fail("authentication", e.to_string(), fix));
            return checks;
        }
    }

    let workspace = match client
        .data(&Request::get(format!("/projects/{project}")).fields("name,workspace"))
        .await
    {
        Ok(p) => {
            checks.push(Check::pass(
                "project",
                format!(
                    "project {project} ({}) is readable",
                    str_field(&p, "name").unwrap_or("?")
                ),
            ));
            p.get("workspace")
                .and_then(|w| str_field(w, "gid"))
                .map(str::to_string)
        }
        Err(e) => {
            checks.push(Check::fail(
                "project",
                e.to_string(),
                "check homechoice.ticket.asana_project and that the token's user can see the project",
            ));
            return checks;
        }
    };

    match client
        .get_all(Request::get(format!("/projects/{project}/sections")).fields("name"))
        .await
    {
        Ok(sections) => {
            let names: Vec<&str> = sections
                .iter()
                .filter_map(|s| str_field(s, "name"))
                .collect();
            let missing: Vec<String> = Status::ALL
                .into_iter()
                .map(|s| settings.section_name(s))
                .filter(|n| !names.contains(&n.as_str()))
                .collect();
            if missing.is_empty() {
                checks.push(Check::pass("sections", "all 8 status sections exist"));
            } else {
                // Not a fault: the provider creates them on first use.
                checks.push(Check::pass(
                    "sections",
                    format!(
                        "missing sections, created on first use: {} (or map statuses to existing sections with homechoice.ticket.asana_sections)",
                        missing.join(", ")
                    ),
                ));
            }
        }
        Err(e) => checks.push(Check::fail(
            "sections",
            e.to_string(),
            "check that the token's user can read the project",
        )),
    }

    if !settings.asana_fields.is_empty() {
        check_mapped_fields(&client, &settings, &project, &mut checks).await;
    }
    if settings.priority_field.is_some() {
        check_priority_field(&client, &settings, &project, &mut checks).await;
    } else if let Some(ws) = workspace {
        match client
            .get_all(Request::get(format!("/workspaces/{ws}/tags")).fields("name"))
            .await
        {
            Ok(tags) => {
                let names: Vec<&str> = tags.iter().filter_map(|t| str_field(t, "name")).collect();
                let missing: Vec<String> = Priority::ALL
                    .into_iter()
                    .map(|p| settings.tag_name(p))
                    .filter(|n| !names.contains(&n.as_str()))
                    .collect();
                if missing.is_empty() {
                    checks.push(Check::pass("priority tags", "all 4 priority tags exist"));
                } else {
                    checks.push(Check::pass(
                        "priority tags",
                        format!(
                            "missing tags, created on first use: {} (or set homechoice.ticket.asana_priority_tags to existing tags)",
                            missing.join(", ")
                        ),
                    ));
                }
            }
            Err(e) => checks.push(Check::fail(
                "priority tags",
                e.to_string(),
                "check that the token's user can read the workspace's tags",
            )),
        }
    }
    checks
}

/// One check per mapped field ("field NAME"): see [`mapped_fields::binding_problems`].
async fn check_mapped_fields(
    client: &AsanaClient,
    settings: &AsanaSettings,
    project: &str,
    checks: &mut Vec<Check>,
) {
    let req = Request::get(format!("/projects/{project}/custom_field_settings"))
        .fields(priority_field::SETTINGS_FIELDS);
    let listing = match client.get_all(req).await {
        Ok(l) => l,
        Err(e) => {
            let fix = if e.status() == Some(402) {
                "the workspace's plan has no custom fields: remove homechoice.ticket.asana_fields (or move the project to a plan with custom fields)"
            } else {
                "check that the token's user can read the project's custom fields"
            };
            checks.push(Check::fail("fields", e.to_string(), fix));
            return;
        }
    };
    let fields = priority_field::project_fields(&listing);
    for (name, configured) in &settings.asana_fields {
        let check_name = format!("field {name}");
        let Some(ty) = settings.fields.get(name) else {
            checks.push(Check::fail(
                &check_name,
                format!("{name} is not declared in homechoice.ticket.fields"),
                "declare it there or remove it from homechoice.ticket.asana_fields",
            ));
            continue;
        };
        let problems =
            mapped_fields::binding_problems(name, configured, ty, &fields, None, project);
        if problems.is_empty() {
            let field = priority_field::find_field(&fields, configured, None);
            checks.push(Check::pass(
                &check_name,
                format!(
                    "{name} ({}) is kept in the Asana custom field {:?} ({})",
                    ty.name(),
                    field.map_or(configured.as_str(), |f| f.name.as_str()),
                    field.map_or("?", |f| f.gid.as_str())
                ),
            ));
        } else {
            let detail: Vec<String> = problems.iter().map(|p| p.detail.clone()).collect();
            let fix: Vec<String> = problems.iter().map(|p| p.fix.clone()).collect();
            checks.push(Check::fail(&check_name, detail.join("; "), fix.join("; ")));
        }
    }
}

/// The checks of the priority custom field: "priority field" (on the project, an enum
/// field) and "priority options" (every priority's option exists and is enabled).
async fn check_priority_field(
    client: &AsanaClient,
    settings: &AsanaSettings,
    project: &str,
    checks: &mut Vec<Check>,
) {
    let wanted = settings.priority_field.clone().unwrap_or_default();
    let fail = |checks: &mut Vec<Check>, name: &str, p: Problem| {
        checks.push(Check::fail(name, p.detail, p.fix));
    };
    let req = Request::get(format!("/projects/{project}/custom_field_settings"))
        .fields(priority_field::SETTINGS_FIELDS);
    let listing = match client.get_all(req).await {
        Ok(l) => l,
        Err(e) if e.status() == Some(402) => {
            let mut p = priority_field::no_custom_fields_plan();
            p.detail = format!("{} ({e})", p.detail);
            return fail(checks, "priority field", p);
        }
        Err(e) => {
            checks.push(Check::fail(
                "priority field",
                e.to_string(),
                "check that the token's user can read the project's custom fields",
            ));
            return;
        }
    };
    let fields = priority_field::project_fields(&listing);
    let Some(field) = priority_field::find_field(&fields, &wanted, None) else {
        return fail(
            checks,
            "priority field",
            priority_field::not_on_project(&wanted, project, &fields),
        );
    };
    if field.subtype != "enum" {
        return fail(
            checks,
            "priority field",
            priority_field::not_enum(field, project),
        );
    }
    checks.push(Check::pass(
        "priority field",
        format!(
            "priority is kept in the enum custom field {:?} ({}) of the project",
            field.name, field.gid
        ),
    ));
    let mut problems = Vec::new();
    let mut mapping = Vec::new();
    for p in Priority::ALL {
        match priority_field::option_of(settings, field, p) {
            Ok(_) => mapping.push(format!("{p} → {:?}", settings.option_name(p))),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        checks.push(Check::pass(
            "priority options",
            format!(
                "every priority has an enabled option: {}",
                mapping.join(", ")
            ),
        ));
    } else {
        let detail: Vec<String> = problems.iter().map(|p| p.detail.clone()).collect();
        let fix: Vec<String> = problems.iter().map(|p| p.fix.clone()).collect();
        checks.push(Check::fail(
            "priority options",
            detail.join("; "),
            fix.join("; "),
        ));
    }
}
