//! What the CLI end-to-end tests share: an in-process Asana-compatible server, a temporary
//! folder with a config file, ways to run the `ticket` binary against them, and (feature
//! `postgres`) a fresh PostgreSQL database per test.

#![allow(dead_code)] // Each test file uses a part.

use std::path::PathBuf;
use std::process::{Command, Output};

use asana_fake::{FakeAsana, FakeOptions};
use homechoice_tickets::provider_asana::ASANA_TOKEN_ENV;
use homechoice_tickets::provider_sync::SyncProvider;
use homechoice_tickets::{BuildContext, Config};
use serde_json::Value;

/// The token of the fake in [`Setup::new`] (the `sync` setup).
pub const SYNC_TOKEN: &str = "sync-cli-token-4b1d";
/// The token of the fake in [`Setup::asana`].
pub const ASANA_TOKEN: &str = "cli-test-token-7f3a9c1e5d";

/// A fake Asana, a folder with `config.yaml`, and the `ticket` binary run against them.
pub struct Setup {
    pub fake: FakeAsana,
    pub dir: tempfile::TempDir,
    token: &'static str,
    /// `TICKET_LOG` for every run (the asana tests log everything to prove the token never
    /// shows).
    log: Option<&'static str>,
}

impl Setup {
    /// The `sync` provider on a SQLite file, with short timeouts.
    pub async fn new() -> Self {
        let s = Self::start(SYNC_TOKEN, None).await;
        s.write_config(
            "sync",
            &s.fake.project_gid(),
            "    database_url: tickets.db\n    sync_push_timeout_ms: 300\n    sync_claim_ttl_ms: 1000\n    asana_timeout_ms: 2000\n",
        );
        s
    }

    /// The `asana` provider, with a user Alice in the workspace and every run logging at
    /// trace level.
    pub async fn asana() -> Self {
        let s = Self::start(ASANA_TOKEN, Some("trace")).await;
        s.fake.add_user("Alice", "alice@example.com");
        s.write_config("asana", &s.fake.project_gid(), "");
        s
    }

    /// `provider` with the token of [`Setup::asana`], a user Alice, trace logging, and
    /// `extra` config lines (indented by four spaces).
    pub async fn for_provider(provider: &str, extra: &str) -> Self {
        let s = Self::start(ASANA_TOKEN, Some("trace")).await;
        s.fake.add_user("Alice", "alice@example.com");
        s.write_config(provider, &s.fake.project_gid(), extra);
        s
    }

    /// The token this setup's fake accepts.
    pub fn token(&self) -> &'static str {
        self.token
    }

    async fn start(token: &'static str, log: Option<&'static str>) -> Self {
        let fake = FakeAsana::start(FakeOptions {
            token: Some(token.into()),
            rate_limit_per_minute: None,
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        Setup {
            fake,
            dir,
            token,
            log,
        }
    }

    /// Writes `config.yaml` for `provider` and `project` on this fake, plus `extra` lines
    /// (indented by four spaces, under `homechoice.ticket`).
    pub fn write_config(&self, provider: &str, project: &str, extra: &str) {
        std::fs::write(
            self.config_path(),
            format!(
                "homechoice:\n  ticket:\n    provider: {provider}\n    asana_project: \"{project}\"\n    asana_base_url: \"{}\"\n{extra}",
                self.fake.base_url()
            ),
        )
        .unwrap();
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// `ticket --config <config.yaml> ARGS` with the token in the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with_token(Some(self.token), args)
    }

    fn command_with_token(&self, token: Option<&str>, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticket"));
        cmd.arg("--config").arg(self.config_path()).args(args);
        match token {
            Some(t) => cmd.env(ASANA_TOKEN_ENV, t),
            None => cmd.env_remove(ASANA_TOKEN_ENV),
        };
        if let Some(level) = self.log {
            cmd.env("TICKET_LOG", level);
        }
        cmd
    }

    /// Runs `ticket` on a blocking thread so that the in-process server keeps serving.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with_token(Some(self.token), args).await
    }

    /// Like [`Setup::run`] with another token, or none.
    pub async fn run_with_token(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = self.command_with_token(token, args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// `ticket --json ARGS`, which must succeed without showing the token; its JSON.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all).await;
        assert_no_token(&out, self.token);
        assert!(
            out.status.success(),
            "ticket {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The sync provider in this process, on the same database and fake.
    pub async fn provider(&self) -> SyncProvider {
        self.provider_with(&[]).await
    }

    /// The same, with some keys of the config set otherwise for this process only (a copy
    /// of the config beside it, so the database is the same file).
    pub async fn provider_with(&self, keys: &[(&str, &str)]) -> SyncProvider {
        let mut text = std::fs::read_to_string(self.config_path()).unwrap();
        for (key, value) in keys {
            let line = format!("    {key}: {value}\n");
            match text
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            {
                Some(old) => text = text.replace(&format!("{old}\n"), &line),
                None => text.push_str(&line),
            }
        }
        let path = self.dir.path().join("library.yaml");
        std::fs::write(&path, text).unwrap();
        let cfg = Config::load(&path).unwrap();
        let ctx = BuildContext::new(cfg).with_env(ASANA_TOKEN_ENV, Some(self.token.into()));
        SyncProvider::from_context(&ctx).await.unwrap()
    }
}

/// Neither stdout nor stderr shows the token (nor its distinctive tail).
#[track_caller]
pub fn assert_no_token(out: &Output, token: &str) {
    let tail = &token[token.len().saturating_sub(10)..];
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(token) && !text.contains(tail),
            "the token leaked: {text}"
        );
    }
}

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
