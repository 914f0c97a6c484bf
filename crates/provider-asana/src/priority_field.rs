//! Priority in an enum custom field (`asana_priority_field`): finding the field and its
//! options among the project's custom field settings, and the findings that say what to
//! fix. Shared by the provider (which caches what it finds) and `ticket doctor`.

use serde_json::Value;
use ticket_provider_api::{Error, ErrorKind, Priority};

use crate::config::AsanaSettings;
use crate::remote::str_field;

/// `opt_fields` of `GET /projects/{gid}/custom_field_settings` (each in the spec's
/// `opt_fields` enum of getCustomFieldSettingsForProject).
pub(crate) const SETTINGS_FIELDS: &str = "custom_field.name,custom_field.resource_subtype,custom_field.precision,custom_field.enum_options.name,custom_field.enum_options.enabled";

/// A custom field of the project, as its setting lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectField {
    pub gid: String,
    pub name: String,
    /// `enum`, `text`, `number`, ...
    pub subtype: String,
    /// Digits after the point (number fields).
    pub precision: Option<u32>,
    pub options: Vec<FieldOption>,
}

/// An enum option of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldOption {
    pub gid: String,
    pub name: String,
    pub enabled: bool,
}

/// The fields of a `custom_field_settings` listing (entries without a field gid are left
/// out).
pub(crate) fn project_fields(listing: &[Value]) -> Vec<ProjectField> {
    listing
        .iter()
        .filter_map(|setting| {
            let f = setting.get("custom_field")?;
            Some(ProjectField {
                gid: str_field(f, "gid")?.to_string(),
                name: str_field(f, "name").unwrap_or_default().to_string(),
                subtype: str_field(f, "resource_subtype")
                    .unwrap_or_default()
                    .to_string(),
                precision: f.get("precision").and_then(Value::as_u64).map(|p| p as u32),
                options: f
                    .get("enum_options")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|o| {
                        Some(FieldOption {
                            gid: str_field(o, "gid")?.to_string(),
                            name: str_field(o, "name").unwrap_or_default().to_string(),
                            enabled: o.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                        })
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Whether a custom field (`gid`, `name`) is the one configured as `wanted` (its gid, or
/// its name, the exact one or, since Asana keeps names unique in a workspace regardless of
/// case, ignoring ASCII case).
pub(crate) fn is_wanted(gid: &str, name: &str, wanted: &str) -> bool {
    gid == wanted || name == wanted || name.eq_ignore_ascii_case(wanted)
}

/// The configured field among `fields`: the one with `known_gid` (cached, so a renamed
/// field is still found), else the one [`is_wanted`] names (gid first, then exact name).
pub(crate) fn find_field<'a>(
    fields: &'a [ProjectField],
    wanted: &str,
    known_gid: Option<&str>,
) -> Option<&'a ProjectField> {
    known_gid
        .and_then(|g| fields.iter().find(|f| f.gid == g))
        .or_else(|| fields.iter().find(|f| f.gid == wanted))
        .or_else(|| fields.iter().find(|f| f.name == wanted))
        .or_else(|| fields.iter().find(|f| is_wanted(&f.gid, &f.name, wanted)))
}

/// What a field offers for one option name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptionFound<'a> {
    /// An enabled option of that name.
    Enabled(&'a FieldOption),
    /// Only a disabled one.
    Disabled(&'a FieldOption),
    /// None at all.
    Missing,
}

/// The option named `name` (exactly, else ignoring ASCII case); an enabled one wins over a
/// disabled one of the same name.
pub(crate) fn find_option<'a>(field: &'a ProjectField, name: &str) -> OptionFound<'a> {
    let exact = |o: &&FieldOption| o.name == name;
    let loose = |o: &&FieldOption| o.name.eq_ignore_ascii_case(name);
    let enabled = field.options.iter().filter(|o| o.enabled);
    if let Some(o) = enabled
        .clone()
        .find(exact)
        .or_else(|| enabled.clone().find(loose))
    {
        return OptionFound::Enabled(o);
    }
    match field
        .options
        .iter()
        .find(exact)
        .or_else(|| field.options.iter().find(loose))
    {
        Some(o) => OptionFound::Disabled(o),
        None => OptionFound::Missing,
    }
}

/// A finding about the priority field, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// What is wrong.
    pub detail: String,
    /// What to do.
    pub fix: String,
    /// The kind of the error a write reports.
    pub kind: ErrorKind,
}

impl Problem {
    /// The error a write reports: the finding and its fix in one message.
    pub(crate) fn into_error(self) -> Error {
        Error::new(self.kind, format!("{}; {}", self.detail, self.fix))
    }
}

/// The setting named in messages.
const FIELD_KEY: &str = "homechoice.ticket.asana_priority_field";

/// The configured field is not on the project.
pub(crate) fn not_on_project(wanted: &str, project: &str, fields: &[ProjectField]) -> Problem {
    let on = if fields.is_empty() {
        "it has no custom fields".to_string()
    } else {
        let names: Vec<String> = fields.iter().map(|f| format!("{:?}", f.name)).collect();
        format!("its custom fields are {}", names.join(", "))
    };
    Problem {
        detail: format!(
            "the Asana custom field {wanted:?} ({FIELD_KEY}) is not on project {project} ({on})"
        ),
        fix: format!(
            "add the field {wanted:?} to the project in Asana's project settings (Customize > Fields), or set {FIELD_KEY} to a field of the project, or remove {FIELD_KEY} to keep priority in tags"
        ),
        kind: ErrorKind::Config,
    }
}

/// The configured field is not an enum (single-select) field.
pub(crate) fn not_enum(field: &ProjectField, project: &str) -> Problem {
    let subtype = if field.subtype.is_empty() {
        "an unknown kind of"
    } else {
        field.subtype.as_str()
    };
    Problem {
        detail: format!(
            "the Asana custom field {:?} ({}) on project {project} is a {subtype} field, not a single-select (enum) field",
            field.name, field.gid
        ),
        fix: format!(
            "set {FIELD_KEY} to a single-select field whose options are the priorities, or remove it to keep priority in tags"
        ),
        kind: ErrorKind::Config,
    }
}

/// The option of `priority` is not among the field's options.
pub(crate) fn option_missing(field: &ProjectField, priority: Priority, option: &str) -> Problem {
    let names: Vec<String> = field
        .options
        .iter()
        .filter(|o| o.enabled)
        .map(|o| format!("{:?}", o.name))
        .collect();
    let has = if names.is_empty() {
        "no enabled options".to_string()
    } else {
        format!("the options {}", names.join(", "))
    };
    Problem {
        detail: format!(
            "the Asana custom field {:?} has no option {option:?} for priority {priority} (it has {has})",
            field.name
        ),
        fix: format!(
            "add the option {option:?} to the field {:?} in Asana, or map priority {priority} to an existing option with homechoice.ticket.asana_priority_options.{priority}",
            field.name
        ),
        kind: ErrorKind::Config,
    }
}

/// The option of `priority` exists but is disabled.
pub(crate) fn option_disabled(field: &ProjectField, priority: Priority, option: &str) -> Problem {
    Problem {
        detail: format!(
            "the option {option:?} of the Asana custom field {:?} (priority {priority}) is disabled",
            field.name
        ),
        fix: format!(
            "enable the option {option:?} of the field {:?} in Asana, or map priority {priority} to another option with homechoice.ticket.asana_priority_options.{priority}",
            field.name
        ),
        kind: ErrorKind::Config,
    }
}

/// Asana answered 402: the workspace's plan has no custom fields.
pub(crate) fn no_custom_fields_plan() -> Problem {
    Problem {
        detail: "Asana refused custom fields (402 Payment Required): this workspace's plan has no custom fields".to_string(),
        fix: format!(
            "remove {FIELD_KEY} to keep priority in tags (or move the project to a plan with custom fields)"
        ),
        kind: ErrorKind::Unsupported,
    }
}

/// The problem with the option of `priority` in `field`, or its gid.
pub(crate) fn option_of(
    settings: &AsanaSettings,
    field: &ProjectField,
    priority: Priority,
) -> Result<String, Problem> {
    let name = settings.option_name(priority);
    match find_option(field, &name) {
        OptionFound::Enabled(o) => Ok(o.gid.clone()),
        OptionFound::Disabled(_) => Err(option_disabled(field, priority, &name)),
        OptionFound::Missing => Err(option_missing(field, priority, &name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing() -> Vec<Value> {
        vec![
            json!({"gid": "s1", "custom_field": {"gid": "10", "name": "Priority", "resource_subtype": "enum",
            "enum_options": [
                {"gid": "11", "name": "Low", "enabled": true},
                {"gid": "12", "name": "high", "enabled": true},
                {"gid": "13", "name": "Urgent", "enabled": false},
                {"gid": "14", "name": "Urgent", "enabled": true},
                {"gid": "15", "name": "Normal", "enabled": false},
            ]}}),
            json!({"gid": "s2", "custom_field": {"gid": "20", "name": "Notes", "resource_subtype": "text"}}),
            json!({"gid": "s3"}),
        ]
    }

    #[test]
    fn fields_are_found_by_cached_gid_gid_or_name() {
        let fields = project_fields(&listing());
        assert_eq!(fields.len(), 2);
        assert_eq!(find_field(&fields, "Priority", None).unwrap().gid, "10");
        assert_eq!(find_field(&fields, "priority", None).unwrap().gid, "10");
        assert_eq!(find_field(&fields, "20", None).unwrap().name, "Notes");
        // Renamed in Asana: still found by the cached gid.
        assert_eq!(
            find_field(&fields, "Severity", Some("10")).unwrap().gid,
            "10"
        );
        assert!(find_field(&fields, "Severity", Some("99")).is_none());
        assert!(find_field(&fields, "Severity", None).is_none());
    }

    #[test]
    fn options_prefer_enabled_and_exact_names() {
        let fields = project_fields(&listing());
        let f = &fields[0];
        assert!(matches!(find_option(f, "Low"), OptionFound::Enabled(o) if o.gid == "11"));
        assert!(matches!(find_option(f, "High"), OptionFound::Enabled(o) if o.gid == "12"));
        assert!(matches!(find_option(f, "Urgent"), OptionFound::Enabled(o) if o.gid == "14"));
        assert!(matches!(find_option(f, "Normal"), OptionFound::Disabled(o) if o.gid == "15"));
        assert_eq!(find_option(f, "Medium"), OptionFound::Missing);
    }

    #[test]
    fn findings_name_what_to_fix() {
        let fields = project_fields(&listing());
        let p = not_on_project("Prio", "77", &fields);
        assert!(
            p.detail.contains("\"Prio\"") && p.detail.contains("77"),
            "{p:?}"
        );
        assert!(p.detail.contains("\"Notes\""), "{p:?}");
        assert!(p.fix.contains("project settings"), "{p:?}");
        let p = not_enum(&fields[1], "77");
        assert!(p.detail.contains("text field"), "{p:?}");
        let p = option_missing(&fields[0], Priority::Normal, "Medium");
        assert!(p.detail.contains("\"Medium\"") && p.detail.contains("\"Priority\""));
        assert!(p.fix.contains("asana_priority_options.normal"), "{p:?}");
        let p = option_disabled(&fields[0], Priority::Normal, "Normal");
        assert!(p.detail.contains("disabled") && p.detail.contains("\"Priority\""));
        let e = no_custom_fields_plan().into_error();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(
            e.to_string()
                .contains("402 Payment Required): this workspace's plan has no custom fields; remove homechoice.ticket.asana_priority_field to keep priority in tags"),
            "{e}"
        );
    }
}
