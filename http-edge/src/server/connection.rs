//! One connection from accept to close: hyper's HTTP/1 connection (with a
//! timer, so its own header-read timeout works as a backstop), raced
//! against the connection's watchdog (header-read and idle timeouts) and
//! the server's stop signal, then a lingering close.

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpStream, sync::watch};

use super::{
    activity::{Activity, Phase, Tracked},
    limits::{refused, Gate},
    linger::linger,
    service::{EdgeService, Routes},
};

/// Serves `stream` until it closes, times out, or the server stops (then
/// an idle connection closes at once and a busy one after its answer).
pub(crate) async fn serve<S: Routes>(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    routes: S,
    gate: Gate,
    mut stop: watch::Receiver<bool>,
) {
    let _counted = gate.connection_opened();
    // Answers are small JSON documents written at once: do not let Nagle
    // hold their last segment back.
    let _ = stream.set_nodelay(true);
    let limits = gate.limits().clone();
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let service = EdgeService::new(routes, gate, activity.clone(), peer);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Backstop only: the watchdog below closes slow heads first (see
        // `activity`), as hyper's timer also runs while a connection idles.
        .header_read_timeout(limits.header_read_timeout + limits.idle_timeout);
    let mut conn = builder.serve_connection(io, service);
    let expired = activity.expired(limits.header_read_timeout, limits.idle_timeout);
    tokio::pin!(expired);
    let mut stopping = false;
    let ended = loop {
        tokio::select! {
            r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break r,
            why = &mut expired => {
                refused(why.reason());
                tracing::debug!(reason = why.reason(), "closing a connection");
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                if !matches!(activity.phase(), Phase::Busy { .. }) {
                    return;
                }
                std::pin::Pin::new(&mut conn).graceful_shutdown();
            }
        }
    };
    match ended {
        Ok(()) => {}
        // hyper has answered a request it could not parse (400, 431...):
        // let the client read that too.
        Err(e) if e.is_parse() => tracing::debug!(error = %e, "unparsable request"),
        Err(e) => {
            if e.is_timeout() {
                refused("header_timeout");
            }
            tracing::debug!(error = %e, "connection ended");
            return;
        }
    }
    let parts = conn.into_parts();
    let stream = parts.io.into_inner().into_inner();
    let unread = parts.read_buf.len() as u64;
    linger(stream, unread, limits.linger_bytes, limits.linger_timeout).await;
}
