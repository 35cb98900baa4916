//! The views context (CQRS read side): MyPage, the customer's view of their
//! orders, and OrderDetails, the shop owner's view of paid orders, both kept
//! in Redis so any edge or delivery replica can serve them.
//!
//! - [`keys`]: the Redis keys and indexes of the views.
//! - [`projector`]: builds the views from events (rank-guarded merges); its
//!   consumer group.
//! - [`reads`]: what the edge reads, in the HTTP contract's JSON shapes.

pub mod keys;
pub mod projector;
pub mod reads;
