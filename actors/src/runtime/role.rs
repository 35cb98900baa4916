//! [`Role`]: what a node of the cluster is. Events name the role that
//! produced them, and a node learns the role of a peer from the peer's
//! certificate (`kukka_nodes::cluster`).

use kukka_storage::bus::Partition;
use serde::{Deserialize, Serialize};

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The HTTP edge.
    Edge,
    /// An order shard.
    Order,
    /// A payment shard.
    Payment,
    /// Deliveries and read models.
    Delivery,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Self::Edge, Self::Order, Self::Payment, Self::Delivery];

    /// Its lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Order => "order",
            Self::Payment => "payment",
            Self::Delivery => "delivery",
        }
    }

    /// Its stream of partition `p`'s events (see `kukka_storage::bus`).
    pub fn stream(self, p: Partition) -> String {
        p.stream(self.as_str())
    }

    /// Parses a lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kukka_storage::bus::PRODUCERS;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).expect("json");
            assert_eq!(json, format!("\"{r}\""));
        }
        assert_eq!(Role::parse("Edge"), None);
    }

    #[test]
    fn every_producing_role_has_the_streams_the_storage_layer_knows() {
        let producing: Vec<&str> = Role::ALL
            .into_iter()
            .filter(|r| {
                crate::events::EventKind::ALL
                    .iter()
                    .any(|k| k.producer() == *r)
            })
            .map(Role::as_str)
            .collect();
        assert_eq!(producing, PRODUCERS);
        assert_eq!(
            Role::Payment.stream(Partition(2)),
            "kukka:{p2}:events:payment"
        );
    }
}
