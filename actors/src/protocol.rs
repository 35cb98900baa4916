//! The cluster protocol: process-group names, the messages service actors
//! accept across nodes, their payloads, and the error every reply can carry.
//!
//! Variant names travel on the wire: add variants freely, never rename one
//! (mixed-version clusters during a rolling restart rely on it).

use std::time::Duration;

use ractor::{rpc::CallResult, ActorRef, BytesConvertable, Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use serde::{Deserialize, Serialize};

use crate::{
    domain::{new_order::NewOrder, order::Order, payment::Payment, DomainError},
    wire::Wire,
};

/// Group of every order shard's service actor.
pub const ORDER_GROUP: &str = "kukka.order";
/// Group of every payment node's service actor.
pub const PAYMENT_GROUP: &str = "kukka.payment";
/// Group of every delivery node's service actor.
pub const DELIVERY_GROUP: &str = "kukka.delivery";
/// Group of every edge (joined by a tiny presence actor, for status pages).
pub const EDGE_GROUP: &str = "kukka.edge";

/// The group of one order shard.
pub fn order_shard_group(shard: u32) -> String {
    format!("{ORDER_GROUP}.{shard}")
}

/// The group of one payment shard.
pub fn payment_shard_group(shard: u32) -> String {
    format!("{PAYMENT_GROUP}.{shard}")
}

/// Why a service could not do what was asked. Crosses the wire; the edge
/// maps each variant to an HTTP status in one table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ServiceError {
    /// The request broke a validation rule.
    #[error("{field}: {message}")]
    Invalid {
        /// Field.
        field: String,
        /// Rule.
        message: String,
    },
    /// No such aggregate.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// An `Idempotency-Key` was reused with a different request.
    #[error("{message}")]
    IdempotencyMismatch {
        /// Why.
        message: String,
    },
    /// The aggregate's state forbids the change.
    #[error("{message}")]
    Conflict {
        /// Why.
        message: String,
    },
    /// Payment did not confirm in time, or is shedding load: the order was
    /// not established; try again shortly.
    #[error("payment unavailable: {message}")]
    PaymentUnavailable {
        /// Why.
        message: String,
        /// Seconds the client should wait.
        retry_after_secs: u32,
    },
    /// A node or dependency is unreachable right now.
    #[error("unavailable: {message}")]
    Unavailable {
        /// Why.
        message: String,
        /// Seconds the client should wait.
        retry_after_secs: u32,
    },
    /// A bug or a broken machine.
    #[error("internal: {message}")]
    Internal {
        /// What.
        message: String,
    },
}

impl ServiceError {
    /// A dependency is down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            retry_after_secs: 1,
        }
    }

    /// A storage failure, logged by the caller.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal {
            message: e.to_string(),
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => Self::Invalid { field, message },
            e @ DomainError::IllegalTransition { .. } => Self::Conflict {
                message: e.to_string(),
            },
        }
    }
}

impl From<kukka_storage::StorageError> for ServiceError {
    fn from(e: kukka_storage::StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        match e {
            kukka_storage::StorageError::Redis(e) => {
                ServiceError::unavailable(format!("redis: {e}"))
            }
            other => ServiceError::internal(other),
        }
    }
}

/// A reply: the value or the error.
pub type Reply<T> = Result<T, ServiceError>;

/// Place an order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrder {
    /// Request correlation id.
    pub correlation_id: String,
    /// The validated order.
    pub order: NewOrder,
    /// The client's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
}

/// A request about one order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ByOrder {
    /// Request correlation id.
    pub correlation_id: String,
    /// The order.
    pub order_id: String,
}

/// One page of one shard's list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Per shard, return items after this sequence number (a shard not
    /// named starts at its beginning).
    pub after: std::collections::BTreeMap<u32, u64>,
    /// At most this many.
    pub limit: u32,
}

/// A shard's answer to a [`ListQuery`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardPage<T> {
    /// The shard that answered.
    pub shard: u32,
    /// Items with their sequence numbers, in sequence order.
    pub items: Vec<(u64, T)>,
    /// Whether the shard has more after the last item.
    pub has_more: bool,
}

impl<T> ShardPage<T> {
    /// One page of shard `shard`'s records for `q`.
    pub fn read(
        repo: &kukka_storage::aggregate_repo::AggregateRepo<T>,
        shard: u32,
        q: &ListQuery,
    ) -> Reply<Self>
    where
        T: Serialize + serde::de::DeserializeOwned,
    {
        let after = q.after.get(&shard).copied();
        let (items, has_more) = repo.list(after, q.limit as usize)?;
        Ok(Self {
            shard,
            items,
            has_more,
        })
    }
}

