//! Pagination parameters shared by every list.

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size a client may ask for.
pub const MAX_LIMIT: u32 = 500;

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}
