//! What the pull and the push share around the conflict rule ([`crate::conflict`]): a task's
//! values as ticket fields, cleaned as the internal store keeps them, and recording the
//! conflicts the rule found.

use provider_asana::RemoteTask;
use provider_internal::{normalize_line, StoreError, StoreTx};
use ticket_provider_api::model::{MAX_ASSIGNEE_CHARS, MAX_DESCRIPTION_CHARS, MAX_SUBJECT_CHARS};
use ticket_provider_api::{Labels, NewComment, Priority, Status, Ticket, TicketField, TicketValue};

use crate::completion::{status_of_task, StatusPair, TaskStatus};
use crate::conflict::{Conflict, CONFLICT_AUTHOR};
use crate::snapshot::{Agreed, CarriedFields, Fields};
use ticket_provider_api::fields::{check_label, MAX_LABELS};

/// Slack for clock differences with Asana when looking for the task of an earlier create or
/// the story of an earlier comment.
pub(crate) const CLOCK_SKEW_MINUTES: i64 = 10;

/// Keeps at most `max` characters.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// One line as the store keeps it ([`normalize_line`], the rule of every write), at most
/// `max` characters.
pub(crate) fn clean_line(s: &str, max: usize) -> String {
    truncate(&normalize_line(s), max)
}

/// Text without control characters other than newline, carriage return and tab.
fn clean_text_whole(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect()
}

/// Text without control characters other than newline, carriage return and tab, at most
/// `max` characters.
pub(crate) fn clean_text(s: &str, max: usize) -> String {
    truncate(&clean_text_whole(s), max)
}

/// A value from Asana longer than the store keeps, so cut on import: never silently (the
/// import logs a warning and records a history row, `verify` reports it as a difference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cut {
    /// What was cut.
    pub(crate) field: CutField,
    /// Its length in Asana, in characters (once cleaned as the store keeps it).
    pub(crate) asana_chars: usize,
    /// What the store keeps: the limit.
    pub(crate) kept_chars: usize,
}

/// What a [`Cut`] cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CutField {
    /// The task's name.
    Subject,
    /// The task's notes.
    Description,
    /// The assignee's e-mail.
    Assignee,
    /// The text of the comment story with this gid.
    Comment(String),
}

impl std::fmt::Display for CutField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CutField::Subject => f.write_str("subject"),
            CutField::Description => f.write_str("description"),
            CutField::Assignee => f.write_str("assignee"),
            CutField::Comment(story) => write!(f, "comment (story {story})"),
        }
    }
}

impl Cut {
    /// The cut of `cleaned` (a value cleaned as the store keeps it) to `max` characters, if
    /// it is longer.
    pub(crate) fn of(field: CutField, cleaned: &str, max: usize) -> Option<Cut> {
        let n = cleaned.chars().count();
        (n > max).then_some(Cut {
            field,
            asana_chars: n,
            kept_chars: max,
        })
    }

    /// The history row (field `sync`) that records it: before, Asana's length; after, why
    /// the value is shorter.
    pub(crate) fn history(&self) -> (String, String) {
        (
            format!("Asana's {}: {} characters", self.field, self.asana_chars),
            format!(
                "cut to {} characters on import: the store keeps at most {}",
                self.kept_chars, self.kept_chars
            ),
        )
    }
}

/// The fields of `task` longer than the store keeps (see [`remote_fields`]). Pure.
pub(crate) fn cuts(task: &RemoteTask) -> Vec<Cut> {
    let mut out = Vec::new();
    out.extend(Cut::of(
        CutField::Subject,
        &normalize_line(&task.subject),
        MAX_SUBJECT_CHARS,
    ));
    out.extend(Cut::of(
        CutField::Description,
        &clean_text_whole(&task.description),
        MAX_DESCRIPTION_CHARS,
    ));
    if let Some(a) = &task.assignee {
        out.extend(Cut::of(
            CutField::Assignee,
            &normalize_line(a),
            MAX_ASSIGNEE_CHARS,
        ));
    }
    out
}

/// The cut of a comment story's text (decoded, before cleaning), if it is longer than the
/// store keeps.
pub(crate) fn story_cut(story_gid: &str, body: &str) -> Option<Cut> {
    Cut::of(
        CutField::Comment(story_gid.to_string()),
        &clean_text_whole(body),
        ticket_provider_api::model::MAX_COMMENT_CHARS,
    )
}

/// Where a comment story cut on import is kept until `verify --repair` acknowledges it
/// (key: this prefix and the story gid, in the store's named values): `verify` reads no
/// stories, so it reports these instead.
pub(crate) const STORY_CUT_KEY_PREFIX: &str = "sync.cut.story.";

/// A comment story cut on import, as kept under [`STORY_CUT_KEY_PREFIX`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoryCut {
    /// The ticket the comment belongs to.
    pub(crate) ticket_guid: String,
    /// The task the story is on.
    pub(crate) asana_gid: String,
    /// The story.
    pub(crate) story_gid: String,
    /// Its length in Asana, in characters.
    pub(crate) asana_chars: usize,
    /// What the store keeps.
    pub(crate) kept_chars: usize,
}

