//! What a delivery desk accepts over the cluster ([`DeliveryMsg`]) and the
//! payloads of those messages.
//!
//! Variant names travel on the wire: add variants freely, never rename one.

use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;
use serde::{Deserialize, Serialize};

use super::model::DeliveryStatus;
use crate::{
    order::{id::OrderId, messages::ByOrder},
    runtime::{
        error::{Reply, ServiceError},
        validate::{self, invalid, Validate},
        wire::Wire,
    },
};

/// The owner moves a delivery forward.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryUpdate {
    /// The request's correlation id.
    pub correlation_id: String,
    /// The order whose delivery moves.
    pub order_id: OrderId,
    /// `DeliveryStarted` or `Delivered`, as the owner sent it.
    pub status: String,
}

impl Validate for DeliveryUpdate {
    fn validate(&self) -> Result<(), ServiceError> {
        validate::correlation_id(&self.correlation_id)?;
        match DeliveryStatus::parse(&self.status) {
            Some(s) if s.settable_by_owner() => Ok(()),
            _ => Err(invalid("status", "must be DeliveryStarted or Delivered")),
        }
    }
}

/// Messages of a delivery desk.
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
