//! A sled repository for one kind of aggregate, with its outbox.
//!
//! Records live in the tree `<name>` under their sequence number (big-endian,
//! so iteration is creation order); an optional secondary key (`<name>.by`)
//! maps a natural key (the order id of a payment, an idempotency key) to the
//! sequence number. Every write stages its events in the outbox in the same
//! transaction and is flushed (group commit) before it returns, so a caller
//! that got `Ok` may acknowledge to its client.

use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};
use sled::{
    transaction::{ConflictableTransactionError, TransactionError},
    Transactional,
};

use crate::{
    outbox::{self, StreamEvent, OUTBOX_TREE},
    sled_store::{decode, encode, SledStore},
    StorageError,
};

/// A repository of `T`s.
#[derive(Clone, Debug)]
pub struct AggregateRepo<T> {
    store: SledStore,
    records: sled::Tree,
    by_key: sled::Tree,
    outbox: sled::Tree,
    _t: PhantomData<fn() -> T>,
}

/// What [`AggregateRepo::insert`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted<T> {
    /// Stored, with its events, durably.
    New,
    /// A record with that secondary key exists already; here it is.
    Existing(u64, T),
    /// The secondary key was fenced off with [`AggregateRepo::fence`]:
    /// nothing may be stored under it any more.
    Fenced,
}

/// Sequence number a fenced secondary key points to.
const FENCE: u64 = u64::MAX;

enum Abort<E> {
    Domain(E),
    Storage(StorageError),
}

impl<T: Serialize + DeserializeOwned> AggregateRepo<T> {
    /// Opens the trees for aggregate `name`.
    pub fn open(store: &SledStore, name: &str) -> Result<Self, StorageError> {
        Ok(Self {
            store: store.clone(),
            records: store.tree(name)?,
            by_key: store.tree(&format!("{name}.by"))?,
            outbox: store.tree(OUTBOX_TREE)?,
            _t: PhantomData,
        })
    }

    /// A fresh sequence number.
    pub fn next_seq(&self) -> Result<u64, StorageError> {
        self.store.next_id()
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
        let bytes = encode(record);
        let result = (&self.records, &self.by_key, &self.outbox).transaction(|(r, b, o)| {
            if let Some(rec) = r.get(seq.to_be_bytes())? {
                return Ok(Some(Some((seq, rec))));
            }
            if let Some(k) = key {
                if let Some(existing) = b.get(k.as_bytes())? {
                    let seq = seq_of(&existing);
                    if seq == FENCE {
                        return Ok(Some(None));
                    }
                    let rec = r.get(existing)?.ok_or_else(|| {
                        ConflictableTransactionError::Abort(StorageError::Corrupt {
                            key: k.to_string(),
                            reason: "secondary key without record".into(),
                        })
                    })?;
                    return Ok(Some(Some((seq, rec))));
                }
                b.insert(k.as_bytes(), &seq.to_be_bytes())?;
            }
            r.insert(&seq.to_be_bytes(), bytes.as_slice())?;
            for ev in events {
                outbox::stage(o, o.generate_id()?, ev)?;
            }
            Ok(None)
        });
        match result.map_err(StorageError::from)? {
            Some(None) => Ok(Inserted::Fenced),
            Some(Some((seq, rec))) => {
                Ok(Inserted::Existing(seq, decode(&seq.to_be_bytes(), &rec)?))
            }
            None => {
                self.store.flush().await?;
                Ok(Inserted::New)
            }
        }
    }

    /// Reads, changes and writes one record atomically. `change` returns the
    /// new record and its events; no events means "unchanged" and nothing is
    /// written. A domain error from `change` aborts without writing.
    pub async fn update<E>(
        &self,
        seq: u64,
        change: impl Fn(T) -> Result<(T, Vec<StreamEvent>), E>,
    ) -> Result<Result<Option<T>, E>, StorageError> {
        let key = seq.to_be_bytes();
        let result = (&self.records, &self.outbox).transaction(|(r, o)| {
            let Some(bytes) = r.get(key)? else {
                return Ok(None);
            };
            let current: T = decode(&key, &bytes)
                .map_err(|e| ConflictableTransactionError::Abort(Abort::Storage(e)))?;
            let (next, events) = change(current)
                .map_err(|e| ConflictableTransactionError::Abort(Abort::Domain(e)))?;
            if !events.is_empty() {
                r.insert(&key, encode(&next))?;
                for ev in &events {
                    outbox::stage(o, o.generate_id()?, ev).map_err(|e| match e {
                        ConflictableTransactionError::Abort(s) => {
                            ConflictableTransactionError::Abort(Abort::Storage(s))
                        }
                        ConflictableTransactionError::Conflict => {
                            ConflictableTransactionError::Conflict
                        }
                        ConflictableTransactionError::Storage(s) => {
                            ConflictableTransactionError::Storage(s)
                        }
                    })?;
                }
            }
            Ok(Some((next, !events.is_empty())))
        });
        match result {
            Ok(None) => Ok(Ok(None)),
            Ok(Some((next, wrote))) => {
                if wrote {
                    self.store.flush().await?;
                }
                Ok(Ok(Some(next)))
            }
            Err(TransactionError::Abort(Abort::Domain(e))) => Ok(Err(e)),
            Err(TransactionError::Abort(Abort::Storage(e))) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Reserves secondary key `key` so that no record can ever be inserted
    /// under it, unless one already is. Returns the existing record's
    /// sequence number if there is one (then nothing changes), durably.
    pub async fn fence(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let previous = self.by_key.compare_and_swap(
            key.as_bytes(),
            None as Option<&[u8]>,
            Some(&FENCE.to_be_bytes()[..]),
        )?;
        match previous {
            Ok(()) => {
                self.store.flush().await?;
                Ok(None)
            }
            Err(cas) => Ok(cas.current.map(|v| seq_of(&v)).filter(|s| *s != FENCE)),
        }
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
            .map(|v| seq_of(&v))
            .filter(|s| *s != FENCE))
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
            items.push((seq_of(&k), decode(&k, &v)?));
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

fn seq_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> StreamEvent {
        StreamEvent {
            event_id: id.into(),
            kind: "K".into(),
            data: "{}".into(),
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

        assert_eq!(outbox::pending(repo.outbox(), 10).expect("outbox").len(), 1);

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
        assert_eq!(outbox::pending(repo.outbox(), 10).expect("outbox").len(), 2);
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
    }
}
