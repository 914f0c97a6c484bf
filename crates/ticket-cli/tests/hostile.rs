//! Hostile input (issue 23), as tables, with the built `ticket` binary; every Asana is the
//! local one, so nothing leaves loopback.
//!
//! * Refused: hostile arguments, config files and settings. Each row states the exit code and
//!   the words of the one `error:` line; for every row the line shows no raw control
//!   character and no secret, and nothing is written (the local store and Asana are counted
//!   before and after).
//! * Shown: hostile data placed in Asana (task names, notes, comments, an assignee's e-mail)
//!   reaches the terminal with every control character visible, a newline in a name cannot
//!   forge a table row, and `--json` stays exact. Table columns keep their alignment with
//!   wide (CJK) text.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use asana_fake::{FakeAsana, FakeOptions};
use serde_json::Value;
use unicode_width::UnicodeWidthStr as _;

use crate::common::{Setup, ASANA_TOKEN};

const TOKEN: &str = "hostile-token-51c0de";
/// A password that must never be printed, in base URLs.
const PASSWORD: &str = "hunter2pw";

/// Where a row's config comes from.
enum ConfigFile {
    /// This YAML (`{BASE}`, `{PROJECT}` and `{PORT}` name the local Asana).
    Yaml(&'static str),
    /// The device `/dev/zero`: endless.
    DevZero,
    /// A FIFO nobody writes to: opening it would block.
    Fifo,
    /// A regular file of 2 MiB.
    Huge,
}

/// One refused case: arguments, config, the token, the exit code and words of the message.
struct Refused {
    name: &'static str,
    args: &'static [&'static str],
    config: ConfigFile,
    token: &'static str,
    code: i32,
    needles: &'static [&'static str],
    /// `doctor` prints its checks on stdout; every other row prints nothing there.
    stdout_allowed: bool,
    /// Words stdout must hold (a `doctor` row's failed check).
    shows: &'static [&'static str],
    /// Run as an unprivileged user when the test runs as root (a read-only file is no
    /// obstacle to root).
    unprivileged: bool,
    /// `WARN` log lines may come before the `error:` line (a failed request is logged
    /// once per attempt).
    warnings: bool,
}

const INTERNAL: &str =
    "homechoice:\n  ticket:\n    provider: internal\n    database_url: tickets.db\n";
const ASANA: &str = "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"{BASE}\"\n";

fn row(
    name: &'static str,
    args: &'static [&'static str],
    config: ConfigFile,
    code: i32,
    needles: &'static [&'static str],
) -> Refused {
    Refused {
        name,
        args,
        config,
        token: TOKEN,
        code,
        needles,
        stdout_allowed: false,
        shows: &[],
        unprivileged: false,
        warnings: false,
    }
}

/// A row whose Asana answers badly: its failed attempts are logged as warnings.
fn answer_row(
    name: &'static str,
    base: &'static str,
    extra: &'static str,
    needles: &'static [&'static str],
) -> Refused {
    let yaml = format!(
        "homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{{PROJECT}}\"\n    asana_base_url: \"{base}\"\n{extra}"
    );
    Refused {
        warnings: true,
        ..row(name, &["list"], ConfigFile::Yaml(yaml.leak()), 5, needles)
    }
}

