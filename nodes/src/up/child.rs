//! `kukka up-child`: how every child of `kukka up` starts, so that it dies
//! with `kukka up`.
//!
//! A child outlives a parent that is killed with SIGKILL unless it asked the
//! kernel beforehand for a parent-death signal (`prctl(PR_SET_PDEATHSIG)`).
//! Only the child can ask, between `fork` and `exec`; doing that from
//! `kukka up` would need `Command::pre_exec`, which is `unsafe` (the closure
//! runs in a forked copy of a multi-threaded process, where it must not
//! allocate or take locks), and the workspace denies `unsafe`. Instead each
//! child is `kukka` itself, started as
//!
//! ```text
//! kukka up-child --parent <pid of kukka up> -- <program> <args>...
//! ```
//!
//! which sets the death signal with rustix's safe wrapper, checks that
//! `kukka up` did not die before that (the signal would never come: the
//! child has been handed to another parent already), and then `exec`s the
//! program in place (`CommandExt::exec`, safe), keeping its pid, process
//! group, environment and output pipes. The death signal survives `exec`
//! (only set-user-id programs clear it), so Redis and the nodes carry it.
//! It costs one extra `exec` per child start, a few milliseconds. The same
//! step lowers a child's CPU priority when `kukka up` asks (`--nice`, see
//! `--write-side-nice`): a niceness survives `exec` too.
//!
//! The signal is SIGKILL. A killed `kukka up` is an accident (the operator's
//! way to stop it is SIGTERM or Ctrl-C, which stops the children gracefully
//! in order); what matters then is that nothing is left behind holding
//! ports, the data dir or Redis. SIGKILL cannot be ignored and also ends a
//! stopped (SIGSTOP) or wedged child, and it loses nothing acknowledged:
//! sled writes are flushed before a request is answered, events reach Redis
//! through the outbox, and Redis fsyncs every write (the chaos test kills
//! each of them with SIGKILL).
//!
//! Linux sends the signal when the *thread* that forked the child exits;
//! see [`super::spawner`] for why that thread lives as long as `kukka up`.

use std::{os::unix::process::CommandExt, path::Path};

use rustix::process::{getppid, nice, set_parent_process_death_signal, Signal};

use crate::cli::UpChildArgs;

/// Exit status when `kukka up` was gone before the death signal was set.
pub const ORPHANED: u8 = 111;
/// Exit status when the program cannot be executed (as shells use).
pub const CANNOT_EXEC: u8 = 127;

/// The command line that runs `program args...` as a child of this process
/// (`kukka up`) that dies with it, `niceness` lower in CPU priority.
pub fn command(
    kukka: &Path,
    program: &Path,
    args: &[String],
    niceness: i32,
) -> std::process::Command {
    let mut c = std::process::Command::new(kukka);
    c.arg("up-child")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--nice")
        .arg(niceness.to_string())
        .arg("--")
        .arg(program)
        .args(args);
    c
}

/// Sets the death signal and replaces this process with the program; only
/// returns (an exit status) when that fails.
pub fn exec(args: UpChildArgs) -> u8 {
    if let Err(e) = set_parent_process_death_signal(Some(Signal::KILL)) {
        eprintln!("kukka up-child: cannot set the parent-death signal: {e}");
        return CANNOT_EXEC;
    }
    let parent = getppid().map(|p| p.as_raw_pid());
    if parent.and_then(|p| u32::try_from(p).ok()) != Some(args.parent) {
        // kukka up died before the signal was set: nobody will stop us.
        eprintln!(
            "kukka up-child: kukka up (pid {}) is gone; not starting",
            args.parent
        );
        return ORPHANED;
    }
    if args.nice != 0 {
        if let Err(e) = nice(args.nice) {
            // Runs, at the same priority as the rest: slower views under
            // load, nothing worse.
            eprintln!(
                "kukka up-child: cannot lower the priority by {}: {e}",
                args.nice
            );
        }
    }
    let Some((program, rest)) = args.command.split_first() else {
        eprintln!("kukka up-child: no program given");
        return CANNOT_EXEC;
    };
    let error = std::process::Command::new(program).args(rest).exec();
    eprintln!(
        "kukka up-child: cannot run {}: {error}",
        Path::new(program).display()
    );
    CANNOT_EXEC
}
