//! The sync provider's part of the internal store: [`SyncExtension`] (its migrations, and
//! the hook that records every local change in the outbox inside the change's own
//! transaction) and [`SyncStore`] (its tables, one store transaction per call).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use provider_internal::{
    Backend, EmbeddedMigrations, InternalProvider, StoreError, StoreExtension, StoreOptions,
    StoreTx, TicketChange,
};
use ticket_provider_api::{Error, ErrorKind, Result};

use crate::db::{self, Link, LinkState};
use crate::outbox::{Change, OutboxEntry};

const SQLITE_MIGRATIONS: EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/postgres");

/// The name [`SyncExtension`] registers under.
pub const EXTENSION_NAME: &str = "sync";

/// The sync provider's store extension: its tables (the link map `def_asana_sync`, the
/// outbox, comment links, claims, a key/value table) by its own migrations, and an outbox
/// entry ([`Change`]) for every local change, written in the change's transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncExtension;

impl StoreExtension for SyncExtension {
    fn name(&self) -> &'static str {
        EXTENSION_NAME
    }

    fn migrations(&self, backend: Backend) -> Option<EmbeddedMigrations> {
        Some(match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        })
    }

    fn on_change(
        &self,
        tx: &mut StoreTx<'_>,
        change: &TicketChange,
    ) -> std::result::Result<(), StoreError> {
        // A ticket unlinked on purpose stays local: its changes are not queued for Asana (a
        // ticket created now has no link yet).
        let guid = change.guid().to_string();
        // A ticket created now has no link and no outbox entries yet.
        let (link, newest) = match change {
            TicketChange::Created { .. } => (None, db::Newest::NoEntries),
            _ => (db::link_brief(tx.conn(), &guid)?, db::Newest::LookUp),
        };
        let queued = link.as_ref().map(|l| l.state) != Some(LinkState::LocalOnly);
        if queued {
            db::outbox_insert(tx.conn(), &guid, &Change::of(change), newest)?;
        }
        tx.put_note(HookNote { guid, link, queued });
        Ok(())
    }

    /// Moves what earlier versions stored otherwise: release 0.1.0's per-ticket rows of
    /// `sync_kv`, and the agreed values' columns before the `agreed` column.
    fn on_open(&self, tx: &mut StoreTx<'_>) -> std::result::Result<(), StoreError> {
        let n = db::upgrade_agreed_columns(tx.conn())?;
        if n > 0 {
            tracing::info!(links = n, "moved the agreed values into one column");
        }
        if db::has_legacy_rows(tx.conn())? {
            let n = db::upgrade_legacy_rows(tx.conn())?;
            tracing::info!(
                rows = n,
                "moved the sync state of release 0.1.0 into the links"
            );
        }
        Ok(())
    }
}

/// What [`SyncExtension`]'s hook saw of the ticket in a transaction, left for the sync
/// operation running in it (so that it does not read the link again): the ticket's link
/// state and gid (`None` also for a ticket created now) and whether the change was queued
/// for Asana.
#[derive(Debug)]
pub(crate) struct HookNote {
    pub(crate) guid: String,
    pub(crate) link: Option<db::LinkBrief>,
    pub(crate) queued: bool,
}

/// Options for opening the internal store the way the sync provider needs it (with
/// [`SyncExtension`]).
pub fn store_options(pool_size: Option<u32>) -> StoreOptions {
    StoreOptions {
        pool_size,
        extensions: vec![Arc::new(SyncExtension)],
        ..StoreOptions::default()
    }
}

/// The `sync_kv` key of the running total behind [`SyncStore::already_pushed`].
pub(crate) const ALREADY_PUSHED_KEY: &str = "already_pushed";

/// Counts of the outbox and the links, read together ([`SyncStore::gauges`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreGauges {
    /// Entries waiting to be pushed.
    pub pending: u64,
    /// Entries set aside.
    pub set_aside: u64,
    /// When the oldest pending entry was made.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Links whose task is lost.
    pub lost: u64,
}

/// The longest claim owner id accepted.
pub const MAX_CLAIM_OWNER_CHARS: usize = 200;

/// The sync tables of one internal store: every method is one store transaction.
#[derive(Debug, Clone)]
pub struct SyncStore {
    local: InternalProvider,
}

fn not_found_entry(id: i64) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no outbox entry with id {id}; `ticket sync status` lists the set-aside entries"),
    )
}

