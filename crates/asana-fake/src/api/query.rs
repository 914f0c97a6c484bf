//! Query parameters with Asana's conventions, pagination (`limit`, `offset`,
//! `next_page`) and the rendering of single resources and lists.

use serde_json::{json, Value};

use crate::model::{Kind, State};
use crate::render::{render, FieldTree, Fields};
use crate::request::{ApiError, ApiRequest, ApiResponse, Res};

/// Query parameters with Asana's conventions.
pub(super) struct Params<'a>(pub(super) &'a [(String, String)]);

impl Params<'_> {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The field selection: `opt_fields` when given, else `default`.
    pub(super) fn fields(&self, default: Fields) -> Fields {
        match self.get("opt_fields") {
            Some(f) if !f.trim().is_empty() => Fields::Select(FieldTree::parse(f)),
            _ => default,
        }
    }
}

/// The page offset of list position `index`, valid while the offsets' `epoch` lasts
/// (`expire_offsets` starts a new one).
fn encode_offset(index: usize, epoch: u64) -> String {
    let check = ((index as u64) ^ epoch.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44;
    format!("eyJ0{index:x}x{epoch:x}x{check:x}")
}

/// The list position of an offset issued in `epoch`; `None` for anything else.
fn decode_offset(s: &str, epoch: u64) -> Option<usize> {
    let rest = s.strip_prefix("eyJ0")?;
    let (idx, _) = rest.split_once('x')?;
    let index = usize::from_str_radix(idx, 16).ok()?;
    (encode_offset(index, epoch) == s).then_some(index)
}

/// Builds a paginated list response of `gids` rendered as `kind`.
pub(super) fn list(state: &State, req: &ApiRequest, kind: Kind, gids: Vec<String>) -> Res {
    let params = Params(&req.query);
    let limit = match params.get("limit") {
        None => None,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => Some(n as usize),
            Ok(_) => return Err(ApiError::bad("limit: Must be between 1 and 100")),
            Err(_) => return Err(ApiError::bad(format!("limit: Not a valid integer: {l}"))),
        },
    };
    let start = match params.get("offset") {
        None => 0,
        Some(o) => decode_offset(o, state.offset_epoch).ok_or_else(|| {
            ApiError::bad(format!(
                "offset: Your pagination token is invalid or expired: {o}"
            ))
        })?,
    };
    let fields = params.fields(Fields::Compact);
    let end = limit.map_or(gids.len(), |l| (start + l).min(gids.len()));
    let start = start.min(gids.len());
    let data: Vec<Value> = gids[start..end]
        .iter()
        .map(|g| render(state, kind, g, &fields))
        .collect();
    let next_page = if end < gids.len() {
        let offset = encode_offset(end, state.offset_epoch);
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k != "offset")
            .cloned()
            .collect();
        q.push(("offset".into(), offset.clone()));
        let qs = serde_urlencoded::to_string(&q).unwrap_or_default();
        let path = format!("{}?{}", req.path, qs);
        json!({"offset": offset, "uri": format!("{}{}", state.base_url, path), "path": path})
    } else {
        Value::Null
    };
    Ok(ApiResponse::ok(
        json!({"data": data, "next_page": next_page}),
    ))
}

pub(super) fn location(state: &State, kind: Kind, gid: &str) -> String {
    format!("{}/{}s/{gid}", state.base_url, kind.as_str())
}

pub(super) fn single(state: &State, req: &ApiRequest, kind: Kind, gid: &str) -> Value {
    render(
        state,
        kind,
        gid,
        &Params(&req.query).fields(Fields::Default),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_reject_garbage() {
        for i in [0usize, 1, 99, 12345] {
            assert_eq!(decode_offset(&encode_offset(i, 0), 0), Some(i));
            assert_eq!(decode_offset(&encode_offset(i, 0), 1), None, "expired");
            assert_eq!(decode_offset(&encode_offset(i, 3), 3), Some(i));
        }
        assert_eq!(decode_offset("0", 0), None);
        assert_eq!(decode_offset("eyJ0ax0", 0), None);
        assert_eq!(decode_offset("", 0), None);
    }
}
