//! A small W3C WebDriver client for browser tests: starts `chromedriver` on
//! a free loopback port, opens one headless Chromium session, and speaks the
//! WebDriver HTTP API with `reqwest` (navigate, find, click, type, run a
//! script, screenshot, tabs). A heavy WebDriver crate would buy little over
//! these few calls.
//!
//! Chromium and chromedriver must be installed (Debian: `apt-get install
//! chromium chromium-driver`; CI does it); `KUKKA_CHROMIUM` and
//! `KUKKA_CHROMEDRIVER` override where they are. Without them the test
//! fails with that advice: it never skips silently.
//!
//! Only one browser runs at a time (a second [`Browser::start`] waits).
//! Everything is torn down on drop, even when the test panics: the session
//! is deleted (closing the browser) and chromedriver, which runs in its own
//! process group, is stopped with everything it started. On a panic the
//! artifacts directory (screenshots, chromedriver's log) is kept and its
//! path printed.

use std::{
    future::Future,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{json, Value};

/// The key under which WebDriver returns element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium's flags: headless, no sandbox (containers), and nothing that
/// talks to the network on its own.
const CHROMIUM_ARGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,900",
    "--lang=en-US",
];

/// One browser at a time in this test binary: Chromium is heavy, and the
/// tests share a small machine with the systems they start.
fn browser_slot() -> Arc<tokio::sync::Mutex<()>> {
    static SLOT: OnceLock<Arc<tokio::sync::Mutex<()>>> = OnceLock::new();
    SLOT.get_or_init(|| Arc::new(tokio::sync::Mutex::new(())))
        .clone()
}

