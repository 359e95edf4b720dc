//! [`chain_future`]: run a callback or an errback on a promise's outcome and settle a
//! next promise with what it returns, flattening returned promises; [`Chain`], the
//! chain being configured, whose states [`Fresh`] and [`Configured`] make the
//! callback come first; [`Passthrough`] and [`Propagate`], the defaults.

use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::maybe::{IntoMaybeAsync, MaybeAsync};
use crate::panic;
use crate::promise::{Completer, Promise};
use crate::time::deadline_after;

/// The callback of a chain that has none: the source's value passes through.
///
/// # Examples
///
/// ```
/// let pass: pulsar_async::chain::Passthrough<u8> = Ok;
/// assert_eq!(pass(1).unwrap(), 1);
/// ```
pub type Passthrough<T> = fn(T) -> Result<T, Error>;

/// The errback of a chain that has none: the source's error passes through.
///
/// # Examples
///
/// ```
/// use pulsar_async::ErrorKind;
/// let propagate: pulsar_async::chain::Propagate<u8> = Err;
/// assert_eq!(propagate(ErrorKind::Timeout.into()).unwrap_err().kind(), ErrorKind::Timeout);
/// ```
pub type Propagate<U> = fn(Error) -> Result<U, Error>;

/// Chains a next promise to `source` (a [`Promise`] or a [`MaybeAsync`]; use
/// [`maybe_async`](crate::maybe_async) for any other future).
///
/// The returned [`Chain`] is configured with [`callback`](Chain::callback) (first,
/// since it decides the output type), then [`errback`](Chain::errback),
/// [`next`](Chain::next) and [`timeout`](Chain::timeout), and started with
/// [`start`](Chain::start) (or by awaiting it). When `source` finishes:
/// - on success, next gets `callback(value)`, or the value itself without a callback;
/// - on failure (cancellation included), next gets `errback(error)`, which may recover
///   with `Ok`, or the same error without an errback;
/// - if the callback or errback panics or returns `Err`, next gets that error;
/// - if it returns a promise, that promise is chained into next (flattened, to any
///   depth, in constant stack) instead of becoming the value.
///
/// Next is, unless given, a new promise on the source's loop. The callback runs on
/// the source's loop when it has one; otherwise on the thread that settles the source
/// (through that thread's work list, so a chain of any length settles in constant
/// stack), or at once when the source is already done.
///
/// The source is consumed as a reading handle: its value is moved into the callback
/// when the chain holds its last reader, and cloned while other clones of it live, so
/// neither `T` nor the output needs `Clone` or `Sync`. If every handle of a pending
/// source is dropped before it settles, next fails with
/// [`ErrorKind::InvalidState`] instead of staying pending for ever.
///
/// **Cancellation goes one way.** Cancelling next (or its timing out) does not cancel
/// the source: the source may have other readers, which must still get its outcome.
/// (asyncio's `_chain_future` does cancel the source; here, cancel it yourself when
/// the chain is its only use.) The callback is then skipped. Cancelling the source
/// runs the errback with the cancellation error, so next is cancelled too unless the
/// errback recovers.
///
/// # Examples
///
/// ```
/// use pulsar_async::{chain_future, Error, Promise};
///
/// # futures::executor::block_on(async {
/// let source = Promise::new();
/// let next = chain_future(source.clone())
///     .callback(|v: u32| Ok(v * 2))
///     .errback(|_e: Error| Ok(0))
///     .start();
/// source.set_result(21).unwrap();
/// assert_eq!(next.await.unwrap(), 42);
///
/// // An errback recovers the chain.
/// let failing = Promise::<u32>::new();
/// let recovered = chain_future(failing.clone()).errback(|_| Ok(7)).start();
/// failing.cancel();
/// assert_eq!(recovered.await.unwrap(), 7);
///
/// // Cancelling next leaves the source alone.
/// let source = Promise::<u32>::new();
/// let next = chain_future(source.clone()).start();
/// assert!(next.cancel());
/// assert!(!source.is_done());
/// # });
/// ```
#[inline]
pub fn chain_future<T>(
    source: impl Into<MaybeAsync<T>>,
) -> Chain<T, T, Passthrough<T>, Propagate<T>, Fresh> {
    Chain {
        source: source.into(),
        callback: Ok,
        errback: Err,
        next: None,
        timeout: None,
        _types: PhantomData,
    }
}