impl SyncStore {
    /// The sync tables of `local`, which must have been opened with [`SyncExtension`]
    /// (a configuration error otherwise).
    pub fn new(local: InternalProvider) -> Result<Self> {
        if !local.extension_names().contains(&EXTENSION_NAME) {
            return Err(Error::config(
                "the sync provider needs an internal store opened with its extension (provider_sync::store_options)",
            ));
        }
        if !crate::db::backend_built(local.backend()) {
            return Err(crate::db::backend_not_built(local.backend()).into_error());
        }
        Ok(SyncStore { local })
    }

    /// The internal store.
    pub fn local(&self) -> &InternalProvider {
        &self.local
    }

    /// The link of ticket `guid`.
    pub async fn link(&self, guid: &str) -> Result<Option<Link>> {
        let guid = guid.to_string();
        self.local.read(move |tx| db::link(tx.conn(), &guid)).await
    }

    /// The link of Asana task `gid`.
    pub async fn link_by_gid(&self, gid: &str) -> Result<Option<Link>> {
        let gid = gid.to_string();
        self.local
            .read(move |tx| db::link_by_gid(tx.conn(), &gid))
            .await
    }

    /// Inserts or replaces a link (the ticket must exist).
    pub async fn put_link(&self, link: Link) -> Result<()> {
        self.local
            .write(move |tx| {
                if tx.ticket(&link.ticket_guid)?.is_none() {
                    return Err(Error::ticket_not_found(&link.ticket_guid).into());
                }
                db::put_link(tx.conn(), &link)
            })
            .await
    }

    /// Every outbox entry of a ticket (set aside or not), oldest first.
    pub async fn outbox_for_ticket(&self, guid: &str) -> Result<Vec<OutboxEntry>> {
        let guid = guid.to_string();
        self.local
            .read(move |tx| db::outbox_of(tx.conn(), &guid))
            .await
    }

    /// Removes entry `id` of ticket `guid` as pushed.
    pub async fn complete(&self, guid: &str, id: i64) -> Result<()> {
        let guid = guid.to_string();
        self.local
            .write(move |tx| db::outbox_complete(tx.conn(), &guid, id))
            .await
    }

    /// Sets entry `id` of ticket `guid` aside with a reason.
    pub async fn set_aside(&self, guid: &str, id: i64, reason: &str) -> Result<()> {
        let (guid, reason) = (guid.to_string(), reason.to_string());
        self.local
            .write(move |tx| db::outbox_set_aside(tx.conn(), &guid, id, &reason))
            .await
    }

    /// `(pending, set_aside)` entry counts.
    pub async fn counts(&self) -> Result<(u64, u64)> {
        self.local.read(|tx| db::outbox_counts(tx.conn())).await
    }

    /// The counts and every set-aside entry, in one snapshot.
    pub async fn status(&self) -> Result<((u64, u64), Vec<OutboxEntry>)> {
        self.local
            .read(|tx| {
                let counts = db::outbox_counts(tx.conn())?;
                Ok((counts, db::set_aside_entries(tx.conn())?))
            })
            .await
    }

    /// The tickets with pending entries, in the order of their oldest one.
    pub async fn pending_tickets(&self) -> Result<Vec<String>> {
        self.local.read(|tx| db::pending_tickets(tx.conn())).await
    }

    /// Records a comment's post attempt (the first one counts).
    pub async fn record_comment_attempt(
        &self,
        comment_guid: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let cg = comment_guid.to_string();
        self.local
            .write(move |tx| db::record_attempt(tx.conn(), &cg, at))
            .await
    }

    /// Records that a comment was posted as `story`.
    pub async fn put_comment_link(&self, comment_guid: &str, story: &str) -> Result<()> {
        let (cg, s) = (comment_guid.to_string(), story.to_string());
        self.local
            .write(move |tx| db::put_comment_link(tx.conn(), &cg, &s))
            .await
    }

    /// The comment a story was recorded for.
    pub async fn comment_of_story(&self, story: &str) -> Result<Option<String>> {
        let s = story.to_string();
        self.local
            .read(move |tx| db::comment_of_story(tx.conn(), &s))
            .await
    }

