//! Typed settings of the Asana provider, read from `homechoice.ticket` and the environment.
//!
//! Everything the provider needs is gathered here once, at build time, so that a missing
//! project or token is a configuration error naming the key or the environment variable,
//! never a surprise on the first request. `Debug` never shows the token.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use ticket_provider_api::{
    BuildContext, Config, Error, FieldSchema, KeyDoc, Priority, ProviderSettings, Result,
    SecretString, Status,
};

/// The environment variable the Asana token is read from. It is never read from a file.
pub const ASANA_TOKEN_ENV: &str = "ASANA_ACCESS_TOKEN";

/// Asana's public API, the default for `asana_base_url`.
pub const DEFAULT_ASANA_BASE_URL: &str = "https://app.asana.com/api/1.0";

/// The Asana provider's keys under `homechoice.ticket` (besides the shared `asana_project`),
/// as written in the file. [`AsanaSettings::from_context`] turns them into settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AsanaConfigKeys {
    /// Base URL of Asana's API: https, or plain http to a loopback host only (a local
    /// Asana-compatible server for tests); never with credentials in it.
    #[serde(default)]
    pub asana_base_url: Option<String>,
    /// Section name per status, overriding the defaults (the status' title).
    #[serde(default)]
    pub asana_sections: BTreeMap<Status, String>,
    /// Tag name per priority, overriding the defaults (`priority:<name>`). Used to write
    /// priority unless `asana_priority_field` is set; with it set, only read, for tasks whose
    /// field has no value (tagged before the switch).
    #[serde(default)]
    pub asana_priority_tags: BTreeMap<Priority, String>,
    /// Keep priority in this enum (single-select) custom field of the project instead of in
    /// tags: the field's name (e.g. `"Priority"`) or gid. Unset (the default): priority
    /// tags. The field must already be on the project (the provider never creates or adds
    /// it) and needs a paid Asana plan; creates and updates set it in the task request
    /// itself, and no priority tag is written.
    #[serde(default)]
    pub asana_priority_field: Option<String>,
    /// The option of `asana_priority_field` for each priority, by name, e.g.
    /// `{normal: Medium}`. Default: the priority's name, capitalised (`Low`, `Normal`,
    /// `High`, `Urgent`). Only with `asana_priority_field`.
    #[serde(default)]
    pub asana_priority_options: BTreeMap<Priority, String>,
    /// The Asana custom field of each declared ticket field (`homechoice.ticket.fields`), by
    /// the field's name or gid, e.g. `{severity: "Severity", customer: "1234567"}`. Unmapped
    /// fields are not kept in Asana.
    #[serde(default)]
    pub asana_fields: BTreeMap<String, String>,
    /// Upper bound on Asana requests per minute for this process.
    #[serde(default)]
    pub asana_requests_per_minute: Option<u32>,
    /// Timeout of one Asana request, in milliseconds.
    #[serde(default)]
    pub asana_timeout_ms: Option<u64>,
    /// Where the `asana` provider keeps what it learned (section, tag and user gids) between
    /// processes; relative to the config file's folder. Default
    /// [`DEFAULT_CACHE_FILE`](crate::DEFAULT_CACHE_FILE) beside the config file; `""` keeps
    /// nothing.
    #[serde(default)]
    pub asana_cache_path: Option<String>,
}

impl AsanaConfigKeys {
    /// The checks of key combinations that settings cannot see.
    fn check_combinations(&self) -> Result<()> {
        if self.asana_timeout_ms == Some(0) {
            return Err(Error::config(
                "homechoice.ticket.asana_timeout_ms must be at least 1 (a timeout of 0 ms fails every request)",
            ));
        }
        if self.asana_priority_field.is_none() && !self.asana_priority_options.is_empty() {
            return Err(Error::config(
                "homechoice.ticket.asana_priority_options needs homechoice.ticket.asana_priority_field (the enum custom field the options belong to); set it, or remove asana_priority_options to keep priority in tags",
            ));
        }
        Ok(())
    }

