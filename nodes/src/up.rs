//! `kukka up`: the whole system on one machine, run the way a process
//! manager runs things.
//!
//! - Takes the data dir's lock first ([`lock`]): a second `kukka up` on the
//!   same dir says who holds it and exits 1, starting nothing.
//! - Starts a private `redis-server` (unless `--redis-url` is given) with a
//!   password kept in the data dir ([`redis`]), and one child process per
//!   role, each with its data under `--data-dir`. The nodes talk over
//!   mutual TLS with certificates of a private CA made at every start
//!   ([`tls`]).
//! - Every child dies with `kukka up`, even when it is killed with SIGKILL
//!   ([`child`], [`spawner`]).
//! - For every child it writes `run/<name>.json` (mode 0600) with `pid`,
//!   `restarts` and `adminAddr` (Redis: `pid` and `url`), and rewrites it
//!   when the child is restarted. A child that dies is restarted with
//!   backoff.
//! - Children's output goes to `logs/<name>.log` and, unless `--quiet`, to
//!   stdout behind each child's name ([`output`]).
//! - The edges sign customer tokens with a secret kept in the data dir
//!   ([`token_secret`]), so tokens survive restarts.
//! - `--replicas N` runs N of each role (order and payment as shards 0..N,
//!   edges on consecutive ports, or each on a free port with
//!   `--edge-port 0`). It prints `kukka is ready at <url>` once the first
//!   edge answers `/readyz?scope=cluster` on its admin address (every role
//!   joined).
//! - SIGHUP performs a rolling restart of every node, one at a time. SIGTERM
//!   or Ctrl-C stops the children gracefully (edges first, Redis last) and
//!   removes the run files.
//!
//! `kukka status` ([`crate::status`]) reads the run files back.

pub mod child;
pub mod lock;
pub mod output;
pub mod plan;
pub mod ports;
pub mod probe;
pub mod process;
pub mod redis;
pub mod redis_cluster;
pub mod spawner;
pub mod tls;
pub mod token_secret;

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;

use crate::{cli::UpArgs, signals};
use process::{Launcher, Managed};

/// Default owner token of a local system.
pub const LOCAL_OWNER_TOKEN: &str = "owner-secret";

