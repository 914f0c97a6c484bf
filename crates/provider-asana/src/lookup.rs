//! The one name → gid lookup: the section of a status, the tag of a priority, the option of
//! a priority in the priority custom field, the custom fields (and options) a write of
//! mapped fields needs and the tag of a label (the last two in `mapped_fields.rs`) are all
//! found by [`Core::lookup`].
//!
//! Each is cached by gid; on a miss the collection is listed once and searched by the
//! configured name; when it is still missing, a section or tag is created (and settled on
//! with concurrent processes, see [`Named`]), while a missing field option is a `Config`
//! error naming what to fix (the provider never creates fields or options). What differs
//! between the kinds is data: [`Named`] for the sets the provider creates (sections, tags),
//! [`Lookup`] for the steps themselves.

use std::fmt;
use std::future::Future;

use reqwest::Method;
use serde_json::{json, Value};
use ticket_provider_api::{Error, ErrorKind, Priority, Result, Status};

use crate::cache::{CachedOption, CachedPriorityField};
use crate::client::{Request, Safety};
use crate::config::AsanaSettings;
use crate::core::Core;
use crate::error::AsanaError;
use crate::gid_cache::{CachedRef, GidCache, NamedGids};
use crate::priority_field::{self, ProjectField};
use crate::remote::str_field;

/// What [`Core::lookup`] looks up: how it is cached, listed, and created when missing.
pub(crate) trait Lookup: Copy + Send + Sync {
    /// What the lookup gives: a gid, or the field's gid and the option's.
    type Found: Send;
    /// What a listing hands to [`Lookup::create`] (the field as listed, for its error).
    type Listing: Send;
    /// The cached answer, if any.
    fn cached(self, cache: &GidCache) -> Option<Self::Found>;
    /// Whether the collection was listed since it last changed (a miss then needs a create).
    fn listed(self, cache: &GidCache) -> bool;
    /// Lists the collection and caches what carries the configured names.
    fn list(
        self,
        core: &Core,
        cache: &mut GidCache,
    ) -> impl Future<Output = Result<Self::Listing>> + Send;
    /// What follows a miss after the listing: create it, or say what to fix.
    fn create(
        self,
        core: &Core,
        cache: &mut GidCache,
        listing: Option<Self::Listing>,
    ) -> impl Future<Output = Result<Self::Found>> + Send;
}

impl Core {
    /// What `wanted` names: cached, else found by listing (once per change), else created
    /// or refused (see [`Lookup`]). The cache is saved after a listing and a create.
    pub(crate) async fn lookup<L: Lookup>(&self, wanted: L) -> Result<L::Found> {
        self.restore().await;
        let mut cache = self.cache.lock().await;
        if let Some(found) = wanted.cached(&cache) {
            return Ok(found);
        }
        let mut listing = None;
        if !wanted.listed(&cache) {
            let listed = wanted.list(self, &mut cache).await;
            self.persist(&mut cache).await;
            listing = Some(listed?);
            if let Some(found) = wanted.cached(&cache) {
                return Ok(found);
            }
        }
        wanted.create(self, &mut cache, listing).await
    }

    /// How a write sets `priority`: the priority field's option in field mode, else the tag.
    pub(crate) async fn priority_write(&self, priority: Priority) -> Result<PriorityWrite> {
        if self.settings.priority_field.is_some() {
            let (field, option) = self.lookup(OptionOf(priority)).await?;
            Ok(PriorityWrite::Field { field, option })
        } else {
            Ok(PriorityWrite::Tag(self.lookup(TagOf(priority)).await?))
        }
    }
}

/// Which of several objects with the same name every process settles on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// The first in listing order (sections: project order).
    FirstListed,
    /// The smallest gid, the oldest (tags, listed in no stable order).
    Oldest,
}

impl Pick {
    /// The chosen gid among `gids`.
    fn choose<'a>(self, mut gids: impl Iterator<Item = &'a str>) -> Option<&'a str> {
        match self {
            Pick::FirstListed => gids.next(),
            Pick::Oldest => gids.min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b))),
        }
    }
}

