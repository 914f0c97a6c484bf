//! The `sync` ticket provider: every operation is committed to the internal database first,
//! then pushed to Asana on a best-effort basis.
//!
//! Select it with `homechoice.ticket.provider: sync`. It needs what both sides need:
//! `database_url` for the internal store (opened with [`SyncExtension`]) and `asana_project` plus
//! the token in `ASANA_ACCESS_TOKEN` for Asana (a missing project or token is a configuration
//! error when the provider is built). `sync_push_timeout_ms` (default 1500) bounds how long an
//! operation waits for Asana. What the Asana side learns of the project (section, tag and
//! user gids) is kept in the internal store (`asana_cache.rs`), not in `asana_cache_path`,
//! so a new process pushes without looking them up again.
//!
//! # Guarantees
//!
//! * **Local first.** Each operation writes the ticket and an outbox entry ([`Change`]) in one
//!   database transaction. An Asana failure never fails the operation and never loses the change: it
//!   is logged (never with the token) and stays in the outbox.
//! * **Results.** Results and tickets are the internal ones with `provider: "sync"`,
//!   `asana_gid` once the ticket has a task, and `sync_state`: `pending` while an outbox
//!   entry of the ticket waits to be pushed, else `set_aside` while one Asana refused is
//!   kept, else `synced` — the same split as the counts of [`SyncProvider::status`]. An
//!   assignee `me` is stored as the token owner's identity (e-mail, else gid: what a pull
//!   reads), asked of Asana once per process within the push timeout; when Asana cannot
//!   tell, `me` is stored and the next pull replaces it.
//! * **Bounded push.** After the write, the ticket's outbox entries are pushed in id order,
//!   inline but for at most `sync_push_timeout_ms`; after that the operation returns with
//!   `pending` and the push finishes in the background. While Asana is down (connection
//!   refused, repeated 5xx, refused token) a circuit breaker skips pushes entirely, letting one
//!   probe through after a growing backoff. [`SyncProvider::flush`] pushes everything pending.
//! * **Order.** A ticket's entry N+1 is never pushed before entry N succeeded (or was set
//!   aside); a per-ticket lock keeps two operations of one process from pushing the same
//!   entry twice.
//! * **Several instances.** Processes (or [`SyncProvider`] instances) sharing one internal
//!   database never push the same ticket at once: a push first takes the ticket's claim in
//!   the store (a lease owned by a random per-instance id, `claim_ttl`, renewed while the
//!   push runs, released afterwards). A ticket claimed by another instance is skipped: its
//!   changes stay pending (an operation's push waits up to `claim_wait` first), `flush`
//!   counts them as pending and in [`FlushReport::claimed_elsewhere`], and the next flush
//!   pushes them. A process that dies holding a claim delays that ticket by at most
//!   `claim_ttl`.
//! * **Set-aside entries.** [`SyncProvider::retry_set_aside`] puts one back into the queue
//!   carrying the ticket's current values of its fields (so it cannot bring back an older
//!   value), as a new entry after the ticket's others (a new id: see "Restoring the store");
//!   [`SyncProvider::discard_set_aside`] drops it. Both leave a history row.
//! * **Failures.** Errors retrying cannot fix (Asana's 400, 402, 403, 404) set the entry aside
//!   with the reason ([`SyncProvider::status`], `ticket doctor`); temporary ones (429, 5xx,
//!   timeouts, transport) are recorded on the entry, which stays pending.
//! * **No duplicates.** Before a task is created its link is recorded as `creating`; the task
//!   carries the ticket guid as a `[ticket-guid: …]` marker line in its notes. A later attempt
//!   that finds `creating` (lost answer, timeout, 5xx, crash) first looks the task up by
//!   marker and links it — only a task the token's own user created (`created_by`) no
//!   earlier than the recorded first attempt (`creating_since`, less 10 minutes for clock
//!   skew), in a push and in a pull alike. Anyone can copy a marker into a task of their own:
//!   such a copy is never adopted (its fields never reach the ticket), a pull skips it
//!   (`sync pull GID`: a Conflict), and it stays an orphan that `verify` lists until it is
//!   deleted in Asana or loses its marker line (a pull then imports it as a new ticket). Comments carry no marker: a story's text is what the user wrote,
//!   after an `[author: NAME]` line when the comment has an author ([`story`]). The time of
//!   a comment's first post attempt is recorded before the request; a later attempt first
//!   looks for the story among the task's comment stories created by the token owner since
//!   then (less 10 minutes for clock skew) with exactly the expected text and not recorded
//!   for another comment, and links it. The story gid ↔ comment guid map in the store is how
//!   pulls recognise our own comments. The remaining edge case: if the token owner's account
//!   posts exactly the same text on that task (by hand, in Asana) while our post failed
//!   without an answer, that story is taken for ours. Every other step sets absolute values
//!   and is redone safely, so `flush` can be interrupted at any point.
//! * **First push.** A ticket without a task (also one that existed before sync was turned
//!   on, via [`SyncProvider::sync_to_asana`]) is created from its current state in one
//!   request, in the section of its status with its priority tag and assignee. If Asana does
//!   not know the assignee, the task is created unassigned and the `create` entry is set aside
//!   with that reason.
//!
//! # Pulling
//!
//! [`SyncProvider::sync_from_asana`] reads one task (name, notes without the marker, section →
//! status, priority tag → priority, assignee, comment stories only) and imports it, creating
//! the ticket and its link when needed. [`SyncProvider::pull_all`] reads the whole project
//! the first time and whenever Asana's event token has expired (412), one request per 100
//! tasks, and imports each task from the listing itself (the list carries every field a
//! ticket needs); otherwise it asks the project's event stream what changed since the last
//! pull and reads the named tasks, 10 per `POST /batch`. Asana has no bulk read of comments,
//! so comment stories are read only for tasks that need it — tasks not linked yet, and tasks
//! whose `modified_at` differs from the one of the last sync (a new comment bumps it) — 10
//! tasks per `POST /batch` (plus one request per further 100 stories of a task with more).
//! So a first full pull of N tasks costs ⌈N/100⌉ + ⌈N/10⌉ requests, and a full pull of N
//! unchanged tasks ⌈N/100⌉, besides the events request and, once per provider, the
//! project's workspace, sections and tags (and the token owner when a task has comments).
//! Tasks that equal their ticket are not rewritten, and importing identical values records
//! no history, so our own pushes do not come back as changes. Our own comments are recognised by their story gid (recorded when posted, or, for
//! a post whose answer was lost, when a pull finds the token owner's story with the pending
//! comment's exact text). Only stories created by the token owner are decoded (attribution
//! line, escaping); a story someone else wrote is imported verbatim, authored by its creator,
//! so nobody can forge an author. Reading the token owner costs one `GET /users/me` per
//! provider.
//!
//! A pull never undoes a push, of this instance or of another one sharing the store. A pull
//! compares what it read from Asana with the local state, so:
//!
//! * it waits for this instance's running pushes and holds new ones back until it is done;
//! * it imports a task of an existing ticket under the ticket's claim in the store (the one
//!   pushes take), so no other instance pushes that ticket during the import. A ticket another
//!   instance is pushing is not imported: the pull reports it in [`PullReport::skipped`]
//!   ("being pushed by another instance; pulled next time") and remembers it, and the next
//!   pull reads it again (in an incremental pull too, at one `POST /batch` per 10 such tasks);
//!   [`SyncProvider::sync_from_asana`] waits up to `claim_wait` for the claim, then fails
//!   with a temporary Conflict error;
//! * every push records when it wrote the ticket to Asana (under the claim). When that is
//!   after the moment the pull started reading (before the listing, or before the batch reads
//!   of an incremental pull), what the pull read may be stale: it reads that one task again
//!   under the claim (one `POST /batch`) and imports that instead.
//!
//! Without pushes of other instances during a pull this costs no request (only local reads
//! and the claim). The comparison uses the clocks of the instances, so instances on several
//! hosts need synchronised clocks (NTP).
//!
//! # Section versus `completed`
//!
//! A push writes both: the status's section and `completed` (true exactly for RESOLVED,
//! CLOSED, CANCELLED). A pull reads the pair by one rule (`completion.rs`): when they agree,
//! the section's status; when `completed` changed since the last sync, ticking means
//! RESOLVED and unticking a task in a final section means reopened (IN_PROGRESS); otherwise
//! the section changed and its status is taken (a task dragged to "Resolved" without being
//! ticked is RESOLVED). Whenever the pair disagreed, a push of the chosen status is queued,
//! so the next push makes Asana consistent (section and `completed`) again. A status a
//! conflict note recorded from such a pair is kept with the pair, which reads as that
//! status until Asana changes, so the conflict is not found again.
//!
//! # Conflict rule
//!
//! For each field (subject, description, status, priority, assignee, due, every carried
//! custom field, and the set of labels) the provider keeps the values both sides last agreed
//! on (after each push and pull). One pure rule (`conflict.rs`)
//! decides each field, called by the pull before it imports a task and by the push before it
//! overwrites fields of an existing task (the push reads the task first: one
//! `GET /tasks/{gid}` per pushed ticket that writes fields; none for comments or a task it
//! just created; a status change then writes only what differs from that read — usually
//! the section alone, one `addTask`):
//!
//! * both sides hold the same value: nothing to do;
//! * they differ and no local change of that field is pending in the outbox: **Asana's value
//!   is taken** (a pull records it in the ticket's history as a change; a push leaves the
//!   field alone, the next pull takes it);
//! * a local change of that field is pending and Asana still has the last agreed value (or
//!   the value of one of our own pending changes whose answer was lost): the local value
//!   stays and is pushed;
//! * a local change is pending **and** Asana's value changed since the last agreement (both
//!   sides changed it): **the local value wins** and is pushed, and Asana's losing value is
//!   kept as a comment on the ticket by author `sync` ("Sync conflict on subject: Asana had …
//!   while a local change to … was waiting …"), which is pushed to Asana as well, and as a
//!   history row (field `sync`), plus a `tracing` warning. Nothing is overwritten silently,
//!   whether the push or the pull comes first.
//!
//! The note, its history row and the new agreed value (Asana's, which both sides have now
//! seen) are written in one transaction, so a conflict seen again — by a pull after the push
//! that found it failed, by a second push — is recorded once; a further change in Asana
//! before the push is a new conflict.
//!
//! # Custom fields and labels
//!
//! The custom fields `asana_fields` maps are **carried**: pushed in the request the
//! operation makes anyway, pulled back, compared by `verify`, and decided field by field by
//! the rule above (a conflict note names `fields.<name>`). The labels are one more field, a
//! set: the task's tags apart from the priority tags. A declared field that is not mapped
//! stays local: pulls and verify leave it alone. A link older than custom fields knows no
//! agreed value for them, so the first pull takes Asana's values. Outbox entries keep each
//! value with its type, so a change keeps its meaning whatever the config declares by the
//! time it is pushed.
//!
//! # One field set
//!
//! The sync names no field outside its Asana mapping. The field set is declared once, in
//! [`ticket_provider_api::field_set`]: a [`TicketField`](ticket_provider_api::TicketField)
//! (built-in, custom or the labels) and its typed
//! [`TicketValue`](ticket_provider_api::TicketValue), with their names, stored form and
//! display. A ticket's synced values, the agreed values ([`Agreed`], one JSON column
//! `def_asana_sync.agreed`), the outbox payloads ([`CreatePayload`], [`UpdatePayload`]), the
//! pending changes and the conflict rule (`conflict.rs`), history and `verify` all work on
//! [`Values`](ticket_provider_api::Values) maps of them, in one loop. What is per field is
//! the Asana mapping: `reconcile::remote_fields` (a task's values) and the writes in
//! `push_remote.rs` (status is a section, the assignee a user, the rest one update).
//!
//! # The engine
//!
//! **Its own tables.** The internal store knows nothing of sync: this crate is a
//! [`provider_internal::StoreExtension`] ([`SyncExtension`]). Its migrations
//! (`migrations/{sqlite,postgres}`, run when the store opens, under the store's migration
//! lock) create `def_asana_sync` (the link: guid ↔ gid, [`LinkState`], the last agreed values,
//! when a push last wrote the task), `data_sync_outbox`, `comment_sync`,
//! `data_sync_comment_attempt`, `data_sync_claim` and `sync_kv`. Its hook writes one typed
//! [`Change`] per local operation into the outbox, inside the operation's own transaction.
//! On SQLite the outbox is one b-tree keyed by (ticket, id) (`WITHOUT ROWID`, no secondary
//! index), so that queuing a change writes one page more than the operation itself; an id
//! is the time in microseconds, raised above the ticket's newest entry and every id the
//! process gave before (write transactions on one SQLite file run one at a time, so ids are
//! unique and follow the commit order; see [`OutboxEntry::id`]). On PostgreSQL ids come from
//! a sequence. Every statement on these tables is in `db/`; [`SyncStore`] offers them one
//! transaction per call.
//!
//! **A push is three steps** (`push.rs` runs them): *prepare* (`push_store.rs`) — take the
//! ticket's claim, read its pending entries, link and values, mark a task about to be
//! created `creating`, record the first post attempt of each comment about to be posted —
//! in one transaction; *Asana* (`push_remote.rs`) — create (or find by marker), check the
//! conflict rule before overwriting fields, carry out each entry; *commit* (`push_store.rs`)
//! — link, agreed values, each entry done / failed / set aside, comment links, conflict
//! notes, claim released, in one transaction. An operation ([`SyncProvider`]'s
//! `create`, `update`, ...) runs four small steps: the breaker's permission and the ticket's
//! hold; one write transaction with the change (and, when the push may start at once —
//! Asana not known to be down, no pull and no other push of this process busy with the
//! ticket — the prepare step); the push; the report.
//!
//! **Group commit** (`group_commit.rs`). On that fast path the commit step gets no
//! transaction of its own: the push's record waits in a queue, keeping the ticket's hold
//! (its lock and a read hold on the pull gate) and its claim, and lands in the next write
//! transaction of the instance (the next operation's, usually: the next operation of the
//! same ticket takes the hold over) or after [`SyncSettings::commit_delay`] in one of its
//! own. So back-to-back synced operations cost one store transaction each. When it can, the
//! next push of the same ticket carries the queued record on instead of storing it first
//! (`push_store::Chain`: the link in memory, the claim kept, the done entries skipped) and
//! the chain's records are stored with the last push's; measured with and without it, the
//! chain keeps `sync_vs_parts` under its goal of 1.25 (full bench: 1.17 with, 1.28 without). A
//! push that found a conflict or a lost task commits at once. The store's sync tables are
//! reached only through the group commit: a reader (status, get, list, history, flush,
//! pull, verify, the worker and its metrics) obtains a settled view, which lands the queue
//! first, so no reader can see the store without this instance's pushes. The conflict check's read of a
//! task this instance pushed before is sent before the operation's own write, and used when
//! the link is unchanged by then or only a pull agreed since (`early_read_usable`).
//!
//! **A pull imports each task in one transaction** (`pull.rs`): the merged values (the
//! conflict rule), the new comments, the link with the new agreed values, a queued status
//! push when section and `completed` disagreed, and the conflicts found. A full pull plans
//! every listed task in one read.
//!
//! `engine.rs` holds what both share (the group commit, the Asana side, settings, breaker,
//! locks, claim owner); `push.rs`, `push_remote.rs`, `pull.rs`, `verify.rs` and `worker.rs`
//! each add their methods to it, and no two modules of the crate import each other (the
//! types the push's steps and the group commit share are in `push_store.rs`, which imports
//! neither); `provider.rs` puts them behind [`ticket_provider_api::TicketProvider`]. The
//! rules are pure functions with table tests: `conflict.rs` (the conflict rule),
//! `completion.rs` (section versus `completed`), `outbox.rs` (stored changes), `story.rs`
//! (comment text).
//!
//! # Restoring the store
//!
//! A store restored from an earlier copy (or one whose push records a crash lost) is behind
//! Asana: changes it holds as pending may have been pushed after the copy was taken, and
//! Asana may have moved on since, through people or through this very sync. Pushing them
//! again would post their comments twice and, by the conflict rule, roll Asana's newer
//! values back. So Asana holds a **push mark** per task (`push_mark.rs`): the id of the
//! newest outbox entry a push carried out, as a line `[sync-push: N #check]` above the
//! marker line of the notes, where `check` is a checksum of N and the ticket's guid: a line
//! a person typed, or copied from another ticket's task, fails it and is read as
//! description text, never as a mark (a deliberate forger who knows the guid and the
//! checksum function is not kept out). Outbox ids only grow (they are times in microseconds on SQLite), and a
//! ticket's entries are pushed in id order, so every entry at or below the mark was carried
//! out (or set aside; a retried one gets a new id).
//!
//! * **Written** at no extra request: by the create (covering the entries before the first
//!   comment: the task is made from the ticket's current state) and by every field write
//!   (the PUT carries the notes: the entry's description, else the one the conflict check
//!   just read). A person editing the notes may keep the line or not; without it, the task
//!   is simply not protected until the next field write.
//! * **Read** by the conflict check's read of the task and by every pull (both read the
//!   notes anyway). An entry at or below Asana's mark is no pending change: the conflict rule
//!   leaves it out (Asana's values are taken, no conflict is recorded), and the push
//!   completes it without pushing it, links the story of a comment it posted (looked up by
//!   text among the token owner's comments), and records a history row (field `sync`,
//!   "already in Asana"). [`SyncStatus::already_pushed`] counts such entries in all.
//! * **Comments** queued before an instance started and without a recorded post attempt
//!   (the record of the attempt is in the store, so a restore loses it; a restore means the
//!   processes restarted) are looked for by text before they are posted, by the push (one
//!   read of the task's comments) and by the pull, so they are not posted or imported twice.
//!
//! Not covered: a change pushed after the copy by a push that wrote no field (a status
//! change alone, an assignment, a comment alone) moves the mark only with the task's next
//! field write, so a status or assignee set after the copy and changed in Asana since is
//! still replayed as a "local wins" conflict (recorded as one, not silent). The mark needs
//! outbox ids that only grow: a PostgreSQL store restored with its sequence may hand out
//! ids at or below marks Asana holds (not handled). Tested by `tests/tests/sync_restore.rs` (a real SQLite
//! file copy) and by the seeded simulation (`crates/sync-sim`, restores included).
//!
//! # Upgrading from 0.1.0
//!
//! Release 0.1.0 created the sync tables among the internal store's own migrations. This
//! version's first migration creates them only if they do not exist, so a 0.1.0 database
//! keeps its rows; later ones add the link's columns, and on open
//! ([`provider_internal::StoreExtension::on_open`]) the agreed values, push times and
//! comment attempts 0.1.0 kept as text in `sync_kv` move into them (as do, once, the agreed
//! values the pre-fields release kept in a column per field). 0.1.0's outbox rows read
//! as typed [`Change`]s as they are, with their ids (on SQLite the outbox is rebuilt keyed by
//! ticket; every new id is a time, far above them). Tested with databases the 0.1.0 binary wrote
//! (`tests/fixtures/upgrade-0.1.0` in the repository), on SQLite and PostgreSQL.
//!
//! # Layout
//!
//! `provider.rs` (the trait impl and the public sync API), `engine.rs`, `push.rs` (outbox →
//! Asana: an operation and its push), `push_store.rs` (the push's store steps),
//! `push_remote.rs` (the push's Asana step), `push_mark.rs` (the push mark), `group_commit.rs` (the queue of push records and
//! the settled view), `pull.rs` (Asana → internal store), `verify.rs`, `worker.rs`,
//! `webhook.rs`, `webhook_server.rs`, `webhook_driver.rs` (the worker's Asana webhook, see
//! [`webhook`]),
//! `store.rs` ([`SyncExtension`], [`SyncStore`]), `db/` (tables and statements: `link.rs`,
//! `outbox.rs`, `claim.rs`, `misc.rs`), `outbox.rs` ([`Change`]), `conflict.rs`, `adoption.rs`
//! (which task a marker may adopt), `reconcile.rs`
//! (a task's values as ticket fields), `completion.rs`, `snapshot.rs` (synced and agreed values),
//! `asana_cache.rs` (the Asana provider's gid cache in the store), `breaker.rs`, `locks.rs`,
//! `story.rs`, `report.rs`, `config.rs`, `error.rs`.
//!
//! # Lost links and verify
//!
//! A task deleted in Asana, removed from the project, or no longer visible to the token
//! (404/403) marks its ticket's link **lost** — when a push or a read of that one task gets the answer, or when a
//! complete read of the project (the first pull, a reconcile, an expired event token) does
//! not list it. An incremental pull never concludes that a task is gone. A lost ticket is
//! never deleted locally and no task is created in its place: its changes stay pending.
//! `ticket sync status` counts and lists lost links (`--json`: `lost`, `lost_links`);
//! resolve each with `ticket sync relink GUID` (a new task from the ticket's current state,
//! with its comments) or `ticket sync unlink GUID` (the ticket stays local only: pending
//! changes dropped, later changes not queued, the old task ignored by pulls).
//!
//! `ticket sync verify [--json] [--repair]` reads the whole project and compares every
//! linked ticket with its task, field by field (subject, description, status, priority,
//! assignee, due), and lists orphans: tasks no ticket is linked to, tickets without a task
//! and nothing pending, and tickets whose task the project does not hold (or whose link is
//! lost). Tickets with a change still pending are counted, not compared. It exits 0 when
//! everything agrees, 1 otherwise, with each difference named (ticket, task, field, both
//! values). `--repair` settles each difference by the conflict rule — no local change is
//! pending, so Asana's value is taken, with a history row — pulls tasks without a ticket,
//! pushes tickets without a task, marks tasks the project does not list as lost, and lists
//! what it did; it exits 0 when nothing is left unresolved (lost links wait for `relink` or
//! `unlink`).
//!
//! **Values longer than the store keeps.** Asana documents no length limits; the store keeps
//! a subject of 200 characters, a description of 20,000, an assignee of 254 and a comment
//! of 10,000. A longer value is cut on import, never silently: a warning in the log and a
//! history row (field `sync`, "cut to N characters on import") per cut value, when it is
//! written. `verify` reports each cut field of a linked ticket as a difference (the two
//! lengths) that `--repair` leaves unresolved, since settling it would cut Asana's value
//! too: shorten it in Asana. `verify` reads no comments: a comment cut on import is kept on
//! record in the store and reported from there, until `--repair` acknowledges it (the
//! whole text stays in Asana).

