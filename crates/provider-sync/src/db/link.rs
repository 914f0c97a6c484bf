//! The link between a ticket and its Asana task (`def_asana_sync`): its state, its row and its statements.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use provider_internal::{kept_update, DbConnection, StoreError};

use super::schema::def_asana_sync;
use super::schema::{corrupt, micros, time};
use crate::snapshot::Agreed;
use ticket_provider_api::Values;

/// Where a ticket's link to its Asana task stands (stored as text in `def_asana_sync.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The task is being created: an attempt may have reached Asana (look it up by marker
    /// before creating it again).
    Creating,
    /// The task exists and `asana_gid` names it.
    Linked,
    /// The task `asana_gid` named is gone for us: Asana answered 404 or 403 for it (deleted,
    /// or no longer visible to the token), a single-task read found it outside the project,
    /// or a full read of the project did not list it. Nothing is pushed to it and no task is
    /// created in its place until `relink` (a new task) or `unlink` (local only) resolves it.
    Lost,
    /// The ticket was unlinked on purpose (`unlink`): it stays in the local store only, its
    /// changes are not queued for Asana, and the old task (`asana_gid`, if any) is ignored by
    /// pulls.
    LocalOnly,
}

impl LinkState {
    /// The stored text: `creating`, `linked`, `lost` or `local`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkState::Creating => "creating",
            LinkState::Linked => "linked",
            LinkState::Lost => "lost",
            LinkState::LocalOnly => "local",
        }
    }

    /// The state a stored text names; an unknown text is a store error (written by a newer
    /// version, or corrupted), never a guess.
    pub(crate) fn parse(stored: &str) -> Result<Self, StoreError> {
        match stored {
            "creating" => Ok(LinkState::Creating),
            "linked" => Ok(LinkState::Linked),
            "lost" => Ok(LinkState::Lost),
            "local" => Ok(LinkState::LocalOnly),
            other => Err(corrupt(format!(
                "unknown link state {other:?} in def_asana_sync"
            ))),
        }
    }

    /// The task gid `gid` of a link in this state, when the ticket is linked to it.
    fn gid(self, gid: Option<&str>) -> Option<&str> {
        match self {
            LinkState::Linked => gid,
            LinkState::Creating | LinkState::Lost | LinkState::LocalOnly => None,
        }
    }
}

/// The link between a local ticket and its Asana task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The local ticket.
    pub ticket_guid: String,
    /// The Asana task gid, once known.
    pub asana_gid: Option<String>,
    /// Whether the task is being created, linked, lost or the ticket is local only.
    pub state: LinkState,
    /// When the ticket was last pushed or pulled.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// The task's `modified_at` as last seen.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// While `state` is `creating`: when the create started.
    pub creating_since: Option<DateTime<Utc>>,
    /// The values both sides last agreed on.
    pub agreed: Agreed,
    /// When a push last wrote the task (under the ticket's claim).
    pub pushed_at: Option<DateTime<Utc>>,
}

impl Link {
    /// The task gid when linked.
    pub fn linked_gid(&self) -> Option<&str> {
        self.state.gid(self.asana_gid.as_deref())
    }
}

/// A link's state and task gid: all a local change needs to know of it (read by the sync
/// hook in every synced operation's transaction, so only these two columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkBrief {
    pub(crate) state: LinkState,
    pub(crate) asana_gid: Option<String>,
}

impl LinkBrief {
    /// As [`Link::linked_gid`].
    pub(crate) fn linked_gid(&self) -> Option<&str> {
        self.state.gid(self.asana_gid.as_deref())
    }
}

