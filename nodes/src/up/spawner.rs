//! The one thread that forks `kukka up`'s children.
//!
//! Every child asks the kernel for a parent-death signal (see
//! [`super::child`]). Linux sends that signal when the *thread* that forked
//! the child exits, not when the process does: "parent" in prctl(2)'s
//! `PR_SET_PDEATHSIG` is the forking thread. Under tokio's multi-thread
//! runtime a task may run on any worker, and blocking-pool threads come and
//! go (an idle one exits after ten seconds), so a child forked from whichever
//! thread happened to run the task could be killed while `kukka up` runs on.
//! All children are therefore forked from this one plain thread, which lives
//! as long as its [`Spawner`]: every [`super::process::Managed`] holds the
//! spawner (through its launcher), and `kukka up` drops them only after
//! every child has been stopped. The thread thus ends after the children,
//! or together with the process when `kukka up` is killed, which is the
//! moment the children are meant to go.

use std::{io, sync::mpsc};

use tokio::{process::Child, sync::oneshot};

/// A request to the spawner thread.
struct Job {
    command: std::process::Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// Handle of the spawner thread; the thread ends when this is dropped.
#[derive(Debug)]
pub struct Spawner {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("program", &self.command.get_program())
            .finish()
    }
}

fn stopped() -> io::Error {
    io::Error::other("the spawner thread of kukka up has stopped")
}

impl Spawner {
    /// Starts the thread. Must be called inside the tokio runtime: children
    /// are spawned as [`tokio::process::Child`]ren of that runtime, so they
    /// can be awaited from any task.
    pub fn start() -> io::Result<Spawner> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("kukka-spawner".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                while let Ok(job) = inbox.recv() {
                    let result = tokio::process::Command::from(job.command).spawn();
                    // The command (with the parent's copies of the child's
                    // pipe ends) is dropped here, so the log pipes reach
                    // end-of-file when the child exits.
                    let _ = job.reply.send(result);
                }
            })?;
        Ok(Spawner { jobs })
    }

    /// Spawns `command` from the spawner thread.
    pub async fn spawn(&self, command: std::process::Command) -> io::Result<Child> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { command, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn children_are_spawned_by_a_thread_of_its_own() {
        let spawner = Spawner::start().expect("spawner");
        // (Which thread forked a child is not visible from user space on
        // every kernel; the integration tests show the consequence: children
        // live as long as `kukka up` and die with it.)
        let mut child = spawner
            .spawn(std::process::Command::new("true"))
            .await
            .expect("spawn");
        let status = child.wait().await.expect("wait");
        assert!(status.success());
        let named = std::fs::read_dir("/proc/self/task")
            .expect("tasks")
            .flatten()
            .any(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "kukka-spawner")
            });
        assert!(named, "the spawner thread runs");
        drop(spawner);
    }
}
