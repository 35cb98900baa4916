//! The bulkhead actor: the order shard's single door to payment.
//!
//! Every charge the order shard makes goes through this actor. It owns
//! - the call's **timeout**,
//! - a **concurrency limit** (calls beyond it are refused at once, never
//!   queued without bound), and
//! - the **circuit breaker** ([`super::breaker`]).
//!
//! The actor only decides and keeps accounts; it never awaits a call. Each
//! admitted call runs in its own task and reports back with its permit, and a
//! guard reports "cancelled" if the task ends without reporting (panic or
//! abort), so neither the in-flight count nor a half-open probe slot can
//! leak. Breaker state, transitions, refusals and call latency are exported
//! as metrics, and every transition is logged.

use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorMessage;
use serde::{Deserialize, Serialize};

use super::breaker::{Breaker, BreakerConfig, Permit, Transition};
use crate::{
    payment::{
        messages::{ChargeRequest, PaymentMsg},
        model::Payment,
    },
    runtime::{
        error::{Reply, ServiceError},
        groups::{Namespace, PAYMENT_SHARDS},
        metrics,
        rpc::rpc,
        wire::Wire,
    },
};

/// Short name of the bulkhead on its node (see [`Namespace::name`]).
pub const BULKHEAD: &str = "bulkhead";

/// The payment call's guard settings.
#[derive(Clone, Copy, Debug)]
pub struct BulkheadConfig {
    /// Deadline of one payment call.
    pub call_timeout: Duration,
    /// Calls allowed in flight at once; more are refused at once.
    pub max_concurrent: usize,
    /// The circuit breaker's thresholds.
    pub breaker: BreakerConfig,
}

/// How a call ended.
#[derive(Debug)]
pub enum CallEnd {
    /// Payment confirmed (or answered a business error) after this long.
    Answered(Duration),
    /// Timed out or payment unreachable, after this long.
    Failed(Duration),
    /// The task ended without an outcome, after this long.
    Cancelled(Duration),
}

/// A snapshot for status pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkheadStatus {
    /// `closed`, `open` or `half_open`.
    pub breaker_state: String,
    /// Calls in flight.
    pub in_flight: usize,
    /// Calls refused so far (bulkhead full or circuit open).
    pub rejected: u64,
    /// When the breaker last changed state (RFC 3339), if ever.
    pub last_transition_at: Option<String>,
}

/// Why a charge through the bulkhead did not confirm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeError {
    /// Payment was never called (bulkhead full, circuit open, no payment
    /// node): no charge can exist, there is nothing to compensate.
    Refused(ServiceError),
    /// Payment was called and did not confirm in time, or said no: a charge
    /// may still land and must be voided.
    Failed(ServiceError),
}

impl ChargeError {
    /// The error to answer with.
    pub fn into_error(self) -> ServiceError {
        match self {
            Self::Refused(e) | Self::Failed(e) => e,
        }
    }
}

/// Messages of the bulkhead.
#[derive(RactorMessage)]
pub enum BulkheadMsg {
    /// Charge for an order.
    Charge(ChargeRequest, RpcReplyPort<Result<Payment, ChargeError>>),
    /// A call ended (sent by the call's task or its guard).
    Finished(Permit, CallEnd),
    /// Current state.
    Status(RpcReplyPort<BulkheadStatus>),
}

/// The bulkhead actor.
#[derive(Debug)]
pub struct Bulkhead;

/// What the bulkhead is started with.
#[derive(Clone, Debug)]
pub struct BulkheadArgs {
    /// The guard's settings.
    pub config: BulkheadConfig,
    /// Where to find payment shards.
    pub ns: Namespace,
}

/// What the bulkhead keeps: its settings, the breaker, and its accounts.
#[derive(Debug)]
pub struct BulkheadState {
    config: BulkheadConfig,
    ns: Namespace,
    breaker: Breaker,
    in_flight: usize,
    rejected: u64,
    last_transition_at: Option<String>,
}

/// Reports the call's end exactly once, even if the task panics.
struct Reporter {
    bulkhead: ActorRef<BulkheadMsg>,
    permit: Option<Permit>,
    started: Instant,
}

impl Reporter {
    fn report(mut self, end: CallEnd) {
        if let Some(p) = self.permit.take() {
            let _ = self.bulkhead.cast(BulkheadMsg::Finished(p, end));
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            let _ = self.bulkhead.cast(BulkheadMsg::Finished(
                p,
                CallEnd::Cancelled(self.started.elapsed()),
            ));
        }
    }
}

