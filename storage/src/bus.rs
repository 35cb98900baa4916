//! The Redis Streams event bus, in partitions.
//!
//! Domain events go to `P` partitions ([`Partitions`], a number fixed at
//! deploy time): an event's partition comes from its key (the order id).
//! Each partition has one stream per producing role ([`PRODUCERS`]), named
//! `kukka:{p<N>}:events:<role>` ([`Partition::stream`]), so a consumer
//! group reads only the producers whose events it wants (the payment
//! group reads the order stream alone), and a producer may be allowed to
//! append to its own stream only. All the events one producer makes for an
//! order are in one stream, in order; events of different producers are
//! ordered by cause (a consumer that reads several streams may see a later
//! event first only if it reads an earlier one late, which handlers already
//! tolerate: see `kukka_actors::runtime::consumer`). The streams of a
//! partition share its hash tag, so on a Redis Cluster each partition lives
//! in one slot (one read can take all of them) and the partitions spread
//! over the nodes. Entries have the fields `id` (event id), `type` and
//! `data` (the JSON envelope).
//!
//! Before the streams were split by producer, every event of a partition
//! went to `kukka:{p<N>}:events` ([`Partition::legacy_stream`]). Readers
//! still read that stream where it exists, so what an older node appended
//! (before or during an upgrade) is applied too.
//!
//! Each kind of consumer reads through its own consumer group (the same
//! group name on every partition), acknowledges an entry only after applying
//! it, and reclaims entries that a dead consumer left pending. Entries that
//! keep failing are copied to [`DEAD_LETTER_STREAM`] with the error and then
//! acknowledged, so one poison event never blocks a group.
//!
//! On a cluster, every command here touches one key (or keys of one
//! partition); a read of several partitions at once ([`read_group`] with
//! several streams) is for a single Redis only.

mod entries;

use std::collections::BTreeMap;

use redis::{streams::StreamId, Value};

use crate::{outbox::StreamEvent, redis_conn::RedisConn, StorageError};

/// Where events that failed for good are parked, with their error.
pub const DEAD_LETTER_STREAM: &str = "kukka:events:dead";
/// The number of partitions every node agreed on (see
/// [`Partitions::agree`]).
pub const PARTITIONS_KEY: &str = "kukka:partitions";

/// One partition of the event stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition(pub u32);

impl Partition {
    /// Its hash tag: keys that carry it live in the partition's slot.
    pub fn tag(self) -> String {
        format!("{{p{}}}", self.0)
    }

    /// The stream `producer` (a role of [`PRODUCERS`]) appends this
    /// partition's events to: `kukka:{p<N>}:events:<producer>`.
    pub fn stream(self, producer: &str) -> String {
        format!("kukka:{}:events:{producer}", self.tag())
    }

    /// The stream every producer appended to before the streams were split
    /// by producer, `kukka:{p<N>}:events`: read where it exists, never
    /// written.
    pub fn legacy_stream(self) -> String {
        format!("kukka:{}:events", self.tag())
    }

    /// Every stream of the partition: each producer's, then the legacy one.
    pub fn all_streams(self) -> Vec<String> {
        PRODUCERS
            .iter()
            .map(|p| self.stream(p))
            .chain(std::iter::once(self.legacy_stream()))
            .collect()
    }
}

/// The roles that produce events, each into a stream of its own per
/// partition (`kukka_actors::runtime::role::Role` names them).
pub const PRODUCERS: [&str; 3] = ["order", "payment", "delivery"];

/// How many partitions the event stream has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partitions(u32);

impl Default for Partitions {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

impl Partitions {
    /// The default count.
    pub const DEFAULT: u32 = 16;
    /// The largest count.
    pub const MAX: u32 = 1024;

