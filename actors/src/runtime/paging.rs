//! Pages of a shard's records, for the edge's lists that span shards
//! (`GET /orders`, `GET /payments`).

use std::collections::BTreeMap;

use kukka_storage::{aggregate_repo::AggregateRepo, page::MAX_LIMIT};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{
    error::{Reply, ServiceError},
    validate::{invalid, Validate, MAX_SHARDS_IN_QUERY},
};

/// One page of one shard's list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Per shard, return items after this sequence number (a shard not
    /// named starts at its beginning).
    pub after: BTreeMap<u32, u64>,
    /// At most this many (the receiving shard caps it at the API's maximum
    /// page size, whoever sent it).
    pub limit: u32,
}

impl Validate for ListQuery {
    /// `limit` is capped where it is used ([`ShardPage::read`]); the
    /// positions are capped here.
    fn validate(&self) -> Result<(), ServiceError> {
        if self.after.len() > MAX_SHARDS_IN_QUERY {
            return Err(invalid(
                "cursor",
                format!("names more than {MAX_SHARDS_IN_QUERY} shards"),
            ));
        }
        Ok(())
    }
}

/// A shard's answer to a [`ListQuery`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardPage<T> {
    /// The shard that answered.
    pub shard: u32,
    /// Items with their sequence numbers, in sequence order.
    pub items: Vec<(u64, T)>,
    /// Whether the shard has more after the last item.
    pub has_more: bool,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> ShardPage<T> {
    /// One page of shard `shard`'s records for `q`.
    pub fn read(repo: &AggregateRepo<T>, shard: u32, q: &ListQuery) -> Reply<Self> {
        let after = q.after.get(&shard).copied();
        let limit = q.limit.clamp(1, MAX_LIMIT) as usize;
        let (items, has_more) = repo.list(after, limit)?;
        Ok(Self {
            shard,
            items,
            has_more,
        })
    }
}
