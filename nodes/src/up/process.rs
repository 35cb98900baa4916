//! One child process of `kukka up`: started with its log file, restarted
//! with backoff when it dies, described in `run/<name>.json`, stopped with
//! SIGTERM (then SIGKILL after a grace period).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::signals;

/// A supervised child.
pub struct Managed {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    run_file: PathBuf,
    log_file: PathBuf,
    info: Value,
    child: Option<Child>,
    started: Instant,
    failures: u32,
    restart_at: Option<Instant>,
    readiness: Option<(String, usize)>,
}

impl Managed {
    /// Describes a child; nothing runs until [`Managed::start`].
    pub fn new(
        name: &str,
        program: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        dir: &Path,
        info: Value,
    ) -> Self {
        Self {
            name: name.to_string(),
            program,
            args,
            env,
            run_file: dir.join("run").join(format!("{name}.json")),
            log_file: dir.join("logs").join(format!("{name}.log")),
            info,
            child: None,
            started: Instant::now(),
            failures: 0,
            restart_at: None,
            readiness: None,
        }
    }

    /// Makes this a cluster node whose readiness is its admin `/readyz`
    /// plus `sessions` joined cluster sessions.
    pub fn with_readiness(mut self, admin_addr: String, sessions: usize) -> Self {
        self.readiness = Some((admin_addr, sessions));
        self
    }

    /// Whether this is a cluster node (not Redis).
    pub fn is_node(&self) -> bool {
        self.readiness.is_some()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ready and fully rejoined (for rolling restarts).
    pub async fn is_ready(&self) -> bool {
        let Some((addr, sessions)) = &self.readiness else {
            return true;
        };
        if super::probe::http_status(addr, "/readyz").await != Some(200) {
            return false;
        }
        super::probe::metric(addr, "kukka_cluster_sessions")
            .await
            .is_some_and(|n| n as usize >= *sessions)
    }

    /// Starts the process and writes its run file.
    pub fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", self.name))?;
        let pid = child.id().unwrap_or(0);
        let mut info = self.info.clone();
        if let Value::Object(map) = &mut info {
            map.insert("pid".into(), Value::from(pid));
        }
        let tmp = self.run_file.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&info)?)?;
        std::fs::rename(&tmp, &self.run_file)?;
        tracing::info!(child = %self.name, pid, "started");
        self.child = Some(child);
        self.started = Instant::now();
        Ok(())
    }

    /// Notices a dead child and restarts it when its backoff has passed.
    pub fn supervise(&mut self) {
        if let Some(child) = &mut self.child {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if self.started.elapsed() > Duration::from_secs(30) {
                        self.failures = 0;
                    }
                    let backoff = Duration::from_millis(100 * (1u64 << self.failures.min(6)));
                    self.failures += 1;
                    tracing::warn!(child = %self.name, %status, ?backoff, "child exited; restarting");
                    self.child = None;
                    self.restart_at = Some(Instant::now() + backoff);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(child = %self.name, error = %e, "cannot check child"),
            }
        }
        if self.restart_at.is_some_and(|t| Instant::now() >= t) {
            self.restart_at = None;
            if let Err(e) = self.start() {
                tracing::error!(child = %self.name, error = %e, "restart failed");
                self.restart_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        self.restart_at = None;
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            signals::send(pid, libc::SIGTERM);
        }
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(Ok(status)) => tracing::info!(child = %self.name, %status, "stopped"),
            _ => {
                tracing::warn!(child = %self.name, "did not stop in time; killing");
                let _ = child.kill().await;
            }
        }
    }
}
