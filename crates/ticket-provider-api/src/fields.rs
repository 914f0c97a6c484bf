//! Custom fields and labels: a ticket's data beyond the built-in fields.
//!
//! * A deployment declares its **custom fields** once, in `homechoice.ticket.fields`
//!   ([`FieldSchema`]): a name and a [`FieldType`] each (text, number with a precision, enum
//!   and multi-enum with their options, date, people).
//! * A ticket carries `fields`, name → [`FieldValue`], and `labels`, a set of strings.
//! * Every write is checked against the declaration by [`FieldSchema::check_value`]: an
//!   unknown field, a value of the wrong type or an unknown option is refused with an error
//!   that names it, before anything is written. The same function turns an untyped value (a
//!   JSON string, the text of `--field NAME=VALUE`) into the declared type.
//!
//! Values have one canonical text form each ([`FieldValue::stored`]): what a store keeps and
//! compares, and what history shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::due::Due;
use crate::error::{Error, Result};
use crate::text::check_line;

/// The most custom fields a deployment may declare.
pub const MAX_FIELDS: usize = 100;
/// Longest field name, in characters.
pub const MAX_FIELD_NAME_CHARS: usize = 64;
/// The most options an enum or multi-enum field may declare (Asana's limit).
pub const MAX_OPTIONS: usize = 500;
/// Longest option name, label or text value element, in characters.
pub const MAX_OPTION_CHARS: usize = 100;
/// Longest text field value, in characters.
pub const MAX_TEXT_FIELD_CHARS: usize = 1024;
/// The most people in a people field.
pub const MAX_PEOPLE: usize = 50;
/// The most labels on a ticket.
pub const MAX_LABELS: usize = 50;
/// The most significant digits of a number: what a double (Asana's number) holds exactly.
pub const MAX_NUMBER_DIGITS: usize = 15;
/// The largest precision of a number field (Asana's limit).
pub const MAX_PRECISION: u32 = 6;

/// Names a custom field may not take: the built-in fields, and the words the CLI and the
/// JSON output use beside them.
pub const RESERVED_FIELD_NAMES: &[&str] = &[
    "guid",
    "subject",
    "description",
    "status",
    "priority",
    "assignee",
    "due",
    "labels",
    "fields",
    "created_at",
    "updated_at",
    "provider",
    "asana_gid",
    "sync_state",
    "comments",
];

/// A ticket's custom field values, by field name.
pub type Fields = BTreeMap<String, FieldValue>;
/// A ticket's labels.
pub type Labels = BTreeSet<String>;

/// The type of a declared custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// One line of text.
    Text,
    /// An exact decimal with at most `precision` digits after the point.
    Number {
        /// Digits after the point, 0 to [`MAX_PRECISION`].
        precision: u32,
    },
    /// One of the options.
    Enum {
        /// The options, in declared order.
        options: Vec<String>,
    },
    /// A set of the options.
    MultiEnum {
        /// The options, in declared order.
        options: Vec<String>,
    },
    /// A day or an instant, with the rules of [`Due`].
    Date,
    /// A set of people, by e-mail.
    People,
}

impl FieldType {
    /// The type's name in config (`text`, `number`, `enum`, `multi_enum`, `date`, `people`).
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number { .. } => "number",
            FieldType::Enum { .. } => "enum",
            FieldType::MultiEnum { .. } => "multi_enum",
            FieldType::Date => "date",
            FieldType::People => "people",
        }
    }

    /// Whether a value is a set (multi-enum, people): a filter on it matches tickets whose
    /// set holds every element given.
    pub fn is_set(&self) -> bool {
        matches!(self, FieldType::MultiEnum { .. } | FieldType::People)
    }

    /// The declared options (empty for a type without options).
    pub fn options(&self) -> &[String] {
        match self {
            FieldType::Enum { options } | FieldType::MultiEnum { options } => options,
            _ => &[],
        }
    }
}

/// A declaration as written in config: `{type: enum, options: [S1, S2]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldDeclFile {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    precision: Option<u32>,
    #[serde(default)]
    options: Option<Vec<String>>,
}

/// The custom fields a deployment declares (`homechoice.ticket.fields`), by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSchema {
    fields: BTreeMap<String, FieldType>,
}

