//! The cluster-facing service actors of the order, payment and delivery
//! nodes.
//!
//! Each joins its role's process group in `pre_start` and answers requests
//! by handing each to its own task, so requests are served concurrently; a
//! panic while handling one request ends that task only (its caller gets an
//! error), never the actor or the node.

use std::{future::Future, sync::Arc};

use ractor::{Actor, ActorProcessingErr, ActorRef, BytesConvertable, RpcReplyPort};

use crate::{
    delivery_core::DeliveryCore,
    order_core::OrderCore,
    payment_core::PaymentCore,
    protocol::{
        order_shard_group, payment_shard_group, DeliveryMsg, OrderMsg, PaymentMsg, Reply,
        DELIVERY_GROUP, ORDER_GROUP, PAYMENT_GROUP,
    },
    wire::Wire,
};

/// Runs `work` on its own task and sends its result to `reply`.
fn serve<T, F>(reply: RpcReplyPort<Wire<Reply<T>>>, work: F)
where
    T: Send + 'static,
    Wire<Reply<T>>: BytesConvertable,
    F: Future<Output = Reply<T>> + Send + 'static,
{
    tokio::spawn(async move {
        let _ = reply.send(Wire::new(work.await));
    });
}

fn join_groups(cell: ractor::ActorCell, groups: &[String]) {
    for g in groups {
        ractor::pg::join(g.clone(), vec![cell.clone()]);
    }
}

/// An order shard's service actor.
#[derive(Debug)]
pub struct OrderService;

impl Actor for OrderService {
    type Msg = OrderMsg;
    type State = Arc<OrderCore>;
    type Arguments = Arc<OrderCore>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        core: Arc<OrderCore>,
    ) -> Result<Self::State, ActorProcessingErr> {
        join_groups(
            myself.get_cell(),
            &[ORDER_GROUP.to_string(), order_shard_group(core.shard)],
        );
        Ok(core)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        core: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if crate::faults::fire(crate::faults::Fault::CrashService) {
            panic!("injected fault: the order service crashes");
        }
        let core = core.clone();
        match msg {
            OrderMsg::Place(req, reply) => {
                serve(reply, async move { core.place(req.into_inner()?).await })
            }
            OrderMsg::Get(q, reply) => serve(reply, async move { core.get(&q.into_inner()?) }),
            OrderMsg::List(q, reply) => serve(reply, async move { core.list(&q.into_inner()?) }),
            OrderMsg::Cancel(q, reply) => {
                serve(reply, async move { core.cancel(q.into_inner()?).await })
            }
            OrderMsg::Status(_, reply) => serve(reply, async move { core.gateway_status().await }),
            OrderMsg::Resolve(q, reply) => {
                serve(reply, async move { core.resolve(q.into_inner()?).await })
            }
        }
        Ok(())
    }
}

/// A payment node's service actor.
#[derive(Debug)]
pub struct PaymentService;

impl Actor for PaymentService {
    type Msg = PaymentMsg;
    type State = Arc<PaymentCore>;
    type Arguments = Arc<PaymentCore>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        core: Arc<PaymentCore>,
    ) -> Result<Self::State, ActorProcessingErr> {
        join_groups(
            myself.get_cell(),
            &[PAYMENT_GROUP.to_string(), payment_shard_group(core.shard)],
        );
        Ok(core)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        core: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let core = core.clone();
        match msg {
            PaymentMsg::Charge(req, reply) => {
                serve(reply, async move { core.charge(req.into_inner()?).await })
            }
            PaymentMsg::Get(q, reply) => serve(reply, async move { core.get(&q.into_inner()?) }),
            PaymentMsg::List(q, reply) => serve(reply, async move { core.list(&q.into_inner()?) }),
        }
        Ok(())
    }
}

/// A delivery node's service actor.
#[derive(Debug)]
pub struct DeliveryService;

impl Actor for DeliveryService {
    type Msg = DeliveryMsg;
    type State = Arc<DeliveryCore>;
    type Arguments = Arc<DeliveryCore>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        core: Arc<DeliveryCore>,
    ) -> Result<Self::State, ActorProcessingErr> {
        join_groups(myself.get_cell(), &[DELIVERY_GROUP.to_string()]);
        Ok(core)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        core: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let core = core.clone();
        match msg {
            DeliveryMsg::Update(req, reply) => {
                serve(
                    reply,
                    async move { core.owner_update(req.into_inner()?).await },
                )
            }
            DeliveryMsg::ReserveCancel(req, reply) => serve(reply, async move {
                core.reserve_cancel(req.into_inner()?).await
            }),
        }
        Ok(())
    }
}
