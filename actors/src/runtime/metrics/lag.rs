//! `kukka_events_lag{group}`: how many stream entries a consumer group has
//! not been handed yet, summed over the event stream's partitions, read
//! from Redis (`XINFO GROUPS`, Redis 7's `lag`) when `/metrics` is scraped
//! rather than by the consumers, which then pay nothing for it.
//!
//! Each consumer registers its group, its Redis and the partition count
//! with [`watch`]; a scrape ([`refresh`]) asks each Redis about every
//! partition, within a deadline, over a connection kept between scrapes. A
//! group whose lag cannot be read keeps its last value (Redis cannot tell
//! the lag after entries were deleted from the middle of a stream, and a
//! read that fails half-way is not summed).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::Duration,
};

use kukka_storage::{
    bus::Partitions,
    redis_conn::{self, RedisConn},
};
use redis::streams::StreamInfoGroupsReply;

/// What is read from one Redis.
#[derive(Clone, Debug, Default)]
struct Source {
    partitions: u32,
    groups: Vec<String>,
}

/// The groups to read: group -> (Redis URL, partitions).
fn watched() -> &'static Mutex<BTreeMap<String, (String, Partitions)>> {
    static WATCHED: Mutex<BTreeMap<String, (String, Partitions)>> = Mutex::new(BTreeMap::new());
    &WATCHED
}

/// Connections kept between scrapes, per Redis URL.
fn connections() -> &'static tokio::sync::Mutex<HashMap<String, RedisConn>> {
    static CONNS: std::sync::OnceLock<tokio::sync::Mutex<HashMap<String, RedisConn>>> =
        std::sync::OnceLock::new();
    CONNS.get_or_init(|| tokio::sync::Mutex::new(HashMap::new()))
}

/// Reads `group`'s lag over `partitions` at every scrape, from the Redis at
/// `redis_url` (the latest registration of a group wins).
pub fn watch(redis_url: &str, group: &str, partitions: Partitions) {
    if let Ok(mut w) = watched().lock() {
        w.insert(group.to_string(), (redis_url.to_string(), partitions));
    }
}

/// Updates the lag of every watched group, giving up after `within`.
pub async fn refresh(within: Duration) {
    let by_url: BTreeMap<String, Source> = match watched().lock() {
        Ok(w) => w
            .iter()
            .fold(BTreeMap::new(), |mut acc, (group, (url, partitions))| {
                let s: &mut Source = acc.entry(url.clone()).or_default();
                s.partitions = s.partitions.max(partitions.count());
                s.groups.push(group.clone());
                acc
            }),
        Err(_) => return,
    };
    if by_url.is_empty() {
        return;
    }
    let _ = tokio::time::timeout(within, async {
        // One scrape at a time reads; the next finds the connections made.
        let mut conns = connections().lock().await;
        for (url, source) in by_url {
            let conn = match conns.get(&url) {
                Some(c) => c.clone(),
                None => match redis_conn::connect(&url, within).await {
                    Ok(c) => {
                        conns.insert(url.clone(), c.clone());
                        c
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read the consumer lag");
                        continue;
                    }
                },
            };
            if let Some(lags) = read(conn, &source).await {
                for (group, lag) in lags {
                    super::events_lag(&group, lag);
                }
            }
        }
    })
    .await;
}

/// The summed lag of each of `source`'s groups over the streams it reads,
/// where Redis knows it on every one; `None` if a stream could not be read.
async fn read(mut conn: RedisConn, source: &Source) -> Option<BTreeMap<String, u64>> {
    let mut sums: BTreeMap<String, Option<u64>> =
        source.groups.iter().map(|g| (g.clone(), Some(0))).collect();
    let streams = (0..source.partitions)
        .map(kukka_storage::bus::Partition)
        .flat_map(kukka_storage::bus::Partition::all_streams);
    for stream in streams {
        let reply: Result<StreamInfoGroupsReply, redis::RedisError> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query_async(&mut conn)
            .await;
        let info = match reply {
            Ok(info) => info,
            // A stream nothing was written to, and no group created on,
            // yet: nothing is waiting there.
            Err(e) if e.to_string().contains("no such key") => continue,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the consumer lag");
                return None;
            }
        };
        for g in info.groups {
            if let Some(sum) = sums.get_mut(&g.name) {
                *sum = sum.zip(g.lag).map(|(a, b)| a + b as u64);
            }
        }
    }
    Some(
        sums.into_iter()
            .filter_map(|(g, lag)| lag.map(|l| (g, l)))
            .collect(),
    )
}
