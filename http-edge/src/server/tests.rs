//! The server against raw TCP clients on loopback, in process: each limit
//! with short settings.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{oneshot, Semaphore},
    task::JoinHandle,
};
use warp::{filters::BoxedFilter, http::StatusCode, reply::Response, Filter, Reply};

use super::{serve, Gate, HttpLimits};
use crate::{body::json_body, error::ApiError};

/// Short limits for tests.
fn limits() -> HttpLimits {
    HttpLimits {
        header_read_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(600),
        body_read_timeout: Duration::from_millis(400),
        max_connections: 100,
        max_in_flight: 100,
        linger_bytes: 8 << 20,
        linger_timeout: Duration::from_secs(5),
    }
}

/// `POST /echo` (a JSON body up to 64 KiB), `GET /hold` (answers once a
/// permit is added to `release`), `GET /healthz`.
fn routes(release: Arc<Semaphore>) -> BoxedFilter<(Response,)> {
    let echo = warp::path!("echo")
        .and(warp::post())
        .and(json_body(64 * 1024))
        .map(|body: Result<Value, ApiError>| match body {
            Ok(v) => warp::reply::json(&v).into_response(),
            Err(e) => e.into_response_with("test"),
        });
    let hold = warp::path!("hold").and(warp::get()).then(move || {
        let release = release.clone();
        async move {
            if let Ok(permit) = release.acquire().await {
                permit.forget();
            }
            warp::reply::with_status("held", StatusCode::OK).into_response()
        }
    });
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&"ok").into_response());
    echo.or(hold)
        .unify()
        .or(healthz)
        .unify()
        .recover(crate::error::recover)
        .unify()
        .boxed()
}

struct Server {
    addr: SocketAddr,
    gate: Gate,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    release: Arc<Semaphore>,
}

impl Server {
    /// Waits until `n` requests are in flight.
    async fn wait_in_flight(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.gate.in_flight() != n {
            assert!(Instant::now() < deadline, "never {n} in flight");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn start(limits: HttpLimits) -> Self {
        let listener = super::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let release = Arc::new(Semaphore::new(0));
        let (stop, stopped) = oneshot::channel::<()>();
        let gate = Gate::new(limits);
        let task = tokio::spawn(serve(
            listener,
            routes(release.clone()),
            gate.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            gate,
            stop: Some(stop),
            task,
            release,
        }
    }
}

/// Sends `request` and reads until the server closes; the answer's text.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(request).await.expect("write");
    read_all(&mut c).await
}

async fn read_all(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of an answer.
fn body_of(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("head and body");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Waits until `c` is closed by the server (EOF or reset); how long it took.
async fn closed_within(c: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within, c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_trickled_head_is_cut_off_while_normal_requests_are_answered() {
    let server = Server::start(limits()).await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let answer = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let took = closed_within(&mut slow, Duration::from_secs(5))
        .await
        .expect("the slow head is closed");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = Server::start(limits()).await;
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let took = closed_within(&mut silent, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout_only() {
    let server = Server::start(HttpLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(1500),
        ..limits()
    })
    .await;
    let mut c = TcpStream::connect(server.addr).await.expect("connect");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).await.expect("answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Idle for longer than the header timeout: still open, and usable.
    tokio::time::sleep(Duration::from_millis(700)).await;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let n = c.read(&mut buf).await.expect("second answer");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let took = closed_within(&mut c, Duration::from_secs(5))
        .await
        .expect("closed when idle");
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_millis(3000),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_client_sending_3_mib_reads_its_413() {
    let server = Server::start(limits()).await;
    let mut c = TcpStream::connect(server.addr).await.expect("connect");
    let body = vec![b' '; 3 << 20];
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.expect("head");
    c.write_all(&body).await.expect("the whole body is taken");
    let answer = read_all(&mut c).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(body_of(&answer)["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_trickled_body_is_refused_with_408() {
    let server = Server::start(limits()).await;
    let mut c = TcpStream::connect(server.addr).await.expect("connect");
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .expect("head");
    let started = Instant::now();
    let mut sent = 1;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while sent < 100 {
        // One byte every 100 ms: the body would take 10 s.
        if c.write_all(b" ").await.is_err() {
            break;
        }
        sent += 1;
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), c.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    }
    answer.extend_from_slice(read_all(&mut c).await.as_bytes());
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(body_of(&answer)["error"]["code"], "body_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn over_the_in_flight_cap_requests_are_shed_at_once_but_probes_answer() {
    let server = Server::start(HttpLimits {
        max_in_flight: 2,
        ..limits()
    })
    .await;
    let req = b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(server.addr).await.expect("connect");
        c.write_all(req).await.expect("write");
        held.push(c);
    }
    server.wait_in_flight(2).await;
    let started = Instant::now();
    let answer = exchange(server.addr, req).await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert!(answer
        .to_ascii_lowercase()
        .contains("\r\nretry-after: 1\r\n"));
    assert_eq!(body_of(&answer)["error"]["code"], "overloaded");
    let probe = exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(probe.starts_with("HTTP/1.1 200"), "{probe}");
    server.release.add_permits(2);
    for mut c in held {
        assert!(read_all(&mut c).await.starts_with("HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn over_the_connection_cap_a_connection_is_answered_503() {
    let server = Server::start(HttpLimits {
        max_connections: 2,
        ..limits()
    })
    .await;
    let _a = TcpStream::connect(server.addr).await.expect("a");
    let _b = TcpStream::connect(server.addr).await.expect("b");
    let deadline = Instant::now() + Duration::from_secs(5);
    let answer = loop {
        let answer = exchange(
            server.addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if answer.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            break answer;
        }
    };
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
    assert_eq!(body_of(&answer)["error"]["code"], "overloaded");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_requests_in_flight_finish() {
    let mut server = Server::start(limits()).await;
    let mut busy = TcpStream::connect(server.addr).await.expect("connect");
    busy.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.expect("answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    server.wait_in_flight(1).await;
    let _ = server.stop.take().map(|s| s.send(()));
    assert!(
        closed_within(&mut idle, Duration::from_secs(2))
            .await
            .is_some(),
        "an idle connection is closed at once"
    );
    assert!(!server.task.is_finished(), "a request is still in flight");
    server.release.add_permits(1);
    let answer = read_all(&mut busy).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(busy);
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve returns")
        .expect("no panic");
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn admin_routes_without_recovery_still_answer_json_errors() {
    let listener = super::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let only = warp::path!("healthz")
        .map(|| warp::reply().into_response())
        .boxed();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, only, Gate::new(limits()), async move {
        let _ = stopped.await;
    }));
    let answer = exchange(
        addr,
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert_eq!(body_of(&answer)["error"]["code"], "no_route");
}
