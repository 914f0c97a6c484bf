//! Helpers shared by the CLI tests.

#![allow(dead_code)]

#[cfg(feature = "postgres")]
pub mod postgres {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    /// A fresh database, dropped on drop.
    pub struct TestDb {
        admin: String,
        name: String,
        pub url: String,
    }

    impl TestDb {
        /// A new database named after `tag`, or `None` (with a printed message) when
        /// TICKET_TEST_POSTGRES_URL is unset.
        pub fn create(tag: &str) -> Option<TestDb> {
            let Ok(admin) = std::env::var("TICKET_TEST_POSTGRES_URL") else {
                if std::env::var_os("CI").is_some() {
                    panic!("TICKET_TEST_POSTGRES_URL must be set when CI is set");
                }
                println!("skipped: TICKET_TEST_POSTGRES_URL not set");
                return None;
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let name = format!("cli_{tag}_{}_{nanos}", std::process::id());
            let mut conn = diesel::PgConnection::establish(&admin).expect("connect to admin URL");
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create test database");
            let url = with_database(&admin, &name);
            Some(TestDb { admin, name, url })
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin) {
                let _ = conn.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }

    /// `admin` with its database name replaced by `name`.
    fn with_database(admin: &str, name: &str) -> String {
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (admin, None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let host_part = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        match query {
            Some(q) => format!("{host_part}/{name}?{q}"),
            None => format!("{host_part}/{name}"),
        }
    }
}
