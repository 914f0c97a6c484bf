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

use crate::outbox::{Change, OutboxEntry};
use ticket_provider_api::model::MAX_COMMENT_CHARS;
use ticket_provider_api::{Due, FieldValue, Labels, Priority, Status};

use crate::completion::StatusPair;
use crate::snapshot::{Agreed, Fields};

/// The author of the notes the conflict rule writes.
pub const CONFLICT_AUTHOR: &str = "sync";

/// A synced field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Subject,
    Description,
    Status,
    Priority,
    Assignee,
    Due,
    /// A carried custom field, by name.
    Custom(String),
    /// The set of labels.
    Labels,
}

impl Field {
    /// Every built-in synced field.
    pub(crate) const BUILT_IN: [Field; 6] = [
        Field::Subject,
        Field::Description,
        Field::Status,
        Field::Priority,
        Field::Assignee,
        Field::Due,
    ];

    /// The field's name, as in tickets and history (`fields.<name>` for a custom field).
    pub(crate) fn name(&self) -> String {
        match self {
            Field::Subject => "subject".into(),
            Field::Description => "description".into(),
            Field::Status => "status".into(),
            Field::Priority => "priority".into(),
            Field::Assignee => "assignee".into(),
            Field::Due => "due".into(),
            Field::Custom(name) => format!("fields.{name}"),
            Field::Labels => "labels".into(),
        }
    }
}

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

/// The local changes waiting in the outbox, per field: `None` when nothing of the field is
/// pending, else the values the entries carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) subject: Option<Vec<String>>,
    pub(crate) description: Option<Vec<String>>,
    pub(crate) status: Option<Vec<Status>>,
    pub(crate) priority: Option<Vec<Priority>>,
    pub(crate) assignee: Option<Vec<Option<String>>>,
    pub(crate) due: Option<Vec<Option<Due>>>,
    /// Per custom field: the values pending changes carry (`None`: a clear).
    pub(crate) custom: BTreeMap<String, Vec<Option<FieldValue>>>,
    pub(crate) labels: Option<Vec<Labels>>,
}

fn note<T>(slot: &mut Option<Vec<T>>, value: Option<T>) {
    let values = slot.get_or_insert_with(Vec::new);
    values.extend(value);
}

impl Pending {
    /// What the entries not set aside change (a `create` every field).
    pub(crate) fn of(entries: &[OutboxEntry]) -> Self {
        let mut out = Pending::default();
        for e in entries.iter().filter(|e| e.set_aside_reason.is_none()) {
            match &e.change {
                Change::Create(p) => {
                    note(&mut out.subject, Some(p.subject.clone()));
                    note(&mut out.description, Some(p.description.clone()));
                    note(&mut out.status, Some(p.status));
                    note(&mut out.priority, Some(p.priority));
                    note(&mut out.assignee, Some(p.assignee.clone()));
                    note(&mut out.due, Some(p.due));
                    for (name, v) in &p.fields {
                        out.custom
                            .entry(name.clone())
                            .or_default()
                            .push(Some(v.clone()));
                    }
                    note(&mut out.labels, Some(p.labels.clone()));
                }
                Change::Update(p) => {
                    if let Some(s) = &p.subject {
                        note(&mut out.subject, Some(s.clone()));
                    }
                    if let Some(d) = &p.description {
                        note(&mut out.description, Some(d.clone()));
                    }
                    if let Some(pr) = p.priority {
                        note(&mut out.priority, Some(pr));
                    }
                    if let Some(d) = p.due {
                        note(&mut out.due, Some(d));
                    }
                    for (name, v) in &p.fields {
                        out.custom.entry(name.clone()).or_default().push(v.clone());
                    }
                    if let Some(l) = &p.labels {
                        note(&mut out.labels, Some(l.clone()));
                    }
                }
                Change::Status(_, p) => note(&mut out.status, Some(p.status)),
                Change::Assign(p) => note(&mut out.assignee, Some(Some(p.assignee.clone()))),
                Change::Comment(_) => {}
            }
        }
        out
    }

