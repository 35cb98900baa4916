//! The whole system inside one process: every role's actors and the edge's
//! HTTP server, on port 0, with sled under a directory of the caller's and
//! a Redis the caller runs. Tests use it for what needs no separate
//! processes (the HTTP contract, who may do what, pagination, idempotency,
//! the bulkhead, supervision), as zero-to-production's `spawn_app` does:
//! it starts in milliseconds instead of seconds.
//!
//! Each role runs as a [`RunningNode`] with its own namespace in a scope of
//! its own, so several systems can run side by side in one test binary
//! without seeing each other's process groups or actor names. There is no
//! cluster listener: the nodes find each other through the process groups
//! of the shared scope, as remote nodes do through ractor_cluster.

use std::{
    net::SocketAddr,
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use clap::Parser;

use crate::{
    cli::{Cli, Command, NodeArgs},
    node::RunningNode,
    roles::NodeContext,
};

/// A running in-process system.
pub struct InProcessSystem {
    nodes: Vec<RunningNode>,
    /// The edge's public address.
    pub edge_addr: SocketAddr,
    /// The process-group scope of this system.
    pub scope: String,
}

fn unique_scope() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "kukka-in-process-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The flags of role `role` in an in-process system.
fn node_args(
    role: &str,
    data_dir: &Path,
    redis_url: &str,
    extra: &[&str],
) -> anyhow::Result<NodeArgs> {
    let dir = data_dir.join(role);
    let mut argv: Vec<String> = [
        "kukka",
        "node",
        "--role",
        role,
        "--instance",
        &format!("{role}-0"),
        "--admin-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
        "--redis-url",
        redis_url,
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.push(dir.to_string_lossy().into_owned());
    argv.extend(extra.iter().map(|s| s.to_string()));
    match Cli::try_parse_from(argv)?.command {
        Command::Node(args) => Ok(*args),
        _ => anyhow::bail!("not a node command"),
    }
}

impl InProcessSystem {
    /// Starts payment, order, delivery and edge in this process. `extra`
    /// flags (e.g. `--owner-token T`, `--payment-max-concurrent 2`) go to
    /// every role.
    pub async fn start(redis_url: &str, data_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_urls(&|_| redis_url.to_string(), data_dir, extra).await
    }

    /// Like [`Self::start`], with each role's Redis URL from `redis_url`
    /// (given the role's name), e.g. each role as its own Redis user.
    pub async fn start_with_urls(
        redis_url: &(dyn Fn(&str) -> String + Sync),
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let scope = unique_scope();
        let mut nodes = Vec::new();
        for role in ["payment", "order", "delivery", "edge"] {
            let url = redis_url(role);
            let ctx = NodeContext::new(node_args(role, data_dir, &url, extra)?, &scope)?;
            nodes.push(RunningNode::start(ctx, Vec::new()).await?);
        }
        let edge_addr = nodes
            .iter()
            .find_map(|n| n.http_addr)
            .ok_or_else(|| anyhow::anyhow!("the edge serves no public address"))?;
        Ok(Self {
            nodes,
            edge_addr,
            scope,
        })
    }

    /// The running node of `role`.
    pub fn node(&self, role: &str) -> Option<&RunningNode> {
        self.nodes
            .iter()
            .find(|n| n.ns().instance() == format!("{role}-0"))
    }

    /// Stops the node of `role` gracefully (it is not restarted: the rest
    /// of the system runs on without it); `false` if there is none.
    pub async fn stop_node(&mut self, role: &str) -> bool {
        let instance = format!("{role}-0");
        match self
            .nodes
            .iter()
            .position(|n| n.ns().instance() == instance)
        {
            Some(i) => {
                self.nodes.remove(i).stop().await;
                true
            }
            None => false,
        }
    }

    /// Stops every node gracefully, edge first.
    pub async fn stop(self) {
        for node in self.nodes.into_iter().rev() {
            node.stop().await;
        }
    }
}
