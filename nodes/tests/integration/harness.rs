//! Spawning the system for a test and waiting on outcomes.
//!
//! Two ways, both on free loopback ports with their own temporary
//! directory and their own `redis-server`:
//! - [`TestApp`]: every role inside the test process
//!   (`kukka_nodes::in_process`), ready in milliseconds. For what needs no
//!   separate processes: the HTTP contract, who may do what, pagination,
//!   idempotency, the bulkhead, supervision.
//! - [`System`]: `kukka up` with one OS process per role talking over real
//!   sockets. For sagas across nodes, chaos, scale-out, the browser.
//!
//! Both dereference to [`Api`], the HTTP client tests drive them with. Its
//! client speaks as the shop owner (who may do everything) unless a test
//! says otherwise: [`Api::as_caller`] sends any other token, or none.

use std::{
    future::Future,
    ops::Deref,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kukka_nodes::in_process::InProcessSystem;
use serde_json::Value;

/// An HTTP client for one system's edge.
pub struct Api {
    /// The edge's base URL.
    pub base: String,
    /// The base URL of the edge's admin port (probes and metrics).
    pub admin_base: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// Where the system's log files are, if it writes any.
    logs_dir: Option<PathBuf>,
}

/// A running `kukka up`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct System {
    child: Child,
    /// Its data directory.
    pub dir: tempfile::TempDir,
    api: Api,
}

impl Deref for System {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A client that sends the owner token with every request (a request's own
/// `Authorization` replaces it).
fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {OWNER}")).expect("header"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A client that sends no token.
pub fn anonymous_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Every role inside the test process, with sled in a temporary directory
/// and its own `redis-server`.
pub struct TestApp {
    system: Option<InProcessSystem>,
    /// Its Redis.
    pub redis: RedisServer,
    /// Its data directory (removed when the app is dropped).
    _dir: tempfile::TempDir,
    api: Api,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// Starts every role with the owner token [`OWNER`] and waits until the
    /// edge is ready.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts every role with these extra `kukka node` flags.
    pub async fn spawn_with(flags: &[&str]) -> TestApp {
        let redis = RedisServer::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all = vec!["--owner-token", OWNER];
        // A generous payment deadline keeps tests that are not about
        // timeouts from failing on a busy machine.
        if !flags.contains(&"--payment-timeout-ms") {
            all.extend(["--payment-timeout-ms", "3000"]);
        }
        all.extend_from_slice(flags);
        let system = InProcessSystem::start(&redis.url, dir.path(), &all)
            .await
            .expect("start the in-process system");
        let admin = system.node("edge").expect("an edge").admin_addr;
        let api = Api {
            base: format!("http://{}", system.edge_addr),
            admin_base: format!("http://{admin}"),
            http: client(),
            logs_dir: None,
        };
        let ready = eventually(Duration::from_secs(30), || async {
            (api.cluster_ready().await == 200).then_some(())
        })
        .await;
        assert!(
            ready.is_some(),
            "the in-process system did not become ready"
        );
        TestApp {
            system: Some(system),
            redis,
            _dir: dir,
            api,
        }
    }

    /// The running system (its nodes and scope).
    pub fn system(&self) -> &InProcessSystem {
        self.system.as_ref().expect("running")
    }

    /// The running system, to stop a node of it.
    pub fn system_mut(&mut self) -> &mut InProcessSystem {
        self.system.as_mut().expect("running")
    }

    /// Stops every node gracefully.
    pub async fn stop(mut self) {
        if let Some(s) = self.system.take() {
            s.stop().await;
        }
    }
}

/// The owner token the test systems use (the harness's client sends it).
pub const OWNER: &str = "test-owner-token";

/// A free port for a process a test starts itself.
///
/// Chosen below Linux's ephemeral range (32768-60999), where `kukka up`
/// finds its children's ports by binding port 0: a port handed to a test's
/// edge or Redis can then never be handed out again to a system another
/// test starts meanwhile. Ports are taken in turn from a range of this test
/// process's own (by pid), skipping any that are in use, and only every
/// other one: the port after each one handed out stays free for a
/// `kukka up --replicas 2`, whose second edge listens on the edge port + 1
/// (handing that port to another test's system made the two systems answer
/// for each other).
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 120) as u16 * 100;
    for _ in 0..50 {
        let port = base + 2 * (NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 50);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {base}..{}", base + 100)
}

impl System {
    /// Starts `kukka up` with extra environment and waits until the edge is
    /// ready.
    pub async fn start_with(env: &[(&str, &str)]) -> System {
        Self::start_with_args(env, &[]).await
    }

