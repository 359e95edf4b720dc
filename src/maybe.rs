//! [`MaybeAsync`] and [`maybe_async`]: a value that is either ready now or promised,
//! handled the same way either way.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, ErrorKind};
use crate::event_loop::{catch_panic, EventLoop};
use crate::promise::{Completer, Promise};

/// Either a value that is ready now or a [`Promise`] of one.
///
/// A ready value costs no allocation and no task. Both kinds can be awaited (giving
/// `Result<T, Error>`), and [`into_ready`](MaybeAsync::into_ready) takes the value now
/// when there is one.
///
/// # Examples
///
/// ```
/// use pulsar_async::{MaybeAsync, Promise};
///
/// # futures::executor::block_on(async {
/// let now = MaybeAsync::ready(1);
/// assert!(now.is_ready());
///
/// let p = Promise::new();
/// let later = MaybeAsync::from(p.clone());
/// p.set_result(2).unwrap();
/// assert_eq!(now.await.unwrap() + later.await.unwrap(), 3);
/// # });
/// ```
pub struct MaybeAsync<T> {
    state: State<T>,
}

enum State<T> {
    Ready(Result<T, Error>),
    Pending(Promise<T>),
    Taken,
}

impl<T> MaybeAsync<T> {
    /// A ready value.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = pulsar_async::MaybeAsync::ready("now");
    /// assert_eq!(m.into_ready().ok().unwrap().unwrap(), "now");
    /// ```
    pub fn ready(value: T) -> Self {
        MaybeAsync {
            state: State::Ready(Ok(value)),
        }
    }

    /// A ready failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind, MaybeAsync};
    /// let m = MaybeAsync::<u8>::failed(Error::from(ErrorKind::Timeout));
    /// assert_eq!(m.into_ready().ok().unwrap().unwrap_err().kind(), ErrorKind::Timeout);
    /// ```
    pub fn failed(error: Error) -> Self {
        MaybeAsync {
            state: State::Ready(Err(error)),
        }
    }

    /// `true` when the outcome is available now: a ready value, or a promise that is
    /// already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{MaybeAsync, Promise};
    /// assert!(MaybeAsync::ready(1).is_ready());
    /// assert!(!MaybeAsync::from(Promise::<u8>::new()).is_ready());
    /// assert!(MaybeAsync::from(Promise::resolved(1)).is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        match &self.state {
            State::Ready(_) => true,
            State::Pending(p) => p.is_done(),
            State::Taken => false,
        }
    }

    /// The outcome now if there is one; the `MaybeAsync` back otherwise.
    ///
    /// A done promise gives its outcome when this holds its only handle (the value is
    /// moved, not cloned); use [`into_promise`](MaybeAsync::into_promise) to read a
    /// shared one.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{MaybeAsync, Promise};
    /// let pending = MaybeAsync::from(Promise::<u8>::new());
    /// let pending = pending.into_ready().unwrap_err();
    /// assert!(!pending.is_ready());
    /// ```
    #[inline]
    pub fn into_ready(self) -> Result<Result<T, Error>, Self> {
        match self.state {
            State::Ready(outcome) => Ok(outcome),
            State::Pending(mut p) => match p.take_if_unique() {
                Some(outcome) => Ok(outcome),
                None => Err(MaybeAsync::from(p)),
            },
            State::Taken => Err(MaybeAsync {
                state: State::Taken,
            }),
        }
    }

    /// The loop of the promise behind this value, if any.
    pub(crate) fn scheduler(&self) -> Option<crate::promise::Scheduler> {
        match &self.state {
            State::Pending(p) => p.scheduler(),
            _ => None,
        }
    }

    /// The promise behind this value (a settled one for a ready value).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::MaybeAsync::ready(4).into_promise();
    /// assert_eq!(p.try_result().unwrap(), 4);
    /// ```
    pub fn into_promise(self) -> Promise<T> {
        match self.state {
            State::Ready(outcome) => Promise::settled(outcome),
            State::Pending(p) => p,
            State::Taken => Promise::failed(taken()),
        }
    }
}

fn taken() -> Error {
    Error::new(ErrorKind::InvalidState, "the value was already taken")
}

impl<T> From<Promise<T>> for MaybeAsync<T> {
    fn from(promise: Promise<T>) -> Self {
        MaybeAsync {
            state: State::Pending(promise),
        }
    }
}

