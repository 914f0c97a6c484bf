//! A ticket's custom fields and labels in Asana: the fields `asana_fields` maps to custom
//! fields of the project, and labels as the task's tags apart from the priority tags.
//!
//! * **Binding.** Each mapped field is bound by gid: one `GET
//!   /projects/{gid}/custom_field_settings` finds every mapped field by its cached gid, else
//!   by the configured gid or name, and the gid of every declared option that is enabled.
//!   The binding is cached (and kept between processes), so a field or option renamed in
//!   Asana keeps working, with a warning. A write whose field or option is not bound binds
//!   again (one request); what is still missing is a `Config` error naming the field.
//! * **Values** ([`value_json`]) go in the `custom_fields` object of the create or update
//!   the operation sends anyway: a text, a number, an option gid, an array of option gids,
//!   `{date}` or `{date_time}`, an array of e-mails (Asana takes e-mails for people).
//! * **Reads** ([`Core::decode_fields`]) take the values of the mapped fields from a task's
//!   `custom_fields` by the declared type. An option is read by its bound gid (a renamed
//!   option reads as its declared name); a value outside the declaration (an option not
//!   declared, a person without a readable e-mail) is shown as Asana has it (the option's
//!   name, the user's gid), with a warning once, so that nothing Asana holds is hidden.
//! * **Problems** ([`binding_problems`]) are pure: the write errors and `ticket doctor` give
//!   the same findings.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use reqwest::Method;
use serde_json::{json, Map, Value};
use ticket_provider_api::{
    Decimal, Due, Error, ErrorKind, FieldType, FieldValue, Fields, Labels, Priority, Result,
};

use crate::cache::CachedField;
use crate::client::Request;
use crate::config::AsanaSettings;
use crate::core::{ts, Core, WarnOnce};
use crate::gid_cache::{CachedRef, GidCache};
use crate::lookup::Lookup;
use crate::priority_field::{self, find_field, find_option, OptionFound, Problem, ProjectField};
use crate::remote::str_field;

/// Renamed fields and options, and values outside the declaration, warned about once.
static WARNED: WarnOnce = WarnOnce::new();

/// The source of the error of a write of a custom field that Asana cannot take: the field or
/// one of its options is gone from the project (deleted, disabled, removed from it). A
/// retry cannot help until someone changes Asana or the mapping, so a queue of changes
/// (the `sync` provider) sets such a change aside instead of retrying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableField {
    /// The ticket fields of the refused write (the error's message names the one Asana
    /// lacks).
    pub fields: Vec<String>,
}

impl std::fmt::Display for UnusableField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Asana cannot take the write of {}",
            self.fields.join(", ")
        )
    }
}

impl std::error::Error for UnusableField {}

/// The config key of field `name`'s mapping.
fn key(name: &str) -> String {
    format!("homechoice.ticket.asana_fields.{name}")
}

