//! Custom fields and labels under random values: what is written is what is read, an update
//! gives what applying it to the old values gives, and a filter finds exactly the tickets
//! whose values match it.

use std::collections::{BTreeMap, BTreeSet};

use provider_internal::{InternalProvider, StoreOptions};
use ticket_provider_api::fields::{apply_field_changes, passes_filters};
use ticket_provider_api::{
    Due, FieldSchema, FieldType, FieldValue, Fields, Labels, ListQuery, NewTicket, TicketProvider,
    TicketUpdate,
};

/// A small seeded generator, so that a failure names the seed that replays it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
    fn subset(&mut self, from: &[&str]) -> BTreeSet<String> {
        from.iter()
            .filter(|_| self.below(2) == 0)
            .map(|s| s.to_string())
            .collect()
    }
}

const OPTIONS: &[&str] = &["S1", "S2", "S3"];
const PEOPLE: &[&str] = &["a@example.com", "b@example.com", "c@example.org"];
const LABELS: &[&str] = &["vip", "later", "team-α", "ops"];
const WORDS: &[&str] = &["ACME, Inc", "Zoë", "north", "ünïcödé ✓", "x"];

fn schema() -> FieldSchema {
    let options = || OPTIONS.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    FieldSchema::new([
        ("t".to_string(), FieldType::Text),
        ("n".to_string(), FieldType::Number { precision: 2 }),
        ("e".to_string(), FieldType::Enum { options: options() }),
        ("m".to_string(), FieldType::MultiEnum { options: options() }),
        ("d".to_string(), FieldType::Date),
        ("p".to_string(), FieldType::People),
    ])
    .expect("schema")
}

fn value(rng: &mut Rng, name: &str) -> FieldValue {
    match name {
        "t" => FieldValue::Text(rng.pick(WORDS).to_string()),
        "n" => {
            let cents = rng.below(2_000_000) as i64 - 1_000_000;
            FieldValue::Number(format!("{:.2}", cents as f64 / 100.0).parse().unwrap())
        }
        "e" => FieldValue::Enum(rng.pick(OPTIONS).to_string()),
        "m" => FieldValue::MultiEnum(rng.subset(OPTIONS)),
        "d" if rng.below(2) == 0 => FieldValue::Date(Due::Date(
            chrono::NaiveDate::from_ymd_opt(
                2000 + rng.below(100) as i32,
                1,
                1 + rng.below(28) as u32,
            )
            .unwrap(),
        )),
        "d" => FieldValue::Date(Due::At(
            chrono::DateTime::from_timestamp_millis(rng.below(4_000_000_000_000) as i64).unwrap(),
        )),
        _ => FieldValue::People(rng.subset(PEOPLE)),
    }
}

/// What a ticket holds once empty sets are dropped (they are no value).
fn held(fields: Fields) -> Fields {
    fields.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

pub async fn random_fields_round_trip(url: &str) {
    let p = InternalProvider::open(
        url,
        StoreOptions {
            fields: schema(),
            ..StoreOptions::default()
        },
    )
    .await
    .expect("open");
    let names = ["t", "n", "e", "m", "d", "p"];
    let seed = 0x5eed_f1e1_u64;
    let mut rng = Rng(seed);
    let mut model: BTreeMap<String, (Fields, Labels)> = BTreeMap::new();
    for round in 0..40 {
        let at = format!("seed {seed:#x}, round {round}");
        let mut new = NewTicket::new(format!("random {round}"));
        for n in names {
            if rng.below(3) != 0 {
                new.fields.insert(n.to_string(), value(&mut rng, n));
            }
        }
        new.labels = rng.subset(LABELS);
        let guid = p.create(new.clone()).await.expect("create").guid;
        let t = p.get_ticket(&guid).await.expect("get").ticket;
        assert_eq!(
            t.fields,
            held(new.fields.clone()),
            "{at}: fields after create"
        );
        assert_eq!(t.labels, new.labels, "{at}: labels after create");

        let mut upd = TicketUpdate::default();
        for n in names {
            match rng.below(4) {
                0 => {
                    upd.fields.insert(n.to_string(), Some(value(&mut rng, n)));
                }
                1 => {
                    upd.fields.insert(n.to_string(), None);
                }
                _ => {}
            }
        }
        upd.add_labels = rng.subset(LABELS);
        upd.remove_labels = rng
            .subset(LABELS)
            .difference(&upd.add_labels)
            .cloned()
            .collect();
        let mut want = t.fields.clone();
        let changes: BTreeMap<_, _> = upd
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().filter(|v| !v.is_empty())))
            .collect();
        apply_field_changes(&mut want, &changes);
        let want_labels = upd.apply_labels(&t.labels);
        if !upd.is_empty() {
            p.update(&guid, upd).await.expect("update");
        }
        let t = p.get_ticket(&guid).await.expect("get").ticket;
        assert_eq!(t.fields, want, "{at}: fields after update");
        assert_eq!(t.labels, want_labels, "{at}: labels after update");
        model.insert(guid, (want, want_labels));
    }

    // Every filter of one field value and one label finds exactly the matching tickets.
    for round in 0..20 {
        let name = names[rng.below(names.len() as u64) as usize];
        let want_value = value(&mut rng, name);
        if want_value.is_empty() {
            continue;
        }
        let want_fields: Fields = [(name.to_string(), want_value)].into();
        let want_labels: Labels = rng.subset(&LABELS[..2]);
        let query = ListQuery {
            fields: want_fields.clone(),
            labels: want_labels.clone(),
            limit: Some(7),
            ..Default::default()
        };
        let mut found = BTreeSet::new();
        let mut q = query.clone();
        loop {
            let page = p.list_tickets(q.clone()).await.expect("list");
            found.extend(page.tickets.into_iter().map(|t| t.guid));
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let expected: BTreeSet<String> = model
            .iter()
            .filter(|(_, (f, l))| passes_filters(f, l, &want_fields, &want_labels))
            .map(|(g, _)| g.clone())
            .collect();
        assert_eq!(found, expected, "filter round {round}: {query:?}");
    }
}
