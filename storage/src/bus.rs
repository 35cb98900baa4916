//! The Redis Streams event bus.
//!
//! All domain events go to one stream, [`EVENTS_STREAM`], as entries with the
//! fields `id` (event id), `type` and `data` (the JSON envelope). Each kind of
//! consumer reads it through its own consumer group, acknowledges an entry
//! only after applying it, and reclaims entries that a dead consumer left
//! pending. Entries that keep failing are copied to [`DEAD_LETTER_STREAM`]
//! with the error and acknowledged, so one poison event never blocks a group.

use std::collections::HashMap;

use redis::{aio::ConnectionManager, streams::StreamId, Value};

use crate::{outbox::StreamEvent, StorageError};

/// The stream every domain event is appended to.
pub const EVENTS_STREAM: &str = "kukka:events";
/// Where events that failed too often are parked, with their error.
pub const DEAD_LETTER_STREAM: &str = "kukka:events:dead";

/// An entry read from a consumer group.
#[derive(Clone, Debug)]
pub struct Delivered {
    /// The stream entry id (for `XACK`).
    pub entry_id: String,
    /// The event, or why it could not be read.
    pub event: Result<StreamEvent, String>,
    /// How many times the entry has been delivered, when Redis said.
    pub delivery_count: Option<usize>,
}

/// Appends `events` to `stream` in one pipeline; returns when Redis has
/// acknowledged every append.
pub async fn publish(
    conn: &mut ConnectionManager,
    stream: &str,
    events: &[StreamEvent],
) -> Result<(), StorageError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for ev in events {
        pipe.cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("id")
            .arg(&ev.event_id)
            .arg("type")
            .arg(&ev.kind)
            .arg("data")
            .arg(&ev.data)
            .ignore();
    }
    pipe.query_async::<()>(conn).await?;
    Ok(())
}

/// Creates `group` on `stream` (and the stream) if it does not exist yet.
/// A new group starts at the beginning of the stream, so nothing appended
/// before the consumer first started is missed.
pub async fn ensure_group(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
) -> Result<(), StorageError> {
    let res: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads up to `count` entries for `consumer`. `start` is `">"` for new
/// entries or `"0"` for this consumer's own pending ones (after a restart).
/// `ack_first` are entries already applied: they are acknowledged in the
/// same round trip, before the read.
#[allow(clippy::too_many_arguments)]
pub async fn read_group(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    consumer: &str,
    start: &str,
    count: usize,
    block_ms: u64,
    ack_first: &[String],
) -> Result<Vec<Delivered>, StorageError> {
    let mut pipe = redis::pipe();
    if !ack_first.is_empty() {
        pipe.cmd("XACK")
            .arg(stream)
            .arg(group)
            .arg(ack_first)
            .ignore();
    }
    let cmd = pipe
        .cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if start == ">" {
        cmd.arg("BLOCK").arg(block_ms);
    }
    cmd.arg("STREAMS").arg(stream).arg(start);
    let (reply,): (Option<redis::streams::StreamReadReply>,) = pipe.query_async(conn).await?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .map(to_delivered)
        .collect())
}

/// Claims up to `count` entries of `group` that have been pending for at
/// least `min_idle_ms` (their consumer died or stalled) for `consumer`.
pub async fn autoclaim(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    consumer: &str,
    min_idle_ms: u64,
    count: usize,
) -> Result<Vec<Delivered>, StorageError> {
    let reply: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(min_idle_ms)
        .arg("0-0")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    Ok(reply.claimed.into_iter().map(to_delivered).collect())
}

/// How often each of `entry_ids` has been delivered to `group`.
pub async fn delivery_counts(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    entry_ids: &[String],
) -> Result<HashMap<String, usize>, StorageError> {
    let mut out = HashMap::new();
    for id in entry_ids {
        let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg(id)
            .arg(id)
            .arg(1)
            .query_async(conn)
            .await?;
        if let Some((_, _, _, n)) = rows.first() {
            out.insert(id.clone(), *n as usize);
        }
    }
    Ok(out)
}

/// Acknowledges applied entries.
pub async fn ack(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    entry_ids: &[String],
) -> Result<(), StorageError> {
    if entry_ids.is_empty() {
        return Ok(());
    }
    redis::cmd("XACK")
        .arg(stream)
        .arg(group)
        .arg(entry_ids)
        .query_async::<i64>(conn)
        .await?;
    Ok(())
}

/// Copies a failing entry to the dead-letter stream with its error, then
/// acknowledges it in `group`, atomically.
pub async fn dead_letter(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    entry: &Delivered,
    error: &str,
) -> Result<(), StorageError> {
    let (event_id, kind, data) = match &entry.event {
        Ok(ev) => (ev.event_id.as_str(), ev.kind.as_str(), ev.data.as_str()),
        Err(_) => ("", "", ""),
    };
    redis::pipe()
        .atomic()
        .cmd("XADD")
        .arg(DEAD_LETTER_STREAM)
        .arg("*")
        .arg("group")
        .arg(group)
        .arg("entry")
        .arg(&entry.entry_id)
        .arg("id")
        .arg(event_id)
        .arg("type")
        .arg(kind)
        .arg("data")
        .arg(data)
        .arg("error")
        .arg(error)
        .ignore()
        .cmd("XACK")
        .arg(stream)
        .arg(group)
        .arg(&entry.entry_id)
        .ignore()
        .query_async::<()>(conn)
        .await?;
    Ok(())
}

/// Reads every entry of `stream` from the beginning, in pages of `page`
/// (for rebuilding views).
pub async fn read_range(
    conn: &mut ConnectionManager,
    stream: &str,
    after: &str,
    page: usize,
) -> Result<Vec<Delivered>, StorageError> {
    let start = if after.is_empty() {
        "-".to_string()
    } else {
        format!("({after}")
    };
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(page)
        .query_async(conn)
        .await?;
    Ok(reply.ids.into_iter().map(to_delivered).collect())
}

fn to_delivered(entry: StreamId) -> Delivered {
    let field = |name: &str| -> Result<String, String> {
        match entry.map.get(name) {
            Some(Value::BulkString(b)) => {
                String::from_utf8(b.clone()).map_err(|_| format!("field {name} is not UTF-8"))
            }
            Some(Value::SimpleString(s)) => Ok(s.clone()),
            _ => Err(format!("field {name} missing")),
        }
    };
    let event = (|| {
        Ok(StreamEvent {
            event_id: field("id")?,
            kind: field("type")?,
            data: field("data")?,
        })
    })();
    Delivered {
        entry_id: entry.id.clone(),
        event,
        delivery_count: entry.delivered_count,
    }
}
