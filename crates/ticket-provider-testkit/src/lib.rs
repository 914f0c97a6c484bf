//! The behaviour suite every [`TicketProvider`] must pass: first-party, third-party, and
//! wrappers around other providers alike.
//!
//! Each check is a plain `async fn` taking the provider and [`SuiteOptions`]; [`run_all`]
//! runs them in order. A check panics with a message naming the check and what differed, so it
//! is meant to be called from a `#[tokio::test]`:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn passes_the_suite() {
//!     let provider: Arc<dyn TicketProvider> = Arc::new(MyProvider::new());
//!     ticket_provider_testkit::run_all(provider, &SuiteOptions::new("mine")).await;
//! }
//! ```
//!
//! Checks create their own tickets with unique subjects and never assume an empty store, so
//! they may run against a store that already holds data. They do assume nobody else writes
//! tickets with the suite's assignees while it runs.

#![warn(missing_docs)]

mod fields;
pub use fields::{
    fields_and_labels, suite_fields, AsanaFieldSpec, SUITE_ASANA_FIELDS, SUITE_FIELDS_YAML,
};

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;

use ticket_provider_api::model::MAX_LIST_LIMIT;
use ticket_provider_api::{
    Capabilities, Capability, Due, ErrorKind, ListQuery, NewComment, NewTicket, OperationResult,
    Priority, Result, Status, SyncMaintenance, Ticket, TicketChanges, TicketDetails, TicketHistory,
    TicketProvider, TicketUpdate,
};

/// What the suite needs to know about the provider under test.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The name the provider reports in every result's `provider`.
    pub provider_name: String,
    /// Two or more people tickets can be assigned to (for Asana: e-mails of existing users).
    pub assignees: Vec<String>,
    /// A well-formed guid that names no ticket.
    pub unknown_guid: String,
    /// A guid the provider must reject as malformed ([`ErrorKind::InvalidInput`]), if it has
    /// a format; `None` when any string is a well-formed guid.
    pub malformed_guid: Option<String>,
    /// How many callers the concurrency check runs at once.
    pub concurrency: usize,
    /// Whether the provider was built with the fields of [`SUITE_FIELDS_YAML`]; then
    /// [`run_all`] runs [`fields_and_labels`].
    pub fields: bool,
}

impl SuiteOptions {
    /// Options for a provider whose guids are UUIDs and whose assignees are free text.
    pub fn new(provider_name: impl Into<String>) -> Self {
        SuiteOptions {
            provider_name: provider_name.into(),
            assignees: vec!["alice@example.com".into(), "bob@example.com".into()],
            unknown_guid: "00000000-0000-7000-8000-000000000000".into(),
            malformed_guid: Some("not a guid".into()),
            concurrency: 8,
            fields: false,
        }
    }
}

/// Runs every check in order.
pub async fn run_all(provider: Arc<dyn TicketProvider>, opts: &SuiteOptions) {
    assert!(
        opts.assignees.len() >= 2,
        "SuiteOptions::assignees needs at least two people"
    );
    let p = provider.as_ref();
    lifecycle_and_capabilities(p, opts).await;
    create_and_get(p, opts).await;
    create_rejects_invalid_input(p, opts).await;
    update_changes_fields(p, opts).await;
    every_status(p, opts).await;
    close_resolve_escalate(p, opts).await;
    comments(p, opts).await;
    assignment(p, opts).await;
    list_filters_and_limit(p, opts).await;
    due_dates(p, opts).await;
    if opts.fields {
        fields_and_labels(p, opts).await;
    }
    unknown_and_malformed_guids(p, opts).await;
    concurrent_callers(provider.clone(), opts).await;
    history_when_offered(p, opts).await;
    shutdown_is_idempotent(p).await;
}