/// A set of named objects the provider creates when missing, and what differs between them.
pub(crate) trait Named: Copy + Send + Sync {
    /// The key each object stands for (a status, a priority).
    type Key: Copy + Ord + fmt::Display + Send + Sync;
    /// What it is, for logs.
    const KIND: &'static str;
    /// The create request, for errors about its answer.
    const CREATE: &'static str;
    /// Which duplicate every process settles on.
    const PICK: Pick;
    /// Where our own duplicate is deleted after settling (`DELETE {prefix}/{gid}`); `None`
    /// leaves it in place.
    const DELETE_DUPLICATE: Option<&'static str>;
    /// The key looked up.
    fn key(self) -> Self::Key;
    /// Every key.
    fn keys() -> Vec<Self::Key>;
    /// The configured name of `key`.
    fn name(key: Self::Key, settings: &AsanaSettings) -> String;
    /// The cached gids of the set.
    fn gids(cache: &GidCache) -> &NamedGids<Self::Key>;
    /// The cached gids of the set, to change.
    fn gids_mut(cache: &mut GidCache) -> &mut NamedGids<Self::Key>;
    /// The collection's path (listed with GET, created in with POST); may read the
    /// project's workspace first (one request, once).
    fn collection(core: &Core, cache: &mut GidCache)
        -> impl Future<Output = Result<String>> + Send;
}

/// The section of a status in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionOf(pub Status);

/// The tag of a priority in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TagOf(pub Priority);

/// The option of a priority in the priority custom field (field mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptionOf(pub Priority);

impl Named for SectionOf {
    type Key = Status;
    const KIND: &'static str = "section";
    const CREATE: &'static str = "POST /projects/{gid}/sections";
    const PICK: Pick = Pick::FirstListed;
    // Ours is still empty: nothing is lost.
    const DELETE_DUPLICATE: Option<&'static str> = Some("/sections");
    fn key(self) -> Status {
        self.0
    }
    fn keys() -> Vec<Status> {
        Status::ALL.to_vec()
    }
    fn name(key: Status, settings: &AsanaSettings) -> String {
        settings.section_name(key)
    }
    fn gids(cache: &GidCache) -> &NamedGids<Status> {
        &cache.sections
    }
    fn gids_mut(cache: &mut GidCache) -> &mut NamedGids<Status> {
        &mut cache.sections
    }
    async fn collection(core: &Core, _cache: &mut GidCache) -> Result<String> {
        Ok(format!("/projects/{}/sections", core.project()))
    }
}

impl Named for TagOf {
    type Key = Priority;
    const KIND: &'static str = "tag";
    const CREATE: &'static str = "POST /workspaces/{gid}/tags";
    const PICK: Pick = Pick::Oldest;
    // Ours is on no task: it is left in place.
    const DELETE_DUPLICATE: Option<&'static str> = None;
    fn key(self) -> Priority {
        self.0
    }
    fn keys() -> Vec<Priority> {
        Priority::ALL.to_vec()
    }
    fn name(key: Priority, settings: &AsanaSettings) -> String {
        settings.tag_name(key)
    }
    fn gids(cache: &GidCache) -> &NamedGids<Priority> {
        &cache.tags
    }
    fn gids_mut(cache: &mut GidCache) -> &mut NamedGids<Priority> {
        &mut cache.tags
    }
    async fn collection(core: &Core, cache: &mut GidCache) -> Result<String> {
        if cache.workspace_gid.is_none() {
            core.load_project(cache).await?;
        }
        let ws = cache.workspace_gid.clone().unwrap_or_default();
        Ok(format!("/workspaces/{ws}/tags"))
    }
}

impl<N: Named> Lookup for N {
    type Found = String;
    type Listing = ();

    fn cached(self, cache: &GidCache) -> Option<String> {
        N::gids(cache).gid_of.get(&self.key()).cloned()
    }

    fn listed(self, cache: &GidCache) -> bool {
        N::gids(cache).loaded
    }

