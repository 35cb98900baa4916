//! Fault injection for tests and experiments. Nothing here fires unless a
//! node was started with `--enable-test-faults` and a fault was armed
//! through its admin endpoint (`POST /faults/<kind>?times=N`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);
static PANIC_IN_REQUEST: AtomicU32 = AtomicU32::new(0);
static CRASH_SERVICE: AtomicU32 = AtomicU32::new(0);

/// Kinds of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next requests' handling panics (inside its own task).
    PanicInRequest,
    /// The service actor itself panics on its next messages (its supervisor
    /// restarts it; enough of them in a row escalate).
    CrashService,
}

impl Fault {
    /// Parses `panic-in-request` / `crash-service`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "panic-in-request" => Some(Self::PanicInRequest),
            "crash-service" => Some(Self::CrashService),
            _ => None,
        }
    }

    fn counter(self) -> &'static AtomicU32 {
        match self {
            Self::PanicInRequest => &PANIC_IN_REQUEST,
            Self::CrashService => &CRASH_SERVICE,
        }
    }
}

/// Allows arming faults in this process.
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// Arms `fault` for its next `times` occasions; `false` if faults are not
/// enabled in this process.
pub fn arm(fault: Fault, times: u32) -> bool {
    if !ENABLED.load(Ordering::SeqCst) {
        return false;
    }
    fault.counter().store(times, Ordering::SeqCst);
    true
}

/// Takes one armed occasion of `fault`, if any.
pub fn fire(fault: Fault) -> bool {
    fault
        .counter()
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_only_when_enabled_and_armed() {
        assert!(!fire(Fault::CrashService));
        assert!(!arm(Fault::CrashService, 2), "disabled by default");
        enable();
        assert!(arm(Fault::CrashService, 2));
        assert!(fire(Fault::CrashService));
        assert!(fire(Fault::CrashService));
        assert!(!fire(Fault::CrashService));
        assert_eq!(
            Fault::parse("panic-in-request"),
            Some(Fault::PanicInRequest)
        );
        assert_eq!(Fault::parse("nope"), None);
    }
}
