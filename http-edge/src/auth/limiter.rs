//! Failed token attempts per client: after `max` failures within a window
//! (a minute), the client is refused (`429`) until the oldest of them
//! leaves the window, before its token is even looked at.
//!
//! The client is the peer's IP address, or, behind a proxy that says who
//! the client is (`--client-ip-header`, e.g. `X-Forwarded-For`), the
//! address that proxy reports. Each edge counts on its own, in memory: with
//! N edges behind a load balancer a client gets at most N × `max` tries a
//! minute, still nowhere near enough to guess a 128-bit tag or a 32-character
//! owner token. Memory is bounded: at most [`MAX_CLIENTS`] clients are
//! tracked; past that, clients whose failures all left the window are
//! forgotten, and if none did, new clients are not tracked until some are
//! (logged).

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Clients tracked at most.
pub const MAX_CLIENTS: usize = 100_000;

/// Failed attempts per client.
#[derive(Debug)]
pub struct FailureLimiter {
    max: usize,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl FailureLimiter {
    /// At most `max` failures per client within `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: (max as usize).max(1),
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn prune(&self, failures: &mut VecDeque<Instant>, now: Instant) {
        while failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            failures.pop_front();
        }
    }

    /// How long `client` is still refused, if it is.
    pub fn locked_for(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let failures = clients.get_mut(&client)?;
        self.prune(failures, now);
        if failures.len() < self.max {
            return None;
        }
        let oldest = *failures.front()?;
        Some((oldest + self.window).saturating_duration_since(now))
    }

    /// Records a failed attempt of `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, f| {
                f.back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < self.window)
            });
            if clients.len() >= MAX_CLIENTS {
                tracing::warn!(
                    tracked = clients.len(),
                    "too many clients with failed token attempts to track another"
                );
                return;
            }
        }
        let failures = clients.entry(client).or_default();
        self.prune(failures, now);
        failures.push_back(now);
        while failures.len() > self.max {
            failures.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_a_minute_lock_a_client_until_the_oldest_leaves_the_window() {
        let limiter = FailureLimiter::new(10, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = (
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        let t0 = Instant::now();
        for i in 0..9 {
            limiter.failed(a, t0 + Duration::from_secs(i));
            assert_eq!(
                limiter.locked_for(a, t0 + Duration::from_secs(i)),
                None,
                "{i}"
            );
        }
        limiter.failed(a, t0 + Duration::from_secs(9));
        assert_eq!(
            limiter.locked_for(a, t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50)),
            "the tenth failure locks"
        );
        assert_eq!(
            limiter.locked_for(b, t0 + Duration::from_secs(10)),
            None,
            "per client"
        );
        assert_eq!(
            limiter.locked_for(a, t0 + Duration::from_secs(60)),
            None,
            "the first left"
        );
        limiter.failed(a, t0 + Duration::from_secs(60));
        assert_eq!(
            limiter.locked_for(a, t0 + Duration::from_secs(60)),
            Some(Duration::from_secs(1)),
            "ten again within a minute (1 s .. 60 s)"
        );
        assert_eq!(limiter.locked_for(a, t0 + Duration::from_secs(200)), None);
    }
}
