//! Typed settings of the Asana provider, read from `homechoice.ticket` and the environment.
//!
//! Everything the provider needs is gathered here once, at build time, so that a missing
//! project or token is a configuration error naming the key or the environment variable,
//! never a surprise on the first request. `Debug` never shows the token.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ticket_provider_api::{
    BuildContext, Error, Priority, Result, SecretString, Status, ASANA_TOKEN_ENV,
};

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
    /// Optional budget of requests per minute for this process.
    pub requests_per_minute: Option<u32>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
}

impl fmt::Debug for AsanaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsanaSettings")
            .field("base_url", &self.base_url)
            .field("project_gid", &self.project_gid)
            .field("token", &"[redacted]")
            .field("sections", &self.sections)
            .field("priority_tags", &self.priority_tags)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// The default tag name of a priority, e.g. `priority:high`.
pub fn default_priority_tag(priority: Priority) -> String {
    format!("priority:{}", priority.as_str())
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
            requests_per_minute: None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Reads the settings from a build context: `homechoice.ticket.asana_project` (required),
    /// `asana_base_url`, `asana_sections`, `asana_priority_tags`,
    /// `asana_requests_per_minute`, `asana_timeout_ms`, and the token from
    /// [`ASANA_TOKEN_ENV`] (required).
    pub fn from_context(ctx: &BuildContext) -> Result<Self> {
        let config = ctx.config();
        let project = config.require_asana_project()?.to_string();
        let token = ctx.secret(ASANA_TOKEN_ENV).ok_or_else(|| {
            Error::config(format!(
                "the environment variable {ASANA_TOKEN_ENV} is not set; the 'asana' provider needs an Asana personal access token"
            ))
        })?;
        let mut settings = AsanaSettings::new(config.asana_base_url(), project, token);
        let t = &config.ticket;
        for (status, name) in &t.asana_sections {
            settings.sections.insert(*status, name.trim().to_string());
        }
        for (priority, name) in &t.asana_priority_tags {
            settings
                .priority_tags
                .insert(*priority, name.trim().to_string());
        }
        settings.requests_per_minute = t.asana_requests_per_minute;
        if let Some(ms) = t.asana_timeout_ms {
            settings.timeout = Duration::from_millis(ms.max(1));
        }
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
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::config(format!(
                "homechoice.ticket.asana_base_url {:?} must start with http:// or https://",
                self.base_url
            )));
        }
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
        if self.requests_per_minute == Some(0) {
            return Err(Error::config(
                "homechoice.ticket.asana_requests_per_minute must be at least 1",
            ));
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
    fn duplicate_section_names_are_rejected() {
        let mut s = AsanaSettings::new("http://x", "1", SecretString::new("t"));
        s.sections.insert(Status::Closed, "Resolved".into());
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("Resolved"), "{err}");
    }
}
