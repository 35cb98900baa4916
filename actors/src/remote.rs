//! Finding service actors in the cluster.
//!
//! Remote actors are not in ractor's name registry; service actors join
//! process groups (see [`crate::protocol`]) and callers look members up on
//! every call instead of caching refs, because a restarted peer's old refs
//! are dead.

use std::sync::atomic::{AtomicUsize, Ordering};

use ractor::{ActorCell, ActorRef, Message};

static ROUND_ROBIN: AtomicUsize = AtomicUsize::new(0);

/// The live members of `group`, local or remote.
pub fn members(group: &str) -> Vec<ActorCell> {
    ractor::pg::get_members(&group.to_string())
}

/// One member of `group`, rotating between calls; `None` if the group is
/// empty. The group must hold actors of message type `M` only.
pub fn pick<M: Message>(group: &str) -> Option<ActorRef<M>> {
    let mut all = members(group);
    if all.is_empty() {
        return None;
    }
    all.sort_by_key(|c| c.get_id().to_string());
    let i = ROUND_ROBIN.fetch_add(1, Ordering::Relaxed) % all.len();
    Some(all.swap_remove(i).into())
}

/// Every member of `group` as typed refs.
pub fn all<M: Message>(group: &str) -> Vec<ActorRef<M>> {
    members(group).into_iter().map(ActorRef::from).collect()
}