/// A `doctor` row: its checks on stdout must show `shows`; it fails with exit 4.
fn doctor_row(name: &'static str, config: ConfigFile, shows: &'static [&'static str]) -> Refused {
    Refused {
        stdout_allowed: true,
        shows,
        ..row(name, &["doctor"], config, 4, &["doctor found"])
    }
}

const READ_ONLY_STORE: &str =
    "homechoice:\n  ticket:\n    provider: internal\n    database_url: readonly.db\n";
const CORRUPT_STORE: &str =
    "homechoice:\n  ticket:\n    provider: internal\n    database_url: corrupt.db\n";
const JUNK_STORE: &str =
    "homechoice:\n  ticket:\n    provider: internal\n    database_url: junk.db\n";

fn refused_rows() -> Vec<Refused> {
    use ConfigFile::{DevZero, Fifo, Huge, Yaml};
    vec![
        // #3: the error context echoes the guid argument; it must not act on the terminal.
        row(
            "ESC/BEL guid echoed in an error",
            &["get", "\u{1b}]0;owned\u{7}"],
            Yaml(INTERNAL),
            2,
            &["\\u{1b}]0;owned\\u{7}"],
        ),
        row(
            "CR/BS/NUL-free guid with a bidi override",
            &["get", "abc\u{202E}fdp.exe"],
            Yaml(INTERNAL),
            2,
            &["abc\\u{202e}fdp.exe"],
        ),
        row(
            "clap echoes a refused argument",
            &["list", "--status", "\u{1b}[2J"],
            Yaml(INTERNAL),
            2,
            &["\\u{1b}[2J"],
        ),
        // #10: bidi and zero-width controls in fields a person types.
        row(
            "subject with a right-to-left override",
            &["create", "--subject", "invoice\u{202E}fdp.exe"],
            Yaml(INTERNAL),
            2,
            &["subject", "\\u{202e}"],
        ),
        row(
            "subject with a zero-width space",
            &["create", "--subject", "pass\u{200B}word"],
            Yaml(INTERNAL),
            2,
            &["subject", "\\u{200b}"],
        ),
        row(
            "assignee with a bidi isolate",
            &["create", "--subject", "ok", "--assignee", "ann\u{2067}x"],
            Yaml(INTERNAL),
            2,
            &["assignee", "\\u{2067}"],
        ),
        row(
            "assign to a name with a byte-order mark",
            &["assign", "{GUID}", "\u{FEFF}bob"],
            Yaml(INTERNAL),
            2,
            &["assignee", "\\u{feff}"],
        ),
        row(
            "update subject with a left-to-right override",
            &["update", "{GUID}", "--subject", "\u{202D}x"],
            Yaml(INTERNAL),
            2,
            &["subject", "\\u{202d}"],
        ),
        row(
            "comment author with a right-to-left mark",
            &["comment", "{GUID}", "hi", "--author", "\u{200F}eve"],
            Yaml(INTERNAL),
            2,
            &["author", "\\u{200f}"],
        ),
        // #7: the token must not travel in clear text, nor credentials in the URL.
        row(
            "plain http to a host that is not loopback",
            &["list"],
            Yaml("homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"http://0.0.0.0:{PORT}/api/1.0\"\n"),
            4,
            &["asana_base_url", "clear text", "https://"],
        ),
        row(
            "credentials in the base URL",
            &["list"],
            Yaml("homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"http://ops:hunter2pw@127.0.0.1:{PORT}/api/1.0\"\n"),
            4,
            &["asana_base_url", "credentials"],
        ),
        Refused {
            stdout_allowed: true,
            ..row(
                "doctor with credentials in the base URL",
                &["doctor"],
                Yaml("homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"https://hunter2pw@127.0.0.1:{PORT}/api/1.0\"\n"),
                4,
                &["doctor found"],
            )
        },
        // #14: problems known at load are config errors (4), not "unreachable" (5).
        row(
            "malformed base URL",
            &["list"],
            Yaml("homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"http://[::1:{PORT}/api\"\n"),
            4,
            &["asana_base_url", "not a URL"],
        ),
        row(
            "a timeout of 0 ms",
            &["list"],
            Yaml("homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"{BASE}\"\n    asana_timeout_ms: 0\n"),
            4,
            &["asana_timeout_ms"],
        ),
        Refused {
            token: "hostile-token-51c0de\n",
            ..row(
                "a token with a newline (read from a file)",
                &["list"],
                Yaml(ASANA),
                4,
                &["ASANA_ACCESS_TOKEN", "control characters"],
            )
        },
        Refused {
            token: "hostile\u{1b}token",
            ..row(
                "a token with ESC",
                &["create", "--subject", "x"],
                Yaml(ASANA),
                4,
                &["ASANA_ACCESS_TOKEN", "control characters"],
            )
        },
        // #1 (on the CLI's output): an answer that echoes the Authorization header, with
        // controls and a newline, as some proxies and mocks do.
        row(
            "a 401 that echoes the token",
            &["list"],
            Yaml("homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"{ECHO}\"\n"),
            6,
            &["[redacted]", "\\u{1b}]0;x\\u{7}"],
        ),
        Refused {
            stdout_allowed: true,
            ..row(
                "doctor against a 401 that echoes the token",
                &["doctor"],
                Yaml("homechoice:\n  ticket:\n    provider: asana\n    asana_project: \"{PROJECT}\"\n    asana_base_url: \"{ECHO}\"\n"),
                4,
                &["doctor found"],
            )
        },
        // #13: answers that never end, announce 2 GiB, or trickle: a clear error, exit 5,
        // in bounded memory and time (the row is killed after 10 s).
        answer_row(
            "an endless answer body",
            "{ENDLESS}",
            "",
            &["larger than 16 MiB"],
        ),
        answer_row(
            "an answer announcing 2 GiB",
            "{HUGE}",
            "",
            &["larger than 16 MiB"],
        ),
        answer_row(
            "an answer body that trickles",
            "{SLOW}",
            "    asana_timeout_ms: 500\n",
            &["timed out"],
        ),
        // #13: config files that never end or never open.
        row(
            "--config /dev/zero",
            &["list"],
            DevZero,
            4,
            &["/dev/zero", "not a regular file"],
        ),
        row(
            "a FIFO as config",
            &["list"],
            Fifo,
            4,
            &["fifo.yaml", "not a regular file"],
        ),
        row(
            "a 2 MiB config file",
            &["list"],
            Huge,
            4,
            &["huge.yaml", "1048576 bytes"],
        ),
        // #14 and #9: a store file that cannot be used is a configuration error (4) naming
        // the file and what is wrong, and `doctor` fails on it.
        Refused {
            unprivileged: true,
            ..row(
                "a read-only store",
                &["create", "--subject", "x"],
                Yaml(READ_ONLY_STORE),
                4,
                &["readonly.db", "is read-only"],
            )
        },
        Refused {
            unprivileged: true,
            ..doctor_row(
                "doctor on a read-only store",
                Yaml(READ_ONLY_STORE),
                &["[FAIL]", "readonly.db", "is read-only"],
            )
        },
        row(
            "a store with corrupt pages",
            &["list"],
            Yaml(CORRUPT_STORE),
            4,
            &["corrupt.db", "is corrupt"],
        ),
        doctor_row(
            "doctor on a store with corrupt pages",
            Yaml(CORRUPT_STORE),
            &["[FAIL]", "corrupt.db", "is corrupt"],
        ),
        row(
            "a store that is not a database",
            &["list"],
            Yaml(JUNK_STORE),
            4,
            &["junk.db", "not a SQLite database"],
        ),
    ]
}

/// The user and group an `unprivileged` row runs as when the test runs as root.
const NOBODY: u32 = 65534;

struct Fixture {
    /// Whether this process writes files whose mode forbids it (root does).
    privileged: bool,
    dir: tempfile::TempDir,
    fake: FakeAsana,
    guid: String,
    /// The base URL of [`echo_server`].
    echo: String,
    /// The base URLs of [`body_server`]s.
    endless: String,
    huge: String,
    slow: String,
}

/// A loopback server that answers every request with a 401 whose message echoes the
/// request's `Authorization` header, an escape sequence and a second line.
async fn echo_server() -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let auth = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .unwrap_or("none");
                let message = format!("rejected header {auth}\u{1b}]0;x\u{7}\nsecond line");
                let body = serde_json::json!({ "errors": [{ "message": message }] }).to_string();
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/api/1.0")
}

/// How [`body_server`] answers, after `200 OK` and a JSON content type.
#[derive(Clone, Copy)]
enum BodyKind {
    /// A body that never ends, as fast as the client reads it (no length announced).
    Endless,
    /// A `content-length` of 2 GiB, and that many bytes if the client keeps reading.
    Huge,
    /// One byte every 200 ms, forever.
    Slow,
}

/// A loopback server that answers every request with a 200 whose body is `kind`.
async fn body_server(kind: BodyKind) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let length = match kind {
                    BodyKind::Huge => "content-length: 2147483648\r\n",
                    BodyKind::Endless | BodyKind::Slow => "",
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{length}connection: close\r\n\r\n{{\"data\": ["
                );
                if c.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                let filler = vec![b' '; 64 * 1024];
                loop {
                    let sent = match kind {
                        BodyKind::Slow => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            c.write_all(b" ").await
                        }
                        BodyKind::Endless | BodyKind::Huge => c.write_all(&filler).await,
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/api/1.0")
}

impl Fixture {
    fn config_path(&self, c: &ConfigFile) -> PathBuf {
        match c {
            ConfigFile::Yaml(yaml) => {
                let path = self.dir.path().join("config.yaml");
                let text = yaml
                    .replace("{BASE}", &self.fake.base_url())
                    .replace("{PROJECT}", &self.fake.project_gid())
                    .replace("{PORT}", &self.fake.addr().port().to_string())
                    .replace("{ECHO}", &self.echo)
                    .replace("{ENDLESS}", &self.endless)
                    .replace("{HUGE}", &self.huge)
                    .replace("{SLOW}", &self.slow);
                std::fs::write(&path, text).unwrap();
                path
            }
            ConfigFile::DevZero => PathBuf::from("/dev/zero"),
            ConfigFile::Fifo => self.dir.path().join("fifo.yaml"),
            ConfigFile::Huge => self.dir.path().join("huge.yaml"),
        }
    }

    fn command(&self, config: &std::path::Path, args: &[&str], token: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticket"));
        cmd.current_dir(self.dir.path())
            .arg("--config")
            .arg(config)
            .args(args.iter().map(|a| a.replace("{GUID}", &self.guid)))
            .env_remove("TICKET_CONFIG")
            .env_remove("TICKET_LOG")
            .env("ASANA_ACCESS_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs a row, killing it after 10 s (a blocked read must fail the row, not hang the
    /// test); `None` when it had to be killed.
    async fn run(&self, r: &Refused) -> Option<Output> {
        let config = self.config_path(&r.config);
        let mut cmd = self.command(&config, r.args, r.token);
        if r.unprivileged && self.privileged {
            use std::os::unix::process::CommandExt as _;
            cmd.uid(NOBODY).gid(NOBODY);
        }
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(child.wait_with_output().unwrap())
        })
        .await
        .unwrap()
    }

    /// The tickets in the local store, as `ticket list --json` sees them.
    async fn local_tickets(&self) -> usize {
        let config = self.config_path(&ConfigFile::Yaml(INTERNAL));
        let mut cmd = self.command(&config, &["--json", "list"], TOKEN);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().unwrap().len()
    }
}

/// Makes the stores of the #14 rows beside the fixture's own: `readonly.db` (a store whose
/// file is read-only), `corrupt.db` (a store whose last pages are overwritten: it opens, but
/// its tickets cannot be read) and `junk.db` (text). Whether this process is privileged
/// (writes the read-only file anyway), so that those rows run as another user.
fn make_bad_stores(fx: &Fixture) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = fx.dir.path();
    let make = |yaml: &str, tickets: usize| {
        let config = dir.join("make.yaml");
        std::fs::write(&config, yaml).unwrap();
        for i in 0..tickets {
            let description = format!("{i} {}", "x".repeat(3000));
            let out = fx
                .command(
                    &config,
                    &[
                        "create",
                        "--subject",
                        "filler",
                        "--description",
                        &description,
                    ],
                    TOKEN,
                )
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
    };
    make(READ_ONLY_STORE, 1);
    make(CORRUPT_STORE, 30);
    // The last exit checkpointed the WAL into the file: smash its last eight pages.
    let path = dir.join("corrupt.db");
    assert!(!dir.join("corrupt.db-wal").exists());
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 16, "{pages} pages");
    for page in pages - 8..pages {
        bytes[page * 4096 + 100..page * 4096 + 3100].fill(0xff);
    }
    std::fs::write(&path, bytes).unwrap();
    std::fs::write(dir.join("junk.db"), "this is no database\n".repeat(100)).unwrap();
    let read_only = dir.join("readonly.db");
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let privileged = std::fs::OpenOptions::new()
        .append(true)
        .open(&read_only)
        .is_ok();
    if privileged {
        // The other user must reach the folder (and find it not writable either).
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    privileged
}

/// Characters that must never reach a terminal raw: controls other than the line end,
/// and the bidi and zero-width controls.
fn raw_controls(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| (c.is_control() && *c != '\n') || homechoice_tickets::text::hides_text(*c))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_arguments_and_files_are_refused_clearly_and_write_nothing() {
    let fake = FakeAsana::start(FakeOptions {
        token: Some(TOKEN.into()),
        rate_limit_per_minute: None,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let filler = format!("# {}\n", "x".repeat(1022));
    std::fs::write(dir.path().join("huge.yaml"), filler.repeat(2048)).unwrap();
    let mut fx = Fixture {
        privileged: false,
        dir,
        fake,
        guid: String::new(),
        echo: echo_server().await,
        endless: body_server(BodyKind::Endless).await,
        huge: body_server(BodyKind::Huge).await,
        slow: body_server(BodyKind::Slow).await,
    };
    // One ticket, so that a command on it has something to damage.
    let config = fx.config_path(&ConfigFile::Yaml(INTERNAL));
    let created = fx
        .command(
            &config,
            &["--json", "create", "--subject", "Keep me"],
            TOKEN,
        )
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    fx.guid = created["guid"].as_str().unwrap().to_string();
    fx.privileged = make_bad_stores(&fx);
    let before = fx.local_tickets().await;

    let rows = refused_rows();
    let mut failures = Vec::new();
    for r in &rows {
        let Some(out) = fx.run(r).await else {
            failures.push(format!("{}: still running after 10 s", r.name));
            continue;
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let mut problems = Vec::new();
        if out.status.code() != Some(r.code) {
            problems.push(format!("exit {:?}, expected {}", out.status.code(), r.code));
        }
        if !r.stdout_allowed && !stdout.is_empty() {
            problems.push(format!("stdout not empty: {stdout:?}"));
        }
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| !(r.warnings && l.contains(" WARN ")))
            .collect();
        if lines.len() != 1 || !lines[0].starts_with("error: ") {
            problems.push(format!("not one 'error: ' line: {stderr:?}"));
        }
        for n in r.needles {
            if !stderr.contains(n) {
                problems.push(format!("message lacks {n:?}"));
            }
        }
        for n in r.shows {
            if !stdout.contains(n) {
                problems.push(format!("stdout lacks {n:?}: {stdout:?}"));
            }
        }
        for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            let raw = raw_controls(text);
            if !raw.is_empty() {
                problems.push(format!("raw controls on {stream}: {raw:?}"));
            }
            if text.contains(TOKEN) || text.contains(PASSWORD) || text.contains("hostile\u{1b}") {
                problems.push(format!("a secret on {stream}"));
            }
        }
        if fx.local_tickets().await != before {
            problems.push("the local store changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} — stderr: {stderr:?}",
                r.name,
                problems.join("; ")
            ));
        }
    }
    assert!(
        fx.fake.project_tasks(&fx.fake.project_gid()).is_empty(),
        "a refused command wrote to Asana"
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// Calls the local Asana's REST API as a stranger's Asana client would.
async fn asana_put(fake: &FakeAsana, path: &str, data: Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}{path}", fake.base_url()))
        .bearer_auth(ASANA_TOKEN)
        .json(&serde_json::json!({ "data": data }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

/// Runs `ticket ARGS` without logging; its output, which must be a success.
async fn shown(s: &Setup, args: &[&str]) -> Output {
    let mut cmd = s.command(args);
    cmd.env_remove("TICKET_LOG");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "ticket {args:?}: {out:?}");
    out
}

/// One hostile value placed in Asana: where, what, and how it must show.
struct Placed {
    field: &'static str,
    value: &'static str,
    shown: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_data_from_asana_is_shown_escaped_and_json_stays_exact() {
    let s = Setup::asana().await;
    let table = [
        Placed {
            field: "name",
            value: "Retitle\u{1b}]0;owned\u{7}\nabc  NEW  urgent  forged row",
            shown: "Retitle\\u{1b}]0;owned\\u{7}\\u{a}abc  NEW",
        },
        Placed {
            field: "notes",
            value: "clear\u{1b}[2J\rFAKE\u{8}\u{8}\0 invoice\u{202E}fdp.exe\nsecond line",
            shown: "clear\\u{1b}[2J\\u{d}FAKE\\u{8}\\u{8}\\u{0} invoice\\u{202e}fdp.exe",
        },
        Placed {
            field: "comment",
            value: "bell\u{7} and \u{2066}isolate\u{2069} zero\u{200B}width",
            shown: "bell\\u{7} and \\u{2066}isolate\\u{2069} zero\\u{200b}width",
        },
        Placed {
            field: "assignee",
            value: "mal\u{1b}[31mory@example.com",
            shown: "mal\\u{1b}[31mory@example.com",
        },
    ];
    let created = s.json(&["create", "--subject", "Harmless"]).await;
    let gid = created["guid"].as_str().unwrap().to_string();
    for p in &table {
        match p.field {
            "comment" => {
                s.fake.add_comment_as(&gid, &s.fake.owner_gid(), p.value);
            }
            "assignee" => {
                let user = s.fake.add_user("Mallory", p.value);
                asana_put(
                    &s.fake,
                    &format!("/tasks/{gid}"),
                    serde_json::json!({ "assignee": user }),
                )
                .await;
            }
            field => {
                asana_put(
                    &s.fake,
                    &format!("/tasks/{gid}"),
                    serde_json::json!({ field: p.value }),
                )
                .await;
            }
        }
    }

    let get = shown(&s, &["get", &gid]).await;
    let list = shown(&s, &["list"]).await;
    let get_text = String::from_utf8(get.stdout).unwrap();
    let list_text = String::from_utf8(list.stdout).unwrap();
    for (what, text) in [("get", &get_text), ("list", &list_text)] {
        assert_eq!(raw_controls(text), Vec::<char>::new(), "{what}: {text}");
    }
    for p in &table {
        assert!(get_text.contains(p.shown), "{}: {get_text}", p.field);
    }
    // The list: a header, one row, the count; the newline in the name forged nothing.
    let lines: Vec<&str> = list_text.lines().collect();
    assert_eq!(lines.len(), 3, "{list_text}");
    assert!(
        lines[1].contains("Retitle\\u{1b}]0;owned\\u{7}\\u{a}abc"),
        "{list_text}"
    );

    // --json is exact: the values as Asana holds them.
    let t = s.json(&["get", &gid]).await;
    assert_eq!(t["subject"], table[0].value);
    assert_eq!(t["description"], table[1].value);
    assert_eq!(t["comments"][0]["body"], table[2].value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_text_keeps_the_table_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, INTERNAL).unwrap();
    let ticket = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ticket"))
            .current_dir(dir.path())
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("TICKET_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    ticket(&[
        "create",
        "--subject",
        "プリンターが紙詰まり",
        "--assignee",
        "田中太郎",
    ]);
    ticket(&["create", "--subject", "Printer jams", "--assignee", "bob"]);
    ticket(&[
        "create",
        "--subject",
        "长长长长长长长长长长长长长长长长长长长长长长长长长长长长长长长长长长长长",
        "--assignee",
        "王小明王小明王小明王小明王小明",
    ]);
    let table = ticket(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    // The SUBJECT column starts at the same terminal column in every line (the header's),
    // right after the DUE column's `-`; subjects are cut to 60 columns.
    let subject_at = lines[0].find("SUBJECT").unwrap();
    for line in &lines[1..4] {
        let prefix = prefix_of_width(line, subject_at);
        assert!(
            prefix.is_some_and(|p| p.ends_with("  ") && p.trim_end().ends_with('-')),
            "misaligned: {line:?} in\n{table}"
        );
        assert!(line.width() <= subject_at + 60, "not cut: {line}");
    }
}

/// The start of `line` that is exactly `width` terminal columns wide, if a character does
/// not straddle that column.
fn prefix_of_width(line: &str, width: usize) -> Option<&str> {
    let mut w = 0;
    for (i, c) in line.char_indices() {
        if w == width {
            return Some(&line[..i]);
        }
        if w > width {
            return None;
        }
        w += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
    }
    None
}

/// Issue 23 #4: a task of another project that the token can see is no ticket. Every
/// command that writes exits 3 with one `error:` line, and nothing reaches Asana but reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_of_another_project_is_not_a_ticket_and_is_never_written() {
    let s = Setup::asana().await;
    // Warm the cache (sections, tags), so that only the refused commands are counted.
    let warm = s.json(&["create", "--subject", "warm"]).await;
    s.json(&["status", warm["guid"].as_str().unwrap(), "closed"])
        .await;
    let other = s.fake.add_project("Private");
    let resp = reqwest::Client::new()
        .post(format!("{}/tasks", s.fake.base_url()))
        .bearer_auth(ASANA_TOKEN)
        .json(&serde_json::json!({ "data": { "name": "salaries", "projects": [other] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    let gid = body["data"]["gid"].as_str().unwrap().to_string();
    let before = format!("{:?}", s.fake.project_tasks(&other));
    s.fake.clear_requests();
    let commands: [&[&str]; 8] = [
        &["status", &gid, "in-progress"],
        &["close", &gid],
        &["resolve", &gid],
        &["escalate", &gid, "--reason", "VIP"],
        &["assign", &gid, "alice@example.com"],
        &["comment", &gid, "hello"],
        &["update", &gid, "--subject", "renamed"],
        &["get", &gid],
    ];
    for args in commands {
        let mut cmd = s.command(args);
        cmd.env_remove("TICKET_LOG");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(
            errors[0].contains(&format!("no ticket \"{gid}\" in project")),
            "{args:?}: {stderr}"
        );
    }
    let writes: Vec<String> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method != "GET"
                && (r.actions.is_empty() || r.actions.iter().any(|a| !a.starts_with("GET ")))
        })
        .map(|r| format!("{} {} {:?}", r.method, r.path, r.actions))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(format!("{:?}", s.fake.project_tasks(&other)), before);
}

/// Issue 23 #11: a task name, notes and a comment story from Asana longer than the store
/// keeps are cut on import, never silently: a warning on stderr, a history row per cut
/// value, and `sync verify` reports each as a difference: `--repair` settles no cut field
/// (exit 1 stays) and acknowledges a cut comment once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_from_asana_are_cut_visibly_and_verify_reports_them() {
    use homechoice_tickets::model::{MAX_COMMENT_CHARS, MAX_DESCRIPTION_CHARS, MAX_SUBJECT_CHARS};
    let s = Setup::new().await;
    let name = "n".repeat(MAX_SUBJECT_CHARS + 50);
    let notes = "d".repeat(MAX_DESCRIPTION_CHARS + 5_000);
    let resp = reqwest::Client::new()
        .post(format!("{}/tasks", s.fake.base_url()))
        .bearer_auth(crate::common::SYNC_TOKEN)
        .json(&serde_json::json!({ "data": {
            "name": name, "notes": notes, "projects": [s.fake.project_gid()] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    let gid = body["data"]["gid"].as_str().unwrap().to_string();
    let story = "s".repeat(MAX_COMMENT_CHARS + 2_000);
    s.fake.add_comment_as(&gid, &s.fake.owner_gid(), &story);

    let mut cmd = s.command(&["--json", "sync", "pull", &gid]);
    cmd.env_remove("TICKET_LOG");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for field in ["subject", "description", "comment (story"] {
        assert!(
            stderr.contains("longer than the store keeps") && stderr.contains(field),
            "no warning for {field}: {stderr}"
        );
    }
    let pulled: Value = serde_json::from_slice(&out.stdout).unwrap();
    let guid = pulled["guid"].as_str().unwrap().to_string();
    let t = s.json(&["get", &guid]).await;
    assert_eq!(
        t["description"].as_str().unwrap().chars().count(),
        MAX_DESCRIPTION_CHARS
    );
    let history = s.json(&["history", &guid]).await;
    let cut_rows: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h["new_value"]
                .as_str()
                .is_some_and(|v| v.starts_with("cut to"))
        })
        .collect();
    assert_eq!(cut_rows.len(), 3, "{history:#}");
    // A second pull of the unchanged task records nothing more.
    s.json(&["sync", "pull", &gid]).await;
    let again = s.json(&["history", &guid]).await;
    assert_eq!(
        again.as_array().unwrap().len(),
        history.as_array().unwrap().len()
    );

    // verify reports the cut fields and the cut comment; --repair settles none of the
    // fields (that would cut Asana's values) and acknowledges the comment once.
    let story = s.fake.project_tasks(&s.fake.project_gid())[0]
        .comments
        .len();
    assert_eq!(story, 1);
    let cases: [(&[&str], &[&str], u64); 3] = [
        (
            &["sync", "verify"],
            &["subject", "description", "comment"],
            3,
        ),
        (
            &["sync", "verify", "--repair"],
            &["subject", "description", "comment"],
            2,
        ),
        (&["sync", "verify"], &["subject", "description"], 2),
    ];
    for (args, want, unresolved) in cases {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = s.run(&all).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let fields: Vec<&str> = report["differences"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["ticket_guid"] == guid.as_str())
            .map(|d| {
                let f = d["field"].as_str().unwrap();
                f.split(' ').next().unwrap()
            })
            .collect();
        assert_eq!(fields, want, "{args:?}: {report:#}");
        assert_eq!(report["unresolved"], unresolved, "{args:?}: {report:#}");
    }
    // Asana keeps its values whole.
    let task = &s.fake.project_tasks(&s.fake.project_gid())[0];
    assert_eq!(task.notes.chars().count(), notes.chars().count());
}
