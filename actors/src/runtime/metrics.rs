//! Every node's Prometheus metrics, served on its admin port's `/metrics`
//! in the text exposition format (0.0.4) by the `prometheus-client` crate:
//! every family has `# HELP` and `# TYPE`, counters end in `_total`,
//! durations are histograms in seconds.
//!
//! The families live in one process-wide registry ([`Metrics`]); call sites
//! use the small functions below (`metrics::order("Ordered")`), so a name,
//! its labels and its help text are written once, here. Series whose labels
//! are known in advance are created at zero when the part that owns them
//! starts ([`order_node_started`], [`consumer_started`], ...), so an alert
//! such as `increase(kukka_events_dead_lettered_total[15m]) > 0` has a
//! series to look at before the first event.
//!
//! Names (the Grafana dashboard and the alert rules in
//! `k8s/components/observability` use them; keep them stable):
//! - edge: `kukka_http_requests_total{method,route,status}`,
//!   `kukka_http_request_duration_seconds{method,route,status}` (`route` is
//!   the route template, e.g. `/orders/{id}`);
//! - every node's HTTP servers: `kukka_http_connections_open`,
//!   `kukka_http_requests_in_flight`, `kukka_http_refused_total{reason}`;
//! - order: `kukka_orders_total{status}`,
//!   `kukka_payment_breaker_state{state}`,
//!   `kukka_payment_breaker_transitions_total{from,to}`,
//!   `kukka_payment_calls_total{outcome}`,
//!   `kukka_payment_call_duration_seconds{outcome}`,
//!   `kukka_payment_calls_rejected_total{reason}`,
//!   `kukka_payment_calls_in_flight`;
//! - order and payment: `kukka_outbox_pending`,
//!   `kukka_outbox_published_total`; order: `kukka_idempotency_keys`,
//!   `kukka_idempotency_keys_expired_total`;
//! - payment: `kukka_payments_total{status}`,
//!   `kukka_payments_reconciled_total{outcome}`;
//! - stream consumers: `kukka_events_applied_total{group}`,
//!   `kukka_events_retried_total{group}`,
//!   `kukka_events_dead_lettered_total{group}`, `kukka_events_lag{group}`
//!   ([`lag`]: read from Redis when `/metrics` is scraped);
//!   `kukka_events_refused_total{group,type,producer,reason}` (events
//!   ignored because their producer may not produce them);
//! - delivery nodes (the trimmer): `kukka_events_stream_entries`,
//!   `kukka_events_trimmed_total`, `kukka_events_dead_letters`,
//!   `kukka_events_dead_letters_trimmed_total`;
//! - every node: `kukka_actor_restarts_total{actor}`,
//!   `kukka_cluster_sessions`,
//!   `kukka_cluster_handshakes_failed_total{reason}`,
//!   `kukka_cluster_frames_refused_total{peer_role,reason}`, and the
//!   `process_*` family ([`process`]).

pub mod lag;
pub mod process;

use std::{sync::OnceLock, time::Duration};