/// Runs the system until SIGTERM/SIGINT. Exits 1 at once, starting
/// nothing, when another `kukka up` holds the data dir.
pub async fn run(args: UpArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let dir = std::fs::canonicalize(&args.data_dir)?;
    // Held until this function returns (or the process dies).
    let _lock = match lock::acquire(&dir) {
        Ok(lock) => lock,
        Err(e @ lock::LockError::Held { .. }) => {
            eprintln!(
                "kukka up: {e}; stop that one first (`kukka status --data-dir {}` shows it) or choose another --data-dir",
                dir.display()
            );
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    for sub in ["run", "logs"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    // Left behind by a `kukka up` that was killed; nothing else uses them.
    clean_run_dir(&dir);
    let exe = std::env::current_exe().context("cannot find the kukka executable")?;
    let owner_token = args
        .owner_token
        .clone()
        .unwrap_or_else(|| LOCAL_OWNER_TOKEN.to_string());
    let token_secret = match &args.token_secret {
        Some(s) => s.clone(),
        None => token_secret::token_secret(&dir)?,
    };
    let log_format = match args.log_format {
        crate::telemetry::LogFormat::Text => "text",
        crate::telemetry::LogFormat::Json => "json",
    };
    let replicas = args.replicas.max(1);
    // Fixed edge ports (`--edge-port P`: P, P+1, ...) are only avoided, not
    // held: an edge that finds its port taken is restarted with backoff
    // until the port is free, as before `--edge-port 0` existed.
    let fixed_edge_ports: Vec<u16> = match args.edge_port {
        0 => Vec::new(),
        first => (0..replicas as u16)
            .map(|i| first.saturating_add(i))
            .collect(),
    };
    let mut ports = ports::PortPool::avoiding(&fixed_edge_ports);
    let plans = plan::plan(replicas, args.edge_port, || ports.take())?;
    tls::issue(&dir, &plans).context("cannot make the cluster's certificates")?;
    let own_redis = args.redis_url.is_none();
    let cluster = (args.redis_cluster > 0).then_some(redis_cluster::Shape {
        masters: args.redis_cluster,
        replicas: args.redis_cluster_replicas,
    });
    let cluster_names: Vec<String> = cluster
        .map(|c| {
            (0..c.masters * (1 + c.replicas))
                .map(|i| format!("redis-{i}"))
                .collect()
        })
        .unwrap_or_default();
    let mut names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    match (own_redis, cluster) {
        (true, None) => names.push("redis"),
        (true, Some(_)) => names.extend(cluster_names.iter().map(String::as_str)),
        (false, _) => {}
    }
    let launcher = Arc::new(Launcher {
        kukka: exe.clone(),
        spawner: spawner::Spawner::start()?,
        output: output::Output::new(&dir.join("logs"), &names, args.quiet)?,
    });
    let mut procs: Vec<Managed> = Vec::new();

    let redis_url = match (&args.redis_url, cluster) {
        (Some(url), _) => url.clone(),
        (None, None) => {
            let (redis, url) = redis::start(&dir, &mut ports, launcher.clone()).await?;
            procs.push(redis);
            url
        }
        (None, Some(shape)) => {
            let (nodes, seeds) =
                redis_cluster::start(&dir, shape, &mut ports, launcher.clone()).await?;
            procs.extend(nodes);
            seeds
        }
    };

    let mut node_env: Vec<(String, String)> = vec![
        ("KUKKA_OWNER_TOKEN".into(), owner_token.clone()),
        ("KUKKA_REDIS_URL".into(), redis_url.clone()),
    ];
    // With replicas in our own cluster, a write that must survive a
    // failover waits for one of them.
    if cluster.is_some_and(|c| c.replicas > 0) {
        node_env.push(("KUKKA_REDIS_WAIT_REPLICAS".into(), "1".into()));
    }
    for (i, node) in plans.iter().enumerate() {
        let mut env = node_env.clone();
        env.push((
            "KUKKA_CLUSTER_TLS_DIR".to_string(),
            tls::node_dir(&dir, &node.name)
                .to_string_lossy()
                .into_owned(),
        ));
        if node.role == "edge" {
            env.push(("KUKKA_TOKEN_SECRET".into(), token_secret.clone()));
        }
        let mut m = Managed::new(
            &node.name,
            i + 1,
            exe.clone(),
            node.args(&plans, &dir, log_format),
            env,
            &dir,
            node.run_info(),
            launcher.clone(),
        )
        .with_readiness(node.admin_addr(), plan::expected_sessions(node, &plans))
        .with_niceness(if node.role == "delivery" {
            0
        } else {
            args.write_side_nice
        });
        // Its ports were held so nobody took them; let it bind them now.
        for port in node.ports() {
            ports.release(port);
        }
        m.start().await?;
        procs.push(m);
    }
    drop(ports);

    let edges: Vec<String> = plans
        .iter()
        .filter_map(|p| p.http_addr())
        .map(|a| format!("http://{a}"))
        .collect();
    let edge_url = edges.first().cloned().unwrap_or_default();
    // The first edge's admin address, where it says whether every role is
    // joined (its public port serves the API only).
    let edge_admin = plans
        .iter()
        .find(|p| p.http_addr().is_some())
        .map(|p| p.admin_addr())
        .unwrap_or_default();
    tracing::info!(url = %edge_url, data_dir = %dir.display(), "kukka is starting");
    let ready = probe::wait_ready(&edge_admin, Duration::from_secs(60));
    tokio::pin!(ready);
    let stop = signals::terminate();
    tokio::pin!(stop);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut announced = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = hangup.recv() => rolling_restart(&mut procs).await,
            ok = &mut ready, if !announced => {
                announced = true;
                if ok {
                    let token = match &args.owner_token {
                        None => format!("owner token `{LOCAL_OWNER_TOKEN}`"),
                        Some(_) => "owner token from KUKKA_OWNER_TOKEN".to_string(),
                    };
                    let mut lines = vec![format!("kukka is ready at {edge_url} ({token})")];
                    if edges.len() > 1 {
                        lines.push(format!("more edges at {}", edges[1..].join(" ")));
                    }
                    launcher.output.say(&lines);
                    tracing::info!(url = %edge_url, "kukka is ready");
                } else {
                    tracing::warn!(url = %edge_url, logs = %dir.join("logs").display(), "kukka is not ready after 60 s; see the logs");
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                for p in procs.iter_mut() {
                    p.supervise().await;
                }
            }
        }
    }
    tracing::info!("stopping");
    for p in procs.iter_mut().rev() {
        p.stop(Duration::from_secs(15)).await;
    }
    clean_run_dir(&dir);
    // Only now may the spawner thread end (see `spawner`).
    drop(procs);
    drop(launcher);
    Ok(0)
}

/// Restarts every node, one at a time, each replacement ready and rejoined
/// before the next goes (Redis is left alone), as a Kubernetes rolling
/// update would.
async fn rolling_restart(procs: &mut [Managed]) {
    tracing::info!("rolling restart: begin");
    for i in 0..procs.len() {
        if !procs[i].is_node() {
            continue;
        }
        if let Err(e) = procs[i].replace(Duration::from_secs(15)).await {
            tracing::error!(error = %e, "rolling restart: cannot start a replacement");
            continue;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !procs[i].is_ready().await {
            if std::time::Instant::now() > deadline {
                tracing::error!(
                    child = procs[i].name(),
                    "rolling restart: replacement not ready; going on"
                );
                break;
            }
            for p in procs.iter_mut() {
                p.supervise().await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tracing::info!("rolling restart: done");
}

fn clean_run_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir.join("run")) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
