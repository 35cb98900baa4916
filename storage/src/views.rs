//! Redis-held records: read models (MyPage, OrderDetails) and deliveries.
//!
//! A record is a Redis hash, listed in an index (a sorted set with every
//! score 0, so members sort by their bytes: the member is a sortable key
//! chosen by the caller, ending in the record id). Lists page through the
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
//! - [`transition`]: a guarded state change for an aggregate kept in Redis
//!   (a delivery): it checks the current status, writes the new one and
//!   appends the matching event to the stream, all in one step, so a
//!   delivery's state and its event can never disagree.
//!
//! A script reads what it needs with one `HMGET` (or `HGET`) and writes a
//! record with one `HSET`. Redis propagates a script by its effects, so the
//! AOF gets one command per merge (one `HSET` and one `XADD` per
//! transition) rather than a `MULTI` block of one write per field.
//!
//! Each script touches keys of one hash slot (the record, and for a
//! transition the stream of the record's partition: callers give both the
//! same hash tag), so they run on a Redis Cluster. Index entries are added
//! by separate commands: adding a member twice changes nothing.
//! [`merge_many`] and [`transition_many`] send many changes at once, one
//! pipeline per hash slot on a cluster, all in one on a single Redis.

use std::{collections::BTreeMap, collections::HashMap, future::Future};

use redis::Script;

use crate::{outbox::StreamEvent, page::Page, redis_conn::RedisConn, StorageError};

const MERGE_LUA: &str = r#"
local names = {}
for i = 1, #ARGV, 4 do
  if tonumber(ARGV[i + 2]) == 0 then names[#names + 1] = ARGV[i]
  else names[#names + 1] = '_r_' .. ARGV[i] end
end
names[#names + 1] = 'updatedAt'
local got = redis.call('HMGET', KEYS[1], unpack(names))
local seen = {}
for j = 1, #names do if got[j] then seen[names[j]] = got[j] end end
local out, written = {}, {}
local function put(f, v)
  if not written[f] then written[f] = #out + 1; out[#out + 1] = f; out[#out + 1] = v
  else out[written[f] + 1] = v end
  seen[f] = v
end
local newest = nil
for i = 1, #ARGV, 4 do
  local f, v, r, at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local changed = false
  if r == 0 then
    if not seen[f] then put(f, v); changed = true end
  elseif r > tonumber(seen['_r_' .. f] or '0') then
    put(f, v); put('_r_' .. f, ARGV[i + 2]); changed = true
  end
  if changed and ((not newest) or at > newest) then newest = at end
end
if not newest then return 0 end
if (not seen['updatedAt']) or seen['updatedAt'] < newest then put('updatedAt', newest) end
redis.call('HSET', KEYS[1], unpack(out))
return 1
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
local fields = {'status', ARGV[1], 'updatedAt', ARGV[3]}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('XADD', KEYS[2], '*', 'id', ARGV[4], 'type', ARGV[5], 'data', ARGV[6])
return {1, ARGV[1]}
"#;

/// The hash slot group of `key`: its hash tag (what is between the first
/// `{` and the next `}`, when not empty), else the whole key, as Redis
/// Cluster decides a key's slot.
pub fn slot_of(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        if let Some(len) = key[open + 1..].find('}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// Runs `send` for groups of the indices `0..n` whose keys share a slot (on
/// a cluster; all in one group on a single Redis), together, and puts the
/// results back in order.
async fn by_slot<T, F, Fut>(
    conn: &RedisConn,
    keys: &[&str],
    send: F,
) -> Result<Vec<T>, StorageError>
where
    F: Fn(RedisConn, Vec<usize>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StorageError>>,
{
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        let group = if conn.is_cluster() { slot_of(k) } else { "" };
        groups.entry(group).or_default().push(i);
    }
    let sends = groups.into_values().map(|which| {
        let fut = send(conn.clone(), which.clone());
        async move {
            fut.await
                .map(|out| which.into_iter().zip(out).collect::<Vec<_>>())
        }
    });
    let mut results: Vec<Option<T>> = keys.iter().map(|_| None).collect();
    for group in futures_util::future::join_all(sends).await {
        for (i, r) in group? {
            results[i] = Some(r);
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| StorageError::Config("a pipeline lost an answer".into())))
        .collect()
}

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

/// One [`merge`]: updates to the hash at `key`, and the index entries the
/// record gets (when this merge lists it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merge {
    /// The hash.
    pub key: String,
    /// `(index, member)` pairs to add the record to.
    pub listed_in: Vec<(String, String)>,
    /// The updates, applied in order.
    pub updates: Vec<FieldUpdate>,
}

fn merge_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(MERGE_LUA))
}

fn invocation(m: &Merge) -> redis::ScriptInvocation<'static> {
    let mut inv = merge_script().key(&m.key);
    for u in &m.updates {
        inv.arg(&u.field).arg(&u.value).arg(u.rank).arg(&u.at);
    }
    inv
}

/// Applies one merge (see the module docs); whether anything changed.
pub async fn merge(conn: &mut RedisConn, m: &Merge) -> Result<bool, StorageError> {
    let mut results = merge_many(conn, std::slice::from_ref(m)).await?;
    results.pop().unwrap_or(Ok(false))
}

/// Applies many merges at once (one round trip per hash slot, sent
/// together), then adds their index entries. The outer error is a round
/// trip's; each merge has its own result (whether it changed something).
pub async fn merge_many(
    conn: &mut RedisConn,
    merges: &[Merge],
) -> Result<Vec<Result<bool, StorageError>>, StorageError> {
    if merges.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = merges.iter().map(|m| m.key.as_str()).collect();
    let results = by_slot(conn, &keys, |conn, which| {
        let picked: Vec<_> = which.iter().map(|i| invocation(&merges[*i])).collect();
        async move { pipelined::<i64>(conn, merge_script(), &picked).await }
    })
    .await?;
    let entries: Vec<(&str, &str)> = merges
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .flat_map(|(m, _)| m.listed_in.iter())
        .map(|(index, member)| (index.as_str(), member.as_str()))
        .collect();
    list_in(conn, &entries).await?;
    Ok(results
        .into_iter()
        .map(|r| r.map(|changed| changed == 1))
        .collect())
}

/// Adds `(index, member)` entries (idempotent), one pipeline per slot.
pub async fn list_in(conn: &RedisConn, entries: &[(&str, &str)]) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = entries.iter().map(|(index, _)| *index).collect();
    by_slot(conn, &keys, |mut conn, which| {
        let mut pipe = redis::pipe();
        for i in &which {
            let (index, member) = entries[*i];
            pipe.cmd("ZADD").arg(index).arg(0).arg(member);
        }
        async move {
            let out: Vec<i64> = pipe.query_async(&mut conn).await?;
            Ok(out)
        }
    })
    .await?;
    Ok(())
}