/// What is wrong with the Asana custom field `configured` that field `name` (declared as
/// `ty`) maps to, given the project's fields: not on the project, of another type, a number
/// field with fewer digits than declared, a declared option missing or disabled. Empty when
/// the field is fit for every declared value.
pub(crate) fn binding_problems(
    name: &str,
    configured: &str,
    ty: &FieldType,
    fields: &[ProjectField],
    known_gid: Option<&str>,
    project: &str,
) -> Vec<Problem> {
    let Some(field) = find_field(fields, configured, known_gid) else {
        let on = if fields.is_empty() {
            "it has no custom fields".to_string()
        } else {
            let names: Vec<String> = fields.iter().map(|f| format!("{:?}", f.name)).collect();
            format!("its custom fields are {}", names.join(", "))
        };
        return vec![Problem {
            detail: format!(
                "the Asana custom field {configured:?} of field {name} ({}) is not on project {project} ({on})",
                key(name)
            ),
            fix: format!(
                "add a {} custom field {configured:?} to the project in Asana (Customize > Fields), or map {name} to a field of the project",
                ty.name()
            ),
            kind: ErrorKind::Config,
        }];
    };
    if field.subtype != ty.name() {
        return vec![Problem {
            detail: format!(
                "the Asana custom field {:?} ({}) of field {name} is a {} field; {name} is declared {}",
                field.name,
                field.gid,
                if field.subtype.is_empty() { "?" } else { &field.subtype },
                ty.name()
            ),
            fix: format!(
                "map {name} ({}) to a {} custom field, or declare it as {} in homechoice.ticket.fields",
                key(name),
                ty.name(),
                field.subtype
            ),
            kind: ErrorKind::Config,
        }];
    }
    let mut problems = Vec::new();
    if let (FieldType::Number { precision }, Some(has)) = (ty, field.precision) {
        if has < *precision {
            problems.push(Problem {
                detail: format!(
                    "the Asana custom field {:?} of field {name} keeps {has} digits after the point; {name} is declared with precision {precision}",
                    field.name
                ),
                fix: format!(
                    "raise the field's precision in Asana to {precision}, or declare {name} with precision {has}"
                ),
                kind: ErrorKind::Config,
            });
        }
    }
    for option in ty.options() {
        let (what, enabled) = match find_option(field, option) {
            OptionFound::Enabled(_) => continue,
            OptionFound::Disabled(_) => ("is disabled", true),
            OptionFound::Missing => ("is missing", false),
        };
        problems.push(Problem {
            detail: format!(
                "the option {option:?} of field {name} {what} in the Asana custom field {:?}",
                field.name
            ),
            fix: if enabled {
                format!("enable the option {option:?} of {:?} in Asana, or remove it from homechoice.ticket.fields.{name}", field.name)
            } else {
                format!("add the option {option:?} to {:?} in Asana, or remove it from homechoice.ticket.fields.{name}", field.name)
            },
            kind: ErrorKind::Config,
        });
    }
    problems
}

/// The JSON of `value` in a task write's `custom_fields`, for the bound `field`; `None`
/// clears. An option not bound is `Err` with the option's name.
pub(crate) fn value_json(
    field: &CachedField,
    value: Option<&FieldValue>,
) -> std::result::Result<Value, String> {
    let option = |o: &String| field.options.get(o).cloned().ok_or_else(|| o.clone());
    Ok(match value {
        None => Value::Null,
        Some(FieldValue::Text(t)) => json!(t),
        Some(FieldValue::Number(n)) => serde_json::to_value(n).unwrap_or(Value::Null),
        Some(FieldValue::Enum(o)) => json!(option(o)?),
        Some(FieldValue::MultiEnum(set)) => Value::Array(
            set.iter()
                .map(option)
                .map(|r| r.map(Value::String))
                .collect::<std::result::Result<_, _>>()?,
        ),
        Some(FieldValue::Date(Due::Date(d))) => json!({ "date": d.format("%Y-%m-%d").to_string() }),
        Some(FieldValue::Date(Due::At(t))) => json!({ "date_time": ts(*t) }),
        Some(FieldValue::People(set)) => json!(set),
    })
}

/// Checks a write's labels: none may be a priority tag's name (those tags carry priority).
pub(crate) fn check_labels<'a>(
    settings: &AsanaSettings,
    labels: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    for label in labels {
        if let Some(p) = Priority::ALL
            .into_iter()
            .find(|p| settings.tag_name(*p) == *label)
        {
            return Err(Error::invalid_input(format!(
                "label {label:?} is the tag of priority {p} (homechoice.ticket.asana_priority_tags); choose another label, or set the priority"
            )));
        }
    }
    Ok(())
}

/// The `custom_fields` object of a write and the cached gids it uses.
#[derive(Debug, Default)]
pub(crate) struct FieldsWrite {
    /// `{field gid: value}`.
    pub body: Map<String, Value>,
    /// The field and option gids used (for [`Core::drop_gone`]).
    pub refs: Vec<CachedRef>,
}

