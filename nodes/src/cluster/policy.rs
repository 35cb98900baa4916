//! Who may ask what of this node: the rules every frame from a peer is
//! checked against, by the role the peer's certificate names.
//!
//! - A call or cast reaches an actor only if the sender's role may send
//!   that message to that actor ([`may_send`]): only order shards charge
//!   (`PaymentMsg::Charge`) and reserve a delivery for a cancel
//!   (`DeliveryMsg::ReserveCancel`); only payment shards resolve an order
//!   for reconciliation (`OrderMsg::Resolve`); only edges place, read and
//!   cancel orders, read payments, and pass on the shop owner's delivery
//!   updates (`DeliveryMsg::Update`, after checking the owner token).
//!   Anything not listed is refused.
//! - A peer's actor joins a process group only if the peer's role serves
//!   that group ([`may_join`]): an edge cannot pose as a payment shard to
//!   catch the order shards' charges.
//!
//! Messages travel by variant name (ractor_cluster's wire format), and the
//! target actor is known by the name it is registered under on this node.

use kukka_actors::{
    delivery::desk::DELIVERY_DESK,
    order::shard::ORDER_SHARD,
    payment::shard::PAYMENT_SHARD,
    runtime::{
        groups::{shard_of_group, Namespace, DELIVERY_DESKS, EDGES, ORDER_SHARDS, PAYMENT_SHARDS},
        presence::EDGE_PRESENCE,
        role::Role,
    },
};

/// The roles that may send `variant` to this node's actor `target` (its
/// short name, see `Namespace::name`).
pub fn senders(target: &str, variant: &str) -> &'static [Role] {
    match (target, variant) {
        (ORDER_SHARD, "Place" | "Get" | "List" | "Cancel" | "Status") => &[Role::Edge],
        (ORDER_SHARD, "Resolve") => &[Role::Payment],
        (PAYMENT_SHARD, "Charge") => &[Role::Order],
        (PAYMENT_SHARD, "Get" | "List") => &[Role::Edge],
        (DELIVERY_DESK, "Update") => &[Role::Edge],
        (DELIVERY_DESK, "ReserveCancel") => &[Role::Order],
        (EDGE_PRESENCE, "Ping") => &Role::ALL,
        _ => &[],
    }
}

/// Whether a peer of role `peer` may send `variant` to `target`.
pub fn may_send(peer: Role, target: &str, variant: &str) -> bool {
    senders(target, variant).contains(&peer)
}

/// Whether a peer of role `peer` may put an actor in `group` of `scope`.
pub fn may_join(peer: Role, scope: &str, group: &str) -> bool {
    if scope != Namespace::CLUSTER_SCOPE {
        return false;
    }
    let serves =
        |role_group: &str| group == role_group || shard_of_group(role_group, group).is_some();
    match peer {
        Role::Edge => group == EDGES,
        Role::Order => serves(ORDER_SHARDS),
        Role::Payment => serves(PAYMENT_SHARDS),
        Role::Delivery => group == DELIVERY_DESKS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_order_shards_charge_and_only_edges_pass_on_owner_updates() {
        for role in Role::ALL {
            assert_eq!(
                may_send(role, PAYMENT_SHARD, "Charge"),
                role == Role::Order,
                "{role}"
            );
            assert_eq!(
                may_send(role, DELIVERY_DESK, "Update"),
                role == Role::Edge,
                "{role}"
            );
            assert_eq!(
                may_send(role, DELIVERY_DESK, "ReserveCancel"),
                role == Role::Order,
                "{role}"
            );
            assert_eq!(
                may_send(role, ORDER_SHARD, "Resolve"),
                role == Role::Payment,
                "{role}"
            );
            assert!(may_send(role, EDGE_PRESENCE, "Ping"));
        }
        assert!(may_send(Role::Edge, ORDER_SHARD, "Place"));
        assert!(!may_send(Role::Edge, PAYMENT_SHARD, "Resolve"));
        assert!(!may_send(Role::Edge, "bulkhead", "Charge"), "unlisted");
        assert!(!may_send(Role::Order, ORDER_SHARD, "Place"));
    }

    #[test]
    fn roles_join_only_their_own_groups() {
        let kukka = Namespace::CLUSTER_SCOPE;
        assert!(may_join(Role::Payment, kukka, PAYMENT_SHARDS));
        assert!(may_join(Role::Payment, kukka, "payment.3"));
        assert!(!may_join(Role::Edge, kukka, PAYMENT_SHARDS));
        assert!(!may_join(Role::Edge, kukka, "payment.0"));
        assert!(!may_join(Role::Order, kukka, "payment.0"));
        assert!(!may_join(Role::Delivery, kukka, ORDER_SHARDS));
        assert!(!may_join(Role::Order, kukka, "order.x"));
        assert!(may_join(Role::Edge, kukka, EDGES));
        assert!(!may_join(Role::Payment, "elsewhere", PAYMENT_SHARDS));
    }
}
