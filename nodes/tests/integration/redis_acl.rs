//! Every role has its own Redis user (`k8s/base/redis/users.acl`, the one
//! definition the in-cluster Redis also loads), checked against a real
//! redis-server started with that file:
//! - with those users, every role does its work (an order placed, paid,
//!   delivered and cancelled, the owner's update, the status page) and
//!   Redis denies none of their commands;
//! - with its credentials, a role cannot do what it must not: the edge
//!   reads views and deliveries and nothing else, delivery does not touch
//!   order or payment keys, order and payment do not touch views or
//!   deliveries, nobody deletes or trims what is not theirs.
//!
//! Keys come from the code's constants and key functions, so a key renamed
//! without its pattern in the ACL file fails here.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::Duration,
};

use kukka_actors::{
    delivery::store::{delivery_key, DELIVERY_INDEX},
    order::on_events::consumer_group as order_group,
    payment::on_events::consumer_group as payment_group,
    runtime::role::Role,
    views::keys::{customer_views_key, view_key, VIEW_INDEX},
};
use kukka_nodes::{
    in_process::InProcessSystem,
    redis_acl::{self, ADMIN_USER},
};
use kukka_storage::bus::{Partitions, DEAD_LETTER_STREAM, PARTITIONS_KEY};
use serde_json::{json, Value};

use super::harness::{eventually, free_port, order_body, OWNER};

/// 128 random bits in hex.
fn random_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A redis-server that loads kukka's ACL file, each user with a password
/// of its own.
struct AclRedis {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
    passwords: HashMap<String, String>,
}

impl AclRedis {
    async fn start() -> AclRedis {
        let dir = tempfile::tempdir().expect("tempdir");
        let passwords: HashMap<String, String> = redis_acl::users(redis_acl::RULES)
            .into_iter()
            .map(|u| (u.to_string(), random_hex()))
            .collect();
        let acl = dir.path().join("users.acl");
        std::fs::write(
            &acl,
            redis_acl::render(redis_acl::RULES, |u| passwords[u].clone()),
        )
        .expect("write the ACL file");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--aclfile")
            .arg(&acl)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be on the PATH");
        let redis = AclRedis {
            child,
            _dir: dir,
            port,
            passwords,
        };
        let admin = redis.url(ADMIN_USER);
        let up = eventually(Duration::from_secs(10), || async {
            run(&admin, &["PING"]).await.ok()
        })
        .await;
        assert!(up.is_some(), "redis-server did not start with the ACL file");
        redis
    }

    fn url(&self, user: &str) -> String {
        format!(
            "redis://{user}:{}@127.0.0.1:{}",
            self.passwords[user], self.port
        )
    }

    fn role(&self, role: Role) -> String {
        self.url(redis_acl::user_of(role))
    }
}

impl Drop for AclRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one command as the user of `url`: its reply, or the error's code
/// (`NOPERM`, ...).
async fn run(url: &str, args: &[&str]) -> Result<redis::Value, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn)
        .await
        .map_err(|e| e.code().unwrap_or("other").to_string())
}

/// `args` is denied to `url`'s user.
async fn denied(url: &str, args: &[&str]) {
    assert_eq!(
        run(url, args).await.map(|_| ()),
        Err("NOPERM".to_string()),
        "{args:?} must be denied to {}",
        url.split(':').nth(1).unwrap_or("?")
    );
}

/// `args` is allowed to `url`'s user.
async fn allowed(url: &str, args: &[&str]) {
    if let Err(e) = run(url, args).await {
        panic!(
            "{args:?} must be allowed to {}: {e}",
            url.split(':').nth(1).unwrap_or("?")
        );
    }
}

/// The membership hash of a consumer group.
fn consumers_key(group: &str) -> String {
    kukka_actors::runtime::consumer::membership::membership_key(group)
}

