//! Serving requests on their own tasks, and draining them at shutdown.
//!
//! A service actor (order shard, payment shard, delivery desk) hands each
//! request to [`Drain::serve`], which runs it on its own task: requests are
//! served concurrently, and a panic while handling one ends that task only
//! (its caller gets an error), never the actor or the node. Requests in
//! flight are counted so a stopping node can wait for them
//! ([`Drain::wait_idle`]). Once [`Drain::start`] was called, late requests
//! get a clean "unavailable, retry" instead of being taken on; so does a
//! request that finds [`Drain::limit`] requests already in flight (however
//! many edges send to this node, it never holds more tasks than that).

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use ractor::{BytesConvertable, RpcReplyPort};
use tokio::sync::Notify;

use super::{
    error::{Reply, ServiceError},
    groups::Namespace,
    metrics,
    wire::Wire,
};

/// Requests a node serves at once unless told otherwise
/// (`--max-in-flight`).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

/// One node's requests in flight and whether it is draining.
#[derive(Debug)]
pub struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    limit: usize,
    idle: Notify,
}

impl Drain {
    /// A node that takes up to [`DEFAULT_MAX_IN_FLIGHT`] requests at once.
    pub fn new() -> Arc<Self> {
        Self::with_limit(DEFAULT_MAX_IN_FLIGHT)
    }

    /// A node that takes up to `limit` requests at once (at least one).
    pub fn with_limit(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            limit: limit.max(1),
            idle: Notify::new(),
        })
    }

    /// The most requests served at once; more are answered "retry".
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// From now on, requests are answered "retry" instead of served.
    pub fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`Drain::start`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Requests being served.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight; `false` if `within` passed first.
    pub async fn wait_idle(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.idle.notified();
            if self.in_flight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight() == 0;
            }
        }
    }

    /// Runs `work` on its own task and sends its result to `reply`.
    pub fn serve<T, F>(self: &Arc<Self>, reply: RpcReplyPort<Wire<Reply<T>>>, work: F)
    where
        T: Send + 'static,
        Wire<Reply<T>>: BytesConvertable,
        F: Future<Output = Reply<T>> + Send + 'static,
    {
        if self.is_draining() {
            let _ = reply.send(Wire::new(Err(ServiceError::unavailable(
                "this node is shutting down; retry",
            ))));
            return;
        }
        let Some(guard) = InFlight::start(self.clone()) else {
            metrics::node_overloaded();
            let _ = reply.send(Wire::new(Err(ServiceError::unavailable(
                "this node is serving as many requests as it may; retry",
            ))));
            return;
        };
        tokio::spawn(async move {
            let _guard = guard;
            let _ = reply.send(Wire::new(work.await));
        });
    }
}

/// Counts a request as in flight until dropped (also when its task panics).
struct InFlight(Arc<Drain>);

impl InFlight {
    /// `None` when the node already serves its limit.
    fn start(drain: Arc<Drain>) -> Option<Self> {
        let limit = drain.limit;
        drain
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(Self(drain))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Takes this node's actors `actors` (short names) out of every process
/// group, so callers stop picking them.
pub fn leave_groups(ns: &Namespace, actors: &[&str]) {
    for name in actors {
        if let Some(cell) = ractor::registry::where_is(ns.name(name)) {
            ns.leave_all(&cell);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_flight_requests_are_counted_until_done_and_draining_refuses() {
        let drain = Drain::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (reply, answer) = tokio::sync::oneshot::channel();
        drain.serve::<u32, _>(reply.into(), async move {
            let _ = rx.await;
            Ok(7)
        });
        assert_eq!(drain.in_flight(), 1);
        assert!(!drain.wait_idle(Duration::from_millis(20)).await);
        let _ = tx.send(());
        assert!(drain.wait_idle(Duration::from_secs(5)).await);
        assert_eq!(
            answer.await.expect("answer").into_inner().expect("ok"),
            Ok(7)
        );

        drain.start();
        let (reply, answer) = tokio::sync::oneshot::channel();
        drain.serve::<u32, _>(reply.into(), async { Ok(1) });
        let refused = answer.await.expect("answer").into_inner().expect("ok");
        assert!(matches!(refused, Err(ServiceError::Unavailable { .. })));
        assert_eq!(drain.in_flight(), 0);
    }

    #[tokio::test]
    async fn past_its_limit_a_node_refuses_at_once_and_serves_again_when_one_ends() {
        let drain = Drain::with_limit(2);
        let mut holds = Vec::new();
        let mut answers = Vec::new();
        for i in 0..2 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let (reply, answer) = tokio::sync::oneshot::channel();
            drain.serve::<u32, _>(reply.into(), async move {
                let _ = rx.await;
                Ok(i)
            });
            holds.push(tx);
            answers.push(answer);
        }
        assert_eq!(drain.in_flight(), 2);

        let (reply, answer) = tokio::sync::oneshot::channel();
        drain.serve::<u32, _>(reply.into(), async { Ok(9) });
        let refused = answer.await.expect("answer").into_inner().expect("ok");
        assert!(
            matches!(refused, Err(ServiceError::Unavailable { .. })),
            "{refused:?}"
        );
        assert_eq!(drain.in_flight(), 2, "the refused one never ran");

        let _ = holds.remove(0).send(());
        let first = answers.remove(0).await.expect("answer").into_inner();
        assert_eq!(first.expect("ok"), Ok(0));
        assert!(
            tokio::time::timeout(Duration::from_secs(5), async {
                while drain.in_flight() != 1 {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .is_ok(),
            "the finished request still counts"
        );
        let (reply, answer) = tokio::sync::oneshot::channel();
        drain.serve::<u32, _>(reply.into(), async { Ok(10) });
        let served = answer.await.expect("answer").into_inner().expect("ok");
        assert_eq!(served, Ok(10));
    }
}