    async fn list(self, core: &Core, cache: &mut GidCache) -> Result<()> {
        let path = N::collection(core, cache).await?;
        let items = core
            .client()
            .get_all(Request::get(path).fields("name"))
            .await?;
        let listed: Vec<(String, String)> = items
            .iter()
            .filter_map(|s| {
                Some((
                    str_field(s, "gid")?.to_string(),
                    str_field(s, "name").unwrap_or_default().to_string(),
                ))
            })
            .collect();
        let wanted: Vec<(N::Key, String)> = N::keys()
            .into_iter()
            .map(|k| (k, N::name(k, &core.settings)))
            .collect();
        take_listing(N::gids_mut(cache), &listed, &wanted, N::PICK, N::KIND);
        Ok(())
    }

    async fn create(self, core: &Core, cache: &mut GidCache, _: Option<()>) -> Result<String> {
        let key = self.key();
        let path = N::collection(core, cache).await?;
        let name = N::name(key, &core.settings);
        tracing::info!(key = %key, name = %name, "creating the missing Asana {}", N::KIND);
        let req = Request::write(
            Method::POST,
            path.clone(),
            json!({ "name": name }),
            Safety::Create,
        )
        .fields("name");
        match core.client().data(&req).await {
            Ok(data) => {
                let gid = str_field(&data, "gid")
                    .ok_or_else(|| Error::from(AsanaError::decode(N::CREATE, "no gid")))?
                    .to_string();
                let gid = settle::<N>(core, &path, &name, gid).await;
                let gids = N::gids_mut(cache);
                gids.names.insert(gid.clone(), name);
                gids.gid_of.insert(key, gid.clone());
                core.persist(cache).await;
                Ok(gid)
            }
            Err(e) => {
                // It may have been created after all: list again next time.
                N::gids_mut(cache).loaded = false;
                Err(e.into())
            }
        }
    }
}

/// Takes a listing (`(gid, name)` in listing order) into `gids`: a cached gid still listed
/// is kept even when renamed (warned), one no longer listed is dropped; a key without a gid
/// takes the object carrying its configured name (`wanted`), chosen by `pick` among several.
fn take_listing<K: Copy + Ord + fmt::Display>(
    gids: &mut NamedGids<K>,
    listed: &[(String, String)],
    wanted: &[(K, String)],
    pick: Pick,
    kind: &str,
) {
    for (key, name) in wanted {
        if let Some(gid) = gids.gid_of.get(key).cloned() {
            match listed.iter().find(|(g, _)| *g == gid) {
                Some((_, found)) => {
                    if found != name {
                        tracing::warn!(
                            key = %key, gid = %gid, expected = %name, found = %found,
                            "the Asana {kind} of this key was renamed; still using it (rename it back or configure the new name)"
                        );
                    }
                    continue;
                }
                None => {
                    tracing::warn!(key = %key, gid = %gid, "the Asana {kind} of this key is gone");
                    gids.gid_of.remove(key);
                }
            }
        }
        let matching = || {
            listed
                .iter()
                .filter(|(_, n)| n == name)
                .map(|(g, _)| g.as_str())
        };
        if let Some(gid) = pick.choose(matching()) {
            if pick == Pick::FirstListed && matching().count() > 1 {
                tracing::warn!(key = %key, name = %name, using = %gid, "several Asana {kind}s carry this name; using the first");
            }
            gids.gid_of.insert(*key, gid.to_string());
        }
    }
    gids.names = listed.iter().cloned().collect();
    gids.loaded = true;
}

/// After creating `name` as `ours` in the collection at `path`: several processes starting
/// at once may each have created one. Lists the collection again (one request) and settles
/// on the one [`Named::PICK`] chooses, which every process agrees on; our own duplicate is
/// deleted where [`Named::DELETE_DUPLICATE`] says so. Any failure here keeps `ours`.
async fn settle<N: Named>(core: &Core, path: &str, name: &str, ours: String) -> String {
    let listed = match core
        .client()
        .get_all(Request::get(path).fields("name"))
        .await
    {
        Ok(items) => items,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list the {}s after creating one; keeping ours", N::KIND);
            return ours;
        }
    };
    let chosen = N::PICK
        .choose(
            listed
                .iter()
                .filter(|s| str_field(s, "name") == Some(name))
                .filter_map(|s| str_field(s, "gid")),
        )
        .map(str::to_string);
    match chosen {
        Some(chosen) if chosen != ours => {
            tracing::info!(name = %name, using = %chosen, duplicate = %ours, "another process created this Asana {} at the same time; using theirs", N::KIND);
            if let Some(prefix) = N::DELETE_DUPLICATE {
                // The delete takes no body.
                let del = Request::delete(format!("{prefix}/{ours}"));
                if let Err(e) = core.client().data(&del).await {
                    tracing::warn!(name = %name, duplicate = %ours, error = %e, "cannot delete the duplicate {}", N::KIND);
                }
            }
            chosen
        }
        _ => ours,
    }
}

