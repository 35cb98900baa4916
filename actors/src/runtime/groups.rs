//! Finding actors: process groups and registered names, scoped per system.
//!
//! Remote actors are not in ractor's name registry; service actors join
//! process groups and callers look members up on every call instead of
//! caching refs, because a restarted peer's old refs are dead.
//!
//! A [`Namespace`] keeps one system's actors apart from another's in the
//! same process (tests build whole systems in-process): process groups live
//! in the namespace's ractor `pg` scope (ractor_cluster synchronises scoped
//! groups between nodes), and registered names carry the scope and the
//! node's instance name. A deployed cluster uses the scope
//! [`Namespace::CLUSTER_SCOPE`].

use std::sync::atomic::{AtomicUsize, Ordering};

use ractor::{ActorCell, ActorRef, Message};

/// Process group of every order shard's actor.
pub const ORDER_SHARDS: &str = "order";
/// Process group of every payment shard's actor.
pub const PAYMENT_SHARDS: &str = "payment";
/// Process group of every delivery node's desk actor.
pub const DELIVERY_DESKS: &str = "delivery";
/// Process group of every edge's presence actor (for status pages).
pub const EDGES: &str = "edge";

/// The process group of order shard `shard` alone.
pub fn order_shard(shard: u32) -> String {
    format!("{ORDER_SHARDS}.{shard}")
}

/// The process group of payment shard `shard` alone.
pub fn payment_shard(shard: u32) -> String {
    format!("{PAYMENT_SHARDS}.{shard}")
}

/// The shard number of a per-shard group name of `role` (`order.3` → 3).
pub fn shard_of_group(role: &str, group: &str) -> Option<u32> {
    group.strip_prefix(role)?.strip_prefix('.')?.parse().ok()
}

static ROUND_ROBIN: AtomicUsize = AtomicUsize::new(0);

/// One system's process-group scope and one node's registered-name prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    scope: String,
    instance: String,
}

impl Namespace {
    /// The scope of a deployed cluster.
    pub const CLUSTER_SCOPE: &'static str = "kukka";

    /// Node `instance` of the deployed cluster.
    pub fn cluster(instance: &str) -> Self {
        Self::new(Self::CLUSTER_SCOPE, instance)
    }

    /// Node `instance` of the system whose process groups are in `scope`.
    pub fn new(scope: &str, instance: &str) -> Self {
        Self {
            scope: scope.to_string(),
            instance: instance.to_string(),
        }
    }

    /// Another node of the same system.
    pub fn node(&self, instance: &str) -> Self {
        Self::new(&self.scope, instance)
    }

    /// The process-group scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// This node's instance name (e.g. `order-0`).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The registered name of this node's actor `actor`.
    pub fn name(&self, actor: &str) -> String {
        format!("{}/{}/{actor}", self.scope, self.instance)
    }

    /// This node's actor `actor`, if it is running.
    pub fn local<M: Message>(&self, actor: &str) -> Option<ActorRef<M>> {
        ractor::registry::where_is(self.name(actor)).map(ActorRef::from)
    }

    /// The live members of `group`, local or remote.
    pub fn members(&self, group: &str) -> Vec<ActorCell> {
        ractor::pg::get_scoped_members(&self.scope, &group.to_string())
    }

    /// Whether `group` has a member.
    pub fn joined(&self, group: &str) -> bool {
        !self.members(group).is_empty()
    }

    /// One member of `group`, rotating between calls; `None` if the group
    /// is empty. The group must hold actors of message type `M` only.
    pub fn pick<M: Message>(&self, group: &str) -> Option<ActorRef<M>> {
        let mut all = self.members(group);
        if all.is_empty() {
            return None;
        }
        all.sort_by_key(|c| c.get_id().to_string());
        let i = ROUND_ROBIN.fetch_add(1, Ordering::Relaxed) % all.len();
        Some(all.swap_remove(i).into())
    }

    /// Every member of `group` as typed refs.
    pub fn all<M: Message>(&self, group: &str) -> Vec<ActorRef<M>> {
        self.members(group)
            .into_iter()
            .map(ActorRef::from)
            .collect()
    }

    /// Puts `cell` in each of `groups`.
    pub fn join(&self, cell: &ActorCell, groups: &[String]) {
        for g in groups {
            ractor::pg::join_scoped(self.scope.clone(), g.clone(), vec![cell.clone()]);
        }
    }

    /// Takes `cell` out of every group of the scope.
    pub fn leave_all(&self, cell: &ActorCell) {
        for group in self.groups() {
            ractor::pg::leave_scoped(self.scope.clone(), group, vec![cell.clone()]);
        }
    }

    /// Every group of the scope that has members.
    pub fn groups(&self) -> Vec<String> {
        ractor::pg::which_scoped_groups(&self.scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_groups_name_their_shard() {
        assert_eq!(order_shard(3), "order.3");
        assert_eq!(shard_of_group(ORDER_SHARDS, "order.3"), Some(3));
        assert_eq!(shard_of_group(ORDER_SHARDS, "payment.3"), None);
        assert_eq!(shard_of_group(ORDER_SHARDS, "order"), None);
        let ns = Namespace::new("s", "order-0");
        assert_eq!(ns.name("bulkhead"), "s/order-0/bulkhead");
        assert_eq!(ns.node("edge-0").name("x"), "s/edge-0/x");
    }
}
