//! The order node's single door to payment.
//!
//! Every charge the order node makes goes through this actor, which owns the
//! call's timeout and limits how many calls are in flight. The actor keeps
//! the accounting (admission, outcomes) and never awaits a call itself: each
//! admitted call runs in its own task and reports back, so one slow payment
//! never holds up the next decision.

use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorMessage;

use crate::{
    domain::payment::Payment,
    protocol::{rpc, ChargeRequest, PaymentMsg, Reply, ServiceError, PAYMENT_GROUP},
    remote,
    wire::Wire,
};

/// Registered name of the gateway on the order node.
pub const GATEWAY_NAME: &str = "payment-gateway";

/// Guard settings.
#[derive(Clone, Copy, Debug)]
pub struct GatewayConfig {
    /// Deadline of one payment call.
    pub call_timeout: Duration,
    /// Calls allowed in flight at once; more are refused at once.
    pub max_concurrent: usize,
}

/// Messages of the gateway.
#[derive(RactorMessage)]
pub enum GatewayMsg {
    /// Charge for an order.
    Charge(ChargeRequest, RpcReplyPort<Reply<Payment>>),
    /// A call finished (sent by the call's task).
    Finished {
        /// Whether payment confirmed in time.
        ok: bool,
        /// How long it took.
        elapsed: Duration,
    },
}

/// The gateway actor.
#[derive(Debug)]
pub struct PaymentGateway;

/// Its state.
#[derive(Debug)]
pub struct GatewayState {
    config: GatewayConfig,
    in_flight: usize,
}

impl Actor for PaymentGateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayConfig;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        config: GatewayConfig,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(GatewayState {
            config,
            in_flight: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GatewayMsg::Charge(req, reply) => {
                if state.in_flight >= state.config.max_concurrent {
                    crate::metrics::inc(
                        "kukka_payment_calls_rejected_total",
                        &[("reason", "bulkhead_full")],
                    );
                    let _ = reply.send(Err(ServiceError::PaymentUnavailable {
                        message: "payment is busy".into(),
                        retry_after_secs: 1,
                    }));
                    return Ok(());
                }
                state.in_flight += 1;
                let timeout = state.config.call_timeout;
                tokio::spawn(async move {
                    let started = Instant::now();
                    let result = call_payment(req, timeout).await;
                    let elapsed = started.elapsed();
                    let _ = myself.cast(GatewayMsg::Finished {
                        ok: result.is_ok(),
                        elapsed,
                    });
                    let _ = reply.send(result);
                });
            }
            GatewayMsg::Finished { ok, elapsed } => {
                state.in_flight = state.in_flight.saturating_sub(1);
                let outcome = if ok { "success" } else { "failure" };
                crate::metrics::inc("kukka_payment_calls_total", &[("outcome", outcome)]);
                crate::metrics::add(
                    "kukka_payment_call_seconds_sum",
                    &[("outcome", outcome)],
                    elapsed.as_secs_f64(),
                );
            }
        }
        Ok(())
    }
}

async fn call_payment(req: ChargeRequest, timeout: Duration) -> Reply<Payment> {
    let Some(payment) = remote::pick::<PaymentMsg>(PAYMENT_GROUP) else {
        return Err(ServiceError::PaymentUnavailable {
            message: "no payment node is joined".into(),
            retry_after_secs: 1,
        });
    };
    match rpc(
        &payment,
        |port| PaymentMsg::Charge(Wire::new(req), port),
        timeout,
    )
    .await
    {
        Err(ServiceError::Unavailable { message, .. }) => Err(ServiceError::PaymentUnavailable {
            message,
            retry_after_secs: 1,
        }),
        other => other,
    }
}
