//! The ways the baseline stores an order (see [`super::Storage`]).
//! Each makes the payment row durable, then the order row, and gets both
//! events to the stream.

use kukka_actors::{
    events::{Envelope, EventBody},
    order::{id::OrderId, model::Order, new_order::NewOrder},
    payment::model::Payment,
};
use kukka_storage::redis_conn::RedisConn;
use kukka_storage::{
    aggregate_repo::{AggregateRepo, Inserted},
    bus,
    outbox::StreamEvent,
    sled_store::{encode, SledStore},
    StorageError,
};
use tokio::{sync::watch, task::JoinHandle};

use super::{group_flush::Flusher, relay, Storage};
use crate::BenchError;

/// Where and how orders are stored.
#[derive(Clone)]
pub enum Backend {
    /// Plain inserts into two trees, group commit, `XADD` inline.
    Plain {
        /// The database (for ids).
        store: SledStore,
        /// Shares flushes between concurrent requests.
        flusher: Flusher,
        /// Payment rows by order id.
        payments: sled::Tree,
        /// Order rows by sequence number.
        orders: sled::Tree,
        /// Redis.
        redis: RedisConn,
    },
    /// The cluster's repositories; a relay publishes the outbox.
    Outbox {
        /// Payments (secondary key: the order id), as on a payment node.
        payments: AggregateRepo<Payment>,
        /// Orders, as on an order node.
        orders: AggregateRepo<Order>,
    },
}

impl Backend {
    /// Opens the trees of `storage` and starts its relay, if it has one.
    pub fn open(
        storage: Storage,
        store: &SledStore,
        redis: &RedisConn,
        stop: watch::Receiver<bool>,
    ) -> Result<(Self, Option<JoinHandle<()>>), BenchError> {
        Ok(match storage {
            Storage::Plain => (
                Self::Plain {
                    store: store.clone(),
                    flusher: Flusher::spawn(store.db().clone()),
                    payments: store.tree("plain.payments")?.0,
                    orders: store.tree("plain.orders")?.0,
                    redis: redis.clone(),
                },
                None,
            ),
            Storage::Outbox => {
                let orders = AggregateRepo::open(store, "repo.orders")?;
                let task = tokio::spawn(relay::run(
                    orders.outbox().clone(),
                    store.durable_outbox(),
                    redis.clone(),
                    stop,
                ));
                let backend = Self::Outbox {
                    payments: AggregateRepo::open(store, "repo.payments")?,
                    orders,
                };
                (backend, Some(task))
            }
        })
    }

    /// Stores one order durably; the order as answered to the client.
    pub async fn persist(&self, new: NewOrder) -> Result<Order, BenchError> {
        match self {
            Self::Plain {
                store,
                flusher,
                payments,
                orders,
                redis,
            } => {
                let p = Placed::new(store.next_id()?, new);
                payments
                    .insert(p.order.id.to_string().as_bytes(), encode(&p.payment))
                    .map_err(StorageError::from)?;
                flusher.flush().await?;
                orders
                    .insert(p.seq.to_be_bytes(), encode(&p.order))
                    .map_err(StorageError::from)?;
                flusher.flush().await?;
                // Each event to its producer's stream, both sent at once,
                // as the payment and order nodes' relays append them.
                let (mut c1, mut c2) = (redis.clone(), redis.clone());
                let parts = bus::Partitions::default();
                let [paid, placed] = &p.events;
                let (r1, r2) = tokio::join!(
                    bus::publish(
                        &mut c1,
                        parts,
                        "payment",
                        std::slice::from_ref(paid),
                        Default::default()
                    ),
                    bus::publish(
                        &mut c2,
                        parts,
                        "order",
                        std::slice::from_ref(placed),
                        Default::default()
                    ),
                );
                match r1.and(r2) {
                    Ok(()) => Ok(p.order),
                    Err(StorageError::Redis(e)) => Err(BenchError::Redis(e)),
                    Err(e) => Err(e.into()),
                }
            }
            Self::Outbox { payments, orders } => {
                let p = Placed::new(payments.next_seq()?, new);
                let [paid, placed] = p.events;
                let first = payments
                    .insert(p.seq, Some(&p.order.id.to_string()), &p.payment, &[paid])
                    .await?;
                if !matches!(first, Inserted::New) {
                    return Err(already_paid(&p.order.id));
                }
                orders.insert(p.seq, None, &p.order, &[placed]).await?;
                Ok(p.order)
            }
        }
    }
}

fn already_paid(order_id: &OrderId) -> BenchError {
    BenchError::Storage(StorageError::Corrupt {
        key: order_id.to_string(),
        reason: "the order was paid already".into(),
    })
}

/// The rows and events of one placed order.
struct Placed {
    seq: u64,
    payment: Payment,
    order: Order,
    events: [StreamEvent; 2],
}

impl Placed {
    fn new(seq: u64, new: NewOrder) -> Self {
        let order_id = OrderId::new(0, seq);
        let payment_id = format!("pay-0-{seq}");
        let correlation_id = format!("baseline-{seq}");
        let now = kukka_actors::runtime::clock::now();
        let payment = Payment::confirmed(payment_id.clone(), order_id, new.price, &now);
        let order = Order::placed(order_id, new.into_line(), payment_id.clone(), &now);
        let placed = Envelope::new(
            &correlation_id,
            order_id,
            EventBody::order_placed(&order, &payment_id),
        );
        let paid = Envelope::new(
            &correlation_id,
            order_id,
            EventBody::PaymentConfirmed {
                payment_id,
                amount: payment.amount,
            },
        );
        Self {
            seq,
            payment,
            order,
            events: [paid.to_stream_event(), placed.to_stream_event()],
        }
    }
}
