//! `kukka up --redis-cluster N`: a private Redis Cluster of N masters (and
//! `--redis-cluster-replicas R` replicas of each) instead of one Redis.
//!
//! Each node is a `redis-server --cluster-enabled yes` child named
//! `redis-<i>` (`run/redis-<i>.json`), with its data, `nodes.conf` and config
//! under `<dir>/redis-<i>/`, the same password as a single Redis
//! ([`super::redis::password`]) and the same durability (AOF, fsync on every
//! write). The first start creates the cluster with
//! `redis-cli --cluster create` (the password through `REDISCLI_AUTH`, never
//! on a command line); the nodes' ports are kept in
//! `<dir>/redis-cluster.json` so a later `kukka up` on the same dir finds the
//! same cluster. A node that dies is restarted like any child and rejoins
//! from its `nodes.conf`; while it is down its replica takes over. The
//! nodes are given to kukka as a comma-separated list of seeds, and
//! `<dir>/redis-cluster.json` (mode 0600) holds that list as its `url`.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;

use super::{
    ports::PortPool,
    process::{Launcher, Managed},
    redis::{self, write_private},
};

/// The shape of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Masters.
    pub masters: u32,
    /// Replicas of each master.
    pub replicas: u32,
}

impl Shape {
    fn nodes(self) -> u32 {
        self.masters * (1 + self.replicas)
    }
}

fn node_dir(data_dir: &Path, i: u32) -> PathBuf {
    data_dir.join(format!("redis-{i}"))
}

/// redis.conf of one cluster node: the single Redis's settings, in cluster
/// mode, with a short node timeout so a dead master's replica takes over
/// within seconds. A replica may take over however long it was cut off
/// (`cluster-replica-validity-factor 0`): what must survive a failover was
/// written with `WAIT` for a replica (`KUKKA_REDIS_WAIT_REPLICAS`), and
/// on a machine as busy as a laptop running everything, a replica's link
/// can look stale just when its master needs replacing.
fn config(port: u16, dir: &Path, password: &str) -> String {
    let mut c = redis::config(port, dir, password);
    c.push_str(&format!(
        "cluster-enabled yes\n\
         cluster-config-file nodes.conf\n\
         cluster-node-timeout 2000\n\
         cluster-replica-validity-factor 0\n\
         masterauth {}\n",
        quoted(password)
    ));
    c
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The ports of an existing cluster in this data dir, or new ones.
fn ports(data_dir: &Path, shape: Shape, pool: &mut PortPool) -> anyhow::Result<(Vec<u16>, bool)> {
    let file = data_dir.join("redis-cluster.json");
    if let Ok(text) = std::fs::read_to_string(&file) {
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not the cluster's description", file.display()))?;
        let ports: Vec<u16> = v["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_u64())
                    .map(|p| p as u16)
                    .collect()
            })
            .unwrap_or_default();
        if ports.len() != shape.nodes() as usize
            || v["masters"].as_u64() != Some(u64::from(shape.masters))
        {
            anyhow::bail!(
                "{} describes a cluster of another shape; use another --data-dir or remove it",
                file.display()
            );
        }
        return Ok((ports, true));
    }
    let ports = (0..shape.nodes())
        .map(|_| pool.take())
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((ports, false))
}

/// Starts the cluster's nodes, creates the cluster if it is new, and waits
/// until it serves every slot; returns the nodes and the seed list.
pub async fn start(
    data_dir: &Path,
    shape: Shape,
    pool: &mut PortPool,
    launcher: Arc<Launcher>,
) -> anyhow::Result<(Vec<Managed>, String)> {
    let password = {
        let dir = redis::dir(data_dir);
        std::fs::create_dir_all(&dir)?;
        redis::password(&dir)?
    };
    let (ports, existing) = ports(data_dir, shape, pool)?;
    let mut nodes = Vec::new();
    let mut urls = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let dir = node_dir(data_dir, i as u32);
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("redis.conf");
        write_private(&conf, config(*port, &dir, &password).as_bytes())
            .with_context(|| format!("cannot write {}", conf.display()))?;
        let url = redis::url(*port, &password);
        let mut node = Managed::new(
            &format!("redis-{i}"),
            0,
            "redis-server".into(),
            vec![conf.to_string_lossy().into_owned()],
            Vec::new(),
            data_dir,
            json!({"role": "redis", "url": url}),
            launcher.clone(),
        );
        pool.release(*port);
        node.start().await?;
        nodes.push(node);
        urls.push(url);
    }
    let seeds = urls.join(",");
    write_private(
        &data_dir.join("redis-cluster.json"),
        json!({"masters": shape.masters, "replicas": shape.replicas, "ports": ports, "url": seeds})
            .to_string()
            .as_bytes(),
    )?;
    for url in &urls {
        super::probe::wait_for_node(url, Duration::from_secs(15)).await?;
    }
    if !existing || !cluster_ok(&urls[0], urls.len()).await {
        create(&ports, shape, &password).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for url in &urls {
        while !cluster_ok(url, urls.len()).await {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the Redis Cluster did not come up within 30 s; see logs/redis-*.log"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tracing::info!(
        masters = shape.masters,
        replicas = shape.replicas,
        "redis cluster is up"
    );
    Ok((nodes, seeds))
}

/// `redis-cli --cluster create` over the nodes.
async fn create(ports: &[u16], shape: Shape, password: &str) -> anyhow::Result<()> {
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    args.extend(ports.iter().map(|p| format!("127.0.0.1:{p}")));
    args.extend([
        "--cluster-replicas".into(),
        shape.replicas.to_string(),
        "--cluster-yes".into(),
    ]);
    let out = tokio::process::Command::new("redis-cli")
        .args(&args)
        .env("REDISCLI_AUTH", password)
        .output()
        .await
        .context(
            "cannot run redis-cli (it comes with redis-server: apt-get install redis-tools)",
        )?;
    if !out.status.success() {
        anyhow::bail!(
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&out.stderr).lines())
                .filter(|l| l.contains("ERR") || l.contains("rror"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

/// Whether the node at `url` reports `cluster_state:ok` and knows all
/// `nodes` (every slot is served, and gossip has told it where: a client
/// that asks it for the slot map right after gets every address).
async fn cluster_ok(url: &str, nodes: usize) -> bool {
    let Ok(client) = ::redis::Client::open(url) else {
        return false;
    };
    let Ok(Ok(mut conn)) = tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    )
    .await
    else {
        return false;
    };
    ::redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async::<String>(&mut conn)
        .await
        .is_ok_and(|info| {
            let known = format!("cluster_known_nodes:{nodes}");
            let mut lines = info.lines().map(str::trim);
            lines.clone().any(|l| l == "cluster_state:ok") && lines.any(|l| l == known)
        })
}
