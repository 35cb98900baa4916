//! Waiting for Redis and for the edge to be ready.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Waits until Redis answers `PING`.
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
            anyhow::bail!("redis at {url} did not answer within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The status code of `GET path` on `addr`, if it answered.
pub async fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `GET /readyz` on `addr` answers 200; `false` on timeout.
pub async fn wait_ready(addr: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if http_status(addr, "/readyz").await == Some(200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
