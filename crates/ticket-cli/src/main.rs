//! `ticket`: the operators' command line over the configured [`TicketProvider`].
//!
//! Exit codes: 0 success; 2 bad usage or invalid input; 3 not found; 4 configuration;
//! 5 backend unavailable or rate limited; 6 authentication or permission; 7 conflict or
//! unsupported; 1 anything else. Errors are one line on stderr; nothing is written on error.

mod cli;
mod output;
mod sync;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
#[cfg(feature = "provider-internal")]
use homechoice_tickets::provider_internal::{HistoryEntry, InternalProvider};
use homechoice_tickets::{
    find_descriptor, get_provider, registered_names, BuildContext, Check, Config, Error, ErrorKind,
    ListQuery, NewComment, NewTicket, TicketProvider, TicketUpdate,
};
use serde::Serialize;

use cli::{Cli, Command};

/// The config file used when neither `--config` nor `$TICKET_CONFIG` is given.
const DEFAULT_CONFIG: &str = "config/config.yaml";

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

/// What a command prints: JSON on request, text otherwise.
pub(crate) struct Printer {
    json: bool,
}

impl Printer {
    pub(crate) fn emit<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        let out = if self.json {
            serde_json::to_string_pretty(value)
                .map_err(|e| Error::internal(format!("cannot encode the result as JSON: {e}")))?
        } else {
            text()
        };
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`ticket list | head`) is not an error worth a message.
        match writeln!(stdout, "{out}").and_then(|_| stdout.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Error::internal(format!("cannot write to stdout: {e}")))
            }
            _ => Ok(()),
        }
    }
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

async fn provider(cli: &Cli) -> Result<Arc<dyn TicketProvider>, Error> {
    let config = Config::load(config_path(cli))?;
    #[cfg(feature = "provider-sync")]
    if config.ticket.provider == "sync" && find_descriptor("sync")?.crate_name == "provider-sync" {
        // Built directly rather than through the registry, so that the command can stop its
        // background pushes and release its claims before it exits (see `sync::shutdown_all`).
        let sync = sync::open(&config).await?;
        return Ok(Arc::new(sync));
    }
    get_provider(&config).await
}

