//! What a payment shard accepts over the cluster ([`PaymentMsg`]) and the
//! payloads of those messages.
//!
//! Variant names travel on the wire: add variants freely, never rename one.

use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;
use serde::{Deserialize, Serialize};

use super::model::Payment;
use crate::{
    order::{id::OrderId, messages::ByOrder, new_order::MAX_PRICE},
    runtime::{
        error::{Reply, ServiceError},
        paging::{ListQuery, ShardPage},
        validate::{self, Validate},
        wire::Wire,
    },
};

/// Charge for an order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRequest {
    /// The request's correlation id.
    pub correlation_id: String,
    /// The order being paid (charges are idempotent per order).
    pub order_id: OrderId,
    /// The amount in won.
    pub amount: u64,
    /// The W3C `traceparent` of the request, if it had a valid one (it is
    /// carried into the events the request causes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Validate for ChargeRequest {
    /// An amount no order can have is refused, whoever asks.
    fn validate(&self) -> Result<(), ServiceError> {
        validate::correlation_id(&self.correlation_id)?;
        validate::traceparent(self.traceparent.as_deref())?;
        validate::in_range("amount", self.amount, 1, MAX_PRICE)
    }
}

/// Messages of a payment shard.
#[derive(RactorClusterMessage)]
pub enum PaymentMsg {
    /// Charge for an order (idempotent per order).
    #[rpc]
    Charge(Wire<ChargeRequest>, RpcReplyPort<Wire<Reply<Payment>>>),
    /// The payment of one order.
    #[rpc]
    Get(Wire<ByOrder>, RpcReplyPort<Wire<Reply<Payment>>>),
    /// One page of this shard's payments.
    #[rpc]
    List(
        Wire<ListQuery>,
        RpcReplyPort<Wire<Reply<ShardPage<Payment>>>>,
    ),
}