/// A chain being configured; see [`chain_future`].
///
/// `T` is the source's value, `U` the output's, `C` and `E` the callback and errback,
/// `S` the state of the configuration: [`Fresh`] until a callback, errback or next
/// is set, [`Configured`] after. The callback can only be set on a fresh chain, since
/// it decides the output type that the errback and next must share: setting it after
/// them, or twice, does not compile, instead of silently dropping what was set.
///
/// # Cancel safety
///
/// A chain is started by [`start`](Chain::start) or by `.await` (its
/// [`IntoFuture`] is the next [`Promise`]), so awaiting it is as cancel safe as
/// awaiting a promise: dropping the future before it completes leaves the chain
/// running, and its next promise is not cancelled.
///
/// # Examples
///
/// ```
/// use pulsar_async::{chain_future, Promise};
/// let source = Promise::resolved(2);
/// let chain = chain_future(source).callback(|v: i32| Ok(v + 1));
/// assert_eq!(chain.start().try_result().unwrap(), 3);
/// ```
///
/// The callback comes first:
///
/// ```compile_fail
/// use pulsar_async::{chain_future, Error, Promise};
/// let chain = chain_future(Promise::resolved(2))
///     .errback(|_: Error| Ok(0))
///     .callback(|v: i32| Ok(v + 1)); // error: no `callback` on a configured chain
/// ```
#[must_use = "a chain does nothing until it is started or awaited"]
pub struct Chain<T, U, C, E, S = Configured> {
    source: MaybeAsync<T>,
    callback: C,
    errback: E,
    next: Option<Promise<U>>,
    timeout: Option<Duration>,
    _types: PhantomData<fn(T, S) -> U>,
}

/// Shows the chain's setup (its timeout, whether a next promise is set), not its
/// callbacks, which are closures.
impl<T, U, C, E, S> fmt::Debug for Chain<T, U, C, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("timeout", &self.timeout)
            .field("next", &self.next.is_some())
            .finish_non_exhaustive()
    }
}

/// The state of a [`Chain`] with nothing set yet but maybe a timeout: its callback
/// may still be set.
///
/// # Examples
///
/// ```
/// use pulsar_async::chain::{Chain, Fresh, Passthrough, Propagate};
/// use pulsar_async::{chain_future, Promise};
/// let fresh: Chain<u8, u8, Passthrough<u8>, Propagate<u8>, Fresh> =
///     chain_future(Promise::resolved(1));
/// assert_eq!(fresh.callback(|v: u8| Ok(v * 2)).start().try_result().unwrap(), 2);
/// ```
#[derive(Debug)]
pub enum Fresh {}

/// The state of a [`Chain`] whose callback, errback or next is set: its output type
/// is fixed, so no callback can be set any more.
///
/// # Examples
///
/// ```
/// use pulsar_async::chain::{Chain, Configured, Passthrough, Propagate};
/// use pulsar_async::{chain_future, Promise};
/// let next = Promise::new();
/// let chain: Chain<u8, u8, Passthrough<u8>, Propagate<u8>, Configured> =
///     chain_future(Promise::resolved(1)).next(next.clone());
/// chain.start();
/// assert_eq!(next.try_result().unwrap(), 1);
/// ```
#[derive(Debug)]
pub enum Configured {}

impl<T> Chain<T, T, Passthrough<T>, Propagate<T>, Fresh> {
    /// Sets the callback run on the source's value. It decides the chain's output
    /// type, so it comes before [`errback`](Chain::errback) and [`next`](Chain::next)
    /// (the other order does not compile).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{chain_future, Promise};
    /// let p = chain_future(Promise::resolved("7")).callback(|s: &str| Ok(s.len())).start();
    /// assert_eq!(p.try_result().unwrap(), 1);
    /// ```
    #[inline]
    pub fn callback<C2, R>(
        self,
        callback: C2,
    ) -> Chain<T, R::Output, C2, Propagate<R::Output>, Configured>
    where
        C2: FnOnce(T) -> R,
        R: IntoMaybeAsync,
    {
        Chain {
            source: self.source,
            callback,
            errback: Err,
            next: None,
            timeout: self.timeout,
            _types: PhantomData,
        }
    }
}

impl<T, U, C, E, S> Chain<T, U, C, E, S> {
    /// Sets the errback run on the source's error (cancellation included). Returning
    /// `Ok` recovers the chain.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{chain_future, Error, ErrorKind, Promise};
    /// let failed = Promise::<u8>::failed(Error::from(ErrorKind::Timeout));
    /// let p = chain_future(failed)
    ///     .errback(|e: Error| if e.kind() == ErrorKind::Timeout { Ok(0) } else { Err(e) })
    ///     .start();
    /// assert_eq!(p.try_result().unwrap(), 0);
    /// ```
    #[inline]
    pub fn errback<E2, R>(self, errback: E2) -> Chain<T, U, C, E2, Configured>
    where
        E2: FnOnce(Error) -> R,
        R: IntoMaybeAsync<Output = U>,
    {
        Chain {
            source: self.source,
            callback: self.callback,
            errback,
            next: self.next,
            timeout: self.timeout,
            _types: PhantomData,
        }
    }

