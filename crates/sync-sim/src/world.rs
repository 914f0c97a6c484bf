//! The simulated world: one store file, a fake Asana, [`INSTANCES`] sync instances, the
//! copies of the store taken so far, and what the schedule did (the [`Model`] the
//! invariants are checked against).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use asana_fake::{FakeAsana, FakeOptions, Fault, PersonEdit, TaskSnapshot};
use diesel::{sql_query, Connection, RunQueryDsl, SqliteConnection};
use provider_asana::{AsanaSettings, RetryPolicy, TaskClient};
use provider_internal::InternalProvider;
use provider_sync::{store_options, SyncProvider, SyncSettings};
use ticket_provider_api::{
    NewComment, NewTicket, OperationResult, Result as ApiResult, SecretString, Status,
    TicketProvider, TicketUpdate,
};

use crate::schedule::{FaultKind, FaultTarget, LocalField, Step, INSTANCES};
use crate::STATUSES;

/// The token the simulation's fake accepts.
const TOKEN: &str = "tok-sync-sim-0123456789abcdef";

/// A field the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// The subject / task name.
    Subject,
    /// The description / notes without the marker.
    Description,
    /// The status / section.
    Status,
}

/// The last write the schedule made to one field of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastWrite {
    /// An accepted local operation wrote `value` (in restore epoch `epoch`).
    Local { value: String, epoch: u32 },
    /// A person wrote `value` in Asana, on task `task`.
    Asana { value: String, task: String },
    /// Something the model does not follow exactly (a tick of `completed`).
    Unknown,
}

/// What the schedule did, for the invariants.
#[derive(Debug, Default)]
pub struct Model {
    /// How many restores ran (changes accepted before a restore may be undone by it).
    pub epoch: u32,
    /// Last write per (ticket guid, field).
    pub last: BTreeMap<(String, Field), LastWrite>,
    /// Accepted local comments: (ticket guid, body, epoch).
    pub local_comments: Vec<(String, String, u32)>,
    /// Comments people wrote in Asana: (task gid, text).
    pub person_comments: Vec<(String, String)>,
    /// Tasks people deleted or removed from the project.
    pub gone_tasks: BTreeSet<String>,
    /// Tasks people ticked or unticked (the completion rule then reads a section move by
    /// what changed since the last sync, which the model does not follow).
    pub toggled_tasks: BTreeSet<String>,
    /// Every status each ticket was given so far, locally or in Asana. The conflict rule
    /// compares values, so a person moving a task back to a status it had (A → B → A)
    /// before a pull is no change to it; the model then does not expect Asana's value.
    pub statuses_seen: BTreeMap<String, BTreeSet<String>>,
    /// (ticket, field, value) of local changes that were the last write of their field and
    /// already in Asana when the store was restored from a copy.
    pub pushed_before_restore: BTreeSet<(String, Field, String)>,
    /// How often people gave a field of a ticket each value in Asana (a tick of `completed`
    /// counts as RESOLVED, an untick as IN_PROGRESS: what the completion rule reads them as).
    /// Each can be one conflict, so a conflict note naming a value may appear that often.
    pub person_writes: BTreeMap<(String, Field, String), u32>,
}

/// The simulated world of one schedule.
pub struct World {
    /// The fake Asana.
    pub fake: FakeAsana,
    project: String,
    alice: String,
    _dir: tempfile::TempDir,
    db: PathBuf,
    dir_path: PathBuf,
    /// The live instances, [`INSTANCES`] of them.
    pub instances: Vec<SyncProvider>,
    /// Guids of the tickets created by accepted `create`s, in order.
    pub tickets: Vec<String>,
    backups: Vec<PathBuf>,
    /// What the schedule did.
    pub model: Model,
}

