//! The domain: aggregates, their state machines and validation. Plain Rust,
//! no I/O, unit-tested without Redis or sockets.

pub mod delivery;
pub mod error;
pub mod new_order;
pub mod order;
pub mod payment;

pub use error::DomainError;
