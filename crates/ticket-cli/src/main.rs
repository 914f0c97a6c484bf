//! `ticket`: the operators' command line over the configured [`TicketProvider`].
//!
//! Exit codes: 0 success; 2 bad usage or invalid input; 3 not found; 4 configuration, or a
//! SQLite store that cannot be used as it is (read-only, full, corrupt); 5 backend
//! unavailable or rate limited; 6 authentication or permission; 7 conflict or
//! unsupported; 1 anything else. Errors are one line on stderr; nothing is written on error.

mod changes;
mod cli;
mod init;
mod metrics_server;
mod output;
mod session;
mod sync;

use std::process::ExitCode;

use clap::Parser;
use homechoice_tickets::{
    descriptors, find_descriptor, get_provider, BuildContext, Capabilities, Capability, Check,
    Error, ErrorKind, ListQuery, NewComment, NewTicket, TicketHistory, TicketProvider,
    TicketUpdate,
};
use serde::Serialize;

use cli::{Cli, Command};
use output::Printer;
use session::Session;

fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Config => 4,
        ErrorKind::Unavailable | ErrorKind::RateLimited => 5,
        ErrorKind::Unauthenticated | ErrorKind::PermissionDenied => 6,
        ErrorKind::Conflict | ErrorKind::Unsupported => 7,
        _ => 1,
    }
}

/// One registered provider, as `ticket providers --json` prints it.
#[derive(Serialize)]
struct ProviderRow {
    name: &'static str,
    description: &'static str,
    #[serde(rename = "crate")]
    crate_name: &'static str,
    capabilities: Capabilities,
}

