//! Section versus `completed`: the one rule both directions follow.
//!
//! A push always writes both: the section of the status and `completed` =
//! [`Status::is_terminal`] (RESOLVED, CLOSED, CANCELLED ⇔ completed). People in Asana can
//! change either alone, so a pull reads the pair with [`status_of_task`]:
//!
//! * section and `completed` agree: the section's status;
//! * `completed` changed since the last sync (or nothing was agreed yet and the task is
//!   completed): ticking a task complete means RESOLVED, unticking a task in a final section
//!   means it was reopened: IN_PROGRESS;
//! * otherwise the section changed (dragged to "Resolved" without ticking, or back to a
//!   working section while still ticked): the section's status.
//!
//! Whenever the pair disagreed, the next push writes the status chosen (section and
//! `completed`), so both sides agree again; until then the last agreed status stays the base
//! of the next comparison.
//!
//! One exception: when a conflict (`conflict.rs`) makes the status read from a disagreeing
//! pair the agreed one, the pair is kept with it ([`StatusPair`], in `Agreed::status_from`).
//! The same pair then reads as that agreed status until Asana changes it. Read by the rule
//! alone against its own outcome, it would flip (a ticked task in "New" is RESOLVED against
//! NEW, but "dragged back to New while ticked" against RESOLVED) and a conflict already
//! recorded would be found again on a task nobody touched (found by the simulation, seed
//! 117).

use serde::{Deserialize, Serialize};
use ticket_provider_api::Status;

/// A task's section (as the status it maps to) and `completed`, as read from Asana.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatusPair {
    /// The status of the task's section.
    pub(crate) section: Status,
    /// Whether the task was marked complete.
    pub(crate) completed: bool,
}

/// What a pull makes of a task's section and `completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskStatus {
    /// The ticket's status.
    pub(crate) status: Status,
    /// Whether Asana must be told (section and `completed` disagreed).
    pub(crate) push: bool,
}

/// The ticket status of a task in the section of `section` with `completed`, given the status
/// both sides last agreed on and the disagreeing pair it was read from, if it was (see the
/// module documentation).
pub(crate) fn status_of_task(
    section: Status,
    completed: bool,
    agreed: Option<Status>,
    agreed_from: Option<StatusPair>,
) -> TaskStatus {
    if section.is_terminal() == completed {
        return TaskStatus {
            status: section,
            push: false,
        };
    }
    if let (Some(a), Some(from)) = (agreed, agreed_from) {
        if from == (StatusPair { section, completed }) {
            // Unchanged since its status was agreed: it still reads as that status.
            return TaskStatus {
                status: a,
                push: true,
            };
        }
    }
    let completion_changed = match agreed {
        Some(a) => a.is_terminal() != completed,
        // Nothing agreed yet: a completed task is done; an open task in a final section
        // keeps its section's status.
        None => completed,
    };
    let status = match (completion_changed, completed) {
        (true, true) => Status::Resolved,
        (true, false) => Status::InProgress,
        (false, _) => section,
    };
    TaskStatus { status, push: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn status_of_task_by_table() {
        // (section, completed, last agreed, status, push)
        let cases = [
            // Consistent pairs: the section, nothing to push.
            (New, false, None, New, false),
            (InProgress, false, Some(Resolved), InProgress, false),
            (Resolved, true, Some(InProgress), Resolved, false),
            (Closed, true, None, Closed, false),
            (Cancelled, true, Some(Cancelled), Cancelled, false),
            // Dragged to a final section without ticking: the section; push completed=true.
            (Resolved, false, Some(InProgress), Resolved, true),
            (Closed, false, Some(New), Closed, true),
            (Cancelled, false, None, Cancelled, true),
            // Ticked complete, section unchanged: RESOLVED; push moves the section.
            (InProgress, true, Some(InProgress), Resolved, true),
            (New, true, Some(New), Resolved, true),
            (OnHold, true, None, Resolved, true),
            // Unticked in a final section: reopened.
            (Resolved, false, Some(Resolved), InProgress, true),
            (Closed, false, Some(Closed), InProgress, true),
            // Dragged back to a working section while still ticked: the section.
            (Triaged, true, Some(Resolved), Triaged, true),
            (Escalated, true, Some(Closed), Escalated, true),
        ];
        for (section, completed, agreed, status, push) in cases {
            assert_eq!(
                status_of_task(section, completed, agreed, None),
                TaskStatus { status, push },
                "{section:?} completed={completed} agreed={agreed:?}"
            );
        }
    }

    /// A disagreeing pair whose reading was made the agreed status (a conflict) reads as
    /// that status while it is unchanged; any other pair reads by the rule.
    #[test]
    fn a_pair_the_agreed_status_was_read_from_reads_as_it() {
        let pair = |section, completed| Some(StatusPair { section, completed });
        // (section, completed, agreed, read from, status, push)
        let cases = [
            // Ticked in "New": RESOLVED was agreed from it; unchanged, still RESOLVED.
            (New, true, Some(Resolved), pair(New, true), Resolved, true),
            // ... the rule alone would read it as dragged back to "New".
            (New, true, Some(Resolved), None, New, true),
            // Unticked in "Closed": IN_PROGRESS agreed from it; unchanged.
            (
                Closed,
                false,
                Some(InProgress),
                pair(Closed, false),
                InProgress,
                true,
            ),
            (Closed, false, Some(InProgress), None, Closed, true),
            // Dragged to "Triaged" since (still ticked): the rule reads the new pair.
            (
                Triaged,
                true,
                Some(Resolved),
                pair(New, true),
                Triaged,
                true,
            ),
            // Made consistent since: the section.
            (New, false, Some(Resolved), pair(New, true), New, false),
            (Resolved, true, Some(New), pair(New, true), Resolved, false),
        ];
        for (section, completed, agreed, from, status, push) in cases {
            assert_eq!(
                status_of_task(section, completed, agreed, from),
                TaskStatus { status, push },
                "{section:?} completed={completed} agreed={agreed:?} from={from:?}"
            );
        }
    }
}