    /// What pushing `entries` writes to the task: [`Pending::of`] the entries that write
    /// fields ([`Change::writes_fields`]).
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
        Field::BUILT_IN.iter().any(|f| self.touches(f))
            || !self.custom.is_empty()
            || self.labels.is_some()
    }

    /// Whether a local change of `field` is pending.
    pub(crate) fn touches(&self, field: &Field) -> bool {
        match field {
            Field::Subject => self.subject.is_some(),
            Field::Description => self.description.is_some(),
            Field::Status => self.status.is_some(),
            Field::Priority => self.priority.is_some(),
            Field::Assignee => self.assignee.is_some(),
            Field::Due => self.due.is_some(),
            Field::Custom(name) => self.custom.contains_key(name),
            Field::Labels => self.labels.is_some(),
        }
    }
}

/// How a value is shown in a conflict note.
trait Shown {
    fn shown(&self) -> String;
}

/// At most this many characters of a value go into a note.
const SHOWN_CHARS: usize = 2000;

impl Shown for String {
    fn shown(&self) -> String {
        format!("{:?}", self.chars().take(SHOWN_CHARS).collect::<String>())
    }
}

impl Shown for Option<String> {
    fn shown(&self) -> String {
        match self {
            Some(s) => s.shown(),
            None => "(nobody)".to_string(),
        }
    }
}

impl Shown for Status {
    fn shown(&self) -> String {
        format!("{:?}", self.as_str())
    }
}

impl Shown for Option<Due> {
    fn shown(&self) -> String {
        match self {
            Some(d) => format!("{:?}", d.to_string()),
            None => "(none)".to_string(),
        }
    }
}

impl Shown for Priority {
    fn shown(&self) -> String {
        format!("{:?}", self.as_str())
    }
}

impl Shown for Option<FieldValue> {
    fn shown(&self) -> String {
        match self {
            Some(v) => v.display().shown(),
            None => "(none)".to_string(),
        }
    }
}

impl Shown for Labels {
    fn shown(&self) -> String {
        if self.is_empty() {
            return "(none)".to_string();
        }
        self.iter().cloned().collect::<Vec<_>>().join(", ").shown()
    }
}

/// A field both sides changed: what Asana had and the local value that won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub(crate) field: Field,
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
    /// The fields both sides changed: the built-in ones in [`Field::BUILT_IN`] order, then
    /// the custom fields by name, then the labels.
    pub(crate) conflicts: Vec<Conflict>,
}

fn merge_field<T: PartialEq + Clone + Shown>(
    field: Field,
    agreed: Option<&T>,
    local: &T,
    remote: &T,
    pending: Option<&[T]>,
    conflicts: &mut Vec<Conflict>,
) -> T {
    match decide(agreed, local, remote, pending) {
        Decision::InSync | Decision::TakeRemote => remote.clone(),
        Decision::KeepLocal => local.clone(),
        Decision::Conflict => {
            conflicts.push(Conflict {
                field,
                remote: remote.shown(),
                local: local.shown(),
            });
            local.clone()
        }
    }
}

/// [`decide`] for every field.
pub(crate) fn merge(agreed: &Agreed, local: &Fields, remote: &Fields, pending: &Pending) -> Merge {
    let mut c = Vec::new();
    let fields = Fields {
        subject: merge_field(
            Field::Subject,
            agreed.subject.as_ref(),
            &local.subject,
            &remote.subject,
            pending.subject.as_deref(),
            &mut c,
        ),
        description: merge_field(
            Field::Description,
            agreed.description.as_ref(),
            &local.description,
            &remote.description,
            pending.description.as_deref(),
            &mut c,
        ),
        status: merge_field(
            Field::Status,
            agreed.status.as_ref(),
            &local.status,
            &remote.status,
            pending.status.as_deref(),
            &mut c,
        ),
        priority: merge_field(
            Field::Priority,
            agreed.priority.as_ref(),
            &local.priority,
            &remote.priority,
            pending.priority.as_deref(),
            &mut c,
        ),
        assignee: merge_field(
            Field::Assignee,
            agreed.assignee.as_ref(),
            &local.assignee,
            &remote.assignee,
            pending.assignee.as_deref(),
            &mut c,
        ),
        due: merge_field(
            Field::Due,
            agreed.due.as_ref(),
            &local.due,
            &remote.due,
            pending.due.as_deref(),
            &mut c,
        ),
        custom: local
            .custom
            .iter()
            .map(|(name, l)| {
                let r = remote.custom.get(name).cloned().flatten();
                let v = merge_field(
                    Field::Custom(name.clone()),
                    agreed.custom.get(name),
                    l,
                    &r,
                    pending.custom.get(name).map(Vec::as_slice),
                    &mut c,
                );
                (name.clone(), v)
            })
            .collect(),
        labels: merge_field(
            Field::Labels,
            agreed.labels.as_ref(),
            &local.labels,
            &remote.labels,
            pending.labels.as_deref(),
            &mut c,
        ),
    };
    Merge {
        fields,
        conflicts: c,
    }
}

