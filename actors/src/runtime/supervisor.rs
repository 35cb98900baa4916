//! The root supervisor every node runs.
//!
//! It spawns the node's long-lived actors linked to itself, in order, and
//! restarts any that fails or stops, with exponential backoff. A child that
//! stays up for a whole window starts its count afresh. More than
//! `max_restarts` restarts of one child within `window` escalate: the
//! supervisor reports it on the escalation channel and stops, and the node
//! exits non-zero so that its process supervisor (Kubernetes, or `kukka
//! up`) restarts the whole process.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use ractor_cluster::RactorMessage;
use tokio::sync::mpsc::UnboundedSender;

use super::groups::Namespace;

/// Builds a [`ChildSpec`] that spawns a fresh `A` with arguments from
/// `actor` each time, linked to the supervisor and registered as node `ns`'s
/// actor `short` (see [`Namespace::name`]).
pub fn child<A, F>(ns: &Namespace, short: &str, actor: F) -> ChildSpec
where
    A: Actor,
    F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
{
    let actor = Arc::new(actor);
    let child_name = ns.name(short);
    ChildSpec {
        short: short.to_string(),
        name: child_name.clone(),
        spawn: Arc::new(move |sup: ActorCell| {
            let (a, args) = actor();
            let name = child_name.clone();
            Box::pin(async move {
                Actor::spawn_linked(Some(name), a, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            })
        }),
    }
}
/// Spawns one child linked to the given supervisor cell.
pub type SpawnFn = Arc<
    dyn Fn(ActorCell) -> Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>
        + Send
        + Sync,
>;

/// A child the supervisor keeps alive.
#[derive(Clone)]
pub struct ChildSpec {
    /// Its name on the node (the `actor` label of restart metrics).
    pub short: String,
    /// Its registered name (unique in the process).
    pub name: String,
    /// How to (re)start it.
    pub spawn: SpawnFn,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .finish()
    }
}

/// Restart limits.
#[derive(Clone, Copy, Debug)]
pub struct RestartPolicy {
    /// Restarts allowed per child within `window` before escalating.
    pub max_restarts: usize,
    /// The window restarts are counted in.
    pub window: Duration,
    /// Wait before the first restart (doubled for each further one).
    pub min_backoff: Duration,
    /// Longest wait before a restart.
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(30),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RestartPolicy {
    /// Backoff before restart number `attempt` (0-based).
    pub fn backoff(&self, attempt: usize) -> Duration {
        let factor = 1u32 << attempt.min(16);
        (self.min_backoff * factor).min(self.max_backoff)
    }
}

/// What the supervisor is started with.
pub struct SupervisorArgs {
    /// Children, started in this order.
    pub children: Vec<ChildSpec>,
    /// When to restart and when to give up.
    pub policy: RestartPolicy,
    /// Told the reason when the supervisor gives up.
    pub escalate: UnboundedSender<String>,
}

/// Messages of the supervisor.
#[derive(RactorMessage)]
pub enum SupervisorMsg {
    /// Restart a child (sent to itself after the backoff).
    Restart(String),
    /// Stop restarting anything: the node is shutting down. The caller then
    /// stops the children and the supervisor.
    Shutdown(ractor::RpcReplyPort<()>),
}

/// The supervisor actor.
#[derive(Debug)]
pub struct RootSupervisor;

/// What the supervisor keeps: how to start each child and when each was
/// last restarted.
pub struct SupervisorState {
    specs: HashMap<String, ChildSpec>,
    restarts: HashMap<String, VecDeque<Instant>>,
    policy: RestartPolicy,
    escalate: UnboundedSender<String>,
}

impl Actor for RootSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut specs = HashMap::new();
        for spec in args.children {
            (spec.spawn)(myself.get_cell()).await?;
            super::metrics::actor_supervised(&spec.short);
            tracing::debug!(child = %spec.name, "started");
            specs.insert(spec.name.clone(), spec);
        }
        Ok(SupervisorState {
            specs,
            restarts: HashMap::new(),
            policy: args.policy,
            escalate: args.escalate,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Shutdown(reply) => {
                state.specs.clear();
                let _ = reply.send(());
            }
            SupervisorMsg::Restart(name) => {
                let Some(spec) = state.specs.get(&name).cloned() else {
                    return Ok(());
                };
                match (spec.spawn)(myself.get_cell()).await {
                    Ok(_) => {
                        super::metrics::actor_restarted(&spec.short);
                        tracing::info!(child = %name, "restarted");
                    }
                    Err(e) => {
                        tracing::warn!(child = %name, error = %e, "restart failed");
                        schedule_restart(&myself, state, name);
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some(name) = cell.get_name() else {
            return Ok(());
        };
        if state.specs.contains_key(&name) {
            tracing::warn!(child = %name, reason = %why, "child ended; restarting");
            schedule_restart(&myself, state, name);
        }
        Ok(())
    }
}

fn schedule_restart(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState, name: String) {
    let now = Instant::now();
    let window = state.policy.window;
    let history = state.restarts.entry(name.clone()).or_default();
    while history
        .front()
        .is_some_and(|t| now.duration_since(*t) > window)
    {
        history.pop_front();
    }
    if history.len() >= state.policy.max_restarts {
        let reason = format!(
            "{name} failed more than {} times in {:?}; escalating",
            state.policy.max_restarts, window
        );
        tracing::error!(child = %name, "{reason}");
        let _ = state.escalate.send(reason);
        myself.stop(Some("escalated".into()));
        return;
    }
    let delay = state.policy.backoff(history.len());
    history.push_back(now);
    myself.send_after(delay, move || SupervisorMsg::Restart(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let p = RestartPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(50));
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(p.backoff(30), Duration::from_secs(5));
    }
}
