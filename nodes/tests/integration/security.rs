//! Cluster membership is by cookie; secrets come from the environment;
//! Redis with a password works.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use super::harness::{free_port, RedisServer, System};

#[tokio::test]
async fn a_node_with_a_wrong_cookie_is_refused_and_disturbs_nobody() {
    let sys = System::start().await;
    let seeds: Vec<String> = ["order", "payment", "delivery"]
        .iter()
        .map(|n| {
            sys.run_info(n)["clusterAddr"]
                .as_str()
                .expect("clusterAddr")
                .to_string()
        })
        .collect();
    let admin = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(sys.dir.path().join("intruder.log")).expect("log");
    let mut intruder = Command::new(env!("CARGO_BIN_EXE_kukka"))
        .args([
            "node",
            "--role",
            "edge",
            "--cookie",
            "not-the-cookie",
            "--cluster-bind",
            "127.0.0.1",
        ])
        .args([
            "--cluster-port",
            &free_port().to_string(),
            "--admin-addr",
            &admin,
        ])
        .args([
            "--http-addr",
            &format!("127.0.0.1:{}", free_port()),
            "--redis-url",
            &sys.redis_url(),
        ])
        .args(["--seed", &seeds.join(",")])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn intruder");
    // The intruder starts serving its probes but never joins anything.
    let answering = sys.readiness_at(&admin).await;
    assert_eq!(answering["checks"]["order"], false, "{answering}");
    // While it keeps dialing with the wrong cookie, the cluster works.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        sys.place("HEALTHY").await;
        let r = sys
            .http
            .get(format!("http://{admin}/readyz"))
            .send()
            .await
            .expect("probe");
        let v: serde_json::Value = r.json().await.expect("json");
        assert_eq!(v["checks"]["order"], false, "the intruder joined: {v}");
    }
    let _ = intruder.kill();
    let _ = intruder.wait();
    assert_eq!(sys.cluster_ready().await, 200);
}

#[test]
fn the_default_cookie_is_refused_off_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_kukka"))
        .args([
            "node",
            "--role",
            "payment",
            "--cluster-bind",
            "0.0.0.0",
            "--cluster-port",
            "0",
        ])
        .env_remove("KUKKA_COOKIE")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("default cluster cookie"), "{err}");
}

/// Runs `kukka node` with `args` until it exits (it must refuse to start);
/// its stderr.
fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kukka"))
        .arg("node")
        .args(args)
        .env_remove("KUKKA_COOKIE")
        .env_remove("KUKKA_OWNER_TOKEN")
        .env_remove("KUKKA_TOKEN_SECRET")
        .env_remove("KUKKA_CATALOG")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success(), "{args:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn off_loopback_short_or_published_secrets_are_refused() {
    const GOOD: &str = "a-cluster-secret-of-more-than-32-chars";
    let public = [
        "--role",
        "edge",
        "--cluster-bind",
        "0.0.0.0",
        "--cluster-port",
        "0",
        "--http-addr",
        "0.0.0.0:0",
        "--admin-addr",
        "0.0.0.0:0",
    ];
    let with = |extra: &[&'static str]| {
        let mut v: Vec<&str> = public.to_vec();
        v.extend_from_slice(extra);
        refused(&v)
    };
    for (extra, says) in [
        (
            [
                "--cookie",
                GOOD,
                "--token-secret",
                GOOD,
                "--owner-token",
                "owner-secret",
            ],
            "the owner token is a published placeholder",
        ),
        (
            [
                "--cookie",
                GOOD,
                "--token-secret",
                GOOD,
                "--owner-token",
                "CHANGE-ME-owner-token",
            ],
            "the owner token is a published placeholder",
        ),
        (
            [
                "--cookie",
                GOOD,
                "--token-secret",
                GOOD,
                "--owner-token",
                "short-but-mine",
            ],
            "the owner token is shorter than 32 characters",
        ),
        (
            [
                "--cookie",
                "CHANGE-ME-cluster-cookie",
                "--token-secret",
                GOOD,
                "--owner-token",
                GOOD,
            ],
            "the cluster cookie is a published placeholder",
        ),
        (
            [
                "--cookie",
                "tiny",
                "--token-secret",
                GOOD,
                "--owner-token",
                GOOD,
            ],
            "the cluster cookie is shorter than 32 characters",
        ),
        (
            [
                "--cookie",
                GOOD,
                "--owner-token",
                GOOD,
                "--token-secret",
                "CHANGE-ME-token-secret",
            ],
            "the customer-token secret is a published placeholder",
        ),
    ] {
        let err = with(&extra);
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    let err = with(&["--cookie", GOOD, "--owner-token", GOOD]);
    assert!(err.contains("needs KUKKA_TOKEN_SECRET"), "{err}");
}

#[test]
fn an_edge_with_a_broken_catalog_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("catalog.json");
    std::fs::write(
        &file,
        r#"{"items": [{"flowerType": "MixBox", "name": "Mix", "price": 0}]}"#,
    )
    .expect("write");
    let redis = format!("redis://127.0.0.1:{}", free_port());
    let err = refused(&[
        "--role",
        "edge",
        "--cluster-bind",
        "127.0.0.1",
        "--cluster-port",
        "0",
        "--http-addr",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--redis-url",
        &redis,
        "--catalog",
        &file.to_string_lossy(),
    ]);
    assert!(
        err.contains("the edge needs a valid catalog") && err.contains("price must be"),
        "{err}"
    );
}

#[tokio::test]
async fn a_redis_with_a_password_works() {
    let redis = RedisServer::start_with_password(Some("s3cret-pw")).await;
    let sys = System::start_with_args(&[], &["--redis-url", &redis.url]).await;
    let id = sys.place("PW").await;
    sys.get_until(&format!("/myPages/{id}"), Duration::from_secs(20), |v| {
        v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;
    for node in ["order", "payment", "delivery", "edge"] {
        assert!(
            !sys.log_of(node).contains("s3cret-pw"),
            "{node} logged the password"
        );
    }
}