    /// Applies the keys to settings made with [`AsanaSettings::new`].
    fn apply(&self, settings: &mut AsanaSettings) {
        for (status, name) in &self.asana_sections {
            settings.sections.insert(*status, name.trim().to_string());
        }
        for (priority, name) in &self.asana_priority_tags {
            settings
                .priority_tags
                .insert(*priority, name.trim().to_string());
        }
        settings.priority_field = self
            .asana_priority_field
            .as_deref()
            .map(|f| f.trim().to_string());
        for (priority, name) in &self.asana_priority_options {
            settings
                .priority_options
                .insert(*priority, name.trim().to_string());
        }
        settings.asana_fields = self
            .asana_fields
            .iter()
            .map(|(k, v)| (k.clone(), v.trim().to_string()))
            .collect();
        settings.requests_per_minute = self.asana_requests_per_minute;
        if let Some(ms) = self.asana_timeout_ms {
            settings.timeout = Duration::from_millis(ms);
        }
    }

    /// The cache file of a config whose relative paths resolve against `base_dir`: the
    /// key's path, else the default file name when the config came from a file (`has_file`);
    /// none for `""` or for a config made in code without a path.
    fn cache_path(&self, base_dir: &Path, has_file: bool) -> Option<PathBuf> {
        match self.asana_cache_path.as_deref().map(str::trim) {
            Some("") => None,
            Some(p) => Some(base_dir.join(p)),
            None if has_file => Some(base_dir.join(crate::cache::DEFAULT_CACHE_FILE)),
            None => None,
        }
    }

    fn base_url(&self) -> String {
        self.asana_base_url
            .as_deref()
            .unwrap_or(DEFAULT_ASANA_BASE_URL)
            .trim_end_matches('/')
            .to_string()
    }
}

impl ProviderSettings for AsanaConfigKeys {
    const KEYS: &'static [KeyDoc] = &[
        KeyDoc::new(
            "asana_base_url",
            "URL",
            "`https://app.asana.com/api/1.0`",
            "\"https://app.asana.com/api/1.0\"",
            "Asana's API; point it at a local `asana-fake` to try things out. `https://`, or plain `http://` to a loopback host only; no `user:password@`.",
        ),
        KeyDoc::new(
            "asana_sections",
            "map: status → section name",
            "the status titles (`New`, `In Progress`, ...)",
            "{IN_PROGRESS: Doing}",
            "The project section that holds the tickets of each status.",
        ),
        KeyDoc::new(
            "asana_priority_tags",
            "map: priority → tag name",
            "`priority:<name>`",
            "{urgent: \"P0\"}",
            "The tag that carries each priority (without `asana_priority_field`).",
        ),
        KeyDoc::new(
            "asana_priority_field",
            "string (name or gid)",
            "unset (priority in tags)",
            "Priority",
            "Keep priority in this enum custom field of the project instead of in tags (the field must be on the project; paid plans only).",
        ),
        KeyDoc::new(
            "asana_priority_options",
            "map: priority → option name",
            "`Low`, `Normal`, `High`, `Urgent`",
            "{normal: Medium}",
            "The option of `asana_priority_field` for each priority (only with that key).",
        ),
        KeyDoc::new(
            "asana_fields",
            "map: field → custom field name or gid",
            "none (custom fields not kept in Asana)",
            "{severity: Severity, estimate: \"1234567\"}",
            "The Asana custom field of each field declared in `fields`, bound by gid (a field or option renamed in Asana keeps working). Values ride in the task requests made anyway.",
        ),
        KeyDoc::new(
            "asana_requests_per_minute",
            "integer",
            "no budget",
            "150",
            "Budget of Asana requests per minute for this process (free plans allow 150).",
        ),
        KeyDoc::new(
            "asana_timeout_ms",
            "integer (ms)",
            "`10000`",
            "10000",
            "Timeout of one Asana request (at least 1).",
        ),
        KeyDoc::new(
            "asana_cache_path",
            "path",
            "`.asana-cache.json` beside the config file",
            ".asana-cache.json",
            "Where the `asana` provider keeps section, tag and user gids between processes (never the token; relative paths resolve beside the config file; `\"\"` keeps nothing). `sync` keeps them in its database instead.",
        ),
    ];

    fn check(&self) -> Result<()> {
        self.check_combinations()?;
        let mut settings = AsanaSettings::new(self.base_url(), "0", SecretString::new("unchecked"));
        self.apply(&mut settings);
        settings.validate_mapping()
    }
}