impl Agreed {
    /// Takes `field`'s value from `from` as the agreed one; `pair` is the task's section and
    /// `completed` its status was read from when the two disagreed (kept with the status:
    /// see `completion.rs`).
    pub(crate) fn adopt(&mut self, field: &Field, from: &Fields, pair: Option<StatusPair>) {
        match field {
            Field::Subject => self.subject = Some(from.subject.clone()),
            Field::Description => self.description = Some(from.description.clone()),
            Field::Status => {
                self.status = Some(from.status);
                self.status_from = pair;
            }
            Field::Priority => self.priority = Some(from.priority),
            Field::Assignee => self.assignee = Some(from.assignee.clone()),
            Field::Due => self.due = Some(from.due),
            Field::Custom(name) => {
                let v = from.custom.get(name).cloned().flatten();
                self.custom.insert(name.clone(), v);
            }
            Field::Labels => self.labels = Some(from.labels.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let with = |sev: &str, labels: &[&str]| {
            let mut f = fields("S", Status::New, None);
            f.custom
                .insert("severity".into(), Some(FieldValue::Enum(sev.to_string())));
            f.custom.insert("customer".into(), None);
            f.labels = labels.iter().map(|l| l.to_string()).collect();
            f
        };
        let agreed = Agreed::from(&with("S1", &["vip"]));
        let local = with("S2", &["vip", "ops"]);
        let remote = with("S3", &["later"]);
        let pending = Pending {
            custom: [(
                "severity".to_string(),
                vec![Some(FieldValue::Enum("S2".into()))],
            )]
            .into(),
            ..Pending::default()
        };
        let m = merge(&agreed, &local, &remote, &pending);
        assert_eq!(
            m.fields.custom["severity"],
            Some(FieldValue::Enum("S2".into())),
            "pending local value kept"
        );
        assert_eq!(
            m.fields.labels, remote.labels,
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
        assert_eq!(m.fields.custom, remote.custom);
        assert!(m.conflicts.is_empty());
    }

    fn fields(subject: &str, status: Status, assignee: Option<&str>) -> Fields {
        Fields {
            subject: subject.into(),
            description: "D".into(),
            status,
            priority: Priority::Normal,
            assignee: assignee.map(str::to_string),
            due: None,
            custom: Default::default(),
            labels: Default::default(),
        }
    }

    #[test]
    fn merge_takes_asana_keeps_pending_local_values_and_lists_conflicts() {
        let base = fields("S0", Status::New, None);
        let agreed = Agreed::from(&base);
        let local = fields("Local", Status::Triaged, Some("bob@example.com"));
        let remote = fields("Remote", Status::OnHold, None);
        // Subject: both changed. Status: only Asana (nothing pending). Assignee: only local.
        let pending = Pending {
            subject: Some(vec!["Local".into()]),
            assignee: Some(vec![Some("bob@example.com".into())]),
            ..Pending::default()
        };
        let m = merge(&agreed, &local, &remote, &pending);
        assert_eq!(
            m.fields,
            fields("Local", Status::OnHold, Some("bob@example.com"))
        );
        assert_eq!(
            m.conflicts,
            vec![Conflict {
                field: Field::Subject,
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
        seen.adopt(&Field::Subject, &remote, None);
        let again = merge(&seen, &local, &remote, &pending);
        assert_eq!(again.fields, m.fields);
        assert!(again.conflicts.is_empty(), "{again:?}");
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
            Pending {
                subject: Some(vec!["S1".into()]),
                priority: Some(vec![Priority::High]),
                status: Some(vec![Status::Escalated]),
                ..Pending::default()
            }
        );
        let create = Pending::of(&[entry(
            "create",
            serde_json::json!({"subject": "S", "description": "", "priority": "normal", "assignee": null, "status": "NEW"}),
            false,
        )]);
        assert!(
            Field::BUILT_IN.iter().all(|f| create.touches(f)),
            "{create:?}"
        );
        assert_eq!(create.assignee, Some(vec![None]));
    }
}
