//! `provider-internal`: tickets in the application's own database.
//!
//! The `internal` provider keeps tickets, comments and a per-field change history in SQLite
//! (Cargo feature `sqlite`, on by default, bundled so nothing needs installing) or PostgreSQL
//! (feature `postgres`), through diesel with an r2d2 pool. Migrations for each backend are
//! embedded and run when the store opens.
//!
//! Beyond [`ticket_provider_api::TicketProvider`], [`InternalProvider`] offers the
//! [`ticket_provider_api::TicketHistory`] extension (capability `history`) and the change
//! feed [`ticket_provider_api::TicketChanges`] (capability `changes`; how it keeps commit
//! order on PostgreSQL and notices other processes' commits: [`InternalProvider::changes`],
//! [`SQLITE_POLL`], [`POSTGRES_POLL`]), and other crates
//! build on the store through [`StoreExtension`]: their own migrations, a typed hook
//! ([`TicketChange`]) inside the write transaction of every local operation, and their own
//! statements in a store transaction ([`InternalProvider::write`], [`StoreTx`]; an `UPDATE`
//! of fixed shape through [`kept_update`] stays prepared). The store itself knows nothing of
//! them (the dual-write `sync` provider is one).
//!
//! Settings ([`StoreSettings`]): `database_url` and `database_pool_size` under
//! `homechoice.ticket`.
//!
//! Layout: `config.rs` (URL parsing, settings, redaction), `provider.rs` (the trait impl),
//! `store.rs` (the open store, [`StoreOptions`]), `db.rs` (connections, pool, transactions),
//! `migrate.rs` (embedded migrations), `schema.rs` and `rows.rs` (the tables and their rows),
//! `read.rs` and `write.rs` (the queries), `tx.rs` ([`StoreTx`], [`StoreExtension`]),
//! `change.rs` ([`TicketChange`], [`TicketValues`]), `prepared.rs` ([`kept_update`]),
//! `feed.rs` (the change feed), `checkpoint.rs` (SQLite WAL checkpoints), `probe.rs` (the doctor's checks of a SQLite
//! file), `error.rs`.
//!
//! # What callers can rely on
//!
//! * Every operation is one transaction; bad input is refused before it opens, so it
//!   writes nothing.
//! * One-line fields (subject, assignee, comment author) are stored trimmed of leading and
//!   trailing whitespace ([`normalize_line`], the rule the `sync` provider also applies to
//!   what it pulls from Asana, so that a pull records no change); descriptions and comment
//!   texts are kept exactly as written.
//! * SQLite: concurrent writers on one file never see "database is locked" (writes take the
//!   write lock up front and a busy database is retried). PostgreSQL: concurrent status
//!   changes of one ticket each leave their own history row, and two processes on one
//!   database see each other's changes at once.
//! * A `get_ticket` is one consistent read of the ticket and its comments (one read
//!   transaction; `REPEATABLE READ` on PostgreSQL): a concurrent writer never makes it return
//!   a ticket with comments of another moment.
//! * [`ticket_provider_api::TicketProvider::list_tickets`] pages with a keyset cursor that
//!   stays stable while tickets are added, served by indexes.
//! * A database used only by `internal` holds only the ticket tables.

#![warn(missing_docs)]

mod change;
#[cfg(feature = "sqlite")]
pub mod checkpoint;
mod config;
mod db;
mod error;
mod feed;
mod migrate;
mod normalize;
mod prepared;
#[cfg(feature = "sqlite")]
mod probe;
mod provider;
mod read;
mod rows;
pub mod schema;
mod store;
mod tx;
mod values;
mod write;

use std::sync::Arc;

use ticket_provider_api::{
    register_provider, BoxFuture, BuildContext, Capabilities, Capability, Check,
    ProviderDescriptor, SettingsSpec, TicketProvider,
};

