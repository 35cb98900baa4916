//! A consumer-group member of the partitioned event stream, generic over
//! what it does with each event.
//!
//! [`StreamConsumer`] is one member of a consumer group (one per node and
//! group). It announces itself in the group's membership hash every
//! `heartbeat` (on a timer of its own, so a long rebalance never makes it
//! look gone), and the live members divide the partitions between them
//! ([`membership`]): each partition is read by one member at a time, a
//! member that joins takes its share, and the partitions of a member that
//! stops (or whose heartbeat lapses) pass to the others within seconds, with
//! the entries it left pending. The member reads its partitions with
//! [`lane::Lane`] actors: one for all of them on a single Redis (one blocking
//! read of several streams), one per partition on a Redis Cluster (a
//! command keeps to one slot). In each partition it reads only the streams
//! of the roles that produce the kinds its handler wants
//! ([`EventHandler::producers`]), and the partition's legacy stream where
//! that exists (events appended before the streams were split by producer).
//!
//! Events of different producers reach a member in cause order only
//! loosely: a read returns each stream's entries in turn, and a stream
//! whose backlog exceeds a batch yields its later entries in a later read.
//! So an event can be applied before one that caused it (a refund before
//! the order it refunds); handlers already tolerate that, as they tolerate
//! the retried entry that is applied after the ones behind it.
//!
//! Per poll a lane reads a batch, hands the events its handler wants to
//! [`EventHandler::apply_batch`] at once (a handler that talks to Redis
//! applies them in one round trip), and acknowledges only what was applied;
//! the acknowledgement travels with the next read, in the same round trip.
//! After a (re)start it first re-reads its own pending entries (events it had
//! read but not acked when it died). Every `claim_every` it also claims
//! entries that other consumers of the group left pending for longer than
//! `claim_idle`. Handlers must be idempotent: an event can be delivered more
//! than once.
//!
//! Failures are typed ([`HandlerError`]): an event that cannot be decoded,
//! has an unknown type, or that the handler finds invalid is poison and goes
//! to the dead-letter stream at once; a failure that may pass (Redis or the
//! disk briefly unavailable) stays pending and is delivered again on the
//! schedule of [`RetryPolicy`] (waits doubling up to a cap, for a total of
//! 15 minutes by default) while the entries after it go on, and is
//! dead-lettered only when that total is spent. The lane decides both in
//! one place (`lane::dead_after`).
//!
//! `claim_idle` must exceed the longest time an entry can wait in a batch
//! plus its handling, or a slow-but-alive consumer's entry would be claimed
//! and applied twice (harmless with idempotent handlers, but wasteful). With
//! batches of 64 and handlers that take milliseconds, the default of 30 s
//! leaves a wide margin.

pub mod lane;
pub mod membership;

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    marker::PhantomData,
    sync::Arc,
    time::Duration,
};

use kukka_storage::{
    bus::{self, Partition, Partitions},
    redis_conn::{self, RedisConn},
};
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, SupervisionEvent};
use ractor_cluster::RactorMessage;
use tracing::Instrument;

use self::{
    lane::{Lane, LaneArgs},
    membership::Membership,
};
pub use super::retry::RetryPolicy;
use super::role::Role;
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

    /// The roles whose streams the handler reads: those producing a kind
    /// it wants.
    fn producers(&self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| {
                EventKind::ALL
                    .into_iter()
                    .any(|k| k.producer() == *r && self.wants(k))
            })
            .collect()
    }

    /// Applies one event; must be idempotent.
    fn apply(
        &self,
        conn: &mut RedisConn,
        event: Envelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Applies a batch of events, in stream order; one result per event.
    /// By default one by one, each in a span with its correlation id; a
    /// handler overrides it to apply a batch in fewer round trips.
    fn apply_batch(
        &self,
        conn: &mut RedisConn,
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
    /// When a failing entry is delivered again, and when it is
    /// dead-lettered.
    pub retry: RetryPolicy,
    /// How often a member renews its membership and looks at the others.
    pub heartbeat: Duration,
    /// A member whose heartbeat is older than this is gone.
    pub member_ttl: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            batch: 64,
            block: Duration::from_millis(1000),
            claim_idle: Duration::from_secs(30),
            claim_every: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            heartbeat: Duration::from_secs(1),
            member_ttl: Duration::from_secs(5),
        }
    }
}

