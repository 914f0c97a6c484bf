//! What the provider knows of Asana's objects by gid, in memory: the project's workspace,
//! the section of each status, the tag of each priority, the priority field and its options,
//! and the token owner. The core (`core.rs`) keeps one behind a lock; the persistent form is
//! [`ProjectCache`] (see [`GidCache::restore`] and `Core::persist`).

use std::collections::BTreeMap;

use ticket_provider_api::{Priority, Status};

use crate::cache::{CachedField, CachedPriorityField, ProjectCache};
use crate::config::AsanaSettings;
use crate::users::AsanaUser;

/// The objects of one kind a write names by the configured name: gid of each key, and what
/// the last listing showed.
#[derive(Debug)]
pub(crate) struct NamedGids<K> {
    /// Whether `names` reflects a listing (else the next miss lists again).
    pub loaded: bool,
    /// Every one listed: gid → name as last seen.
    pub names: BTreeMap<String, String>,
    /// The gid of each key.
    pub gid_of: BTreeMap<K, String>,
}

impl<K> Default for NamedGids<K> {
    fn default() -> Self {
        NamedGids {
            loaded: false,
            names: BTreeMap::new(),
            gid_of: BTreeMap::new(),
        }
    }
}

impl<K: Copy + Ord> NamedGids<K> {
    /// The key whose gid is `gid`.
    pub fn key_of(&self, gid: &str) -> Option<K> {
        self.gid_of
            .iter()
            .find(|(_, g)| g.as_str() == gid)
            .map(|(k, _)| *k)
    }

    /// Drops `gid`, which Asana no longer knows, so that the next use lists again.
    fn forget(&mut self, key: K, gid: &str) {
        if self.gid_of.get(&key).map(String::as_str) == Some(gid) {
            self.gid_of.remove(&key);
        }
        self.names.remove(gid);
        self.loaded = false;
    }
}

/// Sections, tags, the priority field and the token owner as last seen, keyed by gid.
#[derive(Debug, Default)]
pub(crate) struct GidCache {
    /// The project's workspace.
    pub workspace_gid: Option<String>,
    /// The project's sections, and the section of each status.
    pub sections: NamedGids<Status>,
    /// The workspace's tags, and the tag of each priority.
    pub tags: NamedGids<Priority>,
    /// The priority custom field and the options found, once looked up (field mode only).
    pub priority_field: Option<CachedPriorityField>,
    /// The custom field of each mapped ticket field (`asana_fields`), by field name, once
    /// bound; a field missing here is bound (again) on its next write.
    pub fields: BTreeMap<String, CachedField>,
    /// The tag of each label: label → tag gid (learned from task reads, listings and creates).
    pub label_tags: BTreeMap<String, String>,
    /// The token owner (for the assignee filter `me`, and to tell our own stories).
    pub me: Option<AsanaUser>,
    /// What the [`crate::CacheStore`] holds, as last loaded or saved (saves are skipped when
    /// nothing changed).
    pub saved: Option<ProjectCache>,
}

impl GidCache {
    /// Takes what an earlier process learned, where this one knows nothing fresher. The
    /// priority field is taken only when it was looked up for the same configured field, and
    /// only its options found by the names configured now.
    pub fn restore(&mut self, saved: &ProjectCache, settings: &AsanaSettings) {
        if self.workspace_gid.is_none() {
            self.workspace_gid = saved.workspace_gid.clone();
        }
        for (gid, name) in &saved.sections {
            self.sections
                .names
                .entry(gid.clone())
                .or_insert_with(|| name.clone());
        }
        for (status, gid) in &saved.status_sections {
            self.sections
                .gid_of
                .entry(*status)
                .or_insert_with(|| gid.clone());
        }
        for (priority, gid) in &saved.priority_tags {
            self.tags
                .gid_of
                .entry(*priority)
                .or_insert_with(|| gid.clone());
        }
        for (name, field) in &saved.custom_fields {
            if settings.asana_fields.get(name) == Some(&field.configured) {
                self.fields
                    .entry(name.clone())
                    .or_insert_with(|| field.clone());
            }
        }
        for (label, gid) in &saved.label_tags {
            self.label_tags
                .entry(label.clone())
                .or_insert_with(|| gid.clone());
        }
        if self.priority_field.is_none() {
            if let (Some(field), Some(wanted)) = (&saved.priority_field, &settings.priority_field) {
                if field.configured == *wanted {
                    let mut field = field.clone();
                    field
                        .options
                        .retain(|p, o| o.name == settings.option_name(*p));
                    self.priority_field = Some(field);
                }
            }
        }
    }

    /// Drops a gid Asana no longer knows, so that the next use looks again.
    pub fn forget(&mut self, gone: &CachedRef) {
        match gone {
            CachedRef::Section(status, gid) => self.sections.forget(*status, gid),
            CachedRef::Tag(priority, gid) => self.tags.forget(*priority, gid),
            // The whole field is looked up again (one request, for its options too).
            CachedRef::Field(_) | CachedRef::FieldOption(_, _) => self.priority_field = None,
            // Every mapped field is bound again (one request for all of them).
            CachedRef::Mapped(_) => self.fields.clear(),
            CachedRef::Label(label, gid) => {
                if self.label_tags.get(label) == Some(gid) {
                    self.label_tags.remove(label);
                }
                self.tags.names.remove(gid);
                self.tags.loaded = false;
            }
        }
    }
}

/// A cached gid a request used: the section of a status, the tag of a priority, the
/// priority custom field or the option of a priority in it, a mapped custom field or one
/// of its options, the tag of a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CachedRef {
    Section(Status, String),
    Tag(Priority, String),
    Field(String),
    FieldOption(Priority, String),
    Mapped(String),
    Label(String, String),
}

