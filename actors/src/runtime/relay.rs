//! The outbox relay: moves staged events from sled to its node's Redis
//! streams (the node's role's stream of each event's partition).
//!
//! It drains the outbox oldest-first in batches, appends each batch with one
//! pipeline, and deletes the entries only after Redis acknowledged them. It
//! only ever reads entries at or below the committer's durable watermark
//! (`kukka_storage::committer`): an event reaches Redis only once the state
//! change it describes is on disk, so a crash can never leave an event in
//! the stream for a change that was lost. It runs when the watermark moves
//! and on a timer, so events staged while Redis was down (or before a
//! crash) are published once Redis answers. A crash between append and
//! delete publishes an event twice; consumers are idempotent.

use std::time::Duration;

use kukka_storage::redis_conn::RedisConn;
use kukka_storage::{bus, outbox, redis_conn};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorMessage;
use tokio::sync::watch;

use super::{groups::Namespace, role::Role};

/// Short name of the relay on its node (see [`Namespace::name`]).
pub const RELAY: &str = "outbox-relay";
const BATCH: usize = 512;

/// Messages of the relay.
#[derive(RactorMessage)]
pub enum RelayMsg {
    /// The durable watermark moved (or shutdown asks): drain soon.
    Kick,
    /// Drain now (sent to itself shortly after the first kick).
    Drain,
    /// Drain on the timer (catches up after Redis was unreachable).
    Tick,
}

/// Kicks that arrive within this window are served by one drain, so a busy
/// node appends its events in batches instead of one round trip per commit.
const COALESCE: Duration = Duration::from_millis(2);

/// How the code that commits events reaches its node's relay.
#[derive(Clone, Debug)]
pub struct RelayHandle {
    ns: Namespace,
}

impl RelayHandle {
    /// The relay of node `ns`.
    pub fn of(ns: &Namespace) -> Self {
        Self { ns: ns.clone() }
    }

    /// Asks the relay to drain soon (no-op while it is restarting: its
    /// timer catches up). Commits need not call it: the relay follows the
    /// durable watermark.
    pub fn kick(&self) {
        if let Some(relay) = self.ns.local::<RelayMsg>(RELAY) {
            let _ = relay.cast(RelayMsg::Kick);
        }
    }
}

/// The relay actor.
#[derive(Debug)]
pub struct OutboxRelay;

/// What the relay needs.
#[derive(Clone, Debug)]
pub struct RelayArgs {
    /// The node's outbox tree.
    pub outbox: sled::Tree,
    /// The highest outbox key known to be on disk.
    pub durable: watch::Receiver<u64>,
    /// The event stream's partitions.
    pub partitions: kukka_storage::bus::Partitions,
    /// The node's role: the producer whose streams the events go to (a
    /// node stages only its own role's events).
    pub producer: Role,
    /// Replicas an append must reach before the outbox lets go of it.
    pub replicated: bus::Replicated,
    /// The Redis holding the stream.
    pub redis_url: String,
}

/// What the relay keeps between drains: its connection and whether a drain
/// is already scheduled.
pub struct RelayState {
    args: RelayArgs,
    conn: Option<RedisConn>,
    drain_scheduled: bool,
}

impl Actor for OutboxRelay {
    type Msg = RelayMsg;
    type State = RelayState;
    type Arguments = RelayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RelayArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(Duration::from_millis(500), || RelayMsg::Tick);
        let _ = myself.cast(RelayMsg::Tick);
        let (me, mut durable) = (myself.clone(), args.durable.clone());
        tokio::spawn(async move {
            while durable.changed().await.is_ok() {
                if me.cast(RelayMsg::Kick).is_err() {
                    return;
                }
            }
        });
        Ok(RelayState {
            args,
            conn: None,
            drain_scheduled: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RelayMsg::Kick => {
                if !state.drain_scheduled {
                    state.drain_scheduled = true;
                    myself.send_after(COALESCE, || RelayMsg::Drain);
                }
            }
            RelayMsg::Drain | RelayMsg::Tick => {
                state.drain_scheduled = false;
                drain(state).await;
            }
        }
        Ok(())
    }
}

async fn drain(state: &mut RelayState) {
    if state.conn.is_none() {
        match redis_conn::connect(&state.args.redis_url, Duration::from_secs(2)).await {
            Ok(c) => state.conn = Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "relay cannot reach redis; will retry");
                return;
            }
        }
    }
    let Some(conn) = state.conn.as_mut() else {
        return;
    };
    loop {
        let durable = *state.args.durable.borrow();
        let batch = match outbox::pending(&state.args.outbox, durable, BATCH) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return;
            }
        };
        if batch.is_empty() {
            break;
        }
        let events: Vec<_> = batch.iter().map(|(_, e)| e.clone()).collect();
        let a = &state.args;
        let producer = a.producer.as_str();
        if let Err(e) = bus::publish(conn, a.partitions, producer, &events, a.replicated).await {
            tracing::warn!(error = %e, pending = events.len(), "publishing failed; will retry");
            break;
        }
        let keys: Vec<_> = batch.into_iter().map(|(k, _)| k).collect();
        if let Err(e) = outbox::remove(&state.args.outbox, &keys) {
            tracing::error!(error = %e, "cannot remove published entries");
            break;
        }
        super::metrics::outbox_published(keys.len());
    }
    super::metrics::outbox_pending(state.args.outbox.len());
}
