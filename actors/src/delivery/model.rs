//! The delivery state machine (the shop owner's side of an order).
//!
//! `DeliveryRequested → DeliveryStarted → Delivered`, or
//! `DeliveryRequested → Delivered` at once (handed over in the shop, as in
//! the original system's scenario), and
//! `DeliveryRequested | DeliveryStarted → DeliveryCancelled` when the order
//! is cancelled (a started delivery is recalled). `Delivered` and
//! `DeliveryCancelled` are final. Deliveries live in Redis; the transition
//! is applied there atomically by a script that is given
//! [`DeliveryStatus::allowed_from`] (see [`super::store`]).

use serde::{Deserialize, Serialize};

use crate::domain_error::DomainError;

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// The paid order was handed to the shop.
    DeliveryRequested,
    /// The owner sent it out.
    DeliveryStarted,
    /// It arrived.
    Delivered,
    /// The order was cancelled.
    DeliveryCancelled,
}

impl DeliveryStatus {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeliveryRequested => "DeliveryRequested",
            Self::DeliveryStarted => "DeliveryStarted",
            Self::Delivered => "Delivered",
            Self::DeliveryCancelled => "DeliveryCancelled",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::DeliveryRequested,
            Self::DeliveryStarted,
            Self::Delivered,
            Self::DeliveryCancelled,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// The statuses from which a delivery may move to `self`.
    pub fn allowed_from(self) -> &'static [DeliveryStatus] {
        match self {
            Self::DeliveryRequested => &[],
            Self::DeliveryStarted => &[Self::DeliveryRequested],
            Self::Delivered => &[Self::DeliveryRequested, Self::DeliveryStarted],
            Self::DeliveryCancelled => &[Self::DeliveryRequested, Self::DeliveryStarted],
        }
    }

    /// Checks a transition in plain code (the Redis script enforces the same
    /// table atomically).
    pub fn transition(self, to: DeliveryStatus) -> Result<DeliveryStatus, DomainError> {
        if to.allowed_from().contains(&self) {
            Ok(to)
        } else {
            Err(DomainError::illegal(
                &format!("move to {}", to.as_str()),
                self.as_str(),
            ))
        }
    }

    /// Rank in the read models: a later status never gives way to an
    /// earlier one. `Delivered` and `DeliveryCancelled` share the top rank: they
    /// exclude each other.
    pub fn rank(self) -> u32 {
        match self {
            Self::DeliveryRequested => 1,
            Self::DeliveryStarted => 2,
            Self::Delivered | Self::DeliveryCancelled => 3,
        }
    }

    /// The statuses the owner may set with `POST /deliveries`.
    pub fn settable_by_owner(self) -> bool {
        matches!(self, Self::DeliveryStarted | Self::Delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;
    use super::*;

    #[test]
    fn the_happy_path_is_legal() {
        assert_eq!(
            DeliveryRequested.transition(DeliveryStarted),
            Ok(DeliveryStarted)
        );
        assert_eq!(DeliveryStarted.transition(Delivered), Ok(Delivered));
    }

    #[test]
    fn a_requested_delivery_may_be_handed_over_at_once() {
        assert_eq!(DeliveryRequested.transition(Delivered), Ok(Delivered));
    }

    #[test]
    fn going_back_and_leaving_final_states_are_illegal() {
        for (from, to) in [
            (Delivered, DeliveryStarted),
            (DeliveryStarted, DeliveryRequested),
            (Delivered, DeliveryCancelled),
            (DeliveryCancelled, DeliveryStarted),
            (DeliveryCancelled, Delivered),
            (Delivered, Delivered),
        ] {
            assert!(from.transition(to).is_err(), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn cancel_recalls_a_started_delivery() {
        assert_eq!(
            DeliveryStarted.transition(DeliveryCancelled),
            Ok(DeliveryCancelled)
        );
        assert_eq!(
            DeliveryRequested.transition(DeliveryCancelled),
            Ok(DeliveryCancelled)
        );
    }

    #[test]
    fn names_round_trip_and_only_start_and_deliver_are_for_the_owner() {
        for s in [
            DeliveryRequested,
            DeliveryStarted,
            Delivered,
            DeliveryCancelled,
        ] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryStatus::parse("Teleported"), None);
        assert!(DeliveryStarted.settable_by_owner());
        assert!(Delivered.settable_by_owner());
        assert!(!DeliveryCancelled.settable_by_owner());
        assert!(!DeliveryRequested.settable_by_owner());
    }
}
