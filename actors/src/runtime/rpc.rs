//! Calls between actors, local or across the cluster, always with a
//! deadline.
//!
//! ractor_cluster has no reply timeout of its own: a remote handler that
//! drops its reply port, or a peer that froze without closing its socket,
//! would leave a caller waiting forever. [`rpc`] bounds every call and
//! flattens every way it can fail into a [`ServiceError`].

use std::time::Duration;

use ractor::{rpc::CallResult, ActorRef, BytesConvertable, Message, RpcReplyPort};

use super::{
    error::{Reply, ServiceError},
    wire::Wire,
};

/// Calls `actor` with the message `build` makes around a reply port, and
/// waits at most `timeout`.
pub async fn rpc<M, T>(
    actor: &ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<Wire<Reply<T>>>) -> M,
    timeout: Duration,
) -> Reply<T>
where
    M: Message,
    T: Send + 'static,
    Wire<Reply<T>>: BytesConvertable,
{
    match actor.call(build, Some(timeout)).await {
        Ok(CallResult::Success(answer)) => answer.into_inner()?,
        Ok(CallResult::Timeout) => Err(ServiceError::unavailable(format!(
            "{} did not answer within {} ms",
            actor.get_name().unwrap_or_else(|| "a node".into()),
            timeout.as_millis()
        ))),
        Ok(CallResult::SenderError) | Err(_) => Err(ServiceError::unavailable(
            "the node went away during the call",
        )),
    }
}
