//! The conflict rule: pure functions from values to values, called by the pull (before it
//! imports a task) and by the push (before it overwrites a task's fields), so both sides
//! decide alike whichever discovers a conflict first.
//!
//! For each synced field there are four inputs: the value both sides last agreed on
//! ([`Agreed`], possibly unknown), the local value, Asana's value, and the values of the
//! local changes of the field still waiting in the outbox (none when nothing is pending; an
//! Asana value equal to one of them is one of our own writes whose answer was lost, not a
//! change made in Asana). [`decide`] says:
//!
//! * both sides hold the same value: [`Decision::InSync`];
//! * they differ and no local change is pending: Asana changed it, [`Decision::TakeRemote`];
//! * a local change is pending and Asana still has the agreed value (or one of ours):
//!   [`Decision::KeepLocal`], the local value is pushed;
//! * a local change is pending and Asana changed the field too: [`Decision::Conflict`], the
//!   local value wins and is pushed, and Asana's losing value is kept as a comment by author
//!   [`CONFLICT_AUTHOR`] and a history row.
//!
//! Once a conflict is recorded, Asana's losing value becomes the agreed one (both sides have
//! seen it), so whoever sees the same conflict again — a pull, a second push — finds
//! [`Decision::KeepLocal`] and records nothing more; a further change in Asana before the
//! push is a new conflict.

use std::collections::BTreeMap;

use crate::outbox::OutboxEntry;
use ticket_provider_api::field_set::{TicketField, TicketValue};
use ticket_provider_api::model::MAX_COMMENT_CHARS;

use crate::completion::StatusPair;
use crate::snapshot::{Agreed, Fields};

/// The author of the notes the conflict rule writes.
pub const CONFLICT_AUTHOR: &str = "sync";

/// What the conflict rule makes of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Both sides hold the same value.
    InSync,
    /// Only Asana changed it (no local change is pending): Asana's value is taken.
    TakeRemote,
    /// Only the local side changed it: the local value stays and is pushed.
    KeepLocal,
    /// Both changed it: the local value wins and is pushed; Asana's value is recorded.
    Conflict,
}

/// The conflict rule for one field (see the module documentation). `pending` is `None`
/// when no local change of the field waits in the outbox, else the values those changes
/// carry.
pub(crate) fn decide<T: PartialEq>(
    agreed: Option<&T>,
    local: &T,
    remote: &T,
    pending: Option<&[T]>,
) -> Decision {
    if local == remote {
        return Decision::InSync;
    }
    let Some(ours) = pending else {
        return Decision::TakeRemote;
    };
    let asana_changed = agreed != Some(remote) && !ours.contains(remote);
    if asana_changed {
        Decision::Conflict
    } else {
        Decision::KeepLocal
    }
}

/// The local changes waiting in the outbox, per field: the values the entries carry. A
/// field that is absent has nothing pending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pending(BTreeMap<TicketField, Vec<TicketValue>>);

impl Pending {
    /// What the entries not set aside change (a `create` every field it carries).
    pub(crate) fn of(entries: &[OutboxEntry]) -> Self {
        let mut out = Pending::default();
        for e in entries.iter().filter(|e| e.set_aside_reason.is_none()) {
            for (field, value) in e.change.sets() {
                out.0.entry(field).or_default().push(value);
            }
        }
        out
    }

    /// What pushing `entries` writes to the task: [`Pending::of`] the entries that write
    /// fields ([`Change::writes_fields`](crate::outbox::Change::writes_fields)).
    pub(crate) fn written_by(entries: &[OutboxEntry]) -> Self {
        let writing: Vec<OutboxEntry> = entries
            .iter()
            .filter(|e| e.change.writes_fields())
            .cloned()
            .collect();
        Pending::of(&writing)
    }

    /// Whether any field is written.
    pub(crate) fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether a local change of `field` is pending.
    pub(crate) fn touches(&self, field: &TicketField) -> bool {
        self.0.contains_key(field)
    }

