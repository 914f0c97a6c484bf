//! The provider registry: each provider crate submits a [`ProviderDescriptor`] with
//! [`register_provider!`](crate::register_provider), and [`get_provider`] builds the one the
//! configuration names.
//!
//! A descriptor is only linked into a program if some source file names the provider crate
//! (rustc drops unreferenced dependencies, and their registrations with them). The facade crate
//! does that for first-party providers; a program using a third-party provider writes
//! `use that_provider as _;` or `extern crate that_provider as _;`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::capability::Capabilities;
use crate::config::Config;
use crate::error::{Error, Operation, Result};
use crate::future::BoxFuture;
use crate::layer::ErrorContext;
use crate::provider::TicketProvider;
use crate::secret::SecretString;
use crate::settings::SettingsSpec;

/// What a constructor gets: the configuration and access to secrets from the environment.
#[derive(Clone)]
pub struct BuildContext {
    config: Arc<Config>,
    env: BTreeMap<String, Option<String>>,
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("config", &self.config)
            .field("env_overrides", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BuildContext {
    /// A context that reads secrets from the process environment.
    pub fn new(config: Config) -> Self {
        BuildContext {
            config: Arc::new(config),
            env: BTreeMap::new(),
        }
    }

    /// Overrides one environment variable for this context only (`None`: as if unset). Lets
    /// tests and embedding applications pass a token without touching the process environment.
    pub fn with_env(mut self, name: impl Into<String>, value: Option<String>) -> Self {
        self.env.insert(name.into(), value);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A shared handle to the configuration.
    pub fn config_arc(&self) -> Arc<Config> {
        Arc::clone(&self.config)
    }

    /// An environment variable as a secret (overrides first, then the process environment);
    /// `None` when unset or empty.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        let value = match self.env.get(name) {
            Some(v) => v.clone(),
            None => std::env::var(name).ok(),
        };
        value
            .filter(|v| !v.trim().is_empty())
            .map(SecretString::new)
    }
}

/// Builds a provider from a context.
pub type BuildFn = fn(BuildContext) -> BoxFuture<'static, Result<Arc<dyn TicketProvider>>>;

/// One finding of a provider's self-check (`ticket doctor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What was checked, e.g. `"token"`.
    pub name: String,
    /// Whether it is fine.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do when it is not fine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A failing check with advice.
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs a provider's self-checks.
pub type DoctorFn = fn(BuildContext) -> BoxFuture<'static, Vec<Check>>;

/// A provider's entry in the registry.
#[derive(Debug)]
pub struct ProviderDescriptor {
    /// The name the config selects it by (`homechoice.ticket.provider`).
    pub name: &'static str,
    /// One line on what it stores where.
    pub summary: &'static str,
    /// The crate that registered it (to explain duplicates).
    pub crate_name: &'static str,
    /// What the providers it builds can do (their [`TicketProvider::info`] must say the same).
    pub capabilities: Capabilities,
    /// The constructor.
    pub build: BuildFn,
    /// Optional self-checks for `ticket doctor`.
    pub doctor: Option<DoctorFn>,
    /// The keys it reads under `homechoice.ticket`, and their checks (see
    /// [`crate::config`]).
    pub settings: Option<SettingsSpec>,
}

impl ProviderDescriptor {
    /// A descriptor without self-checks or settings of its own.
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        crate_name: &'static str,
        capabilities: Capabilities,
        build: BuildFn,
    ) -> Self {
        ProviderDescriptor {
            name,
            summary,
            crate_name,
            capabilities,
            build,
            doctor: None,
            settings: None,
        }
    }

    /// Adds self-checks.
    pub const fn with_doctor(mut self, doctor: DoctorFn) -> Self {
        self.doctor = Some(doctor);
        self
    }

    /// Declares the settings the provider reads (its keys become known to
    /// [`Config::parse`], which also runs their checks).
    pub const fn with_settings(mut self, settings: SettingsSpec) -> Self {
        self.settings = Some(settings);
        self
    }
}

inventory::collect!(ProviderDescriptor);

/// Registers a provider with the registry. Use once per provider, at the crate's top level:
///
/// ```ignore
/// ticket_provider_api::register_provider!(ProviderDescriptor::new(
///     "mine",
///     "tickets in my store",
///     env!("CARGO_PKG_NAME"),
///     Capabilities::OPERATIONS,
///     build,
/// ));
/// ```
#[macro_export]
macro_rules! register_provider {
    ($descriptor:expr) => {
        $crate::inventory::submit! { $descriptor }
    };
}

/// Every linked descriptor, sorted by name.
pub fn descriptors() -> Vec<&'static ProviderDescriptor> {
    let mut all: Vec<_> = inventory::iter::<ProviderDescriptor>.into_iter().collect();
    all.sort_by(|a, b| a.name.cmp(b.name).then(a.crate_name.cmp(b.crate_name)));
    all
}

/// The names of every linked provider, sorted, each once.
pub fn registered_names() -> Vec<&'static str> {
    descriptors()
        .into_iter()
        .map(|d| d.name)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The descriptor registered under `name`, or an error that says what to do: the names
/// available, the feature to enable for a first-party provider, or the crates that clash.
pub fn find_descriptor(name: &str) -> Result<&'static ProviderDescriptor> {
    let matches: Vec<_> = descriptors()
        .into_iter()
        .filter(|d| d.name == name)
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let available = registered_names().join(", ");
            Err(Error::config(format!(
                "unknown provider '{name}' in homechoice.ticket.provider; registered providers: {available}"
            ))
            .with_operation(Operation::Build))
        }
        many => {
            let crates: Vec<_> = many.iter().map(|d| d.crate_name).collect();
            Err(Error::config(format!(
                "provider name '{name}' is registered more than once (by {}); each provider needs its own name",
                crates.join(", ")
            ))
            .with_operation(Operation::Build))
        }
    }
}

/// Builds the provider that `homechoice.ticket.provider` names (default `internal`).
///
/// The provider comes wrapped so that every error it returns names the configured provider
/// and the operation ([`Error::in_context`]). Call [`TicketProvider::shutdown`] when done.
pub async fn get_provider(config: &Config) -> Result<Arc<dyn TicketProvider>> {
    build_provider(BuildContext::new(config.clone())).await
}

/// Like [`get_provider`], with a prepared context (e.g. with an overridden environment).
pub async fn build_provider(ctx: BuildContext) -> Result<Arc<dyn TicketProvider>> {
    let name = ctx.config().ticket.provider.clone();
    let descriptor = find_descriptor(&name)?;
    let provider = (descriptor.build)(ctx)
        .await
        .map_err(|e| e.in_context(&name, Operation::Build, None))?;
    Ok(Arc::new(ErrorContext::new(&name, provider)))
}
