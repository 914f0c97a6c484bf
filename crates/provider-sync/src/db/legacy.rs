//! What earlier versions stored otherwise, moved on open: release 0.1.0's per-ticket sync
//! state as text in `sync_kv`, and the agreed values' columns before the `agreed` column.

use super::claim::{kv_get, kv_put};
use super::comment::{record_attempt, story_of};
use super::link::{link, put_link, stored_agreed};
use super::schema::corrupt;
use crate::snapshot::Agreed;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use provider_internal::{from_micros, DbConnection, StoreError};
use ticket_provider_api::Values;

use super::schema::sync_kv;

/// Release 0.1.0 kept per-ticket sync state as text in `sync_kv` (`sync.snapshot.<guid>`:
/// the agreed values as JSON; `sync.pushed_at.<guid>`: RFC 3339;
/// `sync.comment_attempt.<guid>`: microseconds). Moves each such row into the typed
/// columns and deletes it; rows of tickets without a link (or unreadable) are dropped, as
/// 0.1.0 only wrote them for linked tickets. Idempotent. The number of rows moved.
pub(crate) fn upgrade_legacy_rows(conn: &mut DbConnection) -> Result<usize, StoreError> {
    const SNAPSHOT: &str = "sync.snapshot.";
    const PUSHED: &str = "sync.pushed_at.";
    const ATTEMPT: &str = "sync.comment_attempt.";
    let rows: Vec<(String, String)> = sync_kv::table
        .filter(
            sync_kv::key
                .like(format!("{SNAPSHOT}%"))
                .or(sync_kv::key.like(format!("{PUSHED}%")))
                .or(sync_kv::key.like(format!("{ATTEMPT}%"))),
        )
        .select((sync_kv::key, sync_kv::value))
        .load(conn)?;
    let mut moved = 0;
    for (key, value) in &rows {
        if let Some(guid) = key.strip_prefix(SNAPSHOT) {
            let agreed = serde_json::from_str(value)
                .ok()
                .and_then(|map| Values::from_stored(&map).ok())
                .map(Agreed::from);
            if let (Some(mut l), Some(agreed)) = (link(conn, guid)?, agreed) {
                l.agreed = agreed;
                put_link(conn, &l)?;
                moved += 1;
            }
        } else if let Some(guid) = key.strip_prefix(PUSHED) {
            let at = DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc));
            if let (Some(mut l), Ok(at)) = (link(conn, guid)?, at) {
                l.pushed_at = Some(at);
                put_link(conn, &l)?;
                moved += 1;
            }
        } else if let Some(cg) = key.strip_prefix(ATTEMPT) {
            if let Some(at) = value
                .parse::<i64>()
                .ok()
                .and_then(|us| from_micros(us).ok())
            {
                if story_of(conn, cg)?.is_none() {
                    record_attempt(conn, cg, at)?;
                    moved += 1;
                }
            }
        }
        diesel::delete(sync_kv::table.find(key)).execute(conn)?;
    }
    Ok(moved)
}

