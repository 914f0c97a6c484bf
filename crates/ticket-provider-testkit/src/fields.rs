//! The check of custom fields and labels: [`fields_and_labels`], for a provider built with
//! the fields of [`SUITE_FIELDS_YAML`].

use std::collections::BTreeSet;

use ticket_provider_api::{FieldSchema, FieldValue, Fields, Labels};

use super::*;

/// The `fields:` block (under `homechoice.ticket`) a provider must be built with for
/// [`fields_and_labels`]: one field of every type.
pub const SUITE_FIELDS_YAML: &str = "    fields:
      severity: {type: enum, options: [S1, S2, S3]}
      estimate: {type: number, precision: 1}
      customer: {type: text}
      components: {type: multi_enum, options: [api, ui, db]}
      target: {type: date}
      reviewers: {type: people}
";

/// An Asana custom field that keeps a suite field: (suite field, Asana name, Asana
/// `resource_subtype`, enum options, number precision).
pub type AsanaFieldSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<u32>,
);

/// The Asana custom fields that keep the fields of [`SUITE_FIELDS_YAML`], one each, for
/// tests that make them in a fake Asana and map them with `asana_fields`.
pub const SUITE_ASANA_FIELDS: &[AsanaFieldSpec] = &[
    ("severity", "Severity", "enum", &["S1", "S2", "S3"], None),
    ("estimate", "Estimate", "number", &[], Some(1)),
    ("customer", "Customer", "text", &[], None),
    (
        "components",
        "Components",
        "multi_enum",
        &["api", "ui", "db"],
        None,
    ),
    ("target", "Target", "date", &[], None),
    ("reviewers", "Reviewers", "people", &[], None),
];

/// The schema of [`SUITE_FIELDS_YAML`], for providers built in code.
pub fn suite_fields() -> FieldSchema {
    let text = format!("homechoice:\n  ticket:\n{SUITE_FIELDS_YAML}");
    ticket_provider_api::Config::parse(&text, "the suite's fields")
        .expect("the suite's fields parse")
        .ticket
        .fields
}

fn value(schema: &FieldSchema, name: &str, text: &str) -> FieldValue {
    schema
        .parse_arg(name, text)
        .unwrap_or_else(|e| panic!("[fields_and_labels] {name}={text}: {e}"))
}

