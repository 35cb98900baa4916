//! `kukka up`: the whole system on one machine.
//!
//! Starts a private `redis-server` (unless `--redis-url` is given) and one
//! child process per role, each with its data under `--data-dir`. For every
//! child it writes `run/<name>.json` with at least `pid` and `adminAddr`
//! (Redis: `pid` and `url`) and rewrites it when the child is restarted.
//! A child that dies is restarted with backoff. SIGTERM or Ctrl-C stops the
//! children gracefully (edge first, Redis last) and removes the run files.

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

struct NodePlan {
    name: &'static str,
    role: &'static str,
    cluster_port: u16,
    admin_port: u16,
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
    let mut ports = ports::PortPool::avoiding(&[args.edge_port]);

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

    let plans = [
        NodePlan {
            name: "payment",
            role: "payment",
            cluster_port: ports.take()?,
            admin_port: ports.take()?,
        },
        NodePlan {
            name: "order",
            role: "order",
            cluster_port: ports.take()?,
            admin_port: ports.take()?,
        },
        NodePlan {
            name: "delivery",
            role: "delivery",
            cluster_port: ports.take()?,
            admin_port: ports.take()?,
        },
        NodePlan {
            name: "edge",
            role: "edge",
            cluster_port: ports.take()?,
            admin_port: ports.take()?,
        },
    ];
    // Every child's ports are chosen; let the children bind them.
    drop(ports);
    let addr_of = |role: &str| -> String {
        plans
            .iter()
            .find(|p| p.role == role)
            .map(|p| format!("127.0.0.1:{}", p.cluster_port))
            .unwrap_or_default()
    };
    for plan in &plans {
        let seeds: Vec<String> = match plan.role {
            "edge" => vec![addr_of("order"), addr_of("payment"), addr_of("delivery")],
            "order" => vec![addr_of("payment"), addr_of("delivery")],
            _ => Vec::new(),
        };
        let admin = format!("127.0.0.1:{}", plan.admin_port);
        let mut node_args: Vec<String> = vec![
            "node".into(),
            "--role".into(),
            plan.role.into(),
            "--instance".into(),
            plan.name.into(),
            "--cluster-bind".into(),
            "127.0.0.1".into(),
            "--cluster-host".into(),
            "127.0.0.1".into(),
            "--cluster-port".into(),
            plan.cluster_port.to_string(),
            "--admin-addr".into(),
            admin.clone(),
            "--http-addr".into(),
            format!(
                "127.0.0.1:{}",
                if plan.role == "edge" {
                    args.edge_port
                } else {
                    0
                }
            ),
            "--redis-url".into(),
            redis_url.clone(),
            "--data-dir".into(),
            dir.join(plan.name).to_string_lossy().into_owned(),
            "--log-format".into(),
            log_format.into(),
        ];
        if !seeds.is_empty() {
            node_args.push("--seed".into());
            node_args.push(seeds.join(","));
        }
        let mut node = Managed::new(
            plan.name,
            exe.clone(),
            node_args,
            vec![("KUKKA_OWNER_TOKEN".into(), owner_token.clone())],
            &dir,
            if plan.role == "edge" {
                json!({"adminAddr": admin, "httpAddr": format!("127.0.0.1:{}", args.edge_port), "clusterAddr": addr_of(plan.role), "role": plan.role})
            } else {
                json!({"adminAddr": admin, "clusterAddr": addr_of(plan.role), "role": plan.role})
            },
        );
        node.start()?;
        procs.push(node);
    }

    let edge_url = format!("http://127.0.0.1:{}", args.edge_port);
    tracing::info!(url = %edge_url, data_dir = %dir.display(), "kukka is starting");
    let edge_addr = format!("127.0.0.1:{}", args.edge_port);
    let ready = probe::wait_ready(&edge_addr, Duration::from_secs(60));
    tokio::pin!(ready);
    let stop = signals::terminate();
    tokio::pin!(stop);
    let mut announced = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
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

fn clean_run_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir.join("run")) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
