//! Custom fields of every type Asana defines for task values — text, number,
//! enum, multi_enum, date and people — on task create, update and read with
//! their `opt_fields`, the 400s for values of the wrong type, disabled or
//! foreign options, users that are not users and fields not on the task's
//! project, and fields renamed or deleted after values were set.

use crate::common;

use common::{msg, Client};
use serde_json::{json, Value};

fn gid(v: &Value) -> String {
    v["data"]["gid"].as_str().expect("gid").to_string()
}

/// Every value field of a task's `custom_fields` entries (all documented `opt_fields`).
const VALUE_FIELDS: &str = "custom_fields.name,custom_fields.resource_subtype,custom_fields.display_value,custom_fields.precision,custom_fields.text_value,custom_fields.number_value,custom_fields.enum_value.name,custom_fields.multi_enum_values.name,custom_fields.date_value,custom_fields.people_value.name";

/// The fields of the test: gid of each type's field, and the option gids of the
/// enum (`S1`, `S2`) and multi-enum (`api`, `ui`, `db`) fields.
struct Fields {
    text: String,
    number: String,
    enum_: String,
    multi: String,
    date: String,
    people: String,
    s1: String,
    s2: String,
    api: String,
    ui: String,
    db: String,
}

async fn create_field(c: &Client, body: Value) -> Value {
    let mut data = body;
    data["workspace"] = json!(c.fake.workspace_gid());
    let (s, b) = c.post("/custom_fields", json!({ "data": data })).await;
    assert_eq!(s, 201, "{b}");
    b
}

fn option(b: &Value, i: usize) -> String {
    b["data"]["enum_options"][i]["gid"]
        .as_str()
        .expect("option gid")
        .to_string()
}

/// One field of each type, all added to the fake's project.
async fn fields(c: &Client) -> Fields {
    let p = c.fake.project_gid();
    let text = gid(&create_field(c, json!({"name": "Customer", "resource_subtype": "text"})).await);
    let number = gid(&create_field(
        c,
        json!({"name": "Estimate", "resource_subtype": "number", "precision": 1}),
    )
    .await);
    let e = create_field(
        c,
        json!({"name": "Severity", "resource_subtype": "enum", "enum_options": [{"name": "S1"}, {"name": "S2"}]}),
    )
    .await;
    let m = create_field(
        c,
        json!({"name": "Components", "resource_subtype": "multi_enum", "enum_options": [{"name": "api"}, {"name": "ui"}, {"name": "db"}]}),
    )
    .await;
    assert_eq!(m["data"]["resource_subtype"], "multi_enum", "{m}");
    let date = gid(&create_field(c, json!({"name": "Target", "resource_subtype": "date"})).await);
    let people = gid(&create_field(
        c,
        json!({"name": "Reviewers", "resource_subtype": "people"}),
    )
    .await);
    let f = Fields {
        text,
        number,
        enum_: gid(&e),
        multi: gid(&m),
        date,
        people,
        s1: option(&e, 0),
        s2: option(&e, 1),
        api: option(&m, 0),
        ui: option(&m, 1),
        db: option(&m, 2),
    };
    for field in [&f.text, &f.number, &f.enum_, &f.multi, &f.date, &f.people] {
        let (s, b) = c
            .post(
                &format!("/projects/{p}/addCustomFieldSetting"),
                json!({"data": {"custom_field": field}}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    f
}

/// The `custom_fields` entry of `field` in a task answer.
fn entry<'a>(task: &'a Value, field: &str) -> &'a Value {
    task["data"]["custom_fields"]
        .as_array()
        .expect("custom_fields")
        .iter()
        .find(|f| f["gid"] == json!(field))
        .expect("the field's entry")
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x["name"].as_str().expect("name"))
        .collect()
}

