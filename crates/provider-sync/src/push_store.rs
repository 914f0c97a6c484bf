//! The push's two store steps and the records they pass (see `push.rs` for the whole push):
//!
//! 1. **Prepare** ([`prepare_in_tx`], inside a write transaction — on the fast path the
//!    operation's own): take the ticket's claim, read its pending entries, its link with
//!    the last agreed values and the ticket; mark a task about to be created `creating`
//!    (with the time and the values being sent as the agreed ones) and record the first
//!    post attempt of each comment about to be posted. The result is a [`Prep`].
//! 3. **Commit** ([`commit_in_tx`], inside a write transaction — its own, or a later one
//!    through the group commit, `group_commit.rs`): the link and the agreed values, each
//!    entry completed, failed (kept, with the error) or set aside, the comment links, the
//!    conflicts found (a note and a history row each), and the claim released. Its input
//!    is a [`PushRecord`]: what step 1 prepared and what step 2 ([`PushRun`]) did.
//!
//! The next operation of a ticket whose record is still queued may carry that record on
//! instead of storing it first (a [`Chain`]: the link in memory, the claim kept, the done
//! entries skipped); the records of the whole chain are stored by the last push's step 3.
//!
//! Both `push.rs` (which runs the steps) and `group_commit.rs` (which lands deferred
//! records) use this module; it uses neither.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use provider_asana::TaskPlace;
use provider_internal::{StoreError, StoreTx};
use ticket_provider_api::Ticket;

use crate::conflict::Conflict;
use crate::db::{self, Link, LinkState};
use crate::outbox::{CommentPayload, OutboxEntry};
use crate::reconcile::record_conflicts_in_tx;
use crate::snapshot::{fields_of, Agreed, CarriedFields};

/// What the prepare step found.
#[derive(Debug)]
pub(crate) enum Prep {
    /// Nothing pending (and not a full push): no claim was taken.
    Nothing {
        gid: Option<String>,
        set_aside: bool,
    },
    /// Another instance holds the claim.
    NotClaimed,
    /// The ticket's task is lost ([`LinkState::Lost`]): nothing is pushed, nothing created.
    Lost { set_aside: bool },
    /// Claimed and ready.
    Ready(Box<Prepared>),
}

/// What a push needs, read (and marked) under the claim in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) guid: String,
    /// The pending entries, oldest first.
    pub(crate) entries: Vec<OutboxEntry>,
    /// Whether the ticket has set-aside entries.
    pub(crate) set_aside: bool,
    pub(crate) link: Link,
    /// Set when this prepare marked the link `creating` (no earlier attempt to look for).
    pub(crate) fresh_create: bool,
    pub(crate) ticket: Ticket,
    /// Comment guid → story gid of the comments already posted.
    pub(crate) stories: HashMap<String, String>,
    /// Comment guid → the time of an earlier post attempt (before this push).
    pub(crate) attempts: HashMap<String, DateTime<Utc>>,
    /// A full push: the comments no entry posts and Asana does not have yet.
    pub(crate) backfill: Vec<CommentPayload>,
    /// The link as the store holds it. `link` is newer when this push continues a chain of
    /// pushes whose records are not stored yet (see [`Chain`]).
    pub(crate) stored_link: Link,
    /// The records of those earlier pushes, committed with this one.
    pub(crate) carried: Carried,
}

/// What earlier pushes of a chain (see [`Chain`]) did that the store does not know yet:
/// the entries they completed and the comments they posted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Carried {
    pub(crate) done: Vec<i64>,
    pub(crate) comment_links: Vec<(String, String)>,
}

/// The most entries a chain carries before its record is stored anyway.
const CHAIN_MAX: usize = 64;

/// A push of this process whose record (step 3) is still queued, seen by the next
/// operation of the same ticket: instead of storing that record first, the next push goes
/// on from it — its link as the latest, its claim still held, its entries done — and stores
/// both records at once (group commit within one ticket). Measured: without it,
/// `sync_vs_parts` misses its goal (full bench: 1.28 against 1.17; goal 1.25).
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// The link after the earlier pushes (in memory).
    pub(crate) link: Link,
    /// The link as stored.
    pub(crate) stored_link: Link,
    pub(crate) carried: Carried,
}

