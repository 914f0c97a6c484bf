//! The documentation of configuration keys, declared once beside the settings types
//! ([`crate::ProviderSettings::KEYS`], [`SHARED_KEY_DOCS`]) and rendered from there: the
//! README's key table ([`markdown_table`]) and an annotated config file
//! ([`config_template`], what `ticket init` writes). Pure text in, text out.

use std::fmt::Write as _;

/// One configuration key under `homechoice.ticket`, as an operator reads about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// The key, e.g. `database_url`.
    pub key: &'static str,
    /// Its type in words, e.g. `integer (ms)` or `map: status → section name`.
    pub kind: &'static str,
    /// What applies when the key is absent, in words.
    pub default: &'static str,
    /// An example value, as YAML after `key:` (further lines indented by two spaces).
    pub example: &'static str,
    /// What it does, in one or two sentences.
    pub meaning: &'static str,
    /// Providers that cannot work without it (a config for one of them sets it).
    pub required_by: &'static [&'static str],
}

impl KeyDoc {
    /// A key that no provider requires.
    pub const fn new(
        key: &'static str,
        kind: &'static str,
        default: &'static str,
        example: &'static str,
        meaning: &'static str,
    ) -> Self {
        KeyDoc {
            key,
            kind,
            default,
            example,
            meaning,
            required_by: &[],
        }
    }

    /// Marks the key as required by these providers.
    pub const fn required_by(mut self, providers: &'static [&'static str]) -> Self {
        self.required_by = providers;
        self
    }
}

/// The keys this crate reads (the `provider` to build, the Asana project both Asana-backed
/// providers share, and third-party providers' blocks), in the order of
/// [`crate::config::SHARED_KEYS`].
pub const SHARED_KEY_DOCS: [KeyDoc; 4] = [
    KeyDoc::new(
        "provider",
        "string",
        "`internal`",
        "internal",
        "Registered name of the provider that keeps the tickets: `internal`, `asana`, `sync` or a third party's (`ticket providers` lists the ones compiled in).",
    ),
    KeyDoc::new(
        "asana_project",
        "string of digits",
        "`\"\"` (unset)",
        "\"\"",
        "GID of the Asana project that holds the tickets. The Asana token is never read from the file: set `ASANA_ACCESS_TOKEN`.",
    )
    .required_by(&["asana", "sync"]),
    KeyDoc::new(
        "providers",
        "map: provider name → its settings",
        "none",
        "\n  memory: {max_tickets: 1000}",
        "Settings of third-party providers, one block per name (read with `Config::provider_settings`).",
    ),
    KeyDoc::new(
        "fields",
        "map: field name → `{type, options, precision}`",
        "none",
        "\n  severity: {type: enum, options: [S1, S2, S3]}\n  estimate: {type: number, precision: 1}",
        "The custom fields tickets carry. Types: `text`, `number` (with `precision`, digits after the point), `enum` and `multi_enum` (with `options`), `date`, `people` (e-mails). Every write is checked against it.",
    ),
];

/// The keys of one crate, for rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGroup {
    /// The crate that reads and checks these keys.
    pub owner: &'static str,
    /// The providers that read them (empty: every provider).
    pub used_by: Vec<&'static str>,
    /// The keys, in declaration order.
    pub keys: &'static [KeyDoc],
}

/// The Markdown table of every key: key, owner, type, default, meaning.
pub fn markdown_table(groups: &[KeyGroup]) -> String {
    let mut out =
        String::from("| key | owner | type | default | meaning |\n|---|---|---|---|---|\n");
    for group in groups {
        for k in group.keys {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                k.key,
                group.owner,
                cell(k.kind),
                cell(k.default),
                cell(k.meaning)
            );
        }
    }
    out
}

/// Escapes what would end a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The width comment lines are wrapped to.
const WIDTH: usize = 92;

