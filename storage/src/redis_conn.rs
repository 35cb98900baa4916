//! Opening Redis connections: to one Redis, or to a Redis Cluster.
//!
//! [`RedisConn`] is either a `ConnectionManager` (one Redis; it reconnects by
//! itself after Redis restarts) or a cluster connection (it follows the
//! cluster's slots, redirections and failovers). Both are multiplexed and
//! cheap to clone, and every command carries a response timeout so a frozen
//! Redis turns into errors (and retries) instead of hung tasks.
//!
//! `--redis-url` takes one URL, or a comma-separated list of the seed nodes
//! of a cluster. One URL of a node with `cluster_enabled:1` is a cluster too.
//!
//! On a cluster every command, script and pipeline must touch keys of one
//! hash slot; the callers keep that rule (see `crate::bus` and the key
//! names in `kukka_actors`).

use std::time::Duration;

use redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    Cmd, Pipeline, RedisFuture, Value,
};

use crate::StorageError;

/// A connection to one Redis or to a Redis Cluster.
#[derive(Clone)]
pub enum RedisConn {
    /// One Redis.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "RedisConn::Single",
            Self::Cluster(_) => "RedisConn::Cluster",
        })
    }
}

impl RedisConn {
    /// Whether this is a cluster (every command must keep to one slot).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The seed URLs of `url` (comma-separated). A seed written as a bare
/// `host:port` takes the scheme and credentials of the first one, so
/// `redis://user:pw@a:6379,b:6379` names two seeds with the same login (one
/// address variable per role can then hold a whole seed list).
pub fn seeds(url: &str) -> Vec<String> {
    let mut entries = url.split(',').map(str::trim).filter(|s| !s.is_empty());
    let Some(first) = entries.next() else {
        return Vec::new();
    };
    // "redis://user:pw@" of "redis://user:pw@host:port/0"
    let prefix = match first.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://{}", &rest[..=at]),
            None => format!("{scheme}://"),
        },
        None => String::new(),
    };
    std::iter::once(first.to_string())
        .chain(entries.map(|seed| {
            if seed.contains("://") {
                seed.to_string()
            } else {
                format!("{prefix}{seed}")
            }
        }))
        .collect()
}

/// Opens a connection to `url` (`redis://`, `redis://:pass@host`,
/// `rediss://`, or a comma-separated list of cluster seeds) whose commands
/// time out after `response_timeout`.
pub async fn connect(url: &str, response_timeout: Duration) -> Result<RedisConn, StorageError> {
    let seeds = seeds(url);
    let cluster = match seeds.as_slice() {
        [] => {
            return Err(StorageError::Redis(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "no Redis URL given",
            ))))
        }
        [one] => cluster_enabled(one).await?,
        _ => true,
    };
    if cluster {
        let client = ClusterClientBuilder::new(seeds)
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(response_timeout)
            .retries(3)
            .build()?;
        return Ok(RedisConn::Cluster(client.get_async_connection().await?));
    }
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    Ok(RedisConn::Single(
        ConnectionManager::new_with_config(client, config).await?,
    ))
}

/// Whether the Redis at `url` runs in cluster mode.
async fn cluster_enabled(url: &str) -> Result<bool, StorageError> {
    let client = redis::Client::open(url)?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| {
        StorageError::Redis(redis::RedisError::from((
            redis::ErrorKind::Io,
            "Redis did not accept a connection in time",
        )))
    })??;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut conn)
        .await?;
    Ok(info.lines().any(|l| l.trim() == "cluster_enabled:1"))
}

/// `PING`s Redis (every node of a cluster); used by readiness checks.
pub async fn ping(conn: &mut RedisConn) -> bool {
    match redis::cmd("PING").query_async::<Value>(conn).await {
        Ok(Value::SimpleString(_)) | Ok(Value::Okay) => true,
        Ok(Value::Map(_)) | Ok(Value::Array(_)) => true,
        Ok(_) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists_are_split_and_trimmed() {
        assert_eq!(seeds("redis://a:1"), ["redis://a:1"]);
        assert_eq!(
            seeds(" redis://a:1 , redis://b:2,"),
            ["redis://a:1", "redis://b:2"]
        );
        assert!(seeds(" , ").is_empty());
    }

    #[test]
    fn bare_seeds_take_the_first_seeds_scheme_and_login() {
        assert_eq!(
            seeds("redis://kukka-edge:p@ss@a:1/0,b:2, rediss://c:3"),
            [
                "redis://kukka-edge:p@ss@a:1/0",
                "redis://kukka-edge:p@ss@b:2",
                "rediss://c:3"
            ]
        );
        assert_eq!(seeds("redis://a:1,b:2"), ["redis://a:1", "redis://b:2"]);
    }
}