/// A reference to an element of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// Finds `name` in `KUKKA_<VAR>` or on the `PATH`.
fn locate(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The chromedriver process (in its own process group), stopped on drop.
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pgid = self.child.id();
        kukka_nodes::signals::send_group(pgid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
        // Whatever is left of the group (a browser that did not close).
        kukka_nodes::signals::send_group(pgid, libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One headless Chromium session driven through chromedriver.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    // Dropped after `Drop::drop` deleted the session, in this order:
    // chromedriver and what is left of the browser, then their files, then
    // the turn of the next browser.
    _driver: Driver,
    artifacts: tempfile::TempDir,
    _slot: tokio::sync::OwnedMutexGuard<()>,
}

impl Browser {
    /// Starts chromedriver and a browser session, or panics saying what is
    /// missing.
    pub async fn start() -> Browser {
        const INSTALL: &str = "install them with `apt-get install -y chromium chromium-driver` \
             (CI does), or point KUKKA_CHROMIUM / KUKKA_CHROMEDRIVER at them";
        let chromedriver = locate("KUKKA_CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| {
            panic!("the browser test needs chromedriver, which is not installed: {INSTALL}")
        });
        let chromium = locate(
            "KUKKA_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        )
        .unwrap_or_else(|| {
            panic!("the browser test needs chromium, which is not installed: {INSTALL}")
        });

        let slot = browser_slot().lock_owned().await;
        let artifacts = tempfile::Builder::new()
            .prefix("kukka-browser-")
            .tempdir()
            .expect("tempdir");
        let profile = artifacts.path().join("profile");
        std::fs::create_dir_all(&profile).expect("profile dir");
        let log = std::fs::File::create(artifacts.path().join("chromedriver.log")).expect("log");
        let port = free_port();
        // Chromium writes some state (crash reports) under the XDG
        // directories whatever --user-data-dir says: keep it in ours too.
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .env("XDG_CONFIG_HOME", artifacts.path().join("config"))
            .env("XDG_CACHE_HOME", artifacts.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut driver = Driver { child };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");

        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before it was ready:\n{}",
                    read(&artifacts.path().join("chromedriver.log"))
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer /status within 30 s:\n{}",
                read(&artifacts.path().join("chromedriver.log"))
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // Leave alerts open so a test can see them (and fail).
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let created = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("POST /session");
        let status = created.status();
        let body: Value = created.json().await.unwrap_or(Value::Null);
        let Some(id) = body["value"]["sessionId"].as_str() else {
            panic!(
                "chromedriver could not start {} ({status}): {body}\n{}",
                chromium.display(),
                read(&artifacts.path().join("chromedriver.log"))
            );
        };
        Browser {
            http,
            session: format!("{base}/session/{id}"),
            _driver: driver,
            artifacts,
            _slot: slot,
        }
    }

    /// One WebDriver command; `Err` carries WebDriver's error.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method.clone(), &url);
        if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let ok = resp.status().is_success();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| format!("{method} {path}: bad JSON: {e}"))?;
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{method} {path}: {}: {}",
                v["value"]["error"].as_str().unwrap_or("error"),
                v["value"]["message"].as_str().unwrap_or("")
            ))
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.command(reqwest::Method::POST, path, body).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        self.command(reqwest::Method::GET, path, Value::Null).await
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url}))
            .await
            .expect("navigate");
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await?;
        v[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_string()))
            .ok_or_else(|| format!("no element reference for {css}: {v}"))
    }

    /// Clicks the element matching `css` (scrolling it into view, as a user
    /// would); fails if it is missing, hidden or covered.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await.expect("element to click");
        self.post(&format!("/element/{}/click", el.0), json!({}))
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the value of the field matching `css` by typing `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await.expect("field to fill");
        self.post(&format!("/element/{}/clear", el.0), json!({}))
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        self.post(&format!("/element/{}/value", el.0), json!({"text": text}))
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the
    /// page and returns its result.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The text of an open alert / confirm / prompt, if one is open.
    pub async fn alert_text(&self) -> Option<String> {
        self.get("/alert/text")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    }

    /// Saves a PNG of the viewport as `<artifacts>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.get("/screenshot").await.expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        let path = self.artifacts.path().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Runs a Chrome DevTools Protocol command (chromedriver's
    /// `goog/cdp/execute` extension) and returns its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// Saves a PNG of the whole page (beyond the viewport) as
    /// `<artifacts>/<name>.png`.
    pub async fn screenshot_page(&self, name: &str) -> PathBuf {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let clip = json!({
            "x": 0, "y": 0, "scale": 1,
            "width": size["width"].as_f64().unwrap_or(1200.0).ceil(),
            "height": size["height"].as_f64().unwrap_or(900.0).ceil().min(4000.0),
        });
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true, "clip": clip}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("screenshot is base64");
        let path = self.artifacts.path().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Makes the page a phone's: `width` x `height` CSS pixels, touch-sized,
    /// honouring `<meta name="viewport">` as a phone browser does.
    pub async fn emulate_phone(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await;
    }

    /// Back to the desktop window.
    pub async fn stop_emulation(&self) {
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
    }

    /// The current window's handle.
    pub async fn window(&self) -> String {
        self.get("/window")
            .await
            .expect("window handle")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Opens a new tab and switches to it; returns its handle.
    pub async fn new_tab(&self) -> String {
        let v = self
            .post("/window/new", json!({"type": "tab"}))
            .await
            .expect("new tab");
        let handle = v["handle"].as_str().expect("tab handle").to_string();
        self.switch_to(&handle).await;
        handle
    }

    /// Switches to the window or tab `handle`.
    pub async fn switch_to(&self, handle: &str) {
        self.post("/window", json!({"handle": handle}))
            .await
            .expect("switch window");
    }

    /// Polls `probe` until it yields `Some`; after `within` panics naming
    /// `what`, with a screenshot and the page's text.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, within: Duration, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        if let Some(v) = super::harness::eventually(within, probe).await {
            return v;
        }
        let shot = self.screenshot("timeout").await;
        let text = self
            .post(
                "/execute/sync",
                json!({"script": "return document.body ? document.body.innerText : '';", "args": []}),
            )
            .await
            .unwrap_or_else(Value::String);
        panic!(
            "waited {} s for {what}; screenshot {}; page text:\n{}",
            within.as_secs(),
            shot.display(),
            text.as_str().unwrap_or_default()
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session closes the browser. Drop cannot await and may
        // run on the test's runtime, so the request runs on its own thread.
        let url = self.session.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                reqwest::Client::new()
                    .delete(url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .ok()
            })
        })
        .join();
        if std::thread::panicking() {
            self.artifacts.disable_cleanup(true);
            eprintln!(
                "browser test artifacts (screenshots, chromedriver.log) kept in {}",
                self.artifacts.path().display()
            );
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