    /// `n` partitions (1..=[`Partitions::MAX`]).
    pub fn new(n: u32) -> Result<Self, StorageError> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(StorageError::Config(format!(
                "the event stream has 1 to {} partitions, not {n}",
                Self::MAX
            )))
        }
    }

    /// How many.
    pub fn count(self) -> u32 {
        self.0
    }

    /// The partition of `key` (stable: FNV-1a of the key's bytes).
    pub fn of(self, key: &str) -> Partition {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Partition((h % u64::from(self.0)) as u32)
    }

    /// Every partition, in order.
    pub fn all(self) -> impl Iterator<Item = Partition> {
        (0..self.0).map(Partition)
    }

    /// Makes sure every node uses the same count: the first node to start
    /// records it in Redis, and a node configured otherwise is refused
    /// (events and views would land in other keys than the readers look in).
    pub async fn agree(self, conn: &mut RedisConn) -> Result<(), StorageError> {
        let _: Option<String> = redis::cmd("SET")
            .arg(PARTITIONS_KEY)
            .arg(self.0)
            .arg("NX")
            .query_async(conn)
            .await?;
        let recorded: u32 = redis::cmd("GET")
            .arg(PARTITIONS_KEY)
            .query_async(conn)
            .await?;
        if recorded == self.0 {
            Ok(())
        } else {
            Err(StorageError::Config(format!(
                "this Redis holds events in {recorded} partitions; this node is configured with {} (KUKKA_EVENT_PARTITIONS must be the same everywhere)",
                self.0
            )))
        }
    }
}

/// An entry read from a consumer group.
#[derive(Clone, Debug)]
pub struct Delivered {
    /// The stream it came from.
    pub stream: String,
    /// The stream entry id (for `XACK`).
    pub entry_id: String,
    /// The event, or why it could not be read.
    pub event: Result<StreamEvent, String>,
    /// How many times the entry has been delivered, when Redis said.
    pub delivery_count: Option<usize>,
}

/// How many replicas must have an append before it counts as done (Redis
/// replication is asynchronous: without this, a failover can lose what a
/// master acknowledged just before it died).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replicated {
    /// Replicas that must have the write (0: the master alone).
    pub replicas: u32,
    /// How long to wait for them, in milliseconds.
    pub timeout_ms: u64,
}

impl Replicated {
    /// Adds `WAIT` to `pipe` (whose commands go to one node) when replicas
    /// are asked for; the caller checks the count with [`Replicated::check`].
    pub fn wait_in(self, pipe: &mut redis::Pipeline) -> bool {
        if self.replicas == 0 {
            return false;
        }
        pipe.cmd("WAIT").arg(self.replicas).arg(self.timeout_ms);
        true
    }

    /// `Ok` when `acked` replicas are enough.
    pub fn check(self, acked: u64) -> Result<(), StorageError> {
        if acked >= u64::from(self.replicas) {
            Ok(())
        } else {
            Err(StorageError::NotReplicated {
                wanted: self.replicas,
                got: acked,
            })
        }
    }

    /// Waits until the writes this connection's node has taken so far are
    /// on enough replicas (`conn` must address the node written to: on a
    /// cluster, route by `key`).
    pub async fn wait_for(self, conn: &mut RedisConn, key: &str) -> Result<(), StorageError> {
        if self.replicas == 0 {
            return Ok(());
        }
        // A pipeline goes to the node of its first key: EXISTS routes it.
        let (_, acked): (i64, u64) = redis::pipe()
            .cmd("EXISTS")
            .arg(key)
            .cmd("WAIT")
            .arg(self.replicas)
            .arg(self.timeout_ms)
            .query_async(conn)
            .await?;
        self.check(acked)
    }
}

/// Appends `events`, all made by `producer`, to its streams of their
/// partitions, one pipeline per partition (sent together); returns when
/// Redis has acknowledged every append (and, with `replicated`, enough
/// replicas have it).
pub async fn publish(
    conn: &mut RedisConn,
    partitions: Partitions,
    producer: &str,
    events: &[StreamEvent],
    replicated: Replicated,
) -> Result<(), StorageError> {
    let mut by_stream: BTreeMap<String, Vec<&StreamEvent>> = BTreeMap::new();
    for ev in events {
        by_stream
            .entry(partitions.of(&ev.partition_key).stream(producer))
            .or_default()
            .push(ev);
    }
    let sends = by_stream.iter().map(|(stream, evs)| {
        let mut conn = conn.clone();
        async move { append(&mut conn, stream, evs, replicated).await }
    });
    for r in futures_util::future::join_all(sends).await {
        r?;
    }
    Ok(())
}

