//! The open store: its pool, what it points at, its extensions and counters, and
//! [`open_store`], which brings the schema up to date and builds the pool.
//!
//! Everything in the store is synchronous; [`crate::InternalProvider`] runs it off the
//! runtime's workers, except a get on a SQLite file (a read of a few microseconds).

use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::Pool;

use crate::config::{Backend, DbTarget};
use crate::db::{write_transaction, DbManager, DbPool};
use crate::error::StoreError;
use crate::migrate::prepare_schema;
use crate::tx::{StoreExtension, StoreTx};

/// Options of [`crate::InternalProvider::open`].
#[derive(Default, Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool; default 8 for SQLite, 10 for PostgreSQL (always 1 for
    /// `sqlite://:memory:`, where every connection would be a separate database).
    pub pool_size: Option<u32>,
    /// Crates keeping their own tables in the store (see [`StoreExtension`]): their
    /// migrations run when it opens, their hooks in every write of a local operation.
    pub extensions: Vec<Arc<dyn StoreExtension>>,
    /// The custom fields tickets carry (`homechoice.ticket.fields`): every write and filter
    /// is checked against them. Default: none declared.
    pub fields: ticket_provider_api::FieldSchema,
}

/// An open store: the pool and what it points at.
pub(crate) struct Store {
    pub(crate) pool: DbPool,
    pub(crate) target: DbTarget,
    pub(crate) pool_size: u32,
    /// The extensions: their migrations ran at open, their hooks run in every write.
    pub(crate) extensions: Vec<Arc<dyn StoreExtension>>,
    /// The declared custom fields.
    pub(crate) fields: ticket_provider_api::FieldSchema,
    /// One connection of a SQLite file's pool kept out of it for short reads (a get): taken
    /// with one uncontended lock instead of the pool's checkout and return (two locks, two
    /// clock reads). `None` inside until the first read; a read that finds it busy uses the
    /// pool. Not for `:memory:`, whose pool has one connection only.
    pub(crate) reader:
        Option<std::sync::Mutex<Option<diesel::r2d2::PooledConnection<crate::db::DbManager>>>>,
    /// Store round trips so far: each takes a pooled connection and runs one read or one
    /// write transaction (see `InternalProvider::store_round_trips`).
    pub(crate) round_trips: std::sync::atomic::AtomicU64,
    /// The WAL checkpoint thread of a SQLite file.
    #[cfg(feature = "sqlite")]
    pub(crate) checkpointer: Option<crate::checkpoint::Checkpointer>,
    /// The device and inode of the SQLite file as it was opened (`None` for other stores).
    pub(crate) identity: Option<FileIdentity>,
    /// Counts the write transactions committed through this store, so that its change feed
    /// watchers wake at once (those of other processes' commits poll; see `feed.rs`).
    pub(crate) commits: tokio::sync::watch::Sender<u64>,
}

/// Which file a path named when the store opened: its device and inode. A file deleted or
/// replaced under the process (a restore, a `mv` over it, `rm`) no longer matches, although
/// the open connections keep writing to the old, unlinked one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// The identity of the file at `path` now; `None` when there is none (or the platform
    /// has no inodes).
    pub(crate) fn of(path: &str) -> std::io::Result<Option<Self>> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let m = std::fs::metadata(path)?;
            Ok(Some(FileIdentity {
                dev: m.dev(),
                ino: m.ino(),
            }))
        }
        #[cfg(not(unix))]
        {
            std::fs::metadata(path).map(|_| None)
        }
    }
}

impl Store {
    /// Notes a committed write transaction (for the checkpoint thread and feed watchers).
    pub(crate) fn wrote(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        #[cfg(feature = "sqlite")]
        if let Some(c) = &self.checkpointer {
            c.wrote();
        }
    }

    /// WAL checkpoints the store's thread has run.
    pub(crate) fn checkpoints(&self) -> u64 {
        #[cfg(feature = "sqlite")]
        if let Some(c) = &self.checkpointer {
            return c.checkpoints();
        }
        0
    }
}

/// Opens the database, brings its schema up to date and builds the pool.
pub(crate) fn open_store(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
    let target = DbTarget::parse(url)?;
    let manager = DbManager::new(target.clone());
    // One connection first: fails fast with a clear message, and runs the migrations.
    let mut first = manager.establish()?;
    prepare_schema(&mut first, &target, &options.extensions)?;
    for e in &options.extensions {
        let backend = target.backend();
        write_transaction(&mut first, |conn| {
            let mut tx = StoreTx::new(conn, &options.extensions, backend, true);
            e.on_open(&mut tx)
        })?;
    }
    let memory = target.is_memory();
    let pool_size = if memory {
        1
    } else {
        options.pool_size.unwrap_or(match target.backend() {
            Backend::Sqlite => crate::config::DEFAULT_SQLITE_POOL_SIZE,
            Backend::Postgres => crate::config::DEFAULT_POSTGRES_POOL_SIZE,
        })
    }
    .max(1);
    let mut builder = Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(if memory { 1 } else { 0 }))
        .connection_timeout(Duration::from_secs(30))
        // A SQLite connection does not go stale; PostgreSQL ones are checked on checkout.
        .test_on_check_out(target.backend() == Backend::Postgres);
    if memory {
        builder = builder.idle_timeout(None).max_lifetime(None);
    }
    let pool = builder.build_unchecked(manager);
    // The file the first connection opened (it holds it open, so it cannot change between).
    let identity = match target.sqlite_file() {
        Some(path) => FileIdentity::of(path).ok().flatten(),
        None => None,
    };
    drop(first);
    if memory {
        // Every in-memory connection is its own database: give the pool's single, never
        // recycled connection the schema too.
        let mut conn = pool.get()?;
        prepare_schema(&mut conn, &target, &options.extensions)?;
    }
    #[cfg(feature = "sqlite")]
    let checkpointer = match &target {
        DbTarget::Sqlite(path) if !memory => crate::checkpoint::Checkpointer::start(path.clone()),
        _ => None,
    };
    let reader = (!memory && pool_size > 1 && target.backend() == Backend::Sqlite)
        .then(|| std::sync::Mutex::new(None));
    Ok(Store {
        round_trips: std::sync::atomic::AtomicU64::new(0),
        #[cfg(feature = "sqlite")]
        checkpointer,
        pool,
        target,
        pool_size,
        extensions: options.extensions.clone(),
        fields: options.fields.clone(),
        reader,
        identity,
        commits: tokio::sync::watch::Sender::new(0),
    })
}
