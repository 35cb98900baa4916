//! Which nodes `kukka up` runs, on which ports, seeded with whom.

use std::path::Path;

use serde_json::{json, Value};

/// One node process.
#[derive(Clone, Debug)]
pub struct NodePlan {
    /// Run-file name: `<role>` for replica 0, `<role>-<i>` after.
    pub name: String,
    /// Role.
    pub role: &'static str,
    /// Replica index (the shard of an order or payment node).
    pub index: u32,
    /// Cluster port.
    pub cluster_port: u16,
    /// Admin port.
    pub admin_port: u16,
    /// Public port (edges only).
    pub http_port: Option<u16>,
}

/// Start order: payment, order, delivery, then the edges.
pub const ROLES: [&str; 4] = ["payment", "order", "delivery", "edge"];

/// Who dials whom: the roles a role's nodes take as seeds.
pub fn seed_roles(role: &str) -> &'static [&'static str] {
    match role {
        "edge" => &["order", "payment", "delivery"],
        "order" => &["payment", "delivery"],
        _ => &[],
    }
}

/// Plans `replicas` nodes of each role. Edges listen on `edge_port` and the
/// ports after it, or on ports from `free_port` each when `edge_port` is 0.
pub fn plan(
    replicas: u32,
    edge_port: u16,
    mut free_port: impl FnMut() -> anyhow::Result<u16>,
) -> anyhow::Result<Vec<NodePlan>> {
    let mut plans = Vec::new();
    for role in ROLES {
        for index in 0..replicas {
            let name = if index == 0 {
                role.to_string()
            } else {
                format!("{role}-{index}")
            };
            let http_port = match (role, edge_port) {
                ("edge", 0) => Some(free_port()?),
                ("edge", first) => Some(first.saturating_add(index as u16)),
                _ => None,
            };
            plans.push(NodePlan {
                name,
                role,
                index,
                cluster_port: free_port()?,
                admin_port: free_port()?,
                http_port,
            });
        }
    }
    Ok(plans)
}

/// How many cluster sessions a node has once fully joined: one per node it
/// dials plus one per node that dials it.
pub fn expected_sessions(node: &NodePlan, all: &[NodePlan]) -> usize {
    all.iter()
        .filter(|o| {
            seed_roles(node.role).contains(&o.role) || seed_roles(o.role).contains(&node.role)
        })
        .count()
}

impl NodePlan {
    /// `127.0.0.1:<cluster port>`.
    pub fn cluster_addr(&self) -> String {
        format!("127.0.0.1:{}", self.cluster_port)
    }

    /// Every port it listens on.
    pub fn ports(&self) -> Vec<u16> {
        [
            Some(self.cluster_port),
            Some(self.admin_port),
            self.http_port,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `127.0.0.1:<public port>` of an edge.
    pub fn http_addr(&self) -> Option<String> {
        self.http_port.map(|p| format!("127.0.0.1:{p}"))
    }

    /// `127.0.0.1:<admin port>`.
    pub fn admin_addr(&self) -> String {
        format!("127.0.0.1:{}", self.admin_port)
    }

    /// What `run/<name>.json` says besides the pid.
    pub fn run_info(&self) -> Value {
        let mut v = json!({
            "role": self.role,
            "adminAddr": self.admin_addr(),
            "clusterAddr": self.cluster_addr(),
            "shard": self.index,
        });
        if let Some(addr) = self.http_addr() {
            v["httpAddr"] = json!(addr);
        }
        v
    }

    /// The `kukka node` command line.
    /// (Secrets, like the Redis URL and the owner token, go in the
    /// environment instead, where `ps` does not show them.)
    pub fn args(&self, all: &[NodePlan], dir: &Path, log_format: &str) -> Vec<String> {
        let seeds: Vec<String> = all
            .iter()
            .filter(|o| seed_roles(self.role).contains(&o.role))
            .map(NodePlan::cluster_addr)
            .collect();
        let mut args: Vec<String> = [
            "node",
            "--role",
            self.role,
            "--instance",
            &self.name,
            "--shard",
            &self.index.to_string(),
            "--cluster-bind",
            "127.0.0.1",
            "--cluster-host",
            "127.0.0.1",
            "--cluster-port",
            &self.cluster_port.to_string(),
            "--admin-addr",
            &self.admin_addr(),
            "--http-addr",
            &format!("127.0.0.1:{}", self.http_port.unwrap_or(0)),
            "--data-dir",
            &dir.join(&self.name).to_string_lossy(),
            "--log-format",
            log_format,
            "--order-shards",
            &all.iter()
                .filter(|o| o.role == "order")
                .count()
                .max(1)
                .to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !seeds.is_empty() {
            args.push("--seed".into());
            args.push(seeds.join(","));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_become_shards_and_consecutive_edge_ports() {
        let mut next = 20000u16;
        let plans = plan(2, 8088, || {
            next += 1;
            Ok(next)
        })
        .expect("plan");
        assert_eq!(plans.len(), 8);
        let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "payment",
                "payment-1",
                "order",
                "order-1",
                "delivery",
                "delivery-1",
                "edge",
                "edge-1"
            ]
        );
        let edges: Vec<Option<u16>> = plans
            .iter()
            .filter(|p| p.role == "edge")
            .map(|p| p.http_port)
            .collect();
        assert_eq!(edges, [Some(8088), Some(8089)]);
        let order1 = &plans[3];
        let args = order1.args(&plans, Path::new("/d"), "text");
        let seed = &args[args.iter().position(|a| a == "--seed").expect("seeds") + 1];
        assert_eq!(
            seed.split(',').count(),
            4,
            "both payments and both deliveries: {seed}"
        );
        assert!(args.windows(2).any(|w| w[0] == "--shard" && w[1] == "1"));
        // order-1: dials 2 payments + 2 deliveries, dialled by 2 edges.
        assert_eq!(expected_sessions(order1, &plans), 6);
        // payment: dialled by 2 orders and 2 edges.
        assert_eq!(expected_sessions(&plans[0], &plans), 4);
    }

    #[test]
    fn edge_port_zero_gives_every_edge_a_port_of_its_own() {
        let mut next = 30000u16;
        let plans = plan(3, 0, || {
            next += 1;
            Ok(next)
        })
        .expect("plan");
        let edges: Vec<&NodePlan> = plans.iter().filter(|p| p.role == "edge").collect();
        assert_eq!(edges.len(), 3);
        let mut ports: Vec<u16> = plans.iter().flat_map(NodePlan::ports).collect();
        let all = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), all, "no port used twice");
        for e in edges {
            let port = e.http_port.expect("edge port");
            assert!(port > 30000, "from the pool: {port}");
            assert_eq!(e.run_info()["httpAddr"], format!("127.0.0.1:{port}"));
        }
    }
}