/// Lists the workspace's tags into the cache (the listing [`TagOf`] makes: it finds the
/// priority tags too); the label lookup searches `cache.tags.names`.
pub(crate) async fn list_tags(core: &Core, cache: &mut GidCache) -> Result<()> {
    TagOf(Priority::Normal).list(core, cache).await
}

/// Creates the tag `name` in the project's workspace (the tag of a label), settling with
/// processes that create it at the same moment on the oldest (see [`settle`]); its gid.
pub(crate) async fn create_tag(core: &Core, cache: &mut GidCache, name: &str) -> Result<String> {
    let path = TagOf::collection(core, cache).await?;
    tracing::info!(name = %name, "creating the missing Asana tag of a label");
    let req = Request::write(
        Method::POST,
        path.clone(),
        json!({ "name": name }),
        Safety::Create,
    )
    .fields("name");
    let data = core.client().data(&req).await.inspect_err(|_| {
        // It may have been created after all: list again next time.
        cache.tags.loaded = false;
    })?;
    let gid = str_field(&data, "gid")
        .ok_or_else(|| Error::from(AsanaError::decode(TagOf::CREATE, "no gid")))?
        .to_string();
    let gid = settle::<TagOf>(core, &path, name, gid).await;
    cache.tags.names.insert(gid.clone(), name.to_string());
    Ok(gid)
}

impl Lookup for OptionOf {
    type Found = (String, String);
    type Listing = ProjectField;

    fn cached(self, cache: &GidCache) -> Option<(String, String)> {
        let f = cache.priority_field.as_ref()?;
        let o = f.options.get(&self.0)?;
        Some((f.gid.clone(), o.gid.clone()))
    }

    /// The field's listing is cheap (one request) and the only way to tell a missing
    /// option from a disabled one: a miss always lists.
    fn listed(self, _: &GidCache) -> bool {
        false
    }

    async fn list(self, core: &Core, cache: &mut GidCache) -> Result<ProjectField> {
        core.load_priority_field(cache).await
    }

    /// A missing or disabled option is a `Config` error naming the option and the field.
    async fn create(
        self,
        core: &Core,
        _: &mut GidCache,
        listing: Option<ProjectField>,
    ) -> Result<(String, String)> {
        let Some(field) = listing else {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the priority field has no option for priority {}", self.0),
            ));
        };
        priority_field::option_of(&core.settings, &field, self.0)
            .map(|option| (field.gid.clone(), option))
            .map_err(priority_field::Problem::into_error)
    }
}

