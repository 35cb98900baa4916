//! The edge role: the public HTTP API (and web pages), plus a presence
//! actor in the edge process group so status pages can count edges.

use std::time::Duration;

use anyhow::Context;
use kukka_actors::{
    order::catalog::Catalog,
    runtime::{
        presence::{EdgePresence, EDGE_PRESENCE},
        supervisor::child,
    },
};
use kukka_http_edge::{EdgeSettings, EdgeState};

use super::{HttpSurface, NodeContext, RoleRuntime};

/// Builds the edge role.
pub async fn build(node: &NodeContext) -> anyhow::Result<RoleRuntime> {
    let args = &node.args;
    let catalog = match &args.catalog {
        Some(path) => Catalog::load(path).with_context(|| "the edge needs a valid catalog")?,
        None => Catalog::builtin(),
    };
    let token_secret = args.token_secret.clone().filter(|t| !t.is_empty());
    if token_secret.is_none() {
        tracing::warn!(
            "no KUKKA_TOKEN_SECRET: customer tokens of this edge are signed with a secret of this process; they die with it and no other edge accepts them"
        );
    }
    let mut redis =
        kukka_storage::redis_conn::connect(&args.redis.redis_url, Duration::from_secs(2)).await?;
    node.partitions.agree(&mut redis).await?;
    let settings = EdgeSettings {
        owner_token: args.owner_token.clone().filter(|t| !t.is_empty()),
        token_secret,
        token_secret_previous: args.token_secret_previous.clone().filter(|t| !t.is_empty()),
        catalog,
        order_shards: args.order_shards,
        auth_max_failures: args.auth_max_failures,
        client_ip_header: args
            .client_ip_header
            .clone()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty()),
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