/// `info()` names the provider and agrees with its registry descriptor; every extra
/// capability comes with its extension and no extension comes without its capability.
pub async fn lifecycle_and_capabilities(p: &dyn TicketProvider, opts: &SuiteOptions) {
    let check = "lifecycle_and_capabilities";
    let info = p.info();
    assert_eq!(info.name, opts.provider_name, "[{check}] info().name");
    for op in Capabilities::OPERATIONS.iter() {
        assert!(
            info.capabilities.contains(op),
            "[{check}] the suite exercises {op}, but info() does not declare it"
        );
    }
    if let Ok(d) = ticket_provider_api::find_descriptor(info.name) {
        assert_eq!(
            d.capabilities, info.capabilities,
            "[{check}] the descriptor and info() disagree on the capabilities"
        );
    }
    let ext = p.extensions();
    assert_eq!(
        info.capabilities.contains(Capability::History),
        ext.get::<dyn TicketHistory>().is_some(),
        "[{check}] the history capability and the TicketHistory extension must go together"
    );
    assert_eq!(
        info.capabilities.contains(Capability::SyncMaintenance),
        ext.get::<dyn SyncMaintenance>().is_some(),
        "[{check}] the sync_maintenance capability and the SyncMaintenance extension must go together"
    );
    assert_eq!(
        info.capabilities.contains(Capability::Changes),
        ext.get::<dyn TicketChanges>().is_some(),
        "[{check}] the changes capability and the TicketChanges extension must go together"
    );
}

/// A provider with the history capability records creation and every status change, oldest
/// first, and answers NotFound for an unknown ticket.
pub async fn history_when_offered(p: &dyn TicketProvider, opts: &SuiteOptions) {
    let check = "history_when_offered";
    let Some(history) = p.extensions().get::<dyn TicketHistory>() else {
        return;
    };
    let r = ok(
        check,
        "create",
        p.create(NewTicket::new(unique("history"))).await,
    );
    ok(
        check,
        "change_status",
        p.change_status(&r.guid, Status::Triaged).await,
    );
    let entries = ok(check, "history", history.history(&r.guid).await);
    assert!(
        entries.iter().any(|e| e.field == "created"),
        "[{check}] no creation row: {entries:?}"
    );
    let status = entries
        .iter()
        .find(|e| e.field == "status")
        .unwrap_or_else(|| panic!("[{check}] no status row: {entries:?}"));
    assert_eq!(status.new_value.as_deref(), Some("TRIAGED"), "[{check}]");
    assert!(
        entries.windows(2).all(|w| w[0].id < w[1].id),
        "[{check}] not oldest first: {entries:?}"
    );
    expect_kind(
        check,
        "history of an unknown ticket",
        history.history(&opts.unknown_guid).await,
        ErrorKind::NotFound,
    );
}

/// `shutdown` succeeds, and a second call does too.
pub async fn shutdown_is_idempotent(p: &dyn TicketProvider) {
    ok("shutdown_is_idempotent", "shutdown", p.shutdown().await);
    ok(
        "shutdown_is_idempotent",
        "second shutdown",
        p.shutdown().await,
    );
}

fn unique(label: &str) -> String {
    format!("{label} {}", uuid::Uuid::new_v4().simple())
}

#[track_caller]
fn ok<T, E: Debug>(check: &str, step: &str, r: std::result::Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("[{check}] {step} failed: {e:?}"),
    }
}

#[track_caller]
fn expect_kind<T: Debug>(check: &str, step: &str, r: Result<T>, kind: ErrorKind) {
    match r {
        Ok(v) => panic!("[{check}] {step}: expected a {kind} error, got Ok({v:?})"),
        Err(e) => assert_eq!(
            e.kind(),
            kind,
            "[{check}] {step}: expected a {kind} error, got {e:?}"
        ),
    }
}

#[track_caller]
fn check_result(check: &str, r: &OperationResult, opts: &SuiteOptions, status: Status) {
    assert!(!r.guid.is_empty(), "[{check}] result has an empty guid");
    assert_eq!(r.status, status, "[{check}] result status");
    assert_eq!(r.provider, opts.provider_name, "[{check}] result provider");
}

async fn get(check: &str, p: &dyn TicketProvider, guid: &str) -> TicketDetails {
    let t = ok(check, "get_ticket", p.get_ticket(guid).await);
    assert_eq!(
        t.ticket.guid, guid,
        "[{check}] get_ticket returned another ticket"
    );
    t
}

