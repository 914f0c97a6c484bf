//! Checks, in the manner of rust-analyzer's `tidy.rs`, that the text written about the
//! configuration keys is the text their declarations render: the README's key table and
//! `config/config.yaml`. With `UPDATE_README=1` the tests rewrite both instead of failing.

// The checks against the files need every provider's keys: they run with all features.
#[cfg(all(
    feature = "provider-internal",
    feature = "provider-asana",
    feature = "provider-sync"
))]
use {
    crate::keydoc::{config_template, markdown_table},
    std::path::{Path, PathBuf},
};

use crate::{descriptors, key_groups};

const START: &str = "<!-- config-keys:start -->";
const END: &str = "<!-- config-keys:end -->";

#[cfg(all(
    feature = "provider-internal",
    feature = "provider-asana",
    feature = "provider-sync"
))]
fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name)
}

#[cfg(all(
    feature = "provider-internal",
    feature = "provider-asana",
    feature = "provider-sync"
))]
fn updating() -> bool {
    std::env::var("UPDATE_README").is_ok_and(|v| v == "1")
}

#[cfg(all(
    feature = "provider-internal",
    feature = "provider-asana",
    feature = "provider-sync"
))]
/// Fails (or, updating, rewrites the file) when `path`'s text is not `want`.
fn ensure_file(path: &Path, have: &str, want: &str) {
    if have == want {
        return;
    }
    if updating() {
        std::fs::write(path, want).unwrap();
        return;
    }
    panic!(
        "{} is out of date with the settings declarations; run `UPDATE_README=1 cargo test -p homechoice-tickets --all-features tidy` and commit the result",
        path.display()
    );
}

/// `text` with the part between the markers replaced by `section`.
fn with_section(text: &str, section: &str) -> String {
    let start = text
        .find(START)
        .unwrap_or_else(|| panic!("README.md has no {START} marker"));
    let end = text
        .find(END)
        .unwrap_or_else(|| panic!("README.md has no {END} marker"));
    assert!(start < end, "README.md: {END} comes before {START}");
    format!("{}{START}\n{section}{}", &text[..start], &text[end..])
}

#[test]
fn every_declared_key_is_documented_in_field_order() {
    for d in descriptors() {
        let Some(spec) = d.settings else { continue };
        let documented: Vec<&str> = spec.docs.iter().map(|k| k.key).collect();
        assert_eq!(
            documented,
            (spec.keys)(),
            "{}: ProviderSettings::KEYS must document every field of the settings type, in order",
            d.crate_name
        );
        for k in spec.docs {
            assert!(
                !k.kind.is_empty() && !k.default.is_empty() && !k.meaning.is_empty(),
                "{}: {} lacks a type, a default or a meaning",
                d.crate_name,
                k.key
            );
        }
    }
}

#[cfg(all(
    feature = "provider-internal",
    feature = "provider-asana",
    feature = "provider-sync"
))]
#[test]
fn the_readme_key_table_is_rendered_from_the_declarations() {
    let path = repo_file("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let want = with_section(&text, &markdown_table(&key_groups(None)));
    ensure_file(&path, &text, &want);
}

#[cfg(all(
    feature = "provider-internal",
    feature = "provider-asana",
    feature = "provider-sync"
))]
#[test]
fn the_example_config_is_rendered_from_the_declarations() {
    let path = repo_file("config/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    ensure_file(
        &path,
        &text,
        &config_template("internal", &key_groups(None)),
    );
}

#[test]
fn the_section_between_the_markers_is_replaced() {
    let text = format!("a\n{START}\nold\n{END}\nb\n");
    assert_eq!(
        with_section(&text, "new\n"),
        format!("a\n{START}\nnew\n{END}\nb\n")
    );
}

#[test]
fn a_provider_reads_its_own_groups() {
    let all = key_groups(None);
    assert_eq!(all[0].owner, "ticket-provider-api");
    for name in crate::registered_names() {
        let groups = key_groups(Some(name));
        assert_eq!(groups[0].owner, "ticket-provider-api", "{name}");
        assert!(groups.len() <= all.len());
    }
    if cfg!(feature = "provider-sync") {
        let owners: Vec<&str> = key_groups(Some("sync")).iter().map(|g| g.owner).collect();
        assert_eq!(
            owners,
            [
                "ticket-provider-api",
                "provider-internal",
                "provider-asana",
                "provider-sync"
            ]
        );
        let owners: Vec<&str> = key_groups(Some("asana")).iter().map(|g| g.owner).collect();
        assert_eq!(owners, ["ticket-provider-api", "provider-asana"]);
    }
}
