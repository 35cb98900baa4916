//! What an order shard does, as plain async functions over its repository.
//! The [`crate::service_actors::OrderService`] actor calls these from per-request tasks.

use std::time::Duration;

use kukka_storage::aggregate_repo::{AggregateRepo, Inserted};
use ractor::{rpc::CallResult, ActorRef};

use crate::{
    consumer::EventHandler,
    domain::{
        delivery::DeliveryStatus,
        order::{Order, OrderStatus},
    },
    events::{Envelope, EventBody},
    payment_gateway::{GatewayMsg, GATEWAY_NAME},
    protocol::{
        rpc, ByOrder, ChargeRequest, DeliveryMsg, GatewayStatus, ListQuery, PlaceOrder, Reply,
        ServiceError, ShardPage, DELIVERY_GROUP,
    },
    relay, remote,
    wire::Wire,
};

/// An order shard's data and identity.
#[derive(Clone, Debug)]
pub struct OrderCore {
    /// The shard's orders.
    pub repo: AggregateRepo<Order>,
    /// This shard's number (part of every order id).
    pub shard: u32,
    /// How long to wait for the gateway's answer beyond its own deadline.
    pub gateway_grace: Duration,
}

impl OrderCore {
    /// The id of the order stored under `seq`.
    pub fn order_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.shard)
    }

    /// The sequence number inside an id of this shard.
    pub fn seq_of(&self, id: &str) -> Option<u64> {
        let (shard, seq) = id.split_once('-')?;
        if shard.parse::<u32>().ok()? != self.shard {
            return None;
        }
        seq.parse().ok()
    }

    /// Pays for and establishes an order (see the design's place saga).
    #[tracing::instrument(skip_all, fields(correlation_id = %req.correlation_id, order_id))]
    pub async fn place(&self, req: PlaceOrder) -> Reply<Order> {
        if crate::faults::fire(crate::faults::Fault::PanicInRequest) {
            panic!("injected fault: panic while placing an order");
        }
        let idem_key = req.idempotency_key.as_ref().map(|k| format!("idem:{k}"));
        if let Some(key) = &idem_key {
            if let Some(seq) = self.repo.seq_by_key(key)? {
                let existing = self.repo.get(seq)?;
                return same_request(existing, &req);
            }
        }
        let seq = self.repo.next_seq()?;
        let id = self.order_id(seq);
        tracing::Span::current().record("order_id", id.as_str());
        let now = crate::clock::now();
        let charge = ChargeRequest {
            correlation_id: req.correlation_id.clone(),
            order_id: id.clone(),
            amount: req.order.price,
        };
        match self.charge(charge).await {
            Ok(payment) => {
                let order = Order::placed(id.clone(), req.order.clone(), payment.id, &now);
                let event =
                    Envelope::new(&req.correlation_id, &id, EventBody::order_placed(&order));
                match self
                    .repo
                    .insert(seq, idem_key.as_deref(), &order, &[event.to_stream_event()])
                    .await?
                {
                    Inserted::New => {
                        relay::kick();
                        crate::metrics::inc("kukka_orders_total", &[("status", "Ordered")]);
                        tracing::info!("order placed");
                        Ok(order)
                    }
                    Inserted::Fenced => {
                        Err(ServiceError::internal("idempotency keys are never fenced"))
                    }
                    Inserted::Existing(taken, _) if taken == seq => {
                        // Payment reconciliation gave up on this order while we
                        // were slow and fenced the id; its charge is voided.
                        tracing::warn!("order fenced by reconciliation before it committed");
                        Err(ServiceError::PaymentUnavailable {
                            message: "the order could not be confirmed in time".into(),
                            retry_after_secs: 1,
                        })
                    }
                    Inserted::Existing(_, existing) => {
                        // A concurrent retry with the same key won; void our charge.

                        self.reject(seq, req.clone(), "duplicate idempotency key".into(), &now)
                            .await?;
                        same_request(Some(existing), &req)
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "payment failed; order rejected");
                self.reject(seq, req, e.to_string(), &now).await?;
                Err(e)
            }
        }
    }

    async fn reject(&self, seq: u64, req: PlaceOrder, reason: String, now: &str) -> Reply<()> {
        let id = self.order_id(seq);
        let order = Order::rejected(id.clone(), req.order, reason.clone(), now);
        let event = Envelope::new(
            &req.correlation_id,
            &id,
            EventBody::OrderRejected { reason },
        );
        self.repo
            .insert(seq, None, &order, &[event.to_stream_event()])
            .await?;
        relay::kick();
        crate::metrics::inc("kukka_orders_total", &[("status", "Rejected")]);
        Ok(())
    }

    async fn charge(&self, req: ChargeRequest) -> Reply<crate::domain::payment::Payment> {
        let Some(gateway) = ractor::registry::where_is(GATEWAY_NAME) else {
            return Err(ServiceError::PaymentUnavailable {
                message: "the payment gateway is restarting".into(),
                retry_after_secs: 1,
            });
        };
        let gateway: ActorRef<GatewayMsg> = gateway.into();
        match gateway
            .call(
                |port| GatewayMsg::Charge(req, port),
                Some(self.gateway_grace),
            )
            .await
        {
            Ok(CallResult::Success(r)) => r,
            _ => Err(ServiceError::PaymentUnavailable {
                message: "the payment gateway did not answer".into(),
                retry_after_secs: 1,
            }),
        }
    }

    /// One order of this shard.
    pub fn get(&self, q: &ByOrder) -> Reply<Order> {
        let not_found = || ServiceError::NotFound {
            what: format!("order {}", q.order_id),
        };
        let seq = self.seq_of(&q.order_id).ok_or_else(not_found)?;
        self.repo.get(seq)?.ok_or_else(not_found)
    }

    /// One page of this shard's orders.
    pub fn list(&self, q: &ListQuery) -> Reply<ShardPage<Order>> {
        ShardPage::read(&self.repo, self.shard, q)
    }

    /// Cancels an order (idempotent). A delivered order cannot be
    /// cancelled: the delivery is reserved for cancellation first (atomically
    /// against the owner's "Delivered"), then the order is cancelled, and the
    /// `OrderCancelled` event makes payment refund.
    #[tracing::instrument(skip_all, fields(correlation_id = %q.correlation_id, order_id = %q.order_id))]
    pub async fn cancel(&self, q: ByOrder) -> Reply<Order> {
        let order = self.get(&q)?;
        match order.status {
            OrderStatus::OrderCancelled => return Ok(order),
            OrderStatus::Rejected => {
                return Err(ServiceError::Conflict {
                    message: format!("order {} was never established", q.order_id),
                })
            }
            OrderStatus::Ordered => {}
        }
        let delivery = remote::pick::<DeliveryMsg>(DELIVERY_GROUP)
            .ok_or_else(|| ServiceError::unavailable("no delivery node is joined"))?;
        let reserve = q.clone();
        rpc(
            &delivery,
            |port| DeliveryMsg::ReserveCancel(Wire::new(reserve), port),
            self.gateway_grace,
        )
        .await?;
        self.cancel_locally(&q).await
    }

    /// Cancels the order in this shard's store (after its delivery was
    /// cancelled); idempotent.
    pub async fn cancel_locally(&self, q: &ByOrder) -> Reply<Order> {
        let seq = self
            .seq_of(&q.order_id)
            .ok_or_else(|| ServiceError::NotFound {
                what: format!("order {}", q.order_id),
            })?;
        let now = crate::clock::now();
        let outcome = self
            .repo
            .update(seq, |mut order| {
                let changed = order.cancel(&now)?;
                let events = if changed {
                    let e =
                        Envelope::new(&q.correlation_id, &q.order_id, EventBody::OrderCancelled);
                    vec![e.to_stream_event()]
                } else {
                    Vec::new()
                };
                Ok::<_, crate::domain::DomainError>((order, events))
            })
            .await?;
        match outcome {
            Ok(Some(order)) => {
                relay::kick();
                tracing::info!("order cancelled");
                Ok(order)
            }
            Ok(None) => Err(ServiceError::NotFound {
                what: format!("order {}", q.order_id),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Settles an order's fate for payment reconciliation: its status if it
    /// was committed; otherwise it is fenced off as rejected (so a late
    /// commit is refused) and `Rejected` is answered.
    #[tracing::instrument(skip_all, fields(correlation_id = %q.correlation_id, order_id = %q.order_id))]
    pub async fn resolve(&self, q: ByOrder) -> Reply<OrderStatus> {
        let seq = self
            .seq_of(&q.order_id)
            .ok_or_else(|| ServiceError::NotFound {
                what: format!("order {}", q.order_id),
            })?;
        if let Some(order) = self.repo.get(seq)? {
            return Ok(order.status);
        }
        let fence = Order::unconfirmed(q.order_id.clone(), &crate::clock::now());
        let reason = fence.reject_reason.clone().unwrap_or_default();
        let event = Envelope::new(
            &q.correlation_id,
            &q.order_id,
            EventBody::OrderRejected { reason },
        );
        match self
            .repo
            .insert(seq, None, &fence, &[event.to_stream_event()])
            .await?
        {
            Inserted::Existing(_, order) => Ok(order.status),
            Inserted::New | Inserted::Fenced => {
                relay::kick();
                tracing::warn!("uncommitted order fenced off for payment reconciliation");
                Ok(OrderStatus::Rejected)
            }
        }
    }

    /// The payment gateway's state.
    pub async fn gateway_status(&self) -> Reply<GatewayStatus> {
        let gateway: ActorRef<GatewayMsg> = ractor::registry::where_is(GATEWAY_NAME)
            .ok_or_else(|| ServiceError::unavailable("the payment gateway is restarting"))?
            .into();
        match gateway
            .call(GatewayMsg::Status, Some(Duration::from_secs(1)))
            .await
        {
            Ok(CallResult::Success(s)) => Ok(s),
            _ => Err(ServiceError::unavailable(
                "the payment gateway did not answer",
            )),
        }
    }
}

/// Forward recovery of the cancel saga: a delivery cancelled for a
/// customer's cancel means the order must end cancelled, even if this node
/// crashed between the two steps.
impl EventHandler for OrderCore {
    fn wants(&self, kind: &str) -> bool {
        kind == crate::domain::delivery::DeliveryStatus::DeliveryCancelled.as_str()
    }

    async fn apply(
        &self,
        _conn: &mut redis::aio::ConnectionManager,
        event: Envelope,
    ) -> Result<(), String> {
        let EventBody::DeliveryChanged {
            status: DeliveryStatus::DeliveryCancelled,
        } = event.body
        else {
            return Ok(());
        };
        if self.seq_of(&event.order_id).is_none() {
            return Ok(());
        }
        let q = ByOrder {
            correlation_id: event.correlation_id.clone(),
            order_id: event.order_id.clone(),
        };
        match self.cancel_locally(&q).await {
            Ok(_) | Err(ServiceError::NotFound { .. }) | Err(ServiceError::Conflict { .. }) => {
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

fn same_request(existing: Option<Order>, req: &PlaceOrder) -> Reply<Order> {
    let existing =
        existing.ok_or_else(|| ServiceError::internal("idempotency key without order"))?;
    let o = &req.order;
    let same = existing.customer_name == o.customer_name
        && existing.phone_number == o.phone_number
        && existing.address == o.address
        && existing.flower_type == o.flower_type
        && existing.price == o.price
        && existing.qty == o.qty;
    if same {
        Ok(existing)
    } else {
        Err(ServiceError::IdempotencyMismatch {
            message: "this Idempotency-Key was already used with a different request body".into(),
        })
    }
}
