//! A consumer-group reader of the event stream, generic over what it does
//! with each event.
//!
//! Per poll it reads a batch, hands the events its handler wants to
//! [`EventHandler::apply_batch`] at once (a handler that talks to Redis
//! applies them in one round trip), and acknowledges only what was applied;
//! the acknowledgement travels with the next read, in the same round trip. After a (re)start it first
//! re-reads its own pending entries (events it had read but not acked when it
//! died). Every `claim_every` it also claims entries that other consumers of
//! the group left pending for longer than `claim_idle` (a dead replica's
//! work). Handlers must be idempotent: an event can be delivered more than
//! once.
//!
//! Failures are typed ([`HandlerError`]): an event that cannot be decoded,
//! has an unknown type, or that the handler finds invalid is poison and goes
//! to the dead-letter stream at once; a failure that may pass (Redis or the
//! disk briefly unavailable) is retried, and dead-lettered only after
//! `max_deliveries` deliveries.
//!
//! `claim_idle` must exceed the longest time an entry can wait in a batch
//! plus its handling, or a slow-but-alive consumer's entry would be claimed
//! and applied twice (harmless with idempotent handlers, but wasteful). With
//! batches of 64 and handlers that take milliseconds, the default of 30 s
//! leaves a wide margin.

use std::{
    future::Future,
    marker::PhantomData,
    sync::Arc,
    time::{Duration, Instant},
};

use kukka_storage::{bus, redis_conn};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorMessage;
use redis::aio::ConnectionManager;
use tracing::Instrument;

use crate::events::{Envelope, EventKind};

/// Why a handler did not apply an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// It may work later (a dependency is briefly down): the event stays
    /// pending and is delivered again.
    #[error("retry: {0}")]
    Retry(String),
    /// It never will (the event is invalid): dead-letter it now.
    #[error("poison: {0}")]
    Poison(String),
}

impl From<kukka_storage::StorageError> for HandlerError {
    fn from(e: kukka_storage::StorageError) -> Self {
        Self::Retry(e.to_string())
    }
}

/// What a consumer does with an event.
pub trait EventHandler: Send + Sync + 'static {
    /// Whether events of this kind concern the handler; others are
    /// acknowledged without being decoded.
    fn wants(&self, kind: EventKind) -> bool;

    /// Applies one event; must be idempotent.
    fn apply(
        &self,
        conn: &mut ConnectionManager,
        event: Envelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Applies a batch of events, in stream order; one result per event.
    /// By default one by one, each in a span with its correlation id; a
    /// handler overrides it to apply a batch in fewer round trips.
    fn apply_batch(
        &self,
        conn: &mut ConnectionManager,
        events: Vec<Envelope>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                let span = tracing::info_span!("apply", correlation_id = %event.correlation_id, order_id = %event.order_id, kind = event.body.kind().as_str());
                results.push(self.apply(conn, event).instrument(span).await);
            }
            results
        }
    }
}

/// Tuning of a consumer.
#[derive(Clone, Copy, Debug)]
pub struct ConsumerConfig {
    /// Entries per read.
    pub batch: usize,
    /// How long a read blocks waiting for new entries.
    pub block: Duration,
    /// Entries idle this long in another consumer are claimed.
    pub claim_idle: Duration,
    /// How often to look for such entries.
    pub claim_every: Duration,
    /// Deliveries before an entry is dead-lettered.
    pub max_deliveries: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            batch: 64,
            block: Duration::from_millis(1000),
            claim_idle: Duration::from_secs(30),
            claim_every: Duration::from_secs(5),
            max_deliveries: 5,
        }
    }
}

/// What a consumer is started with.
pub struct ConsumerArgs<H> {
    /// What to do with each event.
    pub handler: Arc<H>,
    /// The Redis holding the stream.
    pub redis_url: String,
    /// Consumer group.
    pub group: String,
    /// This consumer's stable name within the group (survives restarts, so
    /// its own pending entries are found again).
    pub consumer: String,
    /// Batch size, blocking, reclaiming and retries.
    pub config: ConsumerConfig,
}

/// Messages of a consumer.
#[derive(RactorMessage)]
pub enum ConsumerMsg {
    /// Read and apply the next batch.
    Poll,
}

/// The consumer actor.
#[derive(Debug)]
pub struct StreamConsumer<H>(PhantomData<fn() -> H>);

impl<H> Default for StreamConsumer<H> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// What the consumer keeps between polls: its connection, whether its own
/// pending entries come first, and when it last looked for abandoned ones.
pub struct ConsumerState<H> {
    args: ConsumerArgs<H>,
    conn: Option<ConnectionManager>,
    own_pending: bool,
    last_claim: Instant,
    /// Entries applied and not acknowledged yet (sent with the next read).
    acks: Vec<String>,
}

