//! The command-line grammar.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use homechoice_tickets::chrono::NaiveDate;
use homechoice_tickets::{Due, Priority, Status};

/// Create, change and list tickets with the provider named in the config file.
#[derive(Debug, Parser)]
#[command(name = "ticket", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $TICKET_CONFIG, else ./config/config.yaml, else none: the
    /// internal provider on SQLite in $XDG_DATA_HOME/ticket (~/.local/share/ticket)]
    #[arg(long, global = true, value_name = "PATH", env = "TICKET_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print the result as JSON on stdout (a list prints a JSON array)
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// One subcommand per operation, plus inspection commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a ticket (status NEW)
    Create {
        /// One-line summary
        #[arg(long)]
        subject: String,
        /// Longer text
        #[arg(long)]
        description: Option<String>,
        /// low, normal, high or urgent [default: normal]
        #[arg(long)]
        priority: Option<Priority>,
        /// Who works on it
        #[arg(long)]
        assignee: Option<String>,
        /// When it is due: a date (2026-12-24) or an instant with an offset
        /// (2026-12-24T15:00:00+01:00)
        #[arg(long, value_name = "WHEN")]
        due: Option<Due>,
        /// Set a custom field declared in config: NAME=VALUE (a set: NAME=a,b); repeatable
        #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field_arg)]
        fields: Vec<(String, String)>,
        /// Add a label; repeatable
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
    },
    /// Change subject, description, priority, due date, custom fields and/or labels
    Update {
        /// The ticket
        guid: String,
        /// New one-line summary
        #[arg(long)]
        subject: Option<String>,
        /// New longer text
        #[arg(long)]
        description: Option<String>,
        /// New priority
        #[arg(long)]
        priority: Option<Priority>,
        /// New due date: a date (2026-12-24) or an instant with an offset
        /// (2026-12-24T15:00:00+01:00)
        #[arg(long, value_name = "WHEN", conflicts_with = "clear_due")]
        due: Option<Due>,
        /// Remove the due date
        #[arg(long)]
        clear_due: bool,
        /// Set a custom field declared in config: NAME=VALUE (a set: NAME=a,b); repeatable
        #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field_arg)]
        fields: Vec<(String, String)>,
        /// Clear a custom field; repeatable
        #[arg(long = "clear-field", value_name = "NAME")]
        clear_fields: Vec<String>,
        /// Add a label; repeatable
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// Remove a label; repeatable
        #[arg(long = "unlabel", value_name = "LABEL")]
        unlabels: Vec<String>,
    },
    /// Move a ticket to a status (NEW, TRIAGED, IN_PROGRESS, ON_HOLD, ESCALATED, RESOLVED, CLOSED, CANCELLED)
    Status {
        /// The ticket
        guid: String,
        /// The new status (any case; in-progress and "In Progress" work too)
        status: Status,
    },
    /// Assign a ticket
    Assign {
        /// The ticket
        guid: String,
        /// Who works on it
        who: String,
    },
    /// Add a comment
    Comment {
        /// The ticket
        guid: String,
        /// The comment
        text: String,
        /// Who wrote it
        #[arg(long)]
        author: Option<String>,
    },
    /// Show a ticket with its comments
    Get {
        /// The ticket
        guid: String,
    },
    /// List tickets, newest first
    List {
        /// Only this status
        #[arg(long)]
        status: Option<Status>,
        /// Only tickets assigned to WHO
        #[arg(long, value_name = "WHO")]
        assignee: Option<String>,
        /// Only this priority
        #[arg(long)]
        priority: Option<Priority>,
        /// Only tickets due before this day (YYYY-MM-DD; instants compare in UTC)
        #[arg(long, value_name = "DAY", value_parser = parse_day)]
        due_before: Option<NaiveDate>,
        /// Only tickets whose custom field has this value (a set field: holds these); repeatable
        #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field_arg)]
        fields: Vec<(String, String)>,
        /// Only tickets with this label; repeatable
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// At most N tickets [default: 50]
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Continue after the page that printed this cursor
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Move a ticket to CLOSED
    Close {
        /// The ticket
        guid: String,
    },
    /// Move a ticket to RESOLVED
    Resolve {
        /// The ticket
        guid: String,
    },
    /// Move a ticket to ESCALATED, optionally with a reason (kept as a comment)
    Escalate {
        /// The ticket
        guid: String,
        /// Why
        #[arg(long)]
        reason: Option<String>,
    },
    /// Every recorded change of a ticket, oldest first (providers with the `history` capability)
    History {
        /// The ticket
        guid: String,
    },
    /// Every change of every ticket from a cursor, in commit order (providers with the
    /// `changes` capability); with --follow, as they commit, until SIGTERM or Ctrl-C
    Changes {
        /// Continue after this cursor (printed by an earlier `ticket changes`, or a change's
        /// `cursor`) [default: from the first change]
        #[arg(long, value_name = "CURSOR")]
        since: Option<String>,
        /// At most N changes, 1 to 1000 [default: 100]
        #[arg(long, value_name = "N", conflicts_with = "follow")]
        limit: Option<usize>,
        /// Keep printing changes as they commit, one JSON object a line, until SIGTERM or
        /// Ctrl-C
        #[arg(long)]
        follow: bool,
    },
    /// Check the configured provider: config, database, token, project, sections, tags
    Doctor,
    /// Write an annotated config file for a provider (./config/config.yaml, or the --config
    /// path); never overwrites one
    Init {
        /// The provider the file selects (`ticket providers` lists them)
        #[arg(long, value_name = "NAME", default_value = "internal")]
        provider: String,
    },
    /// List the registered providers (with --json: name, description, crate, capabilities)
    Providers,
    /// Dual-write maintenance (providers with the `sync_maintenance` capability, e.g. `sync`)
    #[command(subcommand)]
    Sync(SyncCommand),
}

