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

use ticket_provider_api::Status;

/// What a pull makes of a task's section and `completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskStatus {
    /// The ticket's status.
    pub(crate) status: Status,
    /// Whether Asana must be told (section and `completed` disagreed).
    pub(crate) push: bool,
}

/// The ticket status of a task in the section of `section` with `completed`, given the status
/// both sides last agreed on (see the module documentation).
pub(crate) fn status_of_task(
    section: Status,
    completed: bool,
    agreed: Option<Status>,
) -> TaskStatus {
    if section.is_terminal() == completed {
        return TaskStatus {
            status: section,
            push: false,
        };
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
                status_of_task(section, completed, agreed),
                TaskStatus { status, push },
                "{section:?} completed={completed} agreed={agreed:?}"
            );
        }
    }
}