impl Chain {
    /// The chain a queued record starts (or extends), when it can be carried on: every
    /// entry it pushed is done, it posted no earlier comments, it found no conflict and no
    /// lost task, and the chain is short.
    pub(crate) fn after(record: &PushRecord) -> Option<Chain> {
        let PushRecord { prep, run, link } = record;
        let all_done = run.outcomes.iter().all(|(_, o)| *o == EntryOutcome::Done);
        if !all_done
            || !prep.backfill.is_empty()
            || !record.deferrable()
            || prep.carried.done.len() >= CHAIN_MAX
        {
            return None;
        }
        let mut carried = prep.carried.clone();
        carried.done.extend(run.outcomes.iter().map(|(id, _)| *id));
        carried
            .comment_links
            .extend(run.comment_links.iter().cloned());
        Some(Chain {
            link: link.clone(),
            stored_link: prep.stored_link.clone(),
            carried,
        })
    }
}

/// What an operation wrote in the transaction its push is prepared in: the prepare step
/// does not read it again.
#[derive(Debug, Clone)]
pub(crate) struct Wrote {
    /// The ticket as the operation stored it.
    pub(crate) ticket: Ticket,
    /// The comment the operation added (a comment, or an escalation's reason): it has
    /// neither a story nor a post attempt yet.
    pub(crate) comment: Option<String>,
}

impl Wrote {
    pub(crate) fn new(ticket: Ticket, comment: Option<String>) -> Self {
        Wrote { ticket, comment }
    }
}

/// What the prepare step is told instead of reading it.
#[derive(Debug, Default)]
pub(crate) struct Known<'a> {
    /// This transaction already found that the ticket has no link.
    pub(crate) no_link: bool,
    /// What the operation in this transaction wrote.
    pub(crate) wrote: Option<Wrote>,
    /// This process's queued record of the ticket's last push, carried on (its claim is
    /// still held); when there is nothing to push, it is stored here.
    pub(crate) chain: Option<&'a Chain>,
}

/// Step 1 (see the module documentation), inside a write transaction; `known`: what the
/// transaction knows already.
pub(crate) fn prepare_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    owner: &str,
    ttl: Duration,
    full: bool,
    known: Known<'_>,
    carried: &CarriedFields,
) -> std::result::Result<Prep, StoreError> {
    let Known {
        no_link,
        wrote,
        chain,
    } = known;
    let (wrote_ticket, new_comment) = match wrote {
        Some(w) => (Some(w.ticket), w.comment),
        None => (None, None),
    };
    let all = db::outbox_of(tx.conn(), guid)?;
    let set_aside = all.iter().any(|e| e.set_aside_reason.is_some());
    let done: HashSet<i64> = chain
        .map(|c| c.carried.done.iter().copied().collect())
        .unwrap_or_default();
    let entries: Vec<OutboxEntry> = all
        .iter()
        .filter(|e| e.set_aside_reason.is_none() && !done.contains(&e.id))
        .cloned()
        .collect();
    if let Some(c) = chain {
        if entries.is_empty() {
            // Nothing more to push: the chain's record is stored now.
            commit_chain_in_tx(tx, guid, c, owner)?;
            let gid = c.link.linked_gid().map(str::to_string);
            return Ok(Prep::Nothing { gid, set_aside });
        }
    }
    let existing = match chain {
        Some(c) => Some(c.link.clone()),
        None if no_link => None,
        None => db::link(tx.conn(), guid)?,
    };
    match existing.as_ref().map(|l| l.state) {
        Some(LinkState::Lost) => return Ok(Prep::Lost { set_aside }),
        Some(LinkState::LocalOnly) => {
            return Ok(Prep::Nothing {
                gid: None,
                set_aside,
            })
        }
        _ => {}
    }
    if entries.is_empty() && !full {
        let gid = existing.and_then(|l| l.linked_gid().map(str::to_string));
        return Ok(Prep::Nothing { gid, set_aside });
    }
    let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    // A chain's claim is held (its guard renews it while pushing).
    if chain.is_none() && !db::claim(tx.conn(), guid, owner, ttl_us)? {
        return Ok(Prep::NotClaimed);
    }
    let details = if full { Some(tx.details(guid)?) } else { None };
    let ticket = match (&details, wrote_ticket) {
        (Some(d), _) => d.ticket.clone(),
        (None, Some(t)) => t,
        (None, None) => tx
            .ticket(guid)?
            .ok_or_else(|| ticket_provider_api::Error::ticket_not_found(guid))?,
    };
    let now = db::stored_now();
    let (link, fresh_create) = match existing {
        Some(l) => (l, false),
        None => {
            let l = Link {
                ticket_guid: guid.to_string(),
                asana_gid: None,
                state: LinkState::Creating,
                last_synced_at: None,
                remote_modified_at: None,
                creating_since: Some(now),
                agreed: fields_of(&ticket, carried).into(),
                pushed_at: None,
            };
            db::insert_link(tx.conn(), &l)?;
            (l, true)
        }
    };
    let mut comments: Vec<CommentPayload> = entries
        .iter()
        .filter_map(|e| e.change.comment().cloned())
        .collect();
    let mut backfill = Vec::new();
    if let Some(d) = &details {
        let referenced: HashSet<&str> = all
            .iter()
            .filter_map(|e| e.change.comment().map(|c| c.comment_guid.as_str()))
            .collect();
        for c in &d.comments {
            if !referenced.contains(c.comment_guid.as_str()) {
                backfill.push(CommentPayload::from(c));
            }
        }
        comments.extend(backfill.iter().cloned());
    }
    let (mut stories, mut attempts) = (HashMap::new(), HashMap::new());
    for c in &comments {
        let cg = &c.comment_guid;
        if new_comment.as_ref() == Some(cg) {
            db::first_attempt(tx.conn(), cg, now)?;
            continue;
        }
        if let Some(story) = db::story_of(tx.conn(), cg)? {
            stories.insert(cg.clone(), story);
            continue;
        }
        match db::attempt_of(tx.conn(), cg)? {
            Some(at) => {
                attempts.insert(cg.clone(), at);
            }
            // From here on an interruption leaves the attempt: the next try looks first.
            None => db::first_attempt(tx.conn(), cg, now)?,
        }
    }
    backfill.retain(|c| !stories.contains_key(&c.comment_guid));
    let (stored_link, carried) = match chain {
        Some(c) => (c.stored_link.clone(), c.carried.clone()),
        None => (link.clone(), Carried::default()),
    };
    Ok(Prep::Ready(Box::new(Prepared {
        guid: guid.to_string(),
        entries,
        set_aside,
        link,
        fresh_create,
        ticket,
        stories,
        attempts,
        backfill,
        stored_link,
        carried,
    })))
}

