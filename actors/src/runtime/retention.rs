//! The trimmer: keeps the event streams and the dead letters bounded.
//!
//! Every `every` it trims each partition stream below the oldest entry some
//! consumer group has not acknowledged, keeping whatever is newer than the
//! retention (`--events-retention-secs`), and removes dead letters older
//! than the retention ([`kukka_storage::retention`]). It runs on every
//! delivery node (trimming twice is harmless). It exports
//! `kukka_events_trimmed_total`, `kukka_events_stream_entries` (all
//! partitions) and `kukka_events_dead_letters`, and warns when a group
//! holds entries older than the retention (a group whose consumers are gone
//! keeps its stream from being trimmed: remove the group, or bring its
//! consumers back).

use std::time::Duration;

use kukka_storage::{
    bus::{Partition, Partitions, DEAD_LETTER_STREAM},
    redis_conn::{self, RedisConn},
    retention, StorageError,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorMessage;

use super::metrics;

/// Short name of the trimmer on its node.
pub const TRIMMER: &str = "stream-trimmer";

/// What the trimmer is started with.
#[derive(Clone, Debug)]
pub struct TrimmerArgs {
    /// The Redis holding the streams.
    pub redis_url: String,
    /// The event stream's partitions.
    pub partitions: Partitions,
    /// How long entries are kept at least.
    pub keep: Duration,
    /// How often to trim.
    pub every: Duration,
}

/// Messages of the trimmer.
#[derive(RactorMessage)]
pub enum TrimmerMsg {
    /// Trim every stream now.
    Trim,
}

/// The trimmer actor.
#[derive(Debug)]
pub struct Trimmer;

/// The trimmer's settings and connection.
pub struct TrimmerState {
    args: TrimmerArgs,
    conn: Option<RedisConn>,
}

/// What one round did, in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Event entries removed.
    pub removed: u64,
    /// Event entries left, over every partition.
    pub remaining: u64,
    /// Dead letters removed.
    pub dead_removed: u64,
    /// Dead letters left.
    pub dead_remaining: u64,
}

/// Trims every partition of `partitions` and the dead letters once.
pub async fn trim_once(
    conn: &mut RedisConn,
    partitions: Partitions,
    keep: Duration,
) -> Result<Round, StorageError> {
    let keep_ms = keep.as_millis() as u64;
    let now = retention::now_ms(conn).await?;
    let mut round = Round::default();
    for stream in partitions.all().flat_map(Partition::all_streams) {
        let t = retention::trim_stream(conn, &stream, keep_ms, now).await?;
        round.removed += t.removed;
        round.remaining += t.remaining;
        if let Some(group) = t.held_by {
            tracing::warn!(%stream, %group, retention_secs = keep.as_secs(), "a consumer group has not acknowledged entries older than the retention; they are kept until it does");
        }
    }
    let dead = retention::trim_by_age(conn, DEAD_LETTER_STREAM, keep_ms, now).await?;
    round.dead_removed = dead.removed;
    round.dead_remaining = dead.remaining;
    Ok(round)
}

impl Actor for Trimmer {
    type Msg = TrimmerMsg;
    type State = TrimmerState;
    type Arguments = TrimmerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: TrimmerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let _ = myself.cast(TrimmerMsg::Trim);
        myself.send_interval(args.every, || TrimmerMsg::Trim);
        Ok(TrimmerState { args, conn: None })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        _msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let args = &state.args;
        if state.conn.is_none() {
            match redis_conn::connect(&args.redis_url, Duration::from_secs(5)).await {
                Ok(c) => state.conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "trimmer: Redis unreachable; will try again");
                    return Ok(());
                }
            }
        }
        let Some(conn) = state.conn.as_mut() else {
            return Ok(());
        };
        match trim_once(conn, args.partitions, args.keep).await {
            Ok(round) => {
                metrics::trimmed(
                    round.removed,
                    round.remaining,
                    round.dead_removed,
                    round.dead_remaining,
                );
                tracing::debug!(?round, "streams trimmed");
            }
            Err(e) => {
                tracing::warn!(error = %e, "trimmer: trimming failed; will try again");
                state.conn = None;
            }
        }
        Ok(())
    }
}