/// The check of the provider's keys when a config loads: [`ProviderSettings::check`], and
/// that every field `asana_fields` maps is declared in `homechoice.ticket.fields`.
pub(crate) fn check_config(config: &Config) -> Result<()> {
    let keys: AsanaConfigKeys = config.settings()?;
    keys.check()?;
    check_mapped_fields(&keys.asana_fields, &config.ticket.fields)
}

/// Every key of `asana_fields` must be a declared field.
fn check_mapped_fields(mapped: &BTreeMap<String, String>, schema: &FieldSchema) -> Result<()> {
    for name in mapped.keys() {
        if schema.get(name).is_none() {
            let declared: Vec<&str> = schema.iter().map(|(n, _)| n).collect();
            let declared = if declared.is_empty() {
                "none is declared".to_string()
            } else {
                format!("declared: {}", declared.join(", "))
            };
            return Err(Error::config(format!(
                "homechoice.ticket.asana_fields.{name}: {name:?} is not a field of homechoice.ticket.fields ({declared}); declare it there or remove it here"
            )));
        }
    }
    Ok(())
}

/// Checks `asana_base_url`: a well-formed http(s) URL without credentials, and plain
/// `http://` only to a loopback host (the token travels in every request's header, so it
/// must not cross a network in clear text; a local `asana-fake` stays reachable). The
/// errors never echo a URL that carries credentials.
fn check_base_url(raw: &str) -> Result<()> {
    const KEY: &str = "homechoice.ticket.asana_base_url";
    // What an error may show of the value: nothing of it when it may hold credentials.
    let shown = if raw.contains('@') {
        "(value not shown: it may hold credentials)".to_string()
    } else {
        format!("{raw:?}")
    };
    let url = reqwest::Url::parse(raw)
        .map_err(|e| Error::config(format!("{KEY} {shown} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(format!(
            "{KEY} must not carry credentials (user:password@host); the token comes from {ASANA_TOKEN_ENV} alone"
        )));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(Error::config(format!(
            "{KEY} {shown} uses plain http:// to a host that is not loopback; the token would travel in clear text, so use https://"
        ))),
        _ => Err(Error::config(format!(
            "{KEY} {shown} must start with http:// or https://"
        ))),
    }
}

/// Whether a URL's host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some(h) if h.eq_ignore_ascii_case("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Request timeout used when `asana_timeout_ms` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many writes (POST/PUT/DELETE) are in flight at once (Asana's concurrent limit).
pub const MAX_WRITES_IN_FLIGHT: usize = 15;

/// At most this many reads (GET) are in flight at once (Asana's concurrent limit).
pub const MAX_READS_IN_FLIGHT: usize = 50;

/// How failed requests are retried.
///
/// * 429: wait what `Retry-After` says (or the backoff delay when it is absent), then retry
///   any request, since a 429 means Asana rejected it; all waits of one call together stay
///   below [`RetryPolicy::max_total_wait`].
/// * 5xx, timeouts and transport errors: retry with exponential backoff and jitter, but only
///   requests that are safe to repeat (reads and idempotent writes). A create (`POST` of a
///   task, story, section or tag) is never repeated after it may have reached Asana.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included (at least 1).
    pub max_attempts: u32,
    /// The first backoff delay; doubled on every further attempt.
    pub base_delay: Duration,
    /// The longest single backoff delay.
    pub max_delay: Duration,
    /// The longest total time one call may spend waiting between attempts.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            max_total_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy with tiny delays, for tests.
    pub fn fast() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_total_wait: Duration::from_secs(10),
        }
    }
}