impl Core {
    /// Binds every mapped field (one `GET /projects/{gid}/custom_field_settings`): its gid,
    /// and the gid of each declared option that is enabled. Fields not found are unbound.
    /// Returns the project's fields as listed.
    pub(crate) async fn bind_fields(&self, cache: &mut GidCache) -> Result<Vec<ProjectField>> {
        let req = Request::get(format!(
            "/projects/{}/custom_field_settings",
            self.project()
        ))
        .fields(priority_field::SETTINGS_FIELDS);
        let listing = self.client().get_all(req).await.map_err(|e| match e.status() {
            Some(402) => Error::new(
                ErrorKind::Unsupported,
                "Asana refused custom fields (402 Payment Required): this workspace's plan has no custom fields; remove homechoice.ticket.asana_fields to keep fields out of Asana",
            ),
            _ => e.into_error(),
        })?;
        let fields = priority_field::project_fields(&listing);
        for (name, configured) in &self.settings.asana_fields {
            let Some(ty) = self.settings.fields.get(name) else {
                continue;
            };
            let known = cache.fields.get(name).map(|f| f.gid.clone());
            let Some(field) = find_field(&fields, configured, known.as_deref()) else {
                cache.fields.remove(name);
                continue;
            };
            if !priority_field::is_wanted(&field.gid, &field.name, configured) {
                tracing::warn!(
                    field = %name, field_gid = %field.gid, expected = %configured, found = %field.name,
                    "the Asana custom field of this field was renamed; still using it by gid (rename it back or set {})", key(name)
                );
            }
            let old = cache
                .fields
                .get(name)
                .map(|f| f.options.clone())
                .unwrap_or_default();
            let mut options = BTreeMap::new();
            for declared in ty.options() {
                // A bound option still enabled is kept by gid, renamed or not.
                let kept = old
                    .get(declared)
                    .and_then(|g| field.options.iter().find(|o| o.gid == *g && o.enabled));
                if let Some(o) = kept {
                    if o.name != *declared {
                        tracing::warn!(field = %name, option = %declared, found = %o.name, "an option of this field was renamed in Asana; still using it by gid");
                    }
                    options.insert(declared.clone(), o.gid.clone());
                } else if let OptionFound::Enabled(o) = find_option(field, declared) {
                    options.insert(declared.clone(), o.gid.clone());
                }
            }
            cache.fields.insert(
                name.clone(),
                CachedField {
                    configured: configured.clone(),
                    gid: field.gid.clone(),
                    name: field.name.clone(),
                    subtype: field.subtype.clone(),
                    options,
                },
            );
        }
        Ok(fields)
    }

    /// The `custom_fields` of a write setting (`Some`) or clearing (`None`) `values`: each
    /// field checked against its declaration and mapped, then found by [`Core::lookup`]
    /// ([`FieldsOf`]: bound already, else bound with one request). Errors name the field: an
    /// undeclared or unmapped field is `InvalidInput`, a field or option Asana lacks is
    /// `Config`.
    pub(crate) async fn fields_write(
        &self,
        values: &BTreeMap<String, Option<FieldValue>>,
    ) -> Result<FieldsWrite> {
        if values.is_empty() {
            return Ok(FieldsWrite::default());
        }
        let mut checked = BTreeMap::new();
        for (name, value) in values {
            let value = match value {
                Some(v) => Some(self.settings.fields.check_value(name, v.clone())?),
                None => {
                    self.settings.fields.field(name)?;
                    None
                }
            };
            if !self.settings.asana_fields.contains_key(name) {
                return Err(Error::invalid_input(format!(
                    "field {name:?} is not kept in Asana: map it to a custom field of the project with {}",
                    key(name)
                )));
            }
            checked.insert(name.clone(), value);
        }
        self.lookup(FieldsOf {
            values: &checked,
            settings: &self.settings,
        })
        .await
        .map_err(|e| match e.kind() {
            // A field or option Asana lacks: named by the message; typed for queues.
            ErrorKind::Config => e.with_source(UnusableField {
                fields: checked.keys().cloned().collect(),
            }),
            _ => e,
        })
    }

