//! Waiting for Redis and for nodes to be ready, with a minimal HTTP/1.1 GET
//! (so `kukka up` needs no HTTP client).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Waits until Redis answers `PING`. (The URL may hold a password: it is
/// never put into a message.)
pub async fn wait_for_redis(url: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(mut c) = kukka_storage::redis_conn::connect(url, Duration::from_millis(500)).await
        {
            if kukka_storage::redis_conn::ping(&mut c).await {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("redis did not answer within {within:?}; see logs/redis.log");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the one Redis node at `url` answers `PING` (a cluster node
/// before its cluster exists, too).
pub async fn wait_for_node(url: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let client = redis::Client::open(url)?;
    loop {
        let conn = tokio::time::timeout(
            Duration::from_millis(500),
            client.get_multiplexed_async_connection(),
        )
        .await;
        if let Ok(Ok(mut c)) = conn {
            if redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "a Redis Cluster node did not answer within {within:?}; see logs/redis-*.log"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET path` on `addr`: status code and body, if it answered.
pub async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let connect = tokio::net::TcpStream::connect(addr);
    let mut s = tokio::time::timeout(Duration::from_secs(1), connect)
        .await
        .ok()?
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The status code of `GET path` on `addr`, if it answered.
pub async fn http_status(addr: &str, path: &str) -> Option<u16> {
    http_get(addr, path).await.map(|(s, _)| s)
}

/// The value of an unlabelled series on a node's `/metrics`.
pub async fn metric(addr: &str, name: &str) -> Option<f64> {
    let (_, body) = http_get(addr, "/metrics").await?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Cluster-wide readiness on a node's admin address: on an edge, every
/// role is joined too (elsewhere the same as `/readyz`).
pub const CLUSTER_READY: &str = "/readyz?scope=cluster";

/// Waits until [`CLUSTER_READY`] on the admin address `addr` answers 200;
/// `false` on timeout.
pub async fn wait_ready(addr: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if http_status(addr, CLUSTER_READY).await == Some(200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
