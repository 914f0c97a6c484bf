//! Schedules: the steps a simulation runs, drawn from one seed.
//!
//! A step names what it acts on by small numbers (an instance, the n-th known ticket, the
//! n-th task of the project) that are resolved when it runs, modulo what exists then. So any
//! sub-sequence of a schedule is itself a valid schedule, which is what shrinking needs; a
//! step whose target does not exist does nothing. Every value a step writes carries the
//! step's `tag` (its position in the schedule as drawn), so texts stay unique and stable
//! when other steps are removed.

use std::fmt;

use crate::rng::SplitMix64;

/// How many sync instances share the store.
pub const INSTANCES: u8 = 3;

/// A kind of fault the fake Asana injects into the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 500 Internal Server Error, nothing applied.
    ServerError,
    /// 503 Service Unavailable, nothing applied.
    Unavailable,
    /// 429 Too Many Requests, nothing applied.
    RateLimited,
    /// The change is applied, then the answer is a 500: the answer is lost.
    LostAnswer,
    /// The answer comes a few milliseconds late (never past a timeout).
    Delay,
}

/// Which requests a fault matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTarget {
    /// Every request.
    Any,
    /// `GET` requests (reads, event streams, lookups).
    Reads,
    /// `POST` requests (creates, comments, section moves, batches).
    Posts,
    /// `PUT` requests (field writes).
    Puts,
}

/// A field a local `update` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalField {
    /// The subject (the task's name).
    Subject,
    /// The description (the task's notes, before the marker line).
    Description,
}

/// One step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `create` on an instance.
    Create { inst: u8, tag: u32 },
    /// `update` of one field of a known ticket.
    Update {
        inst: u8,
        ticket: u16,
        field: LocalField,
        tag: u32,
    },
    /// `change_status` of a known ticket (an index into [`crate::STATUSES`]).
    Status { inst: u8, ticket: u16, status: u8 },
    /// `add_comment` on a known ticket.
    Comment { inst: u8, ticket: u16, tag: u32 },
    /// `flush` (the worker's push step).
    Flush { inst: u8 },
    /// `pull_all` (the worker's pull step).
    Pull { inst: u8 },
    /// The instance's group-commit timer fires: its deferred push records land.
    Land { inst: u8 },
    /// A person renames the n-th task of the project.
    PersonRename { task: u16, tag: u32 },
    /// A person rewrites the description of the n-th task (keeping the marker line).
    PersonNotes { task: u16, tag: u32 },
    /// A person drags the n-th task into the section of a status.
    PersonMove { task: u16, status: u8 },
    /// A person ticks or unticks the n-th task.
    PersonComplete { task: u16, done: bool },
    /// A person (Alice) comments on the n-th task.
    PersonComment { task: u16, tag: u32 },
    /// A person deletes the n-th task.
    PersonDelete { task: u16 },
    /// A person removes the n-th task from the project.
    PersonRemove { task: u16 },
    /// The next `count` matching requests meet a fault.
    Fault {
        kind: FaultKind,
        target: FaultTarget,
        count: u8,
    },
    /// Asana forgets every event sync token (the next pull reads the whole project).
    ExpireEvents,
    /// An instance crashes (all its memory, deferred push records included, is lost; its
    /// claims expire) and starts again.
    Crash { inst: u8 },
    /// A consistent copy of the store file is taken.
    Backup,
    /// Every instance stops, the store file is replaced by the n-th copy, and they start
    /// again.
    Restore { backup: u8 },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Step::Create { inst, tag } => write!(f, "i{inst} create #{tag}"),
            Step::Update {
                inst,
                ticket,
                field,
                tag,
            } => write!(f, "i{inst} update t{ticket} {field:?} #{tag}"),
            Step::Status {
                inst,
                ticket,
                status,
            } => write!(
                f,
                "i{inst} status t{ticket} {}",
                crate::STATUSES[status as usize % crate::STATUSES.len()]
            ),
            Step::Comment { inst, ticket, tag } => write!(f, "i{inst} comment t{ticket} #{tag}"),
            Step::Flush { inst } => write!(f, "i{inst} flush"),
            Step::Pull { inst } => write!(f, "i{inst} pull"),
            Step::Land { inst } => write!(f, "i{inst} lands its push records"),
            Step::PersonRename { task, tag } => write!(f, "asana rename task{task} #{tag}"),
            Step::PersonNotes { task, tag } => write!(f, "asana notes task{task} #{tag}"),
            Step::PersonMove { task, status } => write!(
                f,
                "asana move task{task} to {}",
                crate::STATUSES[status as usize % crate::STATUSES.len()]
            ),
            Step::PersonComplete { task, done } => write!(f, "asana completed={done} task{task}"),
            Step::PersonComment { task, tag } => write!(f, "asana comment task{task} #{tag}"),
            Step::PersonDelete { task } => write!(f, "asana delete task{task}"),
            Step::PersonRemove { task } => write!(f, "asana remove task{task} from project"),
            Step::Fault {
                kind,
                target,
                count,
            } => write!(f, "fault {kind:?} x{count} on {target:?}"),
            Step::ExpireEvents => write!(f, "asana expires event tokens"),
            Step::Crash { inst } => write!(f, "i{inst} crash+restart"),
            Step::Backup => write!(f, "backup store"),
            Step::Restore { backup } => write!(f, "restore store from backup {backup}"),
        }
    }
}

