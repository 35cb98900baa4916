//! The HTTP limits of a node ([`HttpLimits`], set by `kukka node` flags)
//! and what a node's servers share while enforcing them ([`Gate`]: the
//! count of requests in flight).
//!
//! Metrics (see [`kukka_actors::runtime::metrics`]): the gauges
//! `kukka_http_connections_open` and `kukka_http_requests_in_flight`
//! (probes not counted), and `kukka_http_refused_total{reason}`
//! (`header_timeout`, `idle_timeout`, `body_timeout`, `connections`,
//! `in_flight`).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use kukka_actors::runtime::metrics;

/// How much a node's HTTP servers let clients hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time a client has to send a request's head (request line and
    /// headers): from the moment the connection opens for its first
    /// request, from its first byte for the next ones.
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request before it
    /// is closed.
    pub idle_timeout: Duration,
    /// Time a request's whole body has to arrive, from its head; a slower
    /// body is cut off with `408`.
    pub body_read_timeout: Duration,
    /// Connections open at once on each listener; more are answered `503`
    /// and closed.
    pub max_connections: usize,
    /// Requests in flight at once on the node (over all its listeners,
    /// probes excluded); more are answered `503` `overloaded` at once.
    pub max_in_flight: usize,
    /// Bytes read and discarded after answering a request whose body was
    /// not read (e.g. `413`), before closing, so the client can read the
    /// answer instead of a connection reset ("lingering close").
    pub linger_bytes: u64,
    /// Longest time spent on that lingering close.
    pub linger_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_in_flight: 1024,
            linger_bytes: 4 * 1024 * 1024,
            linger_timeout: Duration::from_secs(5),
        }
    }
}

/// What every HTTP server of one node shares: its limits and the count of
/// requests in flight. Build one per node and hand clones to each server.
#[derive(Clone, Debug)]
pub struct Gate {
    limits: Arc<HttpLimits>,
    in_flight: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

impl Gate {
    /// A gate with nothing in flight.
    pub fn new(limits: HttpLimits) -> Self {
        Self {
            limits: Arc::new(limits),
            in_flight: Arc::new(AtomicUsize::new(0)),
            connections: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Takes an in-flight slot, or `None` when all are taken.
    pub(crate) fn admit(&self) -> Option<InFlight> {
        let max = self.limits.max_in_flight;
        let taken = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            });
        match taken {
            Ok(n) => {
                metrics::requests_in_flight(n + 1);
                Some(InFlight(self.in_flight.clone()))
            }
            Err(_) => None,
        }
    }

    /// Counts an open connection (for the node-wide gauge) until the
    /// returned guard is dropped.
    pub(crate) fn connection_opened(&self) -> Counted {
        let n = self.connections.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::connections_open(n);
        Counted(self.connections.clone())
    }
}

/// One request in flight; the slot is freed when this is dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let n = self.0.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        metrics::requests_in_flight(n);
    }
}

/// One open connection, counted until dropped.
#[derive(Debug)]
pub(crate) struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        let n = self.0.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        metrics::connections_open(n);
    }
}

/// Counts one connection or request turned away for `reason`.
pub(crate) fn refused(reason: &'static str) {
    metrics::refused(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_slots_are_capped_and_freed_on_drop() {
        let gate = Gate::new(HttpLimits {
            max_in_flight: 2,
            ..HttpLimits::default()
        });
        let a = gate.admit().expect("first");
        let b = gate.admit().expect("second");
        assert!(gate.admit().is_none(), "a third is over the cap");
        assert_eq!(gate.in_flight(), 2);
        drop(a);
        let c = gate.admit().expect("a freed slot is taken again");
        drop((b, c));
        assert_eq!(gate.in_flight(), 0);
    }
}
