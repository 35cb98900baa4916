//! Body wrappers of the server: [`TimedBody`] gives a request body a
//! deadline (a body that trickles fails with [`BodyTimedOut`], which the
//! JSON reader answers with `408`); [`HeldBody`] keeps a response's guards
//! (its in-flight slot, its connection's busy mark) until hyper has sent
//! it.

use std::{
    error::Error as StdError,
    pin::Pin,
    task::{Context, Poll},
};

use http_body::{Body, Frame, SizeHint};
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::TokioTimer;
use tokio::time::Instant;

use super::{activity::Busy, limits::InFlight};

/// Boxed errors, as hyper and warp pass them.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// The request body did not arrive within the body-read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// Whether `e` (as a body stream reports it, possibly wrapped) is a
/// [`BodyTimedOut`].
pub fn is_body_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A request body that fails once its deadline passes.
pub(crate) struct TimedBody<B> {
    inner: B,
    deadline: Instant,
    /// Armed the first time the body has to wait.
    sleep: Option<Pin<Box<dyn Sleep>>>,
    timed_out: bool,
}

impl<B> TimedBody<B> {
    /// `inner`, which must end before `deadline`.
    pub(crate) fn new(inner: B, deadline: Instant) -> Self {
        Self {
            inner,
            deadline,
            sleep: None,
            timed_out: false,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.timed_out {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = self.deadline.into_std();
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| TokioTimer::new().sleep_until(deadline));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.timed_out = true;
                        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.timed_out || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds guards until it is dropped.
pub(crate) struct HeldBody<B> {
    inner: B,
    _in_flight: Option<InFlight>,
    _busy: Busy,
}

impl<B> HeldBody<B> {
    /// `inner`, holding `in_flight` and `busy`.
    pub(crate) fn new(inner: B, in_flight: Option<InFlight>, busy: Busy) -> Self {
        Self {
            inner,
            _in_flight: in_flight,
            _busy: busy,
        }
    }
}

impl<B: Body + Unpin> Body for HeldBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_found_through_wrappers() {
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped")]
        struct Wrapper(#[source] BoxError);
        let wrapped = Wrapper(Box::new(BodyTimedOut));
        assert!(is_body_timeout(&wrapped));
        assert!(is_body_timeout(&BodyTimedOut));
        assert!(!is_body_timeout(&std::fmt::Error));
    }
}