async fn run(cli: Cli) -> Result<(), Error> {
    let out = Printer { json: cli.json };
    match &cli.command {
        Command::History { guid } => {
            let config = Config::load(config_path(&cli))?;
            let entries = history(&config, guid).await?;
            out.emit(&entries, || output::history(&entries))
        }
        Command::Doctor => doctor(&cli, &out).await,
        Command::Sync(cmd) => sync::run(&Config::load(config_path(&cli))?, cmd, &out).await,
        Command::Providers => {
            let names = registered_names();
            out.emit(&names, || names.join("\n"))
        }
        Command::Create {
            subject,
            description,
            priority,
            assignee,
        } => {
            let mut new = NewTicket::new(subject.clone());
            if let Some(d) = description {
                new = new.description(d.clone());
            }
            if let Some(p) = priority {
                new = new.priority(*p);
            }
            if let Some(a) = assignee {
                new = new.assignee(a.clone());
            }
            // Check input before touching the store, so bad input never opens or creates it.
            new.validate()?;
            let r = provider(&cli).await?.create(new).await?;
            out.emit(&r, || output::operation("created", &r))
        }
        Command::Update {
            guid,
            subject,
            description,
            priority,
        } => {
            let changes = TicketUpdate {
                subject: subject.clone(),
                description: description.clone(),
                priority: *priority,
            };
            changes.validate()?;
            let r = provider(&cli).await?.update(guid, changes).await?;
            out.emit(&r, || output::operation("updated", &r))
        }
        Command::Status { guid, status } => {
            let r = provider(&cli).await?.change_status(guid, *status).await?;
            out.emit(&r, || output::operation("moved", &r))
        }
        Command::Assign { guid, who } => {
            homechoice_tickets::model::validate_assignee(who)?;
            let r = provider(&cli).await?.assign(guid, who).await?;
            out.emit(&r, || output::operation("assigned", &r))
        }
        Command::Comment { guid, text, author } => {
            let mut c = NewComment::new(text.clone());
            if let Some(a) = author {
                c = c.author(a.clone());
            }
            c.validate()?;
            let r = provider(&cli).await?.add_comment(guid, c).await?;
            out.emit(&r, || output::operation("commented on", &r))
        }
        Command::Get { guid } => {
            let t = provider(&cli).await?.get_ticket(guid).await?;
            out.emit(&t, || output::details(&t).trim_end().to_string())
        }
        Command::List {
            status,
            assignee,
            priority,
            limit,
            cursor,
        } => {
            let query = ListQuery {
                status: *status,
                assignee: assignee.clone(),
                priority: *priority,
                limit: *limit,
                cursor: cursor.clone(),
            };
            query.validate()?;
            let page = provider(&cli).await?.list_tickets(query).await?;
            out.emit(&page.tickets, || output::table(&page.tickets))?;
            if let Some(c) = &page.next_cursor {
                eprintln!("more tickets: continue with --cursor {c}");
            }
            Ok(())
        }
        Command::Close { guid } => {
            let r = provider(&cli).await?.close(guid).await?;
            out.emit(&r, || output::operation("closed", &r))
        }
        Command::Resolve { guid } => {
            let r = provider(&cli).await?.resolve(guid).await?;
            out.emit(&r, || output::operation("resolved", &r))
        }
        Command::Escalate { guid, reason } => {
            if let Some(r) = reason {
                homechoice_tickets::model::validate_reason(r)?;
            }
            let r = provider(&cli)
                .await?
                .escalate(guid, reason.as_deref())
                .await?;
            out.emit(&r, || output::operation("escalated", &r))
        }
    }
}

/// The change history lives in the internal store, which `internal` and `sync` share.
#[cfg(feature = "provider-internal")]
async fn history(config: &Config, guid: &str) -> Result<Vec<HistoryEntry>, Error> {
    let provider = config.ticket.provider.as_str();
    if !matches!(provider, "internal" | "sync") {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("provider '{provider}' keeps no change history; history is kept by the internal store (providers internal and sync)"),
        ));
    }
    InternalProvider::from_config(config)
        .await?
        .history(guid)
        .await
}

#[cfg(not(feature = "provider-internal"))]
async fn history(_config: &Config, _guid: &str) -> Result<Vec<output::NoHistory>, Error> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "history is kept by the internal store; build with the Cargo feature 'provider-internal'",
    ))
}

/// Runs the configured provider's self-checks; fails when any check fails.
async fn doctor(cli: &Cli, out: &Printer) -> Result<(), Error> {
    let path = config_path(cli);
    let mut checks = Vec::new();
    match Config::load(&path) {
        Err(e) => checks.push(Check::fail(
            "config",
            e.to_string(),
            "fix the config file named above",
        )),
        Ok(config) => {
            let name = config.ticket.provider.clone();
            checks.push(Check::pass(
                "config",
                format!("{} is valid; provider {name}", path.display()),
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
                            Ok(_) => checks.push(Check::pass("build", format!("{name} builds"))),
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
        .with_writer(std::io::stderr)
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
            eprintln!("{} (see ticket --help)", message.join(" "));
            Err(ExitCode::from(2))
        }
    }
}

/// Joins a multi-line message into one line (libpq, for one, writes several), so every
/// error is one line on stderr.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let result = run(cli).await;
        sync::shutdown_all().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::from(exit_code(e.kind()))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_joins_lines_and_keeps_words() {
        assert_eq!(
            super::one_line("failed: refused\n\tIs the server running?\n (provider internal)"),
            "failed: refused Is the server running? (provider internal)"
        );
        assert_eq!(super::one_line("plain  text"), "plain  text");
    }
}