    /// Starts `kukka up` with extra environment and arguments.
    pub async fn start_with_args(env: &[(&str, &str)], args: &[&str]) -> System {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(dir.path().join("up.log")).expect("log");
        // The edges take free ports of `kukka up`'s choosing, written in
        // `run/edge*.json`: no two systems ever share one.
        let child = Command::new(env!("CARGO_BIN_EXE_kukka"))
            .args(["up", "--edge-port", "0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .env("KUKKA_OWNER_TOKEN", OWNER)
            // Tests share two cores; a generous payment deadline keeps tests
            // that are not about timeouts from failing on a busy machine.
            .env("KUKKA_PAYMENT_TIMEOUT_MS", "3000")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn kukka up");
        let logs_dir = Some(dir.path().to_path_buf());
        let run_file = dir.path().join("run").join("edge.json");
        let edge = eventually(Duration::from_secs(60), || async {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&run_file).ok()?).ok()?;
            let public = v["httpAddr"].as_str()?.to_string();
            let admin = v["adminAddr"].as_str()?.to_string();
            Some((public, admin))
        })
        .await;
        let mut sys = System {
            child,
            dir,
            api: Api {
                base: String::new(),
                admin_base: String::new(),
                http: client(),
                logs_dir,
            },
        };
        match edge {
            Some((public, admin)) => {
                sys.api.base = format!("http://{public}");
                sys.api.admin_base = format!("http://{admin}");
            }
            None => panic!("kukka up never wrote run/edge.json:\n{}", sys.logs()),
        }
        let http = sys.http.clone();
        let url = sys.admin_url(CLUSTER_READY);
        let ready = eventually(Duration::from_secs(90), || {
            let http = http.clone();
            let url = url.clone();
            async move {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => Some(()),
                    _ => None,
                }
            }
        })
        .await;
        if ready.is_none() {
            panic!("the system did not become ready:\n{}", sys.logs());
        }
        sys
    }

    /// Starts `kukka up` with defaults.
    pub async fn start() -> System {
        Self::start_with(&[]).await
    }

    /// `run/<name>.json`.
    pub fn run_info(&self, name: &str) -> Value {
        let text =
            std::fs::read_to_string(self.dir.path().join("run").join(format!("{name}.json")))
                .expect("run file");
        serde_json::from_str(&text).expect("run json")
    }

    /// The public URLs of edges `names` (`edge`, `edge-1`, ...), from their
    /// run files.
    pub fn edge_urls(&self, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .map(|e| {
                let info = self.run_info(e);
                format!("http://{}", info["httpAddr"].as_str().expect("httpAddr"))
            })
            .collect()
    }

    /// The Redis URL of this system.
    pub fn redis_url(&self) -> String {
        let cluster = self.dir.path().join("redis-cluster.json");
        let info = match std::fs::read_to_string(cluster) {
            Ok(text) => serde_json::from_str(&text).expect("cluster json"),
            Err(_) => self.run_info("redis"),
        };
        info["url"].as_str().expect("redis url").to_string()
    }