/// Records `cut` on ticket `guid` (task `gid`): a warning in the log and a history row.
pub(crate) fn record_cut_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    gid: &str,
    cut: &Cut,
) -> std::result::Result<(), StoreError> {
    tracing::warn!(
        guid = %guid,
        asana_gid = %gid,
        field = %cut.field,
        asana_chars = cut.asana_chars,
        kept_chars = cut.kept_chars,
        "import: a value from Asana is longer than the store keeps; cut (see `ticket history` and `ticket sync verify`)"
    );
    let (before, after) = cut.history();
    tx.record_history(guid, "sync", Some(&before), Some(&after))?;
    if let CutField::Comment(story) = &cut.field {
        let kept = StoryCut {
            ticket_guid: guid.to_string(),
            asana_gid: gid.to_string(),
            story_gid: story.clone(),
            asana_chars: cut.asana_chars,
            kept_chars: cut.kept_chars,
        };
        let text = serde_json::to_string(&kept).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        crate::db::kv_put(tx.conn(), &format!("{STORY_CUT_KEY_PREFIX}{story}"), &text)?;
    }
    Ok(())
}

/// A remote task's field values, cleaned to what the internal store accepts; status and
/// priority fall back to `fallback` (the local ticket) when the task has none of ours.
/// The status comes from the section and `completed` by [`status_of_task`], given the
/// `agreed` values; the pair is returned when Asana must be told the status (the pair
/// disagreed). The `carried` custom fields are the task's; its tags that are no labels (a
/// comma, a line break, too long) are left out.
pub(crate) fn remote_fields(
    task: &RemoteTask,
    fallback: Option<&Ticket>,
    agreed: &Agreed,
    carried: &CarriedFields,
) -> (Fields, Option<StatusPair>) {
    let mut subject = clean_line(&task.subject, MAX_SUBJECT_CHARS);
    if subject.is_empty() {
        subject = format!("(Asana task {} without a name)", task.gid);
    }
    let section = task
        .status
        .or(fallback.map(|t| t.status))
        .unwrap_or(Status::New);
    let TaskStatus { status, push } =
        status_of_task(section, task.completed, agreed.status(), agreed.status_from);
    let pair = push.then_some(StatusPair {
        section,
        completed: task.completed,
    });
    let priority = task
        .priority
        .or(fallback.map(|t| t.priority))
        .unwrap_or(Priority::Normal);
    let assignee = task
        .assignee
        .as_deref()
        .map(|a| clean_line(a, MAX_ASSIGNEE_CHARS))
        .filter(|a| !a.is_empty());
    // The push mark is the sync's own line, not part of the description.
    let description = clean_text(
        &match task.marker.as_deref() {
            Some(g) => crate::push_mark::split(&task.description, g).0,
            None => task.description.clone(),
        },
        MAX_DESCRIPTION_CHARS,
    );
    let labels: Labels = task
        .labels
        .iter()
        .filter(|l| check_label(l).is_ok())
        .take(MAX_LABELS)
        .cloned()
        .collect();
    let fields = [
        (TicketField::Subject, TicketValue::Text(subject)),
        (TicketField::Description, TicketValue::Text(description)),
        (TicketField::Status, TicketValue::Status(status)),
        (TicketField::Priority, TicketValue::Priority(priority)),
        (TicketField::Assignee, TicketValue::Person(assignee)),
        (TicketField::Due, TicketValue::Due(task.due)),
        (TicketField::Labels, TicketValue::Labels(labels)),
    ]
    .into_iter()
    .chain(carried.iter().map(|name| {
        (
            TicketField::Custom(name.clone()),
            TicketValue::Custom(task.fields.get(name).cloned()),
        )
    }))
    .collect();
    (fields, pair)
}

/// Records each conflict on ticket `guid`: a comment by [`CONFLICT_AUTHOR`] (pushed like any
/// other: the hook queues it) and a history row of field `sync`. The caller stores the
/// agreed values (Asana's for these fields) in the same transaction, so a conflict is
/// recorded once.
pub(crate) fn record_conflicts_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    conflicts: &[Conflict],
) -> std::result::Result<(), StoreError> {
    tx.set_origin(ticket_provider_api::ChangeOrigin::Conflict);
    for c in conflicts {
        tx.add_comment(
            guid,
            &NewComment {
                body: c.comment(),
                author: Some(CONFLICT_AUTHOR.to_string()),
            },
        )?;
        let (before, after) = c.history();
        tx.record_history(guid, "sync", Some(&before), Some(&after))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_is_found_only_past_the_limit_counting_characters() {
        // (value, limit, cut?) — characters, not bytes; cleaned before counting.
        let cases: [(&str, usize, Option<usize>); 5] = [
            ("abc", 3, None),
            ("abcd", 3, Some(4)),
            ("äöü", 3, None),
            ("äöüß", 3, Some(4)),
            ("ab", 1, Some(2)),
        ];
        for (value, max, want) in cases {
            let got = Cut::of(CutField::Subject, value, max).map(|c| c.asana_chars);
            assert_eq!(got, want, "{value} / {max}");
        }
        let c = story_cut("42", &format!("{}\u{7}", "x".repeat(10_000))).map(|c| c.field);
        assert_eq!(c, None, "a control character is cleaned before counting");
        let c = story_cut("42", &"x".repeat(10_001)).unwrap();
        assert_eq!(c.field.to_string(), "comment (story 42)");
        assert_eq!(
            c.history().0,
            "Asana's comment (story 42): 10001 characters"
        );
    }
}
