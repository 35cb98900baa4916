//! The hyper service of one connection: warp's routes behind the node's
//! in-flight cap, with a deadline on every request body.
//!
//! A request over the cap is answered `503` `overloaded` with
//! `Retry-After` right here, before any route runs (so it never reaches
//! the cluster). The probes (`/healthz`, `/readyz`, `/metrics`) are not
//! counted and never refused: an overloaded node must still say whether it
//! is alive.

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc};

use hyper::{body::Incoming, Request, Response};
use tokio::time::Instant;
use warp::filters::BoxedFilter;

use super::{
    activity::Activity,
    bodies::{HeldBody, TimedBody},
    limits::{refused, Gate},
};
use crate::{auth::PeerAddr, correlation, error::ApiError, traffic};

/// Names the body type of a response (warp's is not exported by name).
pub(crate) trait HasBody {
    /// The body type.
    type Body;
}

impl<B> HasBody for Response<B> {
    type Body = B;
}

/// The body of warp's responses.
pub(crate) type WarpBody = <warp::reply::Response as HasBody>::Body;

/// Paths answered even when the node is over its in-flight cap.
pub const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The request routes see: the body has a deadline.
pub(crate) type TimedRequest = Request<TimedBody<Incoming>>;

/// The service of one connection over `S`, warp's service of the routes
/// (whose type warp does not name).
#[derive(Clone)]
pub(crate) struct EdgeService<S> {
    routes: S,
    gate: Gate,
    activity: Arc<Activity>,
    peer: std::net::SocketAddr,
}

/// warp's service of `routes`.
pub(crate) fn routes_service(routes: BoxedFilter<(warp::reply::Response,)>) -> impl Routes {
    warp::service(routes)
}

/// What [`EdgeService`] needs of warp's service.
pub(crate) trait Routes:
    tower_service::Service<
        TimedRequest,
        Response = warp::reply::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Unpin
    + Send
    + Sync
    + 'static
{
}

impl<S> Routes for S where
    S: tower_service::Service<
            TimedRequest,
            Response = warp::reply::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Unpin
        + Send
        + Sync
        + 'static
{
}

impl<S> EdgeService<S> {
    /// Serves `routes` for the connection from `peer` whose phase is
    /// `activity`.
    pub(crate) fn new(
        routes: S,
        gate: Gate,
        activity: Arc<Activity>,
        peer: std::net::SocketAddr,
    ) -> Self {
        Self {
            routes,
            gate,
            activity,
            peer,
        }
    }
}

/// The future of one request.
type Answer =
    Pin<Box<dyn Future<Output = Result<Response<HeldBody<WarpBody>>, Infallible>> + Send>>;

impl<S: Routes> hyper::service::Service<Request<Incoming>> for EdgeService<S> {
    type Response = Response<HeldBody<WarpBody>>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let busy = self.activity.busy();
        let probe = PROBES.contains(&req.uri().path());
        let slot = if probe { None } else { self.gate.admit() };
        if !probe && slot.is_none() {
            refused("in_flight");
            let started = std::time::Instant::now();
            let cid = correlation::given(req.headers())
                .unwrap_or_else(|| correlation::accept_or_new(None));
            let mut resp = ApiError::Overloaded.into_response_with(&cid);
            traffic::answered(
                req.method(),
                req.uri().path(),
                req.headers(),
                started,
                &mut resp,
            );
            let resp = resp.map(|b| HeldBody::new(b, None, busy));
            return Box::pin(std::future::ready(Ok(resp)));
        }
        let deadline = Instant::now() + self.gate.limits().body_read_timeout;
        let traceparent = correlation::traceparent_of(req.headers());
        let mut req = req.map(|b| TimedBody::new(b, deadline));
        // Routes count failed token attempts per client.
        req.extensions_mut().insert(PeerAddr(self.peer));
        let mut routes = self.routes.clone();
        Box::pin(correlation::with_traceparent(traceparent, async move {
            let Ok(resp) = tower_service::Service::call(&mut routes, req).await;
            Ok(resp.map(|b| HeldBody::new(b, slot, busy)))
        }))
    }
}
