//! [`PromiseSet`] and [`JoinNext`]: a growing set of promises read in the order they
//! finish (tokio's `JoinSet`, for promises). It reads through the machinery of
//! [`as_completed`](super::as_completed) (`as_completed.rs`'s `Unordered`, on the
//! crate's one ready queue): each promise is polled once when pushed, then only when
//! its own waker says it settled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use super::as_completed::Unordered;
use crate::error::Error;
use crate::promise::Promise;

/// A set of promises that grows while it is read, yielding each outcome as its
/// promise finishes: tokio's `JoinSet`, for [`Promise`]s of any loop, thread or
/// executor.
///
/// - [`push`](PromiseSet::push) adds a promise, at any time, also between two reads
///   of a set being read: it is served like the others.
/// - [`join_next`](PromiseSet::join_next)`.await` gives `Some(outcome)` of the next
///   promise to finish (`Ok(value)`, or its `Err`: a failure or a cancellation does
///   not stop the set), and `None` once the set holds nothing. The set is also a
///   [`Stream`] of `Result<T, Error>` (ending while empty; a push starts it again).
/// - It is [`Extend`] and [`FromIterator`] over promises.
/// - Dropping the set **cancels every promise it still holds**, as dropping a
///   `JoinSet` aborts its tasks: a call queued behind one never runs, a task is
///   aborted at its next await, a clone of one reads
///   [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled).
///   [`cancel_all`](PromiseSet::cancel_all) does the same and keeps reading.
///
/// The cost is linear in the number of promises: each is polled when pushed and
/// again only when it settles, whatever the set holds (nothing is scanned). It runs on
/// any executor: a read is woken by the promise that settles, not by a loop.
///
/// # Examples
///
/// ```
/// use pulsar_async::{multi::PromiseSet, EventLoop};
/// use std::time::Duration;
///
/// let lp = EventLoop::new().unwrap();
/// let pause = |ms| async move { tokio::time::sleep(Duration::from_millis(ms)).await; ms };
/// let mut set: PromiseSet<u64> = [lp.spawn(pause(30)), lp.spawn(pause(1))].into_iter().collect();
/// # futures::executor::block_on(async {
/// assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
/// set.push(lp.spawn(pause(2))); // pushed while it is read: served too
/// assert_eq!(set.join_next().await.unwrap().unwrap(), 2);
/// assert_eq!(set.join_next().await.unwrap().unwrap(), 30);
/// assert!(set.join_next().await.is_none());
/// # });
/// ```
#[must_use = "a promise set does nothing unless read; dropping it cancels its promises"]
pub struct PromiseSet<T> {
    promises: Unordered<(), T>,
    /// The stream gave `None` and nothing was pushed since (`FusedStream`).
    terminated: bool,
}