#![warn(missing_docs)]

mod adoption;
mod asana_cache;
mod breaker;
mod completion;
mod config;
mod conflict;
mod db;
mod engine;
mod error;
mod group_commit;
mod locks;
mod metrics;
mod outbox;
mod provider;
mod pull;
mod push;
mod push_mark;
pub use push_mark::is_push_mark_line;
mod push_remote;
mod push_store;
mod reconcile;
mod report;
mod snapshot;
mod store;
pub mod story;
mod verify;
pub mod webhook;
mod webhook_driver;
mod webhook_server;
pub mod worker;

use std::sync::Arc;

use ticket_provider_api::{
    find_descriptor, register_provider, BoxFuture, BuildContext, Capabilities, Capability, Check,
    ProviderDescriptor, Result, SettingsSpec, TicketProvider,
};

pub use config::{
    SyncConfigKeys, SyncSettings, WebhookEndpoint, DEFAULT_CLAIM_TTL, DEFAULT_PUSH_TIMEOUT,
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_WEBHOOK_SILENCE,
};
pub use conflict::CONFLICT_AUTHOR;
pub use db::{Link, LinkState};
pub use outbox::{
    AssignPayload, Change, CommentPayload, CreatePayload, OutboxEntry, StatusPayload,
    UnreadableChange, UpdatePayload,
};
pub use provider::SyncProvider;
pub use report::{
    FieldDifference, FlushReport, LostLink, Orphan, OrphanKind, PullMode, PullProgress, PullReport,
    SetAsideEntry, SkippedTask, SyncStatus, VerifyReport, WebhookFallback, WebhookHealth,
    WebhookState,
};
pub use snapshot::Agreed;
pub use store::{
    store_options, StoreGauges, SyncExtension, SyncStore, EXTENSION_NAME, MAX_CLAIM_OWNER_CHARS,
};