impl Core {
    /// Looks the priority custom field up among the project's custom field settings (one
    /// `GET /projects/{gid}/custom_field_settings`, 100 settings per request) and caches its
    /// gid and the enabled option of each priority. Fails when the field is not on the
    /// project or is no enum field; a missing or disabled option is not an error here (see
    /// [`OptionOf`]). Returns the field as listed.
    pub(crate) async fn load_priority_field(&self, cache: &mut GidCache) -> Result<ProjectField> {
        let settings = &self.settings;
        let wanted = settings.priority_field.clone().unwrap_or_default();
        let req = Request::get(format!(
            "/projects/{}/custom_field_settings",
            self.project()
        ))
        .fields(priority_field::SETTINGS_FIELDS);
        let listing = self.client().get_all(req).await.map_err(|e| match e.status() {
            Some(402) => priority_field::no_custom_fields_plan().into_error(),
            Some(404) => Error::new(
                ErrorKind::Config,
                format!(
                    "the Asana project {} does not exist or is not visible to the token; check homechoice.ticket.asana_project",
                    self.project()
                ),
            ),
            _ => e.into_error(),
        })?;
        let fields = priority_field::project_fields(&listing);
        let known = cache.priority_field.as_ref().map(|f| f.gid.clone());
        let Some(field) = priority_field::find_field(&fields, &wanted, known.as_deref()).cloned()
        else {
            cache.priority_field = None;
            return Err(
                priority_field::not_on_project(&wanted, self.project(), &fields).into_error(),
            );
        };
        if field.subtype != "enum" {
            cache.priority_field = None;
            return Err(priority_field::not_enum(&field, self.project()).into_error());
        }
        if !priority_field::is_wanted(&field.gid, &field.name, &wanted) {
            tracing::warn!(
                field_gid = %field.gid, expected = %wanted, found = %field.name,
                "the Asana priority field was renamed; still using it (rename it back or set homechoice.ticket.asana_priority_field)"
            );
        }
        let options = Priority::ALL
            .into_iter()
            .filter_map(|p| {
                let gid = priority_field::option_of(settings, &field, p).ok()?;
                Some((
                    p,
                    CachedOption {
                        gid,
                        name: settings.option_name(p),
                    },
                ))
            })
            .collect();
        cache.priority_field = Some(CachedPriorityField {
            configured: wanted,
            gid: field.gid.clone(),
            name: field.name.clone(),
            options,
        });
        Ok(field)
    }
}

/// How a write sets a priority: the tag to put on the task, or the option to choose in the
/// priority custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PriorityWrite {
    /// The tag's gid.
    Tag(String),
    /// The field's gid and the option's.
    Field { field: String, option: String },
}

impl PriorityWrite {
    /// The cached gids the write uses.
    pub(crate) fn refs(&self, priority: Priority) -> Vec<CachedRef> {
        match self {
            PriorityWrite::Tag(t) => vec![CachedRef::Tag(priority, t.clone())],
            PriorityWrite::Field { field, option } => vec![
                CachedRef::Field(field.clone()),
                CachedRef::FieldOption(priority, option.clone()),
            ],
        }
    }

    /// Adds the priority to the body of a `POST /tasks`.
    pub(crate) fn on_create(&self, data: &mut Value) {
        match self {
            PriorityWrite::Tag(t) => data["tags"] = json!([t]),
            PriorityWrite::Field { field, option } => {
                data["custom_fields"] = json!({ field.as_str(): option })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(g, n)| (g.to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn picks_settle_on_one_of_the_same_name() {
        let gids = ["30", "100", "20", "21"];
        assert_eq!(Pick::FirstListed.choose(gids.into_iter()), Some("30"));
        // By number: a shorter gid is older.
        assert_eq!(Pick::Oldest.choose(gids.into_iter()), Some("20"));
        assert_eq!(Pick::Oldest.choose(std::iter::empty()), None);
    }

    /// (cached before, listing, gid of New after)
    #[test]
    fn a_listing_keeps_renamed_drops_gone_and_finds_by_name() {
        let wanted = [(Status::New, "New".to_string())];
        for (cached, listing, after) in [
            // Found by name; the first of two in listing order, or the oldest.
            (None, vec![("7", "New"), ("5", "New")], Some("7")),
            (None, vec![("7", "Other")], None),
            // A cached gid still listed is kept, renamed or not.
            (Some("7"), vec![("7", "Renamed"), ("5", "New")], Some("7")),
            // A cached gid no longer listed is dropped and the name found again.
            (Some("9"), vec![("5", "New")], Some("5")),
            (Some("9"), vec![], None),
        ] {
            let mut gids = NamedGids::default();
            if let Some(c) = cached {
                gids.gid_of.insert(Status::New, c.to_string());
            }
            let l = listed(&listing);
            take_listing(&mut gids, &l, &wanted, Pick::FirstListed, "section");
            assert_eq!(
                gids.gid_of.get(&Status::New).map(String::as_str),
                after,
                "{cached:?} {listing:?}"
            );
            assert!(gids.loaded);
            assert_eq!(gids.names.len(), listing.len());
        }
        let mut gids = NamedGids::default();
        let l = listed(&[("7", "New"), ("5", "New")]);
        take_listing(&mut gids, &l, &wanted, Pick::Oldest, "tag");
        assert_eq!(gids.gid_of[&Status::New], "5", "the oldest");
    }
}