/// How one entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryOutcome {
    Done,
    SetAside(String),
    Failed(String),
}

/// What step 2 did, for step 3.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushRun {
    /// The task, when it exists (linked, found, or created now).
    pub(crate) gid: Option<String>,
    pub(crate) remote_modified_at: Option<DateTime<Utc>>,
    pub(crate) agreed: Agreed,
    pub(crate) outcomes: Vec<(i64, EntryOutcome)>,
    pub(crate) comment_links: Vec<(String, String)>,
    pub(crate) conflicts: Vec<Conflict>,
    /// Whether Asana may have been written.
    pub(crate) wrote: bool,
    /// Asana answered 404/403 about the linked task: the link becomes lost.
    pub(crate) lost: Option<String>,
    /// Where the task stands, as the conflict check read it (and this push moved it since):
    /// a status entry writes only what differs.
    pub(crate) seen: Option<TaskPlace>,
    /// The task's labels, as the conflict check read them (and this push set them since):
    /// a change of labels adds and removes only what differs.
    pub(crate) labels_seen: Option<ticket_provider_api::Labels>,
    /// The task's description as the conflict check read it (without the push mark), as
    /// this push left it: what a field write that does not change it writes back with the
    /// new push mark.
    pub(crate) seen_description: Option<String>,
    /// The push mark the conflict check read: entries up to it were carried out already.
    pub(crate) asana_mark: Option<i64>,
    /// Entries found carried out already (at or below Asana's push mark: the store is
    /// behind Asana, e.g. restored from a copy): done without being pushed again.
    pub(crate) already_pushed: Vec<i64>,
}

/// What step 3 found.
pub(crate) struct Committed {
    /// Conflict notes were added (new entries to push).
    pub(crate) notes: bool,
    /// The link as committed (unless the task was found lost).
    pub(crate) link: Option<Link>,
}

/// Step 3's input: what step 1 prepared, what step 2 did, and the link to store.
#[derive(Debug, Clone)]
pub(crate) struct PushRecord {
    pub(crate) prep: Prepared,
    pub(crate) run: PushRun,
    /// The link step 3 stores (computed once, so that it is the one remembered).
    pub(crate) link: Link,
}

impl PushRecord {
    /// The record of `run` on `prep`.
    pub(crate) fn new(prep: Prepared, run: PushRun) -> Self {
        let link = link_after(&prep, &run);
        PushRecord { prep, run, link }
    }