/// The settings every simulated instance runs with, chosen so that a step's outcome does not
/// depend on how fast the machine is (see the crate documentation).
pub fn sim_settings() -> SyncSettings {
    SyncSettings {
        // An operation waits for its push to finish: nothing goes on in the background.
        push_timeout: Duration::from_secs(60),
        // The breaker never opens: its backoff is wall-clock time.
        breaker_threshold: u32::MAX,
        // One push at a time, so faults meet requests in a fixed order.
        flush_concurrency: 1,
        // Claims never expire by themselves; a crash expires the dead instance's claims.
        claim_ttl: Duration::from_secs(3600),
        // A ticket claimed by another instance stays claimed while a step runs (steps do
        // not overlap): waiting for it is a real sleep (25 ms a try) that changes nothing.
        claim_wait: Duration::ZERO,
        // Deferred push records land only with the instance's next transaction (or never,
        // when it crashes first).
        commit_delay: Duration::from_secs(3600),
        ..SyncSettings::default()
    }
}

impl World {
    /// A new world: an empty store, a fake Asana with the user Alice, and the instances.
    pub async fn new() -> ApiResult<World> {
        let fake = FakeAsana::start(FakeOptions {
            token: Some(TOKEN.into()),
            rate_limit_per_minute: None,
        })
        .await
        .map_err(|e| ticket_provider_api::Error::internal(format!("start the fake: {e}")))?;
        let alice = fake.add_user("Alice Example", "alice@example.com");
        // A RAM-backed folder where there is one: the store's fsyncs cost nothing there.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .map_err(|e| ticket_provider_api::Error::internal(format!("temp dir: {e}")))?;
        let dir_path = dir.path().to_path_buf();
        let db = dir_path.join("tickets.db");
        // A migrated empty store, instead of running every migration on a new file.
        std::fs::write(&db, empty_store().await?).map_err(io)?;
        let project = fake.project_gid();
        let mut w = World {
            fake,
            project,
            alice,
            _dir: dir,
            db,
            dir_path,
            instances: Vec::new(),
            tickets: Vec::new(),
            backups: Vec::new(),
            model: Model::default(),
        };
        for _ in 0..INSTANCES {
            let p = w.open_instance().await?;
            w.instances.push(p);
        }
        Ok(w)
    }

