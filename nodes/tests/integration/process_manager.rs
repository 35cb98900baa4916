//! `kukka up` as a process manager: children die with it, one `kukka up`
//! per data dir, children's output on its stdout behind their names (or
//! only in files with `--quiet`), `kukka status`, `--edge-port 0`, and the
//! private Redis's password.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::harness::{eventually, order_body, System, OWNER};

/// The children of a one-replica `kukka up`.
const CHILDREN: [&str; 5] = ["redis", "payment", "order", "delivery", "edge"];

/// A `kukka up` this file starts itself (on a data dir it chooses, with
/// stdout and stderr in separate files); SIGTERM, then SIGKILL, on drop.
struct Up {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Up {
    fn start(dir: &Path, tag: &str, args: &[&str], env: &[(&str, &str)]) -> Up {
        let stdout = dir.join(format!("{tag}.stdout"));
        let stderr = dir.join(format!("{tag}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_kukka"))
            .arg("up")
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env("KUKKA_PAYMENT_TIMEOUT_MS", "3000")
            .env_remove("KUKKA_OWNER_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn kukka up");
        Up {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn output(&self) -> String {
        format!(
            "== stdout\n{}\n== stderr\n{}",
            tail(&self.stdout()),
            tail(&std::fs::read_to_string(&self.stderr).unwrap_or_default())
        )
    }

    /// Waits for `kukka is ready at <url>` on stdout; returns the URL.
    async fn ready(&self) -> String {
        let url = eventually(Duration::from_secs(90), || async {
            self.stdout().lines().find_map(|l| {
                let rest = l.strip_prefix("kukka is ready at ")?;
                Some(rest.split_whitespace().next()?.to_string())
            })
        })
        .await;
        url.unwrap_or_else(|| panic!("kukka up never said it was ready:\n{}", self.output()))
    }
}

impl Drop for Up {
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

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Every `run/*.json`, by name.
fn run_files(dir: &Path) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir.join("run"))
        .expect("run dir")
        .flatten()
        .filter_map(|e| {
            let name = e.path().file_stem()?.to_str()?.to_string();
            let v = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
            Some((name, v))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn pids(dir: &Path) -> Vec<(String, u32)> {
    run_files(dir)
        .into_iter()
        .map(|(n, v)| (n, v["pid"].as_u64().expect("pid") as u32))
        .collect()
}

/// `kukka status --data-dir dir`: exit code and stdout.
async fn status(dir: &Path) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kukka"))
        .arg("status")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .await
        .expect("run kukka status");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The row of `name` in a status table: [name, role, pid, alive, health..., restarts].
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{table}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn status_lists_children_output_is_prefixed_and_a_second_up_is_refused() {
    let sys = System::start().await;
    let dir = sys.dir.path().to_path_buf();
    let up_log = dir.join("up.log");
    let read_up_log = || std::fs::read_to_string(&up_log).unwrap_or_default();

    // Output: every child's lines, whole, behind its padded name.
    let order_line = eventually(Duration::from_secs(20), || async {
        sys.log_of("order").lines().next().map(str::to_string)
    })
    .await
    .expect("order logged something");
    let prefixed = eventually(Duration::from_secs(20), || async {
        let text = read_up_log();
        CHILDREN
            .iter()
            .all(|c| text.lines().any(|l| l.starts_with(&format!("{c:<8} | "))))
            .then_some(text)
    })
    .await;
    let text = prefixed.unwrap_or_else(|| {
        panic!(
            "no prefixed lines of every child:\n{}",
            tail(&read_up_log())
        )
    });
    assert!(
        text.lines()
            .any(|l| l == format!("order    | {order_line}")),
        "order's first log line is not on stdout whole: {order_line}"
    );
    // Ready, with the URL (and no token printed: it came from the environment).
    let ready = eventually(Duration::from_secs(20), || async {
        read_up_log()
            .lines()
            .find(|l| l.starts_with("kukka is ready at "))
            .map(str::to_string)
    })
    .await
    .expect("the ready line");
    assert_eq!(
        ready,
        format!(
            "kukka is ready at {} (owner token from KUKKA_OWNER_TOKEN)",
            sys.base
        )
    );
    assert!(
        !read_up_log().contains(OWNER),
        "the owner token was printed"
    );

    // Status: one healthy row per child, with the run files' pids.
    let (code, table) = status(&dir).await;
    assert_eq!(code, 0, "{table}");
    assert!(
        table.contains(&format!("kukka up pid {}", sys.up_pid())),
        "{table}"
    );
    for (name, pid) in pids(&dir) {
        let r = row(&table, &name);
        assert_eq!(r[2], pid.to_string(), "{table}");
        assert_eq!(r[3], "yes", "{table}");
        if name == "redis" {
            assert_eq!(r[4], "ping=PONG", "{table}");
        } else {
            assert_eq!(&r[4..6], ["healthz=200", "readyz=200"], "{table}");
        }
        assert_eq!(r.last(), Some(&"0"), "no restarts yet: {table}");
    }
    assert!(
        !table.contains(&sys.redis_url()),
        "status printed the Redis URL"
    );

    // A child that dies is restarted and counted.
    let old = sys.pid_of("payment");
    sys.signal("payment", libc::SIGKILL);
    sys.wait_restarted("payment", old, Duration::from_secs(30))
        .await;
    assert_eq!(sys.run_info("payment")["restarts"], 1);
    let counted = eventually(Duration::from_secs(30), || async {
        let (code, table) = status(&dir).await;
        (code == 0 && row(&table, "payment").last() == Some(&"1")).then_some(())
    })
    .await;
    assert!(counted.is_some(), "{}", status(&dir).await.1);

    // A second `kukka up` on the same dir starts nothing and exits 1.
    let before = pids(&dir);
    let mut second = Up::start(&dir, "second", &["--edge-port", "0"], &[]);
    let code = eventually(Duration::from_secs(20), || {
        let exited = second.child.try_wait().expect("try_wait").map(|s| s.code());
        async move { exited }
    })
    .await
    .unwrap_or_else(|| panic!("the second kukka up kept running:\n{}", second.output()));
    assert_eq!(code, Some(1), "{}", second.output());
    let err = std::fs::read_to_string(&second.stderr).unwrap_or_default();
    assert!(
        err.contains(&format!(
            "is in use by another kukka up (pid {})",
            sys.up_pid()
        )),
        "{err}"
    );
    assert!(!err.contains("started"), "it started something: {err}");
    assert_eq!(pids(&dir), before, "the running children were disturbed");
    assert_eq!(sys.cluster_ready().await, 200);
}

#[tokio::test]
async fn a_quiet_up_gives_every_edge_a_free_port_and_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(
        dir.path(),
        "up",
        &["--edge-port", "0", "--replicas", "2"],
        &[("KUKKA_QUIET", "1")],
    );
    let url = up.ready().await;
    let edges: Vec<String> = ["edge", "edge-1"]
        .iter()
        .map(|e| {
            let info = &run_files(dir.path())
                .into_iter()
                .find(|(n, _)| n == e)
                .unwrap_or_else(|| panic!("no run/{e}.json"))
                .1;
            format!("http://{}", info["httpAddr"].as_str().expect("httpAddr"))
        })
        .collect();
    assert_ne!(edges[0], edges[1]);
    for e in &edges {
        let port: u16 = e
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        assert_ne!(port, 0, "{e}");
    }
    assert_eq!(url, edges[0]);
    // Only kukka up's own lines on stdout: the children's are in files.
    let stdout = up.stdout();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "kukka is ready at {} (owner token `owner-secret`)",
                edges[0]
            ),
            format!("more edges at {}", edges[1]),
        ],
        "{}",
        up.output()
    );
    let logged = std::fs::read_to_string(dir.path().join("logs/order-1.log")).unwrap_or_default();
    assert!(!logged.is_empty(), "order-1 logs to its file");
    // Both edges serve, each on its own port.
    let http = reqwest::Client::new();
    for e in &edges {
        let r = http
            .post(format!("{e}/orders"))
            .json(&order_body("FREE-PORT"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 201, "{e}");
    }
    let (code, table) = status(dir.path()).await;
    assert_eq!(code, 0, "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains(" yes ")).count(),
        9,
        "redis and two of each role: {table}"
    );
}

#[tokio::test]
async fn children_die_with_a_killed_up_and_redis_keeps_its_private_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let env = [("KUKKA_OWNER_TOKEN", OWNER)];
    let up = Up::start(d, "first", &["--edge-port", "0"], &env);
    let base = up.ready().await;
    let http = reqwest::Client::new();
    let placed: Value = http
        .post(format!("{base}/orders"))
        .json(&order_body("BEFORE-KILL"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let id = placed["id"].as_str().expect("id").to_string();
    let customer = placed["customerToken"]
        .as_str()
        .expect("customerToken")
        .to_string();

    // The password: 256 random bits, private files, in the URL for tests.
    let password = std::fs::read_to_string(d.join("redis/password")).expect("password file");
    let password = password.trim().to_string();
    assert_eq!(password.len(), 64, "{password}");
    assert!(password.bytes().all(|b| b.is_ascii_hexdigit()));
    for f in [
        "redis/password",
        "redis/redis.conf",
        "run/redis.json",
        "token-secret",
    ] {
        assert_eq!(mode(&d.join(f)), 0o600, "{f}");
    }
    let url = run_files(d)
        .into_iter()
        .find(|(n, _)| n == "redis")
        .map(|(_, v)| v["url"].as_str().expect("url").to_string())
        .expect("run/redis.json");
    assert!(url.contains(&format!(":{password}@")), "{url}");
    // Without it Redis refuses.
    let bare = url.replace(&format!(":{password}@"), "");
    let mut c = redis::Client::open(bare.as_str())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let refused = redis::cmd("GET")
        .arg("x")
        .query_async::<Option<String>>(&mut c)
        .await;
    let err = refused.expect_err("no password, no access").to_string();
    assert!(err.contains("NOAUTH"), "{err}");
    // Never on a command line: `ps` shows those to everyone.
    let pids = pids(d);
    assert_eq!(pids.len(), CHILDREN.len(), "{pids:?}");
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(&password),
                "the password is on the command line of {}",
                entry.path().display()
            );
        }
    }