async fn run(cli: &Cli, session: &Session) -> Result<(), Error> {
    let out = Printer { json: cli.json };
    let provider = |needs| session.provider(needs);
    match &cli.command {
        Command::History { guid } => {
            if guid.trim().is_empty() {
                return Err(Error::invalid_input("the ticket guid must not be empty"));
            }
            let history = provider(Some(Capability::History))
                .await?
                .extensions()
                .get::<dyn TicketHistory>()
                .ok_or_else(|| {
                    Error::internal(
                        "the provider declares the history capability but offers no history",
                    )
                })?;
            let entries = history.history(guid).await?;
            out.emit(&entries, || output::history(&entries))
        }
        Command::Changes {
            since,
            limit,
            follow,
        } => changes::run(session, since.as_deref(), *limit, *follow, &out).await,
        Command::Doctor => doctor(session, &out).await,
        Command::Init { provider } => init::run(cli.config.as_deref(), provider, &out),
        Command::Sync(cmd) => sync::run(session, cmd, &out).await,
        Command::Providers => {
            let rows: Vec<ProviderRow> = descriptors()
                .into_iter()
                .map(|d| ProviderRow {
                    name: d.name,
                    description: d.summary,
                    crate_name: d.crate_name,
                    capabilities: d.capabilities,
                })
                .collect();
            out.emit(&rows, || {
                rows.iter().map(|r| r.name).collect::<Vec<_>>().join("\n")
            })
        }
        Command::Create {
            subject,
            description,
            priority,
            assignee,
            due,
            fields,
            labels,
        } => {
            let mut new = NewTicket::new(subject.clone());
            new.fields = typed_fields(session, fields)?;
            new.labels = typed_labels(labels)?;
            if let Some(d) = description {
                new = new.description(d.clone());
            }
            if let Some(p) = priority {
                new = new.priority(*p);
            }
            if let Some(a) = assignee {
                new = new.assignee(a.clone());
            }
            if let Some(d) = due {
                new = new.due(*d);
            }
            // Check input before touching the store, so bad input never opens or creates it.
            new.validate()?;
            check_typed(&[("subject", Some(subject)), ("assignee", assignee.as_ref())])?;
            let r = provider(None).await?.create(new).await?;
            out.emit(&r, || output::operation("created", &r))
        }
        Command::Update {
            guid,
            subject,
            description,
            priority,
            due,
            clear_due,
            fields,
            clear_fields,
            labels,
            unlabels,
        } => {
            let schema = session.fields()?;
            let mut field_changes: std::collections::BTreeMap<_, _> =
                typed_fields(session, fields)?
                    .into_iter()
                    .map(|(name, v)| (name, Some(v)))
                    .collect();
            for name in clear_fields {
                schema.field(name)?;
                if field_changes.insert(name.clone(), None).is_some() {
                    return Err(Error::invalid_input(format!(
                        "field {name:?} is both set (--field) and cleared (--clear-field)"
                    )));
                }
            }
            let changes = TicketUpdate {
                subject: subject.clone(),
                description: description.clone(),
                priority: *priority,
                due: if *clear_due {
                    Some(None)
                } else {
                    due.map(Some)
                },
                fields: field_changes,
                add_labels: typed_labels(labels)?,
                remove_labels: typed_labels(unlabels)?,
            };
            changes.validate()?;
            check_typed(&[("subject", subject.as_ref())])?;
            let r = provider(None).await?.update(guid, changes).await?;
            out.emit(&r, || output::operation("updated", &r))
        }
        Command::Status { guid, status } => {
            let r = provider(None).await?.change_status(guid, *status).await?;
            out.emit(&r, || output::operation("moved", &r))
        }
        Command::Assign { guid, who } => {
            homechoice_tickets::model::validate_assignee(who)?;
            check_typed(&[("assignee", Some(who))])?;
            let r = provider(None).await?.assign(guid, who).await?;
            out.emit(&r, || output::operation("assigned", &r))
        }
        Command::Comment { guid, text, author } => {
            let mut c = NewComment::new(text.clone());
            if let Some(a) = author {
                c = c.author(a.clone());
            }
            c.validate()?;
            check_typed(&[("author", author.as_ref())])?;
            let r = provider(None).await?.add_comment(guid, c).await?;
            out.emit(&r, || output::operation("commented on", &r))
        }
        Command::Get { guid } => {
            let t = provider(None).await?.get_ticket(guid).await?;
            out.emit(&t, || output::details(&t).trim_end().to_string())
        }
        Command::List {
            status,
            assignee,
            priority,
            due_before,
            fields,
            labels,
            limit,
            cursor,
        } => {
            let query = ListQuery {
                status: *status,
                assignee: assignee.clone(),
                priority: *priority,
                due_before: *due_before,
                fields: typed_fields(session, fields)?,
                labels: typed_labels(labels)?,
                limit: *limit,
                cursor: cursor.clone(),
            };
            query.validate()?;
            let page = provider(None).await?.list_tickets(query).await?;
            out.emit(&page.tickets, || output::table(&page.tickets))?;
            if let Some(c) = &page.next_cursor {
                output::note(&format!("more tickets: continue with --cursor {c}"));
            }
            Ok(())
        }
        Command::Close { guid } => {
            let r = provider(None).await?.close(guid).await?;
            out.emit(&r, || output::operation("closed", &r))
        }
        Command::Resolve { guid } => {
            let r = provider(None).await?.resolve(guid).await?;
            out.emit(&r, || output::operation("resolved", &r))
        }
        Command::Escalate { guid, reason } => {
            if let Some(r) = reason {
                homechoice_tickets::model::validate_reason(r)?;
            }
            let r = provider(None)
                .await?
                .escalate(guid, reason.as_deref())
                .await?;
            out.emit(&r, || output::operation("escalated", &r))
        }
    }
}

/// The `--field NAME=VALUE` arguments in their declared types (exit 2 naming an unknown
/// field, a wrong type or an unknown option, before the store is opened).
fn typed_fields(
    session: &Session,
    args: &[(String, String)],
) -> Result<homechoice_tickets::Fields, Error> {
    if args.is_empty() {
        return Ok(Default::default());
    }
    let schema = session.fields()?;
    let mut out = homechoice_tickets::Fields::new();
    for (name, text) in args {
        let value = schema.parse_arg(name, text)?;
        if let homechoice_tickets::FieldValue::Text(t) = &value {
            homechoice_tickets::text::check_no_hiding(&format!("field {name:?}"), t)?;
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(Error::invalid_input(format!(
                "field {name:?} is given twice"
            )));
        }
    }
    Ok(out)
}

