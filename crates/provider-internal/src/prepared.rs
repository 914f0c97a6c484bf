//! [`kept_update`]: an `UPDATE` of one fixed shape that the connection keeps prepared.
//!
//! diesel prepares every `UPDATE` anew on each call (its `UpdateStatement` marks itself
//! unsafe to cache, since a changeset with optional fields changes its SQL with the values).
//! On SQLite preparing is a good part of a short update's cost — for a row updated by key,
//! more than executing it. [`KeptUpdate`] builds the same statement (`UPDATE table SET …
//! WHERE …`) without that mark, so it goes into the connection's statement cache under its
//! SQL text, like the `SELECT`s and `INSERT`s diesel keeps.
//!
//! Only for statements with a bounded number of shapes: a filter without `eq_any` over a
//! list of varying length, a changeset without fields skipped when `None` (use
//! `treat_none_as_null`). Each distinct text stays cached for the life of the connection.

use diesel::backend::Backend;
use diesel::expression::AppearsOnTable;
use diesel::query_builder::{AsChangeset, AstPass, QueryFragment, QueryId};
use diesel::query_source::QuerySource;
use diesel::{QueryResult, Table};

/// `UPDATE table SET values WHERE filter`, kept prepared (see the module documentation).
/// Run it with [`diesel::RunQueryDsl::execute`]; the number of rows updated is returned.
#[derive(Debug, Clone)]
pub struct KeptUpdate<T: QuerySource, F, V> {
    from_clause: T::FromClause,
    filter: F,
    values: V,
}

/// `UPDATE table SET values WHERE filter`, kept prepared by the connection: like
/// `diesel::update(table.filter(filter)).set(values)`.
///
/// ```
/// # use diesel::prelude::*;
/// use provider_internal::{kept_update, schema::data_ticket};
/// # fn run(conn: &mut provider_internal::DbConnection) -> QueryResult<usize> {
/// kept_update(
///     data_ticket::table,
///     data_ticket::guid.eq("0190a1b2-…"),
///     data_ticket::updated_at.eq(1_700_000_000_000_000_i64),
/// )
/// .execute(conn)
/// # }
/// ```
pub fn kept_update<T, F, V>(table: T, filter: F, values: V) -> KeptUpdate<T, F, V::Changeset>
where
    T: Table,
    F: AppearsOnTable<T>,
    V: AsChangeset<Target = T>,
{
    KeptUpdate {
        from_clause: table.from_clause(),
        filter,
        values: values.as_changeset(),
    }
}

impl<T: QuerySource, F, V> QueryId for KeptUpdate<T, F, V> {
    // No static id: the statement cache keys it by its SQL text (and bind types).
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T, F, V, DB> QueryFragment<DB> for KeptUpdate<T, F, V>
where
    DB: Backend,
    T: Table,
    <T as QuerySource>::FromClause: QueryFragment<DB>,
    F: QueryFragment<DB>,
    V: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // What diesel's `UpdateStatement` writes, without marking it unsafe to cache.
        out.push_sql("UPDATE ");
        self.from_clause.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())?;
        Ok(())
    }
}

impl<T: QuerySource, F, V, Conn> diesel::RunQueryDsl<Conn> for KeptUpdate<T, F, V> {}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use diesel::prelude::*;

    use super::kept_update;
    use crate::schema::data_ticket;

    /// Counts the statements the connection put into its cache.
    struct Cached(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Cached {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0.lock().unwrap().push(sql.to_string());
            }
        }
    }

    fn updated_at(conn: &mut SqliteConnection, guid: &str) -> i64 {
        data_ticket::table
            .find(guid)
            .select(data_ticket::updated_at)
            .get_result(conn)
            .unwrap()
    }

    #[test]
    fn a_kept_update_changes_the_row_it_names_and_is_prepared_once() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query("CREATE TABLE data_ticket (guid TEXT PRIMARY KEY, updated_at BIGINT)")
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query("INSERT INTO data_ticket VALUES ('a', 1), ('b', 1)")
            .execute(&mut conn)
            .unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        conn.set_instrumentation(Cached(Arc::clone(&cached)));
        for (i, guid) in ["a", "a", "missing"].into_iter().enumerate() {
            let n = kept_update(
                data_ticket::table,
                data_ticket::guid.eq(guid),
                data_ticket::updated_at.eq(10 + i as i64),
            )
            .execute(&mut conn)
            .unwrap();
            assert_eq!(n, usize::from(guid != "missing"), "{guid}");
        }
        assert_eq!(updated_at(&mut conn, "a"), 11);
        assert_eq!(updated_at(&mut conn, "b"), 1, "only the named row changes");
        let updates: Vec<String> = cached
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.starts_with("UPDATE"))
            .cloned()
            .collect();
        assert_eq!(
            updates,
            vec!["UPDATE `data_ticket` SET `updated_at` = ? WHERE (`data_ticket`.`guid` = ?)"],
            "prepared once, then reused"
        );
        // diesel's own UPDATE of the same shape is not kept: the difference this type makes.
        diesel::update(data_ticket::table.find("b"))
            .set(data_ticket::updated_at.eq(5))
            .execute(&mut conn)
            .unwrap();
        let all = cached.lock().unwrap().clone();
        assert_eq!(
            all.iter().filter(|s| s.starts_with("UPDATE")).count(),
            1,
            "{all:?}"
        );
    }
}