impl<H: EventHandler> Actor for StreamConsumer<H> {
    type Msg = ConsumerMsg;
    type State = ConsumerState<H>;
    type Arguments = ConsumerArgs<H>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ConsumerArgs<H>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let _ = myself.cast(ConsumerMsg::Poll);
        super::metrics::consumer_started(&args.redis_url, &args.group);
        Ok(ConsumerState {
            args,
            conn: None,
            own_pending: true,
            last_claim: Instant::now(),
            acks: Vec::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // What was applied is acknowledged now rather than redelivered after
        // the restart (best effort: it is idempotent either way).
        if let Some(conn) = state.conn.as_mut() {
            let acks = std::mem::take(&mut state.acks);
            let _ = bus::ack(conn, bus::EVENTS_STREAM, &state.args.group, &acks).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        _msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match poll(state).await {
            Ok(true) => {
                let _ = myself.cast(ConsumerMsg::Poll);
            }
            Ok(false) => {
                myself.send_after(Duration::from_millis(200), || ConsumerMsg::Poll);
            }
            Err(e) => {
                tracing::warn!(group = %state.args.group, error = %e, "consumer poll failed; retrying");
                state.conn = None;
                // Unacknowledged entries stay pending and come back.
                state.acks.clear();
                myself.send_after(Duration::from_millis(500), || ConsumerMsg::Poll);
            }
        }
        Ok(())
    }
}

/// One round; `Ok(false)` asks for a short pause (a handler failed).
async fn poll<H: EventHandler>(state: &mut ConsumerState<H>) -> Result<bool, String> {
    let args = &state.args;
    if state.conn.is_none() {
        let timeout = args.config.block + Duration::from_secs(2);
        let mut conn = redis_conn::connect(&args.redis_url, timeout)
            .await
            .map_err(|e| e.to_string())?;
        bus::ensure_group(&mut conn, bus::EVENTS_STREAM, &args.group)
            .await
            .map_err(|e| e.to_string())?;
        state.conn = Some(conn);
    }
    let Some(conn) = state.conn.as_mut() else {
        return Ok(false);
    };
    let stream = bus::EVENTS_STREAM;
    let acks = std::mem::take(&mut state.acks);
    let acked_before = acks.len();
    let entries = if state.own_pending {
        let e = bus::read_group(
            conn,
            stream,
            &args.group,
            &args.consumer,
            "0",
            args.config.batch,
            0,
            &acks,
        )
        .await
        .map_err(|e| e.to_string())?;
        if e.is_empty() {
            state.own_pending = false;
        }
        e
    } else if state.last_claim.elapsed() >= args.config.claim_every {
        state.last_claim = Instant::now();
        bus::ack(conn, stream, &args.group, &acks)
            .await
            .map_err(|e| e.to_string())?;
        let claimed = bus::autoclaim(
            conn,
            stream,
            &args.group,
            &args.consumer,
            args.config.claim_idle.as_millis() as u64,
            args.config.batch,
        )
        .await
        .map_err(|e| e.to_string())?;
        if !claimed.is_empty() {
            tracing::info!(group = %args.group, n = claimed.len(), "claimed entries left by another consumer");
        }
        claimed
    } else {
        bus::read_group(
            conn,
            stream,
            &args.group,
            &args.consumer,
            ">",
            args.config.batch,
            args.config.block.as_millis() as u64,
            &acks,
        )
        .await
        .map_err(|e| e.to_string())?
    };
    if acked_before > 0 {
        super::metrics::events_applied(&args.group, acked_before);
    }
    // Sort the entries: skipped (acknowledged unread), poison, or to apply.
    let mut failed: Vec<(bus::Delivered, HandlerError)> = Vec::new();
    let mut to_apply: Vec<(bus::Delivered, Envelope)> = Vec::new();
    for entry in entries {
        let decoded = match &entry.event {
            Ok(se) => match EventKind::parse(&se.kind) {
                None => Err(HandlerError::Poison(format!(
                    "unknown event type {}",
                    se.kind
                ))),
                Some(kind) if !args.handler.wants(kind) => Ok(None),
                Some(_) => Envelope::from_stream_event(se)
                    .map(Some)
                    .map_err(|e| HandlerError::Poison(format!("undecodable event: {e}"))),
            },
            Err(e) => Err(HandlerError::Poison(e.clone())),
        };
        match decoded {
            Ok(None) => state.acks.push(entry.entry_id.clone()),
            Ok(Some(env)) => to_apply.push((entry, env)),
            Err(e) => failed.push((entry, e)),
        }
    }
    if !to_apply.is_empty() {
        let span = tracing::info_span!("apply_batch", group = %args.group, events = to_apply.len());
        let (entries, events): (Vec<_>, Vec<_>) = to_apply.into_iter().unzip();
        let results = args
            .handler
            .apply_batch(conn, events)
            .instrument(span)
            .await;
        for (entry, result) in entries.into_iter().zip(results) {
            match result {
                Ok(()) => state.acks.push(entry.entry_id.clone()),
                Err(e) => failed.push((entry, e)),
            }
        }
    }
    let all_ok = failed.is_empty();
    for (entry, error) in failed {
        let dead = match &error {
            HandlerError::Poison(_) => true,
            HandlerError::Retry(_) => {
                let count = bus::delivery_counts(
                    conn,
                    stream,
                    &args.group,
                    std::slice::from_ref(&entry.entry_id),
                )
                .await
                .map_err(|e| e.to_string())?
                .get(&entry.entry_id)
                .copied()
                .unwrap_or(1);
                if count < args.config.max_deliveries {
                    tracing::warn!(group = %args.group, entry = %entry.entry_id, %error, count, "event failed; will retry");
                    super::metrics::event_retried(&args.group);
                    state.own_pending = true;
                }
                count >= args.config.max_deliveries
            }
        };
        if dead {
            tracing::error!(group = %args.group, entry = %entry.entry_id, %error, "dead-lettering event");
            bus::dead_letter(conn, stream, &args.group, &entry, &error.to_string())
                .await
                .map_err(|e| e.to_string())?;
            super::metrics::event_dead_lettered(&args.group);
        }
    }
    Ok(all_ok)
}