pub use change::{FieldChanges, StatusOperation, TicketChange, TicketValues};
pub use config::{
    redact_url, Backend, StoreSettings, DEFAULT_DATABASE_FILE, DEFAULT_POSTGRES_POOL_SIZE,
    DEFAULT_SQLITE_POOL_SIZE,
};
pub use db::DbConnection;
/// diesel's embedded migrations type, for [`StoreExtension::migrations`].
pub use diesel_migrations::EmbeddedMigrations;
pub use error::StoreError;
pub use feed::{POSTGRES_POLL, SQLITE_POLL};
pub use normalize::normalize_line;
pub use prepared::{kept_update, KeptUpdate};
pub use provider::InternalProvider;
pub use rows::{from_micros, new_guid, now_micros, parse_guid};
pub use store::StoreOptions;
#[doc(no_inline)]
pub use ticket_provider_api::HistoryEntry;
pub use tx::{StoreExtension, StoreTx};

/// The registered provider name.
pub const NAME: &str = "internal";

/// What the `internal` provider can do: the ten operations, the change history and the
/// change feed.
pub const CAPABILITIES: Capabilities = Capabilities::OPERATIONS
    .with(Capability::History)
    .with(Capability::Changes);

/// Schema and connection types for hand-written baselines (the `ticket-bench` crate).
/// Not a stable API.
#[doc(hidden)]
pub mod bench_support {
    /// `BEGIN` and `ROLLBACK` of a read, kept prepared (what the provider's reads use).
    #[cfg(feature = "sqlite")]
    pub use crate::db::sqlite_read;
    pub use crate::db::{write_transaction, DbConnection, SQLITE_CONNECTION_PRAGMAS};
    pub use crate::rows::{new_guid, now_micros, CommentRow, NewHistoryRow, TicketRow};
    pub use crate::schema;
    pub use crate::write::insert_history;
}

fn build(
    ctx: BuildContext,
) -> BoxFuture<'static, ticket_provider_api::Result<Arc<dyn TicketProvider>>> {
    Box::pin(async move {
        let provider = InternalProvider::from_config(ctx.config()).await?;
        Ok(Arc::new(provider) as Arc<dyn TicketProvider>)
    })
}

fn doctor(ctx: BuildContext) -> BoxFuture<'static, Vec<Check>> {
    Box::pin(async move {
        let url = match StoreSettings::from_config(ctx.config()) {
            Ok(s) => redact_url(&s.url(ctx.config())),
            Err(e) => {
                return vec![Check::fail(
                    "database",
                    e.to_string(),
                    "fix homechoice.ticket.database_url / database_pool_size",
                )]
            }
        };
        match InternalProvider::from_config(ctx.config()).await {
            Err(e) => vec![Check::fail(
                "database",
                format!("cannot open {url}: {e}"),
                "check homechoice.ticket.database_url: the folder must exist and be writable, or the PostgreSQL server must be reachable with these credentials",
            )],
            Ok(p) => {
                let mut checks = vec![Check::pass(
                    "database",
                    format!("{} database at {} opens", p.backend(), p.redacted_url()),
                )];
                checks.push(match p.applied_migrations().await {
                    Ok(n) => Check::pass("schema", format!("{n} migration(s) applied, schema up to date")),
                    Err(e) => Check::fail(
                        "schema",
                        format!("cannot read the applied migrations: {e}"),
                        "make sure the database user may create tables",
                    ),
                });
                if p.backend() == Backend::Sqlite {
                    checks.push(match p.check_file().await {
                        Ok(()) => Check::pass(
                            "file",
                            "every page reads, and a write fits (probed, then rolled back)",
                        ),
                        Err(e) => Check::fail("file", e.to_string(), "see the message"),
                    });
                }
                checks
            }
        }
    })
}

register_provider!(ProviderDescriptor::new(
    NAME,
    "tickets in the application's own database (SQLite or PostgreSQL)",
    env!("CARGO_PKG_NAME"),
    CAPABILITIES,
    build
)
.with_doctor(doctor)
.with_settings(SettingsSpec::of::<StoreSettings>()));
