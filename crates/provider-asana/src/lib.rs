//! The `asana` ticket provider: tickets are the tasks of one Asana project.
//!
//! Select it with `homechoice.ticket.provider: asana` and `asana_project: "<project gid>"`;
//! the token comes from the environment variable `ASANA_ACCESS_TOKEN` (read through
//! [`BuildContext::secret`], never from a file). Its own keys (`asana_base_url`,
//! `asana_sections`, `asana_priority_tags`, `asana_priority_field`, `asana_priority_options`,
//! `asana_fields`, `asana_requests_per_minute`, `asana_timeout_ms`, `asana_cache_path`) are
//! [`AsanaConfigKeys`]. A missing project or token is a configuration error when the
//! provider is built.
//!
//! # Mapping
//!
//! | Ticket | Asana |
//! |---|---|
//! | guid | task gid (digits; anything else is `InvalidInput` without a request) |
//! | subject / description | `name` / `notes` |
//! | status | the task's section in the project; names default to [`Status::title`] ("New", "In Progress", ...) and can be overridden with `asana_sections`. A missing section is created on first use. |
//! | priority | tags (the default) or an enum custom field (`asana_priority_field`), see [Priority](#priority-tags-or-a-custom-field) |
//! | due | `due_on` for a date, `due_at` for an instant, see [Due dates](#due-dates) |
//! | fields | custom fields of the project named by `asana_fields`, see [Custom fields and labels](#custom-fields-and-labels) |
//! | labels | the task's tags apart from the priority tags |
//! | comment | a story with `text`; `comment_guid` is the story gid. Only stories of `type == "comment"` are read. Asana authors every API comment as the token owner, so an author given by the caller becomes a first line `[author: NAME]`, removed again when reading; see [Attribution](#attribution). |
//! | assignee | the task assignee, given as e-mail, user gid or `me`; reported as the e-mail the users API gives for it (see below), else the gid. An unknown user is `InvalidInput` and never clears the current assignee (Asana rejects the whole update). |
//! | created_at / updated_at | `created_at` / `modified_at` |
//!
//! # Attribution
//!
//! One codec, [`attribution`], writes and reads comment stories for this provider and the
//! `sync` provider alike. Only the token owner's stories can carry an attribution: a story
//! another Asana user wrote is read verbatim, authored by that user's e-mail (else name), even
//! when its first line reads `[author: someone]`. A comment body that looks like an
//! attribution is escaped with one more leading backslash on the way out and unescaped on the
//! way in, so `[author: mallory]` + `\nhello` comes back exactly as written, with the author
//! it was given (an escalation reason too). To tell the owner's stories apart, the first
//! `get_ticket` of a provider reads the token owner (`GET /users/me`) in the same
//! `POST /batch` as the task, which also gives the owner's e-mail.
//!
//! # Priority: tags or a custom field
//!
//! **Tags** (the default, `asana_priority_field` unset): one tag per priority,
//! `priority:low` … `priority:urgent` by default (`asana_priority_tags`), created in the
//! project's workspace when missing. **Every** ticket carries exactly one priority tag,
//! normal priority included, so that a missing tag always means "not a ticket of ours" or
//! "edited by hand" (read as normal).
//!
//! **An enum custom field** (`asana_priority_field: Priority`, the field's name or gid):
//! every ticket's priority is an option of that single-select field, normal included.
//! `asana_priority_options` maps priorities to option names, by default the priority's name
//! capitalised: `Low`, `Normal`, `High`, `Urgent` (e.g. `{normal: Medium}`). The field must
//! already be on the project, with those options enabled: the provider never creates or
//! adds fields or options (custom fields need a paid Asana plan). Creates and updates set
//! the option in the task request itself (`custom_fields: {<field gid>: <option gid>}` in
//! `POST /tasks` / `PUT /tasks/{gid}`); no priority tag is written, read or created. Reads
//! ask for `custom_fields.name,custom_fields.enum_value.name` and map the option back by
//! cached gid, else by name; a task without a value reads its old priority tag if it has
//! one (tasks tagged before the switch), else normal, and so does an option no priority
//! maps to. Errors name what to fix, write nothing and are `Config` errors: the field is
//! not on the project (add it in Asana's project settings), it is not an enum field, an
//! option is missing or disabled (naming the option, the field and the
//! `asana_priority_options` key); a plan without custom fields is `Unsupported`: "Asana
//! refused custom fields (402 Payment Required): this workspace's plan has no custom
//! fields; remove homechoice.ticket.asana_priority_field to keep priority in tags".
//! `ticket doctor` checks the field and every option.
//!
//! # Custom fields and labels
//!
//! The fields declared in `homechoice.ticket.fields` that `asana_fields` maps (`{severity:
//! "Severity", customer: "1234567"}`, each by the custom field's name or gid) are kept in those
//! custom fields of the project; unmapped fields are refused (`InvalidInput` naming the key to
//! set), and a mapping of an undeclared field fails when the config loads (`Config`).
//!
//! * **Binding.** One `GET /projects/{gid}/custom_field_settings` finds every mapped field and
//!   the gid of every declared option that is enabled; the binding is cached by gid (in
//!   [`ProjectCache::custom_fields`] between processes), so a field or option renamed in Asana
//!   keeps working, with a warning. A write whose field or option is not bound binds again.
//! * **Writes.** Values go in `custom_fields: {<field gid>: value}` of the `POST /tasks` or the
//!   `PUT /tasks/{gid}` the operation sends anyway: text a string, number a number, enum an
//!   option gid, multi-enum an array of option gids, date `{"date": "YYYY-MM-DD"}` or
//!   `{"date_time": "<UTC, ms>"}`, people an array of e-mails (Asana takes e-mails where it
//!   takes users); a cleared field is `null`. **Labels** are tags: on create in the body's
//!   `tags`, on update `addTag`/`removeTag` in the batch the update sends (with the
//!   priority in a custom field the `PUT` then travels in a `POST /batch` with them). A
//!   missing tag is created once and cached ([`ProjectCache::label_tags`]); a label that is a
//!   priority tag's name is `InvalidInput`. No request more per operation.
//! * **Errors.** A mapped field not on the project, of another type, or a declared option
//!   missing or disabled in Asana is a `Config` error naming the field (and the option) and
//!   what to fix, before anything is written; a field deleted in Asana after it was bound is
//!   found by the refusal (the cached gid is dropped, bound again once) and reported the same
//!   way. A person who is no Asana user is Asana's 400, which names the custom field.
//! * **Reads** ask for `custom_fields` with their values and decode the mapped fields by the
//!   declared type. An option reads by its bound gid (a renamed option as its declared
//!   name); **a value outside the declaration is shown as Asana holds it** (an undeclared
//!   option by its name, a person without a readable e-mail by gid), with a warning once, so
//!   nothing Asana holds is hidden; a field of another type is not read (warned; see `ticket
//!   doctor`). People come as user gids; their e-mails come from the [`UserDirectory`] like
//!   assignees'. Labels are the names of the task's tags that carry no priority.
//!   `list_tickets` filters by field value (a set field: holding every element given) and
//!   label on the client, like its other filters.
//! * `ticket doctor` checks every mapped field ("field NAME"): on the project, of the
//!   declared type (a number field keeping at least the declared digits), every declared
//!   option present and enabled.
//!
//! # Due dates
//!
//! A [`Due::Date`](ticket_provider_api::Due) is written as `due_on` (`YYYY-MM-DD`) and read
//! back as that day, never through a time zone. A [`Due::At`](ticket_provider_api::Due) is
//! written as `due_at` in UTC with milliseconds (`2026-12-24T14:00:00.000Z`). Every write
//! sends one of the two keys only (Asana takes one per request, and either replaces the
//! other); clearing sends `due_on: null`. Reading, a task with `due_at` is an instant (Asana
//! also reports that instant's date as `due_on`), else one with `due_on` a date.
//! `list_tickets` with `due_before` keeps tickets due before that day (an instant by its UTC
//! date) and leaves out those without a due date; the filter runs on the client, since
//! Asana's task lists take no due-date parameter. Due dates ride in the requests an
//! operation makes anyway: no request more.
//!
//! **Completion.** Moving a ticket to RESOLVED, CLOSED or CANCELLED also sets the task's
//! `completed` to true; moving it to any other status sets it to false.
//!
//! **Sections that map to no status.** A task in a section that no status maps to (say a
//! "Backlog" column added by hand) reads as NEW, with a `tracing` warning naming the
//! section once per section and process; [`RemoteTask::status`] is `None` for it, so the
//! sync layer can tell. Listing with
//! a status filter reads that status' section only, so such tasks appear in unfiltered lists
//! only.
//!
//! **Tasks outside the project.** A task that is not in the tickets project is no ticket:
//! reads of it are `NotFound`, and so is every write (`update`, `change_status`, `close`,
//! `resolve`, `escalate`, `assign`, `add_comment`), "no ticket "GID" in project P", with
//! nothing written. Each write reads the task first (`GET /tasks/{gid}`, or the read
//! `update` makes anyway with priority tags) and sends its writes only when the task is a
//! member of the project; Asana's batches carry no condition, so the read cannot share the
//! write's request. The [`TaskClient`] writes the `sync` provider uses on the tasks it
//! created do not read first.
//!
//! **Renamed sections.** Sections, tags and the priority field are cached by gid. When a section is renamed in
//! Asana the provider keeps using it (by gid), logs a warning once, and does not create a
//! second section with the configured name while the cache lives.
//!
//! # The cache, across processes
//!
//! Every `ticket` command is a new process, so what the provider learns — the project's
//! workspace, the section of each status, the tag of each priority (or the priority field
//! and the option of each priority, [`CachedPriorityField`]), the e-mails of users —
//! is kept in a [`CacheStore`] as one [`ProjectCache`]: for the `asana` provider a JSON
//! file ([`CacheFile`]) at `asana_cache_path`, by default [`DEFAULT_CACHE_FILE`] beside
//! the config file (none for a config not read from a file; `""` turns it off), for the
//! `sync` provider its database. The file has one entry per base URL and project, is
//! replaced atomically (a temporary file with a random name, created exclusively and
//! readable by its owner only, renamed over it) and holds gids, names and e-mails, never
//! the token. A missing file is an empty cache; an unreadable or unwritable one is warned
//! about once and otherwise ignored. Only a cache is ever replaced: a path that holds
//! anything else (another file, a symlink, a folder) is left untouched, with one warning
//! naming it, and the provider works without a cache. A cached gid Asana refuses as unknown
//! (404, or a 400 naming it) is dropped, looked up again and the operation sent once more
//! (a create too: Asana made nothing). A disabled option is refused like a gone one: the
//! lookup then finds the option of that name that is enabled, or says it is disabled.
//!
//! # Requests per operation
//!
//! Reads never look sections, tags or the priority field up (a task read carries their
//! names). A write looks up only what the cache lacks: the project's sections (1 request)
//! for a status whose section is not cached, the project's workspace and the workspace's
//! tags (2 requests) for a priority whose tag is not cached, or in field mode the
//! project's custom field settings (1 request, `GET /projects/{gid}/custom_field_settings`)
//! for a priority whose option is not cached; a missing section or tag costs two more
//! requests, once: the create and a second listing, so that processes creating it at the
//! same moment settle on one — the first section of that name in project order, the oldest
//! tag — and delete their duplicate section. Once the gids are cached (in this process or
//! an earlier one):
//!
//! | Operation | Requests |
//! |---|---|
//! | create | 1 (`POST /tasks` with name, notes, project, section membership, tags (priority and labels) or custom field, mapped custom fields, due date and assignee) |
//! | change_status, close, resolve | 2 at most: read the task (`GET /tasks/{gid}`), then only what differs: `addTask` to the section, `PUT completed`, both in one `POST /batch`, or nothing |
//! | escalate | as change_status, plus 1 for the reason's comment |
//! | assign | 2 (read the task, then `PUT /tasks/{gid}`); an error answer costs one user lookup to tell an unknown user from an unknown task |
//! | add_comment | 2 (read the task, which tells its status, then `POST /tasks/{gid}/stories`) |
//! | get_ticket | 1 (`POST /batch`: the task and its first 100 stories, and the first time the token owner), plus 1 per further 100 comments |
//! | update | 2: read the task (its project, the notes' marker line, the tags), then tags: one `POST /batch` with the `PUT` (mapped custom fields included) and `addTag`/`removeTag` (priority and labels); field: one `PUT /tasks/{gid}` with the option and the mapped fields, in a `POST /batch` with `addTag`/`removeTag` when labels change |
//! | list_tickets | ⌈N/100⌉ for N tasks in the project (or in the status' section with a status filter) |
//!
//! For the `sync` provider's pulls: [`TaskClient::list_remote_tasks`] costs ⌈N/100⌉ for N
//! tasks (every field a ticket needs, no comments); [`TaskClient::get_remote_tasks`] reads
//! N named tasks in ⌈N/10⌉ `POST /batch` requests, and [`TaskClient::stories_for_tasks`]
//! reads the comments of N tasks in ⌈N/10⌉ `POST /batch` requests (Asana has no bulk
//! stories endpoint), plus 1 per further 100 stories of a task with more than 100.
//!
//! **User e-mails.** Asana documents a task's `assignee` and a comment's `created_by` as
//! compact users (gid and name): the e-mail comes from the users API (`GET /users/{gid}`,
//! `opt_fields=email,name`), read in one `POST /batch` per 10 users never seen before and
//! remembered by gid for the life of the provider ([`UserDirectory`], which can sit in front
//! of a persistent [`UserStore`]). So the first read that meets a new assignee or comment
//! author costs one more request; a list of 100 tasks by 3 new assignees costs one batch of
//! 3 user reads, and nothing more once they are known. Only the requests, parameters,
//! `opt_fields` and body fields the spec documents for each operation are sent.
//!
//! Batches hold only idempotent actions, so they are retried like `PUT`s. When a server
//! does not offer `POST /batch` the actions are sent one by one.
//!
//! **Listing.** Asana lists tasks in project order and its page offsets expire, so
//! `list_tickets` reads every task of the project (or section) 100 at a time, filters
//! assignee, priority and `due_before` on the client, sorts newest first (created_at, then gid) and
//! returns `limit` tickets. `next_cursor` is the sort key of the last ticket returned
//! (`<created_at millis>~<gid>`), so paging is stable even when tickets are added between
//! pages; every page costs ⌈N/100⌉ requests.
//!
//! # Limits and failures
//!
//! See [`RetryPolicy`]: 429 waits `Retry-After`; 5xx, timeouts and transport errors are
//! retried with capped exponential backoff and jitter for reads and idempotent writes only.
//! A create (`POST` of a task, story, section or tag) that may have reached Asana is never
//! repeated: the error is a temporary `Unavailable`. At most 15 writes and 50 reads are in
//! flight; `asana_requests_per_minute` adds a token-bucket budget; `asana_timeout_ms` bounds
//! each request, its answer's body included (10 s by default), and an answer body is read
//! up to [`MAX_ANSWER_BYTES`] (16 MiB) only: a larger or endless one is an `Unavailable`
//! error at once, not repeated.
//!
//! Errors: 401 → `Unauthenticated` (check `ASANA_ACCESS_TOKEN`), 402 → `Unsupported` (for a
//! write setting the priority field, the message above),
//! 403 → `PermissionDenied`, 404 → `NotFound`, 400 → `InvalidInput` with Asana's message,
//! 429 after retries → `RateLimited`, 5xx and transport failures → `Unavailable`.
//! An answer is checked before it is believed: a 200 whose body is not the shape its
//! endpoint promises (an HTML page, `{}`, `{"data":null}`, `[]`, an empty body, a batch with
//! the wrong number of results, a task read without its memberships) is a temporary
//! `Unavailable` naming the endpoint and what was wrong, never an empty listing.
//!
//! The token is never logged, never part of an error and never shown by `Debug`. Asana's
//! own error text is shown only cleaned: the token and every `Bearer …` value redacted,
//! control characters escaped, at most 300 characters.
//!
//! # Layout, and the `sync` provider
//!
//! The crate is cut the way Apache OpenDAL cuts a service:
//!
//! * a core (`core.rs`): the HTTP client (`client.rs`), the settings, the gid cache
//!   (`gid_cache.rs`, persisted through [`CacheStore`]) and the user directory; ONE name → gid
//!   lookup (`lookup.rs`) for sections, tags, the priority field's options, the mapped
//!   custom fields and the tags of labels (`mapped_fields.rs`), whose per-kind differences
//!   are data; the decoding of task records (`decode.rs`, custom fields and labels in
//!   `mapped_fields.rs`);
//! * [`TaskClient`] (`task_client.rs` reads, `task_writes.rs` writes): the task-level
//!   operations, and all the `sync` provider uses: [`TaskClient::create_task_with_marker`]
//!   (and [`TaskClient::create_task_lean`], answered with only the gid and `modified_at`),
//!   [`TaskClient::find_task_by_marker`] (and [`TaskClient::tasks_with_marker`], with each
//!   task's creator), [`TaskClient::get_remote_task`],
//!   [`TaskClient::get_remote_tasks`], [`TaskClient::stories_for_tasks`],
//!   [`TaskClient::list_remote_tasks`], [`TaskClient::set_fields`], [`TaskClient::assign`],
//!   [`TaskClient::move_task`], [`TaskClient::move_task_from`] (given where a read saw the
//!   task, only what differs), [`TaskClient::post_comment`],
//!   [`TaskClient::find_comment_by_marker`], [`TaskClient::events`],
//!   [`TaskClient::token_owner`] and [`TaskClient::workspace_gid`];
//! * [`AsanaProvider`] (`provider.rs`, listing in `list.rs`): the [`TicketProvider`] impl on
//!   a [`TaskClient`] ([`AsanaProvider::tasks`]; `From<TaskClient>` goes the other way), and
//!   comment stories through the [`attribution`] codec.