/// `ticket sync ...`: needs a provider with the `sync_maintenance` capability (`sync`).
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Push a local ticket and all its unsent changes to Asana (creating its task if needed)
    Push {
        /// The ticket
        guid: String,
    },
    /// Pull one Asana task (or, with --all, the whole project) into the local store
    Pull {
        /// The Asana task gid
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        asana_gid: Option<String>,
        /// Every task of the project: a full read the first time, then Asana's events
        #[arg(long)]
        all: bool,
    },
    /// Push every pending change now
    Flush,
    /// Pending and set-aside changes, each set-aside one with its reason
    Status,
    /// Put a set-aside change back in the queue (with the ticket's current values) and push it
    Retry {
        /// The outbox entry id, as `ticket sync status` shows it
        id: i64,
    },
    /// Drop a set-aside change for good: it stays in the local store only
    Discard {
        /// The outbox entry id, as `ticket sync status` shows it
        id: i64,
    },
    /// Resolve a lost link: make a new Asana task for the ticket (with its comments)
    Relink {
        /// The ticket, as `ticket sync status` lists it under lost links
        guid: String,
    },
    /// Keep a ticket local only: drop its pending changes, queue none later, ignore its old task
    Unlink {
        /// The ticket
        guid: String,
    },
    /// Compare every linked ticket with its Asana task, field by field, and list orphans
    /// (exit 1 when they differ)
    Verify {
        /// Settle each difference by the conflict rule and report what changed
        #[arg(long)]
        repair: bool,
    },
    /// Run the sync worker until SIGTERM or Ctrl-C: push within about a second, follow
    /// Asana's events every sync_poll_interval_ms (or through a webhook), reconcile every
    /// sync_reconcile_interval_s
    Run {
        /// Serve Prometheus metrics at http://HOST:PORT/metrics (and /healthz)
        #[arg(long, value_name = "HOST:PORT")]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Receive Asana's webhook deliveries on this address (its own listener; overrides
        /// sync_webhook_addr; needs --webhook-url)
        #[arg(long, value_name = "HOST:PORT", requires = "webhook_url")]
        webhook_addr: Option<std::net::SocketAddr>,
        /// The URL Asana calls, in front of --webhook-addr; deliveries are accepted on its
        /// path (overrides sync_webhook_url; needs --webhook-addr)
        #[arg(long, value_name = "URL", requires = "webhook_addr")]
        webhook_url: Option<String>,
    },
}

/// A day as `--due-before` takes it.
fn parse_day(text: &str) -> Result<NaiveDate, String> {
    match text.parse::<Due>() {
        Ok(Due::Date(d)) => Ok(d),
        Ok(Due::At(_)) => Err(format!("{text:?} is an instant; give a day (2026-12-24)")),
        Err(e) => Err(e.message().to_string()),
    }
}

/// `NAME=VALUE` of `--field`, split at the first `=`; the value is checked against the
/// field's declaration once the config is read.
fn parse_field_arg(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}
