//! Who is calling, and what they may do.
//!
//! Callers prove who they are with `Authorization: Bearer <token>`
//! (`DESIGN.md`, "Who is who"):
//! - the **owner token** (`--owner-token`), which may do everything;
//! - a **customer token**, issued by `POST /orders` ([`token`]): it names
//!   the customer and is signed with the edge's secret, so any edge
//!   verifies it without storing anything, and it survives restarts;
//! - no token at all: an anonymous caller.
//!
//! [`credentials`] judges what a request presents ([`Credentials`]); each
//! route then admits it or not with its [`Access`] (`401` without a token,
//! `403` for a token that is not the owner's on an owner route). Another
//! customer's order is the route's business: it answers `404`, exactly as
//! for an order that does not exist.
//!
//! A token that matches nobody counts as a failed attempt of the client
//! that sent it ([`limiter`]); past `--auth-max-failures` in a minute, the
//! client's requests with a token are answered `429` without being checked.
//! Tokens are never logged, counted in metrics, or shown in `/status.json`.

pub mod caller;
pub mod limiter;
pub mod token;

pub use caller::{credentials, Access, Caller, Credentials, PeerAddr};
