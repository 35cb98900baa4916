//! The edge's HTTP limits and error hygiene against a real system: slow
//! clients are cut off without slowing others, a node over its in-flight
//! cap sheds at once, slow and oversized bodies get their JSON answers, and
//! no internal error text reaches a client.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::harness::{eventually, order_body, System};

/// The edge's public address (`host:port`).
fn edge_addr(sys: &System) -> String {
    sys.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes (or 15 s pass).
async fn read_all(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer.
fn body_of(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").unwrap_or(("", ""));
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// A process's resident memory in KiB (for the test's printout).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Orders the system holds.
async fn order_count(sys: &System) -> usize {
    sys.all_items("/orders", 500).await.len()
}

/// Holds one socket (connected at `opened`) open, sending one byte of a
/// never-ending request head every second, until the server closes it;
/// returns how long it lived (`None` if it was still open after `max`).
async fn trickle_head(mut c: TcpStream, opened: Instant, max: Duration) -> Option<Duration> {
    let head = b"GET /catalog HTTP/1.1\r\nHost: kukka\r\nX-Slow: ";
    let mut buf = [0u8; 512];
    for i in 0.. {
        if opened.elapsed() > max {
            return None;
        }
        let byte = head.get(i).copied().unwrap_or(b'a');
        if c.write_all(&[byte]).await.is_err() {
            return Some(opened.elapsed());
        }
        // Wait a second, watching for the server closing the socket.
        match tokio::time::timeout(Duration::from_secs(1), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(opened.elapsed()),
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_do_not_slow_orders_and_are_cut_off() {
    const SLOW: usize = 5_000;
    // Long enough that every slow connection is still open while the
    // orders are placed, even when opening them is slow on a busy machine.
    const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
    let sys = System::start_with(&[("KUKKA_HTTP_HEADER_TIMEOUT_MS", "30000")]).await;
    let addr = edge_addr(&sys);
    // Warm up the normal client's connection and the path.
    sys.place("warm-up").await;
    let edge_pid = sys.pid_of("edge");
    let rss_before = rss_kib(edge_pid);

    // Open the slow connections, a few hundred at a time.
    let closed = Arc::new(AtomicUsize::new(0));
    let mut slow = Vec::with_capacity(SLOW);
    let opening = Instant::now();
    for batch in 0..SLOW.div_ceil(250) {
        let n = 250.min(SLOW - batch * 250);
        let connects = (0..n).map(|_| async {
            let c = TcpStream::connect(addr.clone()).await;
            (c, Instant::now())
        });
        for (c, opened) in futures_util::future::join_all(connects).await {
            let c = c.expect("connect a slow client");
            let closed = closed.clone();
            slow.push(tokio::spawn(async move {
                let lived = trickle_head(c, opened, Duration::from_secs(90)).await;
                closed.fetch_add(1, Ordering::SeqCst);
                lived
            }));
        }
    }
    let opened_in = opening.elapsed();
    let edge_open = eventually(Duration::from_secs(10), || async {
        let n = sys.metric("edge", "kukka_http_connections_open").await?;
        (n >= SLOW as f64).then_some(n)
    })
    .await;
    println!(
        "{SLOW} slow connections opened in {opened_in:?}; the edge counts {edge_open:?} open; edge RSS {rss_before:?} KiB before, {:?} KiB now",
        rss_kib(edge_pid)
    );
    assert!(edge_open.is_some(), "the edge holds the slow connections");

    // A normal client places orders meanwhile.
    let mut took = Vec::new();
    for i in 0..50 {
        let started = Instant::now();
        let (status, body) = sys.post("/orders", &order_body(&format!("n{i}"))).await;
        took.push(started.elapsed());
        assert_eq!(status, 201, "{body}");
    }
    took.sort();
    let p50 = took[took.len() / 2];
    let max = took[took.len() - 1];
    let closed_early = closed.load(Ordering::SeqCst);
    println!(
        "normal client with {SLOW} slow connections open: p50 {p50:?}, max {max:?}, slow ones closed so far: {closed_early}"
    );
    assert_eq!(
        closed_early, 0,
        "every slow connection was open while the orders were placed"
    );
    assert!(p50 < Duration::from_millis(50), "p50 {p50:?}");

    // The header-read timeout closes every slow connection.
    let all_closed = eventually(HEADER_TIMEOUT + Duration::from_secs(30), || async {
        (closed.load(Ordering::SeqCst) == SLOW).then_some(())
    })
    .await;
    assert!(
        all_closed.is_some(),
        "{} of {SLOW} slow connections closed",
        closed.load(Ordering::SeqCst)
    );
    let mut lived: Vec<Duration> = Vec::with_capacity(SLOW);
    for t in slow {
        lived.push(t.await.expect("slow client").expect("closed by the edge"));
    }
    lived.sort();
    let (first, median, last) = (lived[0], lived[SLOW / 2], lived[SLOW - 1]);
    println!(
        "slow connections closed after: first {first:?}, median {median:?}, last {last:?} (header timeout {HEADER_TIMEOUT:?})"
    );
    assert!(
        first >= HEADER_TIMEOUT - Duration::from_secs(1),
        "closed by the header timeout, not before: {first:?}"
    );
    assert!(last <= HEADER_TIMEOUT + Duration::from_secs(5), "{last:?}");
    let edge_open = eventually(Duration::from_secs(10), || async {
        let n = sys.metric("edge", "kukka_http_connections_open").await?;
        (n < 10.0).then_some(n)
    })
    .await;
    assert!(edge_open.is_some(), "the edge let go of the connections");
    let cut = sys
        .metric(
            "edge",
            "kukka_http_refused_total{reason=\"header_timeout\"}",
        )
        .await
        .unwrap_or(0.0);
    assert!(cut >= SLOW as f64, "header timeouts counted: {cut}");
}

#[tokio::test]
async fn over_the_in_flight_cap_the_edge_answers_503_overloaded_at_once() {
    const CAP: usize = 3;
    let sys = System::start_with(&[
        ("KUKKA_HTTP_MAX_IN_FLIGHT", "3"),
        ("KUKKA_PAYMENT_INJECT_LATENCY_MS", "1500-1500"),
    ])
    .await;
    let before = order_count(&sys).await;
    let calls = (0..12).map(|i| {
        let sys = &sys;
        async move {
            let started = Instant::now();
            let r = sys
                .http
                .post(sys.url("/orders"))
                .json(&order_body(&format!("c{i}")))
                .send()
                .await
                .expect("request");
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, retry, body, started.elapsed())
        }
    });
    let probes = async {
        // Once the cap is full, the probes still answer.
        let full = eventually(Duration::from_secs(10), || async {
            let n = sys.metric("edge", "kukka_http_requests_in_flight").await?;
            (n >= CAP as f64).then_some(())
        })
        .await;
        assert!(full.is_some(), "the in-flight cap never filled");
        let h = sys.probe("/healthz").await.0;
        let r = sys.probe("/readyz").await.0;
        let m = sys
            .http
            .get(sys.admin_url("/metrics"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        (h, r, m)
    };
    let (answers, probes) = tokio::join!(futures_util::future::join_all(calls), probes);
    let placed: Vec<_> = answers.iter().filter(|a| a.0 == 201).collect();
    let shed: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    println!(
        "{} placed, {} shed; shed answered within {:?}",
        placed.len(),
        shed.len(),
        shed.iter().map(|a| a.3).max()
    );
    assert_eq!(probes, (200, 200, 200), "probes answer over the cap");
    assert!(placed.len() <= CAP, "{answers:?}");
    assert_eq!(placed.len() + shed.len(), answers.len(), "{answers:?}");
    assert!(shed.len() >= answers.len() - CAP, "{answers:?}");
    for (_, retry, body, took) in &shed {
        assert_eq!(body["error"]["code"], "overloaded", "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(
            *took < Duration::from_millis(1000),
            "shed at once: {took:?}"
        );
    }
    // Shed requests never reached the cluster: only the placed ones exist.
    assert_eq!(order_count(&sys).await, before + placed.len());
}

#[tokio::test]
async fn bodies_that_trickle_or_are_too_large_get_their_json_answers() {
    let sys = System::start_with(&[("KUKKA_HTTP_BODY_TIMEOUT_MS", "1000")]).await;
    let addr = edge_addr(&sys);

    // A body that trickles past the body-read timeout: 408, nothing written.
    let mut c = TcpStream::connect(&addr).await.expect("connect");
    let body = serde_json::to_vec(&order_body("trickle")).expect("json");
    let head = format!(
        "POST /orders HTTP/1.1\r\nHost: kukka\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    for byte in &body {
        if c.write_all(&[*byte]).await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    answer.extend_from_slice(read_all(&mut c).await.as_bytes());
    let answer = String::from_utf8_lossy(&answer).into_owned();
    println!("trickled body answered after {:?}", started.elapsed());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(body_of(&answer)["error"]["code"], "body_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(order_count(&sys).await, 0, "nothing was written");

    // 3 MiB against the 64 KiB limit, with a length and chunked: the
    // client sends it all, then reads the 413.
    let big = vec![b' '; 3 << 20];
    for chunked in [false, true] {
        let mut c = TcpStream::connect(&addr).await.expect("connect");
        let started = Instant::now();
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {}", big.len())
        };
        let head = format!(
            "POST /orders HTTP/1.1\r\nHost: kukka\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
        );
        c.write_all(head.as_bytes()).await.expect("head");
        let sent = if chunked {
            let mut r = Ok(());
            for part in big.chunks(64 * 1024) {
                r = c
                    .write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .await;
                r = r.and(c.write_all(part).await);
                r = r.and(c.write_all(b"\r\n").await);
                if r.is_err() {
                    break;
                }
            }
            r.and(c.write_all(b"0\r\n\r\n").await)
        } else {
            c.write_all(&big).await
        };
        let answer = read_all(&mut c).await;
        println!(
            "3 MiB body ({}): sent {:?}, answer {:?} after {:?}",
            if chunked { "chunked" } else { "with length" },
            sent.as_ref().map(|_| "all"),
            answer.lines().next(),
            started.elapsed()
        );
        assert!(sent.is_ok(), "the edge took the whole body: {sent:?}");
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert_eq!(body_of(&answer)["error"]["code"], "payload_too_large");
    }
    assert_eq!(order_count(&sys).await, 0, "nothing was written");
}

/// Resumes a stopped process when dropped (also when the test fails).
struct Resume<'a>(&'a System, &'static str);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.signal(self.1, libc::SIGCONT);
    }
}

#[tokio::test]
async fn redis_errors_reach_the_log_not_the_client() {
    let sys = System::start().await;
    let id = sys.place("leak").await;
    sys.get_until(&format!("/myPages/{id}"), Duration::from_secs(20), |v| {
        v["orderId"] == id.as_str()
    })
    .await;

    sys.signal("redis", libc::SIGSTOP);
    let _resume = Resume(&sys, "redis");
    let cid = "leak-check-7f3a";
    let r = sys
        .http
        .get(sys.url(&format!("/myPages/{id}")))
        .header("x-correlation-id", cid)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").cloned();
    let text = r.text().await.expect("body");
    println!("view read with Redis stopped: {status} {text}");
    assert_eq!(status, 503, "{text}");
    assert!(retry.is_some(), "Retry-After");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["error"]["code"], "unavailable");
    let lower = text.to_ascii_lowercase();
    for leak in [
        "redis",
        "ioerror",
        "connection refused",
        "timed out",
        "os error",
        "127.0.0.1",
    ] {
        assert!(!lower.contains(leak), "{leak:?} leaked: {text}");
    }
    // The status page reports the stream as unreadable, by code.
    let (status, page) = sys.get("/status.json").await;
    assert_eq!(status, 200);
    let page_text = page["stream"].to_string().to_ascii_lowercase();
    assert!(page["stream"]["error"].is_string(), "{page_text}");
    for leak in ["ioerror", "connection refused", "timed out", "os error"] {
        assert!(!page_text.contains(leak), "{leak:?} leaked: {page_text}");
    }

    // The detail is in the edge's log, with the correlation id.
    let logged = eventually(Duration::from_secs(5), || async {
        sys.log_of("edge")
            .lines()
            .find(|l| l.contains(cid) && l.contains("views are unavailable"))
            .map(str::to_string)
    })
    .await;
    assert!(
        logged.is_some(),
        "no log line with {cid}:\n{}",
        sys.log_of("edge")
    );
    println!("edge log: {}", logged.unwrap_or_default());
}
