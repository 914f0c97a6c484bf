//! What a provider declares about its settings: a typed [`ProviderSettings`] read from the
//! flat `homechoice.ticket` keys, with its checks and the documentation of each key, handed
//! to the registry as a [`SettingsSpec`].

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::config::Config;
use crate::error::Result;
use crate::keydoc::KeyDoc;

/// A provider crate's own settings: a type read from the flat `homechoice.ticket` keys
/// (it must not deny unknown fields: the mapping holds every provider's keys) and checked.
pub trait ProviderSettings: DeserializeOwned + Default {
    /// Every key of the type, documented, in field order (a test of the facade crate checks
    /// they are the field names): the README's key table and the files `ticket init` writes
    /// are rendered from these, so a key is described once, here.
    const KEYS: &'static [KeyDoc];

    /// Checks the values (ranges, formats); an error names the key and what to do.
    fn check(&self) -> Result<()>;
}

/// What a provider declares about its settings in its descriptor: its keys, and how to check
/// their values. Build it with [`SettingsSpec::of`].
#[derive(Debug, Clone, Copy)]
pub struct SettingsSpec {
    /// The keys the provider reads under `homechoice.ticket`.
    pub keys: fn() -> &'static [&'static str],
    /// Reads and checks them from a config.
    pub check: fn(&Config) -> Result<()>,
    /// The keys' documentation ([`ProviderSettings::KEYS`]).
    pub docs: &'static [KeyDoc],
}

impl SettingsSpec {
    /// The spec of a [`ProviderSettings`] type: its keys are the type's field names.
    pub const fn of<T: ProviderSettings>() -> Self {
        SettingsSpec {
            keys: field_names::<T>,
            check: check_settings::<T>,
            docs: T::KEYS,
        }
    }
}

fn check_settings<T: ProviderSettings>(config: &Config) -> Result<()> {
    config.settings::<T>()?.check()
}

/// The field names of a struct that derives `Deserialize` (without `flatten`): what
/// [`SettingsSpec::of`] declares as a provider's keys, so the list cannot drift from the type.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field name probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_msg: M) -> Self {
            Stop
        }
    }

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> std::result::Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _v: V,
        ) -> std::result::Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SHARED_KEYS;
    use crate::keydoc::SHARED_KEY_DOCS;
    use serde::Deserialize;

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct Mine {
        #[serde(default)]
        mine_limit: Option<u32>,
        #[serde(default)]
        mine_name: String,
    }

    #[test]
    fn field_names_are_the_struct_fields() {
        assert_eq!(field_names::<Mine>(), &["mine_limit", "mine_name"]);
        assert_eq!(field_names::<String>(), &[] as &[&str]);
    }

    #[test]
    fn the_shared_keys_are_documented_in_order() {
        let documented: Vec<&str> = SHARED_KEY_DOCS.iter().map(|d| d.key).collect();
        assert_eq!(documented, SHARED_KEYS);
    }
}