    /// The tag gid of each label, found by [`Core::lookup`] ([`LabelOf`]): cached, else
    /// among the workspace's tags (listed once), else created when `create` (once; then
    /// cached). With `create` false a label without a tag is left out. Each is returned with
    /// its [`CachedRef`].
    pub(crate) async fn label_tags(
        &self,
        labels: &Labels,
        create: bool,
    ) -> Result<Vec<(String, CachedRef)>> {
        let mut out = Vec::new();
        for label in labels {
            if let Some(gid) = self.lookup(LabelOf { label, create }).await? {
                out.push((gid.clone(), CachedRef::Label(label.clone(), gid)));
            }
        }
        Ok(out)
    }

    /// The values of the mapped fields among a task's `custom_fields` entries, by declared
    /// type (see the module documentation); people by e-mail from `emails`, else gid.
    pub(crate) fn decode_fields(
        &self,
        cache: &GidCache,
        task: &str,
        v: &Value,
        emails: &HashMap<String, String>,
    ) -> Fields {
        let mut out = Fields::new();
        let Some(entries) = v.get("custom_fields").and_then(Value::as_array) else {
            return out;
        };
        for (name, configured) in &self.settings.asana_fields {
            let Some(ty) = self.settings.fields.get(name) else {
                continue;
            };
            let bound = cache.fields.get(name);
            let entry = bound
                .and_then(|b| {
                    entries
                        .iter()
                        .find(|e| str_field(e, "gid") == Some(b.gid.as_str()))
                })
                .or_else(|| {
                    entries.iter().find(|e| {
                        priority_field::is_wanted(
                            str_field(e, "gid").unwrap_or_default(),
                            str_field(e, "name").unwrap_or_default(),
                            configured,
                        )
                    })
                });
            let Some(entry) = entry else { continue };
            let subtype = str_field(entry, "resource_subtype").unwrap_or(ty.name());
            if subtype != ty.name() {
                if WARNED.first(&format!("type {name} {subtype}")) {
                    tracing::warn!(task = %task, field = %name, asana_type = %subtype, declared = %ty.name(), "the Asana custom field of this field is of another type; its values are not read (see ticket doctor)");
                }
                continue;
            }
            if let Some(value) = decode_value(name, ty, bound, entry, emails) {
                out.insert(name.clone(), value);
            }
        }
        out
    }

    /// A task's labels: the names of its tags that carry no priority (by cached gid or
    /// name). The tags seen teach the label → tag cache.
    pub(crate) fn decode_labels(&self, cache: &mut GidCache, v: &Value) -> Labels {
        let mut out = Labels::new();
        for t in v
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(gid), Some(name)) = (str_field(t, "gid"), str_field(t, "name")) else {
                continue;
            };
            let priority = cache.tags.key_of(gid).is_some()
                || Priority::ALL
                    .into_iter()
                    .any(|p| self.settings.tag_name(p) == name);
            if priority || name.is_empty() {
                continue;
            }
            cache
                .label_tags
                .entry(name.to_string())
                .or_insert_with(|| gid.to_string());
            out.insert(name.to_string());
        }
        out
    }
}

/// The `custom_fields` of a write of these checked values (what [`Core::fields_write`] looks
/// up): cached when every field and option is bound; otherwise the project's fields are
/// listed (always, as for the priority field's options: only a listing tells a missing
/// option from a disabled one) and what is still missing is a `Config` error naming it.
#[derive(Clone, Copy)]
pub(crate) struct FieldsOf<'a> {
    values: &'a BTreeMap<String, Option<FieldValue>>,
    settings: &'a AsanaSettings,
}

