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
    let started = std::time::Instant::now();
    let timed_out = || {
        ServiceError::unavailable(format!(
            "{} did not answer within {} ms",
            actor.get_name().unwrap_or_else(|| "a node".into()),
            timeout.as_millis()
        ))
    };
    match actor.call(build, Some(timeout)).await {
        Ok(CallResult::Success(answer)) => answer.into_inner()?,
        Ok(CallResult::Timeout) => Err(timed_out()),
        // ractor_cluster's reply bridge for a remote actor waits with its
        // own timer for the same deadline and drops the reply port when it
        // fires first: that is our timeout, not a node going away.
        Ok(CallResult::SenderError) | Err(_) if started.elapsed() >= timeout => Err(timed_out()),
        Ok(CallResult::SenderError) | Err(_) => Err(ServiceError::unavailable(
            "the node went away during the call",
        )),
    }
}

#[cfg(test)]
mod tests {
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
    use ractor_cluster::RactorMessage;

    use super::*;

    /// Drops every reply port it gets, after `hold`.
    struct Dropper;

    #[derive(RactorMessage)]
    enum DropMsg {
        Ask(RpcReplyPort<Wire<Reply<u32>>>),
    }

    impl Actor for Dropper {
        type Msg = DropMsg;
        type State = Duration;
        type Arguments = Duration;

        async fn pre_start(
            &self,
            _: ActorRef<DropMsg>,
            hold: Duration,
        ) -> Result<Duration, ActorProcessingErr> {
            Ok(hold)
        }

        async fn handle(
            &self,
            _: ActorRef<DropMsg>,
            DropMsg::Ask(port): DropMsg,
            hold: &mut Duration,
        ) -> Result<(), ActorProcessingErr> {
            tokio::time::sleep(*hold).await;
            drop(port);
            Ok(())
        }
    }

    /// Asks a [`Dropper`] that drops the reply port after `hold`, with
    /// `timeout`; what the caller sees.
    async fn ask_dropper(hold: Duration, timeout: Duration) -> Result<u32, ServiceError> {
        let (dropper, handle) = Actor::spawn(None, Dropper, hold).await.expect("spawn");
        let answer = rpc(&dropper, DropMsg::Ask, timeout).await;
        dropper.stop(None);
        let _ = handle.await;
        answer
    }

    #[tokio::test]
    async fn a_dropped_reply_is_a_node_gone_and_a_late_one_a_timeout() {
        let gone = ask_dropper(Duration::ZERO, Duration::from_secs(5)).await;
        assert!(
            matches!(&gone, Err(ServiceError::Unavailable { message, .. }) if message.contains("went away")),
            "{gone:?}"
        );
        let slow = ask_dropper(Duration::from_millis(300), Duration::from_millis(50)).await;
        assert!(
            matches!(&slow, Err(ServiceError::Unavailable { message, .. }) if message.contains("within 50 ms")),
            "{slow:?}"
        );
    }
}