/// Appends `events` to `stream` in one pipeline.
pub async fn append(
    conn: &mut RedisConn,
    stream: &str,
    events: &[&StreamEvent],
    replicated: Replicated,
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
    if replicated.wait_in(&mut pipe) {
        let (acked,): (u64,) = pipe.query_async(conn).await?;
        return replicated.check(acked);
    }
    pipe.query_async::<()>(conn).await?;
    Ok(())
}

/// Creates `group` on `stream` (and the stream) if it does not exist yet.
/// A new group starts at the beginning of the stream, so nothing appended
/// before the consumer first started is missed.
pub async fn ensure_group(
    conn: &mut RedisConn,
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

/// Creates `group` on `stream` if the stream exists (never creating the
/// stream); whether it exists (with the group, then).
pub async fn join_group_if_exists(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
) -> Result<bool, StorageError> {
    let res: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .query_async(conn)
        .await;
    match res {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(true),
        // "The XGROUP subcommand requires the key to exist."
        Err(e) if e.to_string().contains("requires the key to exist") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Entries applied and not yet acknowledged, per stream.
pub type Acks = BTreeMap<String, Vec<String>>;

/// Reads up to `count` entries per stream of `streams` for `consumer`.
/// `start` is `">"` for new entries (blocking up to `block_ms`) or `"0"`
/// for this consumer's own pending ones (after a restart). `ack_first` are
/// entries already applied: they are acknowledged in the same round trip,
/// before the read. (On a cluster, `streams` and `ack_first` must be of one
/// partition.)
#[allow(clippy::too_many_arguments)]
pub async fn read_group(
    conn: &mut RedisConn,
    streams: &[String],
    group: &str,
    consumer: &str,
    start: &str,
    count: usize,
    block_ms: u64,
    ack_first: &Acks,
) -> Result<Vec<Delivered>, StorageError> {
    let mut pipe = redis::pipe();
    for (stream, ids) in ack_first.iter().filter(|(_, ids)| !ids.is_empty()) {
        pipe.cmd("XACK").arg(stream).arg(group).arg(ids).ignore();
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
    cmd.arg("STREAMS").arg(streams);
    for _ in streams {
        cmd.arg(start);
    }
    let (reply,): (Value,) = pipe.query_async(conn).await?;
    entries::from_read_reply(reply)
}

/// Claims up to `count` entries of `group` on `stream` that have been
/// pending for at least `min_idle_ms` (their consumer died or stalled) for
/// `consumer`.
pub async fn autoclaim(
    conn: &mut RedisConn,
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
    Ok(reply
        .claimed
        .into_iter()
        .map(|id| to_delivered(stream.to_string(), id))
        .collect())
}

/// Moves every entry of `group` on `stream` pending for a consumer not in
/// `live` to `consumer` (a dead member's partition changed hands); how many.
pub async fn claim_from_dead(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    consumer: &str,
    live: &[String],
) -> Result<usize, StorageError> {
    let pending: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(1000)
        .query_async(conn)
        .await?;
    let orphaned: Vec<&str> = pending
        .ids
        .iter()
        .filter(|p| !live.contains(&p.consumer))
        .map(|p| p.id.as_str())
        .collect();
    if orphaned.is_empty() {
        return Ok(0);
    }
    redis::cmd("XCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(0)
        .arg(&orphaned)
        .arg("JUSTID")
        .query_async::<Value>(conn)
        .await?;
    Ok(orphaned.len())
}

/// How often `entry_id` has been delivered to `group` on `stream`.
pub async fn delivery_count(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    entry_id: &str,
) -> Result<Option<usize>, StorageError> {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg(entry_id)
        .arg(entry_id)
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(rows.first().map(|(_, _, _, n)| *n as usize))
}

/// An entry pending for a consumer: its id, how long since it was last
/// delivered, and how often it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The entry id.
    pub entry_id: String,
    /// Milliseconds since its last delivery.
    pub idle_ms: u64,
    /// Deliveries so far.
    pub deliveries: u64,
}

/// Up to `count` entries of `group` on `stream` pending for `consumer`,
/// oldest first.
pub async fn pending_of(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    consumer: &str,
    count: usize,
) -> Result<Vec<Pending>, StorageError> {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(count)
        .arg(consumer)
        .query_async(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(entry_id, _, idle_ms, deliveries)| Pending {
            entry_id,
            idle_ms,
            deliveries,
        })
        .collect())
}

/// Delivers `entry_ids` of `group` on `stream` to `consumer` again (which
/// counts as a delivery); the entries that still exist.
pub async fn claim(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    consumer: &str,
    entry_ids: &[String],
) -> Result<Vec<Delivered>, StorageError> {
    if entry_ids.is_empty() {
        return Ok(Vec::new());
    }
    let reply: redis::streams::StreamClaimReply = redis::cmd("XCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(0)
        .arg(entry_ids)
        .query_async(conn)
        .await?;
    Ok(reply
        .ids
        .into_iter()
        .map(|id| to_delivered(stream.to_string(), id))
        .collect())
}

/// Acknowledges applied entries of `stream`.
pub async fn ack(
    conn: &mut RedisConn,
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
/// acknowledges it in `group`. (Two steps, as the two streams may be in
/// different slots: a crash between them dead-letters the entry twice,
/// never loses it.)
pub async fn dead_letter(
    conn: &mut RedisConn,
    group: &str,
    entry: &Delivered,
    error: &str,
) -> Result<(), StorageError> {
    let (event_id, kind, data) = match &entry.event {
        Ok(ev) => (ev.event_id.as_str(), ev.kind.as_str(), ev.data.as_str()),
        Err(_) => ("", "", ""),
    };
    redis::cmd("XADD")
        .arg(DEAD_LETTER_STREAM)
        .arg("*")
        .arg("group")
        .arg(group)
        .arg("stream")
        .arg(&entry.stream)
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
        .query_async::<Value>(conn)
        .await?;
    ack(
        conn,
        &entry.stream,
        group,
        std::slice::from_ref(&entry.entry_id),
    )
    .await
}

/// Reads the entries of `stream` after `after` (from the beginning when
/// empty), at most `page` (for rebuilding views).
pub async fn read_range(
    conn: &mut RedisConn,
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
    Ok(reply
        .ids
        .into_iter()
        .map(|id| to_delivered(stream.to_string(), id))
        .collect())
}

fn to_delivered(stream: String, entry: StreamId) -> Delivered {
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
            partition_key: String::new(),
        })
    })();
    Delivered {
        stream,
        entry_id: entry.id.clone(),
        event,
        delivery_count: entry.delivered_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_spread_and_named_with_their_own_tag() {
        let p = Partitions::new(16).expect("count");
        assert_eq!(p.of("0-17"), p.of("0-17"));
        let used: std::collections::BTreeSet<_> =
            (0..1000).map(|i| p.of(&format!("0-{i}"))).collect();
        assert_eq!(used.len(), 16, "every partition gets orders");
        assert_eq!(Partition(3).stream("order"), "kukka:{p3}:events:order");
        assert_eq!(Partition(3).legacy_stream(), "kukka:{p3}:events");
        assert_eq!(
            Partition(3).all_streams(),
            [
                "kukka:{p3}:events:order",
                "kukka:{p3}:events:payment",
                "kukka:{p3}:events:delivery",
                "kukka:{p3}:events",
            ]
        );
        assert!(Partitions::new(0).is_err());
        assert!(Partitions::new(Partitions::MAX + 1).is_err());
        assert_eq!(p.all().count(), 16);
    }
}