    /// The ticket's guid.
    pub(crate) fn guid(&self) -> &str {
        &self.prep.guid
    }

    /// Whether step 3 may wait for a later write transaction: no conflict notes to push next
    /// and no lost task to report.
    pub(crate) fn deferrable(&self) -> bool {
        self.run.conflicts.is_empty() && self.run.lost.is_none()
    }
}

/// The link step 3 stores for `prep` after `run`.
fn link_after(prep: &Prepared, run: &PushRun) -> Link {
    let mut link = prep.link.clone();
    if let Some(gid) = &run.gid {
        link.asana_gid = Some(gid.clone());
        link.state = LinkState::Linked;
        link.creating_since = None;
        link.last_synced_at = Some(db::stored_now());
        if run.remote_modified_at.is_some() {
            link.remote_modified_at = run.remote_modified_at;
        }
    }
    link.agreed = run.agreed.clone();
    if run.wrote {
        // Still under the claim: a pull of another instance that read Asana before now
        // reads this task again before importing it.
        link.pushed_at = Some(db::stored_now());
    }
    link
}

/// Step 3 (see the module documentation), inside a write transaction.
pub(crate) fn commit_in_tx(
    tx: &mut StoreTx<'_>,
    record: &PushRecord,
    owner: &str,
) -> std::result::Result<Committed, StoreError> {
    let PushRecord { prep, run, link } = record;
    let guid = &prep.guid;
    store_carried(tx, guid, &prep.carried)?;
    if *link != prep.stored_link {
        db::update_link(tx.conn(), &prep.stored_link, link)?;
    }
    for (id, outcome) in &run.outcomes {
        match outcome {
            EntryOutcome::Done => db::outbox_complete(tx.conn(), guid, *id)?,
            EntryOutcome::SetAside(reason) => {
                db::outbox_set_aside(tx.conn(), guid, *id, reason)?;
            }
            EntryOutcome::Failed(error) => db::outbox_failed(tx.conn(), guid, *id, error)?,
        }
    }
    for (cg, story) in &run.comment_links {
        db::put_comment_link(tx.conn(), cg, story)?;
    }
    record_conflicts_in_tx(tx, guid, &run.conflicts)?;
    if !run.already_pushed.is_empty() {
        let before: u64 = db::kv_get(tx.conn(), crate::store::ALREADY_PUSHED_KEY)?
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let total = before + run.already_pushed.len() as u64;
        db::kv_put(
            tx.conn(),
            crate::store::ALREADY_PUSHED_KEY,
            &total.to_string(),
        )?;
    }
    tx.set_origin(ticket_provider_api::ChangeOrigin::Maintenance);
    for id in &run.already_pushed {
        tx.record_history(
            guid,
            "sync",
            Some(&format!("pending change {id}")),
            Some("already in Asana (the store was behind it, e.g. restored from a copy): not pushed again; Asana's values are kept"),
        )?;
    }
    if let (Some(why), Some(gid)) = (&run.lost, prep.link.linked_gid()) {
        crate::store::mark_lost_in_tx(tx, guid, gid, why)?;
    }
    db::release(tx.conn(), guid, owner)?;
    let lost = run.lost.is_some() && prep.link.linked_gid().is_some();
    Ok(Committed {
        notes: !run.conflicts.is_empty(),
        link: (!lost).then(|| link.clone()),
    })
}

/// The records of a chain's earlier pushes: their entries done, their comments linked.
fn store_carried(
    tx: &mut StoreTx<'_>,
    guid: &str,
    carried: &Carried,
) -> std::result::Result<(), StoreError> {
    for id in &carried.done {
        db::outbox_complete(tx.conn(), guid, *id)?;
    }
    for (cg, story) in &carried.comment_links {
        db::put_comment_link(tx.conn(), cg, story)?;
    }
    Ok(())
}

/// Stores a chain that ends without a further push: its records, its link, and the claim
/// released.
fn commit_chain_in_tx(
    tx: &mut StoreTx<'_>,
    guid: &str,
    chain: &Chain,
    owner: &str,
) -> std::result::Result<(), StoreError> {
    store_carried(tx, guid, &chain.carried)?;
    if chain.link != chain.stored_link {
        db::update_link(tx.conn(), &chain.stored_link, &chain.link)?;
    }
    db::release(tx.conn(), guid, owner)?;
    Ok(())
}
