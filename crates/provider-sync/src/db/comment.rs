//! Comment ↔ story links (`comment_sync`) and comment post attempts (`data_sync_comment_attempt`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use provider_internal::{DbConnection, StoreError};

use super::schema::time;
use super::schema::{comment_sync, data_sync_comment_attempt};

/// The story a comment was posted as.
pub(crate) fn story_of(
    conn: &mut DbConnection,
    comment_guid: &str,
) -> Result<Option<String>, StoreError> {
    Ok(comment_sync::table
        .find(comment_guid)
        .select(comment_sync::asana_story_gid)
        .get_result(conn)
        .optional()?)
}

/// The comment a story was recorded for.
pub(crate) fn comment_of_story(
    conn: &mut DbConnection,
    story: &str,
) -> Result<Option<String>, StoreError> {
    Ok(comment_sync::table
        .filter(comment_sync::asana_story_gid.eq(story))
        .select(comment_sync::comment_guid)
        .get_result(conn)
        .optional()?)
}

/// Records that a comment was posted as `story` and forgets its post attempt.
pub(crate) fn put_comment_link(
    conn: &mut DbConnection,
    comment_guid: &str,
    story: &str,
) -> Result<(), StoreError> {
    // One statement: an insert that updates the row already there.
    let row = (
        comment_sync::comment_guid.eq(comment_guid),
        comment_sync::asana_story_gid.eq(story),
    );
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => diesel::insert_into(comment_sync::table)
            .values(row)
            .on_conflict(comment_sync::comment_guid)
            .do_update()
            .set(comment_sync::asana_story_gid.eq(story))
            .execute(c)?,
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => diesel::insert_into(comment_sync::table)
            .values(row)
            .on_conflict(comment_sync::comment_guid)
            .do_update()
            .set(comment_sync::asana_story_gid.eq(story))
            .execute(c)?,
        #[allow(unreachable_patterns)]
        other => return Err(super::backend_not_built(other.backend())),
    };
    diesel::delete(data_sync_comment_attempt::table.find(comment_guid)).execute(conn)?;
    Ok(())
}

/// When the first post of a comment was attempted, if it was and is not linked yet.
pub(crate) fn attempt_of(
    conn: &mut DbConnection,
    comment_guid: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    time(
        data_sync_comment_attempt::table
            .find(comment_guid)
            .select(data_sync_comment_attempt::attempted_at)
            .get_result::<i64>(conn)
            .optional()?,
    )
}

/// Records a post attempt of a comment (the first one counts; see [`first_attempt`]).
pub(crate) fn record_attempt(
    conn: &mut DbConnection,
    comment_guid: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if attempt_of(conn, comment_guid)?.is_none() {
        first_attempt(conn, comment_guid, at)?;
    }
    Ok(())
}

/// Records the first post attempt of a comment known to have none.
pub(crate) fn first_attempt(
    conn: &mut DbConnection,
    comment_guid: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(data_sync_comment_attempt::table)
        .values((
            data_sync_comment_attempt::comment_guid.eq(comment_guid),
            data_sync_comment_attempt::attempted_at.eq(at.timestamp_micros()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets the story links (and post attempts) of these comments, so a push to a new task
/// posts them again.
pub(crate) fn forget_comment_links(
    conn: &mut DbConnection,
    comment_guids: &[String],
) -> Result<(), StoreError> {
    for chunk in comment_guids.chunks(500) {
        diesel::delete(comment_sync::table.filter(comment_sync::comment_guid.eq_any(chunk)))
            .execute(conn)?;
        diesel::delete(
            data_sync_comment_attempt::table
                .filter(data_sync_comment_attempt::comment_guid.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}
