//! One way to catch a panic, used everywhere user code runs: [`catch`] for a closure,
//! [`CatchUnwind`] for a future, [`run_guarded`] for work whose panic is only
//! logged, and [`report`] for the logging itself. Each turns a panic into an [`ErrorKind::Panicked`](crate::error::ErrorKind::Panicked) error
//! and drops the panic's payload inside a guard of its own, so that a payload whose
//! `Drop` panics too cannot unwind any further.
//!
//! [`CatchUnwind`] follows futures-util's `future/catch_unwind.rs`.

use std::any::Any;
use std::future::Future;
use std::panic::{self as std_panic, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;

/// Runs `f`, turning a panic into an [`Error`].
///
/// Every caller hands `f` over to be consumed and reads nothing it touched after a
/// panic but the error, so asserting unwind safety is sound.
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    std_panic::catch_unwind(AssertUnwindSafe(f)).map_err(into_error)
}

/// Runs `f`; a panic is logged (target `pulsar_async`, naming `what`) and goes no
/// further, not even one of the logging itself (a `tracing` subscriber is user code
/// too).
pub(crate) fn run_guarded(f: impl FnOnce(), what: &str) {
    if let Err(error) = catch(f) {
        report(|| tracing::error!(target: "pulsar_async", error = %error, "{what} panicked"));
    }
}

/// Runs `log`, a report through `tracing`; a panic in it (in the subscriber) goes no
/// further, and is not reported again.
pub(crate) fn report(log: impl FnOnce()) {
    if let Err(payload) = std_panic::catch_unwind(AssertUnwindSafe(log)) {
        drop_payload(payload);
    }
}

/// The error of a panic; its payload is dropped under a guard.
fn into_error(payload: Box<dyn Any + Send>) -> Error {
    let error = Error::from_panic(&*payload);
    drop_payload(payload);
    error
}

/// Drops a panic payload. If its `Drop` panics, the payload of that second panic is
/// leaked rather than dropped, since dropping it could panic again.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = std_panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

pin_project_lite::pin_project! {
    /// A future that gives `future`'s output, or the [`Error`] of a panic in one of its
    /// polls; made by [`catch_unwind`].
    #[must_use = "futures do nothing unless awaited"]
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

/// Wraps `future` so that a panic in a poll becomes its error.
pub(crate) fn catch_unwind<F: Future>(future: F) -> CatchUnwind<F> {
    CatchUnwind { future }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch(|| future.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A panic payload whose own `Drop` panics.
    struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("the payload's drop panicked too");
        }
    }

    #[test]
    fn a_panic_becomes_a_panicked_error_with_its_message() {
        let err = catch(|| -> u8 { panic!("boom") }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Panicked);
        assert_eq!(err.message(), Some("boom"));
    }

    #[test]
    fn a_payload_whose_drop_panics_does_not_unwind_out_of_catch() {
        let err = catch(|| std::panic::panic_any(Bomb)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Panicked);
    }

    #[test]
    fn a_future_that_panics_in_a_poll_gives_a_panicked_error() {
        let out = futures::executor::block_on(catch_unwind(async {
            std::future::ready(()).await;
            panic!("in a poll")
        }));
        assert_eq!(out.unwrap_err().message(), Some("in a poll"));
    }
}
