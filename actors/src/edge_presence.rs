//! The edge's presence actor: it joins [`EDGE_GROUP`] so that every node
//! (and the edge's own status page) can see which edges are joined, and it
//! answers [`EdgeMsg::Ping`]. It holds no state and does no work.

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::protocol::{EdgeMsg, EDGE_GROUP};

/// The presence actor.
#[derive(Debug)]
pub struct EdgePresence;

impl Actor for EdgePresence {
    type Msg = EdgeMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join(EDGE_GROUP.to_string(), vec![myself.get_cell()]);
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
        let (actor, handle) = Actor::spawn(None, EdgePresence, ()).await.expect("spawn");
        let members = crate::remote::members(EDGE_GROUP);
        assert!(members.iter().any(|c| c.get_id() == actor.get_id()));
        let pong = ractor::call!(actor, EdgeMsg::Ping).expect("ping");
        assert!(pong);
        actor.stop(None);
        handle.await.expect("stopped");
    }
}
