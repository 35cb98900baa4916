//! `kukka_events_lag{group}`: how many stream entries a consumer group has
//! not been handed yet, read from Redis (`XINFO GROUPS`, Redis 7's `lag`)
//! when `/metrics` is scraped rather than by the consumers, which then pay
//! nothing for it.
//!
//! Each consumer registers its group and Redis with [`watch`]; a scrape
//! ([`refresh`]) asks each Redis once, within a deadline, over a
//! connection kept between scrapes. A group whose lag cannot be read keeps
//! its last value (Redis cannot tell the lag after entries were deleted
//! from the middle of the stream).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::Duration,
};

use kukka_storage::{bus::EVENTS_STREAM, redis_conn};
use redis::{aio::ConnectionManager, streams::StreamInfoGroupsReply};

/// The groups to read, each with the URL of its Redis.
fn watched() -> &'static Mutex<BTreeMap<String, String>> {
    static WATCHED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    &WATCHED
}

/// Connections kept between scrapes, per Redis URL.
fn connections() -> &'static tokio::sync::Mutex<HashMap<String, ConnectionManager>> {
    static CONNS: std::sync::OnceLock<tokio::sync::Mutex<HashMap<String, ConnectionManager>>> =
        std::sync::OnceLock::new();
    CONNS.get_or_init(|| tokio::sync::Mutex::new(HashMap::new()))
}

/// Reads `group`'s lag at every scrape, from the Redis at `redis_url`
/// (the latest registration of a group wins).
pub fn watch(redis_url: &str, group: &str) {
    if let Ok(mut w) = watched().lock() {
        w.insert(group.to_string(), redis_url.to_string());
    }
}

/// Updates the lag of every watched group, giving up after `within`.
pub async fn refresh(within: Duration) {
    let by_url: BTreeMap<String, Vec<String>> = match watched().lock() {
        Ok(w) => w.iter().fold(BTreeMap::new(), |mut acc, (group, url)| {
            acc.entry(url.clone())
                .or_insert_with(Vec::new)
                .push(group.clone());
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
        for (url, groups) in by_url {
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
            read(conn, &groups).await;
        }
    })
    .await;
}

/// Reads the lag of `groups` on one Redis.
async fn read(mut conn: ConnectionManager, groups: &[String]) {
    let reply: Result<StreamInfoGroupsReply, _> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(EVENTS_STREAM)
        .query_async(&mut conn)
        .await;
    match reply {
        Ok(info) => {
            for g in info.groups.iter().filter(|g| groups.contains(&g.name)) {
                if let Some(lag) = g.lag {
                    super::events_lag(&g.name, lag as u64);
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the consumer lag"),
    }
}
