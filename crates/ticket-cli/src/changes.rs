//! `ticket changes`: one page of the change feed, or (`--follow`) every change as it commits
//! until SIGTERM or Ctrl-C.

use futures::StreamExt as _;
use homechoice_tickets::changes::check_changes_limit;
use homechoice_tickets::{Capability, ChangeCursor, ChangePage, Error, ErrorKind, TicketChanges};

use crate::output::{self, Printer};
use crate::session::Session;

/// The page size without `--limit`.
const DEFAULT_LIMIT: usize = 100;

/// Runs `ticket changes`. The cursor and the limit are checked before the store is opened.
pub(crate) async fn run(
    session: &Session,
    since: Option<&str>,
    limit: Option<usize>,
    follow: bool,
    out: &Printer,
) -> Result<(), Error> {
    let since = since.map(str::parse::<ChangeCursor>).transpose()?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    check_changes_limit(limit)?;
    if follow {
        // The signal handlers first: a SIGTERM right after start still stops cleanly.
        let stop = Stop::listen()?;
        let feed = feed(session).await?;
        return follow_changes(&*feed, since, stop).await;
    }
    let page = feed(session).await?.changes(since, limit).await?;
    out.emit(&page, || text(&page))?;
    if !out.json && !page.changes.is_empty() {
        output::note(&format!("continue with --since {}", page.cursor));
    }
    Ok(())
}

/// The configured provider's change feed.
async fn feed(session: &Session) -> Result<std::sync::Arc<dyn TicketChanges>, Error> {
    session
        .provider(Some(Capability::Changes))
        .await?
        .extensions()
        .get::<dyn TicketChanges>()
        .ok_or_else(|| {
            Error::internal("the provider declares the changes capability but offers no feed")
        })
}

fn text(page: &ChangePage) -> String {
    let mut lines: Vec<String> = page.changes.iter().map(output::change).collect();
    lines.push(format!("{} change(s)", page.changes.len()));
    lines.join("\n")
}

/// Prints each change as one JSON object a line as it commits, until `stop`, stdout
/// closes, or the feed fails for good (a temporary failure is logged and waited out).
async fn follow_changes(
    feed: &dyn TicketChanges,
    since: Option<ChangeCursor>,
    mut stop: Stop,
) -> Result<(), Error> {
    let mut stream = tokio::select! {
        s = feed.watch(since) => s?,
        () = stop.wait() => return Ok(()),
    };
    loop {
        tokio::select! {
            () = stop.wait() => return Ok(()),
            item = stream.next() => match item {
                Some(Ok(change)) => {
                    if !output::json_line(&change)? {
                        return Ok(());
                    }
                }
                Some(Err(e)) if e.is_temporary() || e.kind() == ErrorKind::Unavailable => {
                    tracing::warn!(error = %e, "reading the change feed failed; trying again");
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
        }
    }
}

/// SIGTERM and SIGINT (Ctrl-C), listened to from creation on.
struct Stop {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Stop {
    fn listen() -> Result<Self, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let fail =
                |e: std::io::Error| Error::internal(format!("cannot listen for signals: {e}"));
            Ok(Stop {
                term: signal(SignalKind::terminate()).map_err(fail)?,
                int: signal(SignalKind::interrupt()).map_err(fail)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Stop {})
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