/// The name this provider is registered under (`homechoice.ticket.provider: sync`).
pub const NAME: &str = "sync";

/// What the `sync` provider can do: the ten operations, the change history of the internal
/// store, sync maintenance and the change feed.
pub const CAPABILITIES: Capabilities = Capabilities::OPERATIONS
    .with(Capability::History)
    .with(Capability::SyncMaintenance)
    .with(Capability::Changes);

fn build(ctx: BuildContext) -> BoxFuture<'static, Result<Arc<dyn TicketProvider>>> {
    Box::pin(async move {
        let provider = SyncProvider::from_context(&ctx).await?;
        Ok(Arc::new(provider) as Arc<dyn TicketProvider>)
    })
}

/// `ticket doctor`: the internal store's checks, the Asana checks, then the outbox.
fn doctor(ctx: BuildContext) -> BoxFuture<'static, Vec<Check>> {
    Box::pin(async move {
        let mut checks = Vec::new();
        for (side, name) in [
            ("internal", provider_internal::NAME),
            ("asana", provider_asana::PROVIDER_NAME),
        ] {
            match find_descriptor(name).map(|d| d.doctor) {
                Ok(Some(run)) => {
                    for mut c in run(ctx.clone()).await {
                        c.name = format!("{side}: {}", c.name);
                        checks.push(c);
                    }
                }
                Ok(None) => {}
                Err(e) => checks.push(Check::fail(
                    side,
                    e.message().to_string(),
                    "report this as a bug: the sync provider links both providers",
                )),
            }
        }
        checks.push(outbox_check(&ctx).await);
        checks
    })
}