/// Whether any 0.1.0 per-ticket row is left in `sync_kv` (a read, before taking the write
/// lock for [`upgrade_legacy_rows`]).
pub(crate) fn has_legacy_rows(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let n: i64 = sync_kv::table
        .filter(
            sync_kv::key
                .like("sync.snapshot.%")
                .or(sync_kv::key.like("sync.pushed_at.%"))
                .or(sync_kv::key.like("sync.comment_attempt.%")),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The link table as versions before the `agreed` column kept the agreed values: a column
/// per built-in field, and the custom fields and labels as JSON. Read once by
/// [`upgrade_agreed_columns`], never written.
mod before_one_map {
    diesel::table! {
        def_asana_sync (ticket_guid) {
            ticket_guid -> Text,
            agreed_subject -> Nullable<Text>,
            agreed_description -> Nullable<Text>,
            agreed_status -> Nullable<Text>,
            agreed_priority -> Nullable<Text>,
            agreed_assignee -> Nullable<Text>,
            agreed_assignee_known -> Bool,
            agreed_due -> Nullable<Text>,
            agreed_due_known -> Bool,
            agreed_values -> Nullable<Text>,
            agreed -> Nullable<Text>,
        }
    }
}

/// The `sync_kv` key that says [`upgrade_agreed_columns`] ran.
const AGREED_ONE_MAP_KEY: &str = "upgrade.agreed_one_map";

#[derive(Queryable, Selectable)]
#[diesel(table_name = before_one_map::def_asana_sync)]
struct AgreedColumns {
    ticket_guid: String,
    agreed_subject: Option<String>,
    agreed_description: Option<String>,
    agreed_status: Option<String>,
    agreed_priority: Option<String>,
    agreed_assignee: Option<String>,
    agreed_assignee_known: bool,
    agreed_due: Option<String>,
    agreed_due_known: bool,
    agreed_values: Option<String>,
}

impl AgreedColumns {
    /// The agreed values these columns hold, in the `agreed` column's form: each known
    /// built-in value under its field's name, and `agreed_values`' custom fields
    /// (`{"fields": {name: value}, "labels": [...]}`) under theirs.
    fn stored(self) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
        use serde_json::Value as Json;
        let mut map = serde_json::Map::new();
        let text = |v: Option<String>| v.map_or(Json::Null, Json::from);
        for (name, value) in [
            ("subject", self.agreed_subject),
            ("description", self.agreed_description),
            ("status", self.agreed_status),
            ("priority", self.agreed_priority),
        ] {
            if value.is_some() {
                map.insert(name.into(), text(value));
            }
        }
        if self.agreed_assignee_known {
            map.insert("assignee".into(), text(self.agreed_assignee));
        }
        if self.agreed_due_known {
            map.insert("due".into(), text(self.agreed_due));
        }
        if let Some(values) = &self.agreed_values {
            let bad = |e: String| corrupt(format!("agreed custom values {values:?}: {e}"));
            let mut values = match serde_json::from_str(values) {
                Ok(Json::Object(o)) => o,
                _ => return Err(bad("not a JSON object".into())),
            };
            if let Some(Json::Object(custom)) = values.remove("fields") {
                for (name, v) in custom {
                    map.insert(format!("fields.{name}"), v);
                }
            }
            if let Some(labels) = values.remove("labels") {
                map.insert("labels".into(), labels);
            }
        }
        Ok(map)
    }
}

/// Versions before the `agreed` column kept the agreed values in a column per built-in
/// field and `agreed_values`: writes each link's values into `agreed` (once per store; a
/// `sync_kv` row records that it ran). A value that does not read is dropped (not known:
/// the next sync decides as for a link that knows nothing). The number of links upgraded.
pub(crate) fn upgrade_agreed_columns(conn: &mut DbConnection) -> Result<usize, StoreError> {
    use before_one_map::def_asana_sync as t;
    if kv_get(conn, AGREED_ONE_MAP_KEY)?.is_some() {
        return Ok(0);
    }
    let rows: Vec<AgreedColumns> = t::table
        .filter(t::agreed.is_null())
        .filter(
            t::agreed_subject
                .is_not_null()
                .or(t::agreed_description.is_not_null())
                .or(t::agreed_status.is_not_null())
                .or(t::agreed_priority.is_not_null())
                .or(t::agreed_assignee_known.eq(true))
                .or(t::agreed_due_known.eq(true))
                .or(t::agreed_values.is_not_null()),
        )
        .select(AgreedColumns::as_select())
        .load(conn)?;
    let n = rows.len();
    for row in rows {
        let guid = row.ticket_guid.clone();
        let agreed = row
            .stored()
            .ok()
            .and_then(|map| Values::from_stored(&map).ok())
            .map(Agreed::from)
            .unwrap_or_default();
        diesel::update(t::table.find(&guid))
            .set(t::agreed.eq(stored_agreed(&agreed)))
            .execute(conn)?;
    }
    kv_put(conn, AGREED_ONE_MAP_KEY, "done")?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_provider_api::{FieldValue, Status, TicketField, TicketValue};

    fn columns(values: Option<&str>) -> AgreedColumns {
        AgreedColumns {
            ticket_guid: "g".into(),
            agreed_subject: Some("S".into()),
            agreed_description: None,
            agreed_status: Some("IN_PROGRESS".into()),
            agreed_priority: None,
            agreed_assignee: None,
            agreed_assignee_known: true,
            agreed_due: None,
            agreed_due_known: false,
            agreed_values: values.map(str::to_string),
        }
    }

    /// The columns of earlier versions read as the same agreed values: known ones present
    /// (NULL with "known" is an empty value), unknown ones absent.
    #[test]
    fn the_columns_before_the_agreed_map_read_as_agreed_values() {
        let text = r#"{"fields":{"severity":{"kind":"enum","elements":["S1"]},"customer":null},"labels":["vip"]}"#;
        let map = columns(Some(text)).stored().unwrap();
        let agreed = Values::from_stored(&map).unwrap();
        let want: Values = [
            (TicketField::Subject, TicketValue::Text("S".into())),
            (TicketField::Status, TicketValue::Status(Status::InProgress)),
            (TicketField::Assignee, TicketValue::Person(None)),
            (
                TicketField::Custom("severity".into()),
                TicketValue::Custom(Some(FieldValue::Enum("S1".into()))),
            ),
            (
                TicketField::Custom("customer".into()),
                TicketValue::Custom(None),
            ),
            (
                TicketField::Labels,
                TicketValue::Labels(["vip".to_string()].into()),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(agreed, want);
        let plain = Values::from_stored(&columns(None).stored().unwrap()).unwrap();
        assert_eq!(plain.fields().count(), 3, "{plain:?}");
        assert!(columns(Some("[1]")).stored().is_err());
    }
}
