//! `ticket init`: writes an annotated config file for one provider, rendered from the keys
//! the linked providers declare, and never overwrites one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use homechoice_tickets::keydoc::config_template;
use homechoice_tickets::{
    find_descriptor, key_groups, registered_names, Error, ErrorKind, FIRST_PARTY_PROVIDERS,
};
use serde::Serialize;

use crate::output::Printer;
use crate::session::{ConfigSource, LOCAL_CONFIG};

/// What `ticket init` reports.
#[derive(Debug, Serialize)]
struct Written {
    path: PathBuf,
    provider: String,
}

/// Writes the config file for `provider` at `named` (`--config` or `$TICKET_CONFIG`), else
/// at `./config/config.yaml`.
pub(crate) fn run(named: Option<&Path>, provider: &str, out: &Printer) -> Result<(), Error> {
    check_provider(provider)?;
    let path = named.map_or_else(|| PathBuf::from(LOCAL_CONFIG), Path::to_path_buf);
    let text = config_template(provider, &key_groups(Some(provider)));
    write_new(&path, &text)?;
    if named.is_none() {
        if let Some(store) = ConfigSource::default_store() {
            if store.exists() {
                // Tickets made before the file existed are not moved, nor forgotten.
                crate::output::note(&format!(
                    "ticket: the tickets made without a config file stay in {}; set database_url to that path to keep using them",
                    store.display()
                ));
            }
        }
    }
    let written = Written {
        path,
        provider: provider.to_string(),
    };
    out.emit(&written, || {
        format!(
            "wrote {} for provider {provider}; edit it, then `ticket doctor` checks it",
            written.path.display()
        )
    })
}

/// A provider of this build, or an invalid-input error listing the ones there are.
fn check_provider(name: &str) -> Result<(), Error> {
    let Err(e) = find_descriptor(name) else {
        return Ok(());
    };
    if FIRST_PARTY_PROVIDERS.iter().any(|(n, _)| *n == name) {
        // Known but not compiled in: the message names the feature to enable.
        return Err(Error::invalid_input(e.message().to_string()));
    }
    Err(Error::invalid_input(format!(
        "unknown provider {name:?} for ticket init --provider; the providers of this build are: {}",
        registered_names().join(", ")
    )))
}

/// Creates `path` with `text`; an existing file is left as it is and is an error.
fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    let exists = || {
        Error::new(
            ErrorKind::Conflict,
            format!(
                "{} already exists; ticket init never overwrites a config file (edit it, or move it away first)",
                path.display()
            ),
        )
    };
    if path.exists() {
        return Err(exists());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    }
    // `create_new`: a file made by someone else in the meantime is not overwritten either.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(),
            _ => Error::config(format!("cannot create {}: {e}", path.display())),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::config(format!("cannot write {}: {e}", path.display())))
}
