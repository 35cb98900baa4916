//! The edge role: the public HTTP API (and web pages), plus a presence
//! actor in the edge process group so status pages can count edges.

use std::time::Duration;

use kukka_actors::runtime::{
    presence::{EdgePresence, EDGE_PRESENCE},
    supervisor::child,
};
use kukka_http_edge::{EdgeSettings, EdgeState};

use super::{HttpSurface, NodeContext, RoleRuntime};

/// Builds the edge role.
pub async fn build(node: &NodeContext) -> anyhow::Result<RoleRuntime> {
    let args = &node.args;
    let mut redis =
        kukka_storage::redis_conn::connect(&args.redis_url, Duration::from_secs(2)).await?;
    node.partitions.agree(&mut redis).await?;
    let settings = EdgeSettings {
        owner_token: args.owner_token.clone().filter(|t| !t.is_empty()),
        body_limit: args.body_limit_bytes,
        call_timeout: Duration::from_millis(args.call_timeout_ms),
    };
    let state = EdgeState::new(settings, redis, node.ns.clone(), node.partitions);
    let ns = node.ns.clone();
    Ok(RoleRuntime {
        children: vec![child(&node.ns, EDGE_PRESENCE, move || {
            (EdgePresence, ns.clone())
        })],
        http: HttpSurface::Public(state),
        store: None,
        services: &[],
    })
}