use kukka_storage::bus::Partitions;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the HTTP request duration buckets.
const HTTP_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds (seconds) of the payment call duration buckets (the call's
/// timeout is 300 ms by default).
const PAYMENT_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// One label with a value from a fixed set.
type Fixed = [(&'static str, &'static str); 1];
/// One label whose value is known only at run time (a group, an actor).
type Named = [(&'static str, String); 1];
/// A histogram family's constructor.
type MakeHistogram = fn() -> Histogram;
/// No labels: a family of one series that appears only once the part of
/// the node it describes runs (the outbox on order and payment nodes, the
/// bulkhead on order nodes), not as a 0 on every node.
type Alone = [(&'static str, &'static str); 0];

/// Labels of an edge request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// `GET`, `POST`, ... (`other` for anything unusual).
    pub method: &'static str,
    /// The route template (`/orders/{id}`), or `other`.
    pub route: &'static str,
    /// The status code.
    pub status: u16,
}

/// Every family, registered once per process.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram, MakeHistogram>,
    connections_open: Gauge,
    requests_in_flight: Gauge,
    refused: Family<Fixed, Counter>,
    cluster_sessions: Gauge,
    actor_restarts: Family<Named, Counter>,
    orders: Family<Fixed, Counter>,
    breaker_state: Family<Fixed, Gauge>,
    breaker_transitions: Family<[(&'static str, &'static str); 2], Counter>,
    payment_calls: Family<Fixed, Counter>,
    payment_call_duration: Family<Fixed, Histogram, MakeHistogram>,
    payment_rejected: Family<Fixed, Counter>,
    payment_in_flight: Family<Alone, Gauge>,
    outbox_pending: Family<Alone, Gauge>,
    outbox_published: Family<Alone, Counter>,
    idempotency_keys: Family<Alone, Gauge>,
    idempotency_keys_expired: Family<Alone, Counter>,
    payments: Family<Fixed, Counter>,
    reconciled: Family<Fixed, Counter>,
    events_applied: Family<Named, Counter>,
    events_retried: Family<Named, Counter>,
    events_dead_lettered: Family<Named, Counter>,
    events_lag: Family<Named, Gauge>,
    events_refused: Family<[(&'static str, String); 4], Counter>,
    stream_entries: Family<Alone, Gauge>,
    trimmed: Family<Alone, Counter>,
    dead_letters: Family<Alone, Gauge>,
    dead_letters_trimmed: Family<Alone, Counter>,
    handshakes_failed: Family<Fixed, Counter>,
    frames_refused: Family<[(&'static str, &'static str); 2], Counter>,
    cluster_requests_refused: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Values of `kukka_http_refused_total{reason}`.
pub const REFUSED_REASONS: [&str; 5] = [
    "header_timeout",
    "idle_timeout",
    "body_timeout",
    "connections",
    "in_flight",
];
/// Values of `kukka_cluster_handshakes_failed_total{reason}`.
pub const HANDSHAKE_FAILURES: [&str; 4] = ["tls", "certificate", "timeout", "busy"];
/// Values of `kukka_orders_total{status}` (`Refused`: payment was never
/// called, e.g. the circuit is open).
pub const ORDER_STATUSES: [&str; 3] = ["Ordered", "Rejected", "Refused"];
/// Values of `kukka_payment_calls_total{outcome}` and of the duration's.
pub const CALL_OUTCOMES: [&str; 3] = ["answered", "failed", "cancelled"];
/// Values of `kukka_payment_calls_rejected_total{reason}`.
pub const REJECT_REASONS: [&str; 2] = ["bulkhead_full", "circuit_open"];
/// Values of `kukka_payment_breaker_state{state}`.
pub const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];
/// The breaker's possible transitions (`from`, `to`).
const BREAKER_TRANSITIONS: [(&str, &str); 4] = [
    ("closed", "open"),
    ("open", "half_open"),
    ("half_open", "closed"),
    ("half_open", "open"),
];
/// Values of `kukka_payments_total{status}`.
pub const PAYMENT_STATUSES: [&str; 2] = ["PaymentConfirmed", "PaymentCancelled"];
/// Values of `kukka_payments_reconciled_total{outcome}`.
pub const RECONCILE_OUTCOMES: [&str; 2] = ["settled", "voided"];

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::default();
        let m = Self {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(|| Histogram::new(HTTP_BUCKETS)),
            connections_open: Gauge::default(),
            requests_in_flight: Gauge::default(),
            refused: Family::default(),
            cluster_sessions: Gauge::default(),
            actor_restarts: Family::default(),
            orders: Family::default(),
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            payment_calls: Family::default(),
            payment_call_duration: Family::new_with_constructor(|| Histogram::new(PAYMENT_BUCKETS)),
            payment_rejected: Family::default(),
            payment_in_flight: Family::default(),
            outbox_pending: Family::default(),
            outbox_published: Family::default(),
            idempotency_keys: Family::default(),
            idempotency_keys_expired: Family::default(),
            payments: Family::default(),
            reconciled: Family::default(),
            events_applied: Family::default(),
            events_retried: Family::default(),
            events_dead_lettered: Family::default(),
            events_lag: Family::default(),
            events_refused: Family::default(),
            stream_entries: Family::default(),
            trimmed: Family::default(),
            dead_letters: Family::default(),
            dead_letters_trimmed: Family::default(),
            handshakes_failed: Family::default(),
            frames_refused: Family::default(),
            cluster_requests_refused: Counter::default(),
            registry: Registry::default(),
        };
        // Counters are registered without `_total`: the encoder adds it.
        r.register(
            "kukka_http_requests",
            "Requests answered on the edge's public port, by method, route template and status code",
            m.http_requests.clone(),
        );
        r.register(
            "kukka_http_request_duration_seconds",
            "Time from a request's arrival on the edge's public port to its response head, by method, route template and status code",
            m.http_duration.clone(),
        );
        r.register(
            "kukka_http_connections_open",
            "Connections open on this node's HTTP servers",
            m.connections_open.clone(),
        );
        r.register(
            "kukka_http_requests_in_flight",
            "Requests being served by this node (probes not counted)",
            m.requests_in_flight.clone(),
        );
        r.register(
            "kukka_http_refused",
            "Connections and requests cut off or turned away by an HTTP limit, by reason",
            m.refused.clone(),
        );
        r.register(
            "kukka_cluster_sessions",
            "Authenticated ractor_cluster sessions to other nodes",
            m.cluster_sessions.clone(),
        );
        r.register(
            "kukka_actor_restarts",
            "Restarts of a supervised actor by its node's root supervisor, by actor",
            m.actor_restarts.clone(),
        );
        r.register(
            "kukka_orders",
            "Orders placed on this order shard, by outcome: Ordered (paid), Rejected (payment failed or timed out), Refused (payment not called: circuit open or bulkhead full)",
            m.orders.clone(),
        );
        r.register(
            "kukka_payment_breaker_state",
            "The payment circuit breaker's state: 1 for the current state, 0 for the others",
            m.breaker_state.clone(),
        );
        r.register(
            "kukka_payment_breaker_transitions",
            "State changes of the payment circuit breaker",
            m.breaker_transitions.clone(),
        );
        r.register(
            "kukka_payment_calls",
            "Payment calls made through the bulkhead, by outcome: answered, failed (timed out or unreachable), cancelled",
            m.payment_calls.clone(),
        );
        r.register(
            "kukka_payment_call_duration_seconds",
            "Duration of payment calls made through the bulkhead, by outcome",
            m.payment_call_duration.clone(),
        );
        r.register(
            "kukka_payment_calls_rejected",
            "Payment calls refused before being made, by reason: bulkhead_full, circuit_open",
            m.payment_rejected.clone(),
        );
        r.register(
            "kukka_payment_calls_in_flight",
            "Payment calls in flight through the bulkhead",
            m.payment_in_flight.clone(),
        );
        r.register(
            "kukka_outbox_pending",
            "Events in this node's outbox not yet published to the Redis stream",
            m.outbox_pending.clone(),
        );
        r.register(
            "kukka_outbox_published",
            "Events the outbox relay published to the Redis stream",
            m.outbox_published.clone(),
        );
        r.register(
            "kukka_idempotency_keys",
            "Idempotency-Keys this order shard keeps (counted at each sweep)",
            m.idempotency_keys.clone(),
        );
        r.register(
            "kukka_idempotency_keys_expired",
            "Idempotency-Keys the sweeper removed after they expired",
            m.idempotency_keys_expired.clone(),
        );
        r.register(
            "kukka_payments",
            "Payments of this payment shard by what happened: PaymentConfirmed (charged), PaymentCancelled (refunded or voided)",
            m.payments.clone(),
        );
        r.register(
            "kukka_payments_reconciled",
            "Charges the reconciler checked with their order shard, by outcome: settled (the order exists), voided (it never did)",
            m.reconciled.clone(),
        );
        r.register(
            "kukka_events_applied",
            "Stream events applied and acknowledged by this node's consumers, by consumer group",
            m.events_applied.clone(),
        );
        r.register(
            "kukka_events_retried",
            "Stream events whose handler failed and that will be delivered again, by consumer group",
            m.events_retried.clone(),
        );
        r.register(
            "kukka_events_dead_lettered",
            "Stream events moved to the dead-letter stream, by consumer group",
            m.events_dead_lettered.clone(),
        );
        r.register(
            "kukka_events_lag",
            "Stream entries not yet delivered to the consumer group (Redis XINFO GROUPS lag), read when scraped",
            m.events_lag.clone(),
        );
        r.register(
            "kukka_events_refused",
            "Stream events a consumer ignored because their producer role may not produce their type (reason producer) or their entry names another type than their body (reason kind_mismatch), by consumer group",
            m.events_refused.clone(),
        );
        r.register(
            "kukka_events_stream_entries",
            "Entries in the event stream's partitions after the last trim",
            m.stream_entries.clone(),
        );
        r.register(
            "kukka_events_trimmed",
            "Event stream entries removed by trimming (acknowledged by every group and older than the retention)",
            m.trimmed.clone(),
        );
        r.register(
            "kukka_events_dead_letters",
            "Entries in the dead-letter stream after the last trim",
            m.dead_letters.clone(),
        );
        r.register(
            "kukka_events_dead_letters_trimmed",
            "Dead letters removed because they were older than the retention",
            m.dead_letters_trimmed.clone(),
        );
        r.register(
            "kukka_cluster_handshakes_failed",
            "Incoming cluster connections refused before joining, by reason: tls (handshake failed: no or a foreign certificate), certificate (names no single role), timeout, busy",
            m.handshakes_failed.clone(),
        );
        r.register(
            "kukka_cluster_frames_refused",
            "Cluster frames from a peer dropped because its role may not send them, by the peer's role and reason: message, group, unknown, undecodable, oversize",
            m.frames_refused.clone(),
        );
        r.register(
            "kukka_cluster_requests_refused",
            "Cluster requests this node's service actors turned away at once because it already served --max-in-flight of them",
            m.cluster_requests_refused.clone(),
        );
        r.register_collector(Box::new(process::ProcessCollector));
        for reason in REFUSED_REASONS {
            let _ = m.refused.get_or_create(&[("reason", reason)]);
        }
        for reason in HANDSHAKE_FAILURES {
            let _ = m.handshakes_failed.get_or_create(&[("reason", reason)]);
        }
        Self { registry: r, ..m }
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Every family in the text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &metrics().registry);
    out
}

/// Reads what is sampled at scrape time ([`lag`]), then renders, within
/// about `within`.
pub async fn scrape(within: Duration) -> String {
    lag::refresh(within).await;
    render()
}

fn gauge(g: &Gauge, n: usize) {
    g.set(i64::try_from(n).unwrap_or(i64::MAX));
}

// --- the edge -------------------------------------------------------------

/// One request answered on the edge's public port.
pub fn http_request(labels: HttpLabels, took: Duration) {
    let m = metrics();
    m.http_duration
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
    m.http_requests.get_or_create(&labels).inc();
}

/// Requests answered with these labels so far (for tests).
pub fn http_requests(labels: &HttpLabels) -> u64 {
    metrics().http_requests.get(labels).map_or(0, |c| c.get())
}

/// Connections open on the node's HTTP servers.
pub fn connections_open(n: usize) {
    gauge(&metrics().connections_open, n);
}

/// Requests in flight on the node.
pub fn requests_in_flight(n: usize) {
    gauge(&metrics().requests_in_flight, n);
}

/// A connection or request turned away (`reason`: [`REFUSED_REASONS`]).
pub fn refused(reason: &'static str) {
    metrics().refused.get_or_create(&[("reason", reason)]).inc();
}

// --- every node -----------------------------------------------------------

/// A cluster request refused because the node served its limit.
pub fn node_overloaded() {
    metrics().cluster_requests_refused.inc();
}

/// Authenticated cluster sessions.
pub fn cluster_sessions(n: usize) {
    gauge(&metrics().cluster_sessions, n);
}

/// An actor is supervised: its restart counter exists from now on.
pub fn actor_supervised(actor: &str) {
    let _ = metrics()
        .actor_restarts
        .get_or_create(&[("actor", actor.to_string())]);
}

/// An actor was restarted by its supervisor.
pub fn actor_restarted(actor: &str) {
    metrics()
        .actor_restarts
        .get_or_create(&[("actor", actor.to_string())])
        .inc();
}

// --- order nodes ----------------------------------------------------------

/// An order node's bulkhead started: its series exist from now on, the
/// breaker closed.
pub fn order_node_started() {
    let m = metrics();
    for s in ORDER_STATUSES {
        let _ = m.orders.get_or_create(&[("status", s)]);
    }
    for o in CALL_OUTCOMES {
        let _ = m.payment_calls.get_or_create(&[("outcome", o)]);
        let _ = m.payment_call_duration.get_or_create(&[("outcome", o)]);
    }
    for r in REJECT_REASONS {
        let _ = m.payment_rejected.get_or_create(&[("reason", r)]);
    }
    for (from, to) in BREAKER_TRANSITIONS {
        let _ = m
            .breaker_transitions
            .get_or_create(&[("from", from), ("to", to)]);
    }
    breaker_state("closed");
    payment_in_flight(0);
    let _ = m.idempotency_keys_expired.get_or_create(&[]);
}

/// An order placed with outcome `status` ([`ORDER_STATUSES`]).
pub fn order(status: &'static str) {
    metrics().orders.get_or_create(&[("status", status)]).inc();
}

/// The breaker is now in `state` ([`BREAKER_STATES`]).
pub fn breaker_state(state: &'static str) {
    for s in BREAKER_STATES {
        metrics()
            .breaker_state
            .get_or_create(&[("state", s)])
            .set(i64::from(s == state));
    }
}

/// The breaker went from `from` to `to`.
pub fn breaker_transition(from: &'static str, to: &'static str) {
    metrics()
        .breaker_transitions
        .get_or_create(&[("from", from), ("to", to)])
        .inc();
}

/// A payment call ended with `outcome` ([`CALL_OUTCOMES`]) after `took`.
pub fn payment_call(outcome: &'static str, took: Duration) {
    let m = metrics();
    m.payment_call_duration
        .get_or_create(&[("outcome", outcome)])
        .observe(took.as_secs_f64());
    m.payment_calls.get_or_create(&[("outcome", outcome)]).inc();
}

/// A payment call refused before being made ([`REJECT_REASONS`]).
pub fn payment_rejected(reason: &'static str) {
    metrics()
        .payment_rejected
        .get_or_create(&[("reason", reason)])
        .inc();
}

/// Payment calls in flight.
pub fn payment_in_flight(n: usize) {
    gauge(&metrics().payment_in_flight.get_or_create(&[]), n);
}

// --- order and payment nodes: the outbox ----------------------------------

/// Events left in the outbox (the relay says so after every round, so its
/// published counter exists from the first round on).
pub fn outbox_pending(n: usize) {
    let m = metrics();
    gauge(&m.outbox_pending.get_or_create(&[]), n);
    let _ = m.outbox_published.get_or_create(&[]);
}

/// Events published by the relay.
pub fn outbox_published(n: usize) {
    metrics()
        .outbox_published
        .get_or_create(&[])
        .inc_by(n as u64);
}

/// A sweep of an order shard's idempotency keys: how many it removed and
/// how many remain.
pub fn idempotency_swept(removed: usize, kept: usize) {
    let m = metrics();
    gauge(&m.idempotency_keys.get_or_create(&[]), kept);
    m.idempotency_keys_expired
        .get_or_create(&[])
        .inc_by(removed as u64);
}

// --- payment nodes --------------------------------------------------------

/// A payment shard started: its series exist from now on.
pub fn payment_node_started() {
    let m = metrics();
    for s in PAYMENT_STATUSES {
        let _ = m.payments.get_or_create(&[("status", s)]);
    }
    for o in RECONCILE_OUTCOMES {
        let _ = m.reconciled.get_or_create(&[("outcome", o)]);
    }
}

/// A payment reached `status` ([`PAYMENT_STATUSES`]).
pub fn payment(status: &'static str) {
    metrics()
        .payments
        .get_or_create(&[("status", status)])
        .inc();
}

/// The reconciler settled or voided a charge ([`RECONCILE_OUTCOMES`]).
pub fn reconciled(outcome: &'static str) {
    metrics()
        .reconciled
        .get_or_create(&[("outcome", outcome)])
        .inc();
}

// --- stream consumers -----------------------------------------------------

/// A consumer of `group` started on the stream (of `partitions`) in the
/// Redis at `redis_url`: its counters exist from now on, and its lag is
/// read at every scrape.
pub fn consumer_started(redis_url: &str, group: &str, partitions: Partitions) {
    let m = metrics();
    let labels = [("group", group.to_string())];
    let _ = m.events_applied.get_or_create(&labels);
    let _ = m.events_retried.get_or_create(&labels);
    let _ = m.events_dead_lettered.get_or_create(&labels);
    lag::watch(redis_url, group, partitions);
}

/// `n` events of `group` applied and acknowledged.
pub fn events_applied(group: &str, n: usize) {
    metrics()
        .events_applied
        .get_or_create(&[("group", group.to_string())])
        .inc_by(n as u64);
}

/// An event of `group` failed and will be delivered again.
pub fn event_retried(group: &str) {
    metrics()
        .events_retried
        .get_or_create(&[("group", group.to_string())])
        .inc();
}

/// An event of `group` was dead-lettered.
pub fn event_dead_lettered(group: &str) {
    metrics()
        .events_dead_lettered
        .get_or_create(&[("group", group.to_string())])
        .inc();
}

/// An event of `group` was ignored: its producer may not produce its
/// `kind` (`reason` `producer`), or its entry and body disagree
/// (`kind_mismatch`).
pub fn event_refused(group: &str, kind: &str, producer: &str, reason: &str) {
    metrics()
        .events_refused
        .get_or_create(&refused_labels(group, kind, producer, reason))
        .inc();
}

fn refused_labels(
    group: &str,
    kind: &str,
    producer: &str,
    reason: &str,
) -> [(&'static str, String); 4] {
    [
        ("group", group.to_string()),
        ("type", kind.to_string()),
        ("producer", producer.to_string()),
        ("reason", reason.to_string()),
    ]
}

/// Events ignored with these labels so far (for tests).
pub fn events_refused(group: &str, kind: &str, producer: &str, reason: &str) -> u64 {
    metrics()
        .events_refused
        .get(&refused_labels(group, kind, producer, reason))
        .map_or(0, |c| c.get())
}

/// Retries of `group` so far (for tests).
pub fn events_retried(group: &str) -> u64 {
    metrics()
        .events_retried
        .get(&[("group", group.to_string())])
        .map_or(0, |c| c.get())
}

// --- delivery nodes: the trimmer ------------------------------------------

/// A trim round removed `removed` entries and left `remaining`, and removed
/// `dead_removed` dead letters and left `dead_remaining`.
pub fn trimmed(removed: u64, remaining: u64, dead_removed: u64, dead_remaining: u64) {
    let m = metrics();
    m.trimmed.get_or_create(&[]).inc_by(removed);
    m.dead_letters_trimmed
        .get_or_create(&[])
        .inc_by(dead_removed);
    m.stream_entries
        .get_or_create(&[])
        .set(i64::try_from(remaining).unwrap_or(i64::MAX));
    m.dead_letters
        .get_or_create(&[])
        .set(i64::try_from(dead_remaining).unwrap_or(i64::MAX));
}

// --- every node: the cluster ----------------------------------------------

/// An incoming cluster connection was refused before it could join
/// (`reason`: [`HANDSHAKE_FAILURES`]).
pub fn handshake_failed(reason: &'static str) {
    metrics()
        .handshakes_failed
        .get_or_create(&[("reason", reason)])
        .inc();
}

/// A frame from a peer of role `peer_role` was dropped for `reason`.
pub fn frame_refused(peer_role: &'static str, reason: &'static str) {
    metrics()
        .frames_refused
        .get_or_create(&[("peer_role", peer_role), ("reason", reason)])
        .inc();
}

/// The lag of `group`.
fn events_lag(group: &str, lag: u64) {
    metrics()
        .events_lag
        .get_or_create(&[("group", group.to_string())])
        .set(i64::try_from(lag).unwrap_or(i64::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The families of a rendering: name -> (help, type).
    fn families(text: &str) -> std::collections::BTreeMap<String, (bool, String)> {
        let mut out = std::collections::BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                out.entry(name).or_insert((false, String::new())).0 = true;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let name = parts.next().unwrap_or_default().to_string();
                out.entry(name).or_insert((false, String::new())).1 =
                    parts.next().unwrap_or_default().to_string();
            }
        }
        out
    }

    #[test]
    fn every_family_has_help_and_a_type_and_counters_end_in_total() {
        order_node_started();
        payment_node_started();
        consumer_started("redis://127.0.0.1:1", "test-group", Partitions::default());
        events_lag("test-group", 3);
        outbox_pending(0);
        http_request(
            HttpLabels {
                method: "GET",
                route: "/orders/{id}",
                status: 200,
            },
            Duration::from_millis(3),
        );
        let text = render();
        let fams = families(&text);
        for name in [
            "kukka_http_requests_total",
            "kukka_http_request_duration_seconds",
            "kukka_orders_total",
            "kukka_payment_call_duration_seconds",
            "kukka_outbox_pending",
            "kukka_events_lag",
        ] {
            assert!(fams.contains_key(name), "{name} missing:\n{text}");
        }
        for (name, (help, kind)) in &fams {
            assert!(help, "{name} has no HELP");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind.as_str()),
                "{name}: {kind}"
            );
            assert_eq!(
                kind == "counter",
                name.ends_with("_total"),
                "{name}: {kind}"
            );
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = name
                .strip_suffix("_bucket")
                .or_else(|| name.strip_suffix("_sum"))
                .or_else(|| name.strip_suffix("_count"))
                .filter(|f| fams.contains_key(*f))
                .unwrap_or(name);
            assert!(fams.contains_key(family), "sample of no family: {line}");
        }
    }

    #[test]
    fn known_series_start_at_zero_and_count() {
        order_node_started();
        let text = render();
        assert!(
            text.contains("kukka_orders_total{status=\"Refused\"} "),
            "{text}"
        );
        assert!(text.contains("kukka_payment_breaker_state{state=\"closed\"} 1"));
        assert!(text.contains(
            "kukka_payment_call_duration_seconds_bucket{outcome=\"failed\",le=\"0.3\"} "
        ));
        let labels = HttpLabels {
            method: "POST",
            route: "/orders",
            status: 201,
        };
        let before = http_requests(&labels);
        http_request(labels.clone(), Duration::from_millis(1));
        assert_eq!(http_requests(&labels), before + 1);
        assert!(render()
            .contains("kukka_http_request_duration_seconds_bucket{method=\"POST\",route=\"/orders\",status=\"201\",le=\"+Inf\"}"));
    }
}
