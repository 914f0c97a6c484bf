//! Loading a config against the providers linked into the program: every key must be read
//! by this crate or by a linked provider, and every linked provider's checks run. It sits
//! between [`crate::config`] (the file) and [`crate::registry`] (the providers), which do
//! not know each other.

use std::path::Path;

use crate::config::{Config, SHARED_KEYS};
use crate::error::Result;
use crate::registry::descriptors;

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = Config::read_file(path)?;
        Ok(Self::parse(&text, &path.display().to_string())?.read_from(path))
    }

    /// Parses YAML text; `origin` names it in errors (a path, or e.g. `"<string>"`). Checks
    /// the shared settings, that every key is read by this crate or by a linked provider, and
    /// every linked provider's values.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let cfg = Config::parse_shared(text, origin)?;
        let specs: Vec<_> = descriptors()
            .into_iter()
            .filter_map(|d| d.settings)
            .collect();
        let mut known: Vec<&str> = SHARED_KEYS.to_vec();
        for spec in &specs {
            known.extend((spec.keys)());
        }
        cfg.check_keys(&known).map_err(|e| cfg.in_file(e))?;
        for spec in &specs {
            (spec.check)(&cfg).map_err(|e| cfg.in_file(e))?;
        }
        Ok(cfg)
    }
}
