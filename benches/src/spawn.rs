//! `--spawn`: the system under test, started with `kukka up` on a free port
//! and a temporary data directory, and stopped with SIGTERM at the end.
//!
//! `kukka up` runs in its own process group so that a Ctrl-C meant for the
//! bench reaches only the bench, which then stops the system in order
//! (`kukka up` stops its children on SIGTERM).
//!
//! Ready means `GET /readyz?scope=cluster` on the edge's admin address
//! (`adminAddr` in `run/edge.json`) answered 200 *and* one `POST /orders`
//! was created: that readiness reflects the edge's view of the cluster,
//! and the order node may see the payment node a moment later (measured:
//! orders placed in the first ~0.5 s after the edge's readiness turned 200
//! were rejected with "no payment node is joined", which also opened the
//! breaker).

use std::{
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

use crate::BenchError;

/// How long `kukka up` may take to stop after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// A running system.
#[derive(Debug)]
pub struct System {
    child: Child,
    /// The edge's base URL.
    pub url: String,
    dir: Option<tempfile::TempDir>,
    /// Where its data and logs are.
    pub data_dir: PathBuf,
}

/// The `kukka` binary: `explicit`, or the one next to this executable.
pub fn find_kukka(explicit: Option<&Path>) -> Result<PathBuf, BenchError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .map_err(|e| BenchError::io("cannot find this executable", e))?
            .with_file_name("kukka"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::KukkaNotFound(path))
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| BenchError::io("cannot find a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::io("cannot find a free port", e))
}

impl System {
    /// Starts `kukka up` with `env` added to its environment and waits up to
    /// `ready_within` for it to be ready (see the module docs).
    pub async fn start(
        kukka: &Path,
        env: &[(String, String)],
        keep: bool,
        ready_within: Duration,
    ) -> Result<Self, BenchError> {
        let dir = tempfile::Builder::new()
            .prefix("kukka-bench-")
            .tempdir()
            .map_err(|e| BenchError::io("cannot create a data directory", e))?;
        let data_dir = dir.path().to_path_buf();
        let port = free_port()?;
        let log_path = data_dir.join("up.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| BenchError::io(format!("cannot create {}", log_path.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| BenchError::io("cannot open the log", e))?;
        let child = Command::new(kukka)
            .arg("up")
            .arg("--edge-port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            // The children's logs are in the data dir; a second copy on
            // kukka up's stdout would only cost CPU during the run.
            .env("KUKKA_QUIET", "1")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| BenchError::io(format!("cannot start {}", kukka.display()), e))?;
        let mut system = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir: Some(dir),
            data_dir,
        };
        if keep {
            if let Some(d) = system.dir.as_mut() {
                d.disable_cleanup(true);
            }
        }
        let deadline = Instant::now() + ready_within;
        if let Err(e) = system.wait_ready(deadline).await {
            let _ = system.stop().await;
            return Err(e);
        }
        Ok(system)
    }

    async fn wait_ready(&mut self, deadline: Instant) -> Result<(), BenchError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let run_file = self.data_dir.join("run").join("edge.json");
        let mut probe_ok = false;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::NotReady(format!(
                    "kukka up exited ({status}) before it was ready; see {}",
                    self.data_dir.join("up.log").display()
                )));
            }
            if !probe_ok {
                if let Some(admin) = admin_addr(&run_file) {
                    let ready = format!("http://{admin}/readyz?scope=cluster");
                    probe_ok = matches!(client.get(&ready).send().await,
                        Ok(r) if r.status().as_u16() == 200);
                }
            }
            if probe_ok {
                let req = client
                    .post(format!("{}/orders", self.url))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(crate::scenario::order_body(0));
                if let Ok((_, 201, _)) = crate::scenario::send(req).await {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(BenchError::NotReady(format!(
            "{} did not get ready (GET /readyz?scope=cluster 200 on its admin address and one order placed) in time; logs in {}",
            self.url,
            self.data_dir.join("logs").display()
        )))
    }

    /// SIGTERM, then waits up to [`STOP_GRACE`] (SIGKILL after that).
    pub async fn stop(mut self) -> Result<ExitStatus, BenchError> {
        if let Some(pid) = self.child.id() {
            terminate(pid);
        }
        let waited = tokio::time::timeout(STOP_GRACE, self.child.wait()).await;
        let status = match waited {
            Ok(r) => r.map_err(|e| BenchError::io("cannot wait for kukka up", e))?,
            Err(_) => {
                eprintln!("kukka-bench: kukka up did not stop within {STOP_GRACE:?}; killing it");
                let _ = self.child.kill().await;
                self.child
                    .wait()
                    .await
                    .map_err(|e| BenchError::io("cannot wait for kukka up", e))?
            }
        };
        // Removes the data directory unless it is kept.
        drop(self.dir.take());
        Ok(status)
    }
}

/// The admin address in a run file of `kukka up`, once it is written.
fn admin_addr(run_file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(run_file).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["adminAddr"].as_str().map(str::to_string)
}

/// Sends SIGTERM to `pid`.
fn terminate(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_reported_with_its_path() {
        let err = find_kukka(Some(Path::new("/nonexistent/kukka"))).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/kukka"));
    }

    #[test]
    fn free_ports_are_nonzero() {
        assert_ne!(free_port().expect("port"), 0);
    }
}
