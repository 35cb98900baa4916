//! `kukka node`: one node of the cluster.
//!
//! Start-up: cluster listener, role storage, root supervisor with the seed
//! dialer and the role's actors, then the HTTP surfaces (admin probes on
//! every node; the public API too on an edge).
//!
//! Shutdown on SIGTERM/SIGINT, each step bounded by the grace period:
//! 1. `/readyz` turns 503 and the supervisor stops restarting children;
//! 2. optionally wait `--drain-delay-ms` for load balancers to notice;
//! 3. the service actors leave their process groups (callers stop picking
//!    this node), answer late messages with a clean "retry", and the requests
//!    in flight finish;
//! 4. the HTTP servers stop accepting and finish their requests;
//! 5. the actors stop, sled is flushed, the node leaves the cluster; exit 0.
//!
//! If the supervisor escalates (a child crash-loops), the node exits 70 so
//! that its process supervisor restarts it.

use std::{
    net::IpAddr,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use anyhow::Context;
use kukka_actors::service_actors::{drain, in_flight, wait_idle};
use kukka_actors::supervisor::{
    child, RestartPolicy, RootSupervisor, SupervisorArgs, SupervisorMsg,
};
use kukka_http_edge::{routes, server};
use ractor::Actor;

use crate::{
    cli::{NodeArgs, DEFAULT_COOKIE},
    cluster::{self, DialerArgs, SeedDialer},
    roles::{self, HttpSurface},
    signals,
};

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// Kicks the relay until the outbox is empty or `within` passes.
async fn drain_outbox(store: &kukka_storage::sled_store::SledStore, within: Duration) {
    let Ok(outbox) = store.tree(kukka_storage::outbox::OUTBOX_TREE) else {
        return;
    };
    let deadline = tokio::time::Instant::now() + within;
    while !outbox.is_empty() && tokio::time::Instant::now() < deadline {
        kukka_actors::relay::kick();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !outbox.is_empty() {
        tracing::warn!(
            pending = outbox.len(),
            "stopping with unpublished events; they are published at the next start"
        );
    }
}

/// How long a draining node keeps answering "retry" to late messages.
const LINGER: Duration = Duration::from_millis(250);

/// Exit code when the supervisor gave up.
pub const EXIT_ESCALATED: u8 = 70;

fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// Runs a node until it is told to stop; returns the exit code.
pub async fn run(mut args: NodeArgs) -> anyhow::Result<u8> {
    args.resolve_shard().map_err(anyhow::Error::msg)?;
    if args.cookie == DEFAULT_COOKIE && !is_local(args.cluster_bind) {
        anyhow::bail!(
            "refusing to listen on {} with the default cluster cookie: set KUKKA_COOKIE (or --cookie) to a secret shared by the cluster",
            args.cluster_bind
        );
    }
    let role = args.role.as_str();
    let node_name = format!("{}-{}", args.instance(), std::process::id());
    let server = cluster::start(
        args.cluster_bind,
        args.cluster_port,
        args.cookie.clone(),
        node_name.clone(),
        args.cluster_host.clone(),
    )
    .await?;
    let draining = Arc::new(AtomicBool::new(false));
    let runtime = roles::build(&args, draining.clone()).await?;

    let (escalate_tx, mut escalate_rx) = tokio::sync::mpsc::unbounded_channel();
    let dialer = DialerArgs {
        server: server.clone(),
        seeds: args
            .seed
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect(),
    };
    let mut children = vec![child("cluster-dialer", move || {
        (SeedDialer, dialer.clone())
    })];
    children.extend(runtime.children);
    let (supervisor, supervisor_handle) = Actor::spawn(
        Some("root-supervisor".into()),
        RootSupervisor,
        SupervisorArgs {
            children,
            policy: RestartPolicy::default(),
            escalate: escalate_tx,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("the {role} node failed to start: {e}"))?;

    // Every node serves its probes on the admin address; the edge also
    // serves the public API (which includes the probes) on its HTTP address.
    let (surfaces, edge) = match runtime.http {
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
    let surfaces = if args.enable_test_faults {
        kukka_actors::faults::enable();
        tracing::warn!("test faults are enabled on the admin address");
        let mut s = surfaces;
        if let Some(admin) = s.iter_mut().find(|(a, _)| *a == args.admin_addr) {
            admin.1 = crate::faults::with_fault_routes(admin.1.clone());
        }
        s
    } else {
        surfaces
    };
    let (stop_http, stop_http_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    for (addr, routes) in surfaces {
        let listener = server::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%role, addr = %listener.local_addr()?, "serving HTTP");
        let mut stop = stop_http_rx.clone();
        servers.push(tokio::spawn(server::serve(listener, routes, async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    }
    tracing::info!(%role, node = %node_name, cluster_port = args.cluster_port, "node started");

    let code = tokio::select! {
        _ = signals::terminate() => {
            tracing::info!(%role, "shutting down");
            0
        }
        reason = escalate_rx.recv() => {
            tracing::error!(%role, reason = reason.as_deref().unwrap_or("supervisor stopped"), "escalating: exiting so the process is restarted");
            EXIT_ESCALATED
        }
    };
    let grace = Duration::from_millis(args.shutdown_grace_ms);
    // 1. Readiness turns 503 at once; nothing is restarted any more.
    draining.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(state) = &edge {
        state.start_draining();
    }
    let _ = ractor::call_t!(supervisor, SupervisorMsg::Shutdown, 1000);
    // 2. Give load balancers time to notice (Kubernetes endpoints).
    if args.drain_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(args.drain_delay_ms)).await;
    }
    // 3. Leave the process groups (no new cluster requests are routed here)
    //    and let the requests in flight finish.
    drain();
    if !wait_idle(grace).await {
        tracing::warn!(
            in_flight = in_flight(),
            "requests still in flight after the grace period"
        );
    }
    // Messages already on the wire when the groups changed still get a
    // clean "retry" answer for a moment before the actors stop.
    tokio::time::sleep(LINGER).await;
    // Publish what the outbox still holds while Redis is reachable, so a
    // shard that is being removed leaves no event behind.
    if let Some(store) = &runtime.store {
        drain_outbox(store, grace).await;
    }
    // 4. Stop taking HTTP requests; finish those in flight.
    let _ = stop_http.send(true);
    if tokio::time::timeout(grace, futures_join(servers))
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    // 5. Stop the actors, flush sled, leave the cluster.
    supervisor.stop_children_and_wait(None, Some(grace)).await;
    supervisor.stop(None);
    let _ = tokio::time::timeout(grace, supervisor_handle).await;
    if let Some(store) = &runtime.store {
        if let Err(e) = store.flush_blocking() {
            tracing::error!(error = %e, "final flush failed");
        }
    }
    server.stop(None);
    tracing::info!(%role, code, "stopped");
    Ok(code)
}
