//! `GET /status.json`: the cluster at a glance, for the operators' page
//! (`/status`). The owner's only (it names nodes and addresses). Read-only;
//! every part is gathered with a short deadline and
//! a part that cannot be read says so instead of failing the whole answer.
//!
//! - `roles`: per role (`order`, `payment`, `delivery`, `edge`) the joined
//!   members of its process group: actor id as ractor prints it
//!   (`node.pid`), whether it lives in this edge's process, the id this
//!   edge's cluster server gave its node (remote members only: node ids are
//!   numbered per observer, so another node may call the same node
//!   differently), and its name.
//! - `breakers`: every order shard's bulkhead (circuit breaker state,
//!   calls in flight, calls rejected, last transition), asked over the
//!   cluster with [`OrderMsg::Status`].
//! - `stream`: the event stream's length, its consumer groups (pending and
//!   lag) and the dead-letter stream's length, from Redis.
//! - `requests`: the edge's request totals ([`crate::traffic`]); clients
//!   compute rates from two samples and `sampledAtMs`.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures_util::future::join_all;
use kukka_actors::{
    order::{bulkhead::BulkheadStatus, messages::OrderMsg},
    runtime::{
        groups::{shard_of_group, Namespace, DELIVERY_DESKS, EDGES, ORDER_SHARDS, PAYMENT_SHARDS},
        rpc::rpc,
        wire::Wire,
    },
};
use kukka_storage::bus::{Partitions, DEAD_LETTER_STREAM};
use kukka_storage::redis_conn::RedisConn;
use ractor::{ActorCell, ActorId};
use redis::streams::StreamInfoGroupsReply;
use serde::Serialize;
use warp::{
    filters::BoxedFilter,
    http::{header, HeaderValue, StatusCode},
    reply::Response,
    Filter,
};

use tracing::Instrument;

use super::with_state;
use crate::{
    auth::{credentials, Access, Credentials},
    correlation::correlation_id,
    error, respond,
    state::EdgeState,
    traffic,
};

/// Deadline of each breaker call.
const BREAKER_TIMEOUT: Duration = Duration::from_millis(800);
/// Deadline of each Redis command.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// The status route.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    warp::path!("status.json")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state))
        .then(
            |state: EdgeState, cid: String, creds: Credentials| async move {
                if let Err(e) = Access::Owner.admit(creds) {
                    return e.into_response_with(&cid);
                }
                let span = tracing::info_span!("status_json", correlation_id = %cid);
                let status = gather(&state).instrument(span).await;
                let mut resp = respond::json(StatusCode::OK, &status, &cid);
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp
            },
        )
        .boxed()
}

/// The whole answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// When it was gathered (RFC 3339).
    pub generated_at: String,
    /// The same instant in milliseconds since the Unix epoch.
    pub sampled_at_ms: u64,
    /// Whether this edge is shutting down.
    pub draining: bool,
    /// Joined members per role.
    pub roles: BTreeMap<&'static str, RoleMembers>,
    /// One entry per order shard.
    pub breakers: Vec<Breaker>,
    /// The event stream.
    pub stream: StreamStatus,
    /// Request totals of this edge.
    pub requests: traffic::Traffic,
}

/// The joined members of one role.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleMembers {
    /// How many.
    pub joined: usize,
    /// Each member.
    pub members: Vec<Member>,
}

/// One member of a process group.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// `node.pid`, as ractor prints actor ids (a local actor prints as
    /// `0.pid`, which can look like a remote actor on node 0: see `local`).
    pub actor_id: String,
    /// The node, as this edge's cluster server numbers it (`None` for a
    /// local actor).
    pub node_id: Option<u64>,
    /// Whether it lives in this process.
    pub local: bool,
    /// Its name, if it has one.
    pub name: Option<String>,
}

impl Member {
    fn of(cell: &ActorCell) -> Self {
        let id = cell.get_id();
        Self {
            actor_id: id.to_string(),
            node_id: (!id.is_local()).then(|| id.node()),
            local: id.is_local(),
            name: cell.get_name(),
        }
    }
}

/// One order shard's bulkhead and breaker.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Breaker {
    /// The shard's service actor.
    pub member: Member,
    /// The shard number, when its shard group is known.
    pub shard: Option<u32>,
    /// Its answer (`breakerState`, `inFlight`, `rejected`,
    /// `lastTransitionAt`), absent when it did not answer.
    #[serde(flatten)]
    pub status: Option<BulkheadStatus>,
    /// Why there is no answer: an error code (the detail is in the edge's
    /// log).
    pub error: Option<String>,
}

/// The Redis event stream, summed over its partitions.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStatus {
    /// The streams' names.
    pub name: &'static str,
    /// How many partitions.
    pub partitions: u32,
    /// Entries in the streams (`XLEN`, summed).
    pub length: Option<u64>,
    /// Entries in the dead-letter stream.
    pub dead_letters: Option<u64>,
    /// Its consumer groups.
    pub groups: Vec<ConsumerGroup>,
    /// What could not be read, if anything (fixed texts and error codes;
    /// the detail is in the edge's log).
    pub error: Option<String>,
}

/// One consumer group of the stream, summed over the partitions.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerGroup {
    /// Its name.
    pub name: String,
    /// Consumers it knows (on the partition that knows most).
    pub consumers: usize,
    /// Entries delivered and not acknowledged yet.
    pub pending: usize,
    /// Entries not delivered to it yet (when Redis can tell).
    pub lag: Option<usize>,
    /// Partitions it reads.
    pub partitions: usize,
}

