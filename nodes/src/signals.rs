//! Process signals: waiting for them as futures, sending them, and telling
//! whether a process is still alive. Sending goes through `rustix`'s safe
//! `kill(2)` wrappers (no `unsafe` here).

use rustix::process::{kill_process, kill_process_group, test_kill_process, Pid, Signal};
use tokio::signal::unix::{signal, SignalKind};

/// Completes on the first SIGTERM or SIGINT.
pub async fn terminate() {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {},
                _ = i.recv() => {},
            }
        }
        _ => {
            // Without signal handlers we can only wait for Ctrl-C.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The signal numbered `sig` (the `libc::SIG*` constants), for the signals
/// kukka and its tests send; `None` for any other number. (rustix keeps the
/// conversion from a raw number `unsafe`, because a number reserved by libc
/// must never become a `Signal`; a fixed table needs none.)
fn signal_of(sig: i32) -> Option<Signal> {
    Some(match sig {
        libc::SIGHUP => Signal::HUP,
        libc::SIGINT => Signal::INT,
        libc::SIGQUIT => Signal::QUIT,
        libc::SIGKILL => Signal::KILL,
        libc::SIGUSR1 => Signal::USR1,
        libc::SIGUSR2 => Signal::USR2,
        libc::SIGTERM => Signal::TERM,
        libc::SIGCONT => Signal::CONT,
        libc::SIGSTOP => Signal::STOP,
        _ => return None,
    })
}

/// A positive process id (0 and ids that do not fit are refused: `kill(2)`
/// with 0 or a negative id would address a whole process group).
fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .and_then(Pid::from_raw)
}

/// Sends `sig` (a `libc::SIG*` number; 0 only checks that the process
/// exists) to process `pid`. `false` when it could not be sent, or for a
/// signal number outside the table above.
pub fn send(pid: u32, sig: i32) -> bool {
    let Some(pid) = pid_of(pid) else {
        return false;
    };
    if sig == 0 {
        return test_kill_process(pid).is_ok();
    }
    signal_of(sig).is_some_and(|s| kill_process(pid, s).is_ok())
}

/// Sends `sig` to every process in process group `pgid` (tests use it to
/// stop a helper they started in its own group, with everything it
/// spawned).
pub fn send_group(pgid: u32, sig: i32) -> bool {
    let Some(pgid) = pid_of(pgid).filter(|p| p.as_raw_pid() > 1) else {
        return false;
    };
    signal_of(sig).is_some_and(|s| kill_process_group(pgid, s).is_ok())
}

/// Whether process `pid` exists and has not exited: a zombie (exited, not
/// yet reaped by its parent) counts as gone.
pub fn is_alive(pid: u32) -> bool {
    if pid_of(pid).is_none() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state follows the last `)`, since the
        // command name may itself hold parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| !matches!(state, "Z" | "X" | "x")),
        // No /proc (or no permission): fall back to kill(pid, 0).
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => send(pid, 0),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_bad_pids_are_refused() {
        assert!(is_alive(std::process::id()));
        assert!(send(std::process::id(), 0));
        assert!(!send(0, libc::SIGTERM), "pid 0 is a process group");
        assert!(!send(u32::MAX, libc::SIGTERM), "does not fit a pid");
        assert!(!send_group(1, libc::SIGTERM), "never init's group");
        assert!(!send(std::process::id(), libc::SIGSEGV), "not in the table");
    }

    #[test]
    fn a_reaped_or_zombie_child_is_not_alive() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        // Not reaped yet: a zombie once it has exited.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while is_alive(pid) {
            assert!(std::time::Instant::now() < deadline, "true never exited");
            std::thread::park_timeout(std::time::Duration::from_millis(10));
        }
        child.wait().expect("reap");
        assert!(!is_alive(pid));
    }
}
