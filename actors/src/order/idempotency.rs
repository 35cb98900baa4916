//! `Idempotency-Key`s on `POST /orders`: a retry gets the original answer,
//! from any edge and any order shard, and never a second charge.
//!
//! - **Scope.** A key belongs to the caller: a customer (by their id), the
//!   owner, or "no token" ([`KeyScope`]). The same key sent by two
//!   customers is two keys.
//! - **One shard per key.** The edge sends a request with a key to the
//!   shard [`shard_for`] names (a hash of scope and key over the configured
//!   number of order shards, `--order-shards`), so every retry reaches the
//!   shard that holds the key. That shard down means `503`, never a second
//!   order on another shard.
//! - **One request per key at a time.** On the shard, requests with the
//!   same key wait for each other ([`KeyLocks`]): the second one finds the
//!   order the first placed, so concurrent retries make one charge.
//! - **Expiry.** A key is stored with its order (the order repository's
//!   secondary key `idem:<scope>:<key>`) and counts for `ttl` after the
//!   order was placed (`--idempotency-ttl-secs`, default 24 h); an expired
//!   key is treated as absent. The [`IdempotencySweeper`] removes expired
//!   keys every [`Idempotency::sweep_every`], so they take bounded space.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::RactorMessage;
use serde::{Deserialize, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio::sync::OwnedMutexGuard;

use super::{customer::CustomerId, shard::Orders};
use crate::runtime::{error::Reply, metrics};

/// The prefix of every idempotency key in the order repository.
pub const KEY_PREFIX: &str = "idem:";
/// How long a key counts by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Keys removed per sled transaction by the sweeper.
const SWEEP_BATCH: usize = 1000;

/// Whose key it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyScope {
    /// A caller without a token.
    #[default]
    Anonymous,
    /// The shop owner.
    Owner,
    /// A customer.
    Customer(CustomerId),
}

impl KeyScope {
    fn tag(&self) -> String {
        match self {
            Self::Anonymous => "anon".into(),
            Self::Owner => "owner".into(),
            Self::Customer(c) => format!("c{c}"),
        }
    }
}

/// The repository key of `key` in `scope`: `idem:<scope>:<key>`.
pub fn storage_key(scope: &KeyScope, key: &str) -> String {
    format!("{KEY_PREFIX}{}:{key}", scope.tag())
}

/// The order shard that keeps `key` of `scope`, of shards `0..shards`:
/// FNV-1a over the storage key, so every edge and every version agrees.
pub fn shard_for(scope: &KeyScope, key: &str, shards: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in storage_key(scope, key).bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(shards.max(1))) as u32
}

/// One async lock per key in use; a key's lock is gone once nobody holds
/// or waits for it.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyLocks {
    /// Waits until no other request holds `key`, and holds it until the
    /// guard is dropped.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.retain(|_, w| w.strong_count() > 0);
            match held.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    held.insert(key.to_string(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// Keys held or waited for (for tests).
    pub fn in_use(&self) -> usize {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.values().filter(|w| w.strong_count() > 0).count()
    }
}

/// An order shard's idempotency settings and key locks.
#[derive(Clone, Debug)]
pub struct Idempotency {
    /// How long a key counts after its order was placed.
    pub ttl: Duration,
    /// Requests in flight per key.
    pub locks: Arc<KeyLocks>,
}

impl Default for Idempotency {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

impl Idempotency {
    /// Keys that count for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            locks: Arc::default(),
        }
    }

    /// Whether a key whose order was placed at `created_at` (RFC 3339) no
    /// longer counts at `now`. A time that cannot be read has expired.
    pub fn expired(&self, created_at: &str, now: OffsetDateTime) -> bool {
        match OffsetDateTime::parse(created_at, &Rfc3339) {
            Ok(at) => (now - at) >= self.ttl,
            Err(_) => true,
        }
    }

    /// How often the sweeper looks: a tenth of the TTL, from 1 s to 10
    /// minutes (so a key is gone at most 10 minutes after it expired).
    pub fn sweep_every(&self) -> Duration {
        (self.ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(600))
    }
}