impl FieldsOf<'_> {
    /// The write from the bound fields; the field (and option) that is not bound otherwise.
    fn write(self, cache: &GidCache) -> std::result::Result<FieldsWrite, (String, Option<String>)> {
        let mut out = FieldsWrite::default();
        for (name, value) in self.values {
            let declared = self.settings.fields.get(name).map(FieldType::name);
            let Some(field) = cache
                .fields
                .get(name)
                .filter(|f| Some(f.subtype.as_str()) == declared)
            else {
                return Err((name.clone(), None));
            };
            let json = value_json(field, value.as_ref()).map_err(|o| (name.clone(), Some(o)))?;
            out.body.insert(field.gid.clone(), json);
            out.refs.push(CachedRef::Mapped(field.gid.clone()));
            out.refs
                .extend(field.options.values().map(|g| CachedRef::Mapped(g.clone())));
        }
        Ok(out)
    }
}

impl Lookup for FieldsOf<'_> {
    type Found = FieldsWrite;
    type Listing = Vec<ProjectField>;

    fn cached(self, cache: &GidCache) -> Option<FieldsWrite> {
        self.write(cache).ok()
    }

    fn listed(self, _: &GidCache) -> bool {
        false
    }

    async fn list(self, core: &Core, cache: &mut GidCache) -> Result<Vec<ProjectField>> {
        core.bind_fields(cache).await
    }

    async fn create(
        self,
        core: &Core,
        cache: &mut GidCache,
        listing: Option<Vec<ProjectField>>,
    ) -> Result<FieldsWrite> {
        let (name, option) = match self.write(cache) {
            Ok(w) => return Ok(w),
            Err(missing) => missing,
        };
        let configured = self
            .settings
            .asana_fields
            .get(&name)
            .map_or("", String::as_str);
        let ty = self.settings.fields.field(&name)?;
        let known = cache.fields.get(&name).map(|f| f.gid.as_str());
        let problems = binding_problems(
            &name,
            configured,
            ty,
            listing.as_deref().unwrap_or_default(),
            known,
            core.project(),
        );
        let problem = match &option {
            Some(o) => problems
                .into_iter()
                .find(|p| p.detail.contains(&format!("{o:?}"))),
            None => problems.into_iter().next(),
        };
        Err(problem.map(Problem::into_error).unwrap_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "field {name}: the Asana custom field {configured:?} ({}) cannot be bound{}",
                    key(&name),
                    option
                        .map(|o| format!(" with the option {o:?}"))
                        .unwrap_or_default()
                ),
            )
        }))
    }
}

/// The tag of a label (what [`Core::label_tags`] looks up): `None` for a label without a
/// tag when `create` is false.
#[derive(Clone, Copy)]
pub(crate) struct LabelOf<'a> {
    label: &'a str,
    create: bool,
}

impl Lookup for LabelOf<'_> {
    type Found = Option<String>;
    type Listing = ();

    fn cached(self, cache: &GidCache) -> Option<Option<String>> {
        cache.label_tags.get(self.label).cloned().map(Some)
    }

    /// The workspace's tags are listed once (the listing the priority tags use), until a
    /// tag is found gone.
    fn listed(self, cache: &GidCache) -> bool {
        cache.tags.loaded
    }

    async fn list(self, core: &Core, cache: &mut GidCache) -> Result<()> {
        crate::lookup::list_tags(core, cache).await?;
        // Every label of the listing (not a priority tag), the oldest of a name.
        let mut by_name: BTreeMap<String, String> = BTreeMap::new();
        for (gid, name) in &cache.tags.names {
            if cache.tags.key_of(gid).is_some() {
                continue;
            }
            let keep = by_name.get(name).is_none_or(|g| {
                oldest([g.as_str(), gid.as_str()].into_iter()).as_deref() == Some(gid.as_str())
            });
            if keep {
                by_name.insert(name.clone(), gid.clone());
            }
        }
        for (name, gid) in by_name {
            cache.label_tags.entry(name).or_insert(gid);
        }
        Ok(())
    }

    async fn create(
        self,
        core: &Core,
        cache: &mut GidCache,
        _: Option<()>,
    ) -> Result<Option<String>> {
        if !self.create {
            return Ok(None);
        }
        let gid = crate::lookup::create_tag(core, cache, self.label).await?;
        cache.label_tags.insert(self.label.to_string(), gid.clone());
        core.persist(cache).await;
        Ok(Some(gid))
    }
}