    /// The names of the system's Redis processes (`redis`, or the nodes of
    /// its Redis Cluster), whose run files tell their pids.
    pub fn redis_nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("run"))
            .expect("run dir")
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let name = name.strip_suffix(".json")?.to_string();
                (name == "redis" || name.starts_with("redis-")).then_some(name)
            })
            .collect();
        names.sort();
        names
    }

    /// The text of `logs/<name>.log`.
    pub fn log_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("logs").join(format!("{name}.log")))
            .unwrap_or_default()
    }

    /// The pid of `kukka up` itself.
    pub fn up_pid(&self) -> u32 {
        self.child.id()
    }

    /// The pid in `run/<name>.json`.
    pub fn pid_of(&self, name: &str) -> u32 {
        self.run_info(name)["pid"].as_u64().expect("pid") as u32
    }

    /// Sends `sig` to the process in `run/<name>.json`.
    pub fn signal(&self, name: &str, sig: i32) {
        assert!(
            kukka_nodes::signals::send(self.pid_of(name), sig),
            "signal {sig} to {name}"
        );
    }

    /// `http://<adminAddr>` of a node.
    pub fn admin(&self, name: &str) -> String {
        format!(
            "http://{}",
            self.run_info(name)["adminAddr"]
                .as_str()
                .expect("adminAddr")
        )
    }

    /// Waits until `up` has restarted `name` (new pid) and the edge is ready.
    pub async fn wait_restarted(&self, name: &str, old_pid: u32, within: Duration) {
        let restarted = eventually(within, || async {
            let info =
                std::fs::read_to_string(self.dir.path().join("run").join(format!("{name}.json")))
                    .ok()?;
            let v: Value = serde_json::from_str(&info).ok()?;
            let pid = v["pid"].as_u64()? as u32;
            (pid != old_pid && self.cluster_ready().await == 200).then_some(())
        })
        .await;
        assert!(
            restarted.is_some(),
            "{name} was not restarted and ready:\n{}",
            self.logs()
        );
    }

    /// The value of a series on a node's `/metrics` (e.g.
    /// `kukka_payment_breaker_state{state="open"}`).
    pub async fn metric(&self, node: &str, series: &str) -> Option<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.admin(node)))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    }
}

/// The edge's readiness with every role joined (on its admin port).
pub const CLUSTER_READY: &str = "/readyz?scope=cluster";

