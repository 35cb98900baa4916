//! A lane: one consumer-group reader of a fixed set of partition streams
//! (see the parent module). It is restarted by its member when it fails,
//! and replaced when the member's partitions change.

use std::{
    marker::PhantomData,
    sync::Arc,
    time::{Duration, Instant},
};

use kukka_storage::{
    bus::{self, Acks},
    redis_conn::{self, RedisConn},
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorMessage;
use tracing::Instrument;

use super::{ConsumerConfig, EventHandler, HandlerError};
use crate::{
    events::{Envelope, EventKind, Refused},
    runtime::metrics,
};

/// What a lane is started with.
pub struct LaneArgs<H> {
    /// What to do with each event.
    pub handler: Arc<H>,
    /// The Redis holding the streams.
    pub redis_url: String,
    /// Consumer group.
    pub group: String,
    /// The member's name (the consumer name in the group).
    pub consumer: String,
    /// The partition streams this lane reads.
    pub streams: Vec<String>,
    /// Streams it reads only while they exist (the partitions' legacy
    /// streams): looked up whenever the lane (re)connects, never created.
    pub legacy: Vec<String>,
    /// Batch size, blocking, reclaiming and retries.
    pub config: ConsumerConfig,
}

/// Messages of a lane.
#[derive(RactorMessage)]
pub enum LaneMsg {
    /// Read and apply the next batch.
    Poll,
}

/// The lane actor.
#[derive(Debug)]
pub struct Lane<H>(PhantomData<fn() -> H>);

impl<H> Default for Lane<H> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// What a lane keeps between polls: its connection, whether its own pending
/// entries come first, when it last looked for abandoned ones, whether it
/// has failed entries waiting for their retry (and when it last looked),
/// and what it applied and has not acknowledged yet.
pub struct LaneState<H> {
    args: LaneArgs<H>,
    conn: Option<RedisConn>,
    /// What it reads: its streams, and the legacy ones that existed when
    /// it connected.
    reading: Vec<String>,
    own_pending: bool,
    last_claim: Instant,
    retrying: bool,
    last_retry: Instant,
    acks: Acks,
}

impl<H> LaneState<H> {
    /// How often a lane with failed entries looks whether one is due.
    fn retry_tick(&self) -> Duration {
        self.args.config.retry.first.min(Duration::from_millis(250))
    }
}

impl<H: EventHandler> Actor for Lane<H> {
    type Msg = LaneMsg;
    type State = LaneState<H>;
    type Arguments = LaneArgs<H>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: LaneArgs<H>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let _ = myself.cast(LaneMsg::Poll);
        Ok(LaneState {
            reading: args.streams.clone(),
            args,
            conn: None,
            own_pending: true,
            last_claim: Instant::now(),
            retrying: false,
            last_retry: Instant::now(),
            acks: Acks::new(),
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
            for (stream, ids) in std::mem::take(&mut state.acks) {
                let _ = bus::ack(conn, &stream, &state.args.group, &ids).await;
            }
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
                let _ = myself.cast(LaneMsg::Poll);
            }
            Ok(false) => {
                myself.send_after(Duration::from_millis(200), || LaneMsg::Poll);
            }
            Err(e) => {
                tracing::warn!(group = %state.args.group, error = %e, "consumer poll failed; retrying");
                state.conn = None;
                // Unacknowledged entries stay pending and come back.
                state.acks.clear();
                myself.send_after(Duration::from_millis(500), || LaneMsg::Poll);
            }
        }
        Ok(())
    }
}