async fn read(c: &Client, t: &str) -> Value {
    let (s, b) = c
        .get(&format!("/tasks/{t}?opt_fields={VALUE_FIELDS}"))
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

#[tokio::test]
async fn every_type_round_trips_through_create_update_and_read() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let alice = c.fake.add_user("Alice", "alice@example.com");
    let bob = c.fake.add_user("Bob", "bob@example.com");
    let f = fields(&c).await;

    let (s, t) = c
        .post(
            &format!("/tasks?opt_fields={VALUE_FIELDS}"),
            json!({"data": {"name": "All types", "projects": [p], "custom_fields": {
                f.text.clone(): "ACME, Inc",
                f.number.clone(): 2.45,
                f.enum_.clone(): f.s1,
                f.multi.clone(): [f.ui, f.api, f.ui],
                f.date.clone(): {"date": "2026-12-24"},
                f.people.clone(): ["alice@example.com", bob],
            }}}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let task = gid(&t);
    for answer in [t.clone(), read(&c, &task).await] {
        assert_eq!(entry(&answer, &f.text)["text_value"], "ACME, Inc");
        let n = entry(&answer, &f.number);
        assert_eq!(n["precision"], 1);
        // Rounded to the field's precision, as Asana does.
        assert_eq!(n["number_value"], json!(2.5), "{n}");
        assert_eq!(n["display_value"], "2.5");
        let e = entry(&answer, &f.enum_);
        assert_eq!(e["enum_value"]["name"], "S1");
        let m = entry(&answer, &f.multi);
        assert_eq!(m["resource_subtype"], "multi_enum");
        // Repeats collapse; the order written is kept.
        assert_eq!(names(&m["multi_enum_values"]), ["ui", "api"]);
        assert_eq!(m["display_value"], "ui, api");
        let d = entry(&answer, &f.date);
        assert_eq!(d["date_value"], json!({"date": "2026-12-24"}), "{d}");
        assert_eq!(d["display_value"], "2026-12-24");
        let pe = entry(&answer, &f.people);
        assert_eq!(names(&pe["people_value"]), ["Alice", "Bob"]);
        assert_eq!(pe["people_value"][0]["gid"], json!(alice));
        assert_eq!(pe["display_value"], "Alice, Bob");
    }

    // Update: an instant for the date, other values, and one set cleared with [].
    let (s, u) = c
        .put(
            &format!("/tasks/{task}?opt_fields={VALUE_FIELDS}"),
            json!({"data": {"custom_fields": {
                f.text.clone(): null,
                f.number.clone(): -3,
                f.enum_.clone(): f.s2,
                f.multi.clone(): [f.db],
                f.date.clone(): {"date_time": "2026-12-24T14:00:00+01:00"},
                f.people.clone(): [],
            }}}),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    let after = read(&c, &task).await;
    assert_eq!(entry(&after, &f.text)["text_value"], Value::Null);
    assert_eq!(entry(&after, &f.text)["display_value"], Value::Null);
    assert_eq!(
        entry(&after, &f.number)["number_value"].as_f64(),
        Some(-3.0)
    );
    assert_eq!(entry(&after, &f.enum_)["enum_value"]["name"], "S2");
    assert_eq!(names(&entry(&after, &f.multi)["multi_enum_values"]), ["db"]);
    assert_eq!(
        entry(&after, &f.date)["date_value"],
        json!({"date": "2026-12-24", "date_time": "2026-12-24T13:00:00.000Z"})
    );
    assert_eq!(entry(&after, &f.people)["people_value"], json!([]));
    assert_eq!(entry(&after, &f.people)["display_value"], Value::Null);

    // The date given as the spec's plain string works too.
    let (s, b) = c
        .put(
            &format!("/tasks/{task}"),
            json!({"data": {"custom_fields": {f.date.clone(): "2027-01-02"}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        entry(&read(&c, &task).await, &f.date)["date_value"],
        json!({"date": "2027-01-02"})
    );

    // Every change left its story, of the field's type.
    let (s, stories) = c
        .get(&format!(
            "/tasks/{task}/stories?opt_fields=resource_subtype,new_multi_enum_values.name,new_people_value.name,new_date_value"
        ))
        .await;
    assert_eq!(s, 200, "{stories}");
    let subtypes: Vec<&str> = stories["data"]
        .as_array()
        .expect("stories")
        .iter()
        .filter_map(|s| s["resource_subtype"].as_str())
        .collect();
    for want in [
        "multi_enum_custom_field_changed",
        "date_custom_field_changed",
        "people_custom_field_changed",
    ] {
        assert!(subtypes.contains(&want), "{want}: {subtypes:?}");
    }
    let multi = stories["data"]
        .as_array()
        .expect("stories")
        .iter()
        .rfind(|s| s["resource_subtype"] == "multi_enum_custom_field_changed")
        .expect("a multi-enum story");
    assert_eq!(names(&multi["new_multi_enum_values"]), ["db"]);
}

#[tokio::test]
async fn values_of_the_wrong_kind_are_400s_that_name_the_field_and_change_nothing() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let f = fields(&c).await;
    let (s, t) = c
        .post(
            "/tasks",
            json!({"data": {"name": "t", "projects": [p], "custom_fields": {f.multi.clone(): [f.api]}}}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let task = gid(&t);
    // An option disabled after it was chosen stays, and cannot be chosen again.
    let (s, b) = c
        .put(
            &format!("/enum_options/{}", f.ui),
            json!({"data": {"enabled": false}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // A field of another project's only.
    let other =
        gid(&create_field(&c, json!({"name": "Elsewhere", "resource_subtype": "date"})).await);
    let cases = [
        (json!({f.text.clone(): 5}), "takes a string"),
        (json!({f.number.clone(): "5"}), "takes a number"),
        (json!({f.enum_.clone(): [f.s1]}), "enum options"),
        (json!({f.enum_.clone(): f.api}), "belongs to"),
        (json!({f.multi.clone(): f.api}), "an array of gids"),
        (json!({f.multi.clone(): [f.api, f.s1]}), "belongs to"),
        (json!({f.multi.clone(): [f.ui]}), "is disabled"),
        (
            json!({f.multi.clone(): ["1"]}),
            "Not a recognized enum option",
        ),
        (
            json!({f.multi.clone(): [5]}),
            "an array of enum option gids",
        ),
        (json!({f.date.clone(): "24.12.2026"}), "not a date"),
        (
            json!({f.date.clone(): {"date": "2026-12-24T10:00:00Z"}}),
            "not a date (YYYY-MM-DD)",
        ),
        (
            json!({f.date.clone(): {"date_time": "2026-12-24"}}),
            "ISO 8601",
        ),
        (
            json!({f.date.clone(): {"date": "2026-12-24", "date_time": "2026-12-24T10:00:00Z"}}),
            "not both",
        ),
        (
            json!({f.date.clone(): {"day": "2026-12-24"}}),
            "unknown key day",
        ),
        (json!({f.date.clone(): {}}), "needs date or date_time"),
        (json!({f.date.clone(): 20261224}), "takes {\"date\""),
        (
            json!({f.people.clone(): ["nobody@example.com"]}),
            "Not a recognized user",
        ),
        (json!({f.people.clone(): "me"}), "an array of user gids"),
        (json!({f.people.clone(): [7]}), "an array of user gids"),
        (
            json!({other.clone(): {"date": "2026-12-24"}}),
            "not on any of the task's projects",
        ),
    ];
    for (values, needle) in cases {
        for put in [true, false] {
            let (s, b) = if put {
                c.put(
                    &format!("/tasks/{task}"),
                    json!({"data": {"name": "changed", "custom_fields": values.clone()}}),
                )
                .await
            } else {
                c.post(
                    "/tasks",
                    json!({"data": {"name": "new", "projects": [p], "custom_fields": values.clone()}}),
                )
                .await
            };
            assert_eq!(s, 400, "{values}: {b}");
            assert!(msg(&b).contains(needle), "{values}: want {needle:?}: {b}");
            assert!(msg(&b).contains("custom_field"), "{b}");
        }
    }
    // Nothing was written: the name, the values and the number of tasks are as before.
    let after = read(&c, &task).await;
    assert_eq!(
        names(&entry(&after, &f.multi)["multi_enum_values"]),
        ["api"]
    );
    let (_, t) = c.get(&format!("/tasks/{task}?opt_fields=name")).await;
    assert_eq!(t["data"]["name"], "t");
    assert_eq!(c.fake.project_tasks(&p).len(), 1);
}

#[tokio::test]
async fn a_renamed_field_keeps_its_values_and_a_deleted_one_is_unknown() {
    let c = Client::new().await;
    let p = c.fake.project_gid();
    let f = fields(&c).await;
    let (s, t) = c
        .post(
            "/tasks",
            json!({"data": {"name": "t", "projects": [p], "custom_fields": {f.enum_.clone(): f.s1, f.text.clone(): "x"}}}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let task = gid(&t);

    let (s, b) = c
        .put(
            &format!("/custom_fields/{}", f.enum_),
            json!({"data": {"name": "Sev"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["name"], "Sev");
    assert_eq!(entry(&read(&c, &task).await, &f.enum_)["name"], "Sev");
    for (body, needle) in [
        (json!({"workspace": "1"}), "cannot change"),
        (json!({"name": "Customer"}), "already exists"),
        (json!({"precision": 2}), "Only number custom fields"),
        (json!({"format": "currency"}), "Not modelled"),
    ] {
        let (s, b) = c
            .put(
                &format!("/custom_fields/{}", f.enum_),
                json!({ "data": body }),
            )
            .await;
        assert_eq!(s, 400, "{b}");
        assert!(msg(&b).contains(needle), "{needle}: {b}");
    }
    let (s, b) = c
        .put(
            &format!("/custom_fields/{}", f.number),
            json!({"data": {"precision": 3}}),
        )
        .await;
    assert_eq!((s, b["data"]["precision"].clone()), (200, json!(3)), "{b}");

    let (s, b) = c.delete(&format!("/custom_fields/{}", f.enum_)).await;
    assert_eq!((s, b.clone()), (200, json!({"data": {}})), "{b}");
    let after = read(&c, &task).await;
    assert!(
        after["data"]["custom_fields"]
            .as_array()
            .expect("custom_fields")
            .iter()
            .all(|e| e["gid"] != json!(f.enum_)),
        "{after}"
    );
    assert_eq!(entry(&after, &f.text)["text_value"], "x");
    let (s, b) = c.get(&format!("/custom_fields/{}", f.enum_)).await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = c
        .put(
            &format!("/tasks/{task}"),
            json!({"data": {"custom_fields": {f.enum_.clone(): f.s1}}}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        msg(&b).contains(&format!("Not a recognized custom field ID: {}", f.enum_)),
        "{b}"
    );
    let (s, b) = c
        .get(&format!(
            "/projects/{p}/custom_field_settings?opt_fields=custom_field"
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"].as_array().expect("settings").len(), 5, "{b}");
}
