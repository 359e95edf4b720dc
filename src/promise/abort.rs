//! [`AbortOnDrop`]: a promise that cancels its work when it is dropped before it is
//! done (tokio-util's `AbortOnDropHandle`), made by [`Promise::abort_on_drop`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Promise;
use crate::error::Error;

/// A future of a [`Promise`]'s outcome that **cancels the promise when it is dropped
/// before it completes**, made by [`Promise::abort_on_drop`]; tokio-util's
/// `AbortOnDropHandle` for promises.
///
/// Dropping an awaited `Promise` never cancels its work: the call or task behind it
/// runs to its end, whoever waits. Wrap the promise in an `AbortOnDrop` where the
/// awaiter going away means the work is no longer wanted (a branch of
/// `tokio::select!` that lost, a `tokio::time::timeout` that expired, a task that was
/// aborted): its drop cancels the promise, as [`Promise::cancel`] does, so
///
/// - a call queued on a loop ([`run_in_loop`](crate::run_in_loop),
///   [`call_soon_threadsafe`](crate::EventLoop::call_soon_threadsafe), ...) that has
///   not started never runs;
/// - a task ([`EventLoop::spawn`](crate::EventLoop::spawn),
///   [`run_in_loop_async`](crate::run_in_loop_async), ...) is aborted at its next
///   await;
/// - every clone of the promise reads [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled).
///
/// Once the future has completed (it gave the outcome), or when the promise was
/// already settled, the drop changes nothing. The output is the promise's own,
/// `Result<T, Error>`, read as awaiting the promise reads it (moved out by the last
/// reader, cloned while other readers exist).
///
/// # Cancel safety
///
/// Not cancel safe, by design: dropping it before it completes cancels the promise,
/// and the outcome is lost to this handle (clones of the promise read
/// `Cancelled`). Poll it through `&mut` (as in `tokio::select! { r = &mut handle => .. }`)
/// to keep it alive across branches; it is [`Unpin`].
///
/// # Examples
///
/// ```
/// use pulsar_async::{ErrorKind, EventLoop};
/// use std::time::Duration;
///
/// let lp = EventLoop::new().unwrap();
/// let work = lp.spawn(async {
///     tokio::time::sleep(Duration::from_secs(3600)).await;
///     "never"
/// });
/// let watcher = work.clone();
/// // The awaiter gives up after 10 ms; dropping the handle aborts the task.
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let out = rt.block_on(async {
///     tokio::time::timeout(Duration::from_millis(10), work.abort_on_drop()).await
/// });
/// assert!(out.is_err());
/// assert_eq!(watcher.wait().unwrap_err().kind(), ErrorKind::Cancelled);
///
/// // One that completes gives its value.
/// let done = lp.spawn(async { 7 }).abort_on_drop();
/// assert_eq!(rt.block_on(done).unwrap(), 7);
/// ```
#[must_use = "futures do nothing unless awaited; dropping it cancels the promise"]
pub struct AbortOnDrop<T> {
    /// `None` only once detached.
    promise: Option<Promise<T>>,
    /// The outcome was given out: the drop leaves the promise alone.
    finished: bool,
}

impl<T> AbortOnDrop<T> {
    pub(super) fn new(promise: Promise<T>) -> Self {
        AbortOnDrop {
            promise: Some(promise),
            finished: false,
        }
    }

    /// `true` once the promise is settled (a value, an error or cancelled): the drop
    /// then cancels nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// let handle = p.clone().abort_on_drop();
    /// assert!(!handle.is_done());
    /// p.set_result(1).unwrap();
    /// assert!(handle.is_done());
    /// drop(handle);
    /// assert_eq!(p.try_result().unwrap(), 1);
    /// ```
    pub fn is_done(&self) -> bool {
        self.promise.as_ref().is_none_or(Promise::is_done)
    }

    /// Cancels the promise now, as dropping the handle would; `true` if this call
    /// cancelled it (`false` when it was already settled). Awaiting the handle then
    /// gives [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, Promise};
    /// let handle = Promise::<u8>::new().abort_on_drop();
    /// assert!(handle.abort());
    /// let out = futures::executor::block_on(handle);
    /// assert_eq!(out.unwrap_err().kind(), ErrorKind::Cancelled);
    /// ```
    pub fn abort(&self) -> bool {
        self.promise.as_ref().is_some_and(Promise::cancel)
    }

    /// The promise back, without cancelling it: from now on dropping it leaves the
    /// work running (tokio-util's `detach`).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = pulsar_async::Promise::<u8>::new().abort_on_drop();
    /// let p = handle.detach();
    /// assert!(!p.is_cancelled());
    /// ```
    pub fn detach(mut self) -> Promise<T> {
        match self.promise.take() {
            Some(promise) => promise,
            None => Promise::settled(Err(detached())),
        }
    }
}

/// What a handle without its promise gives (none is reachable: only `detach`, which
/// consumes the handle, takes the promise out).
fn detached() -> Error {
    Error::new(
        crate::error::ErrorKind::InvalidState,
        "the handle was detached",
    )
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(promise) = this.promise.as_mut() else {
            return Poll::Ready(Err(detached()));
        };
        let out = Pin::new(promise).poll(cx);
        if out.is_ready() {
            this.finished = true;
        }
        out
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let (Some(promise), false) = (&self.promise, self.finished) {
            promise.cancel();
        }
    }
}

impl<T> fmt::Debug for AbortOnDrop<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortOnDrop")
            .field("promise", &self.promise)
            .field("finished", &self.finished)
            .finish()
    }
}