/// Custom fields of every type and labels: stored and read back typed, set and cleared,
/// filtered on; unknown fields, wrong types and unknown options refused with nothing
/// written; a history row per changed field when history is offered.
pub async fn fields_and_labels(p: &dyn TicketProvider, opts: &SuiteOptions) {
    const C: &str = "fields_and_labels";
    let s = suite_fields();
    let people = opts.assignees[..2].join(",");
    let mut fields = Fields::new();
    for (name, text) in [
        ("severity", "S1"),
        ("estimate", "2.5"),
        ("customer", "ACME, Inc"),
        ("components", "api,ui"),
        ("target", "2026-12-24"),
        ("reviewers", people.as_str()),
    ] {
        fields.insert(name.to_string(), value(&s, name, text));
    }
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (vip, team) = (format!("vip-{}", &tag[..8]), format!("team-{}", &tag[..8]));
    let mut new = NewTicket::new(unique("Fields"));
    new.fields = fields.clone();
    new.labels = [vip.clone(), team.clone()].into();
    let r = ok(C, "create with fields", p.create(new).await);
    let t = get(C, p, &r.guid).await.ticket;
    assert_eq!(t.fields, fields, "[{C}] fields after create");
    assert_eq!(
        t.labels,
        Labels::from([vip.clone(), team.clone()]),
        "[{C}] labels after create"
    );

    // An untyped value (what JSON gives) takes the declared type.
    let mut loose = NewTicket::new(unique("Loose"));
    loose
        .fields
        .insert("severity".into(), FieldValue::Text("S2".into()));
    let loose = ok(C, "create with an untyped enum", p.create(loose).await);
    assert_eq!(
        get(C, p, &loose.guid).await.ticket.fields.get("severity"),
        Some(&FieldValue::Enum("S2".into())),
        "[{C}] an untyped enum value reads back as the option"
    );

    // Set one, clear one, add and remove a label.
    let mut upd = TicketUpdate::default();
    upd.fields
        .insert("severity".into(), Some(value(&s, "severity", "S3")));
    upd.fields.insert("estimate".into(), None);
    upd.add_labels = ["later".to_string()].into();
    upd.remove_labels = [team.clone()].into();
    ok(C, "update fields", p.update(&r.guid, upd).await);
    let t = get(C, p, &r.guid).await.ticket;
    assert_eq!(
        t.fields.get("severity"),
        Some(&value(&s, "severity", "S3")),
        "[{C}] set"
    );
    assert!(!t.fields.contains_key("estimate"), "[{C}] cleared");
    assert_eq!(
        t.fields.get("customer"),
        fields.get("customer"),
        "[{C}] untouched"
    );
    assert_eq!(
        t.labels,
        Labels::from([vip.clone(), "later".to_string()]),
        "[{C}] labels after update"
    );

    // Filters.
    let guids = |ts: Vec<Ticket>| ts.into_iter().map(|t| t.guid).collect::<BTreeSet<_>>();
    let by = |name: &str, text: &str| ListQuery {
        fields: [(name.to_string(), value(&s, name, text))].into(),
        ..Default::default()
    };
    let found = guids(list_all(C, p, by("components", "ui")).await);
    assert!(
        found.contains(&r.guid),
        "[{C}] a set filter finds a superset"
    );
    let found = guids(list_all(C, p, by("severity", "S3")).await);
    assert!(found.contains(&r.guid), "[{C}] enum filter");
    assert!(
        !found.contains(&loose.guid),
        "[{C}] enum filter let S2 through"
    );
    let mut both = by("customer", "ACME, Inc");
    both.labels = [vip.clone()].into();
    let found = guids(list_all(C, p, both).await);
    assert_eq!(
        found,
        BTreeSet::from([r.guid.clone()]),
        "[{C}] field and label filter together"
    );
    let gone = ListQuery {
        labels: [team.clone()].into(),
        ..Default::default()
    };
    assert!(
        guids(list_all(C, p, gone).await).is_empty(),
        "[{C}] a removed label still filters"
    );

    // Refusals write nothing.
    let before = get(C, p, &r.guid).await.ticket;
    for (name, v, what) in [
        ("sprint", FieldValue::Text("12".into()), "unknown field"),
        ("severity", FieldValue::Enum("S9".into()), "unknown option"),
        ("estimate", FieldValue::Text("two".into()), "wrong type"),
        (
            "estimate",
            FieldValue::Text("2.25".into()),
            "beyond precision",
        ),
        ("reviewers", FieldValue::Text("bob".into()), "not an e-mail"),
    ] {
        let mut upd = TicketUpdate::default();
        upd.fields.insert(name.into(), Some(v.clone()));
        expect_kind(
            C,
            &format!("update with {what}"),
            p.update(&r.guid, upd).await,
            ErrorKind::InvalidInput,
        );
        let mut new = NewTicket::new(unique("Refused"));
        new.fields.insert(name.into(), v);
        expect_kind(
            C,
            &format!("create with {what}"),
            p.create(new).await,
            ErrorKind::InvalidInput,
        );
    }
    assert_eq!(
        get(C, p, &r.guid).await.ticket,
        before,
        "[{C}] a refused update changed the ticket"
    );

    if let Some(h) = p.extensions().get::<dyn TicketHistory>() {
        let rows = ok(C, "history", h.history(&r.guid).await);
        let row = |field: &str| rows.iter().find(|e| e.field == field);
        let sev = row("fields.severity").unwrap_or_else(|| panic!("[{C}] no fields.severity row"));
        assert_eq!(sev.old_value.as_deref(), Some("S1"));
        assert_eq!(sev.new_value.as_deref(), Some("S3"));
        let est = row("fields.estimate").unwrap_or_else(|| panic!("[{C}] no fields.estimate row"));
        assert_eq!(est.new_value, None, "[{C}] a cleared field's new value");
        assert!(row("labels").is_some(), "[{C}] no labels row");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_provider_api::FieldType;

    /// Every suite field has one Asana field of its type (Asana's subtypes are spelled as
    /// the config's types), with the same options and precision.
    #[test]
    fn the_asana_fields_match_the_suite_fields() {
        let schema = suite_fields();
        let names: Vec<&str> = SUITE_ASANA_FIELDS.iter().map(|f| f.0).collect();
        let declared: Vec<&str> = schema.iter().map(|(n, _)| n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, declared);
        for (field, _, subtype, options, precision) in SUITE_ASANA_FIELDS {
            let ty = schema.get(field).expect("declared");
            assert_eq!(ty.name(), *subtype, "{field}");
            assert_eq!(ty.options(), *options, "{field}");
            let declared_precision = match ty {
                FieldType::Number { precision } => Some(*precision),
                _ => None,
            };
            assert_eq!(declared_precision, *precision, "{field}");
        }
    }
}