    /// The promise to settle, instead of a new one.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{chain_future, Promise};
    /// let mine = Promise::new();
    /// let same = chain_future(Promise::resolved(1)).next(mine.clone()).start();
    /// assert_eq!(mine.try_result().unwrap(), 1);
    /// assert_eq!(same.try_result().unwrap(), 1);
    /// ```
    #[inline]
    pub fn next(self, next: Promise<U>) -> Chain<T, U, C, E, Configured> {
        Chain {
            source: self.source,
            callback: self.callback,
            errback: self.errback,
            next: Some(next),
            timeout: self.timeout,
            _types: PhantomData,
        }
    }

    /// Fails next with [`ErrorKind::Timeout`] if it is not done within `timeout` of the
    /// start. The timer runs on the tokio runtime of the thread that starts the chain
    /// (every loop thread has one); with no runtime there, next fails at once with
    /// [`ErrorKind::InvalidState`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{chain_future, ErrorKind, Promise};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let never = Promise::<u8>::new();
    /// let next = chain_future(never.clone()).timeout(Duration::from_secs(5)).start();
    /// assert_eq!(next.await.unwrap_err().kind(), ErrorKind::Timeout);
    /// # });
    /// ```
    #[inline]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<T, U, C, E, S> Chain<T, U, C, E, S>
where
    T: Send + 'static,
    U: Send + 'static,
    C: Step<T, U>,
    E: Step<Error, U>,
{
    /// Starts the chain and returns next.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{chain_future, Promise};
    /// let next = chain_future(Promise::resolved(1)).callback(|v: u8| Ok(v + 1)).start();
    /// assert_eq!(next.try_result().unwrap(), 2);
    /// ```
    pub fn start(self) -> Promise<U> {
        let Chain {
            source,
            callback,
            errback,
            next,
            timeout,
            _types,
        } = self;
        let scheduler = source.scheduler();
        let next = match next {
            Some(next) => next,
            // A new next on a ready source with no timeout: when the callback gives a
            // ready outcome too, next is born done with it (in the source's own
            // allocation, when the chain held the source's only handle).
            None if timeout.is_none() => match source.into_ready_recycling() {
                Ok((outcome, recycled)) => {
                    return match (run_step(outcome, callback, errback).into_ready(), recycled) {
                        (Ok(outcome), Some(recycled)) => {
                            Promise::settled_recycling(outcome, recycled)
                        }
                        (Ok(outcome), None) => Promise::settled_in(outcome, scheduler),
                        (Err(later), _) => {
                            let next = Promise::with_scheduler(scheduler);
                            forward(later, completer(&next));
                            next
                        }
                    };
                }
                Err(pending) => {
                    let next = Promise::with_scheduler(scheduler);
                    chain_pending(pending, callback, errback, completer(&next));
                    return next;
                }
            },
            None => Promise::with_scheduler(scheduler),
        };
        let done = completer(&next);
        if let Some(timeout) = timeout {
            arm_timeout(&done, timeout);
        }
        match source.into_ready() {
            Ok(outcome) => take_step(outcome, callback, errback, done),
            Err(pending) => chain_pending(pending, callback, errback, done),
        }
        next
    }
}

impl<T, U, C, E, S> IntoFuture for Chain<T, U, C, E, S>
where
    T: Send + 'static,
    U: Send + 'static,
    C: Step<T, U>,
    E: Step<Error, U>,
{
    type Output = Result<U, Error>;
    type IntoFuture = Promise<U>;

    fn into_future(self) -> Promise<U> {
        self.start()
    }
}

/// A chain's callback or errback, as [`Chain::start`] and its `IntoFuture` take it:
/// any `FnOnce(In) -> R + Send + 'static` whose `R` is a value or a promise of `U`
/// ([`IntoMaybeAsync`]). Implemented for every such closure and for nothing else (it
/// is sealed), so it only names the bound once.
///
/// # Examples
///
/// ```
/// use pulsar_async::chain::Step;
/// use pulsar_async::Error;
/// fn takes<S: Step<u8, u16>>(_: S) {}
/// takes(|v: u8| Ok::<u16, Error>(u16::from(v) * 300));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a chain step for `{In}` -> `{U}`",
    label = "a chain step must be `FnOnce({In}) -> R + Send + 'static`",
    note = "`R` is a `Result<{U}, Error>` or a promise of `{U}`; a step that captures a non-`Send` value or a borrow is refused"
)]
pub trait Step<In, U>: sealed::Sealed<In, U> + Send + 'static {
    /// Runs the step on `input`.
    #[doc(hidden)]
    fn run(self, input: In) -> MaybeAsync<U>;
}

