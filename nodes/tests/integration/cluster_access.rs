//! The cluster is closed to strangers: nodes talk over mutual TLS with the
//! certificates `kukka up` makes, a node without a valid certificate never
//! joins (even with the right cookie), and a node with a valid certificate
//! can only send what its role may send: an edge cannot charge, and cannot
//! pose as a payment shard.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kukka_actors::{
    order::{id::OrderId, messages::ByOrder},
    payment::{
        messages::{ChargeRequest, PaymentMsg},
        model::Payment,
    },
    runtime::{
        error::ServiceError,
        groups::{Namespace, PAYMENT_SHARDS},
        role::Role,
        rpc::rpc,
        wire::Wire,
    },
};
use kukka_nodes::cluster::{
    self,
    certs::{write_node_dir, ClusterCa},
    tls::ClusterTls,
    transport,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::harness::{eventually, free_port, System};

/// The cluster addresses of a system's order, payment and delivery nodes.
fn seeds(sys: &System) -> String {
    ["order", "payment", "delivery"]
        .iter()
        .map(|n| {
            sys.run_info(n)["clusterAddr"]
                .as_str()
                .expect("clusterAddr")
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// An edge node outside the system, with the system's cookie (the default
/// one) and `tls_dir` (or none), dialing the system's nodes.
fn intruder(sys: &System, name: &str, tls_dir: Option<&Path>) -> (Child, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(sys.dir.path().join(format!("{name}.log"))).expect("log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kukka"));
    cmd.args(["node", "--role", "edge", "--instance", name])
        .args(["--cluster-bind", "127.0.0.1"])
        .args(["--cluster-port", &free_port().to_string()])
        .args(["--admin-addr", &admin])
        .args(["--http-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--redis-url", &sys.redis_url()])
        .args(["--seed", &seeds(sys)])
        .env_remove("KUKKA_COOKIE")
        .env_remove("KUKKA_CLUSTER_TLS_DIR")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    if let Some(dir) = tls_dir {
        cmd.arg("--cluster-tls-dir").arg(dir);
    }
    (cmd.spawn().expect("spawn intruder"), admin)
}

/// Refused handshakes counted by a node.
async fn refused_handshakes(sys: &System, node: &str) -> f64 {
    sys.metric(
        node,
        "kukka_cluster_handshakes_failed_total{reason=\"tls\"}",
    )
    .await
    .unwrap_or(0.0)
}

#[tokio::test]
async fn a_node_without_a_valid_certificate_never_joins() {
    let sys = System::start().await;
    // One intruder without TLS, one with a certificate of another CA (for
    // the right role). Both know the cookie.
    let other_ca = ClusterCa::generate("stranger", Duration::from_secs(3600)).expect("ca");
    let forged = sys.dir.path().join("forged-tls");
    let cert = other_ca.issue(Role::Edge, "edge-9").expect("issue");
    write_node_dir(&forged, &other_ca.cert_pem(), &cert).expect("write");
    let refused_before = refused_handshakes(&sys, "payment").await;
    let mut intruders = vec![
        intruder(&sys, "plain-edge", None),
        intruder(&sys, "forged-edge", Some(&forged)),
    ];
    for (_, admin) in &intruders {
        let probe = sys.readiness_at(admin).await;
        assert_eq!(probe["checks"]["order"], false, "{probe}");
    }
    // They keep dialing and being refused, and the cluster works meanwhile.
    let refused = eventually(Duration::from_secs(20), || async {
        let n = refused_handshakes(&sys, "payment").await;
        (n >= refused_before + 4.0).then_some(n)
    })
    .await;
    assert!(
        refused.is_some(),
        "payment did not refuse both intruders' handshakes, again and again"
    );
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        sys.place("HEALTHY").await;
        for (_, admin) in &intruders {
            let v: serde_json::Value = sys
                .http
                .get(format!("http://{admin}/readyz"))
                .send()
                .await
                .expect("probe")
                .json()
                .await
                .expect("json");
            for role in ["order", "payment", "delivery"] {
                assert_eq!(v["checks"][role], false, "an intruder joined: {v}");
            }
        }
    }
    for (child, _) in intruders.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(sys.cluster_ready().await, 200);
}

/// A payment shard impostor: answers every charge "confirmed" without
/// charging anything.
struct Impostor;

impl Actor for Impostor {
    type Msg = PaymentMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Namespace::cluster("impostor").join(
            &myself.get_cell(),
            &[PAYMENT_SHARDS.to_string(), "payment.0".to_string()],
        );
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let PaymentMsg::Charge(req, reply) = msg {
            let req = req.into_inner()?;
            let fake = Payment::confirmed("pay-fake".into(), req.order_id, req.amount, "now");
            let _ = reply.send(Wire::new(Ok(fake)));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_peer_with_an_edge_certificate_may_not_charge_or_pose_as_payment() {
    let sys = System::start().await;
    let paid = sys.place("PAID").await;
    // This test process becomes a cluster node with the edge's own,
    // valid certificate.
    let edge_tls = ClusterTls::load(&sys.dir.path().join("tls").join("edge"), Role::Edge)
        .expect("the edge's certificate");
    let server = cluster::start(
        "127.0.0.1".parse().expect("ip"),
        0,
        kukka_nodes::cli::DEFAULT_COOKIE.into(),
        "test-edge".into(),
        "127.0.0.1".into(),
        Some(edge_tls.clone()),
    )
    .await
    .expect("node server");
    let (_impostor, _) = Actor::spawn(None, Impostor, ()).await.expect("impostor");
    for node in ["payment", "order"] {
        let addr = sys.run_info(node)["clusterAddr"]
            .as_str()
            .expect("addr")
            .parse()
            .expect("socket addr");
        let role = transport::dial(&server, &edge_tls, addr)
            .await
            .expect("dial");
        assert_eq!(role.as_str(), node, "the peer's certificate names its role");
    }
    let ns = Namespace::cluster("test-edge");
    let payment: ActorRef<PaymentMsg> = eventually(Duration::from_secs(20), || async {
        ns.all::<PaymentMsg>(PAYMENT_SHARDS)
            .into_iter()
            .find(|a| !a.get_id().is_local())
    })
    .await
    .expect("the payment shard is visible to the edge");
    let call = Duration::from_secs(2);

    // What an edge may do, it can: read a payment.
    let by_order = ByOrder {
        correlation_id: "cluster-access".into(),
        order_id: paid.parse().expect("order id"),
        customer: None,
        traceparent: None,
    };
    let got = rpc(
        &payment,
        |port| PaymentMsg::Get(Wire::new(by_order.clone()), port),
        call,
    )
    .await
    .expect("an edge reads payments");
    assert_eq!(got.order_id.to_string(), paid);

    // A charge from an edge is dropped by the payment node: no answer, no
    // payment.
    let victim = OrderId::new(0, 999_999);
    let charge = ChargeRequest {
        correlation_id: "cluster-access".into(),
        order_id: victim,
        amount: 1,
        traceparent: None,
    };
    let answer = rpc(
        &payment,
        |port| PaymentMsg::Charge(Wire::new(charge.clone()), port),
        call,
    )
    .await;
    assert!(
        matches!(answer, Err(ServiceError::Unavailable { .. })),
        "the charge got an answer: {answer:?}"
    );
    let (status, _) = sys.get(&format!("/payments/{victim}")).await;
    assert_eq!(status, 404, "no payment was made");
    let refused = sys
        .metric(
            "payment",
            "kukka_cluster_frames_refused_total{peer_role=\"edge\",reason=\"message\"}",
        )
        .await;
    assert_eq!(refused, Some(1.0));

    // The impostor's join of the payment groups reached neither node: every
    // order is paid by the real payment shard.
    let joins = eventually(Duration::from_secs(10), || async {
        sys.metric(
            "order",
            "kukka_cluster_frames_refused_total{peer_role=\"edge\",reason=\"group\"}",
        )
        .await
    })
    .await;
    assert!(joins.is_some_and(|n| n >= 1.0), "the join was not refused");
    for i in 0..10 {
        let id = sys.place(&format!("AFTER-{i}")).await;
        let (_, body) = sys.get(&format!("/payments/{id}")).await;
        assert_eq!(body["orderId"], id.as_str(), "{body}");
        assert_ne!(body["id"], "pay-fake", "the impostor was asked to charge");
    }
    server.stop(None);
}

#[tokio::test]
async fn every_message_is_checked_by_the_node_that_receives_it() {
    use std::collections::BTreeMap;

    use kukka_actors::{
        delivery::messages::{DeliveryMsg, DeliveryUpdate},
        order::messages::{OrderMsg, PlaceOrder},
        runtime::{groups::DELIVERY_DESKS, groups::ORDER_SHARDS, paging::ListQuery},
    };

    let app = super::harness::TestApp::spawn().await;
    let ns = Namespace::new(&app.system().scope, "a-caller");
    let payment: ActorRef<PaymentMsg> = ns.pick(PAYMENT_SHARDS).expect("payment");
    let order: ActorRef<OrderMsg> = ns.pick(ORDER_SHARDS).expect("order");
    let desk: ActorRef<DeliveryMsg> = ns.pick(DELIVERY_DESKS).expect("delivery");
    let call = Duration::from_secs(5);
    let invalid = |r: Result<_, ServiceError>, field: &str| match r {
        Err(ServiceError::Invalid { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected {field} to be refused, got {other:?}"),
    };
    let charge = |amount: u64, cid: &str| ChargeRequest {
        correlation_id: cid.into(),
        order_id: OrderId::new(0, 4242),
        amount,
        traceparent: None,
    };
    for (req, field) in [
        (charge(0, "c"), "amount"),
        (charge(100_000_001, "c"), "amount"),
        (charge(u64::MAX, "c"), "amount"),
        (charge(10, "a b"), "correlationId"),
        (charge(10, &"x".repeat(129)), "correlationId"),
        (charge(10, ""), "correlationId"),
    ] {
        let r = rpc(&payment, |p| PaymentMsg::Charge(Wire::new(req), p), call).await;
        invalid(r.map(|_| ()), field);
    }
    let traced = ByOrder {
        correlation_id: "c".into(),
        order_id: OrderId::new(0, 1),
        customer: None,
        traceparent: Some("x".repeat(5_000)),
    };
    let r = rpc(&payment, |p| PaymentMsg::Get(Wire::new(traced), p), call).await;
    invalid(r.map(|_| ()), "traceparent");
    let huge = ListQuery {
        after: (0..2000u32).map(|s| (s, 0)).collect::<BTreeMap<_, _>>(),
        limit: 10,
    };
    let r = rpc(
        &payment,
        |p| PaymentMsg::List(Wire::new(huge.clone()), p),
        call,
    )
    .await;
    invalid(r.map(|_| ()), "cursor");
    let r = rpc(&order, |p| OrderMsg::List(Wire::new(huge), p), call).await;
    invalid(r.map(|_| ()), "cursor");
    // The receiving shard caps a page whatever the sender asked for.
    let greedy = ListQuery {
        after: BTreeMap::new(),
        limit: u32::MAX,
    };
    for i in 0..3 {
        app.place(&format!("CAPPED-{i}")).await;
    }
    let page = rpc(&order, |p| OrderMsg::List(Wire::new(greedy), p), call)
        .await
        .expect("a page");
    assert!(page.items.len() <= 500 && page.items.len() >= 3);
    let update = DeliveryUpdate {
        correlation_id: "c".into(),
        order_id: OrderId::new(0, 1),
        status: "DeliveryCancelled".into(),
    };
    let r = rpc(&desk, |p| DeliveryMsg::Update(Wire::new(update), p), call).await;
    invalid(r.map(|_| ()), "status");
    let order_body: kukka_actors::order::new_order::NewOrder =
        serde_json::from_value(super::harness::order_body("VALID")).expect("a valid order");
    let place = PlaceOrder {
        correlation_id: "c".into(),
        order: order_body,
        customer: None,
        idempotency_key: Some("k".repeat(201)),
        key_scope: Default::default(),
        traceparent: None,
    };
    let r = rpc(&order, |p| OrderMsg::Place(Wire::new(place), p), call).await;
    invalid(r.map(|_| ()), "idempotencyKey");
    // Nothing of it was written.
    let (_, payments) = app.get("/payments?limit=500").await;
    let charged: Vec<_> = payments["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|p| p["orderId"] == "0-4242")
        .collect();
    assert!(charged.is_empty(), "{charged:?}");
    app.stop().await;
}