impl Api {
    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Full URL of `path` on the edge's admin port.
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin_base)
    }

    /// `GET path` on the edge's admin port (`/healthz`, `/readyz`...).
    pub async fn probe(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.admin_url(path))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The `/readyz` answer of another node's admin address `admin`, once
    /// it answers (20 s at most).
    pub async fn readiness_at(&self, admin: &str) -> Value {
        eventually(Duration::from_secs(20), || async {
            let r = self
                .http
                .get(format!("http://{admin}/readyz"))
                .send()
                .await
                .ok()?;
            r.json::<Value>().await.ok()
        })
        .await
        .unwrap_or_else(|| panic!("{admin}'s probes never answered"))
    }

    /// The status of [`CLUSTER_READY`] (0 if the edge did not answer).
    pub async fn cluster_ready(&self) -> u16 {
        match self.http.get(self.admin_url(CLUSTER_READY)).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Every item of a list endpoint, walking all pages.
    pub async fn all_items(&self, path: &str, limit: u32) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}?limit={limit}&cursor={c}"),
                None => format!("{path}?limit={limit}"),
            };
            let (status, body) = self.get(&url).await;
            assert_eq!(status, 200, "{url}: {body}");
            items.extend(body["items"].as_array().cloned().unwrap_or_default());
            match body["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
    }

    /// `method path` with an optional JSON body as `token` (`None`: no
    /// token at all); the status and the JSON answer (`Null` if none).
    pub async fn as_caller(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let client = anonymous_client();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Places an order as `token` (`None`: a new customer); its id and the
    /// customer token of the answer.
    pub async fn place_as(&self, token: Option<&str>, name: &str) -> (String, String) {
        let (status, body) = self
            .as_caller(token, "POST", "/orders", Some(&order_body(name)))
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().expect("id").to_string(),
            body["customerToken"]
                .as_str()
                .expect("customerToken")
                .to_string(),
        )
    }

    /// Places an order and returns its id.
    pub async fn place(&self, name: &str) -> String {
        let (status, body) = self.post("/orders", &order_body(name)).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Every log file, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let Some(dir) = &self.logs_dir else {
            return "(an in-process system writes no log files)".into();
        };
        let mut files: Vec<PathBuf> = vec![dir.join("up.log")];
        if let Ok(rd) = std::fs::read_dir(dir.join("logs")) {
            files.extend(rd.flatten().map(|e| e.path()));
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("==== {}\n", f.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST /deliveries` as the owner.
    pub async fn owner_post(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/deliveries"))
            .bearer_auth(OWNER)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The status of `order`'s payment as the owner sees it (`""` if it
    /// has none).
    pub async fn payment_status(&self, order: &str) -> String {
        let (_, body) = self.get(&format!("/payments/{order}")).await;
        body["status"].as_str().unwrap_or_default().to_string()
    }

    /// Polls `GET path` until `check` accepts the body.
    pub async fn get_until(
        &self,
        path: &str,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = eventually(within, || async {
            let (status, body) = self.get(path).await;
            (status == 200 && check(&body)).then_some(body)
        })
        .await;
        match found {
            Some(v) => v,
            None => panic!(
                "GET {path} never satisfied the check; last: {:?}\n{}",
                self.get(path).await,
                self.logs()
            ),
        }
    }
}

/// Arms test fault `fault` on node `node` for its next `times` occasions
/// (the system must run with `KUKKA_ENABLE_TEST_FAULTS=true`).
pub async fn arm_fault(sys: &System, node: &str, fault: &str, times: u32) {
    let r = sys
        .http
        .post(format!("{}/faults/{fault}?times={times}", sys.admin(node)))
        .send()
        .await
        .expect("arm fault");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

impl Drop for System {
    fn drop(&mut self) {
        kukka_nodes::signals::send(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private `redis-server` on a free port, killed when dropped.
pub struct RedisServer {
    child: Child,
    _dir: tempfile::TempDir,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> RedisServer {
        Self::start_with_password(None).await
    }

    /// Starts one that requires `password` (if given).
    pub async fn start_with_password(password: Option<&str>) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(
                password
                    .map(|p| vec!["--requirepass", p])
                    .unwrap_or_default(),
            )
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be on the PATH (apt-get install redis-server)");
        let url = match password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{port}"),
            None => format!("redis://127.0.0.1:{port}"),
        };
        let up = eventually(Duration::from_secs(10), || async {
            let client = redis::Client::open(url.as_str()).ok()?;
            let mut c = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut c).await.ok()
        })
        .await;
        assert!(up.is_some(), "redis-server did not start");
        RedisServer {
            child,
            _dir: dir,
            url,
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every event in every stream of the system at `url` (as JSON envelopes),
/// stream by stream.
pub async fn stream_events(url: &str) -> Vec<Value> {
    let mut conn = kukka_storage::redis_conn::connect(url, Duration::from_secs(5))
        .await
        .expect("redis");
    let mut out = Vec::new();
    let partitions = kukka_storage::bus::Partitions::default();
    for stream in partitions
        .all()
        .flat_map(kukka_storage::bus::Partition::all_streams)
    {
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .expect("xrange");
        out.extend(
            entries
                .ids
                .iter()
                .filter_map(|e| e.get::<String>("data"))
                .filter_map(|d| serde_json::from_str::<Value>(&d).ok()),
        );
    }
    out
}

/// A valid order body.
pub fn order_body(name: &str) -> Value {
    serde_json::json!({
        "customerName": name, "phoneNumber": "01012341234", "address": "SEOUL",
        "flowerType": "MixBox", "price": 10000
    })
}

/// Polls `probe` until it yields `Some`, or `None` after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a test's event handler applied: each event id, and how many times.
#[derive(Default)]
pub struct Applied(std::sync::Mutex<std::collections::HashMap<String, u32>>);

impl Applied {
    /// Counts one application of `event_id`.
    pub fn record(
        &self,
        event_id: String,
    ) -> Result<(), kukka_actors::runtime::consumer::HandlerError> {
        let mut map = self
            .0
            .lock()
            .map_err(|e| kukka_actors::runtime::consumer::HandlerError::Retry(e.to_string()))?;
        *map.entry(event_id).or_default() += 1;
        Ok(())
    }

    /// How many events were applied, and the most times one was.
    pub fn totals(&self) -> (usize, u32) {
        let map = self.0.lock().expect("lock");
        (map.len(), map.values().copied().max().unwrap_or(0))
    }

    /// The ids of the events applied.
    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        self.0.lock().expect("lock").keys().cloned().collect()
    }
}
