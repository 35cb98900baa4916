//! Fault injection for tests and experiments. Nothing here fires unless a
//! node was started with `--enable-test-faults` and a fault was armed
//! through its admin endpoint (`POST /faults/<kind>?times=N`).
//!
//! Each node owns one [`Faults`] and hands it to the code that checks it,
//! so systems built side by side in one test process do not disturb each
//! other.

use std::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc,
};

/// Kinds of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Placing an order panics (inside that request's own task).
    PanicInRequest,
    /// The order shard actor itself panics on its next messages (its
    /// supervisor restarts it; enough of them in a row escalate).
    CrashService,
    /// The order node aborts (no cleanup, like `kill -9`) right after the
    /// delivery was reserved for a cancel and before the order is cancelled:
    /// the cancel saga's forward recovery must finish the cancel.
    CrashMidCancel,
    /// The payment node's next refunds or voids fail as if its disk were
    /// briefly full: a passing failure, so the event is retried.
    FailRefund,
}

impl Fault {
    const ALL: [Fault; 4] = [
        Fault::PanicInRequest,
        Fault::CrashService,
        Fault::CrashMidCancel,
        Fault::FailRefund,
    ];

    /// Its name on the admin endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PanicInRequest => "panic-in-request",
            Self::CrashService => "crash-service",
            Self::CrashMidCancel => "crash-mid-cancel",
            Self::FailRefund => "fail-refund",
        }
    }

    /// Parses an admin endpoint name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    fn index(self) -> usize {
        match self {
            Self::PanicInRequest => 0,
            Self::CrashService => 1,
            Self::CrashMidCancel => 2,
            Self::FailRefund => 3,
        }
    }
}

/// One node's armed faults.
#[derive(Debug, Default)]
pub struct Faults {
    enabled: AtomicBool,
    armed: [AtomicU32; 4],
}

impl Faults {
    /// Faults that can never fire (production).
    pub fn disabled() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Faults that may be armed (`--enable-test-faults`).
    pub fn enabled() -> Arc<Self> {
        let f = Self::default();
        f.enabled.store(true, Ordering::SeqCst);
        Arc::new(f)
    }

    /// Whether faults may be armed.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Arms `fault` for its next `times` occasions; `false` if faults are
    /// not enabled on this node.
    pub fn arm(&self, fault: Fault, times: u32) -> bool {
        if !self.is_enabled() {
            return false;
        }
        self.armed[fault.index()].store(times, Ordering::SeqCst);
        true
    }

    /// Takes one armed occasion of `fault`, if any.
    pub fn fire(&self, fault: Fault) -> bool {
        self.armed[fault.index()]
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_only_when_enabled_and_armed() {
        let off = Faults::disabled();
        assert!(!off.arm(Fault::CrashService, 2), "disabled by default");
        assert!(!off.fire(Fault::CrashService));
        let on = Faults::enabled();
        assert!(on.arm(Fault::CrashService, 2));
        assert!(on.fire(Fault::CrashService));
        assert!(on.fire(Fault::CrashService));
        assert!(!on.fire(Fault::CrashService));
        assert!(
            !on.fire(Fault::PanicInRequest),
            "faults are armed one by one"
        );
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.as_str()), Some(f));
        }
        assert_eq!(Fault::parse("nope"), None);
    }
}
