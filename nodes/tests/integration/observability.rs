//! What operators read: every role's `/metrics` (on its admin port only)
//! holds every metric the Grafana dashboard and the alert rules of
//! `k8s/components/observability` use, each family with HELP and TYPE;
//! the edge writes one access-log line per request; a W3C `traceparent`
//! becomes the correlation id and travels with the events; a consumer
//! group's lag is read from every partition when `/metrics` is scraped.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use serde_json::Value;

use super::harness::{eventually, order_body, stream_events, System, OWNER};

const ROLES: [&str; 4] = ["edge", "order", "payment", "delivery"];

/// Metric names (`kukka_*`, `process_*`) in a dashboard or rule file.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text
        .match_indices("kukka_")
        .chain(text.match_indices("process_"))
    {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // `kukka_*` in a comment names no metric.
        if !name.ends_with('_') {
            names.insert(name);
        }
    }
    names
}

/// A `/metrics` text: the families with their HELP and TYPE, and every
/// sample name.
struct Exposition {
    help: BTreeSet<String>,
    kind: BTreeMap<String, String>,
    samples: Vec<(String, String)>,
}

fn parse(text: &str) -> Exposition {
    let mut e = Exposition {
        help: BTreeSet::new(),
        kind: BTreeMap::new(),
        samples: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            e.help
                .insert(rest.split(' ').next().unwrap_or_default().into());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().unwrap_or_default().to_string();
            e.kind.insert(name, it.next().unwrap_or_default().into());
        } else {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            e.samples.push((name.to_string(), line.to_string()));
        }
    }
    e
}

impl Exposition {
    /// The family a sample belongs to.
    fn family_of(&self, sample: &str) -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(f) = sample.strip_suffix(suffix) {
                if self.kind.get(f).is_some_and(|k| k == "histogram") {
                    return f.to_string();
                }
            }
        }
        sample.to_string()
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_on_the_roles_metrics() {
    let sys = System::start().await;
    // Some traffic, so the edge's request series and the payment call's
    // histogram have samples.
    let id = sys.place("METRICS").await;
    sys.get_until(&format!("/myPages/{id}"), Duration::from_secs(20), |v| {
        v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;
    let r = sys
        .http
        .get(sys.url(&format!("/orders/{id}")))
        .bearer_auth(OWNER)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);

    let mut all_samples = BTreeSet::new();
    let mut texts = BTreeMap::new();
    for role in ROLES {
        let r = sys
            .http
            .get(format!("{}/metrics", sys.admin(role)))
            .send()
            .await
            .expect("scrape");
        assert_eq!(r.status(), 200, "{role}");
        let ctype = r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(
            ctype.starts_with("text/plain; version=0.0.4"),
            "{role}: {ctype}"
        );
        let text = r.text().await.expect("text");
        let e = parse(&text);
        assert!(!e.samples.is_empty(), "{role}: {text}");
        for (sample, line) in &e.samples {
            let family = e.family_of(sample);
            assert!(e.help.contains(&family), "{role}: no HELP for {line}");
            let kind = e.kind.get(&family).map(String::as_str);
            assert!(
                matches!(kind, Some("counter" | "gauge" | "histogram")),
                "{role}: {line} has TYPE {kind:?}"
            );
            assert_eq!(
                kind == Some("counter"),
                family.ends_with("_total"),
                "{role}: counters, and only counters, end in _total: {line}"
            );
            all_samples.insert(sample.clone());
        }
        texts.insert(role, text);
    }

    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../k8s/components/observability"
    );
    let mut used = BTreeSet::new();
    for file in ["dashboards/kukka.json", "prometheusrule.yaml"] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).expect("observability file");
        used.extend(names_in(&text));
    }
    assert!(used.len() >= 20, "read the names: {used:?}");
    let missing: Vec<&String> = used.iter().filter(|n| !all_samples.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "used by the dashboard or the alerts, on no role's /metrics: {missing:?}\n{texts:#?}"
    );

    // Every role reports on itself; the edge counted the order by route.
    for role in ROLES {
        assert!(
            texts[role].contains("\nprocess_resident_memory_bytes "),
            "{role}"
        );
    }
    let placed = sys
        .metric(
            "edge",
            "kukka_http_requests_total{method=\"POST\",route=\"/orders\",status=\"201\"}",
        )
        .await;
    assert!(placed.is_some_and(|n| n >= 1.0), "{}", texts["edge"]);
    assert!(
        texts["edge"].contains(
            "kukka_http_request_duration_seconds_count{method=\"GET\",route=\"/orders/{id}\""
        ),
        "{}",
        texts["edge"]
    );

    // The public port serves the API only.
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (status, _) = sys.get(path).await;
        assert_eq!(status, 404, "{path} on the public port");
    }
}

