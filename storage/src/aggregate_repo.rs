//! A sled repository for one kind of aggregate, with its outbox.
//!
//! Records live in the tree `<name>` under their sequence number (big-endian,
//! so iteration is creation order); an optional secondary key (`<name>.by`)
//! maps a natural key (the order id of a payment, an idempotency key) to the
//! sequence number. Every write stages its events in the outbox in the same
//! transaction and goes through the store's committer (group commit), so a
//! caller that got `Ok` may acknowledge to its client.
//!
//! The `*_in` methods are the same changes as steps of a larger change (a
//! payment and its reconciliation marker, say), to be run inside
//! [`SledStore::commit`].

use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::ConflictableTransactionError;

use crate::{
    committer::{key_of, TreeId, Tx, TxResult},
    outbox::{self, StreamEvent},
    sled_store::{decode, encode, SledStore},
    StorageError,
};

/// A repository of `T`s.
#[derive(Debug)]
pub struct AggregateRepo<T> {
    store: SledStore,
    records: sled::Tree,
    by_key: sled::Tree,
    outbox: sled::Tree,
    ids: Ids,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for AggregateRepo<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            records: self.records.clone(),
            by_key: self.by_key.clone(),
            outbox: self.outbox.clone(),
            ids: self.ids,
            _t: PhantomData,
        }
    }
}

/// The repository's trees inside a transaction.
#[derive(Clone, Copy, Debug)]
struct Ids {
    records: TreeId,
    by_key: TreeId,
    outbox: TreeId,
}

/// What [`AggregateRepo::insert`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted<T> {
    /// Stored, with its events, durably.
    New,
    /// A record with that sequence number or secondary key exists already;
    /// here it is, under its sequence number.
    Existing(u64, T),
    /// The secondary key was fenced off with [`AggregateRepo::fence`]:
    /// nothing may be stored under it any more.
    Fenced,
}

/// Sequence number a fenced secondary key points to.
const FENCE: u64 = u64::MAX;

