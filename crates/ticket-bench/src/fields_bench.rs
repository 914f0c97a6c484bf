//! `asana_requests_with_fields`: the requests of a create and of an update through the `asana`
//! provider with five custom fields mapped (`asana_fields`) and labels, against the same
//! operations without them, in the same run and on the same fake. The promise it shows:
//! values go in the request the operation makes anyway, so requests per operation do not
//! grow.

use asana_fake::FakeAsana;
use provider_asana::{AsanaProvider, AsanaSettings};
use serde_json::{json, Map, Value};
use ticket_provider_api::{
    FieldSchema, FieldType, FieldValue, NewTicket, SecretString, TicketProvider, TicketUpdate,
};

use crate::BenchResult;

/// The five fields: (ticket field, Asana name, subtype, options).
const FIELDS: &[(&str, &str, &str, &[&str])] = &[
    ("severity", "Severity", "enum", &["S1", "S2", "S3"]),
    ("estimate", "Estimate", "number", &[]),
    ("customer", "Customer", "text", &[]),
    (
        "components",
        "Components",
        "multi_enum",
        &["api", "ui", "db"],
    ),
    ("target", "Target", "date", &[]),
];

/// Calls the fake's API as a person in Asana would; the answer's `data`.
async fn asana(fake: &FakeAsana, path: &str, data: Value) -> BenchResult<Value> {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.token())
        .json(&json!({ "data": data }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["data"].clone())
}

/// Makes the five custom fields in the fake's project; the schema that declares them.
async fn make_fields(fake: &FakeAsana) -> BenchResult<FieldSchema> {
    let mut declared = Vec::new();
    for (field, name, subtype, options) in FIELDS {
        let mut data = json!({
            "workspace": fake.workspace_gid(), "name": name, "resource_subtype": subtype,
        });
        if !options.is_empty() {
            data["enum_options"] = options.iter().map(|o| json!({ "name": o })).collect();
        }
        if *subtype == "number" {
            data["precision"] = json!(1);
        }
        let made = asana(fake, "/custom_fields", data).await?;
        let gid = made["gid"].as_str().ok_or("a custom field without a gid")?;
        asana(
            fake,
            &format!("/projects/{}/addCustomFieldSetting", fake.project_gid()),
            json!({ "custom_field": gid }),
        )
        .await?;
        let owned = || options.iter().map(|o| o.to_string()).collect();
        let ty = match *subtype {
            "enum" => FieldType::Enum { options: owned() },
            "multi_enum" => FieldType::MultiEnum { options: owned() },
            "number" => FieldType::Number { precision: 1 },
            "date" => FieldType::Date,
            _ => FieldType::Text,
        };
        declared.push((field.to_string(), ty));
    }
    Ok(FieldSchema::new(declared)?)
}

fn value(schema: &FieldSchema, name: &str, text: &str) -> BenchResult<FieldValue> {
    Ok(schema.parse_arg(name, text)?)
}

/// Requests of a create and an update, with and without the five fields and labels, once
/// the fields are bound and the tags exist (warm caches, as in `asana_requests_per_op`).
pub(crate) async fn run(fake: &FakeAsana) -> BenchResult<Map<String, Value>> {
    let schema = make_fields(fake).await?;
    let mut settings = AsanaSettings::new(
        fake.base_url(),
        fake.project_gid(),
        SecretString::new(fake.token()),
    );
    settings.fields = schema.clone();
    for (field, name, ..) in FIELDS {
        settings
            .asana_fields
            .insert(field.to_string(), name.to_string());
    }
    let p = AsanaProvider::new(settings)?;
    let full = |subject: &str, a: &str, b: &str| -> BenchResult<NewTicket> {
        Ok(NewTicket::new(subject)
            .field("severity", value(&schema, "severity", "S1")?)
            .field("estimate", value(&schema, "estimate", "2.5")?)
            .field("customer", value(&schema, "customer", "ACME")?)
            .field("components", value(&schema, "components", "api,ui")?)
            .field("target", value(&schema, "target", "2026-12-24")?)
            .label(a)
            .label(b))
    };
    // Warm-up: the fields bound, the label tags made and cached.
    let warm = p.create(full("warm-up", "vip", "backend")?).await?.guid;
    p.update(
        &warm,
        TicketUpdate {
            add_labels: ["later".to_string()].into(),
            ..TicketUpdate::default()
        },
    )
    .await?;

    let mut out = Map::new();
    let mut count = |key: &str, n: usize| {
        out.insert(key.to_string(), json!(n));
    };
    fake.clear_requests();
    let plain = p.create(NewTicket::new("plain")).await?.guid;
    count("create_plain", fake.requests().len());
    fake.clear_requests();
    let with = p.create(full("with fields", "vip", "backend")?).await?.guid;
    count("create", fake.requests().len());

    fake.clear_requests();
    p.update(
        &plain,
        TicketUpdate {
            subject: Some("renamed".into()),
            ..TicketUpdate::default()
        },
    )
    .await?;
    count("update_plain", fake.requests().len());
    let mut changes = TicketUpdate {
        subject: Some("renamed".into()),
        add_labels: ["later".to_string()].into(),
        remove_labels: ["vip".to_string()].into(),
        ..TicketUpdate::default()
    };
    for (name, text) in [
        ("severity", "S2"),
        ("estimate", "3"),
        ("customer", "Initech"),
        ("components", "db"),
        ("target", "2027-01-31"),
    ] {
        changes
            .fields
            .insert(name.to_string(), Some(value(&schema, name, text)?));
    }
    fake.clear_requests();
    p.update(&with, changes).await?;
    count("update", fake.requests().len());
    Ok(out)
}