    /// A small named value.
    pub async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        let k = key.to_string();
        self.local.read(move |tx| db::kv_get(tx.conn(), &k)).await
    }

    /// The comment stories cut on import that `verify` has not been told to forget.
    pub(crate) async fn story_cuts(&self) -> Result<Vec<crate::reconcile::StoryCut>> {
        let rows = self
            .local
            .read(|tx| db::kv_prefixed(tx.conn(), crate::reconcile::STORY_CUT_KEY_PREFIX))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, value)| match serde_json::from_str(&value) {
                Ok(cut) => Some(cut),
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "an unreadable record of a cut comment; ignored");
                    None
                }
            })
            .collect())
    }

    /// Forgets the record of comment story `story` cut on import.
    pub(crate) async fn forget_story_cut(&self, story: &str) -> Result<()> {
        let key = format!("{}{story}", crate::reconcile::STORY_CUT_KEY_PREFIX);
        self.local
            .write(move |tx| db::kv_delete(tx.conn(), &key))
            .await
    }

    /// Stores a small named value.
    pub async fn kv_put(&self, key: &str, value: &str) -> Result<()> {
        let (k, v) = (key.to_string(), value.to_string());
        self.local
            .write(move |tx| db::kv_put(tx.conn(), &k, &v))
            .await
    }

    /// Takes or extends ticket `guid`'s push claim (lease) for `owner` until `ttl` from now:
    /// `true` when it was free, expired or already `owner`'s, `false` when someone else holds
    /// it. Atomic on both engines.
    pub async fn claim(&self, guid: &str, owner: &str, ttl: Duration) -> Result<bool> {
        ticket_provider_api::model::check_line("owner", owner, MAX_CLAIM_OWNER_CHARS)?;
        let (g, o) = (guid.to_string(), owner.to_string());
        let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        self.local
            .write(move |tx| db::claim(tx.conn(), &g, &o, ttl_us))
            .await
    }

    /// Releases ticket `guid`'s claim if `owner` holds it.
    pub async fn release(&self, guid: &str, owner: &str) -> Result<bool> {
        let (g, o) = (guid.to_string(), owner.to_string());
        self.local
            .write(move |tx| db::release(tx.conn(), &g, &o))
            .await
    }

    /// Releases every claim `owner` holds; how many.
    pub async fn release_all(&self, owner: &str) -> Result<usize> {
        let o = owner.to_string();
        self.local
            .write(move |tx| db::release_all(tx.conn(), &o))
            .await
    }

    /// Every link whose task is lost ([`LinkState::Lost`]), by ticket guid.
    pub async fn lost_links(&self) -> Result<Vec<Link>> {
        self.local
            .read(|tx| db::links_in_state(tx.conn(), LinkState::Lost))
            .await
    }

    /// Marks ticket `guid`'s link [`LinkState::Lost`] (when it is linked to `gid`), with a
    /// history row (field `sync`) saying why; `true` when it changed.
    pub async fn mark_lost(&self, guid: &str, gid: &str, why: &str) -> Result<bool> {
        let (g, gid, why) = (guid.to_string(), gid.to_string(), why.to_string());
        self.local
            .write(move |tx| mark_lost_in_tx(tx, &g, &gid, &why))
            .await
    }

    /// Prepares ticket `guid` (whose link is lost or local only) for a new task: forgets the
    /// link and the story links of its comments, drops its pending entries (the new task is
    /// made from the ticket's current state, with every comment), with a history row.
    /// NotFound for an unknown ticket; Conflict when its link is neither lost nor local
    /// only (the request is well formed; the ticket's state refuses it).
    pub async fn prepare_relink(&self, guid: &str) -> Result<()> {
        let g = guid.to_string();
        self.local
            .write(move |tx| {
                tx.set_origin(ticket_provider_api::ChangeOrigin::Maintenance);
                let details = tx.details(&g)?;
                let link = db::link(tx.conn(), &g)?;
                let old = match link.as_ref().map(|l| l.state) {
                    Some(LinkState::Lost | LinkState::LocalOnly) => link
                        .and_then(|l| l.asana_gid)
                        .map_or_else(|| "no task".to_string(), |gid| format!("Asana task {gid}")),
                    other => {
                        let state = other.map_or("without a link", LinkState::as_str);
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "ticket {g} is {state}, not lost or unlinked: nothing to relink (`ticket sync status` lists lost links)"
                            ),
                        )
                        .with_temporary(false)
                        .into());
                    }
                };
                let comments: Vec<String> =
                    details.comments.iter().map(|c| c.comment_guid.clone()).collect();
                db::forget_comment_links(tx.conn(), &comments)?;
                db::outbox_drop_pending(tx.conn(), &g)?;
                db::delete_link(tx.conn(), &g)?;
                tx.record_history(
                    &g,
                    "sync",
                    Some(&format!("link to {old}")),
                    Some("relinked: a new Asana task is made from the ticket"),
                )?;
                Ok(())
            })
            .await
    }

    /// Keeps ticket `guid` local only (see [`LinkState::LocalOnly`]): drops its pending
    /// entries, keeps the old task gid so pulls ignore that task, with a history row; how
    /// many pending entries were dropped. NotFound for an unknown ticket.
    pub async fn unlink(&self, guid: &str) -> Result<usize> {
        let g = guid.to_string();
        self.local
            .write(move |tx| {
                tx.set_origin(ticket_provider_api::ChangeOrigin::Maintenance);
                if tx.ticket(&g)?.is_none() {
                    return Err(Error::ticket_not_found(&g).into());
                }
                let link = db::link(tx.conn(), &g)?;
                if link.as_ref().map(|l| l.state) == Some(LinkState::LocalOnly) {
                    return Ok(0);
                }
                let before = match &link {
                    Some(l) => format!(
                        "{} {}",
                        l.state.as_str(),
                        l.asana_gid.as_deref().unwrap_or("(no task)")
                    ),
                    None => "not linked".to_string(),
                };
                let link = match link {
                    Some(mut l) => {
                        l.state = LinkState::LocalOnly;
                        l.creating_since = None;
                        l
                    }
                    None => Link {
                        ticket_guid: g.clone(),
                        asana_gid: None,
                        state: LinkState::LocalOnly,
                        last_synced_at: None,
                        remote_modified_at: None,
                        creating_since: None,
                        agreed: Default::default(),
                        pushed_at: None,
                    },
                };
                db::put_link(tx.conn(), &link)?;
                let dropped = db::outbox_drop_pending(tx.conn(), &g)?;
                tx.record_history(
                    &g,
                    "sync",
                    Some(&before),
                    Some(&format!(
                        "unlinked: local only ({dropped} pending change(s) dropped)"
                    )),
                )?;
                Ok(dropped)
            })
            .await
    }

    /// How many outbox entries were found already carried out in Asana (at or below the
    /// task's push mark) and completed without being pushed again, in all.
    pub async fn already_pushed(&self) -> Result<u64> {
        let text = self.kv_get(ALREADY_PUSHED_KEY).await?;
        Ok(text.and_then(|t| t.parse().ok()).unwrap_or(0))
    }

    /// The gauges of the outbox and the links in one snapshot: `(pending, set aside)`
    /// counts, the oldest pending entry's time, and the number of lost links.
    pub async fn gauges(&self) -> Result<StoreGauges> {
        self.local
            .read(|tx| {
                let (pending, set_aside) = db::outbox_counts(tx.conn())?;
                Ok(StoreGauges {
                    pending,
                    set_aside,
                    oldest_pending_at: db::oldest_pending(tx.conn())?,
                    lost: db::count_links(tx.conn(), LinkState::Lost)?,
                })
            })
            .await
    }

    /// The newest outbox entry id (0 when empty): what the worker polls to notice a commit.
    pub async fn outbox_max_id(&self) -> Result<i64> {
        self.local.read(|tx| db::outbox_max_id(tx.conn())).await
    }

    /// Of these tickets, those with pending (not set-aside) entries.
    pub async fn pending_set(&self, guids: &[String]) -> Result<std::collections::HashSet<String>> {
        let guids = guids.to_vec();
        self.local
            .read(move |tx| Ok(db::outbox_flags(tx.conn(), &guids)?.0))
            .await
    }

    /// Every link, by ticket guid.
    pub async fn links(&self) -> Result<Vec<Link>> {
        self.local.read(|tx| db::all_links(tx.conn())).await
    }

    /// Who holds ticket `guid`'s claim and until when.
    pub async fn claim_holder(&self, guid: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        let g = guid.to_string();
        self.local
            .read(move |tx| db::claim_holder(tx.conn(), &g))
            .await
    }

    /// Puts set-aside entry `id` back into the queue carrying the ticket's current values of
    /// its fields, with a history row (field `sync`); the entry as it is now. NotFound for an
    /// unknown id, InvalidInput for an entry that is not set aside.
    pub async fn retry(&self, id: i64) -> Result<OutboxEntry> {
        self.local.write(move |tx| aside_action(tx, id, true)).await
    }

    /// Drops set-aside entry `id` for good, with a history row (field `sync`); the entry as it
    /// was. NotFound for an unknown id, InvalidInput for an entry that is not set aside.
    pub async fn discard(&self, id: i64) -> Result<OutboxEntry> {
        self.local
            .write(move |tx| aside_action(tx, id, false))
            .await
    }
}