impl BulkheadState {
    fn transitioned(&mut self, t: Option<Transition>) {
        if let Some(t) = t {
            tracing::warn!(
                from = t.from.as_str(),
                to = t.to.as_str(),
                "payment circuit breaker changed state"
            );
            metrics::breaker_transition(t.from.as_str(), t.to.as_str());
            metrics::breaker_state(t.to.as_str());
            self.last_transition_at = Some(crate::runtime::clock::now());
        }
    }

    fn refuse(
        &mut self,
        reason: &'static str,
        retry_after: Duration,
        reply: RpcReplyPort<Result<Payment, ChargeError>>,
    ) {
        self.rejected += 1;
        metrics::payment_rejected(reason);
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u32;
        let message = match reason {
            "circuit_open" => "payment is failing; calls are paused",
            _ => "too many payments in flight",
        };
        let _ = reply.send(Err(ChargeError::Refused(
            ServiceError::PaymentUnavailable {
                message: message.into(),
                retry_after_secs: secs,
            },
        )));
    }
}

impl Actor for Bulkhead {
    type Msg = BulkheadMsg;
    type State = BulkheadState;
    type Arguments = BulkheadArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        BulkheadArgs { config, ns }: BulkheadArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        metrics::order_node_started();
        Ok(BulkheadState {
            breaker: Breaker::new(config.breaker, Instant::now()),
            config,
            ns,
            in_flight: 0,
            rejected: 0,
            last_transition_at: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        match msg {
            BulkheadMsg::Charge(req, reply) => {
                if state.in_flight >= state.config.max_concurrent {
                    state.refuse("bulkhead_full", Duration::from_secs(1), reply);
                    return Ok(());
                }
                let (admitted, t) = state.breaker.try_acquire(now);
                state.transitioned(t);
                let permit = match admitted {
                    Ok(p) => p,
                    Err(wait) => {
                        state.refuse("circuit_open", wait, reply);
                        return Ok(());
                    }
                };
                state.in_flight += 1;
                metrics::payment_in_flight(state.in_flight);
                let timeout = state.config.call_timeout;
                let ns = state.ns.clone();
                let started = Instant::now();
                let reporter = Reporter {
                    bulkhead: myself.clone(),
                    permit: Some(permit),
                    started,
                };
                tokio::spawn(async move {
                    let result = call_payment(&ns, req, timeout).await;
                    let end = match &result {
                        Err(ChargeError::Refused(_))
                        | Err(ChargeError::Failed(ServiceError::PaymentUnavailable { .. })) => {
                            CallEnd::Failed(started.elapsed())
                        }
                        _ => CallEnd::Answered(started.elapsed()),
                    };
                    reporter.report(end);
                    let _ = reply.send(result);
                });
            }
            BulkheadMsg::Finished(permit, end) => {
                state.in_flight = state.in_flight.saturating_sub(1);
                metrics::payment_in_flight(state.in_flight);
                let t = match end {
                    CallEnd::Answered(took) => {
                        metrics::payment_call("answered", took);
                        state.breaker.on_success(permit, took, now)
                    }
                    CallEnd::Failed(took) => {
                        metrics::payment_call("failed", took);
                        state.breaker.on_failure(permit, now)
                    }
                    CallEnd::Cancelled(took) => {
                        metrics::payment_call("cancelled", took);
                        state.breaker.on_cancelled(permit);
                        None
                    }
                };
                state.transitioned(t);
            }
            BulkheadMsg::Status(reply) => {
                let _ = reply.send(BulkheadStatus {
                    breaker_state: state.breaker.state().as_str().to_string(),
                    in_flight: state.in_flight,
                    rejected: state.rejected,
                    last_transition_at: state.last_transition_at.clone(),
                });
            }
        }
        Ok(())
    }
}

async fn call_payment(
    ns: &Namespace,
    req: ChargeRequest,
    timeout: Duration,
) -> Result<Payment, ChargeError> {
    let Some(payment) = ns.pick::<PaymentMsg>(PAYMENT_SHARDS) else {
        return Err(ChargeError::Refused(ServiceError::payment_unavailable(
            "no payment node is joined",
        )));
    };
    let answer: Reply<Payment> = rpc(
        &payment,
        |port| PaymentMsg::Charge(Wire::new(req), port),
        timeout,
    )
    .await;
    answer.map_err(|e| {
        ChargeError::Failed(match e {
            ServiceError::Unavailable { message, .. } => ServiceError::payment_unavailable(message),
            other => other,
        })
    })
}