#[tokio::test]
async fn one_access_log_line_per_request_and_traceparent_travels_with_events() {
    let sys = System::start_with(&[("KUKKA_LOG_FORMAT", "json")]).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let resp = sys
        .http
        .post(sys.url("/orders"))
        .header("traceparent", &traceparent)
        .json(&order_body("TRACED"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.headers()["x-correlation-id"],
        trace_id,
        "the trace id is the correlation id"
    );
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    sys.get_until(&format!("/myPages/{id}"), Duration::from_secs(20), |v| {
        v["paymentStatus"] == "PaymentConfirmed" && v["deliveryStatus"] == "DeliveryRequested"
    })
    .await;
    // A request with both headers keeps its X-Correlation-Id.
    let resp = sys
        .http
        .get(sys.url(&format!("/orders/{id}")))
        .bearer_auth(OWNER)
        .header("traceparent", &traceparent)
        .header("x-correlation-id", "mine-42")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.headers()["x-correlation-id"], "mine-42");
    let (missing, _) = sys.get("/no/such/route").await;
    assert_eq!(missing, 404);

    // The events the request caused carry its trace.
    let events: Vec<Value> = stream_events(&sys.redis_url())
        .await
        .into_iter()
        .filter(|v: &Value| v["orderId"] == id.as_str())
        .collect();
    for kind in ["OrderPlaced", "PaymentConfirmed"] {
        let e = events
            .iter()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {events:?}"));
        assert_eq!(e["correlationId"], trace_id, "{e}");
        assert_eq!(e["traceparent"], traceparent.as_str(), "{e}");
    }

    // One access-log line per request, in JSON, with the route template.
    let lines = eventually(Duration::from_secs(10), || async {
        let access: Vec<Value> = sys
            .log_of("edge")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == "access")
            .collect();
        let done = access
            .iter()
            .any(|l| l["fields"]["path"] == "/no/such/route");
        done.then_some(access)
    })
    .await
    .unwrap_or_else(|| panic!("no access log:\n{}", sys.log_of("edge")));
    let placed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["correlation_id"] == trace_id && l["fields"]["method"] == "POST")
        .collect();
    assert_eq!(placed.len(), 1, "one line for the POST: {lines:?}");
    let f = &placed[0]["fields"];
    assert_eq!(f["route"], "/orders");
    assert_eq!(f["status"], 201);
    assert_eq!(placed[0]["level"], "INFO");
    assert!(f["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{f}");
    let get = lines
        .iter()
        .find(|l| l["fields"]["correlation_id"] == "mine-42")
        .expect("the GET's line");
    assert_eq!(get["fields"]["route"], "/orders/{id}");
    assert_eq!(get["fields"]["status"], 200);
    let unknown = lines
        .iter()
        .find(|l| l["fields"]["path"] == "/no/such/route")
        .expect("the 404's line");
    assert_eq!(unknown["fields"]["route"], "other");
    assert_eq!(unknown["fields"]["status"], 404);
    assert!(unknown["fields"]["correlation_id"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
}

#[tokio::test]
async fn the_consumer_lag_is_summed_over_the_partitions_at_scrape_time() {
    use kukka_actors::runtime::metrics;
    use kukka_storage::bus::{Partition, Partitions};

    let redis = super::harness::RedisServer::start().await;
    let client = redis::Client::open(redis.url.as_str()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let group = "lag-test";
    // A group created at the start of two partitions, then 3 + 2 entries
    // it has not been handed.
    for (p, n) in [(0, 3), (1, 2)] {
        let stream = Partition(p).stream("order");
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await
            .expect("group");
        for i in 0..n {
            let _: String = redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("i")
                .arg(i)
                .query_async(&mut conn)
                .await
                .expect("xadd");
        }
    }
    // Partitions 2 and 3 do not exist yet: they count as nothing waiting.
    let partitions = Partitions::new(4).expect("partitions");
    metrics::consumer_started(&redis.url, group, partitions);
    let series = format!("kukka_events_lag{{group=\"{group}\"}} ");
    let value = |text: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.trim().parse().ok())
    };
    let text = metrics::scrape(Duration::from_secs(2)).await;
    assert_eq!(value(&text), Some(5.0), "{text}");
    // Reading two entries lowers it.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg("c")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg(Partition(0).stream("order"))
        .arg(">")
        .query_async(&mut conn)
        .await
        .expect("read");
    let text = metrics::scrape(Duration::from_secs(2)).await;
    assert_eq!(value(&text), Some(3.0), "{text}");
}