    /// The values pending changes of `field` carry; `None` when nothing of it is pending.
    pub(crate) fn values(&self, field: &TicketField) -> Option<&[TicketValue]> {
        self.0.get(field).map(Vec::as_slice)
    }
}

/// At most this many characters of a value go into a note.
const SHOWN_CHARS: usize = 2000;

/// How a value of `field` is shown in a conflict note: quoted, cut to [`SHOWN_CHARS`].
fn shown(field: &TicketField, value: &TicketValue) -> String {
    match value.display() {
        Some(text) => format!("{:?}", text.chars().take(SHOWN_CHARS).collect::<String>()),
        None => field.nothing().to_string(),
    }
}

/// A field both sides changed: what Asana had and the local value that won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub(crate) field: TicketField,
    /// Asana's (losing) value, as shown in the note.
    pub(crate) remote: String,
    /// The local (winning) value, as shown in the note.
    pub(crate) local: String,
}

impl Conflict {
    /// The text of the comment (by [`CONFLICT_AUTHOR`]) that keeps Asana's value.
    pub(crate) fn comment(&self) -> String {
        let text = format!(
            "Sync conflict on {}: Asana had {} while a local change to {} was waiting to be pushed. The local value was kept and will be pushed to Asana.",
            self.field.name(),
            self.remote,
            self.local
        );
        text.chars().take(MAX_COMMENT_CHARS).collect()
    }

    /// The history row (field `sync`): before, Asana's value; after, the one kept.
    pub(crate) fn history(&self) -> (String, String) {
        let name = self.field.name();
        (
            format!("conflict on {name}: Asana had {}", self.remote),
            format!("kept the local {name} {}", self.local),
        )
    }
}

/// The values a pull imports and the conflicts it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Merge {
    /// Per field: Asana's value, or the local one where a local change is pending.
    pub(crate) fields: Fields,
    /// The fields both sides changed, in field order.
    pub(crate) conflicts: Vec<Conflict>,
}

/// [`decide`] for every field of `local`. A field Asana's values lack counts as its empty
/// value, or (a built-in field) as the local one.
pub(crate) fn merge(agreed: &Agreed, local: &Fields, remote: &Fields, pending: &Pending) -> Merge {
    let mut conflicts = Vec::new();
    let fields = local
        .iter()
        .map(|(field, l)| {
            let r = remote.get_or_default(field).unwrap_or_else(|| l.clone());
            let kept = match decide(agreed.get(field), l, &r, pending.values(field)) {
                Decision::InSync | Decision::TakeRemote => r,
                Decision::KeepLocal => l.clone(),
                Decision::Conflict => {
                    conflicts.push(Conflict {
                        field: field.clone(),
                        remote: shown(field, &r),
                        local: shown(field, l),
                    });
                    l.clone()
                }
            };
            (field.clone(), kept)
        })
        .collect();
    Merge { fields, conflicts }
}