impl Orders {
    /// Removes the idempotency keys that expired (and any whose order is
    /// gone). How many were removed, and how many remain.
    pub async fn sweep_idempotency_keys(&self) -> Reply<(usize, usize)> {
        let now = OffsetDateTime::now_utc();
        let mut expired = Vec::new();
        let mut kept = 0;
        for entry in self.repo.keys_with_prefix(KEY_PREFIX) {
            let (key, seq) = entry?;
            let stale = match self.repo.get(seq)? {
                Some(order) => self.idempotency.expired(&order.created_at, now),
                None => true,
            };
            if stale {
                expired.push((key, seq));
            } else {
                kept += 1;
            }
        }
        let mut removed = 0;
        for batch in expired.chunks(SWEEP_BATCH) {
            removed += self.repo.remove_keys(batch).await?;
        }
        Ok((removed, kept))
    }
}

/// Short name of the sweeper on its node.
pub const SWEEPER: &str = "idempotency-sweeper";

/// Messages of the sweeper.
#[derive(RactorMessage)]
pub enum SweeperMsg {
    /// Sweep now.
    Tick,
}

/// The actor that removes expired idempotency keys of its shard.
#[derive(Debug)]
pub struct IdempotencySweeper;

impl Actor for IdempotencySweeper {
    type Msg = SweeperMsg;
    type State = Arc<Orders>;
    type Arguments = Arc<Orders>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        orders: Arc<Orders>,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(orders.idempotency.sweep_every(), || SweeperMsg::Tick);
        Ok(orders)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        _msg: Self::Msg,
        orders: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (removed, kept) = orders.sweep_idempotency_keys().await?;
        metrics::idempotency_swept(removed, kept);
        if removed > 0 {
            tracing::info!(removed, kept, "expired idempotency keys removed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_and_routed_the_same_way_everywhere() {
        let a = CustomerId::from_bytes([1; 16]);
        let b = CustomerId::from_bytes([2; 16]);
        assert_eq!(storage_key(&KeyScope::Anonymous, "k"), "idem:anon:k");
        assert_eq!(storage_key(&KeyScope::Owner, "k"), "idem:owner:k");
        assert_ne!(
            storage_key(&KeyScope::Customer(a), "k"),
            storage_key(&KeyScope::Customer(b), "k")
        );
        // Fixed values: routing must not change between versions, or a
        // retry across an upgrade would reach another shard.
        assert_eq!(shard_for(&KeyScope::Anonymous, "key-1", 16), 9);
        assert_eq!(shard_for(&KeyScope::Anonymous, "key-2", 16), 0);
        assert_eq!(shard_for(&KeyScope::Owner, "key-1", 1), 0);
        assert_eq!(shard_for(&KeyScope::Owner, "key-1", 0), 0);
        let spread: std::collections::BTreeSet<u32> = (0..64)
            .map(|i| shard_for(&KeyScope::Customer(a), &i.to_string(), 2))
            .collect();
        assert_eq!(spread.len(), 2, "keys spread over the shards");
    }

    #[test]
    fn a_key_expires_after_its_ttl_and_the_sweep_interval_follows() {
        let idem = Idempotency::new(Duration::from_secs(60));
        let at = OffsetDateTime::parse("2026-01-01T00:00:00.000Z", &Rfc3339).expect("time");
        let placed = "2026-01-01T00:00:00.000Z";
        assert!(!idem.expired(placed, at + Duration::from_secs(59)));
        assert!(idem.expired(placed, at + Duration::from_secs(60)));
        assert!(idem.expired("garbage", at));
        assert_eq!(idem.sweep_every(), Duration::from_secs(6));
        assert_eq!(
            Idempotency::default().sweep_every(),
            Duration::from_secs(600)
        );
        assert_eq!(
            Idempotency::new(Duration::from_secs(2)).sweep_every(),
            Duration::from_secs(1)
        );
    }

    #[tokio::test]
    async fn requests_with_one_key_take_turns_and_the_lock_is_forgotten() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.lock("k").await;
        let other = locks.lock("other").await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _g = locks.lock("k").await;
            })
        };
        // Until the first guard goes, the waiter cannot finish.
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.expect("waiter");
        drop(other);
        assert_eq!(locks.in_use(), 0);
    }
}