/// The state and task gid of ticket `guid`'s link.
pub(crate) fn link_brief(
    conn: &mut DbConnection,
    guid: &str,
) -> Result<Option<LinkBrief>, StoreError> {
    def_asana_sync::table
        .find(guid)
        .select((def_asana_sync::state, def_asana_sync::asana_gid))
        .get_result::<(String, Option<String>)>(conn)
        .optional()?
        .map(|(state, asana_gid)| {
            Ok(LinkBrief {
                state: LinkState::parse(&state)?,
                asana_gid,
            })
        })
        .transpose()
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = def_asana_sync)]
struct LinkRow {
    ticket_guid: String,
    asana_gid: Option<String>,
    #[diesel(embed)]
    values: LinkValues,
}

/// A link's columns but its key and its gid: an `UPDATE` of these touches no index.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = def_asana_sync, treat_none_as_null = true)]
struct LinkValues {
    state: String,
    last_synced_at: Option<i64>,
    remote_modified_at: Option<i64>,
    creating_since: Option<i64>,
    pushed_at: Option<i64>,
    /// Every agreed value: [`Agreed`]'s stored form. NULL: nothing known.
    agreed: Option<String>,
}

/// The key of the agreed status's pair ([`Agreed::status_from`]) in the stored JSON: never
/// a field's name.
const STATUS_FROM_KEY: &str = "status_from";

/// The agreed values stored as `text` (`None`: nothing known).
pub(crate) fn agreed_of_stored(text: Option<&str>) -> Result<Agreed, StoreError> {
    let Some(text) = text else {
        return Ok(Agreed::default());
    };
    let bad = |why: String| corrupt(format!("agreed values {text:?}: {why}"));
    let mut map = match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(bad("not a JSON object".into())),
    };
    let status_from = match map.remove(STATUS_FROM_KEY) {
        Some(pair) => Some(serde_json::from_value(pair).map_err(|e| bad(e.to_string()))?),
        None => None,
    };
    let values = Values::from_stored(&map).map_err(|e| bad(e.to_string()))?;
    Ok(Agreed {
        values,
        status_from,
    })
}

/// The stored text of agreed values: [`Values::to_stored`], plus the status's pair.
pub(crate) fn stored_agreed(agreed: &Agreed) -> String {
    let mut map = agreed.values.to_stored();
    if let Some(pair) = agreed.status_from {
        // A pair of a status name and a bool always serialises.
        map.insert(
            STATUS_FROM_KEY.into(),
            serde_json::to_value(pair).unwrap_or_default(),
        );
    }
    // A map of names and JSON values always serialises.
    serde_json::to_string(&map).unwrap_or_default()
}

impl LinkRow {
    fn into_link(self) -> Result<Link, StoreError> {
        let v = self.values;
        Ok(Link {
            state: LinkState::parse(&v.state)?,
            last_synced_at: time(v.last_synced_at)?,
            remote_modified_at: time(v.remote_modified_at)?,
            creating_since: time(v.creating_since)?,
            pushed_at: time(v.pushed_at)?,
            agreed: agreed_of_stored(v.agreed.as_deref())?,
            ticket_guid: self.ticket_guid,
            asana_gid: self.asana_gid,
        })
    }

    fn of(link: &Link) -> Self {
        LinkRow {
            ticket_guid: link.ticket_guid.clone(),
            asana_gid: link.asana_gid.clone(),
            values: LinkValues {
                state: link.state.as_str().to_string(),
                last_synced_at: micros(link.last_synced_at),
                remote_modified_at: micros(link.remote_modified_at),
                creating_since: micros(link.creating_since),
                pushed_at: micros(link.pushed_at),
                agreed: Some(stored_agreed(&link.agreed)),
            },
        }
    }
}

/// The link of ticket `guid`.
pub(crate) fn link(conn: &mut DbConnection, guid: &str) -> Result<Option<Link>, StoreError> {
    def_asana_sync::table
        .find(guid)
        .select(LinkRow::as_select())
        .get_result(conn)
        .optional()?
        .map(LinkRow::into_link)
        .transpose()
}

