//! Joining the cluster.
//!
//! [`start`] runs this node's `NodeServer` (cookie-authenticated TCP
//! listener). [`SeedDialer`] keeps this node connected to its seed nodes: it
//! looks at the live sessions every second and dials every address of every
//! seed it has no session with (a Kubernetes headless service name resolves
//! to all its pods), so a peer that restarts is rejoined without restarting
//! anyone else (ractor_cluster does not reconnect on its own).

use std::{collections::HashSet, net::IpAddr, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::{NodeServer, NodeServerMessage, RactorMessage};

/// Starts the node server.
pub async fn start(
    bind: IpAddr,
    port: u16,
    cookie: String,
    node_name: String,
    host: String,
) -> anyhow::Result<ActorRef<NodeServerMessage>> {
    let server = NodeServer::new(
        port,
        cookie,
        node_name,
        host,
        None,
        Some(ractor_cluster::node::NodeConnectionMode::Isolated),
    )
    .with_listen_addr(bind);
    let (actor, _handle) = Actor::spawn(Some("node-server".into()), server, ())
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the cluster listener: {e}"))?;
    Ok(actor)
}

/// Number of authenticated sessions (for readiness and metrics).
pub async fn session_count(server: &ActorRef<NodeServerMessage>) -> usize {
    ractor::call_t!(server, NodeServerMessage::GetSessions, 500)
        .map(|s| s.len())
        .unwrap_or(0)
}

/// Messages of the dialer.
#[derive(RactorMessage)]
pub enum DialerMsg {
    /// Check sessions and dial missing seeds.
    Tick,
}

/// The dialer actor.
#[derive(Debug)]
pub struct SeedDialer;

/// What the dialer needs.
#[derive(Clone, Debug)]
pub struct DialerArgs {
    /// This node's server.
    pub server: ActorRef<NodeServerMessage>,
    /// Seeds, `host:port`.
    pub seeds: Vec<String>,
}

impl Actor for SeedDialer {
    type Msg = DialerMsg;
    type State = DialerArgs;
    type Arguments = DialerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: DialerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let _ = myself.cast(DialerMsg::Tick);
        myself.send_interval(Duration::from_secs(1), || DialerMsg::Tick);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        _msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let sessions = ractor::call_t!(state.server, NodeServerMessage::GetSessions, 1000)
            .map_err(|e| format!("node server did not answer: {e}"))?;
        kukka_actors::runtime::metrics::cluster_sessions(sessions.len());
        let connected: HashSet<String> = sessions.values().map(|s| s.peer_addr.clone()).collect();
        for seed in &state.seeds {
            let addrs: Vec<std::net::SocketAddr> =
                match tokio::net::lookup_host(seed.as_str()).await {
                    Ok(a) => a.collect(),
                    Err(e) => {
                        tracing::debug!(%seed, error = %e, "seed does not resolve yet");
                        continue;
                    }
                };
            // A headless service name resolves to every pod: dial each one
            // we have no session with.
            for addr in addrs.iter().filter(|a| !connected.contains(&a.to_string())) {
                match ractor_cluster::client_connect(&state.server, *addr).await {
                    Ok(()) => tracing::info!(%seed, %addr, "dialed seed"),
                    Err(e) => {
                        tracing::debug!(%seed, %addr, error = %e, "seed not reachable; will retry")
                    }
                }
            }
        }
        Ok(())
    }
}
