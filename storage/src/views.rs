//! Redis-held records: read models (MyPage, OrderDetails) and deliveries.
//!
//! A record is a Redis hash plus a membership in an index (a sorted set with
//! every score 0, so members sort by their bytes: the member is a sortable
//! key chosen by the caller, ending in the record id). Lists page through the
//! index with `ZRANGEBYLEX`; the cursor is the last member returned.
//!
//! Two Lua scripts change records atomically:
//! - [`merge`]: each field carries a rank. A field with rank 0 is written only
//!   if absent (facts that never change, like the address); a field with a
//!   rank is written only if the new rank is higher than the stored one (a
//!   status that only moves forward). Applying the same update twice, or two
//!   updates in either order, gives the same hash: projections built on it
//!   need no dedup table and tolerate out-of-order streams.
//! - [`transition`]: a guarded state change for an aggregate kept in Redis
//!   (a delivery): it checks the current status, writes the new one and
//!   appends the matching event to the stream, all in one step, so a
//!   delivery's state and its event can never disagree.

use std::collections::HashMap;

use redis::{aio::ConnectionManager, Script};

use crate::{outbox::StreamEvent, page::Page, StorageError};

const MERGE_LUA: &str = r#"
local changed = false
for i = 4, #ARGV, 3 do
  local f, v, r = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if r == 0 then
    if redis.call('HSETNX', KEYS[1], f, v) == 1 then changed = true end
  else
    local cur = tonumber(redis.call('HGET', KEYS[1], '_r_' .. f) or '0')
    if r > cur then
      redis.call('HSET', KEYS[1], f, v, '_r_' .. f, r)
      changed = true
    end
  end
end
if changed then
  local u = redis.call('HGET', KEYS[1], 'updatedAt')
  if (not u) or u < ARGV[1] then redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1]) end
end
if ARGV[2] == '1' then redis.call('ZADD', KEYS[2], 0, ARGV[3]) end
if changed then return 1 else return 0 end
"#;

const TRANSITION_LUA: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'status')
local creating = ARGV[2] == ''
if creating then
  if cur then return {2, cur} end
else
  if not cur then return {-1, ''} end
  if cur == ARGV[1] then return {2, cur} end
  if not string.find(',' .. ARGV[2] .. ',', ',' .. cur .. ',', 1, true) then return {0, cur} end
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updatedAt', ARGV[3])
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if creating then redis.call('ZADD', KEYS[2], 0, ARGV[4]) end
redis.call('XADD', KEYS[3], '*', 'id', ARGV[5], 'type', ARGV[6], 'data', ARGV[7])
return {1, ARGV[1]}
"#;

/// A field update for [`merge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldUpdate {
    /// The hash field.
    pub field: String,
    /// The value to write if the rank allows.
    pub value: String,
    /// 0: write only if absent; n > 0: write only if n beats the stored rank.
    pub rank: u32,
}

impl FieldUpdate {
    /// A fact written once.
    pub fn fact(field: &str, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            value: value.into(),
            rank: 0,
        }
    }

    /// A status that only moves to higher ranks.
    pub fn ranked(field: &str, value: impl Into<String>, rank: u32) -> Self {
        Self {
            field: field.into(),
            value: value.into(),
            rank,
        }
    }
}

/// Merges `updates` into the hash at `key` (see the module docs); if
/// `index_member` is given, the record is also listed in `index`. Returns
/// whether anything changed.
pub async fn merge(
    conn: &mut ConnectionManager,
    key: &str,
    index: &str,
    index_member: Option<&str>,
    updated_at: &str,
    updates: &[FieldUpdate],
) -> Result<bool, StorageError> {
    let script = Script::new(MERGE_LUA);
    let mut inv = script.key(key);
    inv.key(index)
        .arg(updated_at)
        .arg(if index_member.is_some() { "1" } else { "0" })
        .arg(index_member.unwrap_or(""));
    for u in updates {
        inv.arg(&u.field).arg(&u.value).arg(u.rank);
    }
    let changed: i64 = inv.invoke_async(conn).await?;
    Ok(changed == 1)
}