/// The link of Asana task `gid`.
pub(crate) fn link_by_gid(conn: &mut DbConnection, gid: &str) -> Result<Option<Link>, StoreError> {
    def_asana_sync::table
        .filter(def_asana_sync::asana_gid.eq(gid))
        .select(LinkRow::as_select())
        .get_result(conn)
        .optional()?
        .map(LinkRow::into_link)
        .transpose()
}

/// The links of these tickets.
pub(crate) fn links_of(
    conn: &mut DbConnection,
    guids: &[String],
) -> Result<HashMap<String, Link>, StoreError> {
    let mut out = HashMap::new();
    for chunk in guids.chunks(500) {
        for row in def_asana_sync::table
            .filter(def_asana_sync::ticket_guid.eq_any(chunk))
            .select(LinkRow::as_select())
            .load(conn)?
        {
            let l = row.into_link()?;
            out.insert(l.ticket_guid.clone(), l);
        }
    }
    Ok(out)
}

/// Inserts or replaces a link. A gid already linked to another ticket is a Conflict.
pub(crate) fn put_link(conn: &mut DbConnection, link: &Link) -> Result<(), StoreError> {
    let row = LinkRow::of(link);
    let n = kept_update(
        def_asana_sync::table,
        def_asana_sync::ticket_guid.eq(&row.ticket_guid),
        (def_asana_sync::asana_gid.eq(&row.asana_gid), &row.values),
    )
    .execute(conn)?;
    if n == 0 {
        insert_link(conn, link)?;
    }
    Ok(())
}

/// Stores `link` over `before`, the link as stored: when the gid stays, only the other
/// columns are written (no index is touched); else as [`put_link`].
pub(crate) fn update_link(
    conn: &mut DbConnection,
    before: &Link,
    link: &Link,
) -> Result<(), StoreError> {
    if before.ticket_guid != link.ticket_guid || before.asana_gid != link.asana_gid {
        return put_link(conn, link);
    }
    let row = LinkRow::of(link);
    let n = kept_update(
        def_asana_sync::table,
        def_asana_sync::ticket_guid.eq(&row.ticket_guid),
        &row.values,
    )
    .execute(conn)?;
    if n == 0 {
        insert_link(conn, link)?;
    }
    Ok(())
}

/// Inserts the link of a ticket that has none. A gid already linked to another ticket is a
/// Conflict.
pub(crate) fn insert_link(conn: &mut DbConnection, link: &Link) -> Result<(), StoreError> {
    diesel::insert_into(def_asana_sync::table)
        .values(LinkRow::of(link))
        .execute(conn)?;
    Ok(())
}

/// Every link in `state`, by ticket guid.
pub(crate) fn links_in_state(
    conn: &mut DbConnection,
    state: LinkState,
) -> Result<Vec<Link>, StoreError> {
    def_asana_sync::table
        .filter(def_asana_sync::state.eq(state.as_str()))
        .order(def_asana_sync::ticket_guid.asc())
        .select(LinkRow::as_select())
        .load(conn)?
        .into_iter()
        .map(LinkRow::into_link)
        .collect()
}

/// Every link, by ticket guid.
pub(crate) fn all_links(conn: &mut DbConnection) -> Result<Vec<Link>, StoreError> {
    def_asana_sync::table
        .order(def_asana_sync::ticket_guid.asc())
        .select(LinkRow::as_select())
        .load(conn)?
        .into_iter()
        .map(LinkRow::into_link)
        .collect()
}

/// How many links are in `state`.
pub(crate) fn count_links(conn: &mut DbConnection, state: LinkState) -> Result<u64, StoreError> {
    let n: i64 = def_asana_sync::table
        .filter(def_asana_sync::state.eq(state.as_str()))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes ticket `guid`'s link.
pub(crate) fn delete_link(conn: &mut DbConnection, guid: &str) -> Result<(), StoreError> {
    diesel::delete(def_asana_sync::table.find(guid)).execute(conn)?;
    Ok(())
}
