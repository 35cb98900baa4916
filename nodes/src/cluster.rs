//! Joining the cluster.
//!
//! [`start`] runs this node's `NodeServer` (cookie-authenticated sessions)
//! and its listener. [`SeedDialer`] keeps this node connected to its seed
//! nodes: it looks at the live sessions every second and dials every
//! address of every seed it has no session with (a Kubernetes headless
//! service name resolves to all its pods), so a peer that restarts is
//! rejoined without restarting anyone else (ractor_cluster does not
//! reconnect on its own).
//!
//! With `--cluster-tls-dir` (required off loopback) every connection is
//! mutual TLS with the cluster's private CA ([`tls`], [`certs`]), accepted
//! and dialed by [`transport`]; every frame a peer sends is checked against
//! what the role its certificate names may send ([`policy`], [`frames`]).
//! Without it, on loopback only, ractor_cluster's own plaintext listener
//! serves and only the cookie is checked.

pub mod certs;
pub mod frames;
pub mod policy;
pub mod tls;
pub mod transport;

use std::{collections::HashSet, net::IpAddr, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::{NodeServer, NodeServerMessage, RactorMessage};

use self::tls::ClusterTls;

/// The node's cluster TLS settings, from `--cluster-tls-dir`; a node
/// whose cluster listener is reachable from other hosts refuses to start
/// without them.
pub fn tls_for(args: &crate::cli::NodeArgs) -> anyhow::Result<Option<ClusterTls>> {
    match &args.cluster_tls_dir {
        Some(dir) => ClusterTls::load(dir, args.role.role())
            .map(Some)
            .map_err(|e| anyhow::anyhow!("cluster TLS ({}): {e}", dir.display())),
        None if args.cluster_bind.is_loopback() => Ok(None),
        None => anyhow::bail!(
            "refusing to listen on {} without cluster TLS: set KUKKA_CLUSTER_TLS_DIR (or --cluster-tls-dir) to this node's certificate directory",
            args.cluster_bind
        ),
    }
}

/// Starts the node server, listening on `bind:port`, over TLS when `tls`
/// is given.
pub async fn start(
    bind: IpAddr,
    port: u16,
    cookie: String,
    node_name: String,
    host: String,
    tls: Option<ClusterTls>,
) -> anyhow::Result<ActorRef<NodeServerMessage>> {
    let mode = Some(ractor_cluster::node::NodeConnectionMode::Isolated);
    let Some(tls) = tls else {
        let server = NodeServer::new(port, cookie, node_name, host, None, mode)
            .with_listen_addr(bind)
            .with_max_inbound_frame_size(transport::MAX_FRAME);
        let (actor, _handle) = Actor::spawn(Some("node-server".into()), server, ())
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the cluster listener: {e}"))?;
        return Ok(actor);
    };
    // ractor_cluster always runs a listener of its own: it gets a loopback
    // port that nobody can complete a handshake with. Peers come in
    // through `transport::serve`.
    let listener = tokio::net::TcpListener::bind((bind, port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind}:{port} for the cluster: {e}"))?;
    let server = NodeServer::new(
        0,
        cookie,
        node_name,
        host,
        Some(tls::unreachable_listener()?),
        mode,
    )
    .with_listen_addr(IpAddr::from([127, 0, 0, 1]))
    .with_max_inbound_frame_size(transport::MAX_FRAME);
    let (actor, _handle) = Actor::spawn(Some("node-server".into()), server, ())
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the cluster node server: {e}"))?;
    tokio::spawn(transport::serve(listener, actor.clone(), tls));
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
    /// TLS settings, when the cluster runs over TLS.
    pub tls: Option<ClusterTls>,
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
                let dialed = match &state.tls {
                    Some(tls) => transport::dial(&state.server, tls, *addr)
                        .await
                        .map(|role| role.to_string())
                        .map_err(|e| (e.is_unreachable(), e.to_string())),
                    None => ractor_cluster::client_connect(&state.server, *addr)
                        .await
                        .map(|()| "unknown".to_string())
                        .map_err(|e| (true, e.to_string())),
                };
                match dialed {
                    Ok(peer_role) => tracing::info!(%seed, %addr, %peer_role, "dialed seed"),
                    Err((true, error)) => {
                        tracing::debug!(%seed, %addr, %error, "seed not reachable; will retry")
                    }
                    Err((false, error)) => {
                        tracing::warn!(%seed, %addr, %error, "seed refused: TLS or its certificate failed; will retry")
                    }
                }
            }
        }
        Ok(())
    }
}