/// Retries (`retry`) or discards set-aside entry `id` inside a write transaction.
fn aside_action(
    tx: &mut StoreTx<'_>,
    id: i64,
    retry: bool,
) -> std::result::Result<OutboxEntry, StoreError> {
    tx.set_origin(ticket_provider_api::ChangeOrigin::Maintenance);
    let verb = if retry { "retried" } else { "discarded" };
    let mut found = db::outbox_with_id(tx.conn(), id)?;
    if found.len() > 1 {
        let tickets: Vec<&str> = found.iter().map(|e| e.ticket_guid.as_str()).collect();
        return Err(Error::invalid_input(format!(
            "outbox entry id {id} is shared by entries of tickets {} (the system clock was set back while they were made); nothing was {verb}",
            tickets.join(" and ")
        ))
        .into());
    }
    let mut entry = found.pop().ok_or_else(|| not_found_entry(id))?;
    let Some(reason) = entry.set_aside_reason.clone() else {
        return Err(Error::invalid_input(format!(
            "outbox entry {id} is not set aside (it is still pending); only set-aside entries can be {verb}"
        ))
        .into());
    };
    let ticket = tx.ticket(&entry.ticket_guid)?;
    if retry {
        if let Some(t) = &ticket {
            entry.change = entry.change.refreshed(t);
        }
        // Queued again as a new entry, after the ticket's others: it carries the current
        // values, and a new id keeps it above the push mark Asana holds (see
        // `push_mark.rs`), which may have passed the old one while it was set aside.
        db::outbox_complete(tx.conn(), &entry.ticket_guid, id)?;
        db::outbox_insert(
            tx.conn(),
            &entry.ticket_guid,
            &entry.change,
            db::Newest::LookUp,
        )?;
        entry.set_aside_reason = None;
        entry.last_error = Some(format!("retried by hand after being set aside: {reason}"));
    } else {
        db::outbox_complete(tx.conn(), &entry.ticket_guid, id)?;
    }
    if ticket.is_some() {
        tx.record_history(
            &entry.ticket_guid,
            "sync",
            Some(&format!("set aside: {reason}")),
            Some(&format!(
                "{verb} {} (outbox entry {id})",
                entry.change.operation()
            )),
        )?;
    }
    tracing::info!(
        entry = id,
        guid = %entry.ticket_guid,
        operation = entry.change.operation(),
        reason = %reason,
        "set-aside outbox entry {verb}"
    );
    Ok(entry)
}