impl<T> From<Result<T, Error>> for MaybeAsync<T> {
    fn from(outcome: Result<T, Error>) -> Self {
        MaybeAsync {
            state: State::Ready(outcome),
        }
    }
}

// The value is never pinned: it is moved out whole when the future completes.
impl<T> Unpin for MaybeAsync<T> {}

impl<T: Clone> Future for MaybeAsync<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Pending(p) => Pin::new(p).poll(cx),
            State::Ready(_) => match std::mem::replace(&mut this.state, State::Taken) {
                State::Ready(outcome) => Poll::Ready(outcome),
                _ => Poll::Ready(Err(taken())),
            },
            State::Taken => Poll::Ready(Err(taken())),
        }
    }
}

impl<T> fmt::Debug for MaybeAsync<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Ready(Ok(_)) => f.write_str("MaybeAsync::Ready(..)"),
            State::Ready(Err(e)) => write!(f, "MaybeAsync::Failed({e})"),
            State::Pending(p) => write!(f, "MaybeAsync::Pending({p:?})"),
            State::Taken => f.write_str("MaybeAsync::Taken"),
        }
    }
}

/// Handles a possibly asynchronous value: polls `future` once, now. If it is ready,
/// its output comes back as a ready [`MaybeAsync`] with no task (the future is boxed
/// once, so that a pending one can move on to a task);
/// otherwise the rest of it runs as a task, on the current [`EventLoop`] when this
/// thread has one, else on the current tokio runtime, and a promise of it comes back.
///
/// A panic in the future becomes the error of the outcome. With no loop and no
/// runtime to finish a pending future, the outcome is an
/// [`ErrorKind::WrongThread`] error.
///
/// # Examples
///
/// ```
/// use pulsar_async::maybe_async;
///
/// let ready = maybe_async(async { 40 + 2 });
/// assert!(ready.is_ready()); // no task was spawned
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let later = maybe_async(async {
///     tokio::task::yield_now().await;
///     "after a yield"
/// });
/// assert!(!later.is_ready());
/// assert_eq!(later.await.unwrap(), "after a yield");
/// # });
/// ```
pub fn maybe_async<F>(future: F) -> MaybeAsync<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + Sync + 'static,
{
    maybe_async_with(future, EventLoop::current().as_ref())
}

/// Like [`maybe_async`], finishing a pending future on `lp`.
///
/// # Examples
///
/// ```
/// use pulsar_async::{maybe_async_in, EventLoop};
/// let lp = EventLoop::new().unwrap();
/// let m = maybe_async_in(&lp, async {
///     tokio::task::yield_now().await;
///     1
/// });
/// assert_eq!(m.into_promise().wait().unwrap(), 1);
/// ```
pub fn maybe_async_in<F>(lp: &EventLoop, future: F) -> MaybeAsync<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + Sync + 'static,
{
    maybe_async_with(future, Some(lp))
}

fn maybe_async_with<F>(future: F, lp: Option<&EventLoop>) -> MaybeAsync<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + Sync + 'static,
{
    // Boxed once, so that a pending future can move on to a task after this poll.
    let mut future = Box::pin(catch_panic(future));
    let mut cx = Context::from_waker(Waker::noop());
    // Outside tokio's cooperative budget: a resource that is ready must not look
    // pending because the calling task has used up its budget.
    let mut first_poll = tokio::task::unconstrained(&mut future);
    if let Poll::Ready(outcome) = Pin::new(&mut first_poll).poll(&mut cx) {
        return MaybeAsync::from(outcome);
    }
    match lp {
        Some(lp) => MaybeAsync::from(lp.spawn_settling(std::any::type_name::<F>(), move || future)),
        None => match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let promise = Promise::new();
                let completer = Completer::new(promise.clone());
                let task = runtime.spawn(async move { completer.complete(future.await) });
                let abort = task.abort_handle();
                promise.on_cancel(Box::new(move || abort.abort()));
                MaybeAsync::from(promise)
            }
            Err(_) => MaybeAsync::failed(Error::new(
                ErrorKind::WrongThread,
                "maybe_async: the future is pending and this thread has no loop or runtime to finish it",
            )),
        },
    }
}