/// The oldest of several gids (shorter first, then smaller): what every process settles on.
fn oldest<'a>(gids: impl Iterator<Item = &'a str>) -> Option<String> {
    gids.min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
        .map(str::to_string)
}

/// The value of one `custom_fields` entry as field `name` of type `ty`; `None` when unset.
fn decode_value(
    name: &str,
    ty: &FieldType,
    bound: Option<&CachedField>,
    entry: &Value,
    emails: &HashMap<String, String>,
) -> Option<FieldValue> {
    let option_name = |o: &Value| -> Option<String> {
        let gid = str_field(o, "gid").unwrap_or_default();
        let shown = str_field(o, "name").unwrap_or_default();
        if let Some(declared) = bound.and_then(|b| b.option_named(gid)) {
            return Some(declared.to_string());
        }
        if shown.is_empty() {
            return None;
        }
        if !ty.options().iter().any(|d| d == shown)
            && WARNED.first(&format!("option {name} {shown}"))
        {
            tracing::warn!(field = %name, option = %shown, "a task holds an option this field does not declare; showing it as Asana names it");
        }
        Some(shown.to_string())
    };
    match ty {
        FieldType::Text => str_field(entry, "text_value")
            .filter(|t| !t.is_empty())
            .map(|t| FieldValue::Text(t.to_string())),
        FieldType::Number { precision } => entry
            .get("number_value")
            .and_then(Value::as_f64)
            .and_then(|x| Decimal::from_f64(x, *precision).ok())
            .map(FieldValue::Number),
        FieldType::Enum { .. } => entry
            .get("enum_value")
            .filter(|o| o.is_object())
            .and_then(option_name)
            .map(FieldValue::Enum),
        FieldType::MultiEnum { .. } => {
            let set: BTreeSet<String> = entry
                .get("multi_enum_values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(option_name)
                .collect();
            (!set.is_empty()).then_some(FieldValue::MultiEnum(set))
        }
        FieldType::Date => date_value(entry.get("date_value")?).map(FieldValue::Date),
        FieldType::People => {
            let set: BTreeSet<String> = entry
                .get("people_value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|u| str_field(u, "gid"))
                .map(|g| {
                    emails
                        .get(g)
                        .map_or_else(|| g.to_string(), |e| e.to_lowercase())
                })
                .collect();
            (!set.is_empty()).then_some(FieldValue::People(set))
        }
    }
}

/// A `date_value` object: `date_time` as an instant (to the millisecond) when set, else
/// `date` as a day.
fn date_value(v: &Value) -> Option<Due> {
    if let Some(t) = str_field(v, "date_time")
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
    {
        return Some(Due::At(t.trunc_subsecs(3)));
    }
    str_field(v, "date")
        .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .map(Due::Date)
}

/// The user gids of a task record that need e-mails: the assignee and the people of its
/// custom fields.
pub(crate) fn task_user_gids(v: &Value) -> impl Iterator<Item = &str> {
    let assignee = v.get("assignee").and_then(|u| str_field(u, "gid"));
    let people = v
        .get("custom_fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("people_value").and_then(Value::as_array))
        .flatten()
        .filter_map(|u| str_field(u, "gid"));
    assignee.into_iter().chain(people)
}

/// The batch actions that add and remove tags on task `gid`.
pub(crate) fn tag_actions(
    gid: &str,
    add: &[String],
    remove: &[String],
) -> Vec<crate::client::BatchAction> {
    let action = |verb: &str, tag: &String| crate::client::BatchAction {
        method: Method::POST,
        relative_path: format!("/tasks/{gid}/{verb}"),
        data: Some(json!({ "tag": tag })),
        options: None,
    };
    add.iter()
        .map(|t| action("addTag", t))
        .chain(remove.iter().map(|t| action("removeTag", t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::priority_field::FieldOption;

    fn project() -> Vec<ProjectField> {
        let opt = |gid: &str, name: &str, enabled: bool| FieldOption {
            gid: gid.into(),
            name: name.into(),
            enabled,
        };
        vec![
            ProjectField {
                gid: "10".into(),
                name: "Severity".into(),
                subtype: "enum".into(),
                precision: None,
                options: vec![opt("11", "S1", true), opt("12", "S2", false)],
            },
            ProjectField {
                gid: "20".into(),
                name: "Estimate".into(),
                subtype: "number".into(),
                precision: Some(0),
                options: vec![],
            },
        ]
    }

    #[test]
    fn binding_problems_name_the_field_and_what_to_fix() {
        let enum_ty = FieldType::Enum {
            options: vec!["S1".into(), "S2".into(), "S3".into()],
        };
        // (field, configured, type, wanted substrings of the problems, in order)
        let cases: Vec<(&str, &str, FieldType, Vec<&str>)> = vec![
            ("severity", "Severity", FieldType::Enum { options: vec!["S1".into()] }, vec![]),
            ("severity", "10", FieldType::Enum { options: vec!["S1".into()] }, vec![]),
            ("severity", "severity", enum_ty.clone(), vec!["\"S2\" of field severity is disabled", "\"S3\" of field severity is missing"]),
            ("severity", "Sev", enum_ty, vec!["\"Sev\" of field severity (homechoice.ticket.asana_fields.severity) is not on project 7"]),
            ("estimate", "Estimate", FieldType::Number { precision: 0 }, vec![]),
            ("estimate", "Estimate", FieldType::Number { precision: 2 }, vec!["keeps 0 digits", "precision 2"]),
            ("estimate", "Estimate", FieldType::Text, vec!["is a number field; estimate is declared text"]),
        ];
        for (name, configured, ty, want) in cases {
            let got = binding_problems(name, configured, &ty, &project(), None, "7");
            let text: Vec<String> = got
                .iter()
                .map(|p| format!("{}; {}", p.detail, p.fix))
                .collect();
            let mut rest = text.join(" | ");
            for w in &want {
                let at = rest
                    .find(w)
                    .unwrap_or_else(|| panic!("{name}/{configured}: {w:?} not in {rest}"));
                rest = rest[at..].to_string();
            }
            if want.is_empty() {
                assert!(got.is_empty(), "{name}/{configured}: {text:?}");
            }
            assert!(got.iter().all(|p| p.kind == ErrorKind::Config));
        }
    }

    #[test]
    fn values_take_asanas_shapes() {
        let field = CachedField {
            options: BTreeMap::from([("api".into(), "31".into()), ("ui".into(), "32".into())]),
            ..Default::default()
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        let at: DateTime<Utc> = "2026-12-24T14:00:00.250Z".parse().unwrap();
        let set = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        for (value, want) in [
            (None, Ok(Value::Null)),
            (Some(FieldValue::Text("ACME".into())), Ok(json!("ACME"))),
            (
                Some(FieldValue::Number("2.5".parse().unwrap())),
                Ok(json!(2.5)),
            ),
            (
                Some(FieldValue::Number("-3".parse().unwrap())),
                Ok(json!(-3)),
            ),
            (Some(FieldValue::Enum("ui".into())), Ok(json!("32"))),
            (Some(FieldValue::Enum("db".into())), Err("db".to_string())),
            (
                Some(FieldValue::MultiEnum(set(&["ui", "api"]))),
                Ok(json!(["31", "32"])),
            ),
            (
                Some(FieldValue::MultiEnum(set(&["api", "db"]))),
                Err("db".to_string()),
            ),
            (
                Some(FieldValue::Date(Due::Date(day))),
                Ok(json!({"date": "2026-12-24"})),
            ),
            (
                Some(FieldValue::Date(Due::At(at))),
                Ok(json!({"date_time": "2026-12-24T14:00:00.250Z"})),
            ),
            (
                Some(FieldValue::People(set(&["a@x.io", "b@x.io"]))),
                Ok(json!(["a@x.io", "b@x.io"])),
            ),
        ] {
            assert_eq!(value_json(&field, value.as_ref()), want, "{value:?}");
        }
    }

    #[test]
    fn values_read_back_by_declared_type() {
        let bound = CachedField {
            options: BTreeMap::from([("S1".into(), "11".into())]),
            ..Default::default()
        };
        let emails = HashMap::from([("5".to_string(), "A@X.io".to_string())]);
        let sev = FieldType::Enum {
            options: vec!["S1".into()],
        };
        let multi = FieldType::MultiEnum {
            options: vec!["S1".into()],
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        let at: DateTime<Utc> = "2026-12-24T14:00:00.250Z".parse().unwrap();
        for (ty, entry, want) in [
            (
                FieldType::Text,
                json!({"text_value": "x"}),
                Some(FieldValue::Text("x".into())),
            ),
            (FieldType::Text, json!({"text_value": ""}), None),
            (FieldType::Text, json!({"text_value": null}), None),
            (
                FieldType::Number { precision: 1 },
                json!({"number_value": 2.449}),
                Some(FieldValue::Number("2.4".parse().unwrap())),
            ),
            // Renamed in Asana: read by the bound gid, as the declared name.
            (
                sev.clone(),
                json!({"enum_value": {"gid": "11", "name": "Sev 1"}}),
                Some(FieldValue::Enum("S1".into())),
            ),
            // Not declared: shown as Asana names it.
            (
                sev.clone(),
                json!({"enum_value": {"gid": "19", "name": "S9"}}),
                Some(FieldValue::Enum("S9".into())),
            ),
            (sev, json!({"enum_value": null}), None),
            (
                multi.clone(),
                json!({"multi_enum_values": [{"gid": "11", "name": "x"}, {"gid": "19", "name": "S9"}]}),
                Some(FieldValue::MultiEnum(
                    ["S1".to_string(), "S9".to_string()].into(),
                )),
            ),
            (multi, json!({"multi_enum_values": []}), None),
            (
                FieldType::Date,
                json!({"date_value": {"date": "2026-12-24"}}),
                Some(FieldValue::Date(Due::Date(day))),
            ),
            (
                FieldType::Date,
                json!({"date_value": {"date": "2026-12-24", "date_time": "2026-12-24T15:00:00.250+01:00"}}),
                Some(FieldValue::Date(Due::At(at))),
            ),
            (FieldType::Date, json!({"date_value": null}), None),
            (
                FieldType::People,
                json!({"people_value": [{"gid": "5"}, {"gid": "6"}]}),
                Some(FieldValue::People(
                    ["a@x.io".to_string(), "6".to_string()].into(),
                )),
            ),
            (FieldType::People, json!({"people_value": []}), None),
        ] {
            assert_eq!(
                decode_value("f", &ty, Some(&bound), &entry, &emails),
                want,
                "{entry}"
            );
        }
    }

    #[test]
    fn people_and_assignees_need_emails() {
        let v = json!({"assignee": {"gid": "1"}, "custom_fields": [
            {"gid": "9", "people_value": [{"gid": "2"}, {"gid": "3"}]},
            {"gid": "8", "text_value": "x"},
        ]});
        assert_eq!(task_user_gids(&v).collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(task_user_gids(&json!({})).count(), 0);
    }
}