/// See [`SyncStore::mark_lost`], inside a write transaction.
pub(crate) fn mark_lost_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    gid: &str,
    why: &str,
) -> std::result::Result<bool, StoreError> {
    tx.set_origin(ticket_provider_api::ChangeOrigin::Maintenance);
    let Some(mut link) = db::link(tx.conn(), guid)? else {
        return Ok(false);
    };
    if link.state != LinkState::Linked || link.asana_gid.as_deref() != Some(gid) {
        return Ok(false);
    }
    link.state = LinkState::Lost;
    db::put_link(tx.conn(), &link)?;
    if tx.ticket(guid)?.is_some() {
        tx.record_history(
            guid,
            "sync",
            Some(&format!("linked to Asana task {gid}")),
            Some(&format!(
                "link lost: {why}; resolve with `ticket sync relink {guid}` or `ticket sync unlink {guid}`"
            )),
        )?;
    }
    tracing::warn!(guid = %guid, asana_gid = %gid, reason = %why, "the Asana task of this ticket is lost; nothing is pushed for it until it is relinked or unlinked");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The migration versions (the 14-digit prefix of each directory) below `dir`.
    fn versions(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|d| d.unwrap().file_name().to_string_lossy().to_string())
            .map(|name| name.split('_').next().unwrap_or_default().to_string())
            .collect()
    }

    /// The internal store's migrations and this extension's share diesel's one table of
    /// applied versions: a version both use would mark the second as applied without running
    /// it (a merge once made two sets use the same timestamp).
    #[test]
    fn migration_versions_are_unique_across_the_store_and_the_extension() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        for backend in ["sqlite", "postgres"] {
            let mut seen: BTreeMap<String, &str> = BTreeMap::new();
            for (set, dir) in [
                (
                    "provider-internal",
                    here.join("../provider-internal/migrations"),
                ),
                ("provider-sync", here.join("migrations")),
            ] {
                for v in versions(&dir.join(backend)) {
                    if let Some(other) = seen.insert(v.clone(), set) {
                        panic!("{backend}: migration version {v} is used by {other} and {set}");
                    }
                }
            }
        }
    }
}