#[tokio::test]
async fn each_role_does_its_work_as_its_own_redis_user_and_nothing_is_denied() {
    let redis = AclRedis::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url_of = |role: &str| redis.role(Role::parse(role).expect("role"));
    let system = InProcessSystem::start_with_urls(
        &url_of,
        dir.path(),
        &[
            "--owner-token",
            OWNER,
            "--payment-timeout-ms",
            "3000",
            "--enable-test-faults",
            "--events-retry-first-ms",
            "50",
        ],
    )
    .await
    .expect("the system starts with per-role Redis users");
    let base = format!("http://{}", system.edge_addr);
    let http = reqwest::Client::new();
    let admin = system.node("edge").expect("edge").admin_addr;
    let ready = eventually(Duration::from_secs(30), || async {
        let r = http
            .get(format!("http://{admin}/readyz?scope=cluster"))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    assert!(ready.is_some(), "not ready");
    let place = |name: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/orders"))
                .json(&order_body(name))
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), 201);
            let v: Value = r.json().await.expect("json");
            v["id"].as_str().expect("id").to_string()
        }
    };
    let until = |path: String, check: fn(&Value) -> bool| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            eventually(Duration::from_secs(20), || async {
                let v: Value = http
                    .get(format!("{base}{path}"))
                    .bearer_auth(OWNER)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                check(&v).then_some(v)
            })
            .await
            .unwrap_or_else(|| panic!("{path} never got there"))
        }
    };
    // Placed, paid, requested, started by the owner.
    let shipped = place("SHIPPED").await;
    until(format!("/myPages/{shipped}"), |v| {
        v["deliveryStatus"] == "DeliveryRequested" && v["paymentStatus"] == "PaymentConfirmed"
    })
    .await;
    let r = http
        .post(format!("{base}/deliveries"))
        .bearer_auth(OWNER)
        .json(&json!({"orderId": shipped, "status": "DeliveryStarted"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    until(format!("/myPages/{shipped}"), |v| {
        v["deliveryStatus"] == "DeliveryStarted"
    })
    .await;
    // Placed and cancelled: refunded (after two failures, retried),
    // delivery cancelled.
    let cancelled = place("CANCELLED").await;
    until(format!("/myPages/{cancelled}"), |v| {
        v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;
    let payment_admin = system.node("payment").expect("payment").admin_addr;
    let armed = http
        .post(format!("http://{payment_admin}/faults/fail-refund?times=2"))
        .send()
        .await
        .expect("arm");
    assert_eq!(armed.status(), 200);
    let r = http
        .post(format!("{base}/orders/{cancelled}/cancel"))
        .bearer_auth(OWNER)
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status(), 200);
    until(format!("/myPages/{cancelled}"), |v| {
        v["orderStatus"] == "OrderCancelled"
            && v["paymentStatus"] == "PaymentCancelled"
            && v["deliveryStatus"] == "DeliveryCancelled"
    })
    .await;
    // The operators' page reads the stream's metadata as the edge.
    let status = until("/status.json".into(), |v| v["stream"]["length"].is_u64()).await;
    assert!(status["stream"]["error"].is_null(), "{status}");
    // Redis logged no denial of anything any role asked for (a denial a
    // caller swallowed would show here). CLIENT SETINFO, which the Redis
    // client sends at connect and whose failure it ignores, is not needed.
    let admin = redis.url(ADMIN_USER);
    let log = run(&admin, &["ACL", "LOG"]).await.expect("acl log");
    let denials: Vec<String> = match log {
        redis::Value::Array(entries) => entries
            .iter()
            .map(|e| format!("{e:?}"))
            .filter(|e| !e.contains("client|setinfo"))
            .collect(),
        other => panic!("unexpected ACL LOG reply {other:?}"),
    };
    assert!(denials.is_empty(), "Redis denied: {denials:#?}");
    system.stop().await;
}

#[tokio::test]
async fn a_roles_credentials_cannot_do_what_the_role_must_not() {
    let redis = AclRedis::start().await;
    let admin = redis.url(ADMIN_USER);
    let partitions = Partitions::default();
    let view = view_key(partitions, "0-1");
    let delivery = delivery_key(partitions, "0-1");
    // The streams of order 0-1's partition: each producer's, and the
    // legacy one.
    let part = partitions.of("0-1");
    let [order_events, payment_events, delivery_events] =
        [Role::Order, Role::Payment, Role::Delivery].map(|r| r.stream(part));
    let legacy = part.legacy_stream();
    let (events, legacy) = (order_events.as_str(), legacy.as_str());
    let other_partition = partitions
        .all()
        .map(|p| Role::Order.stream(p))
        .find(|s| s != events)
        .expect("more than one partition");
    let streams = [events, &payment_events, &delivery_events, legacy];
    // Something to read, and the groups the roles use.
    allowed(&admin, &["HSET", &view, "orderId", "0-1"]).await;
    allowed(&admin, &["HSET", &delivery, "orderId", "0-1"]).await;
    allowed(&admin, &["XADD", DEAD_LETTER_STREAM, "*", "type", "x"]).await;
    for stream in streams {
        allowed(&admin, &["XADD", stream, "*", "type", "x"]).await;
        for group in ["delivery", "views", &order_group(0), &payment_group(0)] {
            allowed(&admin, &["XGROUP", "CREATE", stream, group, "0"]).await;
        }
    }
    let idem = "kukka:idem:some-key";
    let customer = "kukka:customer:{c1}:orders";
    // A customer's index of their views (the projector's, read by the edge).
    let customer_views = customer_views_key(
        &"00112233445566778899aabbccddeeff"
            .parse()
            .expect("customer id"),
    );

    // Nobody without a password: PING and nothing else.
    let anonymous = format!("redis://127.0.0.1:{}", redis.port);
    allowed(&anonymous, &["PING"]).await;
    denied(&anonymous, &["HGETALL", &view]).await;

    // The edge reads views and deliveries, and only the metadata of the
    // streams.
    let edge = redis.role(Role::Edge);
    allowed(&edge, &["HGETALL", &view]).await;
    allowed(&edge, &["HGETALL", &delivery]).await;
    allowed(&edge, &["ZRANGEBYLEX", VIEW_INDEX, "-", "+"]).await;
    allowed(&edge, &["ZRANGEBYLEX", &customer_views, "-", "+"]).await;
    denied(&edge, &["ZADD", &customer_views, "0", "x"]).await;
    allowed(&edge, &["ZRANGEBYLEX", DELIVERY_INDEX, "-", "+"]).await;
    for stream in streams {
        allowed(&edge, &["XLEN", stream]).await;
        allowed(&edge, &["XINFO", "GROUPS", stream]).await;
    }
    allowed(&edge, &["XLEN", &other_partition]).await;
    allowed(&edge, &["SET", PARTITIONS_KEY, "16", "NX"]).await;
    allowed(&edge, &["GET", PARTITIONS_KEY]).await;
    denied(&edge, &["HSET", &view, "orderStatus", "Forged"]).await;
    denied(&edge, &["HSET", &delivery, "status", "Delivered"]).await;
    denied(&edge, &["ZADD", VIEW_INDEX, "0", "x"]).await;
    denied(&edge, &["XADD", events, "*", "type", "OrderCancelled"]).await;
    denied(&edge, &["XRANGE", events, "-", "+"]).await;
    denied(&edge, &["XRANGE", &other_partition, "-", "+"]).await;
    denied(&edge, &["XRANGE", DEAD_LETTER_STREAM, "-", "+"]).await;
    denied(
        &edge,
        &["XREADGROUP", "GROUP", "views", "x", "STREAMS", events, ">"],
    )
    .await;
    denied(&edge, &["DEL", &view]).await;
    denied(&edge, &["GET", idem]).await;
    denied(&edge, &["SCAN", "0"]).await;
    denied(&edge, &["EVAL", "return 1", "0"]).await;
    denied(&edge, &["CONFIG", "GET", "requirepass"]).await;

    // Order and payment: append to their own streams, read the streams
    // they consume (and the legacy ones) in their groups; not the third
    // role's events, no views, no deliveries, no trimming, no one else's
    // keys.
    let read = |group: &str, stream: &str| {
        [
            "XREADGROUP",
            "GROUP",
            group,
            "c",
            "COUNT",
            "1",
            "STREAMS",
            stream,
            ">",
        ]
        .map(str::to_string)
    };
    for (role, own, other, own_events, consumed, foreign) in [
        (
            Role::Order,
            order_group(0),
            payment_group(0),
            events,
            delivery_events.as_str(),
            payment_events.as_str(),
        ),
        (
            Role::Payment,
            payment_group(0),
            order_group(0),
            payment_events.as_str(),
            events,
            delivery_events.as_str(),
        ),
    ] {
        let url = redis.role(role);
        allowed(&url, &["XADD", own_events, "*", "type", "x"]).await;
        for stream in [consumed, legacy] {
            allowed(&url, &read(&own, stream).each_ref().map(String::as_str)).await;
        }
        denied(&url, &["XADD", foreign, "*", "type", "x"]).await;
        denied(&url, &read(&own, foreign).each_ref().map(String::as_str)).await;
        denied(&url, &read(&own, own_events).each_ref().map(String::as_str)).await;
        denied(&url, &["XRANGE", own_events, "-", "+"]).await;
        allowed(&url, &["XADD", DEAD_LETTER_STREAM, "*", "type", "x"]).await;
        allowed(&url, &["HSET", &consumers_key(&own), "c", "1"]).await;
        denied(&url, &["HSET", &consumers_key(&other), "c", "1"]).await;
        denied(&url, &["HSET", &consumers_key("delivery"), "c", "1"]).await;
        denied(&url, &["HGETALL", &view]).await;
        denied(&url, &["HSET", &view, "paymentStatus", "Forged"]).await;
        denied(&url, &["HSET", &delivery, "status", "Delivered"]).await;
        denied(&url, &["XRANGE", DEAD_LETTER_STREAM, "-", "+"]).await;
        denied(&url, &["XTRIM", consumed, "MAXLEN", "0"]).await;
        denied(&url, &["XGROUP", "DESTROY", consumed, &other]).await;
        denied(&url, &["DEL", own_events]).await;
        denied(&url, &["SET", idem, "x"]).await;
        denied(&url, &["EVAL", "return 1", "0"]).await;
        denied(&url, &["FLUSHALL"]).await;
    }

    // Delivery: views, deliveries, their events and groups, trimming; no
    // order or payment keys, and its scripts cannot reach them either.
    let delivery_user = redis.role(Role::Delivery);
    allowed(
        &delivery_user,
        &["HSET", &view, "deliveryStatus", "DeliveryRequested"],
    )
    .await;
    allowed(
        &delivery_user,
        &["HSET", &delivery, "status", "DeliveryRequested"],
    )
    .await;
    allowed(
        &delivery_user,
        &["XADD", &delivery_events, "*", "type", "x"],
    )
    .await;
    allowed(&delivery_user, &["ZADD", &customer_views, "0", "x"]).await;
    allowed(&delivery_user, &["XTRIM", DEAD_LETTER_STREAM, "MINID", "0"]).await;
    for stream in streams {
        allowed(&delivery_user, &["XTRIM", stream, "MINID", "0"]).await;
        allowed(&delivery_user, &["XINFO", "GROUPS", stream]).await;
        allowed(
            &delivery_user,
            &read("views", stream).each_ref().map(String::as_str),
        )
        .await;
    }
    allowed(&delivery_user, &["HSET", &consumers_key("views"), "c", "1"]).await;
    allowed(
        &delivery_user,
        &[
            "EVAL",
            "return redis.call('HGET', KEYS[1], 'orderId')",
            "1",
            &view,
        ],
    )
    .await;
    for order_or_payment in [
        consumers_key(&order_group(0)),
        consumers_key(&payment_group(0)),
        idem.to_string(),
        customer.to_string(),
    ] {
        denied(&delivery_user, &["XADD", &order_or_payment, "*", "c", "1"]).await;
        denied(&delivery_user, &["HSET", &order_or_payment, "c", "1"]).await;
        denied(
            &delivery_user,
            &[
                "EVAL",
                "return redis.call('HSET', KEYS[1], 'c', '1')",
                "1",
                &order_or_payment,
            ],
        )
        .await;
    }
    denied(
        &delivery_user,
        &["XGROUP", "DESTROY", events, &order_group(0)],
    )
    .await;
    denied(&delivery_user, &["DEL", &view]).await;
    denied(&delivery_user, &["SET", idem, "x"]).await;
    denied(&delivery_user, &["FLUSHALL"]).await;
    denied(&delivery_user, &["CONFIG", "SET", "maxmemory", "1"]).await;

    // The same commands are not refused for some other reason: the admin
    // may run them.
    allowed(&admin, &["XGROUP", "DESTROY", events, &order_group(0)]).await;
    allowed(&admin, &["XTRIM", events, "MAXLEN", "0"]).await;
    allowed(&admin, &["HSET", idem, "c", "1"]).await;
}