/// An annotated config file for `provider`: every key of `groups` with its meaning and
/// default as comments; `provider` set, the keys `provider` requires set to their example,
/// every other key commented out with its example value.
pub fn config_template(provider: &str, groups: &[KeyGroup]) -> String {
    let mut out = String::from(
        "# Configuration of the ticket providers (`ticket init --provider NAME` writes one like it).\n\
         # Only the `homechoice.ticket` mapping is read; other keys of this file are left to the\n\
         # rest of the application. An unknown key under `homechoice.ticket` is an error, so typos\n\
         # do not pass silently. Optional keys are commented out with an example value: remove the\n\
         # `# ` in front of a key (and of the lines under it) to use it.\n\
         homechoice:\n  ticket:\n",
    );
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let used_by = if group.used_by.is_empty() {
            "every provider".to_string()
        } else {
            group.used_by.join(", ")
        };
        let _ = writeln!(
            out,
            "    # ---- read by {} (used by {used_by}) ----",
            group.owner
        );
        for k in group.keys {
            let mut about = format!(
                "{} Type: {}. Default: {}.",
                k.meaning,
                k.kind,
                k.default.replace('`', "")
            );
            if !k.required_by.is_empty() {
                let _ = write!(about, " Required by {}.", k.required_by.join(" and "));
            }
            for line in wrap(&about, WIDTH - "    # ".len()) {
                let _ = writeln!(out, "    # {line}");
            }
            let set = k.key == "provider" || k.required_by.contains(&provider);
            let value = if k.key == "provider" {
                provider
            } else {
                k.example
            };
            for line in format!("{}: {value}", k.key).lines() {
                let line = line.trim_end();
                if set {
                    let _ = writeln!(out, "    {line}");
                } else {
                    let _ = writeln!(out, "    # {line}");
                }
            }
        }
    }
    out
}

/// Splits text into lines of at most `width` characters at spaces (a longer word stands
/// alone on its line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [KeyDoc; 2] = [
        KeyDoc::new("mine_a", "integer", "`3`", "5", "How many | of them."),
        KeyDoc::new("mine_b", "string", "none", "x", "Needed.").required_by(&["mine"]),
    ];

    fn groups() -> Vec<KeyGroup> {
        vec![KeyGroup {
            owner: "crate-m",
            used_by: vec!["mine"],
            keys: &KEYS,
        }]
    }

    #[test]
    fn the_table_has_a_row_per_key_with_cells_escaped() {
        assert_eq!(
            markdown_table(&groups()),
            "| key | owner | type | default | meaning |\n|---|---|---|---|---|\n\
             | `mine_a` | crate-m | integer | `3` | How many \\| of them. |\n\
             | `mine_b` | crate-m | string | none | Needed. |\n"
        );
    }

    #[test]
    fn the_template_sets_required_keys_and_comments_out_the_rest() {
        let mine = config_template("mine", &groups());
        assert!(mine.contains("\n    mine_b: x\n"), "{mine}");
        assert!(mine.contains("\n    # mine_a: 5\n"), "{mine}");
        assert!(
            mine.contains("# How many | of them. Type: integer. Default: 3.\n"),
            "{mine}"
        );
        let other = config_template("other", &groups());
        assert!(other.contains("\n    # mine_b: x\n"), "{other}");
    }

    #[test]
    fn the_template_writes_the_chosen_provider_and_nested_examples() {
        let shared = vec![KeyGroup {
            owner: "api",
            used_by: vec![],
            keys: &SHARED_KEY_DOCS,
        }];
        let text = config_template("sync", &shared);
        assert!(text.contains("\n    provider: sync\n"), "{text}");
        assert!(text.contains("\n    asana_project: \"\"\n"), "{text}");
        assert!(
            text.contains("\n    # providers:\n    #   memory: {max_tickets: 1000}\n"),
            "{text}"
        );
        let text = config_template("internal", &shared);
        assert!(text.contains("\n    # asana_project: \"\"\n"), "{text}");
    }

    #[test]
    fn wrapping_keeps_words_and_width() {
        let long = "word ".repeat(40);
        let lines = wrap(&long, 20);
        assert!(lines.iter().all(|l| l.len() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), long.trim_end());
        assert_eq!(wrap("a-very-long-word b", 5), vec!["a-very-long-word", "b"]);
        assert!(wrap("", 10).is_empty());
    }
}