/// Which step kinds a schedule may draw (so that a small simulation can run with a few).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Edits made by people in Asana.
    pub people: bool,
    /// Injected faults and expired event tokens.
    pub faults: bool,
    /// Crashes and restarts.
    pub crashes: bool,
    /// Backups and restores of the store.
    pub restores: bool,
}

impl Mix {
    /// Every step kind.
    pub const ALL: Mix = Mix {
        people: true,
        faults: true,
        crashes: true,
        restores: true,
    };
}

/// The schedule of `len` steps drawn from `seed`.
pub fn generate(seed: u64, len: usize, mix: Mix) -> Vec<Step> {
    let mut rng = SplitMix64::new(seed);
    let mut steps = Vec::with_capacity(len);
    // Every schedule starts with a ticket, so that most steps have something to act on.
    steps.push(Step::Create { inst: 0, tag: 0 });
    while steps.len() < len {
        let tag = steps.len() as u32;
        if let Some(step) = draw(&mut rng, tag, mix) {
            steps.push(step);
        }
    }
    steps
}

fn draw(rng: &mut SplitMix64, tag: u32, mix: Mix) -> Option<Step> {
    let inst = rng.below(u64::from(INSTANCES)) as u8;
    let ticket = rng.below(64) as u16;
    let status = rng.below(crate::STATUSES.len() as u64) as u8;
    let roll = rng.below(110);
    let step = match roll {
        0..=11 => Step::Create { inst, tag },
        12..=23 => Step::Update {
            inst,
            ticket,
            field: if rng.chance(50) {
                LocalField::Subject
            } else {
                LocalField::Description
            },
            tag,
        },
        24..=31 => Step::Status {
            inst,
            ticket,
            status,
        },
        32..=38 => Step::Comment { inst, ticket, tag },
        39..=46 => Step::Flush { inst },
        47..=54 => Step::Pull { inst },
        55..=60 if mix.people => Step::PersonRename { task: ticket, tag },
        61..=64 if mix.people => Step::PersonNotes { task: ticket, tag },
        65..=68 if mix.people => Step::PersonMove {
            task: ticket,
            status,
        },
        69..=70 if mix.people => Step::PersonComplete {
            task: ticket,
            done: rng.chance(50),
        },
        71..=74 if mix.people => Step::PersonComment { task: ticket, tag },
        75 if mix.people => Step::PersonDelete { task: ticket },
        76 if mix.people => Step::PersonRemove { task: ticket },
        77..=86 if mix.faults => Step::Fault {
            kind: match rng.below(5) {
                0 => FaultKind::ServerError,
                1 => FaultKind::Unavailable,
                2 => FaultKind::RateLimited,
                3 => FaultKind::LostAnswer,
                _ => FaultKind::Delay,
            },
            target: match rng.below(4) {
                0 => FaultTarget::Any,
                1 => FaultTarget::Reads,
                2 => FaultTarget::Posts,
                _ => FaultTarget::Puts,
            },
            count: 1 + rng.below(3) as u8,
        },
        87 if mix.faults => Step::ExpireEvents,
        88..=92 if mix.crashes => Step::Crash { inst },
        93..=95 if mix.restores => Step::Backup,
        96..=97 if mix.restores => Step::Restore {
            backup: rng.below(4) as u8,
        },
        100..=109 => Step::Land { inst },
        _ => return None,
    };
    Some(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_schedule() {
        assert_eq!(generate(42, 60, Mix::ALL), generate(42, 60, Mix::ALL));
        assert_ne!(generate(42, 60, Mix::ALL), generate(43, 60, Mix::ALL));
    }

    #[test]
    fn a_mix_without_a_kind_never_draws_it() {
        let quiet = Mix {
            people: false,
            faults: false,
            crashes: false,
            restores: false,
        };
        for seed in 0..50 {
            for step in generate(seed, 40, quiet) {
                assert!(matches!(
                    step,
                    Step::Create { .. }
                        | Step::Update { .. }
                        | Step::Status { .. }
                        | Step::Comment { .. }
                        | Step::Flush { .. }
                        | Step::Pull { .. }
                        | Step::Land { .. }
                ));
            }
        }
    }
}