/// Charge for an order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRequest {
    /// Request correlation id.
    pub correlation_id: String,
    /// The order being paid (charges are idempotent per order).
    pub order_id: String,
    /// Amount in won.
    pub amount: u64,
}

/// The owner moves a delivery forward.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryUpdate {
    /// Request correlation id.
    pub correlation_id: String,
    /// The order.
    pub order_id: String,
    /// `DeliveryStarted` or `Delivered`.
    pub status: String,
}

/// Where an order shard's payment gateway stands (for status pages).
pub use crate::payment_gateway::GatewayStatus;

/// Messages of an order shard's service actor.
#[derive(RactorClusterMessage)]
pub enum OrderMsg {
    /// Pay for and establish an order.
    #[rpc]
    Place(Wire<PlaceOrder>, RpcReplyPort<Wire<Reply<Order>>>),
    /// Read one order.
    #[rpc]
    Get(Wire<ByOrder>, RpcReplyPort<Wire<Reply<Order>>>),
    /// One page of this shard's orders.
    #[rpc]
    List(Wire<ListQuery>, RpcReplyPort<Wire<Reply<ShardPage<Order>>>>),
    /// Cancel an order.
    #[rpc]
    Cancel(Wire<ByOrder>, RpcReplyPort<Wire<Reply<Order>>>),
    /// For payment reconciliation: the order's status, fencing it off as
    /// rejected if it was never committed.
    #[rpc]
    Resolve(
        Wire<ByOrder>,
        RpcReplyPort<Wire<Reply<crate::domain::order::OrderStatus>>>,
    ),
    /// The shard's payment gateway and breaker.

    #[rpc]
    Status(Wire<()>, RpcReplyPort<Wire<Reply<GatewayStatus>>>),
}

/// Messages of a payment node's service actor.
#[derive(RactorClusterMessage)]
pub enum PaymentMsg {
    /// Charge for an order (idempotent per order).
    #[rpc]
    Charge(Wire<ChargeRequest>, RpcReplyPort<Wire<Reply<Payment>>>),
    /// The payment of one order.
    #[rpc]
    Get(Wire<ByOrder>, RpcReplyPort<Wire<Reply<Payment>>>),
    /// One page of this node's payments.
    #[rpc]
    List(
        Wire<ListQuery>,
        RpcReplyPort<Wire<Reply<ShardPage<Payment>>>>,
    ),
}

/// Messages of a delivery node's service actor.
#[derive(RactorClusterMessage)]
pub enum DeliveryMsg {
    /// The shop owner moves a delivery forward.
    #[rpc]
    Update(
        Wire<DeliveryUpdate>,
        RpcReplyPort<Wire<Reply<serde_json::Value>>>,
    ),
    /// The first step of a cancel: mark the delivery cancelled unless it was
    /// delivered (creating it cancelled if the order has not reached delivery
    /// yet). Afterwards the order may be cancelled.
    #[rpc]
    ReserveCancel(Wire<ByOrder>, RpcReplyPort<Wire<Reply<()>>>),
}

/// Presence marker of an edge in [`EDGE_GROUP`].
#[derive(RactorClusterMessage)]
pub enum EdgeMsg {
    /// Liveness probe between nodes.
    #[rpc]
    Ping(RpcReplyPort<bool>),
}

/// Calls a (possibly remote) actor with a deadline and flattens every way
/// the call can fail into a [`ServiceError`].
pub async fn rpc<M, T>(
    actor: &ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<Wire<Reply<T>>>) -> M,
    timeout: Duration,
) -> Reply<T>
where
    M: Message,
    T: Send + 'static,
    Wire<Reply<T>>: BytesConvertable,
{
    match actor.call(build, Some(timeout)).await {
        Ok(CallResult::Success(answer)) => answer.into_inner()?,
        Ok(CallResult::Timeout) => Err(ServiceError::unavailable(format!(
            "{} did not answer within {} ms",
            actor.get_name().unwrap_or_else(|| "a node".into()),
            timeout.as_millis()
        ))),
        Ok(CallResult::SenderError) | Err(_) => Err(ServiceError::unavailable(
            "the node went away during the call",
        )),
    }
}
