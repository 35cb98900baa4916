//! Bounded streams: trimming what every consumer group is done with.
//!
//! [`trim_stream`] removes from one stream the entries below the oldest one
//! some consumer group has not acknowledged yet (its oldest pending entry,
//! or the first it has not read), but never one newer than the retention
//! (`keep`): what every group applied stays for `keep`, and what any group
//! still needs stays as long as it needs it. [`trim_by_age`] removes what is
//! older than `keep` from a stream no group reads (the dead letters).
//!
//! Each function touches one key, so it works on a Redis Cluster too.
//! Trimming is safe while consumers run: a group's bound only moves
//! forward (entries are acknowledged, new ones are later), so a bound read
//! a moment before `XTRIM` is never too high.

use std::fmt;

use redis::streams::{StreamInfoGroupsReply, StreamPendingReply};

use crate::{redis_conn::RedisConn, StorageError};

/// A stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId {
    /// Milliseconds since the Unix epoch when it was added.
    pub ms: u64,
    /// Sequence within that millisecond.
    pub seq: u64,
}

impl EntryId {
    /// Parses `<ms>-<seq>` (or `<ms>`).
    pub fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id after this one.
    pub fn next(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => Self { ms: self.ms, seq },
            None => Self {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// What trimming one stream did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Entries removed.
    pub removed: u64,
    /// Entries left.
    pub remaining: u64,
    /// The group whose unacknowledged entries kept older ones (when a group,
    /// not the retention, set the bound).
    pub held_by: Option<String>,
}

/// Redis's clock, in milliseconds since the Unix epoch (the clock stream
/// ids are made with).
pub async fn now_ms(conn: &mut RedisConn) -> Result<u64, StorageError> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(secs * 1000 + micros / 1000)
}

/// The first entry `group` has not acknowledged: its oldest pending entry,
/// else the first after what it last read.
async fn first_unacknowledged(
    conn: &mut RedisConn,
    stream: &str,
    group: &redis::streams::StreamInfoGroup,
) -> Result<EntryId, StorageError> {
    let after_last_read = EntryId::parse(&group.last_delivered_id)
        .map(EntryId::next)
        .unwrap_or(EntryId { ms: 0, seq: 0 });
    if group.pending == 0 {
        return Ok(after_last_read);
    }
    let pending: StreamPendingReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg(&group.name)
        .query_async(conn)
        .await?;
    Ok(match pending {
        StreamPendingReply::Data(d) => EntryId::parse(&d.start_id)
            .unwrap_or(after_last_read)
            .min(after_last_read),
        _ => after_last_read,
    })
}

/// Removes the entries of `stream` older than `keep_ms` (before `now_ms`)
/// that every consumer group has acknowledged (see the module docs).
pub async fn trim_stream(
    conn: &mut RedisConn,
    stream: &str,
    keep_ms: u64,
    now_ms: u64,
) -> Result<Trimmed, StorageError> {
    let exists: u64 = redis::cmd("EXISTS").arg(stream).query_async(conn).await?;
    if exists == 0 {
        return Ok(Trimmed::default());
    }
    let groups: StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await?;
    let mut bound = EntryId {
        ms: now_ms.saturating_sub(keep_ms),
        seq: 0,
    };
    let mut held_by = None;
    for group in &groups.groups {
        let first = first_unacknowledged(conn, stream, group).await?;
        if first < bound {
            bound = first;
            held_by = Some(group.name.clone());
        }
    }
    trim_below(conn, stream, bound, held_by).await
}

/// Removes the entries of `stream` older than `keep_ms` before `now_ms`,
/// whoever read them.
pub async fn trim_by_age(
    conn: &mut RedisConn,
    stream: &str,
    keep_ms: u64,
    now_ms: u64,
) -> Result<Trimmed, StorageError> {
    let bound = EntryId {
        ms: now_ms.saturating_sub(keep_ms),
        seq: 0,
    };
    trim_below(conn, stream, bound, None).await
}

async fn trim_below(
    conn: &mut RedisConn,
    stream: &str,
    bound: EntryId,
    held_by: Option<String>,
) -> Result<Trimmed, StorageError> {
    let (removed, remaining): (u64, u64) = redis::pipe()
        .cmd("XTRIM")
        .arg(stream)
        .arg("MINID")
        .arg("=")
        .arg(bound.to_string())
        .cmd("XLEN")
        .arg(stream)
        .query_async(conn)
        .await?;
    Ok(Trimmed {
        removed,
        remaining,
        held_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_parse_order_and_step() {
        let a = EntryId::parse("1700000000000-5").expect("id");
        assert_eq!(a.to_string(), "1700000000000-5");
        assert_eq!(a.next().to_string(), "1700000000000-6");
        assert!(a < a.next());
        assert!(EntryId::parse("5-9").expect("id") < EntryId::parse("6-0").expect("id"));
        assert_eq!(EntryId::parse("42"), Some(EntryId { ms: 42, seq: 0 }));
        assert_eq!(EntryId::parse("x-1"), None);
        let last = EntryId {
            ms: 7,
            seq: u64::MAX,
        };
        assert_eq!(last.next(), EntryId { ms: 8, seq: 0 });
    }
}
