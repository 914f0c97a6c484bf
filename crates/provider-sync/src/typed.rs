//! Custom field values as the sync's tables and outbox keep them: each with the name of its
//! type (`{"kind": "enum", "elements": ["S1"]}`), so that a stored value reads back in its
//! type whatever the config declares later.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ticket_provider_api::FieldValue;

/// A value with its type's name and its canonical elements ([`FieldValue::stored`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TypedValue {
    kind: String,
    elements: Vec<String>,
}

impl TypedValue {
    fn of(v: &FieldValue) -> Self {
        TypedValue {
            kind: v.kind().to_string(),
            elements: v.stored(),
        }
    }

    fn value<E: serde::de::Error>(self) -> Result<FieldValue, E> {
        let kind = self.kind.clone();
        FieldValue::from_stored_kind(&self.kind, self.elements)
            .ok_or_else(|| E::custom(format!("not a stored {kind} value")))
    }
}

/// `serde(with)` for a map of values, each possibly absent (`null`): `name → value`.
pub(crate) mod changes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        map: &BTreeMap<String, Option<FieldValue>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let typed: BTreeMap<&String, Option<TypedValue>> = map
            .iter()
            .map(|(k, v)| (k, v.as_ref().map(TypedValue::of)))
            .collect();
        typed.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Option<FieldValue>>, D::Error> {
        let typed = BTreeMap::<String, Option<TypedValue>>::deserialize(d)?;
        typed
            .into_iter()
            .map(|(k, v)| Ok((k, v.map(TypedValue::value).transpose()?)))
            .collect()
    }
}

/// `serde(with)` for a ticket's values: `name → value`.
pub(crate) mod fields {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        map: &ticket_provider_api::Fields,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let typed: BTreeMap<&String, TypedValue> =
            map.iter().map(|(k, v)| (k, TypedValue::of(v))).collect();
        typed.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<ticket_provider_api::Fields, D::Error> {
        BTreeMap::<String, TypedValue>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| Ok((k, v.value()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "changes")]
        changes: BTreeMap<String, Option<FieldValue>>,
        #[serde(with = "fields")]
        fields: ticket_provider_api::Fields,
    }

    #[test]
    fn values_keep_their_type_through_json() {
        let enum_v = FieldValue::Enum("S1".into());
        let people = FieldValue::People(["a@x.io".to_string()].into());
        let date = FieldValue::Date("2026-12-24".parse().unwrap());
        let h = Holder {
            changes: [
                ("severity".to_string(), Some(enum_v.clone())),
                ("estimate".to_string(), None),
            ]
            .into(),
            fields: [
                ("reviewers".to_string(), people),
                ("target".to_string(), date),
            ]
            .into(),
        };
        let text = serde_json::to_string(&h).unwrap();
        assert!(
            text.contains(r#""severity":{"kind":"enum","elements":["S1"]}"#),
            "{text}"
        );
        assert!(text.contains(r#""estimate":null"#), "{text}");
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(back, h);
        let bad = r#"{"changes":{"n":{"kind":"number","elements":["x"]}},"fields":{}}"#;
        assert!(serde_json::from_str::<Holder>(bad).is_err());
    }
}