/// Takes `field`'s value from `from` as the agreed one; `pair` is the task's section and
/// `completed` its status was read from when the two disagreed (kept with the status: see
/// `completion.rs`).
pub(crate) fn adopt(
    agreed: &mut Agreed,
    field: &TicketField,
    from: &Fields,
    pair: Option<StatusPair>,
) {
    if let Some(v) = from.get_or_default(field) {
        agreed.insert(field.clone(), v);
    }
    if *field == TicketField::Status {
        agreed.status_from = pair;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Change;
    use ticket_provider_api::{FieldValue, Labels, Priority, Status};
    use Decision::{InSync, KeepLocal, TakeRemote};
    const CONFLICT: Decision = Decision::Conflict;

    /// A value of the abstract table below.
    #[derive(Debug, Clone, Copy)]
    enum V {
        /// The last agreed value.
        A,
        /// Another value (the local change, or Asana's).
        B,
        /// A third one.
        C,
    }

    /// How the outbox stands for the field.
    #[derive(Debug, Clone, Copy)]
    enum P {
        /// Nothing pending.
        None,
        /// A change to the local value is pending.
        Local,
        /// Pending changes carry the local value and Asana's (ours, answer lost).
        LocalAndRemote,
    }

    /// Every combination: (agreed known?, local, remote, pending, decision).
    const TABLE: &[(bool, V, V, P, Decision)] = &[
        // Same on both sides: nothing to decide, pending or not, agreed known or not.
        (true, V::A, V::A, P::None, InSync),
        (true, V::A, V::A, P::Local, InSync),
        (true, V::B, V::B, P::None, InSync),
        (true, V::B, V::B, P::Local, InSync),
        (false, V::B, V::B, P::None, InSync),
        (false, V::B, V::B, P::Local, InSync),
        // Only Asana changed (nothing pending): Asana's value is taken.
        (true, V::A, V::B, P::None, TakeRemote),
        (false, V::A, V::B, P::None, TakeRemote),
        // Both differ from the agreed value but nothing is pending (a set-aside or discarded
        // local change): Asana's value is taken, as the history records.
        (true, V::B, V::C, P::None, TakeRemote),
        // Local changed (pending), Asana did not: the local value stays and is pushed.
        (true, V::B, V::A, P::Local, KeepLocal),
        (true, V::B, V::A, P::None, TakeRemote),
        // Asana holds a value of one of our pending changes (its answer was lost): ours.
        (true, V::B, V::C, P::LocalAndRemote, KeepLocal),
        (false, V::B, V::C, P::LocalAndRemote, KeepLocal),
        // Both changed: the local value wins, Asana's is recorded.
        (true, V::B, V::C, P::Local, CONFLICT),
        (true, V::A, V::B, P::Local, CONFLICT),
        // Nothing agreed is known: Asana's different value counts as a change.
        (false, V::B, V::A, P::Local, CONFLICT),
        (false, V::B, V::C, P::Local, CONFLICT),
    ];

    /// Runs [`TABLE`] with the values `a`, `b`, `c` of one field kind.
    fn run_table<T: PartialEq + Clone + std::fmt::Debug>(kind: &str, a: T, b: T, c: T) {
        let pick = |v: V| match v {
            V::A => a.clone(),
            V::B => b.clone(),
            V::C => c.clone(),
        };
        for &(known, local, remote, pending, want) in TABLE {
            let (l, r) = (pick(local), pick(remote));
            let ours: Option<Vec<T>> = match pending {
                P::None => None,
                P::Local => Some(vec![l.clone()]),
                P::LocalAndRemote => Some(vec![r.clone(), l.clone()]),
            };
            let agreed = known.then(|| a.clone());
            assert_eq!(
                decide(agreed.as_ref(), &l, &r, ours.as_deref()),
                want,
                "{kind}: agreed {agreed:?}, local {l:?}, remote {r:?}, pending {ours:?}"
            );
        }
    }

    #[test]
    fn decide_by_table_for_every_field_kind() {
        run_table("subject", "S0".to_string(), "S1".into(), "S2".into());
        run_table(
            "description",
            String::new(),
            "two\nlines".into(),
            "other".into(),
        );
        run_table("status", Status::New, Status::Triaged, Status::OnHold);
        run_table("priority", Priority::Normal, Priority::High, Priority::Low);
        run_table(
            "assignee",
            None,
            Some("bob@example.com".to_string()),
            Some("alice@example.com".to_string()),
        );
        run_table(
            "assignee (from someone to nobody)",
            Some("alice@example.com".to_string()),
            None,
            Some("bob@example.com".to_string()),
        );
        run_table(
            "custom field",
            Some(FieldValue::Enum("S1".into())),
            Some(FieldValue::Enum("S2".into())),
            Some(FieldValue::Enum("S3".into())),
        );
        run_table(
            "custom field (set from none)",
            None,
            Some(FieldValue::Number("2.5".parse().unwrap())),
            Some(FieldValue::Number("3".parse().unwrap())),
        );
        run_table(
            "labels",
            Labels::new(),
            ["vip".to_string()].into(),
            ["later".to_string()].into(),
        );
    }

    /// Custom fields and labels go through the same rule as the built-in fields, by name,
    /// and a conflict names the field.
    #[test]
    fn merge_applies_the_rule_to_custom_fields_and_labels() {
        let severity = TicketField::Custom("severity".into());
        let customer = TicketField::Custom("customer".into());
        let with = |sev: &str, labels: &[&str]| {
            let mut f = fields("S", Status::New, None);
            f.insert(
                severity.clone(),
                TicketValue::Custom(Some(FieldValue::Enum(sev.to_string()))),
            );
            f.insert(customer.clone(), TicketValue::Custom(None));
            f.insert(
                TicketField::Labels,
                TicketValue::Labels(labels.iter().map(|l| l.to_string()).collect()),
            );
            f
        };
        let agreed: Agreed = with("S1", &["vip"]).into();
        let local = with("S2", &["vip", "ops"]);
        let remote = with("S3", &["later"]);
        let s2 = TicketValue::Custom(Some(FieldValue::Enum("S2".into())));
        let pending = Pending([(severity.clone(), vec![s2.clone()])].into());
        let m = merge(&agreed, &local, &remote, &pending);
        assert_eq!(
            m.fields.get(&severity),
            Some(&s2),
            "pending local value kept"
        );
        assert_eq!(
            m.fields.labels(),
            remote.labels(),
            "labels not pending: Asana's"
        );
        let names: Vec<String> = m.conflicts.iter().map(|c| c.field.name()).collect();
        assert_eq!(names, ["fields.severity"]);
        assert!(
            m.conflicts[0].comment().contains("\"S3\""),
            "{:?}",
            m.conflicts[0]
        );
        // Unknown agreed values (a link older than custom fields): Asana's are taken.
        let m = merge(&Agreed::default(), &local, &remote, &Pending::default());
        assert_eq!(m.fields, remote);
        assert!(m.conflicts.is_empty());
        // A custom field Asana's values lack counts as no value.
        let mut lacking = remote.clone();
        lacking.remove(&severity);
        let m = merge(&Agreed::default(), &local, &lacking, &Pending::default());
        assert_eq!(m.fields.get(&severity), Some(&TicketValue::Custom(None)));
    }

    fn fields(subject: &str, status: Status, assignee: Option<&str>) -> Fields {
        [
            (TicketField::Subject, TicketValue::Text(subject.into())),
            (TicketField::Description, TicketValue::Text("D".into())),
            (TicketField::Status, TicketValue::Status(status)),
            (
                TicketField::Priority,
                TicketValue::Priority(Priority::Normal),
            ),
            (
                TicketField::Assignee,
                TicketValue::Person(assignee.map(str::to_string)),
            ),
            (TicketField::Due, TicketValue::Due(None)),
            (TicketField::Labels, TicketValue::Labels(Labels::new())),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn merge_takes_asana_keeps_pending_local_values_and_lists_conflicts() {
        let agreed: Agreed = fields("S0", Status::New, None).into();
        let local = fields("Local", Status::Triaged, Some("bob@example.com"));
        let remote = fields("Remote", Status::OnHold, None);
        // Subject: both changed. Status: only Asana (nothing pending). Assignee: only local.
        let pending = Pending(
            [
                (
                    TicketField::Subject,
                    vec![TicketValue::Text("Local".into())],
                ),
                (
                    TicketField::Assignee,
                    vec![TicketValue::Person(Some("bob@example.com".into()))],
                ),
            ]
            .into(),
        );
        let m = merge(&agreed, &local, &remote, &pending);
        assert_eq!(
            m.fields,
            fields("Local", Status::OnHold, Some("bob@example.com"))
        );
        assert_eq!(
            m.conflicts,
            vec![Conflict {
                field: TicketField::Subject,
                remote: "\"Remote\"".into(),
                local: "\"Local\"".into(),
            }]
        );
        assert!(m.conflicts[0].comment().contains("Asana had \"Remote\""));
        let (before, after) = m.conflicts[0].history();
        assert_eq!(before, "conflict on subject: Asana had \"Remote\"");
        assert_eq!(after, "kept the local subject \"Local\"");

        // Once Asana's value is adopted as agreed, the same state is no conflict any more.
        let mut seen = agreed.clone();
        adopt(&mut seen, &TicketField::Subject, &remote, None);
        let again = merge(&seen, &local, &remote, &pending);
        assert_eq!(again.fields, m.fields);
        assert!(again.conflicts.is_empty(), "{again:?}");
    }

    #[test]
    fn values_are_shown_quoted_or_as_nothing() {
        // (field, value, shown)
        let cases = [
            (
                TicketField::Subject,
                TicketValue::Text("a \"b\"".into()),
                r#""a \"b\"""#,
            ),
            (
                TicketField::Description,
                TicketValue::Text(String::new()),
                r#""""#,
            ),
            (
                TicketField::Status,
                TicketValue::Status(Status::OnHold),
                r#""ON_HOLD""#,
            ),
            (TicketField::Assignee, TicketValue::Person(None), "(nobody)"),
            (TicketField::Due, TicketValue::Due(None), "(none)"),
            (
                TicketField::Labels,
                TicketValue::Labels(Labels::new()),
                "(none)",
            ),
            (
                TicketField::Labels,
                TicketValue::Labels(["b".to_string(), "a".to_string()].into()),
                r#""a, b""#,
            ),
            (
                TicketField::Custom("x".into()),
                TicketValue::Custom(None),
                "(none)",
            ),
        ];
        for (field, value, want) in cases {
            assert_eq!(shown(&field, &value), want, "{field} {value:?}");
        }
        let long = TicketValue::Text("x".repeat(SHOWN_CHARS + 5));
        assert_eq!(
            shown(&TicketField::Subject, &long).chars().count(),
            SHOWN_CHARS + 2
        );
    }

    #[test]
    fn pending_values_by_operation() {
        let entry = |op: &str, payload: serde_json::Value, aside: bool| OutboxEntry {
            id: 1,
            ticket_guid: "g".into(),
            change: Change::from_stored(op, &payload.to_string()).expect("a stored change"),
            created_at: chrono::Utc::now(),
            attempts: 0,
            last_error: None,
            set_aside_reason: aside.then(|| "refused".to_string()),
        };
        let entries = [
            entry("update", serde_json::json!({"subject": "S1"}), false),
            entry("update", serde_json::json!({"priority": "high"}), false),
            entry(
                "escalate",
                serde_json::json!({"status": "ESCALATED"}),
                false,
            ),
            entry("assign", serde_json::json!({"assignee": "x@y"}), true),
            entry(
                "add_comment",
                serde_json::json!({"comment_guid": "c", "body": "b"}),
                false,
            ),
        ];
        let p = Pending::of(&entries);
        assert_eq!(
            p,
            Pending(
                [
                    (TicketField::Subject, vec![TicketValue::Text("S1".into())]),
                    (
                        TicketField::Status,
                        vec![TicketValue::Status(Status::Escalated)]
                    ),
                    (
                        TicketField::Priority,
                        vec![TicketValue::Priority(Priority::High)]
                    ),
                ]
                .into()
            )
        );
        let create = Pending::of(&[entry(
            "create",
            serde_json::json!({"subject": "S", "description": "", "priority": "normal", "assignee": null, "status": "NEW"}),
            false,
        )]);
        assert!(
            TicketField::BUILT_IN.iter().all(|f| create.touches(f)),
            "{create:?}"
        );
        assert_eq!(
            create.values(&TicketField::Assignee),
            Some(&[TicketValue::Person(None)][..])
        );
    }
}
