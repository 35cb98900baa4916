//! `kukka node`: one node of the cluster, and [`RunningNode`], a node's
//! actors and HTTP servers started and stopped in order (the in-process
//! system runs several of them in one process).
//!
//! Start-up: (cluster listener and seed dialer, for `kukka node`), role
//! storage, root supervisor with the role's actors, then the HTTP surfaces
//! (admin probes on every node; the public API too on an edge).
//!
//! Shutdown on SIGTERM/SIGINT ([`RunningNode::stop`]), each waiting step
//! bounded by the grace period:
//! 1. `/readyz` turns 503 and the supervisor stops restarting children;
//! 2. optionally wait `--drain-delay-ms` for load balancers to notice;
//! 3. the service actors leave their process groups (callers stop picking
//!    this node) and answer late messages with a clean "retry"; the
//!    requests in flight finish, and late messages already on the wire get
//!    their "retry" for a moment more;
//! 4. the outbox relay publishes what the outbox still holds, so a node
//!    that is being removed leaves no event behind;
//! 5. the HTTP servers stop accepting and finish their requests;
//! 6. the actors stop, sled is flushed, the node leaves the cluster; exit 0.
//!
//! If the supervisor escalates (a child crash-loops), the node exits 70 so
//! that its process supervisor restarts it.

use std::{net::SocketAddr, sync::atomic::Ordering, time::Duration};

use anyhow::Context;
use kukka_actors::runtime::{
    drain::leave_groups,
    groups::Namespace,
    relay::RelayHandle,
    supervisor::{child, ChildSpec, RestartPolicy, RootSupervisor, SupervisorArgs, SupervisorMsg},
};
use kukka_http_edge::{routes, server, EdgeState};
use kukka_storage::sled_store::SledStore;
use ractor::{Actor, ActorRef};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    cli::NodeArgs,
    cluster::{self, DialerArgs, SeedDialer},
    roles::{self, HttpSurface, NodeContext},
    signals,
};

/// How long a draining node keeps answering "retry" to late messages.
const LINGER: Duration = Duration::from_millis(250);

/// Exit code when the supervisor gave up.
pub const EXIT_ESCALATED: u8 = 70;

/// A node whose actors and HTTP servers run.
pub struct RunningNode {
    ctx: NodeContext,
    supervisor: ActorRef<SupervisorMsg>,
    supervisor_done: JoinHandle<()>,
    escalations: mpsc::UnboundedReceiver<String>,
    servers: Vec<JoinHandle<()>>,
    stop_http: tokio::sync::watch::Sender<bool>,
    store: Option<SledStore>,
    services: &'static [&'static str],
    edge: Option<EdgeState>,
    children: Vec<String>,
    /// The public API's address (edges only).
    pub http_addr: Option<SocketAddr>,
    /// The admin address (`/healthz`, `/readyz`, `/metrics`).
    pub admin_addr: SocketAddr,
}