/// Everything [`crate::AsanaProvider::new`] needs.
#[derive(Clone)]
pub struct AsanaSettings {
    /// Base URL of the API, without a trailing slash (e.g. `https://app.asana.com/api/1.0`).
    pub base_url: String,
    /// GID of the project whose tasks are the tickets.
    pub project_gid: String,
    /// The personal access token.
    pub token: SecretString,
    /// Section name per status (every status has one; defaults are [`Status::title`]).
    pub sections: BTreeMap<Status, String>,
    /// Tag name per priority (every priority has one; defaults are `priority:<name>`).
    pub priority_tags: BTreeMap<Priority, String>,
    /// The enum custom field that holds priority (name or gid); `None` keeps priority in
    /// tags.
    pub priority_field: Option<String>,
    /// Option name of `priority_field` per priority (every priority has one; defaults are
    /// [`default_priority_option`]).
    pub priority_options: BTreeMap<Priority, String>,
    /// The custom fields tickets carry (`homechoice.ticket.fields`).
    pub fields: FieldSchema,
    /// The Asana custom field (name or gid) of each mapped field of [`Self::fields`]
    /// (`asana_fields`); every key must be declared there.
    pub asana_fields: BTreeMap<String, String>,
    /// Optional budget of requests per minute for this process.
    pub requests_per_minute: Option<u32>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// The file that keeps section, tag and user gids between processes
    /// ([`crate::CacheFile`]); `None` keeps them in memory only.
    pub cache_path: Option<PathBuf>,
}

impl fmt::Debug for AsanaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsanaSettings")
            .field("base_url", &self.base_url)
            .field("project_gid", &self.project_gid)
            .field("token", &"[redacted]")
            .field("sections", &self.sections)
            .field("priority_tags", &self.priority_tags)
            .field("priority_field", &self.priority_field)
            .field("priority_options", &self.priority_options)
            .field("fields", &self.fields)
            .field("asana_fields", &self.asana_fields)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("cache_path", &self.cache_path)
            .finish()
    }
}

/// The default tag name of a priority, e.g. `priority:high`.
pub fn default_priority_tag(priority: Priority) -> String {
    format!("priority:{}", priority.as_str())
}