    async fn open_instance(&self) -> ApiResult<SyncProvider> {
        let url = format!("sqlite://{}", self.db.display());
        let local = InternalProvider::open(&url, store_options(Some(2))).await?;
        let mut asana = AsanaSettings::new(
            self.fake.base_url(),
            self.project.clone(),
            SecretString::new(TOKEN),
        );
        asana.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_total_wait: Duration::from_secs(5),
        };
        asana.timeout = Duration::from_secs(30);
        let remote = TaskClient::new(asana)?;
        SyncProvider::new(local, remote, sim_settings())
    }

    /// Every task of the project, in project order.
    pub fn tasks(&self) -> Vec<TaskSnapshot> {
        self.fake.project_tasks(&self.project)
    }

    /// The project's gid.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Alice's user gid.
    pub fn alice(&self) -> &str {
        &self.alice
    }

    fn ticket(&self, n: u16) -> Option<String> {
        if self.tickets.is_empty() {
            return None;
        }
        Some(self.tickets[n as usize % self.tickets.len()].clone())
    }

    fn task(&self, n: u16) -> Option<TaskSnapshot> {
        let tasks = self.tasks();
        if tasks.is_empty() {
            return None;
        }
        Some(tasks[n as usize % tasks.len()].clone())
    }

    fn local(&mut self, guid: &str, field: Field, value: String) {
        let epoch = self.model.epoch;
        if field == Field::Status {
            self.model
                .statuses_seen
                .entry(guid.to_string())
                .or_default()
                .insert(value.clone());
        }
        self.model
            .last
            .insert((guid.to_string(), field), LastWrite::Local { value, epoch });
    }

    /// Whether the ticket of `task` had `status` before (locally or in Asana); records it.
    fn status_seen(&mut self, task: &TaskSnapshot, status: Status) -> bool {
        let Some(guid) = crate::check::marker_of(&task.notes) else {
            return false;
        };
        !self
            .model
            .statuses_seen
            .entry(guid)
            .or_default()
            .insert(status.to_string())
    }

    /// Counts a person's write of `value` to `field` of the ticket of `task`.
    fn person_wrote(&mut self, task: &TaskSnapshot, field: Field, value: &str) {
        if let Some(guid) = crate::check::marker_of(&task.notes) {
            *self
                .model
                .person_writes
                .entry((guid, field, value.to_string()))
                .or_default() += 1;
        }
    }

    fn asana(&mut self, task: &TaskSnapshot, field: Field, write: LastWrite) {
        if let Some(guid) = crate::check::marker_of(&task.notes) {
            self.model.last.insert((guid, field), write);
        }
    }

    /// Runs one step to completion and returns what it did, as one line of the trace.
    pub async fn step(&mut self, step: Step) -> ApiResult<String> {
        let out = match step {
            Step::Create { inst, tag } => {
                let subject = format!("subject #{tag}");
                let r = self
                    .inst(inst)
                    .create(NewTicket::new(subject.clone()))
                    .await;
                if let Ok(res) = &r {
                    let guid = res.guid.clone();
                    self.tickets.push(guid.clone());
                    self.local(&guid, Field::Subject, subject);
                    self.local(&guid, Field::Description, String::new());
                    self.local(&guid, Field::Status, Status::New.to_string());
                }
                op(&r)
            }
            Step::Update {
                inst,
                ticket,
                field,
                tag,
            } => {
                let Some(guid) = self.ticket(ticket) else {
                    return Ok("no ticket".into());
                };
                let (changes, model_field, value) = match field {
                    LocalField::Subject => {
                        let v = format!("subject #{tag}");
                        (
                            TicketUpdate {
                                subject: Some(v.clone()),
                                ..TicketUpdate::default()
                            },
                            Field::Subject,
                            v,
                        )
                    }
                    LocalField::Description => {
                        let v = format!("description #{tag}");
                        (
                            TicketUpdate {
                                description: Some(v.clone()),
                                ..TicketUpdate::default()
                            },
                            Field::Description,
                            v,
                        )
                    }
                };
                let r = self.inst(inst).update(&guid, changes).await;
                if r.is_ok() {
                    self.local(&guid, model_field, value);
                }
                op(&r)
            }
            Step::Status {
                inst,
                ticket,
                status,
            } => {
                let Some(guid) = self.ticket(ticket) else {
                    return Ok("no ticket".into());
                };
                let status = STATUSES[status as usize % STATUSES.len()];
                let r = self.inst(inst).change_status(&guid, status).await;
                if r.is_ok() {
                    self.local(&guid, Field::Status, status.to_string());
                }
                op(&r)
            }
            Step::Comment { inst, ticket, tag } => {
                let Some(guid) = self.ticket(ticket) else {
                    return Ok("no ticket".into());
                };
                let body = format!("local comment #{tag}");
                let r = self
                    .inst(inst)
                    .add_comment(&guid, NewComment::new(body.clone()))
                    .await;
                if r.is_ok() {
                    let epoch = self.model.epoch;
                    self.model.local_comments.push((guid, body, epoch));
                }
                op(&r)
            }
            Step::Flush { inst } => match self.inst(inst).flush().await {
                Ok(r) => format!(
                    "pushed={} pending={} aside={} elsewhere={}",
                    r.pushed, r.pending, r.set_aside, r.claimed_elsewhere
                ),
                Err(e) => format!("err {:?}", e.kind()),
            },
            Step::Pull { inst } => match self.inst(inst).pull_all(&|_| {}).await {
                Ok(r) => format!(
                    "{} seen={} created={} updated={} conflicts={} skipped={} lost={}",
                    r.mode.as_str(),
                    r.tasks_seen,
                    r.created,
                    r.updated,
                    r.conflicts,
                    r.skipped.len(),
                    r.lost
                ),
                Err(e) => format!("err {:?}", e.kind()),
            },
            Step::Land { inst } => match self.inst(inst).status().await {
                Ok(s) => format!("pending={}", s.pending),
                Err(e) => format!("err {:?}", e.kind()),
            },
            Step::PersonRename { task, tag } => {
                let Some(t) = self.task(task) else {
                    return Ok("no task".into());
                };
                Self::person_pause().await;
                let name = format!("asana name #{tag}");
                self.person(&t, PersonEdit::Rename(name.clone()));
                self.person_wrote(&t, Field::Subject, &name);
                self.asana(
                    &t,
                    Field::Subject,
                    LastWrite::Asana {
                        value: name,
                        task: t.gid.clone(),
                    },
                );
                format!("task {}", t.gid)
            }
            Step::PersonNotes { task, tag } => {
                let Some(t) = self.task(task) else {
                    return Ok("no task".into());
                };
                Self::person_pause().await;
                let desc = format!("asana notes #{tag}");
                // The person rewrites the description and leaves the sync's lines (the push
                // mark and the marker) as they are.
                let mark = crate::check::push_mark_line(&t.notes)
                    .map(|line| format!("\n\n{line}"))
                    .unwrap_or_default();
                let notes = match crate::check::marker_of(&t.notes) {
                    Some(m) => format!("{desc}{mark}\n\n[ticket-guid: {m}]"),
                    None => desc.clone(),
                };
                self.person(&t, PersonEdit::Notes(notes));
                self.person_wrote(&t, Field::Description, &desc);
                self.asana(
                    &t,
                    Field::Description,
                    LastWrite::Asana {
                        value: desc,
                        task: t.gid.clone(),
                    },
                );
                format!("task {}", t.gid)
            }
            Step::PersonMove { task, status } => {
                let Some(t) = self.task(task) else {
                    return Ok("no task".into());
                };
                Self::person_pause().await;
                let status = STATUSES[status as usize % STATUSES.len()];
                let done = matches!(
                    status,
                    Status::Resolved | Status::Closed | Status::Cancelled
                );
                self.person(&t, PersonEdit::MoveToSection(status.title().to_string()));
                // The section decides when `completed` already agrees with it; otherwise
                // the completion rule may read the pair differently.
                let write = if t.section_name.as_deref() == Some(status.title()) {
                    // Dropped where it already was: nothing changes in Asana.
                    None
                } else if t.completed == done
                    && !self.model.toggled_tasks.contains(&t.gid)
                    && !self.status_seen(&t, status)
                {
                    Some(LastWrite::Asana {
                        value: status.to_string(),
                        task: t.gid.clone(),
                    })
                } else {
                    Some(LastWrite::Unknown)
                };
                if let Some(write) = write {
                    self.person_wrote(&t, Field::Status, status.as_str());
                    self.asana(&t, Field::Status, write);
                }
                format!("task {}", t.gid)
            }
            Step::PersonComplete { task, done } => {
                let Some(t) = self.task(task) else {
                    return Ok("no task".into());
                };
                Self::person_pause().await;
                self.person(&t, PersonEdit::Completed(done));
                if t.completed != done {
                    let read_as = if done {
                        Status::Resolved
                    } else {
                        Status::InProgress
                    };
                    self.person_wrote(&t, Field::Status, read_as.as_str());
                    self.asana(&t, Field::Status, LastWrite::Unknown);
                    self.model.toggled_tasks.insert(t.gid.clone());
                }
                format!("task {}", t.gid)
            }
            Step::PersonComment { task, tag } => {
                let Some(t) = self.task(task) else {
                    return Ok("no task".into());
                };
                Self::person_pause().await;
                let text = format!("asana comment #{tag}");
                let alice = self.alice.clone();
                self.fake.add_comment_as(&t.gid, &alice, &text);
                self.model.person_comments.push((t.gid.clone(), text));
                format!("task {}", t.gid)
            }
            Step::PersonDelete { task } => {
                let Some(t) = self.task(task) else {
                    return Ok("no task".into());
                };
                Self::person_pause().await;
                self.person(&t, PersonEdit::Delete);
                self.model.gone_tasks.insert(t.gid.clone());
                format!("task {}", t.gid)
            }
            Step::PersonRemove { task } => {
                let Some(t) = self.task(task) else {
                    return Ok("no task".into());
                };
                Self::person_pause().await;
                self.person(&t, PersonEdit::RemoveFromProject);
                self.model.gone_tasks.insert(t.gid.clone());
                format!("task {}", t.gid)
            }
            Step::Fault {
                kind,
                target,
                count,
            } => {
                self.fake.add_fault(fault(kind, target, count));
                "queued".into()
            }
            Step::ExpireEvents => {
                self.fake.expire_sync_tokens();
                "expired".into()
            }
            Step::Crash { inst } => {
                let i = inst as usize % self.instances.len();
                let fresh = self.open_instance().await?;
                let dead = std::mem::replace(&mut self.instances[i], fresh);
                let owner = dead.instance_id().to_string();
                drop(dead);
                let n = self.expire_claims(Some(&owner))?;
                format!("restarted, {n} claim(s) expired")
            }
            Step::Backup => {
                let path = self
                    .dir_path
                    .join(format!("backup-{}.db", self.backups.len()));
                self.sqlite(|c| {
                    sql_query(format!("VACUUM INTO '{}'", path.display())).execute(c)?;
                    Ok(0)
                })?;
                self.backups.push(path);
                format!("backup {}", self.backups.len() - 1)
            }
            Step::Restore { backup } => {
                if self.backups.is_empty() {
                    return Ok("no backup".into());
                }
                let b = backup as usize % self.backups.len();
                self.note_pushed_before_restore();
                // Every instance stops (a restore replaces the file under no one).
                self.instances.clear();
                for suffix in ["", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", self.db.display()));
                    if p.exists() {
                        std::fs::remove_file(&p).map_err(io)?;
                    }
                }
                std::fs::copy(&self.backups[b], &self.db).map_err(io)?;
                // Every claim in the copy belongs to an instance that is gone.
                let n = self.expire_claims(None)?;
                for _ in 0..INSTANCES {
                    let p = self.open_instance().await?;
                    self.instances.push(p);
                }
                self.model.epoch += 1;
                format!("restored backup {b}, {n} claim(s) expired")
            }
        };
        Ok(out)
    }

    /// Remembers which last local writes Asana holds now, before a restore.
    fn note_pushed_before_restore(&mut self) {
        for t in self.tasks() {
            let Some(guid) = crate::check::marker_of(&t.notes) else {
                continue;
            };
            for (field, asana) in [
                (Field::Subject, t.name.clone()),
                (Field::Description, crate::check::description_of(&t.notes)),
            ] {
                if let Some(LastWrite::Local { value, epoch }) =
                    self.model.last.get(&(guid.clone(), field))
                {
                    if *epoch == self.model.epoch && *value == asana {
                        self.model.pushed_before_restore.insert((
                            guid.clone(),
                            field,
                            value.clone(),
                        ));
                    }
                }
            }
        }
    }

    /// Instance `n` (modulo the count).
    pub fn inst(&self, n: u8) -> &SyncProvider {
        &self.instances[n as usize % self.instances.len()]
    }

    /// A person acts at least a couple of milliseconds after the sync last wrote: Asana's
    /// timestamps have millisecond resolution, and a change in the same millisecond as a
    /// push leaves `modified_at` as the push saw it (see the crate documentation).
    async fn person_pause() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    fn person(&self, t: &TaskSnapshot, edit: PersonEdit) {
        self.fake.edit_as_person(&self.project, &t.gid, edit);
    }

    /// Lets the claims of `owner` (every claim with `None`) expire now: what the passing of
    /// the claim TTL does after a crash.
    fn expire_claims(&self, owner: Option<&str>) -> ApiResult<usize> {
        self.sqlite(|c| match owner {
            Some(o) => sql_query(format!(
                "UPDATE data_sync_claim SET claim_until = 0 WHERE owner = '{}'",
                o.replace('\'', "''")
            ))
            .execute(c),
            None => sql_query("UPDATE data_sync_claim SET claim_until = 0").execute(c),
        })
    }

    fn sqlite(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> diesel::QueryResult<usize>,
    ) -> ApiResult<usize> {
        let path = self.db.display().to_string();
        let mut c = SqliteConnection::establish(&path)
            .map_err(|e| ticket_provider_api::Error::internal(format!("open {path}: {e}")))?;
        sql_query("PRAGMA busy_timeout = 5000")
            .execute(&mut c)
            .map_err(db_error)?;
        f(&mut c).map_err(db_error)
    }

    /// The store file.
    pub fn db_path(&self) -> &Path {
        &self.db
    }
}

