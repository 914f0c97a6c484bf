//! `list_tickets` of the `asana` provider: every task of the project (or of a status'
//! section) read 100 at a time, filtered on the client, sorted newest first, and cut into
//! pages by a cursor that is the sort key of the last ticket returned.

use serde_json::Value;
use ticket_provider_api::fields::passes_filters;
use ticket_provider_api::{Error, ListQuery, Result, Status, Ticket, TicketPage};

use crate::client::Request;
use crate::decode::to_ticket;
use crate::gid_cache::CachedRef;
use crate::lookup::SectionOf;
use crate::remote::str_field;
use crate::task_client::TaskClient;

/// A list cursor: the sort key of the last ticket of the previous page.
fn encode_cursor(t: &Ticket) -> String {
    format!("{}~{}", t.created_at.timestamp_millis(), t.guid)
}

fn decode_cursor(c: &str) -> Result<(i64, String)> {
    let bad = || {
        Error::invalid_input(format!(
            "cursor {c:?} is not a cursor of the asana provider; pass next_cursor of the previous page"
        ))
    };
    let (ms, gid) = c.split_once('~').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    if gid.is_empty() || !gid.chars().all(|x| x.is_ascii_digit()) {
        return Err(bad());
    }
    Ok((ms, gid.to_string()))
}

/// Newest first: created_at descending, then gid descending (gids as numbers of equal
/// length compare like strings of digits once lengths are compared).
fn newest_first(a: &Ticket, b: &Ticket) -> std::cmp::Ordering {
    b.created_at
        .timestamp_millis()
        .cmp(&a.created_at.timestamp_millis())
        .then_with(|| b.guid.len().cmp(&a.guid.len()))
        .then_with(|| b.guid.cmp(&a.guid))
}

fn after_cursor(t: &Ticket, key: &(i64, String)) -> bool {
    let ms = t.created_at.timestamp_millis();
    if ms != key.0 {
        return ms < key.0;
    }
    (t.guid.len(), t.guid.as_str()) < (key.1.len(), key.1.as_str())
}

/// Every task of the section of `status` (one request per 100 tasks), looking for the
/// section again, once, when the cached one is gone.
async fn section_tasks(tasks: &TaskClient, status: Status) -> Result<Vec<Value>> {
    let mut retried = false;
    loop {
        let section = tasks.core.lookup(SectionOf(status)).await?;
        let req =
            Request::get(format!("/sections/{section}/tasks")).fields(tasks.core.task_fields());
        match tasks.core.client().get_all(req).await {
            Ok(items) => return Ok(items),
            Err(e)
                if !retried
                    && tasks
                        .core
                        .drop_gone(&e, &[CachedRef::Section(status, section)])
                        .await =>
            {
                retried = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// One page of tickets for `query` (see the crate documentation for the requests).
pub(crate) async fn list_page(tasks: &TaskClient, query: ListQuery) -> Result<TicketPage> {
    let limit = query.validate()?;
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let items = match query.status {
        Some(status) => section_tasks(tasks, status).await?,
        None => {
            let req = Request::get(format!("/projects/{}/tasks", tasks.core.project()))
                .fields(tasks.core.task_fields());
            tasks.core.client().get_all(req).await?
        }
    };
    // Filter values in the declared type (a text from the command line becomes an option, a
    // number, a day), so that they compare with what the tasks hold.
    let mut want_fields = query.fields.clone();
    tasks.core.settings.fields.check_fields(&mut want_fields)?;
    if let Some(name) = want_fields
        .keys()
        .find(|n| !tasks.core.settings.asana_fields.contains_key(*n))
    {
        return Err(Error::invalid_input(format!(
            "field {name:?} is not kept in Asana, so no ticket of this provider has it: map it with homechoice.ticket.asana_fields.{name}"
        )));
    }
    let want_assignee = match query.assignee.as_deref().map(str::trim) {
        Some("me") => Some(tasks.token_owner().await?.gid),
        Some(a) => Some(a.to_string()),
        None => None,
    };
    let tasks = tasks.core.decode_tasks(&items).await?;
    let mut tickets = Vec::with_capacity(items.len());
    {
        for (v, task) in items.iter().zip(tasks) {
            if let Some(want) = &want_assignee {
                let gid = v
                    .get("assignee")
                    .and_then(|a| str_field(a, "gid"))
                    .unwrap_or_default();
                let matches = task
                    .assignee
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(want))
                    || gid == want;
                if !matches {
                    continue;
                }
            }
            let mut t = to_ticket(&task);
            if let Some(s) = query.status {
                // Listed from the section itself.
                t.status = s;
            }
            if query.priority.is_some_and(|p| p != t.priority) {
                continue;
            }
            if let Some(day) = query.due_before {
                if !t.due.is_some_and(|d| d.is_before(day)) {
                    continue;
                }
            }
            if !passes_filters(&t.fields, &t.labels, &want_fields, &query.labels) {
                continue;
            }
            tickets.push(t);
        }
    }
    tickets.sort_by(newest_first);
    if let Some(key) = &cursor {
        tickets.retain(|t| after_cursor(t, key));
    }
    let next_cursor = if tickets.len() > limit {
        tickets.truncate(limit);
        tickets.last().map(encode_cursor)
    } else {
        None
    };
    Ok(TicketPage {
        tickets,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::epoch;
    use ticket_provider_api::Priority;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let t = Ticket {
            guid: "123".into(),
            status: Status::New,
            provider: "asana".into(),
            subject: "s".into(),
            description: String::new(),
            priority: Priority::Normal,
            assignee: None,
            due: None,
            fields: Default::default(),
            labels: Default::default(),
            created_at: epoch(),
            updated_at: epoch(),
            asana_gid: None,
            sync_state: None,
        };
        let key = decode_cursor(&encode_cursor(&t)).unwrap();
        assert_eq!(key, (0, "123".into()));
        assert!(!after_cursor(&t, &key));
        for bad in ["", "x", "1~", "a~1", "1~x"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
