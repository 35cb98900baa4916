//! `?limit=&cursor=` and lists that span shards.
//!
//! Cursors are opaque to clients (hex). For Redis-held views the cursor is
//! the last index member returned. For orders and payments, which live on
//! shards, it records the last sequence number taken from each shard; a page
//! is a k-way merge of the shards' next items by creation time, and each
//! shard's cursor only advances over items actually returned, so walking
//! all pages yields every item exactly once even while new ones arrive.

use std::collections::{BTreeMap, VecDeque};

use kukka_actors::runtime::paging::ShardPage;
use kukka_storage::page::{DEFAULT_LIMIT, MAX_LIMIT};
use serde::Serialize;

use crate::error::ApiError;

/// Raw list query parameters.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListParams {
    /// Page size.
    pub limit: Option<String>,
    /// Opaque cursor.
    pub cursor: Option<String>,
}

/// The list query of a request, or why it is malformed (`400
/// invalid_query`: a repeated parameter; unknown ones are ignored, so a
/// cache-busting `?_=...` does no harm).
/// Never rejects, so a bad query can never lose to another route's
/// rejection (it answered `405` once).
pub fn list_params(
) -> impl warp::Filter<Extract = (Result<ListParams, ApiError>,), Error = std::convert::Infallible> + Clone
{
    use warp::Filter;
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .map(|raw: String| ListParams::parse(&raw))
}

impl ListParams {
    /// Parses a query string.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(raw)
            .map_err(|e| ApiError::BadQuery(format!("malformed query string: {e}")))
    }

    /// The page size, 1..=500, default 50.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match &self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::BadQuery(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))),
            },
        }
    }

    /// The decoded cursor text.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(c) => unhex(c)
                .map(Some)
                .ok_or_else(|| ApiError::BadQuery("cursor is not one this server issued".into())),
        }
    }

    /// The cursor as per-shard positions.
    pub fn shard_cursor(&self) -> Result<BTreeMap<u32, u64>, ApiError> {
        let Some(text) = self.cursor()? else {
            return Ok(BTreeMap::new());
        };
        let bad = || ApiError::BadQuery("cursor is not one this server issued".into());
        text.split(',')
            .map(|part| {
                let (s, q) = part.split_once(':').ok_or_else(bad)?;
                Ok((s.parse().map_err(|_| bad())?, q.parse().map_err(|_| bad())?))
            })
            .collect()
    }
}

/// The list envelope.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListBody<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Next page, if any.
    pub next_cursor: Option<String>,
}

/// Hex-encodes a cursor.
pub fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) || s.len() > 4096 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A shard's remaining items and whether it has more beyond them.
type ShardQueue<T> = (u32, VecDeque<(u64, T)>, bool);

/// Merges shard pages (see the module docs). `key` gives an item's sort key
/// (creation time, then id).
pub fn merge_shards<T>(
    pages: Vec<ShardPage<T>>,
    mut cursor: BTreeMap<u32, u64>,
    limit: u32,
    key: impl Fn(&T) -> (String, String),
) -> ListBody<T> {
    let mut queues: Vec<ShardQueue<T>> = pages
        .into_iter()
        .map(|p| (p.shard, p.items.into(), p.has_more))
        .collect();
    let mut items = Vec::new();
    while items.len() < limit as usize {
        let next = queues
            .iter()
            .enumerate()
            .filter_map(|(i, (_, q, _))| q.front().map(|(_, t)| (key(t), i)))
            .min();
        let Some((_, i)) = next else { break };
        let (shard, queue, _) = &mut queues[i];
        if let Some((seq, item)) = queue.pop_front() {
            cursor.insert(*shard, seq);
            items.push(item);
        }
    }
    let more = queues
        .iter()
        .any(|(_, q, has_more)| !q.is_empty() || *has_more);
    let next_cursor = more.then(|| {
        let text: Vec<String> = cursor.iter().map(|(s, q)| format!("{s}:{q}")).collect();
        hex(&text.join(","))
    });
    ListBody { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(shard: u32, items: &[(u64, &str)], has_more: bool) -> ShardPage<String> {
        ShardPage {
            shard,
            items: items.iter().map(|(s, t)| (*s, t.to_string())).collect(),
            has_more,
        }
    }

    #[test]
    fn repeated_parameters_are_bad_queries_and_unknown_ones_are_ignored() {
        assert!(ListParams::parse("").is_ok());
        assert!(ListParams::parse("_=123").is_ok());
        assert_eq!(
            ListParams::parse("limit=5&cursor=ab")
                .expect("parse")
                .limit()
                .ok(),
            Some(5)
        );
        for bad in [
            "limit=null&limit=null",
            "limit=1&limit=2",
            "cursor=a&cursor=b",
        ] {
            assert!(
                matches!(ListParams::parse(bad), Err(ApiError::BadQuery(_))),
                "{bad}"
            );
        }
        assert!(ListParams::parse("limit=null")
            .expect("parse")
            .limit()
            .is_err());
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        let p = |l: &str| {
            ListParams {
                limit: Some(l.into()),
                cursor: None,
            }
            .limit()
        };
        assert_eq!(p("1").ok(), Some(1));
        assert_eq!(p("500").ok(), Some(500));
        for bad in ["0", "501", "-1", "x", "1.5", ""] {
            assert!(p(bad).is_err(), "{bad}");
        }
        let c = |c: &str| {
            ListParams {
                limit: None,
                cursor: Some(c.into()),
            }
            .shard_cursor()
        };
        assert!(c("zz").is_err());
        assert!(c(&hex("0:x")).is_err());
        assert_eq!(
            c(&hex("0:5,1:7")).ok(),
            Some(BTreeMap::from([(0, 5), (1, 7)]))
        );
    }

    #[test]
    fn shards_merge_by_time_and_cursors_cover_only_returned_items() {
        let key = |t: &String| (t.clone(), String::new());
        let body = merge_shards(
            vec![
                page(0, &[(1, "a"), (2, "d")], false),
                page(1, &[(1, "b"), (5, "c")], true),
            ],
            BTreeMap::new(),
            3,
            key,
        );
        assert_eq!(body.items, ["a", "b", "c"]);
        let cursor = ListParams {
            limit: None,
            cursor: body.next_cursor,
        }
        .shard_cursor()
        .expect("cursor");
        assert_eq!(cursor, BTreeMap::from([(0, 1), (1, 5)]));
        let last = merge_shards(vec![page(0, &[(2, "d")], false)], cursor, 3, key);
        assert_eq!(last.items, ["d"]);
        assert!(last.next_cursor.is_none());
    }
}
