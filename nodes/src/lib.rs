//! # kukka-nodes
//!
//! The `kukka` binary's library: one binary runs any role of the cluster
//! (`kukka node --role order|payment|delivery|edge`) or the whole system on
//! one machine (`kukka up`).
//!
//! Layout:
//! - [`cli`]: every flag, each with its `KUKKA_*` environment variable.
//! - [`telemetry`]: the tracing subscriber (text or JSON lines).
//! - [`cluster`]: starting the `ractor_cluster` NodeServer and the dialer
//!   that keeps this node connected to its seeds (ractor_cluster does not
//!   reconnect by itself).
//!   With `--cluster-tls-dir` nodes talk over mutual TLS and check every
//!   frame against what the peer's role may send.
//! - [`cluster_cmd`]: `kukka cluster certs`, a CA and a certificate per
//!   role for Kubernetes Secrets.
//! - [`faults`]: the admin route that arms test faults.
//! - [`roles`]: what each role spawns under its root supervisor, and its
//!   readiness checks, built from a [`roles::NodeContext`].
//! - [`node`]: the `node` subcommand: cluster join, and
//!   [`node::RunningNode`] (supervisor, admin and public HTTP servers,
//!   graceful shutdown).
//! - [`in_process`]: every role inside one process, for tests.
//! - [`redis_acl`]: the Redis users of the roles (`k8s/base/redis/users.acl`)
//!   and adding their passwords.
//! - [`up`]: the `up` subcommand: a private `redis-server` and one child
//!   process per role on distinct free ports ([`up::ports`]), restarted
//!   when they die, described in `run/*.json`, dying with it
//!   ([`up::child`]), their output prefixed on stdout ([`up::output`]).
//! - [`status`]: `kukka status`, what the run files of a `kukka up` say
//!   and whether each child is alive and healthy.
//! - [`events`]: `kukka events dead-letters` and `kukka events redrive`.
//! - [`views`]: `kukka views rebuild`, replaying the stream into fresh read
//!   models.
//! - [`secrets`]: the weak or published secrets a node reachable from
//!   other hosts refuses to start with.
//! - [`signals`]: process signals as futures, and sending signals.

pub mod cli;
pub mod cluster;
pub mod cluster_cmd;
pub mod events;
pub mod faults;
pub mod in_process;
pub mod node;
pub mod redis_acl;
pub mod roles;
pub mod secrets;
pub mod signals;
pub mod status;
pub mod telemetry;
pub mod up;
pub mod views;

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    match cli.command {
        cli::Command::Node(args) => node::run(*args).await,
        cli::Command::Up(args) => up::run(args).await,
        cli::Command::Views(cmd) => views::run(cmd).await,
        cli::Command::Status(args) => status::run(args).await,
        cli::Command::UpChild(args) => Ok(up::child::exec(args)),
        cli::Command::Cluster(cmd) => cluster_cmd::run(cmd),
        cli::Command::Events(cmd) => events::run(cmd).await,
    }
}
