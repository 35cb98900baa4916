//! What an order shard accepts over the cluster ([`OrderMsg`]) and the
//! payloads of those messages.
//!
//! Variant names travel on the wire: add variants freely, never rename one
//! (mixed-version clusters during a rolling restart rely on it).

use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;
use serde::{Deserialize, Serialize};

use super::{
    bulkhead::BulkheadStatus,
    customer::CustomerId,
    id::OrderId,
    idempotency::KeyScope,
    model::{Order, OrderStatus},
    new_order::NewOrder,
};
use crate::runtime::{
    error::{Reply, ServiceError},
    paging::{ListQuery, ShardPage},
    validate::{self, Validate, MAX_IDEMPOTENCY_KEY},
    wire::Wire,
};

/// Place an order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrder {
    /// The request's correlation id.
    pub correlation_id: String,
    /// The validated order.
    pub order: NewOrder,
    /// Who places it (the edge made a new customer for a caller without
    /// a customer token). `None` only from edges of older versions.
    #[serde(default)]
    pub customer: Option<CustomerId>,
    /// The client's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// Whose key it is.
    #[serde(default)]
    pub key_scope: KeyScope,
    /// The W3C `traceparent` of the request, if it had a valid one (it is
    /// carried into the events the request causes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// A request about one order (also sent to payment and delivery).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ByOrder {
    /// The request's correlation id.
    pub correlation_id: String,
    /// The order.
    pub order_id: OrderId,
    /// The customer asking, for a customer's request to an order shard
    /// (`Get`, `Cancel`): another customer's order is answered as missing.
    /// `None`: the owner, or the system itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
    /// The W3C `traceparent` of the request, if it had a valid one (it is
    /// carried into the events the request causes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Validate for PlaceOrder {
    /// The order itself was checked when it was decoded (a [`NewOrder`]
    /// only decodes through its parser); the customer and the key's scope
    /// are typed.
    fn validate(&self) -> Result<(), ServiceError> {
        validate::correlation_id(&self.correlation_id)?;
        validate::traceparent(self.traceparent.as_deref())?;
        if let Some(key) = &self.idempotency_key {
            validate::text("idempotencyKey", key, MAX_IDEMPOTENCY_KEY)?;
        }
        Ok(())
    }
}

impl Validate for ByOrder {
    /// The order id is typed: one that does not parse never decodes.
    fn validate(&self) -> Result<(), ServiceError> {
        validate::correlation_id(&self.correlation_id)?;
        validate::traceparent(self.traceparent.as_deref())
    }
}

/// Messages of an order shard.
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
    Resolve(Wire<ByOrder>, RpcReplyPort<Wire<Reply<OrderStatus>>>),
    /// Where the shard's bulkhead and breaker stand (for status pages).
    #[rpc]
    Status(Wire<()>, RpcReplyPort<Wire<Reply<BulkheadStatus>>>),
}