/// A guarded status change of a Redis-held aggregate.
#[derive(Clone, Debug)]
pub struct Transition<'a> {
    /// The record's hash key.
    pub key: &'a str,
    /// The index the record is listed in (used when creating).
    pub index: &'a str,
    /// The record's index member (used when creating).
    pub index_member: &'a str,
    /// The new status.
    pub to: &'a str,
    /// Statuses the record may be in; empty means "create: must not exist".
    pub from: &'a [&'a str],
    /// Timestamp written as `updatedAt`.
    pub updated_at: &'a str,
    /// Extra fields written along with the change.
    pub fields: &'a [(&'a str, String)],
    /// The event appended to `stream` when the change is applied.
    pub event: &'a StreamEvent,
    /// The stream.
    pub stream: &'a str,
}

/// What [`transition`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The change was applied and its event appended.
    Applied,
    /// The record was already in the target status (or, when creating,
    /// already existed): nothing changed, no event.
    Unchanged {
        /// The status it has.
        current: String,
    },
    /// The record is in a status the change may not start from.
    Illegal {
        /// The status it has.
        current: String,
    },
    /// No such record.
    Missing,
}

/// Applies a guarded transition atomically (see the module docs).
pub async fn transition(
    conn: &mut ConnectionManager,
    t: &Transition<'_>,
) -> Result<TransitionOutcome, StorageError> {
    let script = Script::new(TRANSITION_LUA);
    let mut inv = script.key(t.key);
    inv.key(t.index)
        .key(t.stream)
        .arg(t.to)
        .arg(t.from.join(","))
        .arg(t.updated_at)
        .arg(t.index_member)
        .arg(&t.event.event_id)
        .arg(&t.event.kind)
        .arg(&t.event.data);
    for (f, v) in t.fields {
        inv.arg(*f).arg(v);
    }
    let (code, current): (i64, String) = inv.invoke_async(conn).await?;
    Ok(match code {
        1 => TransitionOutcome::Applied,
        2 => TransitionOutcome::Unchanged { current },
        0 => TransitionOutcome::Illegal { current },
        _ => TransitionOutcome::Missing,
    })
}

/// Reads one record; `None` if it does not exist. Rank bookkeeping fields
/// are removed.
pub async fn get(
    conn: &mut ConnectionManager,
    key: &str,
) -> Result<Option<HashMap<String, String>>, StorageError> {
    let mut map: HashMap<String, String> = redis::cmd("HGETALL").arg(key).query_async(conn).await?;
    if map.is_empty() {
        return Ok(None);
    }
    map.retain(|k, _| !k.starts_with("_r_"));
    Ok(Some(map))
}

/// One page of the records listed in `index`, after `cursor`. `key_of` maps
/// an index member to the record's hash key; members whose hash is gone are
/// skipped.
pub async fn list(
    conn: &mut ConnectionManager,
    index: &str,
    cursor: Option<&str>,
    limit: u32,
    key_of: impl Fn(&str) -> String,
) -> Result<Page<HashMap<String, String>>, StorageError> {
    let start = match cursor {
        Some(c) => format!("({c}"),
        None => "-".to_string(),
    };
    let members: Vec<String> = redis::cmd("ZRANGEBYLEX")
        .arg(index)
        .arg(start)
        .arg("+")
        .arg("LIMIT")
        .arg(0)
        .arg(limit + 1)
        .query_async(conn)
        .await?;
    let has_more = members.len() > limit as usize;
    let members = &members[..members.len().min(limit as usize)];
    let mut pipe = redis::pipe();
    for m in members {
        pipe.cmd("HGETALL").arg(key_of(m));
    }
    let rows: Vec<HashMap<String, String>> = if members.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    let items = rows
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|mut r| {
            r.retain(|k, _| !k.starts_with("_r_"));
            r
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: if has_more {
            members.last().cloned()
        } else {
            None
        },
    })
}