/// Every ticket matching `query`, following cursors (at most `max_pages` pages).
async fn list_all(check: &str, p: &dyn TicketProvider, query: ListQuery) -> Vec<Ticket> {
    let mut out = Vec::new();
    let mut q = query;
    for _ in 0..10_000 {
        let page = ok(check, "list_tickets", p.list_tickets(q.clone()).await);
        out.extend(page.tickets);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
    panic!("[{check}] list_tickets did not end after 10,000 pages");
}

/// Due dates: a day stays that day, an instant given with any offset reads back as the same
/// UTC instant, both can be changed and cleared, a malformed value is refused before
/// anything is written, and `due_before` keeps exactly the tickets due before the day.
pub async fn due_dates(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "due_dates";
    let day: Due = "2031-02-28".parse().expect("a day");
    let at: Due = "2031-03-01T00:30:00+02:00".parse().expect("an instant");
    let r = ok(
        C,
        "create with a day",
        p.create(NewTicket::new(unique("Due on a day")).due(day))
            .await,
    );
    check_result(C, &r, opts, Status::New);
    assert_eq!(get(C, p, &r.guid).await.ticket.due, Some(day), "[{C}] day");
    let set = |due| TicketUpdate {
        due: Some(due),
        ..TicketUpdate::default()
    };
    ok(
        C,
        "update to an instant",
        p.update(&r.guid, set(Some(at))).await,
    );
    let t = get(C, p, &r.guid).await.ticket;
    assert_eq!(t.due, Some(at), "[{C}] instant");
    assert_eq!(
        t.due.map(|d| d.to_string()).as_deref(),
        Some("2031-02-28T22:30:00Z"),
        "[{C}] instant in UTC"
    );
    let other = ok(
        C,
        "create without",
        p.create(NewTicket::new(unique("Not due"))).await,
    );
    assert_eq!(get(C, p, &other.guid).await.ticket.due, None, "[{C}] none");
    // Before 2031-03-01: the instant (22:30 UTC on the 28th) is; a ticket due on the 1st is not.
    let later = ok(
        C,
        "create due later",
        p.create(NewTicket::new(unique("Due later")).due("2031-03-01".parse().expect("day")))
            .await,
    );
    let before = list_all(
        C,
        p,
        ListQuery {
            due_before: "2031-03-01".parse().ok(),
            limit: Some(MAX_LIST_LIMIT),
            ..ListQuery::default()
        },
    )
    .await;
    let guids: Vec<&str> = before.iter().map(|t| t.guid.as_str()).collect();
    assert!(
        guids.contains(&r.guid.as_str()),
        "[{C}] due_before keeps {}",
        r.guid
    );
    assert!(
        !guids.contains(&later.guid.as_str()),
        "[{C}] due_before drops a later day"
    );
    assert!(
        !guids.contains(&other.guid.as_str()),
        "[{C}] due_before drops undated"
    );
    assert!(
        before.iter().all(|t| t
            .due
            .is_some_and(|d| d.is_before("2031-03-01".parse().expect("day")))),
        "[{C}] due_before returned a ticket not due before the day"
    );
    ok(C, "clear", p.update(&r.guid, set(None)).await);
    assert_eq!(get(C, p, &r.guid).await.ticket.due, None, "[{C}] cleared");
}

/// create returns guid, NEW and the provider name; get_ticket returns every field.
pub async fn create_and_get(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "create_and_get";
    let subject = unique("Printer on fire ✓");
    let new = NewTicket::new(&subject)
        .description("It smokes.\nSecond line with ünïcödé.")
        .priority(Priority::High)
        .assignee(&opts.assignees[0]);
    let r = ok(C, "create", p.create(new).await);
    check_result(C, &r, opts, Status::New);
    let t = get(C, p, &r.guid).await;
    assert_eq!(t.ticket.subject, subject, "[{C}] subject");
    assert_eq!(
        t.ticket.description, "It smokes.\nSecond line with ünïcödé.",
        "[{C}] description"
    );
    assert_eq!(t.ticket.priority, Priority::High, "[{C}] priority");
    assert_eq!(t.ticket.status, Status::New, "[{C}] status");
    assert_eq!(
        t.ticket.assignee.as_deref(),
        Some(opts.assignees[0].as_str()),
        "[{C}] assignee"
    );
    assert_eq!(t.ticket.provider, opts.provider_name, "[{C}] provider");
    assert!(t.comments.is_empty(), "[{C}] a new ticket has no comments");
    assert!(
        t.ticket.updated_at >= t.ticket.created_at,
        "[{C}] updated_at before created_at"
    );

    // Defaults: normal priority, no assignee, empty description.
    let r2 = ok(
        C,
        "create minimal",
        p.create(NewTicket::new(unique("Minimal"))).await,
    );
    assert_ne!(r.guid, r2.guid, "[{C}] two creates returned one guid");
    let t2 = get(C, p, &r2.guid).await;
    assert_eq!(
        t2.ticket.priority,
        Priority::Normal,
        "[{C}] default priority"
    );
    assert_eq!(t2.ticket.assignee, None, "[{C}] default assignee");
    assert_eq!(t2.ticket.description, "", "[{C}] default description");
}

/// Bad input on create is an invalid-input error and writes nothing.
pub async fn create_rejects_invalid_input(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "create_rejects_invalid_input";
    let marker = &opts.assignees[1];
    let filter = ListQuery {
        assignee: Some(marker.clone()),
        priority: Some(Priority::Urgent),
        ..Default::default()
    };
    let before = list_all(C, p, filter.clone()).await.len();
    let cases = [
        NewTicket::new(""),
        NewTicket::new("   \t "),
        NewTicket::new("x".repeat(ticket_provider_api::model::MAX_SUBJECT_CHARS + 1)),
        NewTicket::new("two\nlines"),
        NewTicket::new("ok")
            .description("y".repeat(ticket_provider_api::model::MAX_DESCRIPTION_CHARS + 1)),
        NewTicket::new("ok").description("nul \u{0} inside"),
        NewTicket::new("ok").assignee(""),
    ];
    for case in cases {
        let case = case.priority(Priority::Urgent);
        let case = if case.assignee.is_none() {
            case.assignee(marker)
        } else {
            case
        };
        let step = format!("create {:.40?}", case.subject);
        expect_kind(C, &step, p.create(case).await, ErrorKind::InvalidInput);
    }
    let after = list_all(C, p, filter).await.len();
    assert_eq!(before, after, "[{C}] a rejected create wrote a ticket");
}

/// update changes only the fields given and rejects bad or empty changes.
pub async fn update_changes_fields(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "update_changes_fields";
    let r = ok(
        C,
        "create",
        p.create(NewTicket::new(unique("Old subject")).description("old"))
            .await,
    );
    let new_subject = unique("New subject");
    let upd = TicketUpdate {
        subject: Some(new_subject.clone()),
        priority: Some(Priority::Low),
        ..Default::default()
    };
    let u = ok(C, "update", p.update(&r.guid, upd).await);
    check_result(C, &u, opts, Status::New);
    assert_eq!(u.guid, r.guid, "[{C}] update result guid");
    let t = get(C, p, &r.guid).await;
    assert_eq!(t.ticket.subject, new_subject, "[{C}] subject after update");
    assert_eq!(
        t.ticket.priority,
        Priority::Low,
        "[{C}] priority after update"
    );
    assert_eq!(
        t.ticket.description, "old",
        "[{C}] description must be unchanged"
    );

    let upd = TicketUpdate {
        description: Some("new text".into()),
        ..Default::default()
    };
    ok(C, "update description", p.update(&r.guid, upd).await);
    assert_eq!(
        get(C, p, &r.guid).await.ticket.description,
        "new text",
        "[{C}] description"
    );

    expect_kind(
        C,
        "empty update",
        p.update(&r.guid, TicketUpdate::default()).await,
        ErrorKind::InvalidInput,
    );
    let bad = TicketUpdate {
        subject: Some("  ".into()),
        priority: Some(Priority::Urgent),
        ..Default::default()
    };
    expect_kind(
        C,
        "blank subject",
        p.update(&r.guid, bad).await,
        ErrorKind::InvalidInput,
    );
    let t = get(C, p, &r.guid).await;
    assert_eq!(
        t.ticket.subject, new_subject,
        "[{C}] a rejected update changed the subject"
    );
    assert_eq!(
        t.ticket.priority,
        Priority::Low,
        "[{C}] a rejected update changed the priority"
    );
}

/// change_status reaches every status, and get_ticket agrees each time.
pub async fn every_status(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "every_status";
    let r = ok(
        C,
        "create",
        p.create(NewTicket::new(unique("Status walk"))).await,
    );
    // Walk forward, then back to NEW: terminal statuses must be reversible.
    let walk = Status::ALL
        .iter()
        .skip(1)
        .chain(std::iter::once(&Status::New));
    for &status in walk {
        let u = ok(
            C,
            &format!("change_status {status}"),
            p.change_status(&r.guid, status).await,
        );
        check_result(C, &u, opts, status);
        assert_eq!(
            get(C, p, &r.guid).await.ticket.status,
            status,
            "[{C}] status after change to {status}"
        );
    }
}

/// close, resolve and escalate set their status; an escalation reason becomes a comment.
pub async fn close_resolve_escalate(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "close_resolve_escalate";
    let r = ok(
        C,
        "create",
        p.create(NewTicket::new(unique("Lifecycle"))).await,
    );
    let e = ok(
        C,
        "escalate without reason",
        p.escalate(&r.guid, None).await,
    );
    check_result(C, &e, opts, Status::Escalated);
    assert_eq!(
        get(C, p, &r.guid).await.comments.len(),
        0,
        "[{C}] escalate without reason added a comment"
    );

    let e = ok(
        C,
        "escalate with reason",
        p.escalate(&r.guid, Some("Customer is a VIP")).await,
    );
    check_result(C, &e, opts, Status::Escalated);
    let cg = e
        .comment_guid
        .clone()
        .unwrap_or_else(|| panic!("[{C}] escalate with a reason returned no comment_guid"));
    let t = get(C, p, &r.guid).await;
    assert!(
        t.comments
            .iter()
            .any(|c| c.comment_guid == cg && c.body.contains("Customer is a VIP")),
        "[{C}] the escalation reason is not among the comments: {:?}",
        t.comments
    );
    expect_kind(
        C,
        "escalate with blank reason",
        p.escalate(&r.guid, Some("  ")).await,
        ErrorKind::InvalidInput,
    );

    let res = ok(C, "resolve", p.resolve(&r.guid).await);
    check_result(C, &res, opts, Status::Resolved);
    assert_eq!(
        get(C, p, &r.guid).await.ticket.status,
        Status::Resolved,
        "[{C}] after resolve"
    );
    let cl = ok(C, "close", p.close(&r.guid).await);
    check_result(C, &cl, opts, Status::Closed);
    assert_eq!(
        get(C, p, &r.guid).await.ticket.status,
        Status::Closed,
        "[{C}] after close"
    );
}

/// Comments keep their text and order; blank comments are refused.
pub async fn comments(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "comments";
    let r = ok(
        C,
        "create",
        p.create(NewTicket::new(unique("Commented"))).await,
    );
    let bodies = [
        "First: called the user back.",
        "Second,\nwith two lines and ünïcödé ✓",
    ];
    let mut guids = Vec::new();
    for b in bodies {
        let c = ok(
            C,
            "add_comment",
            p.add_comment(&r.guid, NewComment::new(b)).await,
        );
        check_result(C, &c, opts, Status::New);
        let cg = c
            .comment_guid
            .unwrap_or_else(|| panic!("[{C}] add_comment returned no comment_guid"));
        assert!(
            !guids.contains(&cg),
            "[{C}] two comments got one comment_guid"
        );
        guids.push(cg);
    }
    expect_kind(
        C,
        "blank comment",
        p.add_comment(&r.guid, NewComment::new(" \n ")).await,
        ErrorKind::InvalidInput,
    );
    let too_long = "z".repeat(ticket_provider_api::model::MAX_COMMENT_CHARS + 1);
    expect_kind(
        C,
        "over-long comment",
        p.add_comment(&r.guid, NewComment::new(too_long)).await,
        ErrorKind::InvalidInput,
    );
    let t = get(C, p, &r.guid).await;
    assert_eq!(
        t.comments.len(),
        2,
        "[{C}] comments after two adds and two rejects: {:?}",
        t.comments
    );
    for (i, (c, b)) in t.comments.iter().zip(bodies).enumerate() {
        assert_eq!(
            c.comment_guid, guids[i],
            "[{C}] comment {i} guid (oldest first)"
        );
        assert!(
            c.body.contains(b),
            "[{C}] comment {i} body {:?} lacks {b:?}",
            c.body
        );
    }
    assert!(
        t.comments[0].created_at <= t.comments[1].created_at,
        "[{C}] comments out of order"
    );
}

/// assign sets the assignee and reports it; a blank assignee is refused and changes nothing.
pub async fn assignment(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "assignment";
    let r = ok(
        C,
        "create",
        p.create(NewTicket::new(unique("Assign me"))).await,
    );
    for who in &opts.assignees[..2] {
        let a = ok(C, "assign", p.assign(&r.guid, who).await);
        check_result(C, &a, opts, Status::New);
        assert_eq!(
            a.assigned_to.as_deref(),
            Some(who.as_str()),
            "[{C}] assigned_to"
        );
        assert_eq!(
            get(C, p, &r.guid).await.ticket.assignee.as_deref(),
            Some(who.as_str()),
            "[{C}] assignee"
        );
    }
    expect_kind(
        C,
        "blank assignee",
        p.assign(&r.guid, "").await,
        ErrorKind::InvalidInput,
    );
    assert_eq!(
        get(C, p, &r.guid).await.ticket.assignee.as_deref(),
        Some(opts.assignees[1].as_str()),
        "[{C}] a rejected assign changed the assignee"
    );
}

/// Filters return only matching tickets (and all of ours); limit and cursors page without
/// duplicates or gaps.
pub async fn list_filters_and_limit(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "list_filters_and_limit";
    let a0 = &opts.assignees[0];
    let mut ours = Vec::new();
    for i in 0..5 {
        let prio = if i % 2 == 0 {
            Priority::High
        } else {
            Priority::Low
        };
        let r = ok(
            C,
            "create",
            p.create(NewTicket::new(unique("Listed")).priority(prio).assignee(a0))
                .await,
        );
        if i < 2 {
            ok(
                C,
                "change_status",
                p.change_status(&r.guid, Status::OnHold).await,
            );
        }
        ours.push((
            r.guid,
            prio,
            if i < 2 { Status::OnHold } else { Status::New },
        ));
    }

    let on_hold = list_all(
        C,
        p,
        ListQuery {
            status: Some(Status::OnHold),
            ..Default::default()
        },
    )
    .await;
    assert!(
        on_hold.iter().all(|t| t.status == Status::OnHold),
        "[{C}] status filter let others through"
    );
    let by_assignee = list_all(
        C,
        p,
        ListQuery {
            assignee: Some(a0.clone()),
            ..Default::default()
        },
    )
    .await;
    assert!(
        by_assignee
            .iter()
            .all(|t| t.assignee.as_deref() == Some(a0.as_str())),
        "[{C}] assignee filter"
    );
    let high = list_all(
        C,
        p,
        ListQuery {
            priority: Some(Priority::High),
            assignee: Some(a0.clone()),
            ..Default::default()
        },
    )
    .await;
    assert!(
        high.iter()
            .all(|t| t.priority == Priority::High && t.assignee.as_deref() == Some(a0.as_str())),
        "[{C}] combined filter"
    );
    for (guid, prio, status) in &ours {
        assert!(
            by_assignee.iter().any(|t| &t.guid == guid),
            "[{C}] assignee filter missed {guid}"
        );
        assert_eq!(
            on_hold.iter().any(|t| &t.guid == guid),
            *status == Status::OnHold,
            "[{C}] status filter and {guid}"
        );
        assert_eq!(
            high.iter().any(|t| &t.guid == guid),
            *prio == Priority::High,
            "[{C}] priority filter and {guid}"
        );
        let listed = by_assignee
            .iter()
            .find(|t| &t.guid == guid)
            .expect("checked above");
        assert_eq!(listed.provider, opts.provider_name, "[{C}] listed provider");
        assert_eq!(listed.status, *status, "[{C}] listed status");
    }

    // Paging with a small limit: no page is larger than the limit, no ticket twice, none lost.
    let q = ListQuery {
        assignee: Some(a0.clone()),
        limit: Some(2),
        ..Default::default()
    };
    let first = ok(C, "list limit 2", p.list_tickets(q.clone()).await);
    assert!(
        first.tickets.len() <= 2,
        "[{C}] limit 2 returned {}",
        first.tickets.len()
    );
    assert!(
        first.next_cursor.is_some(),
        "[{C}] a partial page must carry next_cursor"
    );
    let paged = list_all(C, p, q).await;
    let mut seen = HashSet::new();
    for t in &paged {
        assert!(
            seen.insert(t.guid.clone()),
            "[{C}] {} listed twice while paging",
            t.guid
        );
    }
    assert_eq!(
        paged.len(),
        by_assignee.len(),
        "[{C}] paging by 2 found another number of tickets"
    );
    for (guid, _, _) in &ours {
        assert!(seen.contains(guid), "[{C}] paging lost {guid}");
    }
    expect_kind(
        C,
        "limit 0",
        p.list_tickets(ListQuery {
            limit: Some(0),
            ..Default::default()
        })
        .await,
        ErrorKind::InvalidInput,
    );
}

/// Every operation on an unknown guid is not-found; a malformed guid is invalid input.
pub async fn unknown_and_malformed_guids(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "unknown_and_malformed_guids";
    let mut guids = vec![(opts.unknown_guid.clone(), ErrorKind::NotFound)];
    if let Some(m) = &opts.malformed_guid {
        guids.push((m.clone(), ErrorKind::InvalidInput));
    }
    for (g, kind) in guids {
        let upd = TicketUpdate {
            subject: Some("x".into()),
            ..Default::default()
        };
        expect_kind(C, &format!("update {g}"), p.update(&g, upd).await, kind);
        expect_kind(
            C,
            &format!("change_status {g}"),
            p.change_status(&g, Status::Triaged).await,
            kind,
        );
        expect_kind(
            C,
            &format!("assign {g}"),
            p.assign(&g, &opts.assignees[0]).await,
            kind,
        );
        expect_kind(
            C,
            &format!("add_comment {g}"),
            p.add_comment(&g, NewComment::new("hi")).await,
            kind,
        );
        expect_kind(C, &format!("get_ticket {g}"), p.get_ticket(&g).await, kind);
        expect_kind(C, &format!("close {g}"), p.close(&g).await, kind);
        expect_kind(C, &format!("resolve {g}"), p.resolve(&g).await, kind);
        expect_kind(
            C,
            &format!("escalate {g}"),
            p.escalate(&g, Some("why")).await,
            kind,
        );
    }
}

/// Many callers at once: every call succeeds and every change is there afterwards.
pub async fn concurrent_callers(provider: Arc<dyn TicketProvider>, opts: &SuiteOptions) {
    const C: &str = "concurrent_callers";
    let shared = ok(
        C,
        "create shared",
        provider.create(NewTicket::new(unique("Shared"))).await,
    )
    .guid;
    let tasks = (0..opts.concurrency).map(|i| {
        let p = provider.clone();
        let shared = shared.clone();
        let who = opts.assignees[i % opts.assignees.len()].clone();
        tokio::spawn(async move {
            let own = p
                .create(NewTicket::new(unique("Concurrent")).assignee(&who))
                .await?
                .guid;
            p.add_comment(&own, NewComment::new(format!("own comment {i}")))
                .await?;
            p.change_status(&own, Status::InProgress).await?;
            p.add_comment(&shared, NewComment::new(format!("shared comment {i}")))
                .await?;
            p.change_status(&shared, Status::ALL[i % Status::ALL.len()])
                .await?;
            Ok::<_, ticket_provider_api::Error>((i, own))
        })
    });
    let results = futures::future::join_all(tasks).await;
    let mut owns = Vec::new();
    for r in results {
        let joined = ok(C, "join", r);
        owns.push(ok(C, "concurrent caller", joined));
    }
    for (i, own) in owns {
        let t = get(C, provider.as_ref(), &own).await;
        assert_eq!(
            t.ticket.status,
            Status::InProgress,
            "[{C}] caller {i}'s status"
        );
        assert_eq!(t.comments.len(), 1, "[{C}] caller {i}'s comments");
        assert_eq!(
            t.comments[0].body,
            format!("own comment {i}"),
            "[{C}] caller {i}'s comment"
        );
    }
    let t = get(C, provider.as_ref(), &shared).await;
    let mut bodies: Vec<_> = t.comments.iter().map(|c| c.body.clone()).collect();
    bodies.sort();
    let mut expected: Vec<_> = (0..opts.concurrency)
        .map(|i| format!("shared comment {i}"))
        .collect();
    expected.sort();
    assert_eq!(bodies, expected, "[{C}] comments on the shared ticket");
}
