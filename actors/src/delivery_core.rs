//! What a delivery node does: turn paid orders into deliveries, cancel them
//! when payment is refunded, and apply the shop owner's updates. Deliveries
//! live in Redis; every change is one atomic script that checks the current
//! status, writes the new one and appends the `DeliveryChanged` event.

use kukka_storage::{
    bus::EVENTS_STREAM,
    redis_conn,
    views::{self, Transition, TransitionOutcome},
};
use redis::aio::ConnectionManager;
use serde_json::Value;

use crate::{
    consumer::EventHandler,
    domain::delivery::DeliveryStatus,
    events::{Envelope, EventBody},
    protocol::{ByOrder, DeliveryUpdate, Reply, ServiceError},
    read_models::{delivery_key, index_member, Collection, DELIVERY_INDEX},
};

/// A delivery node's connection and logic.
#[derive(Clone)]
pub struct DeliveryCore {
    conn: ConnectionManager,
}

impl std::fmt::Debug for DeliveryCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryCore")
    }
}

impl DeliveryCore {
    /// Connects to Redis.
    pub async fn connect(redis_url: &str) -> Result<Self, kukka_storage::StorageError> {
        Ok(Self {
            conn: redis_conn::connect(redis_url, std::time::Duration::from_secs(2)).await?,
        })
    }

    /// Moves the delivery of `order_id` to `to` from one of `to`'s allowed
    /// statuses; with `create`, creates it in status `to` instead (if it does
    /// not exist yet).
    pub async fn change(
        conn: &mut ConnectionManager,
        correlation_id: &str,
        order_id: &str,
        to: DeliveryStatus,
        create: Option<&str>,
    ) -> Result<TransitionOutcome, kukka_storage::StorageError> {
        let event = Envelope::new(
            correlation_id,
            order_id,
            EventBody::DeliveryChanged { status: to },
        );
        let creating = create.is_some();
        let from: Vec<&str> = if creating {
            Vec::new()
        } else {
            to.allowed_from().iter().map(|s| s.as_str()).collect()
        };
        let created_at = create.unwrap_or_default();
        let key = delivery_key(order_id);
        let member = index_member(created_at, order_id);
        let fields = [
            ("orderId", order_id.to_string()),
            ("createdAt", created_at.to_string()),
        ];
        views::transition(
            conn,
            &Transition {
                key: &key,
                index: DELIVERY_INDEX,
                index_member: &member,
                to: to.as_str(),
                from: &from,
                updated_at: &event.occurred_at,
                fields: if creating { &fields } else { &[] },
                event: &event.to_stream_event(),
                stream: EVENTS_STREAM,
            },
        )
        .await
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
        let outcome = Self::change(&mut conn, &req.correlation_id, &req.order_id, to, None).await?;
        match outcome {
            TransitionOutcome::Applied | TransitionOutcome::Unchanged { .. } => {
                tracing::info!(status = to.as_str(), "delivery updated by the owner");
                Collection::Deliveries
                    .get(&mut conn, &req.order_id)
                    .await?
                    .ok_or_else(|| ServiceError::internal("delivery vanished"))
            }
            TransitionOutcome::Illegal { current } => Err(ServiceError::Conflict {
                message: format!(
                    "delivery of order {} is {current}; cannot move to {}",
                    req.order_id,
                    to.as_str()
                ),
            }),
            TransitionOutcome::Missing => Err(ServiceError::NotFound {
                what: format!("delivery for order {}", req.order_id),
            }),
        }
    }
}

impl DeliveryCore {
    /// The first step of a customer's cancel (see
    /// [`crate::protocol::DeliveryMsg::ReserveCancel`]).
    #[tracing::instrument(skip_all, fields(correlation_id = %req.correlation_id, order_id = %req.order_id))]
    pub async fn reserve_cancel(&self, req: ByOrder) -> Reply<()> {
        let mut conn = self.conn.clone();
        let to = DeliveryStatus::DeliveryCancelled;
        let (cid, oid) = (&req.correlation_id, &req.order_id);
        match Self::change(&mut conn, cid, oid, to, None).await? {
            TransitionOutcome::Applied | TransitionOutcome::Unchanged { .. } => {
                tracing::info!("delivery cancelled for a customer's cancel");
                Ok(())
            }
            TransitionOutcome::Illegal { current } => Err(ServiceError::Conflict {
                message: format!("order {oid} is {current}; it can no longer be cancelled"),
            }),
            TransitionOutcome::Missing => {
                // The paid order has not reached delivery yet: record the
                // delivery as cancelled so the late `OrderPlaced` creates nothing.
                Self::change(&mut conn, cid, oid, to, Some(&crate::clock::now())).await?;
                tracing::info!("delivery recorded as cancelled before it was requested");
                Ok(())
            }
        }
    }
}

/// Consumes order and payment events into deliveries.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryHandler;

impl EventHandler for DeliveryHandler {
    fn wants(&self, kind: &str) -> bool {
        matches!(kind, "OrderPlaced" | "PaymentCancelled")
    }

    async fn apply(&self, conn: &mut ConnectionManager, event: Envelope) -> Result<(), String> {
        let (to, create) = match &event.body {
            EventBody::OrderPlaced { created_at, .. } => {
                (DeliveryStatus::DeliveryRequested, Some(created_at.as_str()))
            }
            EventBody::PaymentCancelled { .. } => (DeliveryStatus::DeliveryCancelled, None),
            _ => return Ok(()),
        };
        let (cid, oid) = (&event.correlation_id, &event.order_id);
        let outcome = DeliveryCore::change(conn, cid, oid, to, create)
            .await
            .map_err(|e| e.to_string())?;
        match outcome {
            TransitionOutcome::Applied => tracing::info!(status = to.as_str(), "delivery changed"),
            TransitionOutcome::Missing => {
                // The refund overtook the order (replicas apply in parallel):
                // record the delivery as cancelled; the late `OrderPlaced`
                // then finds it and changes nothing.
                let created = DeliveryCore::change(conn, cid, oid, to, Some(&event.occurred_at))
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(
                    ?created,
                    "refund arrived before the order; delivery recorded as cancelled"
                );
            }
            TransitionOutcome::Illegal { current } => {
                tracing::warn!(%current, to = to.as_str(), "delivery not changed: illegal transition");
            }
            TransitionOutcome::Unchanged { .. } => {}
        }
        Ok(())
    }
}