async fn outbox_check(ctx: &BuildContext) -> Check {
    let opened = provider_internal::InternalProvider::from_config_with(
        ctx.config(),
        store_options(None).extensions,
    )
    .await
    .and_then(SyncStore::new);
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            return Check::fail(
                "outbox",
                format!("cannot open the internal store: {e}"),
                "fix the database check above first",
            )
        }
    };
    match store.counts().await {
        Ok((pending, 0)) => Check::pass(
            "outbox",
            format!("{pending} change(s) waiting for Asana, none set aside"),
        ),
        Ok((pending, aside)) => Check::fail(
            "outbox",
            format!("{aside} change(s) set aside because Asana refused them, {pending} waiting"),
            "run `ticket sync status` to see each refused change with Asana's reason (e.g. an assignee Asana does not know); fix the ticket locally (a new change is pushed) or in Asana",
        ),
        Err(e) => Check::fail(
            "outbox",
            format!("cannot read the outbox: {e}"),
            "make sure the database schema is up to date (see the schema check)",
        ),
    }
}

register_provider!(ProviderDescriptor::new(
    NAME,
    "internal database first, then a best-effort push to Asana",
    env!("CARGO_PKG_NAME"),
    CAPABILITIES,
    build
)
.with_doctor(doctor)
.with_settings(SettingsSpec::of::<SyncConfigKeys>()));
