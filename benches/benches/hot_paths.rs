//! Micro benchmarks of the hot pure code on the order path: the circuit
//! breaker's decision, event encoding and decoding, and order validation.
//! Run with `cargo bench -p kukka-benches --bench hot_paths`.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, Criterion};
use kukka_actors::{
    events::{Envelope, EventBody},
    order::{
        breaker::{Breaker, BreakerConfig},
        catalog::Catalog,
        id::OrderId,
        model::Order,
        new_order::NewOrder,
    },
};

fn order_json() -> serde_json::Value {
    serde_json::json!({"customerName": "KIM", "phoneNumber": "010-1234-1234",
        "address": "SEOUL", "flowerType": "MixBox", "price": 10000, "qty": 2})
}

fn breaker(c: &mut Criterion) {
    let now = Instant::now();
    let mut b = Breaker::new(BreakerConfig::default(), now);
    c.bench_function("breaker/try_acquire+on_success (closed)", |bench| {
        bench.iter(|| {
            let (permit, _) = b.try_acquire(black_box(now));
            if let Ok(p) = permit {
                black_box(b.on_success(p, black_box(Duration::from_millis(3)), now));
            }
        })
    });
    let mut open = Breaker::new(BreakerConfig::default(), now);
    for _ in 0..20 {
        if let (Ok(p), _) = open.try_acquire(now) {
            let _ = open.on_failure(p, now);
        }
    }
    c.bench_function("breaker/try_acquire (open, refused)", |bench| {
        bench.iter(|| black_box(open.try_acquire(black_box(now))))
    });
}

fn events(c: &mut Criterion) {
    let new = NewOrder::parse(&order_json(), &Catalog::builtin()).expect("a valid order");
    let id = OrderId::new(0, 17);
    let order = Order::placed(
        id,
        new.into_line(),
        "pay-0-17".into(),
        "2026-01-01T00:00:00.000Z",
    );
    let envelope = Envelope::new("corr-1", id, EventBody::order_placed(&order, "pay-0-17"));
    c.bench_function("events/to_stream_event (OrderPlaced)", |bench| {
        bench.iter(|| black_box(black_box(&envelope).to_stream_event()))
    });
    let stream = envelope.to_stream_event();
    c.bench_function("events/from_stream_event (OrderPlaced)", |bench| {
        bench.iter(|| black_box(Envelope::from_stream_event(black_box(&stream))))
    });
}

fn validation(c: &mut Criterion) {
    let value = order_json();
    let catalog = Catalog::builtin();
    c.bench_function("validation/NewOrder::parse", |bench| {
        bench.iter(|| black_box(NewOrder::parse(black_box(&value), &catalog)))
    });
    let bytes = serde_json::to_vec(&value).expect("json");
    c.bench_function(
        "validation/bytes -> NewOrder (serde_json + parse)",
        |bench| {
            bench.iter(|| {
                let v: serde_json::Value =
                    serde_json::from_slice(black_box(&bytes)).expect("valid json");
                black_box(NewOrder::parse(&v, &catalog))
            })
        },
    );
}

criterion_group!(hot_paths, breaker, events, validation);
criterion_main!(hot_paths);