    // kill -9 of kukka up takes every child with it.
    assert!(kukka_nodes::signals::send(up.child.id(), libc::SIGKILL));
    let gone = eventually(Duration::from_secs(30), || async {
        pids.iter()
            .all(|(_, pid)| !kukka_nodes::signals::is_alive(*pid))
            .then_some(())
    })
    .await;
    let alive: Vec<&(String, u32)> = pids
        .iter()
        .filter(|(_, p)| kukka_nodes::signals::is_alive(*p))
        .collect();
    assert!(
        gone.is_some(),
        "still running after kukka up was killed: {alive:?}"
    );
    // `kukka status` says so, and exits non-zero.
    let (code, table) = status(d).await;
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("no kukka up is running"), "{table}");
    for name in CHILDREN {
        let r = row(&table, name);
        assert_eq!((r[3], r[4]), ("no", "down"), "{table}");
    }
    // The password is in no log.
    let mut logs: Vec<PathBuf> = vec![up.stdout.clone(), up.stderr.clone()];
    logs.extend(
        std::fs::read_dir(d.join("logs"))
            .expect("logs")
            .flatten()
            .map(|e| e.path()),
    );
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(
            !text.contains(&password),
            "{} holds the password",
            log.display()
        );
    }
    drop(up);

    // The next kukka up takes the dir over (the lock died with the first)
    // and opens the same Redis with the same password: the order is there.
    let again = Up::start(d, "second", &["--edge-port", "0"], &env);
    let base = again.ready().await;
    let kept = std::fs::read_to_string(d.join("redis/password")).expect("password file");
    assert_eq!(kept.trim(), password);
    let r = http
        .get(format!("{base}/orders/{id}"))
        .bearer_auth(OWNER)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "the order placed before the kill");
    // Its customer's token, made before, still works: the token secret is
    // kept in the data dir.
    let r = http
        .get(format!("{base}/orders/{id}"))
        .bearer_auth(&customer)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "the customer token outlived the restart");
}

/// The nice value of process `pid` (`/proc/<pid>/stat`, field 19).
fn niceness(pid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) start at 3.
    let after_name = stat.rsplit_once(')').expect("stat format").1;
    after_name
        .split_whitespace()
        .nth(19 - 3)
        .and_then(|n| n.parse().ok())
        .expect("nice field")
}

#[tokio::test]
async fn asked_to_the_write_side_runs_at_a_lower_priority_than_the_views_and_redis() {
    let sys = System::start_with(&[("KUKKA_UP_WRITE_SIDE_NICE", "7")]).await;
    let base = niceness(sys.up_pid());
    // 7 lower, as far as the kernel's 19 allows.
    let lowered = (base + 7).min(19);
    for (child, expected) in [
        ("redis", base),
        ("delivery", base),
        ("edge", lowered),
        ("order", lowered),
        ("payment", lowered),
    ] {
        assert_eq!(niceness(sys.pid_of(child)), expected, "{child}");
    }
}