/// What a group member is started with.
pub struct ConsumerArgs<H> {
    /// What to do with each event.
    pub handler: Arc<H>,
    /// The Redis holding the stream.
    pub redis_url: String,
    /// Consumer group.
    pub group: String,
    /// This member's stable name within the group (survives restarts, so
    /// its own pending entries are found again).
    pub consumer: String,
    /// The stream's partitions.
    pub partitions: Partitions,
    /// Batch size, blocking, reclaiming, retries and membership timing.
    pub config: ConsumerConfig,
}

/// Messages of a group member.
#[derive(RactorMessage)]
pub enum ConsumerMsg {
    /// Renew membership and rebalance.
    Heartbeat,
}

/// A consumer-group member (see the module docs).
#[derive(Debug)]
pub struct StreamConsumer<H>(PhantomData<fn() -> H>);

impl<H> Default for StreamConsumer<H> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// What a member keeps: its connection, the membership, and its lanes by
/// the partitions they read.
pub struct ConsumerState<H> {
    args: ConsumerArgs<H>,
    conn: Option<RedisConn>,
    membership: Membership,
    owned: BTreeSet<Partition>,
    lanes: BTreeMap<Vec<Partition>, ActorRef<lane::LaneMsg>>,
    /// Renews the membership on its own timer ([`keep_alive`]).
    keep_alive: tokio::task::JoinHandle<()>,
}

/// Renews `membership` every `every` for as long as `member` runs, apart
/// from the member's own heartbeat: a rebalance waits for the lanes it
/// stops (each ends its blocking read and batch first), and a member whose
/// membership lapsed meanwhile would look gone to the others, who would
/// take its partitions and apply its pending entries a second time.
fn keep_alive(
    member: ActorRef<ConsumerMsg>,
    membership: Membership,
    redis_url: String,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conn = None;
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if !matches!(
                member.get_status(),
                ActorStatus::Starting | ActorStatus::Running | ActorStatus::Upgrading
            ) {
                return; // stopped, or killed (no post_stop then)
            }
            if conn.is_none() {
                conn = redis_conn::connect(&redis_url, every.max(Duration::from_secs(1)))
                    .await
                    .ok();
            }
            if let Some(c) = conn.as_mut() {
                if membership.renew(c).await.is_err() {
                    conn = None; // the actor's heartbeat logs Redis trouble
                }
            }
        }
    })
}

impl<H: EventHandler> ConsumerState<H> {
    /// How the owned partitions are read together: all at once on a single
    /// Redis, each alone on a cluster.
    fn lane_sets(&self, cluster: bool) -> Vec<Vec<Partition>> {
        let owned: Vec<Partition> = self.owned.iter().copied().collect();
        if owned.is_empty() {
            Vec::new()
        } else if cluster {
            owned.into_iter().map(|p| vec![p]).collect()
        } else {
            vec![owned]
        }
    }

    async fn spawn_lane(
        &mut self,
        myself: &ActorRef<ConsumerMsg>,
        partitions: Vec<Partition>,
    ) -> Result<(), ActorProcessingErr> {
        let a = &self.args;
        let producers = a.handler.producers();
        let lane = LaneArgs {
            handler: a.handler.clone(),
            redis_url: a.redis_url.clone(),
            group: a.group.clone(),
            consumer: a.consumer.clone(),
            streams: partitions
                .iter()
                .flat_map(|p| producers.iter().map(|r| r.stream(*p)))
                .collect(),
            legacy: partitions.iter().map(|p| p.legacy_stream()).collect(),
            config: a.config,
        };
        let (actor, _) =
            Actor::spawn_linked(None, Lane::default(), lane, myself.get_cell()).await?;
        self.lanes.insert(partitions, actor);
        Ok(())
    }