impl RunningNode {
    /// Builds the node's role and starts its actors (after `extra`
    /// children, e.g. the cluster dialer) and HTTP servers.
    pub async fn start(ctx: NodeContext, extra: Vec<ChildSpec>) -> anyhow::Result<Self> {
        let role = ctx.args.role.as_str();
        let runtime = roles::build(&ctx).await?;
        let (escalate, escalations) = mpsc::unbounded_channel();
        let mut children = extra;
        children.extend(runtime.children);
        let names = children.iter().map(|c| c.short.clone()).collect();
        let (supervisor, supervisor_done) = Actor::spawn(
            Some(ctx.ns.name("root-supervisor")),
            RootSupervisor,
            SupervisorArgs {
                children,
                policy: RestartPolicy::default(),
                escalate,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("the {role} node failed to start: {e}"))?;

        let args = &ctx.args;
        let (mut surfaces, edge) = match runtime.http {
            HttpSurface::Public(state) => (
                vec![
                    (args.http_addr, routes::api(state.clone())),
                    (args.admin_addr, routes::health::edge_routes(state.clone())),
                ],
                Some(state),
            ),
            HttpSurface::Admin(check) => (
                vec![(args.admin_addr, routes::health::admin_routes(check))],
                None,
            ),
        };
        if ctx.faults.is_enabled() {
            tracing::warn!("test faults are enabled on the admin address");
            if let Some(admin) = surfaces.iter_mut().find(|(a, _)| *a == args.admin_addr) {
                admin.1 = crate::faults::with_fault_routes(
                    ctx.faults.clone(),
                    runtime.store.clone(),
                    admin.1.clone(),
                );
            }
        }
        let (stop_http, stop_http_rx) = tokio::sync::watch::channel(false);
        let gate = server::Gate::new(args.http_limits());
        let mut servers = Vec::new();
        let mut bound = Vec::new();
        for (addr, routes) in surfaces {
            let listener = server::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            tracing::info!(%role, addr = %local, "serving HTTP");
            bound.push(local);
            let mut stop = stop_http_rx.clone();
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let serving = server::serve(listener, routes, gate.clone(), stopped);
            servers.push(tokio::spawn(serving));
        }
        let (http_addr, admin_addr) = match bound.as_slice() {
            [public, admin] => (Some(*public), *admin),
            [admin] => (None, *admin),
            _ => anyhow::bail!("a node serves one or two HTTP addresses"),
        };
        Ok(Self {
            ctx,
            supervisor,
            supervisor_done,
            escalations,
            servers,
            stop_http,
            store: runtime.store,
            services: runtime.services,
            edge,
            children: names,
            http_addr,
            admin_addr,
        })
    }

    /// The node's namespace.
    pub fn ns(&self) -> &Namespace {
        &self.ctx.ns
    }

    /// The node's sled store (order and payment nodes).
    pub fn store(&self) -> Option<&SledStore> {
        self.store.as_ref()
    }

    /// The short names of the actors its supervisor keeps alive (see
    /// [`Namespace::name`]).
    pub fn children(&self) -> &[String] {
        &self.children
    }

    /// Waits until the node cannot go on: the supervisor gave up on a
    /// crash-looping child, or its store failed to flush (poisoned). The
    /// reason.
    pub async fn escalated(&mut self) -> String {
        let store_failed = async {
            match &self.store {
                Some(store) => store.committer().failed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            reason = self.escalations.recv() => {
                reason.unwrap_or_else(|| "the supervisor stopped".into())
            }
            reason = store_failed => reason,
        }
    }

    /// Stops the node gracefully (see the module docs).
    pub async fn stop(self) {
        let args = &self.ctx.args;
        let role = args.role.as_str();
        let grace = Duration::from_millis(args.shutdown_grace_ms);
        // 1. Readiness turns 503 at once; nothing is restarted any more.
        self.ctx.stopping.store(true, Ordering::SeqCst);
        if let Some(state) = &self.edge {
            state.start_draining();
        }
        let _ = ractor::call_t!(self.supervisor, SupervisorMsg::Shutdown, 1000);
        // 2. Give load balancers time to notice (Kubernetes endpoints).
        if args.drain_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.drain_delay_ms)).await;
        }
        // 3. Leave the process groups and let the requests in flight finish;
        //    late messages already on the wire still get a clean "retry".
        leave_groups(&self.ctx.ns, self.services);
        self.ctx.drain.start();
        if !self.ctx.drain.wait_idle(grace).await {
            tracing::warn!(
                in_flight = self.ctx.drain.in_flight(),
                "requests still in flight after the grace period"
            );
        }
        tokio::time::sleep(LINGER).await;
        // 4. Publish what the outbox still holds while Redis is reachable.
        if let Some(store) = &self.store {
            drain_outbox(store, &RelayHandle::of(&self.ctx.ns), grace).await;
        }
        // 5. Stop taking HTTP requests; finish those in flight.
        let _ = self.stop_http.send(true);
        let servers = async {
            for s in self.servers {
                let _ = s.await;
            }
        };
        if tokio::time::timeout(grace, servers).await.is_err() {
            tracing::warn!("in-flight requests did not finish within the grace period");
        }
        // 6. Stop the actors and flush sled.
        self.supervisor
            .stop_children_and_wait(None, Some(grace))
            .await;
        self.supervisor.stop(None);
        let _ = tokio::time::timeout(grace, self.supervisor_done).await;
        if let Some(store) = &self.store {
            if let Err(e) = store.flush_blocking() {
                tracing::error!(error = %e, "final flush failed");
            }
        }
        tracing::info!(%role, "stopped");
    }
}

/// Kicks the relay until the outbox is empty or `within` passes.
async fn drain_outbox(store: &SledStore, relay: &RelayHandle, within: Duration) {
    let Ok((outbox, _)) = store.tree(kukka_storage::outbox::OUTBOX_TREE) else {
        return;
    };
    let deadline = tokio::time::Instant::now() + within;
    while !outbox.is_empty() && tokio::time::Instant::now() < deadline {
        relay.kick();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !outbox.is_empty() {
        tracing::warn!(
            pending = outbox.len(),
            "stopping with unpublished events; they are published at the next start"
        );
    }
}

/// Runs a node until it is told to stop; returns the exit code.
pub async fn run(mut args: NodeArgs) -> anyhow::Result<u8> {
    args.resolve_shard().map_err(anyhow::Error::msg)?;
    crate::secrets::check(&args).map_err(anyhow::Error::msg)?;
    let role = args.role.as_str();
    let tls = cluster::tls_for(&args)?;
    let node_name = format!("{}-{}", args.instance(), std::process::id());
    let server = cluster::start(
        args.cluster_bind,
        args.cluster_port,
        args.cookie.clone(),
        node_name.clone(),
        args.cluster_host.clone(),
        tls.clone(),
    )
    .await?;
    let dialer = DialerArgs {
        server: server.clone(),
        seeds: args
            .seed
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect(),
        tls,
    };
    let cluster_port = args.cluster_port;
    let ctx = NodeContext::new(args, Namespace::CLUSTER_SCOPE)?;
    let dialer = child(&ctx.ns, "cluster-dialer", move || {
        (SeedDialer, dialer.clone())
    });
    let mut node = RunningNode::start(ctx, vec![dialer]).await?;
    tracing::info!(%role, node = %node_name, cluster_port, "node started");

    let code = tokio::select! {
        _ = signals::terminate() => {
            tracing::info!(%role, "shutting down");
            0
        }
        reason = node.escalated() => {
            tracing::error!(%role, %reason, "escalating: exiting so the process is restarted");
            EXIT_ESCALATED
        }
    };
    node.stop().await;
    server.stop(None);
    tracing::info!(%role, code, "exiting");
    Ok(code)
}