#![warn(missing_docs)]

mod answer;
pub mod attribution;
mod cache;
mod client;
mod config;
mod core;
mod decode;
mod doctor;
mod error;
mod gid_cache;
mod list;
mod lookup;
mod mapped_fields;
mod priority_field;
mod provider;
mod remote;
mod task_client;
mod task_writes;
mod users;
mod webhooks;

use std::sync::Arc;

use ticket_provider_api::{
    register_provider, BoxFuture, BuildContext, Capabilities, ProviderDescriptor, Result,
    SettingsSpec, TicketProvider,
};

pub use crate::core::BATCH_ACTIONS;
pub use cache::{
    CacheFile, CacheKey, CacheStore, CachedOption, CachedPriorityField, CachedUser, KeyedCache,
    ProjectCache, DEFAULT_CACHE_FILE,
};
pub use client::{RequestStatsSnapshot, MAX_ANSWER_BYTES};
pub use config::{
    default_priority_option, default_priority_tag, AsanaConfigKeys, AsanaSettings, RetryPolicy,
    ASANA_TOKEN_ENV, DEFAULT_ASANA_BASE_URL, DEFAULT_TIMEOUT, MAX_READS_IN_FLIGHT,
    MAX_WRITES_IN_FLIGHT,
};
pub use mapped_fields::UnusableField;
pub use provider::AsanaProvider;
pub use remote::{EventsPage, RemoteComment, RemoteEvent, RemoteTask, TaskPlace};
pub use task_client::TaskClient;
pub use task_writes::CreatedTask;
pub use users::{AsanaUser, UserDirectory, UserStore};
pub use webhooks::{RemoteWebhook, WebhookCreated};

#[doc(no_inline)]
pub use ticket_provider_api::Status;

/// The name this provider is registered under (`homechoice.ticket.provider: asana`).
pub const PROVIDER_NAME: &str = "asana";

/// What the `asana` provider can do: the ten operations, no extras.
pub const CAPABILITIES: Capabilities = Capabilities::OPERATIONS;

fn build(ctx: BuildContext) -> BoxFuture<'static, Result<Arc<dyn TicketProvider>>> {
    Box::pin(async move {
        let provider = AsanaProvider::from_config(&ctx).await?;
        Ok(Arc::new(provider) as Arc<dyn TicketProvider>)
    })
}

register_provider!(ProviderDescriptor::new(
    PROVIDER_NAME,
    "tasks of one Asana project",
    env!("CARGO_PKG_NAME"),
    CAPABILITIES,
    build
)
.with_doctor(doctor::doctor)
.with_settings(SettingsSpec {
    check: config::check_config,
    ..SettingsSpec::of::<AsanaConfigKeys>()
}));
