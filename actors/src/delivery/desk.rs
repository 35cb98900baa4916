//! The delivery desk: the actor on a delivery node that takes the shop
//! owner's updates (`POST /deliveries`) and the order shards' cancel
//! reservations ([`DeliveryMsg`]). Deliveries live in Redis
//! ([`super::store`]), so any delivery node's desk can serve any order.

use std::sync::Arc;

use kukka_storage::redis_conn::RedisConn;
use kukka_storage::{
    bus::{Partitions, Replicated},
    views::TransitionOutcome,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;

use super::{
    messages::{DeliveryMsg, DeliveryUpdate},
    model::DeliveryStatus,
    store::{change, delivery_json, delivery_key},
};
use crate::{
    order::messages::ByOrder,
    runtime::{
        clock,
        drain::Drain,
        error::{Reply, ServiceError},
        groups::{Namespace, DELIVERY_DESKS},
    },
};

/// Short name of the desk actor on its node.
pub const DELIVERY_DESK: &str = "delivery-desk";

/// The desk's Redis connection, the stream's partitions, and how many
/// replicas a change must reach before the desk answers.
#[derive(Clone)]
pub struct Deliveries {
    conn: RedisConn,
    partitions: Partitions,
    replicated: Replicated,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deliveries")
    }
}

impl Deliveries {
    /// Deliveries kept in the Redis behind `conn`.
    pub fn new(conn: RedisConn, partitions: Partitions, replicated: Replicated) -> Self {
        Self {
            conn,
            partitions,
            replicated,
        }
    }

    /// The owner's `POST /deliveries`.
    #[tracing::instrument(skip_all, fields(correlation_id = %req.correlation_id, order_id = %req.order_id))]
    pub async fn owner_update(&self, req: DeliveryUpdate) -> Reply<Value> {
        let to = DeliveryStatus::parse(&req.status)
            .filter(|s| s.settable_by_owner())
            .ok_or_else(|| ServiceError::Invalid {
                field: "status".into(),
                message: "must be DeliveryStarted or Delivered".into(),
            })?;
        let mut conn = self.conn.clone();
        let p = self.partitions;
        match change(&mut conn, p, &req.correlation_id, req.order_id, to, None).await? {
            TransitionOutcome::Applied | TransitionOutcome::Unchanged { .. } => {
                tracing::info!(status = to.as_str(), "delivery updated by the owner");
                let key = delivery_key(p, &req.order_id.to_string());
                self.replicated.wait_for(&mut conn, &key).await?;
                kukka_storage::views::get(&mut conn, &key)
                    .await?
                    .as_ref()
                    .and_then(delivery_json)
                    .ok_or_else(|| ServiceError::internal("delivery vanished"))
            }
            TransitionOutcome::Illegal { current } => Err(ServiceError::Conflict {
                message: format!(
                    "delivery of order {} is {current}; cannot move to {}",
                    req.order_id,
                    to.as_str()
                ),
            }),
            TransitionOutcome::Missing => Err(ServiceError::not_found(format!(
                "delivery for order {}",
                req.order_id
            ))),
        }
    }

    /// The first step of a customer's cancel (see
    /// [`DeliveryMsg::ReserveCancel`]).
    #[tracing::instrument(skip_all, fields(correlation_id = %req.correlation_id, order_id = %req.order_id))]
    pub async fn reserve_cancel(&self, req: ByOrder) -> Reply<()> {
        let mut conn = self.conn.clone();
        let to = DeliveryStatus::DeliveryCancelled;
        let (cid, oid, p) = (&req.correlation_id, req.order_id, self.partitions);
        match change(&mut conn, p, cid, oid, to, None).await? {
            TransitionOutcome::Applied | TransitionOutcome::Unchanged { .. } => {
                tracing::info!("delivery cancelled for a customer's cancel");
                let key = delivery_key(p, &oid.to_string());
                self.replicated.wait_for(&mut conn, &key).await?;
                Ok(())
            }
            TransitionOutcome::Illegal { current } => Err(ServiceError::Conflict {
                message: format!("order {oid} is {current}; it can no longer be cancelled"),
            }),
            TransitionOutcome::Missing => {
                // The paid order has not reached delivery yet: record the
                // delivery as cancelled so the late `OrderPlaced` creates
                // nothing.
                change(&mut conn, p, cid, oid, to, Some(&clock::now())).await?;
                let key = delivery_key(p, &oid.to_string());
                self.replicated.wait_for(&mut conn, &key).await?;
                tracing::info!("delivery recorded as cancelled before it was requested");
                Ok(())
            }
        }
    }
}

/// What the desk actor is started with.
#[derive(Clone, Debug)]
pub struct DeliveryDeskArgs {
    /// The deliveries.
    pub deliveries: Arc<Deliveries>,
    /// Where to join.
    pub ns: Namespace,
    /// The node's in-flight accounting.
    pub drain: Arc<Drain>,
}

/// The desk actor.
#[derive(Debug)]
pub struct DeliveryDesk;

impl Actor for DeliveryDesk {
    type Msg = DeliveryMsg;
    type State = DeliveryDeskArgs;
    type Arguments = DeliveryDeskArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: DeliveryDeskArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.ns
            .join(&myself.get_cell(), &[DELIVERY_DESKS.to_string()]);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let deliveries = state.deliveries.clone();
        let drain = &state.drain;
        match msg {
            DeliveryMsg::Update(req, reply) => drain.serve(reply, async move {
                deliveries.owner_update(req.into_valid()?).await
            }),
            DeliveryMsg::ReserveCancel(req, reply) => drain.serve(reply, async move {
                deliveries.reserve_cancel(req.into_valid()?).await
            }),
        }
        Ok(())
    }
}