impl<In, U, F, R> Step<In, U> for F
where
    F: FnOnce(In) -> R + Send + 'static,
    R: IntoMaybeAsync<Output = U>,
{
    #[inline]
    fn run(self, input: In) -> MaybeAsync<U> {
        self(input).into_maybe_async()
    }
}

mod sealed {
    /// Only closures are chain steps.
    pub trait Sealed<In, U> {}

    impl<In, U, F, R> Sealed<In, U> for F
    where
        F: FnOnce(In) -> R,
        R: crate::maybe::IntoMaybeAsync<Output = U>,
    {
    }
}

/// What settles next: if it is dropped before (the promise a chain waited on was
/// dropped unsettled), next fails instead of hanging.
fn completer<U>(next: &Promise<U>) -> Completer<U> {
    Completer::with_drop_error(next.setter(), dropped)
}

fn dropped() -> Error {
    Error::new(
        ErrorKind::InvalidState,
        "chain_future: the promise it waited on was dropped before it settled",
    )
}

/// Settles `done` from `pending` once it is done: the source's promise is consumed as
/// a reading handle (its value moved into the callback when this is its last reader,
/// cloned otherwise).
fn chain_pending<T, U, C, E>(pending: MaybeAsync<T>, callback: C, errback: E, done: Completer<U>)
where
    T: Send + 'static,
    U: Send + 'static,
    C: Step<T, U>,
    E: Step<Error, U>,
{
    pending
        .into_promise()
        .consume(move |outcome| take_step(outcome, callback, errback, done));
}

/// Runs the callback or errback on `outcome` and settles `done` with what it gives,
/// chaining a returned promise in. Skipped when next is already done (cancelled, or
/// timed out).
fn take_step<T, U, C, E>(outcome: Result<T, Error>, callback: C, errback: E, done: Completer<U>)
where
    U: Send + 'static,
    C: Step<T, U>,
    E: Step<Error, U>,
{
    if done.is_done() {
        return;
    }
    forward(run_step(outcome, callback, errback), done);
}

/// Runs the callback on a value or the errback on an error; a panic becomes the
/// step's error.
#[inline]
fn run_step<T, U, C, E>(outcome: Result<T, Error>, callback: C, errback: E) -> MaybeAsync<U>
where
    C: Step<T, U>,
    E: Step<Error, U>,
{
    panic::catch(|| match outcome {
        Ok(value) => callback.run(value),
        Err(error) => errback.run(error),
    })
    .unwrap_or_else(MaybeAsync::failed)
}

/// Settles `done` with `step`, now if it is ready, else when it is: a returned promise
/// is consumed into next (flattening, to any depth, without a stack frame per level:
/// its outcome arrives through the work list).
fn forward<U: Send + 'static>(step: MaybeAsync<U>, done: Completer<U>) {
    match step.into_ready() {
        Ok(outcome) => done.complete(outcome),
        Err(pending) => pending
            .into_promise()
            .consume(move |outcome| done.complete(outcome)),
    }
}

/// Fails next with a timeout error after `timeout`, on the starting thread's tokio
/// runtime; the timer is aborted as soon as next is done, whatever settled it.
fn arm_timeout<U: Send + 'static>(done: &Completer<U>, timeout: Duration) {
    let Some(setter) = done.setter() else { return };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        let _ = setter.set_error(Error::new(
            ErrorKind::InvalidState,
            "chain_future: a timeout needs a tokio runtime (or a loop) on the starting thread",
        ));
        return;
    };
    let target = setter.clone();
    let deadline = deadline_after(timeout);
    let timer = runtime.spawn(async move {
        tokio::time::sleep_until(deadline).await;
        let _ = target.set_error(Error::new(
            ErrorKind::Timeout,
            format!("chain_future: next not done within {timeout:?}"),
        ));
    });
    // Next's settle runs the hook (cancelled) or drops it (any other outcome): either
    // way the guard aborts the timer.
    let guard = AbortOnDrop(timer.abort_handle());
    setter.on_cancel(Box::new(move || drop(guard)));
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