/// Sends `invocations` of `script` in one pipeline; loads the script and
/// sends again what Redis did not know it for (after a Redis restart).
async fn pipelined<T: redis::FromRedisValue>(
    conn: RedisConn,
    script: &Script,
    invocations: &[redis::ScriptInvocation<'_>],
) -> Result<Vec<Result<T, StorageError>>, StorageError> {
    let send = |conn: &RedisConn, which: Vec<usize>| {
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
    for (i, r) in send(&conn, (0..invocations.len()).collect()).await? {
        match r {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                retry.push(i)
            }
            other => results[i] = Some(other.map_err(StorageError::from)),
        }
    }
    if !retry.is_empty() {
        let mut loading = conn.clone();
        script.load_async(&mut loading).await?;
        for (i, r) in send(&conn, retry).await? {
            results[i] = Some(r.map_err(StorageError::from));
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StorageError::Config("a script lost its answer".into()))))
        .collect())
}

/// A guarded status change of a Redis-held aggregate.
#[derive(Clone, Debug)]
pub struct Transition<'a> {
    /// The record's hash key.
    pub key: &'a str,
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
    /// The stream (in the record's hash slot).
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
    conn: &mut RedisConn,
    t: &Transition<'_>,
) -> Result<TransitionOutcome, StorageError> {
    let mut results = transition_many(conn, std::slice::from_ref(t)).await?;
    results
        .pop()
        .unwrap_or_else(|| Err(StorageError::Config("a transition lost its answer".into())))
}

/// Applies many transitions at once (one round trip per hash slot, sent
/// together), each in order within its slot; each has its own result.
pub async fn transition_many(
    conn: &mut RedisConn,
    ts: &[Transition<'_>],
) -> Result<Vec<Result<TransitionOutcome, StorageError>>, StorageError> {
    if ts.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = ts.iter().map(|t| t.key).collect();
    let results = by_slot(conn, &keys, |conn, which| {
        let picked: Vec<_> = which
            .iter()
            .map(|i| transition_invocation(&ts[*i]))
            .collect();
        async move { pipelined::<(i64, String)>(conn, transition_script(), &picked).await }
    })
    .await?;
    Ok(results
        .into_iter()
        .map(|r| r.map(|(code, current)| outcome(code, current)))
        .collect())
}

fn transition_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(TRANSITION_LUA))
}

fn transition_invocation(t: &Transition<'_>) -> redis::ScriptInvocation<'static> {
    let mut inv = transition_script().key(t.key);
    inv.key(t.stream)
        .arg(t.to)
        .arg(t.from.join(","))
        .arg(t.updated_at)
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

fn without_ranks(mut map: HashMap<String, String>) -> HashMap<String, String> {
    map.retain(|k, _| !k.starts_with("_r_"));
    map
}

/// Reads one record; `None` if it does not exist. Rank bookkeeping fields
/// are removed.
pub async fn get(
    conn: &mut RedisConn,
    key: &str,
) -> Result<Option<HashMap<String, String>>, StorageError> {
    let map: HashMap<String, String> = redis::cmd("HGETALL").arg(key).query_async(conn).await?;
    Ok((!map.is_empty()).then(|| without_ranks(map)))
}

/// One page of the records listed in `index`, after `cursor`. `key_of` maps
/// an index member to the record's hash key; members whose hash is gone are
/// skipped.
pub async fn list(
    conn: &mut RedisConn,
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
    let keys: Vec<String> = members.iter().map(|m| key_of(m)).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let rows = by_slot(conn, &key_refs, |mut conn, which| {
        let mut pipe = redis::pipe();
        for i in &which {
            pipe.cmd("HGETALL").arg(&keys[*i]);
        }
        async move {
            let rows: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
            Ok(rows)
        }
    })
    .await?;
    Ok(Page {
        items: rows
            .into_iter()
            .filter(|r| !r.is_empty())
            .map(without_ranks)
            .collect(),
        next_cursor: if has_more {
            members.last().cloned()
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::slot_of;

    #[test]
    fn slots_follow_redis_hash_tags() {
        assert_eq!(slot_of("kukka:{p3}:view:0-1"), "p3");
        assert_eq!(slot_of("kukka:{p3}:events"), "p3");
        assert_eq!(slot_of("kukka:views"), "kukka:views");
        assert_eq!(slot_of("a{}b{c}"), "a{}b{c}", "an empty tag is no tag");
        assert_eq!(slot_of("a{b"), "a{b");
    }
}