impl FieldSchema {
    /// A schema of these fields, checked: names, options and precisions.
    pub fn new(fields: impl IntoIterator<Item = (String, FieldType)>) -> Result<Self> {
        let mut out = BTreeMap::new();
        for (name, ty) in fields {
            check_field_name(&name)?;
            check_type(&name, &ty)?;
            if out.insert(name.clone(), ty).is_some() {
                return Err(Error::invalid_input(format!(
                    "field {name:?} is declared twice"
                )));
            }
        }
        if out.len() > MAX_FIELDS {
            return Err(Error::invalid_input(format!(
                "{} fields are declared; the limit is {MAX_FIELDS}",
                out.len()
            )));
        }
        Ok(FieldSchema { fields: out })
    }

    /// The schema of config's `fields` mapping; errors name the field and what is wrong.
    pub(crate) fn from_decls(map: BTreeMap<String, FieldDeclFile>) -> Result<Self> {
        let mut fields = Vec::with_capacity(map.len());
        for (name, decl) in map {
            fields.push((name.clone(), decl_type(&name, decl)?));
        }
        Self::new(fields)
            .map_err(|e| Error::config(format!("homechoice.ticket.fields: {}", e.message())))
    }

    /// True when no field is declared.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The declared type of a field.
    pub fn get(&self, name: &str) -> Option<&FieldType> {
        self.fields.get(name)
    }

    /// The declared fields, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldType)> {
        self.fields.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// The declared type of `name`, or an error naming the field and the declared ones.
    pub fn field(&self, name: &str) -> Result<&FieldType> {
        self.fields.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.fields.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none is declared (homechoice.ticket.fields)".to_string()
            } else {
                format!("declared: {}", known.join(", "))
            };
            Error::invalid_input(format!("unknown field {name:?}; {known}"))
        })
    }

    /// Checks `value` against the declaration of `name` and returns it in the declared type
    /// and canonical form: a text becomes an option, a day or a number when the field is
    /// one; a list becomes people when the field holds people.
    pub fn check_value(&self, name: &str, value: FieldValue) -> Result<FieldValue> {
        let ty = self.field(name)?;
        coerce(name, ty, value)
    }

    /// Parses the text of `--field NAME=VALUE` (sets are comma-separated) as field `name`.
    pub fn parse_arg(&self, name: &str, text: &str) -> Result<FieldValue> {
        let ty = self.field(name)?;
        let value = if ty.is_set() {
            FieldValue::MultiEnum(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            )
        } else {
            FieldValue::Text(text.to_string())
        };
        coerce(name, ty, value)
    }

    /// Checks every value of `fields` (see [`FieldSchema::check_value`]) in place. An empty
    /// set is no value: it is dropped, as a store keeps no element of it.
    pub fn check_fields(&self, fields: &mut Fields) -> Result<()> {
        let taken = std::mem::take(fields);
        for (name, value) in taken {
            let v = self.check_value(&name, value)?;
            if !v.is_empty() {
                fields.insert(name, v);
            }
        }
        Ok(())
    }

    /// Checks the field changes of an update: a set value as [`FieldSchema::check_value`]
    /// (an empty set clears the field), a clear only that the field is declared.
    pub fn check_changes(&self, changes: &mut BTreeMap<String, Option<FieldValue>>) -> Result<()> {
        let taken = std::mem::take(changes);
        for (name, value) in taken {
            let v = match value {
                Some(v) => Some(self.check_value(&name, v)?).filter(|v| !v.is_empty()),
                None => {
                    self.field(&name)?;
                    None
                }
            };
            changes.insert(name, v);
        }
        Ok(())
    }
}

fn decl_type(name: &str, decl: FieldDeclFile) -> Result<FieldType> {
    let bad = |what: String| Error::config(format!("homechoice.ticket.fields.{name}: {what}"));
    let no_options = |decl: &FieldDeclFile| match decl.options {
        Some(_) => Err(bad(format!("a {} field has no options", decl.ty))),
        None => Ok(()),
    };
    let no_precision = |decl: &FieldDeclFile| match decl.precision {
        Some(_) => Err(bad(format!("a {} field has no precision", decl.ty))),
        None => Ok(()),
    };
    let ty = match decl.ty.as_str() {
        "text" => FieldType::Text,
        "number" => {
            no_options(&decl)?;
            FieldType::Number {
                precision: decl.precision.unwrap_or(0),
            }
        }
        "enum" | "multi_enum" => {
            no_precision(&decl)?;
            let options = decl
                .options
                .clone()
                .ok_or_else(|| bad(format!("a {} field needs `options`", decl.ty)))?;
            if decl.ty == "enum" {
                FieldType::Enum { options }
            } else {
                FieldType::MultiEnum { options }
            }
        }
        "date" => FieldType::Date,
        "people" => FieldType::People,
        other => {
            return Err(bad(format!(
                "unknown type {other:?}; expected text, number, enum, multi_enum, date or people"
            )))
        }
    };
    if matches!(ty, FieldType::Text | FieldType::Date | FieldType::People) {
        no_options(&decl)?;
        no_precision(&decl)?;
    }
    Ok(ty)
}

