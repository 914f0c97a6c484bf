//! [`Due`]: when a ticket is due — a calendar day, or an instant.
//!
//! The rules every provider follows:
//!
//! * A **date** (`2026-12-24`) is a day, not a moment: it is stored, sent and shown as that
//!   day, never converted through a time zone (not the machine's, the process's, or the one
//!   in Asana's answer). Asana receives it as `due_on`.
//! * An **instant** is given with an offset (`2026-12-24T15:00:00+01:00` or `...Z`) and kept
//!   as the UTC instant it names (`2026-12-24T14:00:00Z`), to the millisecond (Asana's
//!   precision; finer digits are refused, so nothing is rounded behind the caller's back).
//!   Asana receives it as `due_at` in UTC.
//! * A date-time without an offset is refused: it names no instant.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// The earliest date accepted.
pub const MIN_DUE_YEAR: i32 = 1900;
/// The latest year accepted.
pub const MAX_DUE_YEAR: i32 = 9999;

/// When a ticket is due (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Due {
    /// A calendar day.
    Date(NaiveDate),
    /// An instant, in UTC, whole milliseconds.
    At(DateTime<Utc>),
}

impl Due {
    /// Whether this due date falls before `day` (an instant compares in UTC).
    pub fn is_before(&self, day: NaiveDate) -> bool {
        match self {
            Due::Date(d) => *d < day,
            Due::At(t) => t.date_naive() < day,
        }
    }

    /// The day for `due_on`, when a date.
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            Due::Date(d) => Some(*d),
            Due::At(_) => None,
        }
    }

    /// The instant for `due_at`, when an instant.
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        match self {
            Due::At(t) => Some(*t),
            Due::Date(_) => None,
        }
    }
}

fn bad(text: &str, why: &str) -> Error {
    Error::invalid_input(format!(
        "due {text:?} {why}; give a date (2026-12-24) or an instant with an offset (2026-12-24T15:00:00+01:00)"
    ))
}

fn check_year(text: &str, year: i32) -> Result<(), Error> {
    if (MIN_DUE_YEAR..=MAX_DUE_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(bad(
            text,
            &format!("is outside the years {MIN_DUE_YEAR} to {MAX_DUE_YEAR}"),
        ))
    }
}

impl FromStr for Due {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        if t.len() == 10 && !t.contains('T') {
            let d = NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| bad(text, "is not a valid date"))?;
            check_year(text, chrono::Datelike::year(&d))?;
            return Ok(Due::Date(d));
        }
        if !(t.len() > 10 && matches!(t.as_bytes()[10], b'T' | b't' | b' ')) {
            return Err(bad(text, "is not a date or an instant"));
        }
        let parsed = DateTime::parse_from_rfc3339(t).map_err(|_| {
            if chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
                || chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").is_ok()
            {
                bad(text, "has no time zone offset")
            } else {
                bad(text, "is not a valid instant")
            }
        })?;
        let utc = parsed.with_timezone(&Utc);
        check_year(text, chrono::Datelike::year(&utc))?;
        if utc.nanosecond() % 1_000_000 != 0 {
            return Err(bad(text, "is more precise than a millisecond"));
        }
        Ok(Due::At(utc))
    }
}

impl fmt::Display for Due {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Due::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Due::At(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

impl Serialize for Due {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Due {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `Option<Option<Due>>` in JSON, for `#[serde(default, with = "...")]`: a missing key is
/// `None` (leave it), `null` is `Some(None)` (clear it), a value is `Some(Some(..))` (set it).
pub mod double_option {
    use super::Due;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serialises `None` and `Some(None)` as `null` (skip `None` to keep it apart).
    pub fn serialize<S: Serializer>(v: &Option<Option<Due>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    /// A present key is `Some`, even when `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Due>>, D::Error> {
        Option::<Due>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_values_by_table() {
        // (input, shown as, a date?)
        let good = [
            ("2026-12-24", "2026-12-24", true),
            (" 2026-02-28 ", "2026-02-28", true),
            ("2026-12-24T15:00:00+01:00", "2026-12-24T14:00:00Z", false),
            ("2026-12-24T23:30:00-05:00", "2026-12-25T04:30:00Z", false),
            (
                "2026-12-24T14:00:00.250Z",
                "2026-12-24T14:00:00.250Z",
                false,
            ),
            ("2026-12-24t14:00:00z", "2026-12-24T14:00:00Z", false),
        ];
        for (input, shown, is_date) in good {
            let d: Due = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.to_string(), shown, "{input}");
            assert_eq!(d.date().is_some(), is_date, "{input}");
            assert_eq!(shown.parse::<Due>().unwrap(), d, "{shown} reads back");
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<Due>(&json).unwrap(), d);
        }
        // (input, part of the message)
        let refused = [
            ("2026-13-01", "not a valid date"),
            ("2026-02-30", "not a valid date"),
            ("24.12.2026", "not a valid date"),
            ("2026-12-24T15:00:00", "no time zone offset"),
            ("2026-12-24T15:00", "no time zone offset"),
            ("2026-12-24T25:00:00Z", "not a valid instant"),
            (
                "2026-12-24T15:00:00.0001Z",
                "more precise than a millisecond",
            ),
            ("1899-12-31", "outside the years"),
            ("tomorrow", "not a date or an instant"),
            ("", "not a date or an instant"),
        ];
        for (input, why) in refused {
            let err = input.parse::<Due>().unwrap_err();
            assert!(err.to_string().contains(why), "{input}: {err}");
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn before_a_day() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        let cases = [
            ("2026-12-23", true),
            ("2026-12-24", false),
            ("2026-12-23T23:59:59Z", true),
            ("2026-12-24T00:30:00+01:00", true), // 23:30 UTC on the 23rd
            ("2026-12-24T00:00:00Z", false),
        ];
        for (due, before) in cases {
            assert_eq!(due.parse::<Due>().unwrap().is_before(day), before, "{due}");
        }
    }
}
