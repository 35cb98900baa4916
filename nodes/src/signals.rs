//! Process signals: waiting for them as futures, and sending them.

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

/// Sends `sig` to process `pid`.
#[allow(unsafe_code)]
pub fn send(pid: u32, sig: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; it only takes a
    // process id and a signal number.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Sends `sig` to every process in process group `pgid` (tests use it to
/// stop a helper they started in its own group, with everything it
/// spawned).
#[allow(unsafe_code)]
pub fn send_group(pgid: u32, sig: i32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid
    // addresses the process group.
    unsafe { libc::kill(-pgid, sig) == 0 }
}
