//! The tables, as diesel sees them (the same on both backends).
#![allow(missing_docs)]

diesel::table! {
    /// One row per ticket.
    data_ticket (guid) {
        /// UUID v7, so keys are time-ordered.
        guid -> Text,
        subject -> Text,
        description -> Text,
        /// Upper-case status name, e.g. `IN_PROGRESS`.
        status -> Text,
        /// Lower-case priority name.
        priority -> Text,
        assignee -> Nullable<Text>,
        /// Microseconds since the Unix epoch.
        created_at -> BigInt,
        /// Microseconds since the Unix epoch.
        updated_at -> BigInt,
        /// Due day, `YYYY-MM-DD`.
        due_on -> Nullable<Text>,
        /// Due instant, microseconds since the Unix epoch.
        due_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Comments on tickets.
    data_ticket_comment (comment_guid) {
        comment_guid -> Text,
        ticket_guid -> Text,
        body -> Text,
        author -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    /// One row per changed field per operation (and one per comment added). On PostgreSQL
    /// it also has `commit_seq`, given at commit (see the `change_feed` migration), which
    /// only the feed's own query reads.
    data_ticket_history (id) {
        id -> BigInt,
        ticket_guid -> Text,
        field -> Text,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
        changed_at -> BigInt,
        /// `local`, `pulled`, `conflict` or `maintenance` (see the `change_feed` migration).
        origin -> Text,
        /// The Asana user of a pulled change, when known.
        origin_user -> Nullable<Text>,
    }
}

diesel::table! {
    /// Custom field values and labels, one row per element (see the migration).
    data_ticket_value (ticket_guid, name, value, kind) {
        ticket_guid -> Text,
        /// `label`, or the field's type name.
        kind -> Text,
        /// The label, or the field's name.
        name -> Text,
        /// `''` for a label; an element's canonical text for a field.
        value -> Text,
        /// The ticket's `created_at`.
        ticket_created_at -> BigInt,
    }
}

diesel::joinable!(data_ticket_value -> data_ticket (ticket_guid));

diesel::allow_tables_to_appear_in_same_query!(
    data_ticket,
    data_ticket_comment,
    data_ticket_history,
    data_ticket_value,
);
