//! The order shard: the actor that owns one shard's orders in sled and
//! serves the cluster's requests about them ([`OrderMsg`]).
//!
//! [`OrderShard`] joins the order process groups once it can reach payment
//! and delivery, and hands every request to its own task
//! ([`Drain::serve`]): the place saga ([`super::place`]), the cancel saga
//! ([`super::cancel`]) and the reads below run concurrently, and a panic
//! fails one request only.

use std::{sync::Arc, time::Duration};

use kukka_storage::aggregate_repo::AggregateRepo;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{
    bulkhead::{BulkheadMsg, BulkheadStatus, BULKHEAD},
    id::OrderId,
    idempotency::Idempotency,
    messages::{ByOrder, OrderMsg},
    model::Order,
};
use crate::runtime::{
    drain::Drain,
    error::{Reply, ServiceError},
    faults::{Fault, Faults},
    groups::{order_shard, Namespace, DELIVERY_DESKS, ORDER_SHARDS, PAYMENT_SHARDS},
    paging::{ListQuery, ShardPage},
};

/// Short name of the order shard actor on its node.
pub const ORDER_SHARD: &str = "order-shard";

/// One shard's orders and what serving them needs.
#[derive(Clone, Debug)]
pub struct Orders {
    /// The shard's orders, with idempotency keys as secondary keys.
    pub repo: AggregateRepo<Order>,
    /// This shard's number (part of every order id).
    pub shard: u32,
    /// Where this node's actors and its peers are found.
    pub ns: Namespace,
    /// This node's test faults.
    pub faults: Arc<Faults>,
    /// Deadline of a call to the bulkhead (its own payment deadline plus a
    /// margin) and to a delivery desk.
    pub call_timeout: Duration,
    /// `Idempotency-Key` expiry and the per-key locks.
    pub idempotency: Idempotency,
}

impl Orders {
    /// The id of the order stored under `seq`.
    pub fn order_id(&self, seq: u64) -> OrderId {
        OrderId::new(self.shard, seq)
    }

    /// The sequence number of an order of this shard.
    pub fn seq_of(&self, id: OrderId) -> Option<u64> {
        (id.shard() == self.shard).then_some(id.seq())
    }

    /// One order of this shard, if the customer asking may see it
    /// (another customer's order is missing, exactly as an unknown one).
    pub fn get(&self, q: &ByOrder) -> Reply<Order> {
        let not_found = || ServiceError::not_found(format!("order {}", q.order_id));
        let seq = self.seq_of(q.order_id).ok_or_else(not_found)?;
        self.repo
            .get(seq)?
            .filter(|o| o.visible_to(q.customer))
            .ok_or_else(not_found)
    }

    /// One page of this shard's orders.
    pub fn list(&self, q: &ListQuery) -> Reply<ShardPage<Order>> {
        ShardPage::read(&self.repo, self.shard, q)
    }

    /// This node's bulkhead, if it is running.
    pub(super) fn bulkhead(&self) -> Option<ActorRef<BulkheadMsg>> {
        self.ns.local(BULKHEAD)
    }

    /// Where the bulkhead and its breaker stand.
    pub async fn bulkhead_status(&self) -> Reply<BulkheadStatus> {
        let bulkhead = self
            .bulkhead()
            .ok_or_else(|| ServiceError::unavailable("the bulkhead is restarting"))?;
        ractor::call_t!(bulkhead, BulkheadMsg::Status, 1000)
            .map_err(|_| ServiceError::unavailable("the bulkhead did not answer"))
    }
}

/// What the order shard actor is started with.
#[derive(Clone, Debug)]
pub struct OrderShardArgs {
    /// The shard's orders.
    pub orders: Arc<Orders>,
    /// The node's in-flight accounting.
    pub drain: Arc<Drain>,
}

/// The order shard actor.
#[derive(Debug)]
pub struct OrderShard;

impl Actor for OrderShard {
    type Msg = OrderMsg;
    type State = OrderShardArgs;
    type Arguments = OrderShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: OrderShardArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // A shard that cannot reach payment and delivery cannot place or
        // cancel orders: it becomes visible to the edges only once both are
        // joined, so "every role is joined" at the edge means the whole path
        // works.
        let cell = myself.get_cell();
        let ns = args.orders.ns.clone();
        let groups = [ORDER_SHARDS.to_string(), order_shard(args.orders.shard)];
        let drain = args.drain.clone();
        tokio::spawn(async move {
            while !(ns.joined(PAYMENT_SHARDS) && ns.joined(DELIVERY_DESKS)) {
                if !matches!(
                    cell.get_status(),
                    ractor::ActorStatus::Running | ractor::ActorStatus::Starting
                ) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !drain.is_draining() {
                ns.join(&cell, &groups);
            }
        });
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let orders = state.orders.clone();
        if orders.faults.fire(Fault::CrashService) {
            panic!("injected fault: the order shard crashes");
        }
        let drain = &state.drain;
        match msg {
            OrderMsg::Place(req, reply) => {
                drain.serve(reply, async move { orders.place(req.into_valid()?).await })
            }
            OrderMsg::Get(q, reply) => {
                drain.serve(reply, async move { orders.get(&q.into_valid()?) })
            }
            OrderMsg::List(q, reply) => {
                drain.serve(reply, async move { orders.list(&q.into_valid()?) })
            }
            OrderMsg::Cancel(q, reply) => {
                drain.serve(reply, async move { orders.cancel(q.into_valid()?).await })
            }
            OrderMsg::Resolve(q, reply) => {
                drain.serve(reply, async move { orders.resolve(q.into_valid()?).await })
            }
            OrderMsg::Status(_, reply) => {
                drain.serve(reply, async move { orders.bulkhead_status().await })
            }
        }
        Ok(())
    }
}