fn abort<T>(e: StorageError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

impl<T: Serialize + DeserializeOwned + Send + 'static> AggregateRepo<T> {
    /// Opens the trees for aggregate `name`.
    pub fn open(store: &SledStore, name: &str) -> Result<Self, StorageError> {
        let (records, records_id) = store.tree(name)?;
        let (by_key, by_key_id) = store.tree(&format!("{name}.by"))?;
        let (outbox, outbox_id) = store.tree(outbox::OUTBOX_TREE)?;
        Ok(Self {
            store: store.clone(),
            records,
            by_key,
            outbox,
            ids: Ids {
                records: records_id,
                by_key: by_key_id,
                outbox: outbox_id,
            },
            _t: PhantomData,
        })
    }

    /// A fresh sequence number.
    pub fn next_seq(&self) -> Result<u64, StorageError> {
        self.store.next_id()
    }

    /// The store the repository lives in.
    pub fn store(&self) -> &SledStore {
        &self.store
    }

    /// The outbox tree this repository stages events in.
    pub fn outbox(&self) -> &sled::Tree {
        &self.outbox
    }

    /// Stores a new record under `seq` (and `key`, if given) with its events,
    /// durably. If `seq` or `key` is taken, nothing is written and the
    /// existing record is returned (so a record fenced off by someone else
    /// under `seq` is never overwritten).
    pub async fn insert(
        &self,
        seq: u64,
        key: Option<&str>,
        record: &T,
        events: &[StreamEvent],
    ) -> Result<Inserted<T>, StorageError> {
        let repo = self.clone();
        let key = key.map(str::to_string);
        let bytes = encode(record);
        let events = events.to_vec();
        self.store
            .commit(move |tx| repo.insert_in(tx, seq, key.as_deref(), &bytes, &events))
            .await
    }

    /// [`AggregateRepo::insert`] as a step of a larger change; `bytes` is
    /// the encoded record.
    pub fn insert_in(
        &self,
        tx: &Tx<'_>,
        seq: u64,
        key: Option<&str>,
        bytes: &[u8],
        events: &[StreamEvent],
    ) -> TxResult<Inserted<T>> {
        let (r, b, o) = (
            tx.tree(self.ids.records),
            tx.tree(self.ids.by_key),
            tx.tree(self.ids.outbox),
        );
        if let Some(rec) = r.get(seq.to_be_bytes())? {
            return self.existing(seq, &rec);
        }
        if let Some(k) = key {
            if let Some(existing) = b.get(k.as_bytes())? {
                let taken = key_of(&existing);
                if taken == FENCE {
                    return Ok(Inserted::Fenced);
                }
                let Some(rec) = r.get(existing)? else {
                    return abort(StorageError::Corrupt {
                        key: k.to_string(),
                        reason: "secondary key without record".into(),
                    });
                };
                return self.existing(taken, &rec);
            }
            b.insert(k.as_bytes(), &seq.to_be_bytes())?;
        }
        r.insert(&seq.to_be_bytes(), bytes)?;
        for ev in events {
            outbox::stage(o, ev)?;
        }
        Ok(Inserted::New)
    }

    fn existing(&self, seq: u64, bytes: &[u8]) -> TxResult<Inserted<T>> {
        match decode(&seq.to_be_bytes(), bytes) {
            Ok(rec) => Ok(Inserted::Existing(seq, rec)),
            Err(e) => abort(e),
        }
    }

    /// Reads, changes and writes one record atomically, durably. `change`
    /// returns the new record and its events; no events means "unchanged"
    /// and nothing is written. A domain error from `change` writes nothing.
    pub async fn update<E, F>(
        &self,
        seq: u64,
        change: F,
    ) -> Result<Result<Option<T>, E>, StorageError>
    where
        E: Send + 'static,
        F: Fn(T) -> Result<(T, Vec<StreamEvent>), E> + Send + 'static,
    {
        let repo = self.clone();
        self.store
            .commit(move |tx| repo.update_in(tx, seq, &change))
            .await
    }

    /// [`AggregateRepo::update`] as a step of a larger change.
    pub fn update_in<E>(
        &self,
        tx: &Tx<'_>,
        seq: u64,
        change: &impl Fn(T) -> Result<(T, Vec<StreamEvent>), E>,
    ) -> TxResult<Result<Option<T>, E>> {
        let (r, o) = (tx.tree(self.ids.records), tx.tree(self.ids.outbox));
        let key = seq.to_be_bytes();
        let Some(bytes) = r.get(key)? else {
            return Ok(Ok(None));
        };
        let current: T = match decode(&key, &bytes) {
            Ok(t) => t,
            Err(e) => return abort(e),
        };
        let (next, events) = match change(current) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if !events.is_empty() {
            r.insert(&key, encode(&next))?;
            for ev in &events {
                outbox::stage(o, ev)?;
            }
        }
        Ok(Ok(Some(next)))
    }

    /// Reserves secondary key `key` so that no record can ever be inserted
    /// under it, unless one already is. Returns the existing record's
    /// sequence number if there is one (then nothing changes), durably.
    pub async fn fence(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let repo = self.clone();
        let key = key.to_string();
        self.store.commit(move |tx| repo.fence_in(tx, &key)).await
    }

    /// [`AggregateRepo::fence`] as a step of a larger change.
    pub fn fence_in(&self, tx: &Tx<'_>, key: &str) -> TxResult<Option<u64>> {
        let b = tx.tree(self.ids.by_key);
        match b.get(key.as_bytes())? {
            Some(existing) => Ok(Some(key_of(&existing)).filter(|s| *s != FENCE)),
            None => {
                b.insert(key.as_bytes(), &FENCE.to_be_bytes())?;
                Ok(None)
            }
        }
    }

    /// The sequence number stored under a secondary key, inside a change.
    pub fn seq_by_key_in(&self, tx: &Tx<'_>, key: &str) -> TxResult<Option<u64>> {
        Ok(tx
            .tree(self.ids.by_key)
            .get(key.as_bytes())?
            .map(|v| key_of(&v))
            .filter(|s| *s != FENCE))
    }

    /// One record by sequence number.
    pub fn get(&self, seq: u64) -> Result<Option<T>, StorageError> {
        let key = seq.to_be_bytes();
        self.records.get(key)?.map(|b| decode(&key, &b)).transpose()
    }

    /// The sequence number stored under a secondary key.
    pub fn seq_by_key(&self, key: &str) -> Result<Option<u64>, StorageError> {
        Ok(self
            .by_key
            .get(key.as_bytes())?
            .map(|v| key_of(&v))
            .filter(|s| *s != FENCE))
    }

    /// Removes each secondary key of `keys` that still points to its
    /// sequence number (a key someone re-used meanwhile is left alone), in
    /// one durable change; the records stay. How many were removed.
    pub async fn remove_keys(&self, keys: &[(String, u64)]) -> Result<usize, StorageError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let repo = self.clone();
        let keys = keys.to_vec();
        self.store
            .commit(move |tx| {
                let b = tx.tree(repo.ids.by_key);
                let mut removed = 0;
                for (key, seq) in &keys {
                    if let Some(v) = b.get(key.as_bytes())? {
                        if key_of(&v) == *seq {
                            b.remove(key.as_bytes())?;
                            removed += 1;
                        }
                    }
                }
                Ok(removed)
            })
            .await
    }

    /// The secondary keys that start with `prefix`, with the sequence
    /// numbers they point to (fences left out), in key order.
    pub fn keys_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, u64), StorageError>> {
        self.by_key
            .scan_prefix(prefix.as_bytes())
            .filter_map(|kv| match kv {
                Err(e) => Some(Err(e.into())),
                Ok((k, v)) => {
                    let seq = key_of(&v);
                    (seq != FENCE).then(|| Ok((String::from_utf8_lossy(&k).into_owned(), seq)))
                }
            })
    }

    /// Up to `limit` records after `after`, in creation order, and whether
    /// more follow.
    pub fn list(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<(u64, T)>, bool), StorageError> {
        let iter = match after {
            Some(a) => self.records.range((a + 1).to_be_bytes()..),
            None => self.records.iter(),
        };
        let mut items = Vec::new();
        let mut more = false;
        for kv in iter {
            let (k, v) = kv?;
            if items.len() == limit {
                more = true;
                break;
            }
            items.push((key_of(&k), decode(&k, &v)?));
        }
        Ok((items, more))
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> StreamEvent {
        StreamEvent {
            event_id: id.into(),
            kind: "K".into(),
            data: "{}".into(),
            partition_key: String::new(),
        }
    }

    #[tokio::test]
    async fn insert_update_list_and_secondary_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let repo: AggregateRepo<String> = AggregateRepo::open(&store, "things").expect("repo");
        let s1 = repo.next_seq().expect("seq");
        assert_eq!(
            repo.insert(s1, Some("k1"), &"a".to_string(), &[ev("e1")])
                .await
                .expect("insert"),
            Inserted::New
        );
        let s2 = repo.next_seq().expect("seq");
        assert_eq!(
            repo.insert(s2, Some("k1"), &"dup".to_string(), &[ev("e2")])
                .await
                .expect("insert"),
            Inserted::Existing(s1, "a".to_string())
        );
        assert_eq!(repo.len(), 1, "a duplicate key writes nothing");
        assert_eq!(
            repo.insert(s1, None, &"again".to_string(), &[ev("e2")])
                .await
                .expect("insert"),
            Inserted::Existing(s1, "a".to_string()),
            "a taken sequence number is never overwritten"
        );

        let durable = || *store.durable_outbox().borrow();
        assert_eq!(
            outbox::pending(repo.outbox(), durable(), 10)
                .expect("outbox")
                .len(),
            1
        );

        let changed = repo
            .update(s1, |s| Ok::<_, ()>((format!("{s}!"), vec![ev("e3")])))
            .await
            .expect("update");
        assert_eq!(changed, Ok(Some("a!".to_string())));
        let refused = repo
            .update(s1, |_| Err::<(String, Vec<StreamEvent>), _>("no"))
            .await
            .expect("update");
        assert_eq!(refused, Err("no"));
        assert_eq!(repo.get(s1).expect("get"), Some("a!".to_string()));
        assert_eq!(
            outbox::pending(repo.outbox(), durable(), 10)
                .expect("outbox")
                .len(),
            2
        );
        assert_eq!(repo.seq_by_key("k1").expect("by key"), Some(s1));

        assert_eq!(
            repo.fence("k1").await.expect("fence"),
            Some(s1),
            "a used key is not fenced"
        );
        assert_eq!(repo.fence("k9").await.expect("fence"), None);
        let s9 = repo.next_seq().expect("seq");
        assert_eq!(
            repo.insert(s9, Some("k9"), &"late".to_string(), &[ev("e9")])
                .await
                .expect("insert"),
            Inserted::Fenced
        );
        assert_eq!(repo.seq_by_key("k9").expect("by key"), None);

        for _ in 0..3 {
            let s = repo.next_seq().expect("seq");
            repo.insert(s, None, &"x".to_string(), &[])
                .await
                .expect("insert");
        }
        let (page, more) = repo.list(None, 2).expect("list");
        assert_eq!(page.len(), 2);
        assert!(more);
        let (rest, more) = repo.list(Some(page[1].0), 10).expect("list");
        assert_eq!(rest.len(), 2);
        assert!(!more);

        let listed: Vec<(String, u64)> = repo
            .keys_with_prefix("k")
            .collect::<Result<_, _>>()
            .expect("scan");
        assert_eq!(listed, vec![("k1".to_string(), s1)], "fences are left out");
        let k1 = |seq| vec![("k1".to_string(), seq)];
        assert_eq!(
            repo.remove_keys(&k1(s9)).await.expect("remove"),
            0,
            "not its seq"
        );
        assert_eq!(repo.remove_keys(&k1(s1)).await.expect("remove"), 1);
        assert_eq!(repo.seq_by_key("k1").expect("by key"), None);
        assert_eq!(
            repo.get(s1).expect("get"),
            Some("a!".to_string()),
            "the record stays"
        );
        let s10 = repo.next_seq().expect("seq");
        assert_eq!(
            repo.insert(s10, Some("k1"), &"reused".to_string(), &[])
                .await
                .expect("insert"),
            Inserted::New,
            "a removed key may be used again"
        );
    }
}
