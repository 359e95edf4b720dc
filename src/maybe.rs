//! [`MaybeAsync`]: a value that is either ready now or promised, handled the same way
//! either way; and [`IntoMaybeAsync`], what converts into one (a `Result`, a
//! [`Promise`], a [`MaybeAsync`]).
//!
//! [`maybe_async`](crate::maybe_async), which makes one from any future, spawns on a
//! loop and lives with [`run_in_loop`](crate::run_in_loop).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, ErrorKind};
use crate::promise::{Completer, Promise, Recycled};
use crate::schedule::Scheduler;

/// Either a value that is ready now or a [`Promise`] of one.
///
/// A ready value costs no allocation and no task. Both kinds can be awaited (giving
/// `Result<T, Error>`), and [`into_ready`](MaybeAsync::into_ready) takes the value now
/// when there is one.
///
/// # Cancel safety
///
/// Awaiting a `MaybeAsync` is cancel safe: dropping the future before it completes
/// drops what it holds, a ready value or a handle of the promise (the promise is not
/// cancelled, and other clones still read its outcome).
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
    /// A done promise gives its outcome: moved out when this holds its last reading
    /// handle, cloned while other clones of the promise live.
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
            State::Pending(p) => p.try_consume().map_err(MaybeAsync::from),
            State::Taken => Err(MaybeAsync {
                state: State::Taken,
            }),
        }
    }

    /// As [`into_ready`](MaybeAsync::into_ready), also giving the allocation of a done
    /// promise that this held the only handle of, for a chain to reuse.
    #[inline]
    pub(crate) fn into_ready_recycling(self) -> Result<(Result<T, Error>, Option<Recycled>), Self> {
        match self.state {
            State::Pending(p) => match p.try_recycle() {
                Ok((value, recycled)) => Ok((Ok(value), Some(recycled))),
                Err(p) => MaybeAsync::from(p)
                    .into_ready()
                    .map(|outcome| (outcome, None)),
            },
            state => MaybeAsync { state }
                .into_ready()
                .map(|outcome| (outcome, None)),
        }
    }

    /// The loop of the promise behind this value, if any.
    pub(crate) fn scheduler(&self) -> Option<Scheduler> {
        match &self.state {
            State::Pending(p) => p.scheduler().cloned(),
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

impl<T, E> MaybeAsync<Result<T, E>>
where
    T: Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync + 'static>> + Send + 'static,
{
    /// The `Ok` value, with an `Err` failing the outcome with that error
    /// ([`Error::user`]: kind [`User`](ErrorKind::User), the error reachable with
    /// [`Error::downcast_ref`]; an [`Error`] of this crate keeps its kind): the crate's
    /// [one rule for `Result`](crate#one-rule-for-result), for a fallible future handed
    /// to [`maybe_async`](crate::maybe_async) or
    /// [`maybe_async_in`](crate::maybe_async_in), or any promise of a `Result`. So a
    /// gather of fallible futures fails at the first `Err`, naming its key.
    ///
    /// A ready value is flattened at once; a pending one through a promise that
    /// settles when it does (cancelling that promise cancels the one it reads).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{maybe_async, multi::KeyedError, multi_async, ErrorKind};
    ///
    /// let ok = maybe_async(async { "42".parse::<u32>() }).flatten_result();
    /// assert_eq!(ok.into_ready().unwrap().unwrap(), 42); // ready: no task
    ///
    /// let parsed = multi_async(vec![
    ///     maybe_async(async { "1".parse::<u32>() }).flatten_result(),
    ///     maybe_async(async { "x".parse::<u32>() }).flatten_result(),
    /// ]);
    /// let err = parsed.try_result().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::User);
    /// let failed = err.downcast_ref::<KeyedError<usize>>().unwrap();
    /// assert_eq!(*failed.key(), 1);
    /// assert!(failed.error().downcast_ref::<std::num::ParseIntError>().is_some());
    /// ```
    #[doc(alias = "try_maybe_async")]
    pub fn flatten_result(self) -> MaybeAsync<T> {
        match self.into_ready() {
            Ok(outcome) => MaybeAsync::from(outcome.and_then(|r| r.map_err(Error::user))),
            Err(pending) => {
                let promise = pending.into_promise();
                let next = Promise::with_scheduler(promise.scheduler().cloned());
                let completer = Completer::new(next.setter());
                let input = promise.setter();
                next.on_cancel(Box::new(move || {
                    input.cancel();
                }));
                promise.consume(move |outcome| {
                    completer.complete(outcome.and_then(|r| r.map_err(Error::user)));
                });
                MaybeAsync::from(next)
            }
        }
    }
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

impl<T> Future for MaybeAsync<T> {
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

/// What a chain callback may return, and what a gather takes: a `Result` (a value now, or an error), or a
/// [`Promise`] / [`MaybeAsync`] of a later value, which is chained in (flattened)
/// instead of becoming the value.
///
/// # Examples
///
/// ```
/// use pulsar_async::{maybe::IntoMaybeAsync, Error, Promise};
/// assert!(Ok::<_, Error>(1).into_maybe_async().is_ready());
/// assert!(!Promise::<u8>::new().into_maybe_async().is_ready());
/// ```
pub trait IntoMaybeAsync {
    /// The value that is, or will be, produced.
    type Output;

    /// Converts into a [`MaybeAsync`].
    fn into_maybe_async(self) -> MaybeAsync<Self::Output>;

    /// `true` when the outcome is there now (a `Result`, a done promise). Gathers use
    /// it to take a one-pass path when every input is ready; the default, `false`,
    /// is always correct.
    fn is_ready(&self) -> bool {
        false
    }

    /// `true` when a value (not an error) is there now and
    /// [`into_outcome`](IntoMaybeAsync::into_outcome) gives it: an `Ok` `Result`, a
    /// ready `MaybeAsync` of a value. A gather whose inputs all say so builds its
    /// output as a plain collect. The default, `false`, is always correct; an
    /// implementation that says `true` and then gives no value fails the gather with
    /// [`ErrorKind::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{maybe::IntoMaybeAsync, Error, ErrorKind};
    /// assert!(Ok::<u8, Error>(1).is_value());
    /// assert!(!Err::<u8, Error>(Error::from(ErrorKind::Timeout)).is_value());
    /// ```
    fn is_value(&self) -> bool {
        false
    }

    /// The outcome now if there is one, else the [`MaybeAsync`] to wait on: what
    /// `into_maybe_async().into_ready()` gives, without building a `MaybeAsync` for
    /// an outcome that is already here (a gather of plain values is then a
    /// conversion and a collect).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{maybe::IntoMaybeAsync, Error, Promise};
    /// assert_eq!(Ok::<_, Error>(1).into_outcome().ok().unwrap().unwrap(), 1);
    /// assert!(Promise::<u8>::new().into_outcome().is_err());
    /// ```
    #[inline]
    fn into_outcome(self) -> Result<Result<Self::Output, Error>, MaybeAsync<Self::Output>>
    where
        Self: Sized,
    {
        self.into_maybe_async().into_ready()
    }
}

impl<U> IntoMaybeAsync for Result<U, Error> {
    type Output = U;
    #[inline]
    fn into_maybe_async(self) -> MaybeAsync<U> {
        MaybeAsync::from(self)
    }
    #[inline]
    fn is_ready(&self) -> bool {
        true
    }
    #[inline]
    fn is_value(&self) -> bool {
        self.is_ok()
    }
    #[inline]
    fn into_outcome(self) -> Result<Result<U, Error>, MaybeAsync<U>> {
        Ok(self)
    }
}

impl<U> IntoMaybeAsync for Promise<U> {
    type Output = U;
    #[inline]
    fn into_maybe_async(self) -> MaybeAsync<U> {
        MaybeAsync::from(self)
    }
    fn is_ready(&self) -> bool {
        self.is_done()
    }
}

impl<U> IntoMaybeAsync for MaybeAsync<U> {
    type Output = U;
    #[inline]
    fn into_maybe_async(self) -> MaybeAsync<U> {
        self
    }
    fn is_ready(&self) -> bool {
        MaybeAsync::is_ready(self)
    }
    fn is_value(&self) -> bool {
        matches!(self.state, State::Ready(Ok(_)))
    }
}
