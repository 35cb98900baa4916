//! One child process of `kukka up`: started (so that it dies with `kukka
//! up`, see [`super::child`]) with its output going to its log file and the
//! terminal, restarted with backoff when it dies, described in
//! `run/<name>.json`, stopped with SIGTERM (then SIGKILL after a grace
//! period).

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::process::Child;

use super::{output::Output, spawner::Spawner};
use crate::signals;

/// What every child is started with: the `kukka` binary (which starts each
/// child, see [`super::child`]), the spawner thread and the output.
#[derive(Debug)]
pub struct Launcher {
    /// The `kukka` executable.
    pub kukka: PathBuf,
    /// The thread children are forked from.
    pub spawner: Spawner,
    /// Where their output goes.
    pub output: Output,
}

/// A supervised child.
pub struct Managed {
    name: String,
    /// Position among the children (its colour on the terminal).
    index: usize,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    run_file: PathBuf,
    info: Value,
    launcher: Arc<Launcher>,
    child: Option<Child>,
    started: Instant,
    failures: u32,
    restarts: u32,
    restart_at: Option<Instant>,
    readiness: Option<(String, usize)>,
    niceness: i32,
}

impl Managed {
    /// Describes a child; nothing runs until [`Managed::start`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        index: usize,
        program: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        dir: &Path,
        info: Value,
        launcher: Arc<Launcher>,
    ) -> Self {
        Self {
            name: name.to_string(),
            index,
            program,
            args,
            env,
            run_file: dir.join("run").join(format!("{name}.json")),
            info,
            launcher,
            child: None,
            started: Instant::now(),
            failures: 0,
            restarts: 0,
            restart_at: None,
            readiness: None,
            niceness: 0,
        }
    }

    /// Makes this a cluster node whose readiness is its admin
    /// `/readyz?scope=cluster` plus `sessions` joined cluster sessions.
    pub fn with_readiness(mut self, admin_addr: String, sessions: usize) -> Self {
        self.readiness = Some((admin_addr, sessions));
        self
    }

    /// Runs it `niceness` lower in CPU priority (a nice increment).
    pub fn with_niceness(mut self, niceness: i32) -> Self {
        self.niceness = niceness;
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

    /// How many times it was restarted after exiting on its own.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Ready and fully rejoined (for rolling restarts).
    pub async fn is_ready(&self) -> bool {
        let Some((addr, sessions)) = &self.readiness else {
            return true;
        };
        if super::probe::http_status(addr, super::probe::CLUSTER_READY).await != Some(200) {
            return false;
        }
        super::probe::metric(addr, "kukka_cluster_sessions")
            .await
            .is_some_and(|n| n as usize >= *sessions)
    }

    /// Starts the process and writes its run file. An error means nothing
    /// was started; once the child runs, it is supervised whatever else
    /// fails (a run file that cannot be written is logged).
    pub async fn start(&mut self) -> anyhow::Result<()> {
        // The log file is opened first: a child is never started without
        // somewhere for its output to go. If the start fails, the pipe's
        // write ends are dropped with the command and the pump ends.
        let (stdout, stderr) = self.launcher.output.connect(&self.name, self.index)?;
        let mut command = super::child::command(
            &self.launcher.kukka,
            &self.program,
            &self.args,
            self.niceness,
        );
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own process group: Ctrl-C on the terminal reaches only
            // `kukka up`, which stops the children in order.
            .process_group(0);
        let child = self
            .launcher
            .spawner
            .spawn(command)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", self.name))?;
        let pid = child.id().unwrap_or(0);
        self.child = Some(child);
        self.started = Instant::now();
        tracing::info!(child = %self.name, pid, restarts = self.restarts, "started");
        if let Err(e) = self.write_run_file(pid) {
            tracing::error!(child = %self.name, file = %self.run_file.display(), error = %e, "cannot write the run file");
        }
        Ok(())
    }

    /// `run/<name>.json`: its description, pid and restarts, mode 0600
    /// (Redis's holds its password), replaced atomically.
    fn write_run_file(&self, pid: u32) -> anyhow::Result<()> {
        let mut info = self.info.clone();
        if let Value::Object(map) = &mut info {
            map.insert("pid".into(), Value::from(pid));
            map.insert("restarts".into(), Value::from(self.restarts));
        }
        super::redis::write_private(&self.run_file, &serde_json::to_vec_pretty(&info)?)?;
        Ok(())
    }

    /// Notices a dead child and restarts it when its backoff has passed.
    pub async fn supervise(&mut self) {
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
            self.restarts += 1;
            if let Err(e) = self.start().await {
                tracing::error!(child = %self.name, error = %e, "restart failed");
                self.restarts -= 1;
                self.restart_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    /// Stops it and starts it again (a planned restart: not counted in
    /// [`Managed::restarts`]).
    pub async fn replace(&mut self, grace: Duration) -> anyhow::Result<()> {
        self.stop(grace).await;
        self.start().await
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
