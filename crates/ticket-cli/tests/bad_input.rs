//! Bad input, as a table: the CLI and the config file. For every case: no panic, a non-zero
//! exit, one clear line naming what was wrong, and the database unchanged — counted before
//! and after, not assumed. The library API's cases are in the workspace's `tests/`
//! (`library_bad_input.rs`).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::Output;

use asana_fake::{FakeAsana, FakeOptions};
use homechoice_tickets::provider_internal::{InternalProvider, StoreOptions};
use homechoice_tickets::{NewComment, NewTicket, TicketProvider};

const TOKEN: &str = "bad-input-token-5e8d2b";
const UNKNOWN: &str = "00000000-0000-7000-8000-000000000000";

/// One CLI case: arguments, an optional config text replacing the good one, the token, the
/// expected exit code and words the message must contain.
struct Case {
    name: &'static str,
    args: Vec<OsString>,
    config: Option<String>,
    token: Option<&'static str>,
    code: i32,
    needles: Vec<String>,
}

fn case(name: &'static str, args: &[&str], code: i32, needles: &[&str]) -> Case {
    Case {
        name,
        args: args.iter().map(OsString::from).collect(),
        config: None,
        token: None,
        code,
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

fn config_case(name: &'static str, yaml: &str, code: i32, needles: &[&str]) -> Case {
    Case {
        config: Some(yaml.to_string()),
        ..case(name, &["list"], code, needles)
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    fake: FakeAsana,
    guid: String,
}

impl Fixture {
    fn good_config(&self) -> String {
        "homechoice:\n  ticket:\n    provider: internal\n    database_url: tickets.db\n".to_string()
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("tickets.db").display())
    }

    /// Tickets, comments, history rows, and outbox entries (pending + set aside).
    async fn counts(&self) -> [i64; 4] {
        let local = InternalProvider::open(
            &self.db_url(),
            homechoice_tickets::provider_sync::store_options(None),
        )
        .await
        .unwrap();
        let [t, c, h] = local.row_counts().await.unwrap();
        let (pending, aside) = homechoice_tickets::provider_sync::SyncStore::new(local)
            .unwrap()
            .counts()
            .await
            .unwrap();
        [t, c, h, i64::try_from(pending + aside).unwrap()]
    }

    async fn run(&self, c: &Case) -> Output {
        let cfg = c.config.clone().unwrap_or_else(|| self.good_config());
        let cfg = cfg
            .replace("{BASE}", &self.fake.base_url())
            .replace("{PROJECT}", &self.fake.project_gid());
        std::fs::write(self.config_path(), cfg).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ticket"));
        cmd.arg("--config")
            .arg(self.config_path())
            .args(&c.args)
            .env_remove("TICKET_CONFIG");
        match c.token {
            Some(t) => cmd.env("ASANA_ACCESS_TOKEN", t),
            None => cmd.env_remove("ASANA_ACCESS_TOKEN"),
        };
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }
}

fn cli_cases(guid: &str) -> Vec<Case> {
    let g = guid;
    let long_subject = "s".repeat(201);
    let huge = "h".repeat(100_000);
    let long_desc = "d".repeat(20_001);
    let long_comment = "c".repeat(10_001);
    let long_who = "w".repeat(255);
    let mut cases = vec![
        case(
            "empty subject",
            &["create", "--subject", ""],
            2,
            &["subject", "empty"],
        ),
        case(
            "blank subject",
            &["create", "--subject", "  \t "],
            2,
            &["subject"],
        ),
        case(
            "subject over the limit",
            &["create", "--subject", &long_subject],
            2,
            &["subject", "limit is 200"],
        ),
        case(
            "huge subject",
            &["create", "--subject", &huge],
            2,
            &["subject", "100000"],
        ),
        case(
            "newline in subject",
            &["create", "--subject", "a\nb"],
            2,
            &["subject", "control"],
        ),
        case(
            "bell in subject",
            &["create", "--subject", "a\u{7}b"],
            2,
            &["subject", "control"],
        ),
        case(
            "escape in description",
            &[
                "create",
                "--subject",
                "ok",
                "--description",
                "red \u{1b}[31m",
            ],
            2,
            &["description", "control"],
        ),
        case(
            "description over the limit",
            &["create", "--subject", "ok", "--description", &long_desc],
            2,
            &["description", "20000"],
        ),
        case(
            "unknown priority",
            &["create", "--subject", "ok", "--priority", "critical"],
            2,
            &["critical", "low, normal, high, urgent"],
        ),
        case(
            "empty priority",
            &["create", "--subject", "ok", "--priority", ""],
            2,
            &["priority"],
        ),
        case(
            "empty assignee on create",
            &["create", "--subject", "ok", "--assignee", ""],
            2,
            &["assignee"],
        ),
        case(
            "assignee over the limit",
            &["create", "--subject", "ok", "--assignee", &long_who],
            2,
            &["assignee", "254"],
        ),
        case("missing subject", &["create"], 2, &["--subject"]),
        case(
            "nothing to update",
            &["update", g],
            2,
            &["nothing to update"],
        ),
        case(
            "blank subject on update",
            &["update", g, "--subject", " "],
            2,
            &["subject"],
        ),
        case(
            "misspelt priority on update",
            &["update", g, "--priority", "urgentt"],
            2,
            &["urgentt"],
        ),
        case(
            "malformed guid on update",
            &["update", "not-a-guid", "--subject", "x"],
            2,
            &["not-a-guid"],
        ),
        case(
            "unknown guid on update",
            &["update", UNKNOWN, "--subject", "x"],
            3,
            &["no ticket", UNKNOWN],
        ),
        case(
            "unknown status",
            &["status", g, "done"],
            2,
            &["done", "IN_PROGRESS"],
        ),
        case("empty status", &["status", g, ""], 2, &["status"]),
        case(
            "doubled separator in status",
            &["status", g, "in__progress"],
            2,
            &["in__progress"],
        ),
        case(
            "malformed guid on status",
            &["status", "12", "NEW"],
            2,
            &["12"],
        ),
        case(
            "unknown guid on status",
            &["status", UNKNOWN, "NEW"],
            3,
            &["no ticket"],
        ),
        case("empty assignee", &["assign", g, ""], 2, &["assignee"]),
        case("tab in assignee", &["assign", g, "a\tb"], 2, &["assignee"]),
        case(
            "unknown guid on assign",
            &["assign", UNKNOWN, "alice"],
            3,
            &["no ticket"],
        ),
        case("empty comment", &["comment", g, ""], 2, &["comment"]),
        case("blank comment", &["comment", g, "  \n "], 2, &["comment"]),
        case(
            "comment over the limit",
            &["comment", g, &long_comment],
            2,
            &["comment", "10000"],
        ),
        case(
            "unknown guid on comment",
            &["comment", UNKNOWN, "hi"],
            3,
            &["no ticket"],
        ),
        case(
            "malformed guid on get",
            &["get", "not-a-guid"],
            2,
            &["not-a-guid"],
        ),
        case("empty guid on get", &["get", ""], 2, &["guid"]),
        case(
            "SQL in guid",
            &["get", "'; DROP TABLE data_ticket; --"],
            2,
            &["DROP TABLE"],
        ),
        case("unknown guid on get", &["get", UNKNOWN], 3, &["no ticket"]),
        case("zero limit", &["list", "--limit", "0"], 2, &["limit"]),
        case(
            "due: no such month",
            &["create", "--subject", "x", "--due", "2026-13-01"],
            2,
            &["2026-13-01", "not a valid date"],
        ),
        case(
            "due: no offset",
            &["update", g, "--due", "2026-12-24T15:00:00"],
            2,
            &["no time zone offset"],
        ),
        case(
            "due: words",
            &["update", g, "--due", "next friday"],
            2,
            &["next friday"],
        ),
        case(
            "due and clear-due together",
            &["update", g, "--due", "2026-12-24", "--clear-due"],
            2,
            &["--clear-due"],
        ),
        case(
            "due-before an instant",
            &["list", "--due-before", "2026-12-24T10:00:00Z"],
            2,
            &["give a day"],
        ),
        case("negative limit", &["list", "--limit", "-1"], 2, &["-1"]),
        case(
            "non-numeric limit",
            &["list", "--limit", "abc"],
            2,
            &["abc"],
        ),
        case(
            "limit over the maximum",
            &["list", "--limit", "1001"],
            2,
            &["1001", "maximum"],
        ),
        case(
            "unknown status filter",
            &["list", "--status", "nope"],
            2,
            &["nope"],
        ),
        case(
            "forged cursor",
            &["list", "--cursor", "garbage"],
            2,
            &["cursor", "garbage"],
        ),
        case(
            "unknown guid on close",
            &["close", UNKNOWN],
            3,
            &["no ticket"],
        ),
        case(
            "malformed guid on resolve",
            &["resolve", "x y z"],
            2,
            &["x y z"],
        ),
        case(
            "empty escalation reason",
            &["escalate", g, "--reason", ""],
            2,
            &["reason"],
        ),
        case(
            "unknown guid on escalate",
            &["escalate", UNKNOWN, "--reason", "why"],
            3,
            &["no ticket"],
        ),
        case("unknown command", &["frobnicate"], 2, &["frobnicate"]),
        case(
            "malformed guid on history",
            &["history", "nope"],
            2,
            &["nope"],
        ),
        case(
            "unknown guid on history",
            &["history", UNKNOWN],
            3,
            &["no ticket"],
        ),
    ];
    let mut bad_utf8 = case(
        "invalid UTF-8 subject",
        &["create", "--subject"],
        2,
        &["UTF-8"],
    );
    bad_utf8.args.push(OsString::from_vec(b"caf\xe9".to_vec()));
    cases.push(bad_utf8);
    let mut bad_utf8 = case("invalid UTF-8 guid", &["get"], 2, &["UTF-8"]);
    bad_utf8.args.push(OsString::from_vec(b"\xff\xfe".to_vec()));
    cases.push(bad_utf8);
    cases
}

/// The good config with one custom field of every type declared.
const FIELDS_CONFIG: &str = "homechoice:\n  ticket:\n    provider: internal\n    database_url: tickets.db\n    fields:\n      severity: {type: enum, options: [S1, S2]}\n      estimate: {type: number, precision: 1}\n      customer: {type: text}\n      components: {type: multi_enum, options: [api, ui]}\n      target: {type: date}\n      reviewers: {type: people}\n";

/// Custom fields and labels given wrongly, against [`FIELDS_CONFIG`].
fn field_cases(guid: &str) -> Vec<Case> {
    let g = guid;
    let long_label = "l".repeat(101);
    let with_fields = |name, args: &[&str], needles: &[&str]| {
        case(name, args, 2, needles).with_config(FIELDS_CONFIG.to_string())
    };
    vec![
        with_fields(
            "unknown field",
            &["create", "--subject", "x", "--field", "sprint=3"],
            &["unknown field \"sprint\"", "severity"],
        ),
        with_fields(
            "unknown option",
            &["create", "--subject", "x", "--field", "severity=S9"],
            &["severity", "S9", "S1, S2"],
        ),
        with_fields(
            "number of the wrong type",
            &["update", g, "--field", "estimate=two"],
            &["estimate", "two"],
        ),
        with_fields(
            "number beyond the precision",
            &["update", g, "--field", "estimate=2.25"],
            &["estimate", "precision is 1"],
        ),
        with_fields(
            "date that is no date",
            &["update", g, "--field", "target=soon"],
            &["target"],
        ),
        with_fields(
            "person who is no e-mail",
            &["update", g, "--field", "reviewers=bob"],
            &["reviewers", "e-mail"],
        ),
        with_fields(
            "a set with an unknown option",
            &["update", g, "--field", "components=api,web"],
            &["components", "web"],
        ),
        with_fields(
            "field without a value separator",
            &["create", "--subject", "x", "--field", "severity"],
            &["NAME=VALUE"],
        ),
        with_fields(
            "field set and cleared",
            &[
                "update",
                g,
                "--field",
                "severity=S1",
                "--clear-field",
                "severity",
            ],
            &["severity", "both set"],
        ),
        with_fields(
            "clearing an unknown field",
            &["update", g, "--clear-field", "sprint"],
            &["sprint"],
        ),
        with_fields(
            "filter on an unknown field",
            &["list", "--field", "sprint=1"],
            &["sprint"],
        ),
        with_fields(
            "label added and removed",
            &["update", g, "--label", "vip", "--unlabel", "vip"],
            &["vip", "both added and removed"],
        ),
        with_fields(
            "label with a comma",
            &["create", "--subject", "x", "--label", "a,b"],
            &["label", "comma"],
        ),
        with_fields(
            "label over the limit",
            &["create", "--subject", "x", "--label", &long_label],
            &["label", "limit is 100"],
        ),
        with_fields(
            "label with a bidi control",
            &["create", "--subject", "x", "--label", "vip\u{202e}"],
            &["label", "invisible"],
        ),
        case(
            "a field when none is declared",
            &["create", "--subject", "x", "--field", "severity=S1"],
            2,
            &["unknown field", "none is declared"],
        ),
    ]
}

fn config_cases() -> Vec<Case> {
    let ticket =
        |body: &str| format!("homechoice:\n  ticket:\n    database_url: tickets.db\n{body}");
    let asana = |extra: &str| {
        format!("homechoice:\n  ticket:\n    provider: asana\n    asana_base_url: \"{{BASE}}\"\n{extra}")
    };
    let pg_code = if cfg!(feature = "postgres") { 5 } else { 4 };
    vec![
        config_case(
            "field of an unknown type",
            &ticket("    fields:\n      severity: {type: choice}\n"),
            4,
            &[
                "homechoice.ticket.fields.severity",
                "unknown type \"choice\"",
            ],
        ),
        config_case(
            "enum field without options",
            &ticket("    fields:\n      severity: {type: enum}\n"),
            4,
            &["severity", "needs `options`"],
        ),
        config_case(
            "field named like a built-in one",
            &ticket("    fields:\n      status: {type: text}\n"),
            4,
            &["status", "built-in"],
        ),
        config_case(
            "field declaration with an unknown key",
            &ticket("    fields:\n      severity: {type: text, colour: red}\n"),
            4,
            &["colour"],
        ),
        config_case(
            "unknown key",
            &ticket("    provder: internal\n"),
            4,
            &["provder", "line 4"],
        ),
        config_case(
            "wrong type for provider",
            &ticket("    provider: [a, b]\n"),
            4,
            &["homechoice.ticket.provider", "line 4"],
        ),
        config_case(
            "unknown provider",
            &ticket("    provider: jira\n"),
            4,
            &["unknown provider 'jira'", "internal"],
        ),
        config_case(
            "empty provider",
            &ticket("    provider: ''\n"),
            4,
            &["provider"],
        ),
        config_case(
            "non-digit project",
            &ticket("    asana_project: abc\n"),
            4,
            &["asana_project", "abc"],
        ),
        config_case(
            "unsupported database scheme",
            "homechoice:\n  ticket:\n    database_url: mysql://x\n",
            4,
            &["database_url", "mysql"],
        ),
        config_case(
            "empty database url",
            "homechoice:\n  ticket:\n    database_url: ''\n",
            4,
            &["database_url"],
        ),
        config_case(
            "malformed YAML",
            "homechoice:\n  ticket: [\n",
            4,
            &["config.yaml", "line"],
        ),
        config_case(
            "wrong type for a number",
            &ticket("    asana_requests_per_minute: lots\n"),
            4,
            &["asana_requests_per_minute"],
        ),
        config_case(
            "unknown status in a map",
            &ticket("    asana_sections: {done: Done}\n"),
            4,
            &["done"],
        ),
        config_case(
            "zero pool size",
            &ticket("    database_pool_size: 0\n"),
            4,
            &["database_pool_size"],
        ),
        config_case(
            "non-http Asana URL",
            &ticket("    asana_base_url: ftp://x\n"),
            4,
            &["asana_base_url"],
        ),
        config_case("asana without project", &asana(""), 4, &["asana_project"]),
        config_case(
            "asana without token",
            &asana("    asana_project: \"{PROJECT}\"\n"),
            4,
            &["ASANA_ACCESS_TOKEN"],
        ),
        Case {
            token: Some("wrong-token"),
            ..config_case(
                "asana with a wrong token",
                &asana("    asana_project: \"{PROJECT}\"\n"),
                6,
                &["ASANA_ACCESS_TOKEN"],
            )
        },
        Case {
            token: Some(TOKEN),
            ..case("asana: malformed gid", &["get", "abc"], 2, &["abc"])
        }
        .with_config(asana("    asana_project: \"{PROJECT}\"\n")),
        Case {
            token: Some(TOKEN),
            ..case(
                "asana: unknown gid",
                &["get", "1999999999999999"],
                3,
                &["1999999999999999"],
            )
        }
        .with_config(asana("    asana_project: \"{PROJECT}\"\n")),
        Case {
            token: Some(TOKEN),
            ..case(
                "asana: unknown assignee",
                &[
                    "create",
                    "--subject",
                    "x",
                    "--assignee",
                    "nobody@example.com",
                ],
                2,
                &["nobody@example.com"],
            )
        }
        .with_config(asana("    asana_project: \"{PROJECT}\"\n")),
        config_case(
            "database in a missing folder",
            "homechoice:\n  ticket:\n    database_url: /nonexistent/dir/t.db\n",
            5,
            &["/nonexistent/dir/t.db"],
        ),
        config_case(
            "unreachable PostgreSQL",
            "homechoice:\n  ticket:\n    database_url: postgres://u:hunter2@127.0.0.1:1/x\n",
            pg_code,
            &["127.0.0.1:1"],
        ),
    ]
}

impl Case {
    fn with_config(mut self, yaml: String) -> Self {
        self.config = Some(yaml);
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_clearly_and_changes_nothing() {
    let fake = FakeAsana::start(FakeOptions {
        token: Some(TOKEN.into()),
        rate_limit_per_minute: None,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // One ticket with a comment, so there is something a bad command could damage.
    let seed = InternalProvider::open(
        &format!("sqlite://{}", dir.path().join("tickets.db").display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let guid = seed
        .create(NewTicket::new("Keep me").assignee("alice"))
        .await
        .unwrap()
        .guid;
    seed.add_comment(&guid, NewComment::new("first"))
        .await
        .unwrap();
    let fx = Fixture { dir, fake, guid };
    let before_ticket = seed.get_ticket(&fx.guid).await.unwrap();
    let before = fx.counts().await;

    let mut cases = cli_cases(&fx.guid);
    cases.extend(field_cases(&fx.guid));
    cases.extend(config_cases());
    assert!(cases.len() >= 60, "the table has {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let out = fx.run(c).await;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let mut problems = Vec::new();
        if out.status.code() != Some(c.code) {
            problems.push(format!("exit {:?}, expected {}", out.status.code(), c.code));
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if !out.stdout.is_empty() {
            problems.push(format!(
                "stdout not empty: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() != 1 || !lines[0].starts_with("error: ") {
            problems.push(format!("not one 'error: ' line: {stderr:?}"));
        }
        for n in &c.needles {
            if !stderr.contains(n.as_str()) {
                problems.push(format!("message lacks {n:?}"));
            }
        }
        if stderr.contains(TOKEN) || stderr.contains("hunter2") {
            problems.push("a secret was printed".into());
        }
        if fx.counts().await != before {
            problems.push("the database changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} — stderr: {}",
                c.name,
                problems.join("; "),
                stderr.trim()
            ));
        }
    }
    assert_eq!(
        seed.get_ticket(&fx.guid).await.unwrap(),
        before_ticket,
        "the seeded ticket changed"
    );
    assert!(
        fx.fake.project_tasks(&fx.fake.project_gid()).is_empty(),
        "a refused command wrote to Asana"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
