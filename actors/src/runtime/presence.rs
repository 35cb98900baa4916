//! The edge's presence actor: it joins the [`EDGES`] process group so that
//! status pages can count the joined edges. It holds no state and does no
//! work.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;

use super::groups::{Namespace, EDGES};

/// Short name of the presence actor on its node.
pub const EDGE_PRESENCE: &str = "edge-presence";

/// Messages of an edge's presence actor.
#[derive(RactorClusterMessage)]
pub enum EdgeMsg {
    /// Answers `true`: lets a peer or a tool check that an edge is reachable
    /// over the cluster. Nothing calls it in normal operation.
    #[rpc]
    Ping(RpcReplyPort<bool>),
}

/// The presence actor.
#[derive(Debug)]
pub struct EdgePresence;

impl Actor for EdgePresence {
    type Msg = EdgeMsg;
    type State = ();
    type Arguments = Namespace;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        ns: Namespace,
    ) -> Result<Self::State, ActorProcessingErr> {
        ns.join(&myself.get_cell(), &[EDGES.to_string()]);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EdgeMsg::Ping(reply) => {
                let _ = reply.send(true);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn joins_the_edge_group_and_answers_pings() {
        let ns = Namespace::new("presence-test", "edge-0");
        let (actor, handle) = Actor::spawn(None, EdgePresence, ns.clone())
            .await
            .expect("spawn");
        assert!(ns
            .members(EDGES)
            .iter()
            .any(|c| c.get_id() == actor.get_id()));
        assert!(
            !Namespace::cluster("edge-0").joined(EDGES),
            "another system's scope does not see it"
        );
        let pong = ractor::call!(actor, EdgeMsg::Ping).expect("ping");
        assert!(pong);
        actor.stop(None);
        handle.await.expect("stopped");
    }
}