    /// Reads the live members; when the partitions this member owns change,
    /// takes over what dead members left and restarts its lanes.
    async fn rebalance(&mut self, myself: &ActorRef<ConsumerMsg>) -> Result<(), String> {
        if self.conn.is_none() {
            let timeout = self.args.config.block + Duration::from_secs(2);
            let conn = redis_conn::connect(&self.args.redis_url, timeout)
                .await
                .map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        // The keep-alive timer renews this member; here the list is read.
        let live = self
            .membership
            .live(conn)
            .await
            .map_err(|e| e.to_string())?;
        let owned: BTreeSet<Partition> =
            membership::assign(self.args.partitions, &live, &self.args.consumer)
                .into_iter()
                .collect();
        let cluster = conn.is_cluster();
        if owned == self.owned && (owned.is_empty() || !self.lanes.is_empty()) {
            return Ok(());
        }
        let gained: Vec<Partition> = owned.difference(&self.owned).copied().collect();
        let (group, consumer) = (&self.args.group, &self.args.consumer);
        let producers = self.args.handler.producers();
        for p in &gained {
            let own: Vec<String> = producers.iter().map(|r| r.stream(*p)).collect();
            for stream in lane::join(conn, group, &own, &[p.legacy_stream()]).await? {
                let moved = bus::claim_from_dead(conn, &stream, group, consumer, &live)
                    .await
                    .map_err(|e| e.to_string())?;
                if moved > 0 {
                    tracing::info!(group = %self.args.group, %stream, moved, "took over entries a gone member left pending");
                }
            }
        }
        tracing::info!(group = %self.args.group, members = live.len(), partitions = owned.len(), "partitions assigned");
        self.owned = owned;
        let wanted = self.lane_sets(cluster);
        // Lanes that keep their partitions go on; the others stop, and are
        // waited for: a lane acknowledges what it applied as it stops, and
        // a new lane of the same member would otherwise read those entries
        // as its own pending ones and apply them again.
        let (keep, stop): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.lanes)
            .into_iter()
            .partition(|(set, _)| wanted.contains(set));
        self.lanes = keep;
        for (_, lane) in stop {
            lane.stop_and_wait(Some("rebalanced".into()), Some(Duration::from_secs(10)))
                .await
                .map_err(|e| e.to_string())?;
        }
        for set in wanted {
            if !self.lanes.contains_key(&set) {
                self.spawn_lane(myself, set)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
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
        let _ = myself.cast(ConsumerMsg::Heartbeat);
        super::metrics::consumer_started(&args.redis_url, &args.group, args.partitions);
        let membership = Membership::new(&args.group, &args.consumer, args.config.member_ttl);
        let beat = args.config.heartbeat;
        Ok(ConsumerState {
            keep_alive: keep_alive(myself, membership.clone(), args.redis_url.clone(), beat),
            membership,
            args,
            conn: None,
            owned: BTreeSet::new(),
            lanes: BTreeMap::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Others take this member's partitions at once, not after its TTL.
        state.keep_alive.abort();
        if let Some(conn) = state.conn.as_mut() {
            let _ = state.membership.leave(conn).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        _msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Err(e) = state.rebalance(&myself).await {
            tracing::warn!(group = %state.args.group, error = %e, "membership heartbeat failed; retrying");
            state.conn = None;
        }
        myself.send_after(state.args.config.heartbeat, || ConsumerMsg::Heartbeat);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::warn!(group = %state.args.group, error = %err, "a lane failed; restarting it");
                cell
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => cell,
            _ => return Ok(()),
        };
        let Some(set) = state
            .lanes
            .iter()
            .find(|(_, a)| a.get_id() == cell.get_id())
            .map(|(set, _)| set.clone())
        else {
            return Ok(()); // a lane stopped on purpose
        };
        state.lanes.remove(&set);
        // Fails this member (and its supervisor restarts it) if the lane
        // cannot even be started.
        state.spawn_lane(&myself, set).await
    }
}
