//! Choosing the loopback ports of the children `kukka up` starts.
//!
//! A port is found by binding port 0; the listener has to be closed before
//! the child can bind the port, and the kernel may hand a closed port out
//! again at once. [`PortPool`] therefore keeps the ports it chose bound
//! until they are released (just before the child that uses them starts),
//! never chooses a port twice, and never chooses a port it was told to
//! avoid (fixed edge ports): the ports of one `kukka up` are distinct.
//!
//! Candidates come from below the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`, [`POOL_PORTS`]): a port there
//! is never handed to some other program's outgoing connection or port-0
//! listener in the moment between its release and the child's bind, or
//! while a child restarts (a restarted child binds the same ports again).
//! Where that range is unknown or too small, the kernel's port 0 is used.

use std::{
    hash::{BuildHasher, Hasher},
    net::TcpListener,
    ops::Range,
};

use anyhow::Context;

/// Where candidates are drawn from when the ephemeral range starts above it.
pub const POOL_PORTS: Range<u16> = 10_000..20_000;

/// Distinct free ports on 127.0.0.1.
#[derive(Debug, Default)]
pub struct PortPool {
    held: Vec<(u16, TcpListener)>,
    chosen: Vec<u16>,
    avoid: Vec<u16>,
}

impl PortPool {
    /// A pool that never chooses a port in `avoid`.
    pub fn avoiding(avoid: &[u16]) -> Self {
        Self {
            avoid: avoid.to_vec(),
            ..Self::default()
        }
    }

    /// A free port this pool has not chosen before; it stays bound until
    /// [`PortPool::release`] or the pool is dropped.
    pub fn take(&mut self) -> anyhow::Result<u16> {
        // A refused candidate stays bound meanwhile, so it is not offered
        // again; a few attempts are plenty.
        let mut refused = Vec::new();
        let range = pool_range();
        for attempt in 0..64 {
            let l = match &range {
                Some(r) => {
                    let port = r.start + (random() % u64::from(r.end - r.start)) as u16;
                    match TcpListener::bind(("127.0.0.1", port)) {
                        Ok(l) => l,
                        // In use (or not ours to take): try another.
                        Err(_) => continue,
                    }
                }
                None if attempt < 16 => {
                    TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?
                }
                None => break,
            };
            let port = l.local_addr()?.port();
            if self.avoid.contains(&port) || self.chosen.contains(&port) {
                refused.push(l);
                continue;
            }
            self.chosen.push(port);
            self.held.push((port, l));
            return Ok(port);
        }
        anyhow::bail!("cannot find a free port that is not in use")
    }

    /// Unbinds `port` so that a child can listen on it.
    pub fn release(&mut self, port: u16) {
        self.held.retain(|(p, _)| *p != port);
    }
}

/// [`POOL_PORTS`], cut below the kernel's ephemeral range; `None` when that
/// range cannot be read or leaves fewer than 1,000 ports.
fn pool_range() -> Option<Range<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let low: u16 = text.split_whitespace().next()?.parse().ok()?;
    let end = POOL_PORTS.end.min(low);
    (end >= POOL_PORTS.start + 1_000).then_some(POOL_PORTS.start..end)
}

/// A random number (std's per-process random hash keys, fresh each call).
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_avoid_the_given_ones_and_are_released() {
        let first = PortPool::default().take().expect("port");
        let mut pool = PortPool::avoiding(&[first]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let p = pool.take().expect("port");
            assert_ne!(p, first);
            assert!(seen.insert(p), "port {p} chosen twice");
        }
        if let Some(range) = pool_range() {
            assert!(seen.iter().all(|p| range.contains(p)), "{seen:?}");
        }
        let p = pool.take().expect("port");
        assert!(TcpListener::bind(("127.0.0.1", p)).is_err(), "held");
        pool.release(p);
        assert!(TcpListener::bind(("127.0.0.1", p)).is_ok(), "released");
    }
}