/// Checks a field name: lower-case letters, digits and `_`, starting with a letter, not a
/// built-in name.
pub fn check_field_name(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !ok_chars || !starts || name.chars().count() > MAX_FIELD_NAME_CHARS {
        return Err(Error::invalid_input(format!(
            "field name {name:?} must start with a lower-case letter and hold only a-z, 0-9 and _ (at most {MAX_FIELD_NAME_CHARS} characters)"
        )));
    }
    if RESERVED_FIELD_NAMES.contains(&name) {
        return Err(Error::invalid_input(format!(
            "field name {name:?} is a built-in field's name; choose another"
        )));
    }
    Ok(())
}

fn check_type(name: &str, ty: &FieldType) -> Result<()> {
    match ty {
        FieldType::Number { precision } if *precision > MAX_PRECISION => {
            Err(Error::invalid_input(format!(
                "field {name:?}: precision {precision} is too large; the limit is {MAX_PRECISION}"
            )))
        }
        FieldType::Enum { options } | FieldType::MultiEnum { options } => {
            if options.is_empty() {
                return Err(Error::invalid_input(format!(
                    "field {name:?} declares no options"
                )));
            }
            if options.len() > MAX_OPTIONS {
                return Err(Error::invalid_input(format!(
                    "field {name:?} declares {} options; the limit is {MAX_OPTIONS}",
                    options.len()
                )));
            }
            let mut seen = BTreeSet::new();
            for o in options {
                let what = format!("option of field {name:?}");
                check_element(&what, o)?;
                crate::text::check_no_hiding(&what, o)?;
                if !seen.insert(o.as_str()) {
                    return Err(Error::invalid_input(format!(
                        "field {name:?} declares option {o:?} twice"
                    )));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks an option name, a label or a person: one line, no commas (they separate the
/// elements of `--field NAME=a,b`), at most [`MAX_OPTION_CHARS`] characters, no leading or
/// trailing space.
fn check_element(what: &str, text: &str) -> Result<()> {
    check_line(what, text, MAX_OPTION_CHARS)?;
    if text.contains(',') {
        return Err(Error::invalid_input(format!(
            "{what} {text:?} must not contain a comma"
        )));
    }
    if text.trim() != text {
        return Err(Error::invalid_input(format!(
            "{what} {text:?} must not start or end with a space"
        )));
    }
    Ok(())
}

/// Checks a label: one line, no comma (it separates the elements of `--field NAME=a,b`), at
/// most [`MAX_OPTION_CHARS`] characters, no leading or trailing space.
pub fn check_label(label: &str) -> Result<()> {
    check_element("label", label)
}

/// Checks a set of labels: each one, and at most [`MAX_LABELS`].
pub fn check_labels(labels: &Labels) -> Result<()> {
    if labels.len() > MAX_LABELS {
        return Err(Error::invalid_input(format!(
            "{} labels; the limit is {MAX_LABELS}",
            labels.len()
        )));
    }
    labels.iter().try_for_each(|l| check_label(l))
}

/// Applies an update's field changes (set or clear) to a ticket's fields.
pub fn apply_field_changes(fields: &mut Fields, changes: &BTreeMap<String, Option<FieldValue>>) {
    for (name, value) in changes {
        match value {
            Some(v) => {
                fields.insert(name.clone(), v.clone());
            }
            None => {
                fields.remove(name);
            }
        }
    }
}

/// Whether a ticket with these fields and labels passes a list's field and label filters
/// (every filter value matches, see [`FieldValue::matches`]; every label is carried).
pub fn passes_filters(
    fields: &Fields,
    labels: &Labels,
    want: &Fields,
    want_labels: &Labels,
) -> bool {
    want_labels.is_subset(labels)
        && want
            .iter()
            .all(|(name, w)| fields.get(name).is_some_and(|have| have.matches(w)))
}

/// The value of `value` as field `name` of type `ty` (see [`FieldSchema::check_value`]).
fn coerce(name: &str, ty: &FieldType, value: FieldValue) -> Result<FieldValue> {
    let wrong = |value: &FieldValue| {
        Error::invalid_input(format!(
            "field {name:?} is a {} field; {} is not a {} value",
            ty.name(),
            value.describe(),
            ty.name()
        ))
    };
    let what = format!("field {name:?}");
    match (ty, value) {
        (FieldType::Text, FieldValue::Text(t)) => {
            check_line(&what, &t, MAX_TEXT_FIELD_CHARS)?;
            Ok(FieldValue::Text(t))
        }
        (FieldType::Number { precision }, FieldValue::Number(n)) => {
            n.check_precision(&what, *precision)?;
            Ok(FieldValue::Number(n))
        }
        (FieldType::Number { precision }, FieldValue::Text(t)) => {
            let n: Decimal = t
                .trim()
                .parse()
                .map_err(|e: Error| Error::invalid_input(format!("{what}: {}", e.message())))?;
            n.check_precision(&what, *precision)?;
            Ok(FieldValue::Number(n))
        }
        (FieldType::Enum { options }, FieldValue::Text(t) | FieldValue::Enum(t)) => {
            let t = t.trim().to_string();
            option_of(name, options, &t)?;
            Ok(FieldValue::Enum(t))
        }
        (FieldType::MultiEnum { options }, FieldValue::MultiEnum(set)) => {
            for o in &set {
                option_of(name, options, o)?;
            }
            Ok(FieldValue::MultiEnum(set))
        }
        (FieldType::MultiEnum { options }, FieldValue::Text(t) | FieldValue::Enum(t)) => {
            let t = t.trim().to_string();
            option_of(name, options, &t)?;
            Ok(FieldValue::MultiEnum([t].into()))
        }
        (FieldType::Date, FieldValue::Date(d)) => Ok(FieldValue::Date(d)),
        (FieldType::Date, FieldValue::Text(t)) => t
            .trim()
            .parse::<Due>()
            .map(FieldValue::Date)
            .map_err(|e| Error::invalid_input(format!("{what}: {}", e.message()))),
        (FieldType::People, FieldValue::People(set) | FieldValue::MultiEnum(set)) => {
            people(&what, set)
        }
        (FieldType::People, FieldValue::Text(t)) => people(&what, [t.trim().to_string()].into()),
        (_, v) => Err(wrong(&v)),
    }
}

fn option_of(name: &str, options: &[String], text: &str) -> Result<()> {
    if options.iter().any(|o| o == text) {
        return Ok(());
    }
    Err(Error::invalid_input(format!(
        "field {name:?} has no option {text:?}; its options: {}",
        options.join(", ")
    )))
}

fn people(what: &str, set: BTreeSet<String>) -> Result<FieldValue> {
    if set.len() > MAX_PEOPLE {
        return Err(Error::invalid_input(format!(
            "{what} holds {} people; the limit is {MAX_PEOPLE}",
            set.len()
        )));
    }
    let mut out = BTreeSet::new();
    for p in set {
        let p = p.trim().to_lowercase();
        check_element(what, &p)?;
        if !is_email(&p) {
            return Err(Error::invalid_input(format!(
                "{what}: {p:?} is not an e-mail address"
            )));
        }
        out.insert(p);
    }
    Ok(FieldValue::People(out))
}

/// A plausible e-mail: one `@` with text on both sides, a dot in the domain, no spaces.
fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A custom field's value. In JSON: a string (text, enum, date), a number, or an array of
/// strings (multi-enum, people). An untyped value read from JSON takes its declared type in
/// [`FieldSchema::check_value`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    /// A text field's value.
    Text(String),
    /// A number field's value.
    Number(Decimal),
    /// An enum field's option.
    Enum(String),
    /// A multi-enum field's options.
    MultiEnum(BTreeSet<String>),
    /// A date field's day or instant.
    Date(Due),
    /// A people field's e-mails (lower case).
    People(BTreeSet<String>),
}

impl FieldValue {
    /// The canonical text of each element (one for a single value, one per member of a
    /// set, in order): what a store keeps and compares.
    pub fn stored(&self) -> Vec<String> {
        match self {
            FieldValue::Text(t) | FieldValue::Enum(t) => vec![t.clone()],
            FieldValue::Number(n) => vec![n.to_string()],
            FieldValue::Date(d) => vec![d.to_string()],
            FieldValue::MultiEnum(s) | FieldValue::People(s) => s.iter().cloned().collect(),
        }
    }

    /// Whether this is an empty set (multi-enum or people), which a ticket holds as no
    /// value at all.
    pub fn is_empty(&self) -> bool {
        match self {
            FieldValue::MultiEnum(s) | FieldValue::People(s) => s.is_empty(),
            _ => false,
        }
    }

    /// The name of the value's type (see [`FieldType::name`]).
    pub fn kind(&self) -> &'static str {
        match self {
            FieldValue::Text(_) => "text",
            FieldValue::Number(_) => "number",
            FieldValue::Enum(_) => "enum",
            FieldValue::MultiEnum(_) => "multi_enum",
            FieldValue::Date(_) => "date",
            FieldValue::People(_) => "people",
        }
    }

    /// The value of type `ty` whose canonical elements are `elements` (see
    /// [`FieldValue::stored`]); `None` when they do not fit the type.
    pub fn from_stored(ty: &FieldType, elements: Vec<String>) -> Option<FieldValue> {
        Self::from_stored_kind(ty.name(), elements)
    }

    /// [`FieldValue::from_stored`] by the type's name ([`FieldValue::kind`]), for a store that
    /// keeps the name beside the value; `None` for an unknown name or elements that do not
    /// fit.
    pub fn from_stored_kind(kind: &str, mut elements: Vec<String>) -> Option<FieldValue> {
        match kind {
            "multi_enum" => return Some(FieldValue::MultiEnum(elements.into_iter().collect())),
            "people" => return Some(FieldValue::People(elements.into_iter().collect())),
            _ => {}
        }
        if elements.len() != 1 {
            return None;
        }
        let one = elements.pop()?;
        match kind {
            "text" => Some(FieldValue::Text(one)),
            "enum" => Some(FieldValue::Enum(one)),
            "number" => one.parse().ok().map(FieldValue::Number),
            "date" => one.parse().ok().map(FieldValue::Date),
            _ => None,
        }
    }

    /// How the value reads in one line (history, tables): sets joined with `, `.
    pub fn display(&self) -> String {
        self.stored().join(", ")
    }

    /// Whether a ticket whose value is `self` matches the filter `want`: equal, or for a
    /// set, holding every element of `want`.
    pub fn matches(&self, want: &FieldValue) -> bool {
        match (self, want) {
            (FieldValue::MultiEnum(have), FieldValue::MultiEnum(w))
            | (FieldValue::People(have), FieldValue::People(w)) => w.is_subset(have),
            _ => self == want,
        }
    }

    fn describe(&self) -> String {
        match self {
            FieldValue::Text(t) | FieldValue::Enum(t) => format!("the text {t:?}"),
            FieldValue::Number(n) => format!("the number {n}"),
            FieldValue::Date(d) => format!("the date {d}"),
            FieldValue::MultiEnum(s) | FieldValue::People(s) => format!("the list {s:?}"),
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            FieldValue::Text(t) | FieldValue::Enum(t) => s.serialize_str(t),
            FieldValue::Number(n) => n.serialize(s),
            FieldValue::Date(d) => d.serialize(s),
            FieldValue::MultiEnum(set) | FieldValue::People(set) => set.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Untyped {
            Text(String),
            Number(serde_json::Number),
            List(BTreeSet<String>),
        }
        Ok(match Untyped::deserialize(d)? {
            Untyped::Text(t) => FieldValue::Text(t),
            Untyped::Number(n) => {
                FieldValue::Number(n.to_string().parse().map_err(serde::de::Error::custom)?)
            }
            Untyped::List(l) => FieldValue::MultiEnum(l),
        })
    }
}

/// An exact decimal of at most [`MAX_NUMBER_DIGITS`] significant digits: what a number field
/// holds. It travels to Asana as a double, which holds it exactly.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Decimal {
    /// The digits, as an integer (`1250` for `12.50` before normalising; `125` after).
    mantissa: i64,
    /// Digits after the point.
    scale: u32,
}

impl Decimal {
    /// Digits after the point, once trailing zeros are dropped.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// The nearest double (exact for the digits this type holds).
    pub fn to_f64(&self) -> f64 {
        // Parsing the shortest decimal text gives the double nearest to it.
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The decimal a double from Asana means, at `precision` digits after the point.
    pub fn from_f64(v: f64, precision: u32) -> Result<Decimal> {
        if !v.is_finite() {
            return Err(Error::invalid_input(format!("{v} is not a finite number")));
        }
        format!("{v:.*}", precision as usize).parse()
    }

    fn check_precision(&self, what: &str, precision: u32) -> Result<()> {
        if self.scale > precision {
            return Err(Error::invalid_input(format!(
                "{what}: {self} has {} digits after the point; the field's precision is {precision}",
                self.scale
            )));
        }
        Ok(())
    }
}

impl FromStr for Decimal {
    type Err = Error;

    fn from_str(s: &str) -> Result<Decimal> {
        let bad =
            || Error::invalid_input(format!("{s:?} is not a decimal number such as 12 or -3.25"));
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
            || digits.ends_with('.') && frac.is_empty() && digits.len() > int.len() + 1
        {
            return Err(bad());
        }
        let frac = frac.trim_end_matches('0');
        let all = format!("{int}{frac}");
        let significant = all.trim_start_matches('0');
        if significant.len() > MAX_NUMBER_DIGITS {
            return Err(Error::invalid_input(format!(
                "{s:?} has more than {MAX_NUMBER_DIGITS} significant digits"
            )));
        }
        let mantissa: i64 = if significant.is_empty() {
            0
        } else {
            significant.parse().map_err(|_| bad())?
        };
        Ok(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: if mantissa == 0 { 0 } else { frac.len() as u32 },
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Decimal {
    /// A JSON number (exact: the digits fit a double).
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.scale == 0 {
            s.serialize_i64(self.mantissa)
        } else {
            s.serialize_f64(self.to_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        n.to_string().parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> FieldSchema {
        FieldSchema::new([
            (
                "severity".to_string(),
                FieldType::Enum {
                    options: vec!["S1".into(), "S2".into(), "S3".into()],
                },
            ),
            ("estimate".to_string(), FieldType::Number { precision: 1 }),
            ("customer".to_string(), FieldType::Text),
            (
                "components".to_string(),
                FieldType::MultiEnum {
                    options: vec!["api".into(), "ui".into(), "db".into()],
                },
            ),
            ("target".to_string(), FieldType::Date),
            ("reviewers".to_string(), FieldType::People),
        ])
        .unwrap()
    }

    #[test]
    fn decimals_parse_print_and_round_trip_through_doubles() {
        for (text, shown, scale) in [
            ("12", "12", 0),
            ("12.50", "12.5", 1),
            ("-3.25", "-3.25", 2),
            ("0.05", "0.05", 2),
            ("+7", "7", 0),
            ("-0.0", "0", 0),
            ("000123.4500", "123.45", 2),
            ("999999999999999", "999999999999999", 0),
            ("0.000001", "0.000001", 6),
        ] {
            let d: Decimal = text.parse().unwrap();
            assert_eq!(d.to_string(), shown, "{text}");
            assert_eq!(d.scale(), scale, "{text}");
            assert_eq!(Decimal::from_f64(d.to_f64(), scale).unwrap(), d, "{text}");
        }
        for bad in [
            "",
            "-",
            ".",
            "1e5",
            "1.2.3",
            "abc",
            "1,5",
            "1234567890123456",
            "NaN",
        ] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad:?} parsed");
        }
        assert_eq!("1.".parse::<Decimal>().unwrap().to_string(), "1");
        assert_eq!(".5".parse::<Decimal>().unwrap().to_string(), "0.5");
        assert_eq!(Decimal::from_f64(2.449999, 1).unwrap().to_string(), "2.4");
        assert!(Decimal::from_f64(f64::INFINITY, 1).is_err());
    }

    #[test]
    fn cli_text_takes_the_declared_type() {
        let s = schema();
        let cases: Vec<(&str, &str, std::result::Result<FieldValue, &str>)> = vec![
            ("severity", "S1", Ok(FieldValue::Enum("S1".into()))),
            ("severity", "S4", Err("has no option \"S4\"")),
            (
                "estimate",
                "2.5",
                Ok(FieldValue::Number("2.5".parse().unwrap())),
            ),
            ("estimate", "2.55", Err("precision is 1")),
            ("estimate", "two", Err("not a decimal")),
            (
                "customer",
                "ACME, Inc",
                Ok(FieldValue::Text("ACME, Inc".into())),
            ),
            ("customer", "a\u{7}b", Err("control character")),
            (
                "components",
                "api, ui",
                Ok(FieldValue::MultiEnum(["api".into(), "ui".into()].into())),
            ),
            ("components", "api,web", Err("has no option \"web\"")),
            (
                "target",
                "2026-12-24",
                Ok(FieldValue::Date(Due::Date(
                    chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
                ))),
            ),
            ("target", "christmas", Err("field \"target\"")),
            (
                "reviewers",
                "A@Example.com,b@example.com",
                Ok(FieldValue::People(
                    ["a@example.com".into(), "b@example.com".into()].into(),
                )),
            ),
            ("reviewers", "bob", Err("not an e-mail")),
            ("sprint", "12", Err("unknown field \"sprint\"; declared: ")),
        ];
        for (name, text, want) in cases {
            let got = s.parse_arg(name, text);
            match (got, want) {
                (Ok(v), Ok(w)) => assert_eq!(v, w, "{name}={text}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{name}={text}: {e}"),
                (got, want) => panic!("{name}={text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn json_values_take_the_declared_type_or_are_refused() {
        let s = schema();
        let parse = |json: &str| serde_json::from_str::<FieldValue>(json).unwrap();
        for (name, json, ok) in [
            ("severity", r#""S2""#, true),
            ("severity", "2", false),
            ("severity", r#"["S1"]"#, false),
            ("estimate", "2.5", true),
            ("estimate", r#""2.5""#, true),
            ("estimate", "2.25", false),
            ("components", r#"["db"]"#, true),
            ("components", r#""db""#, true),
            ("components", "1", false),
            ("target", r#""2026-12-24T10:00:00Z""#, true),
            ("target", "20261224", false),
            ("reviewers", r#"["x@y.io"]"#, true),
            ("reviewers", "3", false),
            ("customer", r#"["a"]"#, false),
        ] {
            let got = s.check_value(name, parse(json));
            assert_eq!(got.is_ok(), ok, "{name}={json}: {got:?}");
            if let Err(e) = got {
                assert!(e.to_string().contains(name), "{e}");
            }
        }
    }

    #[test]
    fn values_serialise_as_plain_json_and_store_as_canonical_text() {
        let s = schema();
        for (name, text, json, stored) in [
            ("severity", "S1", r#""S1""#, vec!["S1"]),
            ("estimate", "2.50", "2.5", vec!["2.5"]),
            ("estimate", "3", "3", vec!["3"]),
            ("components", "ui,api", r#"["api","ui"]"#, vec!["api", "ui"]),
            (
                "target",
                "2026-12-24",
                r#""2026-12-24""#,
                vec!["2026-12-24"],
            ),
            (
                "reviewers",
                "b@x.io,a@x.io",
                r#"["a@x.io","b@x.io"]"#,
                vec!["a@x.io", "b@x.io"],
            ),
        ] {
            let v = s.parse_arg(name, text).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), json, "{name}");
            assert_eq!(v.stored(), stored, "{name}");
            let ty = s.get(name).unwrap();
            let back = FieldValue::from_stored(ty, v.stored()).unwrap();
            assert_eq!(back, v, "{name}");
            let reread = s
                .check_value(name, serde_json::from_str(json).unwrap())
                .unwrap();
            assert_eq!(reread, v, "{name}: JSON round trip");
        }
    }

    #[test]
    fn an_empty_set_is_no_value() {
        let s = schema();
        let mut fields: Fields = [
            (
                "components".to_string(),
                FieldValue::MultiEnum(BTreeSet::new()),
            ),
            ("severity".to_string(), FieldValue::Enum("S1".into())),
        ]
        .into();
        s.check_fields(&mut fields).unwrap();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["severity"]);
        let mut changes: BTreeMap<String, Option<FieldValue>> = [(
            "reviewers".to_string(),
            Some(FieldValue::People(BTreeSet::new())),
        )]
        .into();
        s.check_changes(&mut changes).unwrap();
        assert_eq!(changes.get("reviewers"), Some(&None), "an empty set clears");
    }

    #[test]
    fn set_filters_match_supersets_and_single_values_match_equal() {
        let s = schema();
        let have = s.parse_arg("components", "api,ui").unwrap();
        assert!(have.matches(&s.parse_arg("components", "api").unwrap()));
        assert!(have.matches(&s.parse_arg("components", "ui,api").unwrap()));
        assert!(!have.matches(&s.parse_arg("components", "db").unwrap()));
        let sev = s.parse_arg("severity", "S1").unwrap();
        assert!(sev.matches(&s.parse_arg("severity", "S1").unwrap()));
        assert!(!sev.matches(&s.parse_arg("severity", "S2").unwrap()));
    }

    #[test]
    fn declarations_are_checked() {
        let yaml = |text: &str| -> Result<FieldSchema> {
            let decls = serde_yaml::from_str(text)
                .map_err(|e| Error::config(format!("homechoice.ticket.fields: {e}")))?;
            FieldSchema::from_decls(decls)
        };
        let ok = yaml(
            "severity: {type: enum, options: [S1, S2]}\nestimate: {type: number, precision: 2}\ncustomer: {type: text}\ncomponents: {type: multi_enum, options: [api]}\ntarget: {type: date}\nreviewers: {type: people}\n",
        )
        .unwrap();
        assert_eq!(ok.iter().count(), 6);
        assert_eq!(
            ok.get("estimate"),
            Some(&FieldType::Number { precision: 2 })
        );
        for (text, want) in [
            ("severity: {type: enum}", "needs `options`"),
            ("severity: {type: enum, options: []}", "declares no options"),
            (
                "severity: {type: enum, options: [a, a]}",
                "option \"a\" twice",
            ),
            ("severity: {type: enum, options: ['a,b']}", "comma"),
            ("severity: {type: choice}", "unknown type \"choice\""),
            ("severity: {type: text, options: [a]}", "has no options"),
            (
                "severity: {type: number, precision: 9}",
                "precision 9 is too large",
            ),
            ("severity: {type: date, precision: 1}", "has no precision"),
            (
                "severity: {type: text, colour: red}",
                "unknown field `colour`",
            ),
            ("Severity: {type: text}", "lower-case"),
            ("status: {type: text}", "built-in"),
        ] {
            let err = yaml(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
            assert!(err.contains("homechoice.ticket.fields"), "{text}: {err}");
        }
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label("vip").is_ok());
        for bad in ["", " vip", "a,b", "line\nbreak"] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
        let many: Labels = (0..=MAX_LABELS).map(|i| format!("l{i}")).collect();
        assert!(check_labels(&many).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const PRECISION: u32 = 3;

        fn schema() -> FieldSchema {
            let options = || vec!["S1".to_string(), "S2".into(), "S3".into()];
            FieldSchema::new([
                ("t".to_string(), FieldType::Text),
                (
                    "n".to_string(),
                    FieldType::Number {
                        precision: PRECISION,
                    },
                ),
                ("e".to_string(), FieldType::Enum { options: options() }),
                ("m".to_string(), FieldType::MultiEnum { options: options() }),
                ("d".to_string(), FieldType::Date),
                ("p".to_string(), FieldType::People),
            ])
            .unwrap()
        }

        /// A field name of [`schema`] and a valid value of it.
        fn named_value() -> impl Strategy<Value = (&'static str, FieldValue)> {
            let option = prop::sample::select(vec!["S1", "S2", "S3"]);
            let day = (1900i32..=9999, 1u32..=12, 1u32..=28)
                .prop_map(|(y, m, d)| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
            prop_oneof![
                "[a-zA-Z0-9 ,.;:éß✓-]{0,40}[a-zA-Z0-9]".prop_map(|t| ("t", FieldValue::Text(t))),
                (-99_999_999_999i64..=99_999_999_999, 0..=PRECISION).prop_map(|(m, scale)| {
                    let text = format!("{}", m as f64 / 10f64.powi(scale as i32));
                    let text = format!("{:.*}", scale as usize, text.parse::<f64>().unwrap());
                    ("n", FieldValue::Number(text.parse().unwrap()))
                }),
                option
                    .clone()
                    .prop_map(|o| ("e", FieldValue::Enum(o.to_string()))),
                prop::collection::btree_set(option.prop_map(str::to_string), 0..=3)
                    .prop_map(|s| ("m", FieldValue::MultiEnum(s))),
                day.clone()
                    .prop_map(|d| ("d", FieldValue::Date(Due::Date(d)))),
                (0i64..=4_000_000_000_000).prop_map(|ms| {
                    let at = chrono::DateTime::from_timestamp_millis(ms).unwrap();
                    ("d", FieldValue::Date(Due::At(at)))
                }),
                prop::collection::btree_set("[a-z]{1,8}@[a-z]{1,8}\\.(com|io)", 0..=4)
                    .prop_map(|s| ("p", FieldValue::People(s))),
            ]
        }

        proptest! {
            /// Every value survives its stored form, its JSON and its command-line text
            /// unchanged, in its declared type.
            #[test]
            fn values_round_trip((name, v) in named_value()) {
                let s = schema();
                let ty = s.get(name).unwrap();
                prop_assert_eq!(FieldValue::from_stored(ty, v.stored()), Some(v.clone()));
                prop_assert_eq!(FieldValue::from_stored_kind(v.kind(), v.stored()), Some(v.clone()));
                let json = serde_json::to_string(&v).unwrap();
                let back = s.check_value(name, serde_json::from_str(&json).unwrap());
                prop_assert_eq!(back.as_ref().ok(), Some(&v), "JSON {}", json);
                let text = v.stored().join(",");
                let is_empty_set = ty.is_set() && v.stored().is_empty();
                if !is_empty_set {
                    prop_assert_eq!(s.parse_arg(name, &text).ok(), Some(v.clone()), "text {}", text);
                }
                prop_assert!(v.matches(&v));
            }
        }
    }
}
