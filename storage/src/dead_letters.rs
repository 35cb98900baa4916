//! The dead-letter stream ([`DEAD_LETTER_STREAM`]): listing what is parked
//! there, and delivering it again.
//!
//! A dead letter holds the event as it was (`id`, `type`, `data`), where it
//! came from (`group`, `stream`, `entry`) and why it failed (`error`).
//! [`redrive`] appends the event to a partition stream again, as a new
//! entry with the same event id, and then removes the dead letter: every
//! consumer group reads it again, and the handlers, which are idempotent,
//! apply it where it had not been applied. (Two steps, as the two streams
//! may be in different slots of a Redis Cluster: a crash between them
//! redrives the letter twice, which idempotent handlers absorb; it never
//! loses it.) Dead letters nobody redrives are trimmed by age like the
//! events ([`crate::retention::trim_by_age`]).

use redis::{streams::StreamId, Value};

use crate::{bus::DEAD_LETTER_STREAM, redis_conn::RedisConn, StorageError};

/// One parked event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its entry id in the dead-letter stream (what `--id` names).
    pub id: String,
    /// The consumer group that gave up on it.
    pub group: String,
    /// The partition stream it was read from (empty in letters written
    /// before streams were partitioned).
    pub stream: String,
    /// Its entry id there.
    pub entry: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub kind: String,
    /// The event's JSON.
    pub data: String,
    /// Why it was parked.
    pub error: String,
}

impl DeadLetter {
    fn from_entry(entry: &StreamId) -> Self {
        let field = |name: &str| -> String {
            match entry.map.get(name) {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::SimpleString(s)) => s.clone(),
                _ => String::new(),
            }
        };
        Self {
            id: entry.id.clone(),
            group: field("group"),
            stream: field("stream"),
            entry: field("entry"),
            event_id: field("id"),
            kind: field("type"),
            data: field("data"),
            error: field("error"),
        }
    }
}

/// Up to `count` dead letters after `after` (from the first when empty),
/// oldest first.
pub async fn list(
    conn: &mut RedisConn,
    after: &str,
    count: usize,
) -> Result<Vec<DeadLetter>, StorageError> {
    let start = if after.is_empty() {
        "-".to_string()
    } else {
        format!("({after}")
    };
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(DEAD_LETTER_STREAM)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    Ok(reply.ids.iter().map(DeadLetter::from_entry).collect())
}

/// The dead letter `id`, if it is still there.
pub async fn get(conn: &mut RedisConn, id: &str) -> Result<Option<DeadLetter>, StorageError> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(DEAD_LETTER_STREAM)
        .arg(id)
        .arg(id)
        .query_async(conn)
        .await?;
    Ok(reply.ids.first().map(DeadLetter::from_entry))
}

/// Appends `letter`'s event to `stream` again, then removes the letter;
/// returns the event's new entry id.
pub async fn redrive(
    conn: &mut RedisConn,
    letter: &DeadLetter,
    stream: &str,
) -> Result<String, StorageError> {
    let entry: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("id")
        .arg(&letter.event_id)
        .arg("type")
        .arg(&letter.kind)
        .arg("data")
        .arg(&letter.data)
        .query_async(conn)
        .await?;
    redis::cmd("XDEL")
        .arg(DEAD_LETTER_STREAM)
        .arg(&letter.id)
        .query_async::<i64>(conn)
        .await?;
    Ok(entry)
}

/// How many dead letters there are.
pub async fn count(conn: &mut RedisConn) -> Result<u64, StorageError> {
    Ok(redis::cmd("XLEN")
        .arg(DEAD_LETTER_STREAM)
        .query_async(conn)
        .await?)
}