impl<T> PromiseSet<T> {
    /// An empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = pulsar_async::multi::PromiseSet::<u8>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        PromiseSet {
            promises: Unordered::new(),
            terminated: false,
        }
    }

    /// Adds `promise` to the set; it is read with the others, whenever it settles
    /// (already settled: at the next read).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi::PromiseSet, Promise};
    /// let mut set = PromiseSet::new();
    /// set.push(Promise::resolved(1));
    /// set.push(Promise::new());
    /// assert_eq!(set.len(), 2);
    /// ```
    pub fn push(&mut self, promise: Promise<T>) {
        self.promises.push((), promise);
        self.terminated = false;
    }

    /// The number of promises the set holds: pushed and not yet read.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use pulsar_async::{multi::PromiseSet, Promise};
    /// let mut set = PromiseSet::from_iter([Promise::resolved(1), Promise::resolved(2)]);
    /// set.join_next().await;
    /// assert_eq!(set.len(), 1);
    /// # });
    /// ```
    pub fn len(&self) -> usize {
        self.promises.len()
    }

    /// `true` when the set holds no promise.
    ///
    /// # Examples
    ///
    /// ```
    /// let set: pulsar_async::multi::PromiseSet<u8> = std::iter::empty().collect();
    /// assert!(set.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.promises.len() == 0
    }

    /// A future of the outcome of the next promise to finish: `Some(Ok(value))` or
    /// `Some(Err(error))`, taking that promise out of the set; `None` when the set
    /// is empty (tokio's `JoinSet::join_next`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an outcome leaves the set only when the future returns it, so a
    /// `join_next()` dropped while pending (a losing `select!` branch, a timeout)
    /// loses nothing, and the next one gives it.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi::PromiseSet, Error, ErrorKind, Promise};
    /// # futures::executor::block_on(async {
    /// let mut set = PromiseSet::new();
    /// set.push(Promise::<u8>::failed(Error::from(ErrorKind::Timeout)));
    /// assert_eq!(set.join_next().await.unwrap().unwrap_err().kind(), ErrorKind::Timeout);
    /// assert!(set.join_next().await.is_none());
    /// # });
    /// ```
    pub fn join_next(&mut self) -> JoinNext<'_, T> {
        JoinNext { set: self }
    }

    /// Cancels every promise the set holds, as dropping it would, and keeps them:
    /// the next reads give their outcomes (`Cancelled` for those that had not
    /// settled). tokio's `JoinSet::abort_all`.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi::PromiseSet, ErrorKind, Promise};
    /// # futures::executor::block_on(async {
    /// let mut set = PromiseSet::from_iter([Promise::<u8>::new()]);
    /// set.cancel_all();
    /// assert_eq!(set.join_next().await.unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
    /// # });
    /// ```
    pub fn cancel_all(&self) {
        self.promises.cancel_all();
    }

    fn poll_join_next(&mut self, cx: &Context<'_>) -> Poll<Option<Result<T, Error>>> {
        match self.promises.poll_next(cx) {
            Poll::Ready(Some(((), outcome))) => Poll::Ready(Some(outcome)),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Default for PromiseSet<T> {
    fn default() -> Self {
        PromiseSet::new()
    }
}

impl<T> Extend<Promise<T>> for PromiseSet<T> {
    fn extend<I: IntoIterator<Item = Promise<T>>>(&mut self, promises: I) {
        for promise in promises {
            self.push(promise);
        }
    }
}

impl<T> FromIterator<Promise<T>> for PromiseSet<T> {
    fn from_iter<I: IntoIterator<Item = Promise<T>>>(promises: I) -> Self {
        let mut set = PromiseSet::new();
        set.extend(promises);
        set
    }
}

impl<T> Stream for PromiseSet<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let out = this.poll_join_next(cx);
        if let Poll::Ready(None) = out {
            this.terminated = true;
        }
        out
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<T> FusedStream for PromiseSet<T> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<T> fmt::Debug for PromiseSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseSet")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The future of [`PromiseSet::join_next`]: the outcome of the next promise of the
/// set to finish, or `None` when the set is empty.
///
/// # Cancel safety
///
/// Cancel safe: dropping it while pending takes nothing out of the set.
///
/// # Examples
///
/// ```
/// use pulsar_async::{multi::{JoinNext, PromiseSet}, Promise};
/// # futures::executor::block_on(async {
/// let mut set = PromiseSet::from_iter([Promise::resolved("done")]);
/// let next: JoinNext<'_, &str> = set.join_next();
/// assert_eq!(next.await.unwrap().unwrap(), "done");
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct JoinNext<'a, T> {
    set: &'a mut PromiseSet<T>,
}

impl<T> Future for JoinNext<'_, T> {
    type Output = Option<Result<T, Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().set.poll_join_next(cx)
    }
}

impl<T> fmt::Debug for JoinNext<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinNext").field(&self.set).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn promises_pushed_while_the_set_is_read_are_polled_once_when_pushed_and_once_when_settled() {
        let n = 1000;
        let mut set = PromiseSet::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut held = Vec::new();
        for i in 0..n {
            let p = Promise::new();
            held.push(p.clone());
            set.push(p);
            // A read between pushes polls only the new promise.
            assert!(set.poll_join_next(&cx).is_pending());
            assert_eq!(set.promises.polls(), i + 1);
        }
        for (i, p) in held.iter().enumerate().rev() {
            p.set_result(i).unwrap();
            let out = Pin::new(&mut set).poll_next(&mut cx);
            assert!(matches!(out, Poll::Ready(Some(Ok(v))) if v == i));
        }
        assert_eq!(set.promises.polls(), 2 * n, "nothing is scanned");
        assert!(Pin::new(&mut set).poll_next(&mut cx).is_ready());
    }
}
