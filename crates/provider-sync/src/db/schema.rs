//! The tables (diesel's view), and how times and errors are stored.

// diesel writes the tables' items without docs.
#![allow(missing_docs)]

use chrono::{DateTime, Utc};
use provider_internal::{from_micros, StoreError};
use ticket_provider_api::Error;

diesel::table! {
    /// The ticket guid <-> Asana task gid map, with the last agreed values. (The columns
    /// `agreed_subject` ... `agreed_values` of earlier versions are read once, by
    /// `legacy.rs`, which has its own view of them.)
    def_asana_sync (ticket_guid) {
        ticket_guid -> Text,
        asana_gid -> Nullable<Text>,
        state -> Text,
        last_synced_at -> Nullable<BigInt>,
        remote_modified_at -> Nullable<BigInt>,
        creating_since -> Nullable<BigInt>,
        pushed_at -> Nullable<BigInt>,
        agreed -> Nullable<Text>,
    }
}

diesel::table! {
    data_sync_outbox (id) {
        id -> BigInt,
        ticket_guid -> Text,
        operation -> Text,
        payload -> Text,
        created_at -> BigInt,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        set_aside_reason -> Nullable<Text>,
    }
}

diesel::table! {
    comment_sync (comment_guid) {
        comment_guid -> Text,
        asana_story_gid -> Text,
    }
}

diesel::table! {
    data_sync_comment_attempt (comment_guid) {
        comment_guid -> Text,
        attempted_at -> BigInt,
    }
}

diesel::table! {
    sync_kv (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    data_sync_claim (ticket_guid) {
        ticket_guid -> Text,
        owner -> Text,
        claim_until -> BigInt,
    }
}

pub(super) fn corrupt(message: String) -> StoreError {
    StoreError::Api(Error::internal(format!(
        "stored sync data is not valid: {message}"
    )))
}

/// Now, as the store keeps times (to the microsecond): a link built with it equals the
/// link read back.
pub(crate) fn stored_now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

pub(super) fn micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_micros())
}

pub(super) fn time(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(from_micros).transpose()
}
