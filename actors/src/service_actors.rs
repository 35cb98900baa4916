//! The cluster-facing service actors of the order, payment and delivery
//! nodes.
//!
//! Each joins its role's process group in `pre_start` and answers requests
//! by handing each to its own task, so requests are served concurrently; a
//! panic while handling one request ends that task only (its caller gets an
//! error), never the actor or the node. Requests in flight are counted so a
//! stopping node can wait for them ([`wait_idle`]).

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use tokio::sync::Notify;

use ractor::{Actor, ActorProcessingErr, ActorRef, BytesConvertable, RpcReplyPort};

use crate::{
    delivery_core::DeliveryCore,
    order_core::OrderCore,
    payment_core::PaymentCore,
    protocol::{
        order_shard_group, payment_shard_group, DeliveryMsg, OrderMsg, PaymentMsg, Reply,
        ServiceError, DELIVERY_GROUP, ORDER_GROUP, PAYMENT_GROUP,
    },
    wire::Wire,
};

/// Registered names of the service actors (a node runs at most one).
pub const SERVICE_NAMES: [&str; 3] = ["order-service", "payment-service", "delivery-service"];

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static DRAINING: AtomicBool = AtomicBool::new(false);

/// Starts draining this node: its service actors leave every process group
/// (so callers stop picking them) and answer anything still arriving with a
/// clean "unavailable, retry" instead of taking new work.
pub fn drain() {
    DRAINING.store(true, Ordering::SeqCst);
    for name in SERVICE_NAMES {
        if let Some(cell) = ractor::registry::where_is(name) {
            for group in ractor::pg::which_groups() {
                ractor::pg::leave(group, vec![cell.clone()]);
            }
        }
    }
}

fn idle() -> &'static Notify {
    static IDLE: OnceLock<Notify> = OnceLock::new();
    IDLE.get_or_init(Notify::new)
}

/// Counts a request as in flight until dropped (also when its task panics).
struct InFlight;

impl InFlight {
    fn start() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
            idle().notify_waiters();
        }
    }
}

/// Requests being served by this node's service actors.
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

/// Waits until no request is in flight; `false` if `within` passed first.
pub async fn wait_idle(within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let notified = idle().notified();
        if in_flight() == 0 {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return in_flight() == 0;
        }
    }
}

/// Runs `work` on its own task and sends its result to `reply`.
fn serve<T, F>(reply: RpcReplyPort<Wire<Reply<T>>>, work: F)
where
    T: Send + 'static,
    Wire<Reply<T>>: BytesConvertable,
    F: Future<Output = Reply<T>> + Send + 'static,
{
    if DRAINING.load(Ordering::SeqCst) {
        let _ = reply.send(Wire::new(Err(ServiceError::unavailable(
            "this node is shutting down; retry",
        ))));
        return;
    }
    let guard = InFlight::start();
    tokio::spawn(async move {
        let _guard = guard;
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
        // An order shard that cannot reach payment and delivery cannot place
        // or cancel orders: it becomes visible to the edges only once both
        // are joined, so "every role is joined" at the edge means the whole
        // path works.
        let cell = myself.get_cell();
        let groups = [ORDER_GROUP.to_string(), order_shard_group(core.shard)];
        tokio::spawn(async move {
            let deps_joined = || {
                !crate::remote::members(PAYMENT_GROUP).is_empty()
                    && !crate::remote::members(DELIVERY_GROUP).is_empty()
            };
            while !deps_joined() {
                if cell.get_status() != ractor::ActorStatus::Running
                    && cell.get_status() != ractor::ActorStatus::Starting
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !DRAINING.load(Ordering::SeqCst) {
                join_groups(cell, &groups);
            }
        });
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