/// The `--label` / `--unlabel` arguments, checked.
fn typed_labels(args: &[String]) -> Result<homechoice_tickets::Labels, Error> {
    let labels: homechoice_tickets::Labels = args.iter().cloned().collect();
    homechoice_tickets::fields::check_labels(&labels)?;
    for l in &labels {
        homechoice_tickets::text::check_no_hiding("label", l)?;
    }
    Ok(labels)
}

/// Refuses the one-line fields a person typed that carry a bidi or zero-width control
/// (exit 2, naming the field): stored, they would make the ticket read differently from
/// what it is. Free text (a description, a comment) keeps them and shows them escaped.
fn check_typed(fields: &[(&str, Option<&String>)]) -> Result<(), Error> {
    for (name, value) in fields {
        if let Some(v) = value {
            homechoice_tickets::text::check_no_hiding(name, v)?;
        }
    }
    Ok(())
}

/// Runs the configured provider's self-checks; fails when any check fails.
async fn doctor(session: &Session, out: &Printer) -> Result<(), Error> {
    let mut checks = Vec::new();
    let (described, loaded) = match session.source() {
        Ok(source) => (source.describe(), source.load()),
        Err(e) => (String::new(), Err(e)),
    };
    match loaded {
        Err(e) => checks.push(Check::fail(
            "config",
            e.to_string(),
            "fix the config file named above",
        )),
        Ok(config) => {
            let name = config.ticket.provider.clone();
            checks.push(Check::pass(
                "config",
                format!("{described} is valid; provider {name}"),
            ));
            match find_descriptor(&name) {
                Err(e) => checks.push(Check::fail(
                    "provider",
                    e.to_string(),
                    "choose a registered provider or enable its feature",
                )),
                Ok(d) => {
                    checks.push(Check::pass(
                        "provider",
                        format!("{name} is registered ({})", d.summary),
                    ));
                    match d.doctor {
                        Some(run) => checks.extend(run(BuildContext::new(config)).await),
                        None => match get_provider(&config).await {
                            Ok(p) => {
                                checks.push(Check::pass("build", format!("{name} builds")));
                                if let Err(e) = p.shutdown().await {
                                    checks.push(Check::fail(
                                        "shutdown",
                                        e.to_string(),
                                        "see the message",
                                    ));
                                }
                            }
                            Err(e) => {
                                checks.push(Check::fail("build", e.to_string(), "see the message"))
                            }
                        },
                    }
                }
            }
        }
    }
    out.emit(&checks, || output::checks(&checks))?;
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(Error::config(format!("doctor found {failed} problem(s)")));
    }
    Ok(())
}

fn init_logging() {
    // Warnings (e.g. a change left pending for Asana) go to stderr; TICKET_LOG=debug for more.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TICKET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Through the output path: a warning may quote text from outside.
        .with_writer(|| output::LogWriter)
        // No colours: their escape sequences would be shown escaped like any other.
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// Parses the arguments; a usage error becomes one line on stderr and exit code 2
/// (`--help` and `--version` print as usual).
fn parse_args() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind as ClapKind;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e)
            if matches!(
                e.kind(),
                ClapKind::DisplayHelp
                    | ClapKind::DisplayVersion
                    | ClapKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let _ = e.print();
            Err(ExitCode::from(if e.use_stderr() { 2 } else { 0 }))
        }
        Err(e) => {
            // clap spreads some messages over lines (e.g. the list of missing arguments);
            // keep the message, drop the usage block, and print it as one line.
            let rendered = e.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            // clap echoes the argument it refused, which may carry anything.
            output::note(&format!("{} (see ticket --help)", message.join(" ")));
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            Printer::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let session =
            Session::new(cli.config.clone()).with_overrides(sync::config_overrides(&cli.command));
        let result = run(&cli, &session).await;
        // Before the runtime goes: in-flight pushes finish (or stay pending) and every
        // connection closes, so nothing runs while the process exits.
        session.close().await;
        result
    });
    // Anything still running (nothing should be) is given a moment, then dropped.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            Printer::error(&e.to_string());
            ExitCode::from(exit_code(e.kind()))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_joins_lines_and_keeps_words() {
        assert_eq!(
            crate::output::one_line(
                "failed: refused\n\tIs the server running?\n (provider internal)"
            ),
            "failed: refused Is the server running? (provider internal)"
        );
        assert_eq!(crate::output::one_line("plain  text"), "plain  text");
    }
}
