//! Serving a filter on a bound listener until a shutdown signal, then
//! letting in-flight requests finish.

use std::{future::Future, net::SocketAddr};

use tokio::net::TcpListener;
use warp::{filters::BoxedFilter, reply::Response};

/// Binds `addr` (port 0 picks a free port); the bound address is
/// `listener.local_addr()`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `routes` on `listener` until `shutdown` completes, then waits for
/// in-flight requests.
pub async fn serve(
    listener: TcpListener,
    routes: BoxedFilter<(Response,)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}