/// Gathers everything concurrently.
pub async fn gather(state: &EdgeState) -> ClusterStatus {
    let mut conn = state.redis.clone();
    let (breakers, stream) = tokio::join!(
        breakers(&state.ns),
        stream_status(&mut conn, state.partitions)
    );
    let sampled_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let roles = [
        ("order", ORDER_SHARDS),
        ("payment", PAYMENT_SHARDS),
        ("delivery", DELIVERY_DESKS),
        ("edge", EDGES),
    ]
    .into_iter()
    .map(|(role, group)| {
        let mut members: Vec<Member> = state.ns.members(group).iter().map(Member::of).collect();
        members.sort_by(|a, b| a.actor_id.cmp(&b.actor_id));
        let joined = members.len();
        (role, RoleMembers { joined, members })
    })
    .collect();
    ClusterStatus {
        generated_at: kukka_actors::runtime::clock::now(),
        sampled_at_ms,
        draining: state.is_draining(),
        roles,
        breakers,
        stream,
        requests: traffic::snapshot(),
    }
}

/// Which order shard each member of an order shard group serves.
fn order_shards(ns: &Namespace) -> BTreeMap<ActorId, u32> {
    let mut shards = BTreeMap::new();
    for group in ns.groups() {
        let Some(shard) = shard_of_group(ORDER_SHARDS, &group) else {
            continue;
        };
        for cell in ns.members(&group) {
            shards.insert(cell.get_id(), shard);
        }
    }
    shards
}

/// Asks every order shard for its bulkhead's status.
async fn breakers(ns: &Namespace) -> Vec<Breaker> {
    let shards = order_shards(ns);
    let mut cells = ns.members(ORDER_SHARDS);
    cells.sort_by_key(|c| (shards.get(&c.get_id()).copied(), c.get_id().to_string()));
    let calls = cells.into_iter().map(|cell| {
        let shard = shards.get(&cell.get_id()).copied();
        async move {
            let actor: ractor::ActorRef<OrderMsg> = cell.clone().into();
            let answer = rpc(
                &actor,
                |port| OrderMsg::Status(Wire::new(()), port),
                BREAKER_TIMEOUT,
            )
            .await;
            let (status, error) = match answer {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(error::reported(e))),
            };
            Breaker {
                member: Member::of(&cell),
                shard,
                status,
                error,
            }
        }
    });
    join_all(calls).await
}

async fn redis_query<T: redis::FromRedisValue>(
    conn: &mut RedisConn,
    cmd: &redis::Cmd,
) -> Result<T, String> {
    match tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(conn)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error::reported(error::ApiError::ViewsUnavailable(
            e.to_string(),
        ))),
        Err(_) => Err(format!(
            "Redis did not answer within {} ms",
            REDIS_TIMEOUT.as_millis()
        )),
    }
}

/// Stream length, consumer groups and dead letters, summed over the
/// partitions and their streams (each producer's, and the legacy one).
async fn stream_status(conn: &mut RedisConn, partitions: Partitions) -> StreamStatus {
    let mut status = StreamStatus {
        name: "kukka:{p*}:events:*",
        partitions: partitions.count(),
        length: Some(0),
        ..StreamStatus::default()
    };
    let mut errors = Vec::new();
    match redis_query::<u64>(conn, redis::cmd("XLEN").arg(DEAD_LETTER_STREAM)).await {
        Ok(n) => status.dead_letters = Some(n),
        Err(e) => errors.push(e),
    }
    let mut groups: BTreeMap<String, ConsumerGroup> = BTreeMap::new();
    // A group reads several streams of a partition: count the partition once.
    let mut read: BTreeSet<(String, u32)> = BTreeSet::new();
    let streams = partitions
        .all()
        .flat_map(|p| p.all_streams().into_iter().map(move |s| (p, s)));
    for (p, stream) in streams {
        let length = match redis_query::<u64>(conn, redis::cmd("XLEN").arg(&stream)).await {
            Ok(n) => n,
            Err(e) => {
                errors.push(e);
                status.length = None;
                break;
            }
        };
        status.length = status.length.map(|l| l + length);
        // Before the first consumer creates its groups a stream may not
        // exist (and the legacy one exists only on an upgraded system): that
        // is "no groups yet", not an error.
        let exists = length > 0
            || redis_query::<u64>(conn, redis::cmd("EXISTS").arg(&stream))
                .await
                .is_ok_and(|n| n > 0);
        if !exists {
            continue;
        }
        match redis_query::<StreamInfoGroupsReply>(
            conn,
            redis::cmd("XINFO").arg("GROUPS").arg(&stream),
        )
        .await
        {
            Ok(reply) => {
                for g in reply.groups {
                    let sum = groups
                        .entry(g.name.clone())
                        .or_insert_with(|| ConsumerGroup {
                            name: g.name.clone(),
                            lag: Some(0),
                            ..ConsumerGroup::default()
                        });
                    sum.consumers = sum.consumers.max(g.consumers);
                    sum.pending += g.pending;
                    sum.lag = sum.lag.zip(g.lag).map(|(a, b)| a + b);
                    if read.insert((g.name.clone(), p.0)) {
                        sum.partitions += 1;
                    }
                }
            }
            Err(e) => {
                errors.push(e);
                break;
            }
        }
    }
    status.groups = groups.into_values().collect();
    if !errors.is_empty() {
        status.error = Some(errors.join("; "));
    }
    status
}
