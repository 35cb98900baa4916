//! Serving routes on a bound listener with limits, until a shutdown
//! signal, then letting in-flight requests finish.
//!
//! warp's own server starts hyper without a timer, which turns hyper's
//! header-read timeout off, and has no other limit. This one runs warp's
//! routes as a service on hyper's HTTP/1 connections directly, within the
//! node's [`HttpLimits`]:
//! - a header-read timeout, an idle (keep-alive) timeout and a body-read
//!   timeout (`activity`, `bodies`);
//! - a cap on connections per listener: over it a connection is accepted,
//!   answered `503` with `Retry-After` and closed (`linger`);
//!   stopping to accept instead would leave every client, a normal one
//!   included, waiting in the kernel's backlog with no answer, while a
//!   quick `503` tells it to come back;
//! - a cap on requests in flight per node, shared by its listeners through
//!   one [`Gate`]: over it `503` `overloaded` at once, probes excepted
//!   (`service`);
//! - a lingering close, so a client whose body was refused (e.g. `413`)
//!   reads the answer instead of a reset (`linger`).
//!
//! Layout: `limits` (the settings and the shared gate), `activity` (a
//! connection's phase and its watchdog), `bodies` (request body deadline,
//! response guards), `service` (the hyper service around warp's),
//! `connection` (one connection), `linger` (closing).

mod activity;
mod bodies;
mod connection;
mod limits;
mod linger;
mod service;
#[cfg(test)]
mod tests;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};
use warp::{filters::BoxedFilter, reply::Response, Filter};

pub use bodies::{is_body_timeout, BodyTimedOut};
pub use limits::{Gate, HttpLimits};
pub use service::PROBES;

/// Connections being turned away at once, at most (each answered `503` and
/// closed within a second); past this, extra connections are closed
/// without an answer.
const MAX_TURNING_AWAY: usize = 512;

/// Binds `addr` (port 0 picks a free port); the bound address is
/// `listener.local_addr()`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// A count that is decremented when the guard is dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// Takes one of `max`, or `None`.
    fn take(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(count.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `routes` on `listener` within `gate`'s limits until `shutdown`
/// completes; then stops accepting, closes idle connections, and waits for
/// the requests in flight.
pub async fn serve(
    listener: TcpListener,
    routes: BoxedFilter<(Response,)>,
    gate: Gate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Every surface answers JSON errors, even for routes without their own
    // recovery (the admin probes).
    let routes = routes.recover(crate::error::recover).unify().boxed();
    let routes = service::routes_service(routes);
    let max_connections = gate.limits().max_connections;
    let open = Arc::new(AtomicUsize::new(0));
    let turning_away = Arc::new(AtomicUsize::new(0));
    let over_capacity: Arc<[u8]> = linger::over_capacity_answer().into();
    // Every connection task holds a sender; `recv` returns `None` once all
    // of them have ended.
    let (alive, mut all_ended) = mpsc::channel::<()>(1);
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        match Slot::take(&open, max_connections) {
            Some(slot) => {
                let (routes, gate, stopped, alive) =
                    (routes.clone(), gate.clone(), stopped.clone(), alive.clone());
                tokio::spawn(async move {
                    connection::serve(stream, peer, routes, gate, stopped).await;
                    drop((slot, alive));
                });
            }
            None => turn_away(stream, &turning_away, &over_capacity),
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = all_ended.recv().await;
}

/// Answers a connection over the cap with `503`, if not too many are
/// being answered already.
fn turn_away(stream: TcpStream, turning_away: &Arc<AtomicUsize>, answer: &Arc<[u8]>) {
    limits::refused("connections");
    let Some(slot) = Slot::take(turning_away, MAX_TURNING_AWAY) else {
        return;
    };
    let answer = answer.clone();
    tokio::spawn(async move {
        linger::turn_away(stream, &answer).await;
        drop(slot);
    });
}

/// After a failed `accept`: errors about one connection are ignored; out
/// of file descriptors (or memory), wait a little for some to be freed
/// rather than spin.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; pausing");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
