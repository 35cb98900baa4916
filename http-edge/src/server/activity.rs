//! What one connection is doing, for its header-read and idle timeouts.
//!
//! A connection is always in one [`Phase`]: reading a request's head
//! (from the moment it opens, or from the first byte of a later request),
//! busy with requests (from the head until the last response body is
//! sent), or idle between requests. [`Tracked`] wraps the socket and moves
//! an idle connection to "reading a head" when bytes arrive; the service
//! marks requests busy with a [`Busy`] guard; [`Activity::expired`] is
//! the watchdog the connection task races against hyper, which resolves
//! when the phase has lasted longer than its limit.
//!
//! hyper's own header-read timeout (it needs a timer, which warp never
//! gave it) restarts whenever hyper starts waiting for a head, idle time
//! included, so on its own it would close kept-alive connections after
//! the header timeout. This keeps the two limits apart; hyper's timer is
//! still set, to their sum, as a backstop.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Instant,
};

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for (the rest of) a request head since `since`.
    Head {
        /// When it started.
        since: Instant,
    },
    /// `n` requests are being answered.
    Busy {
        /// How many.
        n: usize,
    },
    /// Between requests since `since`.
    Idle {
        /// When it started.
        since: Instant,
    },
}

/// Why the watchdog closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// A request head took longer than the header-read timeout.
    Header,
    /// No next request within the idle timeout.
    Idle,
}

impl Expired {
    /// The `reason` label of `kukka_http_refused_total`.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Header => "header_timeout",
            Self::Idle => "idle_timeout",
        }
    }
}

/// The shared phase of one connection.
#[derive(Debug)]
pub(crate) struct Activity {
    phase: Mutex<Phase>,
}

impl Activity {
    /// A connection that has just opened: waiting for its first head.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // The lock guards a plain value that no code can leave half
        // updated, so a poisoned lock still holds a valid phase.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The phase now.
    pub(crate) fn phase(&self) -> Phase {
        *self.lock()
    }

    /// Bytes arrived: an idle connection starts reading a head.
    fn bytes_arrived(&self) {
        let mut phase = self.lock();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Head {
                since: Instant::now(),
            };
        }
    }

    /// A request's head was read; it is busy until the guard is dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        let mut phase = self.lock();
        *phase = match *phase {
            Phase::Busy { n } => Phase::Busy { n: n + 1 },
            _ => Phase::Busy { n: 1 },
        };
        Busy(self.clone())
    }

    /// Resolves when the current phase outlasts its limit.
    pub(crate) async fn expired(&self, header: Duration, idle: Duration) -> Expired {
        // While busy nothing can expire here (bodies have their own
        // deadline); look again after the shorter limit.
        let recheck = header.min(idle).max(Duration::from_millis(10));
        loop {
            let now = Instant::now();
            let next = match self.phase() {
                Phase::Head { since } if now >= since + header => return Expired::Header,
                Phase::Idle { since } if now >= since + idle => return Expired::Idle,
                Phase::Head { since } => since + header,
                Phase::Idle { since } => since + idle,
                Phase::Busy { .. } => now + recheck,
            };
            tokio::time::sleep_until(next).await;
        }
    }
}

/// A request being answered; the connection turns idle when the last one
/// is dropped (hyper drops the response body once it is sent).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut phase = self.0.lock();
        *phase = match *phase {
            Phase::Busy { n } if n > 1 => Phase::Busy { n: n - 1 },
            _ => Phase::Idle {
                since: Instant::now(),
            },
        };
    }
}

/// A socket that reports arriving bytes to its [`Activity`].
#[derive(Debug)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    /// The socket back.
    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_head_expires_after_the_header_timeout() {
        let a = Activity::new();
        let started = Instant::now();
        let why = a
            .expired(Duration::from_secs(3), Duration::from_secs(60))
            .await;
        assert_eq!(why, Expired::Header);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_never_expires_and_idle_expires_after_the_idle_timeout() {
        let a = Activity::new();
        let busy = a.busy();
        let watch = {
            let a = a.clone();
            tokio::spawn(async move {
                a.expired(Duration::from_secs(1), Duration::from_secs(5))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!watch.is_finished(), "busy for 30 s without expiring");
        let idle_from = Instant::now();
        drop(busy);
        assert!(matches!(a.phase(), Phase::Idle { .. }));
        let why = watch.await.expect("watchdog");
        assert_eq!(why, Expired::Idle);
        let waited = idle_from.elapsed();
        assert!(
            waited >= Duration::from_secs(5) && waited <= Duration::from_secs(6),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_on_an_idle_connection_start_a_head() {
        let a = Activity::new();
        drop(a.busy());
        tokio::time::sleep(Duration::from_secs(2)).await;
        a.bytes_arrived();
        let Phase::Head { since } = a.phase() else {
            panic!("expected a head, got {:?}", a.phase());
        };
        assert_eq!(since, Instant::now());
        // More bytes of the same head do not restart its clock.
        tokio::time::sleep(Duration::from_secs(1)).await;
        a.bytes_arrived();
        assert_eq!(a.phase(), Phase::Head { since });
    }
}
