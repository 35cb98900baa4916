//! Closing a connection so the client can read our last answer.
//!
//! When a server closes a socket that still holds unread request bytes,
//! the kernel answers with a reset, and a client still sending its body
//! (say 3 MiB against a 64 KiB limit) sees "broken pipe" or "connection
//! reset" instead of the `413` that was already sent. [`linger`] does what
//! nginx's lingering close does: send FIN after the answer, then read and
//! discard what the client still sends, up to a byte and a time bound,
//! until it closes its side.
//!
//! [`turn_away`] answers a connection over the listener's cap with a fixed
//! `503` and closes it the same way.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{timeout_at, Instant},
};

use crate::error::ApiError;

/// Sends FIN, then discards up to `max_bytes` (counting `already`, bytes
/// read but not used) for at most `within`, until the client closes.
/// Returns the bytes discarded.
pub(crate) async fn linger(
    mut stream: TcpStream,
    already: u64,
    max_bytes: u64,
    within: Duration,
) -> u64 {
    let deadline = Instant::now() + within;
    let mut discarded = already;
    if timeout_at(deadline, stream.shutdown()).await.is_err() {
        return discarded;
    }
    let mut buf = vec![0u8; 16 * 1024];
    while discarded < max_bytes {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => discarded += n as u64,
            // EOF (the client closed), an error, or the time is up.
            _ => break,
        }
    }
    discarded
}

/// The whole HTTP/1.1 answer to a connection over the cap.
pub(crate) fn over_capacity_answer() -> Vec<u8> {
    let (status, code, retry_after) = ApiError::TooManyConnections.classify();
    let body = serde_json::json!({
        "error": {"code": code, "message": ApiError::TooManyConnections.public_message()}
    })
    .to_string();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(s) = retry_after {
        head.push_str(&format!("retry-after: {s}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Answers `503` without reading the request, then closes gently (a short
/// linger: the request is small, and this must stay cheap under a flood).
pub(crate) async fn turn_away(mut stream: TcpStream, answer: &[u8]) {
    let within = Duration::from_secs(1);
    if tokio::time::timeout(within, stream.write_all(answer))
        .await
        .is_ok_and(|r| r.is_ok())
    {
        linger(stream, 0, 64 * 1024, within).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn a_client_still_sending_reads_the_answer_after_linger() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            // Answer before reading anything, as a 413 does.
            s.write_all(b"answer").await.expect("write");
            linger(s, 0, 8 << 20, Duration::from_secs(5)).await
        });
        let mut c = TcpStream::connect(addr).await.expect("connect");
        let payload = vec![b'x'; 3 << 20];
        c.write_all(&payload)
            .await
            .expect("the whole body is taken");
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.expect("read the answer");
        assert_eq!(got, b"answer");
        drop(c);
        let discarded = server.await.expect("server");
        assert_eq!(discarded, 3 << 20);
    }

    #[test]
    fn the_over_capacity_answer_is_a_complete_json_503() {
        let text = String::from_utf8(over_capacity_answer()).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nretry-after: 1"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "overloaded");
    }
}