/// Reads the next entries: this consumer's own pending ones first (after a
/// start), now and then those other consumers left idle too long, else new
/// ones (blocking). `acks` travel with the read.
async fn read<H>(
    state: &mut LaneState<H>,
    conn: &mut RedisConn,
    acks: &Acks,
) -> Result<Vec<bus::Delivered>, String> {
    let args = &state.args;
    let c = &args.config;
    if state.own_pending {
        let e = bus::read_group(
            conn,
            &state.reading,
            &args.group,
            &args.consumer,
            "0",
            c.batch,
            0,
            acks,
        )
        .await
        .map_err(|e| e.to_string())?;
        if e.is_empty() {
            state.own_pending = false;
        }
        return Ok(e);
    }
    if state.retrying && state.last_retry.elapsed() >= state.retry_tick() {
        state.last_retry = Instant::now();
        for (stream, ids) in acks {
            bus::ack(conn, stream, &args.group, ids)
                .await
                .map_err(|e| e.to_string())?;
        }
        let (due, waiting) = due_retries(conn, args, &state.reading).await?;
        state.retrying = waiting;
        return Ok(due);
    }
    if state.last_claim.elapsed() >= c.claim_every {
        state.last_claim = Instant::now();
        for (stream, ids) in acks {
            bus::ack(conn, stream, &args.group, ids)
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut claimed = Vec::new();
        for stream in &state.reading {
            let idle = c.claim_idle.as_millis() as u64;
            claimed.extend(
                bus::autoclaim(conn, stream, &args.group, &args.consumer, idle, c.batch)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        if !claimed.is_empty() {
            tracing::info!(group = %args.group, n = claimed.len(), "claimed entries left by another consumer");
        }
        return Ok(claimed);
    }
    // With failed entries waiting, wake up in time to retry them.
    let block = if state.retrying {
        c.block.min(state.retry_tick())
    } else {
        c.block
    };
    bus::read_group(
        conn,
        &state.reading,
        &args.group,
        &args.consumer,
        ">",
        c.batch,
        block.as_millis().max(1) as u64,
        acks,
    )
    .await
    .map_err(|e| e.to_string())
}

/// This lane's failed entries in `streams` whose wait is over
/// ([`super::RetryPolicy`]), delivered to it again; and whether any failed
/// entry is still pending.
async fn due_retries<H>(
    conn: &mut RedisConn,
    args: &LaneArgs<H>,
    streams: &[String],
) -> Result<(Vec<bus::Delivered>, bool), String> {
    let policy = args.config.retry;
    let mut due = Vec::new();
    let mut pending_left = false;
    for stream in streams {
        let pending = bus::pending_of(conn, stream, &args.group, &args.consumer, args.config.batch)
            .await
            .map_err(|e| e.to_string())?;
        pending_left |= !pending.is_empty();
        let ready: Vec<String> = pending
            .into_iter()
            .filter(|p| policy.due(p.deliveries, Duration::from_millis(p.idle_ms)))
            .map(|p| p.entry_id)
            .collect();
        due.extend(
            bus::claim(conn, stream, &args.group, &args.consumer, &ready)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok((due, pending_left))
}

/// An event whose origin does not check out ([`Envelope::check_origin`])
/// is logged and counted, then acknowledged without being applied.
fn refuse(group: &str, entry: &str, env: &Envelope, refused: &Refused) {
    let (reason, producer) = match refused {
        Refused::Producer { producer, .. } => ("producer", producer.as_str()),
        Refused::KindMismatch { .. } => ("kind_mismatch", "-"),
    };
    tracing::warn!(%group, %entry, event_id = %env.event_id, correlation_id = %env.correlation_id, %refused, "ignoring an event from a role that may not produce it");
    metrics::event_refused(group, env.body.kind().as_str(), producer, reason);
}

/// Makes `group` exist on `streams` (creating them if need be) and on those
/// of `legacy` that exist (never creating one); the streams to read: all of
/// `streams`, then the legacy ones found.
pub(super) async fn join(
    conn: &mut RedisConn,
    group: &str,
    streams: &[String],
    legacy: &[String],
) -> Result<Vec<String>, String> {
    let mut reading = streams.to_vec();
    for stream in streams {
        bus::ensure_group(conn, stream, group)
            .await
            .map_err(|e| e.to_string())?;
    }
    for stream in legacy {
        if bus::join_group_if_exists(conn, stream, group)
            .await
            .map_err(|e| e.to_string())?
        {
            reading.push(stream.clone());
        }
    }
    Ok(reading)
}

/// One round; `Ok(false)` asks for a short pause (a handler failed).
async fn poll<H: EventHandler>(state: &mut LaneState<H>) -> Result<bool, String> {
    if state.conn.is_none() {
        let timeout = state.args.config.block + Duration::from_secs(2);
        let mut conn = redis_conn::connect(&state.args.redis_url, timeout)
            .await
            .map_err(|e| e.to_string())?;
        let args = &state.args;
        state.reading = join(&mut conn, &args.group, &args.streams, &args.legacy).await?;
        state.conn = Some(conn);
    }
    let Some(mut conn) = state.conn.clone() else {
        return Ok(false);
    };
    let acks = std::mem::take(&mut state.acks);
    let acked_before: usize = acks.values().map(Vec::len).sum();
    let entries = read(state, &mut conn, &acks).await?;
    let args = &state.args;
    if acked_before > 0 {
        metrics::events_applied(&args.group, acked_before);
    }
    // Sort the entries: skipped (acknowledged unread), poison, or to apply.
    let mut failed: Vec<(bus::Delivered, HandlerError)> = Vec::new();
    let mut to_apply: Vec<(bus::Delivered, Envelope)> = Vec::new();
    let mut acks = Acks::new();
    for entry in entries {
        let decoded = match &entry.event {
            Ok(se) => match EventKind::parse(&se.kind) {
                None => Err(HandlerError::Poison(format!(
                    "unknown event type {}",
                    se.kind
                ))),
                Some(kind) if !args.handler.wants(kind) => Ok(None),
                Some(kind) => match Envelope::from_stream_event(se) {
                    Err(e) => Err(HandlerError::Poison(format!("undecodable event: {e}"))),
                    // Not kukka's own event: ignored (acknowledged), counted.
                    Ok(env) => match env.check_origin(kind) {
                        Ok(()) => Ok(Some(env)),
                        Err(refused) => {
                            refuse(&args.group, &entry.entry_id, &env, &refused);
                            Ok(None)
                        }
                    },
                },
            },
            Err(e) => Err(HandlerError::Poison(e.clone())),
        };
        match decoded {
            Ok(None) => acks
                .entry(entry.stream.clone())
                .or_default()
                .push(entry.entry_id.clone()),
            Ok(Some(env)) => to_apply.push((entry, env)),
            Err(e) => failed.push((entry, e)),
        }
    }
    if !to_apply.is_empty() {
        let span = tracing::info_span!("apply_batch", group = %args.group, events = to_apply.len());
        let (entries, events): (Vec<_>, Vec<_>) = to_apply.into_iter().unzip();
        let results = args
            .handler
            .apply_batch(&mut conn, events)
            .instrument(span)
            .await;
        for (entry, result) in entries.into_iter().zip(results) {
            match result {
                Ok(()) => acks
                    .entry(entry.stream.clone())
                    .or_default()
                    .push(entry.entry_id.clone()),
                Err(e) => failed.push((entry, e)),
            }
        }
    }
    let all_ok = failed.is_empty();
    for (entry, error) in failed {
        if dead_after(&mut conn, args, &entry, &error).await? {
            tracing::error!(group = %args.group, entry = %entry.entry_id, %error, "dead-lettering event");
            bus::dead_letter(&mut conn, &args.group, &entry, &error.to_string())
                .await
                .map_err(|e| e.to_string())?;
            metrics::event_dead_lettered(&args.group);
        } else {
            // Left pending: delivered again when its wait is over, while
            // the entries after it go on.
            state.retrying = true;
        }
    }
    state.acks = acks;
    Ok(all_ok)
}

/// The failure handling, in one place: whether a failed entry goes to the
/// dead letters now (poison at once; a retry once its waits reach the
/// policy's total, [`super::RetryPolicy::exhausted`]) or stays pending for
/// its next delivery.
async fn dead_after<H>(
    conn: &mut RedisConn,
    args: &LaneArgs<H>,
    entry: &bus::Delivered,
    error: &HandlerError,
) -> Result<bool, String> {
    match error {
        HandlerError::Poison(_) => Ok(true),
        HandlerError::Retry(_) => {
            let count = bus::delivery_count(conn, &entry.stream, &args.group, &entry.entry_id)
                .await
                .map_err(|e| e.to_string())?
                .unwrap_or(1) as u64;
            let policy = args.config.retry;
            if policy.exhausted(count) {
                return Ok(true);
            }
            metrics::event_retried(&args.group);
            tracing::warn!(
                group = %args.group,
                entry = %entry.entry_id,
                %error,
                deliveries = count,
                retry_in_ms = policy.delay(count).as_millis() as u64,
                "event failed; will retry"
            );
            Ok(false)
        }
    }
}