/// An empty store with every migration run (the sync tables included), as the bytes of a
/// SQLite file: made once per process, and copied for each world.
async fn empty_store() -> ApiResult<&'static [u8]> {
    static EMPTY: tokio::sync::OnceCell<Vec<u8>> = tokio::sync::OnceCell::const_new();
    let bytes = EMPTY
        .get_or_try_init(|| async {
            let dir = tempfile::tempdir().map_err(io)?;
            let db = dir.path().join("empty.db");
            let copy = dir.path().join("copy.db");
            let store =
                InternalProvider::open(&format!("sqlite://{}", db.display()), store_options(None))
                    .await?;
            let mut c = SqliteConnection::establish(&db.display().to_string()).map_err(|e| {
                ticket_provider_api::Error::internal(format!("open {}: {e}", db.display()))
            })?;
            sql_query(format!("VACUUM INTO '{}'", copy.display()))
                .execute(&mut c)
                .map_err(db_error)?;
            drop(c);
            drop(store);
            std::fs::read(&copy).map_err(io)
        })
        .await?;
    Ok(bytes.as_slice())
}

/// The trace line of an operation's result: its sync state or its error kind.
fn op(r: &ApiResult<OperationResult>) -> String {
    match r {
        Ok(res) => format!(
            "ok {}",
            res.sync_state
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "-".into())
        ),
        Err(e) => format!("err {:?}", e.kind()),
    }
}

fn fault(kind: FaultKind, target: FaultTarget, count: u8) -> Fault {
    let method = match target {
        FaultTarget::Any => None,
        FaultTarget::Reads => Some("GET".to_string()),
        FaultTarget::Posts => Some("POST".to_string()),
        FaultTarget::Puts => Some("PUT".to_string()),
    };
    let (status, after_apply, delay_ms) = match kind {
        FaultKind::ServerError => (Some(500), false, None),
        FaultKind::Unavailable => (Some(503), false, None),
        FaultKind::RateLimited => (Some(429), false, None),
        FaultKind::LostAnswer => (Some(500), true, None),
        FaultKind::Delay => (None, false, Some(3)),
    };
    Fault {
        method,
        path_prefix: Some("/api/1.0/".into()),
        status,
        count: u32::from(count),
        retry_after: None,
        delay_ms,
        after_apply,
        body: None,
    }
}

fn io(e: std::io::Error) -> ticket_provider_api::Error {
    ticket_provider_api::Error::internal(format!("store file: {e}"))
}

fn db_error(e: diesel::result::Error) -> ticket_provider_api::Error {
    ticket_provider_api::Error::internal(format!("store: {e}"))
}