impl CachedRef {
    pub fn gid(&self) -> &str {
        match self {
            CachedRef::Section(_, g)
            | CachedRef::Tag(_, g)
            | CachedRef::Field(g)
            | CachedRef::FieldOption(_, g)
            | CachedRef::Mapped(g)
            | CachedRef::Label(_, g) => g,
        }
    }
}

/// The cached gids among `used` that Asana's refusal (`status`, `message`) says it no
/// longer knows: all of them for a 404 (Asana does not say which object is missing), those
/// the message names for a 400 ("tags: Not a recognized ID: 123"), none otherwise.
pub(crate) fn gone_refs(status: u16, message: &str, used: &[CachedRef]) -> Vec<CachedRef> {
    match status {
        404 => used.to_vec(),
        400 => used
            .iter()
            .filter(|r| names_gid(message, r.gid()))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `message` names `gid` as a whole word (so "12" is not found in "123").
pub(crate) fn names_gid(message: &str, gid: &str) -> bool {
    !gid.is_empty()
        && message
            .split(|c: char| !c.is_ascii_digit())
            .any(|word| word == gid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CachedOption;

    #[test]
    fn refusals_name_the_gone_gids() {
        let section = CachedRef::Section(Status::New, "12".into());
        let tag = CachedRef::Tag(Priority::High, "123".into());
        let both = [section.clone(), tag.clone()];
        for (status, message, gone) in [
            // Asana does not say which object a 404 is about: every gid used is suspect.
            (404, "Not Found", vec![section.clone(), tag.clone()]),
            (
                400,
                "memberships[].section: Not a recognized ID: 12",
                vec![section.clone()],
            ),
            (400, "tags: Not a recognized ID: 123", vec![tag.clone()]),
            (
                400,
                "tag: 123 is gone, so is 12",
                vec![section.clone(), tag.clone()],
            ),
            // "12" is not named by "123", nor by a longer number.
            (400, "Not a recognized ID: 1234", vec![]),
            (400, "name: Missing input", vec![]),
            (403, "Forbidden: 12", vec![]),
            (500, "Server error 12", vec![]),
        ] {
            assert_eq!(
                gone_refs(status, message, &both),
                gone,
                "{status} {message}"
            );
        }
        assert!(!names_gid("anything", ""));
    }

    #[test]
    fn refusals_name_the_gone_field_or_option() {
        let field = CachedRef::Field("50".into());
        let option = CachedRef::FieldOption(Priority::High, "51".into());
        let used = [field.clone(), option.clone()];
        let disabled = "custom_fields: Enum option 51 (\"High\") of custom field 50 (\"Priority\") is disabled and cannot be chosen";
        assert_eq!(gone_refs(400, disabled, &used), used.to_vec());
        let gone = "custom_fields: Not a recognized custom field ID: 50";
        assert_eq!(gone_refs(400, gone, &used), vec![field.clone()]);
        assert!(gone_refs(402, "premium: 50", &used).is_empty());
        // Either drops the whole cached field: it is looked up again in one request.
        for r in [&field, &option] {
            let mut cache = GidCache {
                priority_field: Some(CachedPriorityField::default()),
                ..Default::default()
            };
            cache.forget(r);
            assert_eq!(cache.priority_field, None);
        }
    }

    #[test]
    fn a_cached_field_is_restored_only_for_the_same_configuration() {
        let mut settings =
            AsanaSettings::new("http://x", "1", ticket_provider_api::SecretString::new("t"));
        settings.priority_field = Some("Priority".into());
        settings
            .priority_options
            .insert(Priority::Normal, "Medium".into());
        let option = |gid: &str, name: &str| CachedOption {
            gid: gid.into(),
            name: name.into(),
        };
        let saved = ProjectCache {
            priority_field: Some(CachedPriorityField {
                configured: "Priority".into(),
                gid: "50".into(),
                name: "Priority".into(),
                options: BTreeMap::from([
                    (Priority::Normal, option("51", "Normal")),
                    (Priority::High, option("52", "High")),
                ]),
            }),
            ..Default::default()
        };
        let mut cache = GidCache::default();
        cache.restore(&saved, &settings);
        let field = cache.priority_field.expect("same field");
        assert_eq!(field.gid, "50");
        assert_eq!(
            field.options.keys().copied().collect::<Vec<_>>(),
            [Priority::High],
            "normal was found as \"Normal\", now configured as \"Medium\""
        );
        settings.priority_field = Some("Severity".into());
        let mut cache = GidCache::default();
        cache.restore(&saved, &settings);
        assert_eq!(cache.priority_field, None, "another field");
        settings.priority_field = None;
        let mut cache = GidCache::default();
        cache.restore(&saved, &settings);
        assert_eq!(cache.priority_field, None, "tag mode");
    }

    #[test]
    fn a_gone_section_is_forgotten_and_listed_again() {
        let mut cache = GidCache::default();
        cache.sections.loaded = true;
        cache.sections.names.insert("12".into(), "New".into());
        cache.sections.gid_of.insert(Status::New, "12".into());
        cache.forget(&CachedRef::Section(Status::New, "99".into()));
        assert_eq!(
            cache.sections.key_of("12"),
            Some(Status::New),
            "another gid"
        );
        cache.forget(&CachedRef::Section(Status::New, "12".into()));
        assert_eq!(cache.sections.key_of("12"), None);
        assert!(cache.sections.names.is_empty());
        assert!(!cache.sections.loaded, "listed again on the next miss");
    }
}
