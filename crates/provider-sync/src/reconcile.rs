//! What the pull and the push share around the conflict rule ([`crate::conflict`]): a task's
//! values as ticket fields, cleaned as the internal store keeps them, and recording the
//! conflicts the rule found.

use provider_asana::RemoteTask;
use provider_internal::{normalize_line, StoreError, StoreTx};
use ticket_provider_api::model::{MAX_ASSIGNEE_CHARS, MAX_DESCRIPTION_CHARS, MAX_SUBJECT_CHARS};
use ticket_provider_api::{NewComment, Priority, Status, Ticket};

use crate::completion::{status_of_task, TaskStatus};
use crate::conflict::{Conflict, CONFLICT_AUTHOR};
use crate::snapshot::Fields;

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
pub(crate) fn clean_text(s: &str, max: usize) -> String {
    let text: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect();
    truncate(&text, max)
}

/// A remote task's field values, cleaned to what the internal store accepts; status and
/// priority fall back to `fallback` (the local ticket) when the task has none of ours.
/// The status comes from the section and `completed` by [`status_of_task`], given the
/// `agreed` status; the flag says whether Asana must be told it (the pair disagreed).
pub(crate) fn remote_fields(
    task: &RemoteTask,
    fallback: Option<&Ticket>,
    agreed: Option<Status>,
) -> (Fields, bool) {
    let mut subject = clean_line(&task.subject, MAX_SUBJECT_CHARS);
    if subject.is_empty() {
        subject = format!("(Asana task {} without a name)", task.gid);
    }
    let section = task
        .status
        .or(fallback.map(|t| t.status))
        .unwrap_or(Status::New);
    let TaskStatus { status, push } = status_of_task(section, task.completed, agreed);
    let priority = task
        .priority
        .or(fallback.map(|t| t.priority))
        .unwrap_or(Priority::Normal);
    let assignee = task
        .assignee
        .as_deref()
        .map(|a| clean_line(a, MAX_ASSIGNEE_CHARS))
        .filter(|a| !a.is_empty());
    let fields = Fields {
        subject,
        // The push mark is the sync's own line, not part of the description.
        description: clean_text(
            &crate::push_mark::split(&task.description).0,
            MAX_DESCRIPTION_CHARS,
        ),
        status,
        priority,
        assignee,
        due: task.due,
    };
    (fields, push)
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