/// The default option name of a priority in the priority custom field: its name,
/// capitalised (`Low`, `Normal`, `High`, `Urgent`).
pub fn default_priority_option(priority: Priority) -> String {
    let name = priority.as_str();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl AsanaSettings {
    /// Settings with default section and tag names, timeout and retry policy.
    pub fn new(
        base_url: impl Into<String>,
        project_gid: impl Into<String>,
        token: SecretString,
    ) -> Self {
        AsanaSettings {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            project_gid: project_gid.into(),
            token,
            sections: Status::ALL
                .into_iter()
                .map(|s| (s, s.title().to_string()))
                .collect(),
            priority_tags: Priority::ALL
                .into_iter()
                .map(|p| (p, default_priority_tag(p)))
                .collect(),
            priority_field: None,
            priority_options: Priority::ALL
                .into_iter()
                .map(|p| (p, default_priority_option(p)))
                .collect(),
            fields: FieldSchema::default(),
            asana_fields: BTreeMap::new(),
            requests_per_minute: None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            cache_path: None,
        }
    }

    /// Reads the settings from a build context: `homechoice.ticket.asana_project` (required),
    /// `asana_base_url`, `asana_sections`, `asana_priority_tags`, `asana_priority_field`,
    /// `asana_priority_options`, `asana_requests_per_minute`, `asana_timeout_ms`, `asana_cache_path`, and the token
    /// from [`ASANA_TOKEN_ENV`] (required).
    pub fn from_context(ctx: &BuildContext) -> Result<Self> {
        let config = ctx.config();
        let project = config.require_asana_project()?.to_string();
        let keys: AsanaConfigKeys = config.settings()?;
        keys.check_combinations()?;
        let token = ctx.secret(ASANA_TOKEN_ENV).ok_or_else(|| {
            Error::config(format!(
                "the environment variable {ASANA_TOKEN_ENV} is not set; the '{}' provider needs an Asana personal access token",
                config.ticket.provider
            ))
        })?;
        let mut settings = AsanaSettings::new(keys.base_url(), project, token);
        keys.apply(&mut settings);
        settings.fields = config.ticket.fields.clone();
        settings.cache_path = keys.cache_path(&config.base_dir(), config.source().is_some());
        Ok(settings)
    }

    /// Checks the settings that [`AsanaSettings::new`] cannot: a digit-only project GID, a
    /// non-empty token, an http(s) URL and distinct section and tag names.
    pub fn validate(&self) -> Result<()> {
        if self.project_gid.is_empty() || !self.project_gid.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::config(format!(
                "homechoice.ticket.asana_project {:?} is not an Asana GID (a string of digits)",
                self.project_gid
            )));
        }
        if self.token.expose().trim().is_empty() {
            return Err(Error::config(format!(
                "the Asana token is empty; set {ASANA_TOKEN_ENV}"
            )));
        }
        // Known now, not at the first request: a header cannot carry control characters.
        if self.token.expose().chars().any(char::is_control) {
            return Err(Error::config(format!(
                "the Asana token in {ASANA_TOKEN_ENV} contains control characters (a newline from a file?); set it to the token alone"
            )));
        }
        self.validate_mapping()?;
        check_mapped_fields(&self.asana_fields, &self.fields)
    }

    /// The checks of the config keys: an http(s) URL, distinct non-empty section and tag
    /// names, a positive request budget.
    fn validate_mapping(&self) -> Result<()> {
        check_base_url(&self.base_url)?;
        for status in Status::ALL {
            let name = self.section_name(status);
            if name.trim().is_empty() {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_sections.{status} must not be empty"
                )));
            }
            if let Some(other) = Status::ALL
                .into_iter()
                .find(|o| *o != status && self.section_name(*o) == name)
            {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_sections: {status} and {other} both use the section {name:?}; every status needs its own section"
                )));
            }
        }
        for priority in Priority::ALL {
            let name = self.tag_name(priority);
            if name.trim().is_empty() {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_priority_tags.{priority} must not be empty"
                )));
            }
            if let Some(other) = Priority::ALL
                .into_iter()
                .find(|o| *o != priority && self.tag_name(*o) == name)
            {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_priority_tags: {priority} and {other} both use the tag {name:?}; every priority needs its own tag"
                )));
            }
        }
        match self.priority_field.as_deref() {
            Some("") => {
                return Err(Error::config(
                    "homechoice.ticket.asana_priority_field must not be empty; remove it to keep priority in tags",
                ))
            }
            Some(_) => {
                for priority in Priority::ALL {
                    let name = self.option_name(priority);
                    if name.trim().is_empty() {
                        return Err(Error::config(format!(
                            "homechoice.ticket.asana_priority_options.{priority} must not be empty"
                        )));
                    }
                    if let Some(other) = Priority::ALL
                        .into_iter()
                        .find(|o| *o != priority && self.option_name(*o) == name)
                    {
                        return Err(Error::config(format!(
                            "homechoice.ticket.asana_priority_options: {priority} and {other} both use the option {name:?}; every priority needs its own option"
                        )));
                    }
                }
            }
            None => {}
        }
        if self.requests_per_minute == Some(0) {
            return Err(Error::config(
                "homechoice.ticket.asana_requests_per_minute must be at least 1",
            ));
        }
        self.validate_asana_fields()
    }

    /// `asana_fields`: each value a custom field's name or gid (one line, not empty, at most
    /// 200 characters), no Asana field mapped twice, and not the priority field.
    fn validate_asana_fields(&self) -> Result<()> {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (name, asana) in &self.asana_fields {
            let key = format!("homechoice.ticket.asana_fields.{name}");
            if asana.trim().is_empty() {
                return Err(Error::config(format!(
                    "{key} must name an Asana custom field (its name or gid); remove it to keep {name} out of Asana"
                )));
            }
            if asana.chars().any(char::is_control) || asana.chars().count() > 200 {
                return Err(Error::config(format!(
                    "{key} must be one line of at most 200 characters (an Asana custom field's name or gid)"
                )));
            }
            let folded = asana.trim().to_lowercase();
            if let Some(other) = seen.insert(folded.clone(), name) {
                return Err(Error::config(format!(
                    "homechoice.ticket.asana_fields: {other} and {name} both map to the Asana custom field {asana:?}; every field needs its own"
                )));
            }
            if self
                .priority_field
                .as_deref()
                .is_some_and(|p| p.trim().to_lowercase() == folded)
            {
                return Err(Error::config(format!(
                    "{key}: {asana:?} is the priority field (homechoice.ticket.asana_priority_field); map {name} to another custom field"
                )));
            }
        }
        Ok(())
    }

    /// The section name of a status.
    pub fn section_name(&self, status: Status) -> String {
        self.sections
            .get(&status)
            .cloned()
            .unwrap_or_else(|| status.title().to_string())
    }

    /// The option name of a priority in the priority custom field.
    pub fn option_name(&self, priority: Priority) -> String {
        self.priority_options
            .get(&priority)
            .cloned()
            .unwrap_or_else(|| default_priority_option(priority))
    }

    /// The tag name of a priority.
    pub fn tag_name(&self, priority: Priority) -> String {
        self.priority_tags
            .get(&priority)
            .cloned()
            .unwrap_or_else(|| default_priority_tag(priority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_provider_api::{Config, ErrorKind};

    fn ctx(yaml: &str, token: Option<&str>) -> BuildContext {
        BuildContext::new(Config::parse(yaml, "test").unwrap())
            .with_env(ASANA_TOKEN_ENV, token.map(str::to_string))
    }

    #[test]
    fn keys_are_checked_when_a_file_loads() {
        for (text, needle) in [
            ("asana_base_url: 'ftp://x'", "asana_base_url"),
            ("asana_sections: {done: Done}", "done"),
            ("asana_sections: {new: A, triaged: A}", "asana_sections"),
            (
                "asana_priority_tags: {high: ' '}",
                "asana_priority_tags.high",
            ),
            ("asana_requests_per_minute: 0", "asana_requests_per_minute"),
            (
                "asana_requests_per_minute: lots",
                "asana_requests_per_minute",
            ),
            ("asana_timeout_ms: -1", "asana_timeout_ms"),
            ("asana_timeout_ms: 0", "asana_timeout_ms"),
            ("asana_base_url: 'http://example.com/api'", "clear text"),
            ("asana_base_url: 'http://10.0.0.1/api'", "clear text"),
            (
                "asana_base_url: 'http://127.0.0.1.example.com'",
                "clear text",
            ),
            ("asana_base_url: 'https://'", "not a URL"),
            ("asana_base_url: 'http://[::1'", "not a URL"),
            ("asana_base_url: 'https://u:p@app.asana.com'", "credentials"),
            ("asana_base_url: 'http://tok@127.0.0.1:1'", "credentials"),
        ] {
            let yaml = format!("homechoice:\n  ticket:\n    {text}\n");
            let err = Config::parse(&yaml, "c.yaml").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            let msg = err.to_string();
            assert!(
                msg.contains(needle) && msg.contains("c.yaml"),
                "{text}: {msg}"
            );
        }
        for loopback in [
            "http://127.0.0.1:1/api",
            "http://127.8.0.1/api",
            "http://localhost:9/api",
            "http://[::1]:9/api",
            "https://example.com/api",
        ] {
            let yaml = format!("homechoice:\n  ticket:\n    asana_base_url: '{loopback}'\n");
            assert!(Config::parse(&yaml, "c.yaml").is_ok(), "{loopback}");
        }
        let keys: AsanaConfigKeys = Config::parse(
            "homechoice:\n  ticket:\n    asana_base_url: http://127.0.0.1:1/api/\n",
            "c",
        )
        .unwrap()
        .settings()
        .unwrap();
        assert_eq!(keys.base_url(), "http://127.0.0.1:1/api");
        assert_eq!(
            AsanaConfigKeys::default().base_url(),
            DEFAULT_ASANA_BASE_URL
        );
    }

    #[test]
    fn missing_project_and_token_name_the_key() {
        let err = AsanaSettings::from_context(&ctx("", Some("t"))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("asana_project"), "{err}");
        let err = AsanaSettings::from_context(&ctx(
            "homechoice:\n  ticket:\n    asana_project: \"12\"\n",
            None,
        ))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains(ASANA_TOKEN_ENV), "{err}");
    }

    #[test]
    fn overrides_apply_and_debug_hides_token() {
        let s = AsanaSettings::from_context(&ctx(
            "homechoice:\n  ticket:\n    asana_project: \"12\"\n    asana_sections: {new: Inbox}\n    asana_priority_tags: {high: P1}\n    asana_timeout_ms: 500\n",
            Some("very-secret-token"),
        ))
        .unwrap();
        assert_eq!(s.section_name(Status::New), "Inbox");
        assert_eq!(s.section_name(Status::OnHold), "On Hold");
        assert_eq!(s.tag_name(Priority::High), "P1");
        assert_eq!(s.tag_name(Priority::Low), "priority:low");
        assert_eq!(s.timeout, Duration::from_millis(500));
        assert!(s.validate().is_ok());
        assert!(!format!("{s:?}").contains("very-secret-token"));
    }

    #[test]
    fn problems_known_at_load_are_config_errors_that_show_no_secret() {
        let project = "homechoice:\n  ticket:\n    asana_project: \"12\"\n";
        for token in ["tok\nen-secret", "tok\ren-secret", "tok\u{1b}en-secret"] {
            let s = AsanaSettings::from_context(&ctx(project, Some(token))).unwrap();
            let err = s.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{token:?}");
            assert!(err.to_string().contains(ASANA_TOKEN_ENV), "{err}");
            assert!(!err.to_string().contains("en-secret"), "{err}");
        }
        for url in [
            "https://user:hunter2@app.asana.com/api/1.0",
            "http://hunter2@127.0.0.1:1",
            "http://hunter2@[::1",
        ] {
            let yaml = format!("{project}    asana_base_url: '{url}'\n");
            let err = Config::parse(&yaml, "c.yaml").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(err.to_string().contains("asana_base_url"), "{err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn the_cache_file_sits_beside_the_config_file_unless_told() {
        let keys = |yaml: &str| -> AsanaConfigKeys {
            Config::parse(&format!("homechoice:\n  ticket:\n{yaml}"), "c")
                .unwrap()
                .settings()
                .unwrap()
        };
        let base = Path::new("/etc/tickets");
        assert_eq!(
            keys("").cache_path(base, true),
            Some(base.join(".asana-cache.json"))
        );
        assert_eq!(
            keys("").cache_path(base, false),
            None,
            "no file, no default"
        );
        assert_eq!(
            keys("    asana_cache_path: cache/a.json\n").cache_path(base, false),
            Some(base.join("cache/a.json"))
        );
        assert_eq!(
            keys("    asana_cache_path: /var/cache/a.json\n").cache_path(base, true),
            Some(PathBuf::from("/var/cache/a.json"))
        );
        assert_eq!(
            keys("    asana_cache_path: ''\n").cache_path(base, true),
            None
        );
    }

    #[test]
    fn the_priority_field_and_its_options_are_read_and_checked() {
        let s = AsanaSettings::from_context(&ctx(
            "homechoice:\n  ticket:\n    asana_project: \"12\"\n    asana_priority_field: ' Priority '\n    asana_priority_options: {normal: Medium}\n",
            Some("t"),
        ))
        .unwrap();
        assert_eq!(s.priority_field.as_deref(), Some("Priority"));
        assert_eq!(s.option_name(Priority::Normal), "Medium");
        assert_eq!(s.option_name(Priority::Urgent), "Urgent");
        assert!(s.validate().is_ok());
        // Unset: tags, as before.
        let s = AsanaSettings::from_context(&ctx(
            "homechoice:\n  ticket:\n    asana_project: \"12\"\n",
            Some("t"),
        ))
        .unwrap();
        assert_eq!(s.priority_field, None);
        assert_eq!(
            Priority::ALL.map(default_priority_option),
            ["Low", "Normal", "High", "Urgent"]
        );

        for (text, needle) in [
            (
                "asana_priority_options: {high: P1}",
                "asana_priority_options needs homechoice.ticket.asana_priority_field",
            ),
            (
                "asana_priority_field: ''",
                "asana_priority_field must not be empty",
            ),
            (
                "asana_priority_field: P\n    asana_priority_options: {low: ' '}",
                "asana_priority_options.low must not be empty",
            ),
            (
                "asana_priority_field: P\n    asana_priority_options: {low: High}",
                "low and high both use the option \"High\"",
            ),
        ] {
            let yaml = format!("homechoice:\n  ticket:\n    {text}\n");
            let err = Config::parse(&yaml, "c.yaml").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{text}");
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn duplicate_section_names_are_rejected() {
        let mut s = AsanaSettings::new("http://localhost", "1", SecretString::new("t"));
        s.sections.insert(Status::Closed, "Resolved".into());
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("Resolved"), "{err}");
    }
}
