//! Which task carrying a ticket's `[ticket-guid: …]` marker may be taken as that ticket's
//! task. Anyone who can write in the project can copy a marker into a task of their own; so
//! a task is adopted only when the token's own user created it, no earlier than the ticket's
//! recorded create attempt (less [`CLOCK_SKEW_MINUTES`] for the difference between the two
//! clocks). That is the task a create whose answer was lost made, and nothing else. A task
//! that fails the rule is not imported: it stays an orphan that `verify` lists. Pure.

use chrono::{DateTime, Utc};

use crate::reconcile::CLOCK_SKEW_MINUTES;

/// Whether a task found by a ticket's marker is that ticket's task, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adoption {
    /// Made by the token's user since the create attempt: the ticket's task.
    Adopt,
    /// Made by someone else (or Asana did not say by whom).
    NotMadeByUs,
    /// The ticket has no recorded create attempt (never pushed, linked, lost or unlinked).
    NoCreateAttempt,
    /// Made before the ticket's create attempt.
    MadeBeforeAttempt,
}

impl Adoption {
    /// Decides for a task created by `created_by` at `created_at`, given the token's user
    /// `me` and the ticket's create attempt `attempt`.
    pub(crate) fn of(
        created_by: Option<&str>,
        created_at: DateTime<Utc>,
        me: &str,
        attempt: Option<DateTime<Utc>>,
    ) -> Self {
        if me.is_empty() || created_by != Some(me) {
            return Adoption::NotMadeByUs;
        }
        let Some(attempt) = attempt else {
            return Adoption::NoCreateAttempt;
        };
        if created_at < attempt - chrono::Duration::minutes(CLOCK_SKEW_MINUTES) {
            return Adoption::MadeBeforeAttempt;
        }
        Adoption::Adopt
    }

    /// Why a task was not adopted, for messages (`None` for [`Adoption::Adopt`]).
    pub(crate) fn refusal(self) -> Option<&'static str> {
        match self {
            Adoption::Adopt => None,
            Adoption::NotMadeByUs => Some("it was not made by the token's user"),
            Adoption::NoCreateAttempt => Some("that ticket has no create attempt pending"),
            Adoption::MadeBeforeAttempt => Some("it was made before that ticket's create attempt"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adoption_by_table() {
        let attempt: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let at = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
        // (created by, created at, attempt, verdict)
        let cases = [
            (
                Some("me"),
                at("2026-12-01T10:00:01Z"),
                Some(attempt),
                Adoption::Adopt,
            ),
            // Within the clock skew allowance before the attempt.
            (
                Some("me"),
                at("2026-12-01T09:55:00Z"),
                Some(attempt),
                Adoption::Adopt,
            ),
            (
                Some("me"),
                at("2026-12-01T09:49:59Z"),
                Some(attempt),
                Adoption::MadeBeforeAttempt,
            ),
            (
                Some("mallory"),
                at("2026-12-01T10:00:01Z"),
                Some(attempt),
                Adoption::NotMadeByUs,
            ),
            (
                None,
                at("2026-12-01T10:00:01Z"),
                Some(attempt),
                Adoption::NotMadeByUs,
            ),
            (
                Some("me"),
                at("2026-12-01T10:00:01Z"),
                None,
                Adoption::NoCreateAttempt,
            ),
            (
                Some("mallory"),
                at("2026-12-01T10:00:01Z"),
                None,
                Adoption::NotMadeByUs,
            ),
        ];
        for (by, created, attempt, want) in cases {
            assert_eq!(
                Adoption::of(by, created, "me", attempt),
                want,
                "{by:?} {created}"
            );
            assert_eq!(want.refusal().is_none(), want == Adoption::Adopt);
        }
        // An unknown token owner adopts nothing.
        assert_eq!(
            Adoption::of(Some(""), attempt, "", Some(attempt)),
            Adoption::NotMadeByUs
        );
    }
}
