//! WAL checkpoints of a SQLite file, off the write path.
//!
//! In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them back into
//! the database and syncs both files. SQLite runs it inside whichever commit crosses
//! `wal_autocheckpoint` pages, so that one caller pays the two fsyncs (about 15 ms on the
//! project's machine, several times a normal commit). Here a thread of the store does it
//! instead: after [`CHECKPOINT_EVERY_WRITES`] write transactions of this process, or
//! [`CHECKPOINT_IDLE`] after the last one, it runs `PRAGMA wal_checkpoint(PASSIVE)` on a
//! connection of its own (passive: it never waits for, or blocks, readers and writers).
//! `wal_autocheckpoint` stays on, raised to [`SQLITE_AUTOCHECKPOINT_PAGES`], as the backstop
//! for processes that write faster than the thread copies, or exit before it runs. Durability
//! is unchanged: a commit is in the WAL either way, and the WAL survives a crash.
//!
//! The thread ends by itself within [`CHECKPOINT_TICK`] once the store is dropped; it is never
//! joined, so a process exits without waiting for it (an interrupted checkpoint is safe, as
//! after a crash).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;

/// Write transactions of this process after which the thread checkpoints.
pub const CHECKPOINT_EVERY_WRITES: u64 = 256;
/// Quiet time after the last write after which the thread checkpoints what is left.
pub const CHECKPOINT_IDLE: Duration = Duration::from_millis(500);
/// How often the thread looks at the write count.
pub const CHECKPOINT_TICK: Duration = Duration::from_millis(20);
/// SQLite's own automatic checkpoint (in pages), kept as the backstop.
pub const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The write count a [`Checkpointer`] thread watches.
#[derive(Debug, Default)]
struct Shared {
    writes: AtomicU64,
    checkpoints: AtomicU64,
}

/// The store's handle on its checkpoint thread: counts write transactions.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
}

impl Checkpointer {
    /// Starts the thread for the SQLite file at `path`. `None` when the thread cannot be
    /// started (SQLite's automatic checkpoint then does the work, as it would anyway).
    pub(crate) fn start(path: String) -> Option<Self> {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        let started = std::thread::Builder::new()
            .name("ticket-sqlite-checkpoint".into())
            .spawn(move || run(weak, &path));
        match started {
            Ok(_) => Some(Checkpointer { shared }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the checkpoint thread; SQLite checkpoints inside commits");
                None
            }
        }
    }

    /// Notes one committed write transaction.
    pub(crate) fn wrote(&self) {
        self.shared.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Checkpoints the thread has run (for tests).
    pub(crate) fn checkpoints(&self) -> u64 {
        self.shared.checkpoints.load(Ordering::Relaxed)
    }
}

/// Whether to checkpoint now: `pending` writes not yet checkpointed, the last of them
/// `quiet` ago.
fn due(pending: u64, quiet: Duration) -> bool {
    pending >= CHECKPOINT_EVERY_WRITES || (pending > 0 && quiet >= CHECKPOINT_IDLE)
}

fn run(shared: Weak<Shared>, path: &str) {
    let mut conn: Option<diesel::SqliteConnection> = None;
    let (mut seen, mut done) = (0u64, 0u64);
    let mut last_write = Instant::now();
    loop {
        std::thread::sleep(CHECKPOINT_TICK);
        // The store is gone: stop (the connection closes with the thread).
        let Some(s) = shared.upgrade() else { return };
        let writes = s.writes.load(Ordering::Relaxed);
        drop(s);
        if writes != seen {
            seen = writes;
            last_write = Instant::now();
        }
        if !due(writes - done, last_write.elapsed()) {
            continue;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match open(path) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    tracing::debug!(error = %e, "checkpoint thread: cannot open the database");
                    done = writes;
                    continue;
                }
            },
        };
        match c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
            Ok(()) => {
                done = writes;
                if let Some(s) = shared.upgrade() {
                    s.checkpoints.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                // Busy (another process checkpoints) or gone: try again at the next write.
                tracing::debug!(error = %e, "checkpoint thread: checkpoint failed");
                done = writes;
                conn = None;
            }
        }
    }
}

fn open(path: &str) -> Result<diesel::SqliteConnection, String> {
    let mut c = diesel::SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    // Never waits long: a passive checkpoint skips what it cannot copy now.
    c.batch_execute("PRAGMA busy_timeout = 100;")
        .map_err(|e| e.to_string())?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_by_table() {
        let ms = Duration::from_millis;
        let cases = [
            (0, ms(0), false),
            (0, ms(10_000), false),
            (1, ms(0), false),
            (1, CHECKPOINT_IDLE - ms(1), false),
            (1, CHECKPOINT_IDLE, true),
            (CHECKPOINT_EVERY_WRITES - 1, ms(0), false),
            (CHECKPOINT_EVERY_WRITES, ms(0), true),
            (CHECKPOINT_EVERY_WRITES * 10, ms(0), true),
        ];
        for (pending, quiet, want) in cases {
            assert_eq!(
                due(pending, quiet),
                want,
                "pending {pending}, quiet {quiet:?}"
            );
        }
    }
}
