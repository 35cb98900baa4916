//! `kukka up`: the whole system on one machine.
//!
//! Starts a private `redis-server` (unless `--redis-url` is given) and one
//! child process per role, each with its data under `--data-dir`. For every
//! child it writes `run/<name>.json` with at least `pid` and `adminAddr`
//! (Redis: `pid` and `url`) and rewrites it when the child is restarted.
//! A child that dies is restarted with backoff. `--replicas N` runs N of each
//! role (order and payment as shards 0..N, edges on consecutive ports).
//! SIGHUP performs a rolling restart of every node, one at a time. SIGTERM
//! or Ctrl-C stops the children gracefully (edges first, Redis last) and
//! removes the run files.

pub mod plan;
pub mod ports;
pub mod probe;
pub mod process;

use std::{path::Path, time::Duration};

use anyhow::Context;
use serde_json::json;

use crate::{cli::UpArgs, signals};
use process::Managed;

/// Default owner token of a local system.
pub const LOCAL_OWNER_TOKEN: &str = "owner-secret";

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false)
}

/// Runs the system until SIGTERM/SIGINT.
pub async fn run(args: UpArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let dir = std::fs::canonicalize(&args.data_dir)?;
    for sub in ["run", "logs"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let exe = std::env::current_exe().context("cannot find the kukka executable")?;
    let owner_token = args
        .owner_token
        .clone()
        .unwrap_or_else(|| LOCAL_OWNER_TOKEN.to_string());
    let log_format = match args.log_format {
        crate::telemetry::LogFormat::Text => "text",
        crate::telemetry::LogFormat::Json => "json",
    };
    let mut procs: Vec<Managed> = Vec::new();
    let edge_ports: Vec<u16> = (0..args.replicas.max(1) as u16)
        .map(|i| args.edge_port.saturating_add(i))
        .collect();
    let mut ports = ports::PortPool::avoiding(&edge_ports);

    let redis_url = match &args.redis_url {
        Some(url) => url.clone(),
        None => {
            if !on_path("redis-server") {
                anyhow::bail!(
                    "redis-server is not on the PATH. Install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`) or pass --redis-url"
                );
            }
            let port = ports.take()?;
            let redis_dir = dir.join("redis");
            std::fs::create_dir_all(&redis_dir)?;
            let url = format!("redis://127.0.0.1:{port}");
            let mut redis = Managed::new(
                "redis",
                "redis-server".into(),
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    &redis_dir.to_string_lossy(),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                    "--protected-mode",
                    "yes",
                    "--daemonize",
                    "no",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                Vec::new(),
                &dir,
                json!({"url": url}),
            );
            ports.release(port);
            redis.start()?;
            procs.push(redis);
            probe::wait_for_redis(&url, Duration::from_secs(15)).await?;
            url
        }
    };

    let plans = plan::plan(args.replicas.max(1), args.edge_port, || ports.take())?;
    // Every child's ports are chosen; let the children bind them.
    drop(ports);
    for node in &plans {
        let mut m = Managed::new(
            &node.name,
            exe.clone(),
            node.args(&plans, &dir, log_format),
            vec![
                ("KUKKA_OWNER_TOKEN".into(), owner_token.clone()),
                ("KUKKA_REDIS_URL".into(), redis_url.clone()),
            ],
            &dir,
            node.run_info(),
        )
        .with_readiness(node.admin_addr(), plan::expected_sessions(node, &plans));
        m.start()?;
        procs.push(m);
    }

    let edge_url = format!("http://127.0.0.1:{}", args.edge_port);
    tracing::info!(url = %edge_url, data_dir = %dir.display(), "kukka is starting");
    let edge_addr = format!("127.0.0.1:{}", args.edge_port);
    let ready = probe::wait_ready(&edge_addr, Duration::from_secs(60));
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
                    tracing::info!(url = %edge_url, "kukka is ready (owner token in KUKKA_OWNER_TOKEN, default `{LOCAL_OWNER_TOKEN}`)");
                } else {
                    tracing::warn!(url = %edge_url, logs = %dir.join("logs").display(), "kukka is not ready after 60 s; see the logs");
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                for p in procs.iter_mut() {
                    p.supervise();
                }
            }
        }
    }
    tracing::info!("stopping");
    for p in procs.iter_mut().rev() {
        p.stop(Duration::from_secs(15)).await;
    }
    clean_run_dir(&dir);
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
        procs[i].stop(Duration::from_secs(15)).await;
        if let Err(e) = procs[i].start() {
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
                p.supervise();
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
