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
//!   status that only moves forward). `updatedAt` becomes the newest
//!   timestamp of the updates that changed something. Applying the same
//!   update twice, or two updates in either order, gives the same hash:
//!   projections built on it need no dedup table and tolerate out-of-order
//!   streams; and the updates of several events to one record can be merged
//!   in one call with the same result as one call per event.
//!   [`merge_many`] sends many merges in one round trip.
//! - [`transition`]: a guarded state change for an aggregate kept in Redis
//!   (a delivery): it checks the current status, writes the new one and
//!   appends the matching event to the stream, all in one step, so a
//!   delivery's state and its event can never disagree.

use std::collections::HashMap;

use redis::{aio::ConnectionManager, Script};

use crate::{outbox::StreamEvent, page::Page, StorageError};

const MERGE_LUA: &str = r#"
local newest = nil
for i = 3, #ARGV, 4 do
  local f, v, r, at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local changed = false
  if r == 0 then
    changed = redis.call('HSETNX', KEYS[1], f, v) == 1
  else
    local cur = tonumber(redis.call('HGET', KEYS[1], '_r_' .. f) or '0')
    if r > cur then
      redis.call('HSET', KEYS[1], f, v, '_r_' .. f, r)
      changed = true
    end
  end
  if changed and ((not newest) or at > newest) then newest = at end
end
if newest then
  local u = redis.call('HGET', KEYS[1], 'updatedAt')
  if (not u) or u < newest then redis.call('HSET', KEYS[1], 'updatedAt', newest) end
end
if ARGV[1] == '1' then redis.call('ZADD', KEYS[2], 0, ARGV[2]) end
if newest then return 1 else return 0 end
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
    /// When the change happened (RFC 3339; `updatedAt` if it takes effect).
    pub at: String,
}

impl FieldUpdate {
    /// A fact written once.
    pub fn fact(field: &str, value: impl Into<String>, at: &str) -> Self {
        Self::ranked(field, value, 0, at)
    }

    /// A status that only moves to higher ranks.
    pub fn ranked(field: &str, value: impl Into<String>, rank: u32, at: &str) -> Self {
        Self {
            field: field.into(),
            value: value.into(),
            rank,
            at: at.into(),
        }
    }
}

/// One [`merge`]: updates to the hash at `key`, listed in `index` under
/// `index_member` when that is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merge {
    /// The hash.
    pub key: String,
    /// The index the record is listed in.
    pub index: String,
    /// Its member in the index, when this merge lists it.
    pub index_member: Option<String>,
    /// The updates, applied in order.
    pub updates: Vec<FieldUpdate>,
}

fn merge_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(MERGE_LUA))
}

fn invocation(m: &Merge) -> redis::ScriptInvocation<'static> {
    let mut inv = merge_script().key(&m.key);
    inv.key(&m.index)
        .arg(if m.index_member.is_some() { "1" } else { "0" })
        .arg(m.index_member.as_deref().unwrap_or(""));
    for u in &m.updates {
        inv.arg(&u.field).arg(&u.value).arg(u.rank).arg(&u.at);
    }
    inv
}

/// Applies one merge (see the module docs); whether anything changed.
pub async fn merge(conn: &mut ConnectionManager, m: &Merge) -> Result<bool, StorageError> {
    let changed: i64 = invocation(m).invoke_async(conn).await?;
    Ok(changed == 1)
}

/// Applies many merges in one round trip. The outer error is the round
/// trip's; each merge has its own result (whether it changed something).
pub async fn merge_many(
    conn: &mut ConnectionManager,
    merges: &[Merge],
) -> Result<Vec<Result<bool, StorageError>>, StorageError> {
    if merges.is_empty() {
        return Ok(Vec::new());
    }
    let invocations: Vec<_> = merges.iter().map(invocation).collect();
    let results = pipelined(conn, merge_script(), &invocations).await?;
    Ok(results
        .into_iter()
        .map(|r| r.map(|changed: i64| changed == 1))
        .collect())
}

/// Sends `invocations` of `script` in one pipeline; loads the script and
/// sends again what Redis did not know it for (after a Redis restart).
async fn pipelined<T: redis::FromRedisValue>(
    conn: &mut ConnectionManager,
    script: &Script,
    invocations: &[redis::ScriptInvocation<'_>],
) -> Result<Vec<Result<T, StorageError>>, StorageError> {
    let send = |conn: &mut ConnectionManager, which: Vec<usize>| {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for i in &which {
            pipe.invoke_script(&invocations[*i]);
        }
        let mut conn = conn.clone();
        async move {
            let out: Vec<redis::RedisResult<T>> = pipe.query_async(&mut conn).await?;
            Ok::<_, StorageError>(which.into_iter().zip(out).collect::<Vec<_>>())
        }
    };
    let mut results: Vec<Option<Result<T, StorageError>>> =
        invocations.iter().map(|_| None).collect();
    let mut retry = Vec::new();
    for (i, r) in send(conn, (0..invocations.len()).collect()).await? {
        match r {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                retry.push(i)
            }
            other => results[i] = Some(other.map_err(StorageError::from)),
        }
    }
    if !retry.is_empty() {
        script.load_async(conn).await?;
        for (i, r) in send(conn, retry).await? {
            results[i] = Some(r.map_err(StorageError::from));
        }
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(StorageError::Redis(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "no answer",
                ))))
            })
        })
        .collect())
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
    let (code, current): (i64, String) = transition_invocation(t).invoke_async(conn).await?;
    Ok(outcome(code, current))
}

/// Applies many transitions in one round trip, in order; each has its own
/// result.
pub async fn transition_many(
    conn: &mut ConnectionManager,
    ts: &[Transition<'_>],
) -> Result<Vec<Result<TransitionOutcome, StorageError>>, StorageError> {
    if ts.is_empty() {
        return Ok(Vec::new());
    }
    let invocations: Vec<_> = ts.iter().map(transition_invocation).collect();
    let results = pipelined(conn, transition_script(), &invocations).await?;
    Ok(results
        .into_iter()
        .map(|r| r.map(|(code, current): (i64, String)| outcome(code, current)))
        .collect())
}

fn transition_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(TRANSITION_LUA))
}

fn transition_invocation<'a>(t: &Transition<'a>) -> redis::ScriptInvocation<'static> {
    let mut inv = transition_script().key(t.key);
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
    inv
}

fn outcome(code: i64, current: String) -> TransitionOutcome {
    match code {
        1 => TransitionOutcome::Applied,
        2 => TransitionOutcome::Unchanged { current },
        0 => TransitionOutcome::Illegal { current },
        _ => TransitionOutcome::Missing,
    }
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
