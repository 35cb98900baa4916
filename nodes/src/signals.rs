//! Process signals as futures.

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
