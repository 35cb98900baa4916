//! Choosing the loopback ports of the children `kukka up` starts.
//!
//! A port is found by binding port 0; the listener has to be closed before
//! the child can bind the port, and the kernel may hand a closed port out
//! again at once. [`PortPool`] therefore keeps the ports it chose bound
//! until they are released (just before the child that uses them starts),
//! never chooses a port twice, and never chooses a port it was told to
//! avoid (fixed edge ports): the ports of one `kukka up` are distinct.

use std::net::TcpListener;

use anyhow::Context;

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
        for _ in 0..16 {
            let l = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
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
        let p = pool.take().expect("port");
        assert!(TcpListener::bind(("127.0.0.1", p)).is_err(), "held");
        pool.release(p);
        assert!(TcpListener::bind(("127.0.0.1", p)).is_ok(), "released");
    }
}
