//! [`poll_until`]: poll a clause until it gives a value, with `async_while`'s
//! intervals and deadline.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::polling::{interval_setters, Polling, Rounds};
use super::{AsyncClause, SyncClause};
use crate::error::{Error, ErrorKind};

/// What a [`poll_until`] clause returns: a value, or "not yet".
///
/// Implemented for `Option<T>` (`Some(value)`, or `None`: not yet) and for
/// `Result<T, E>` (`Ok(value)`, or `Err(why)`: not yet, and the last `why` becomes the
/// cause of the [`Timeout`](ErrorKind::Timeout) error). To stop polling on an error
/// instead, make it the value: return `Some(Err(e))` or `Ok(Err(e))`.
///
/// # Examples
///
/// ```
/// use pulsar_async::async_while::Attempt;
///
/// assert_eq!(Some(3).into_value().ok(), Some(3));
/// assert!(None::<u8>.into_value().unwrap_err().is_none());
/// let why = Err::<u8, _>("refused").into_value().unwrap_err().unwrap();
/// assert_eq!(std::error::Error::source(&why).unwrap().to_string(), "refused");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a value nor a \"not yet\"",
    label = "a `poll_until` clause must return an `Option` or a `Result`",
    note = "return `Some(value)` or `Ok(value)` when ready, `None` or `Err(why)` to try again; or implement `pulsar_async::async_while::Attempt` for `{Self}`"
)]
pub trait Attempt {
    /// The value polling waits for.
    type Value;

    /// `Ok(value)` ends the polling; `Err(why)` polls on, with the reason it is not
    /// ready yet, if there is one.
    fn into_value(self) -> Result<Self::Value, Option<Error>>;
}

impl<T> Attempt for Option<T> {
    type Value = T;

    fn into_value(self) -> Result<T, Option<Error>> {
        self.ok_or(None)
    }
}

impl<T, E> Attempt for Result<T, E>
where
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    type Value = T;

    fn into_value(self) -> Result<T, Option<Error>> {
        self.map_err(|why| Some(Error::user(why)))
    }
}

/// The clause of a [`poll_until`]: a closure returning an [`Attempt`] (an `Option` or
/// a `Result`), or a closure returning a future of one.
///
/// You never implement this trait: it is implemented for every `FnMut() -> R` with
/// `R: Attempt` (marker [`SyncClause`]) and every `FnMut() -> F` with `F: Future`
/// whose output is an `Attempt` (marker [`AsyncClause`]); the marker is inferred.
///
/// # Examples
///
/// ```
/// use pulsar_async::async_while::{AsyncClause, SyncClause, UntilClause};
///
/// fn takes<M>(_: impl UntilClause<M>) {}
/// takes::<SyncClause>(|| Some(1));
/// takes::<AsyncClause>(|| async { "7".parse::<u8>() });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `poll_until` clause",
    label = "expected a closure returning an `Option` or a `Result`, or a future of one",
    note = "a clause is `|| -> Option<T>`, `|| -> Result<T, E>`, or `|| async {{ .. }}` returning one of those; a `bool` carries no value: return `ready.then_some(value)`, or use `async_while`"
)]
pub trait UntilClause<Marker> {
    /// What one evaluation returns.
    type Output: Attempt;
    /// The future of one evaluation.
    type Future: Future<Output = Self::Output>;

    /// Evaluates the clause once.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::async_while::{SyncClause, UntilClause};
    /// let mut clause = || Some(7u8);
    /// let value = futures::executor::block_on(UntilClause::<SyncClause>::evaluate(&mut clause));
    /// assert_eq!(value, Some(7));
    /// ```
    fn evaluate(&mut self) -> Self::Future;
}

impl<F, R> UntilClause<SyncClause> for F
where
    F: FnMut() -> R,
    R: Attempt,
{
    type Output = R;
    type Future = std::future::Ready<R>;

    fn evaluate(&mut self) -> Self::Future {
        std::future::ready(self())
    }
}

impl<F, Fut> UntilClause<AsyncClause> for F
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Attempt,
{
    type Output = Fut::Output;
    type Future = Fut;

    fn evaluate(&mut self) -> Self::Future {
        self()
    }
}

/// The value a [`PollUntil`] of clause `C` resolves to.
type ValueOf<C, M> = <<C as UntilClause<M>>::Output as Attempt>::Value;

/// Polls `clause` until it gives a value: the Rust-shaped companion of
/// [`async_while`](super::async_while), resolving to `Ok(value)`, or to an
/// [`ErrorKind::Timeout`] error when `timeout` passes first.
///
/// The clause returns an `Option` (`None`: not yet) or a `Result` (`Err(why)`: not
/// yet; the last `why` is the timeout error's [`source`](std::error::Error::source)),
/// or a future of one ([`Attempt`]). It is evaluated at once, then after sleeps that
/// start at 0.1 s and grow by 0.1 s per round up to 1 s, as `async_while`'s do (and
/// are configured the same way: [`first_interval`](PollUntil::first_interval),
/// [`interval_step`](PollUntil::interval_step),
/// [`max_interval`](PollUntil::max_interval)).
///
/// **The deadline is exact.** `timeout` counts from the first poll, and the future
/// never resolves after it: the last sleep is cut short to end at the deadline, the
/// clause is not evaluated at the deadline, and **every evaluation of an async clause,
/// the first one included, is cut at the deadline where it yields**: one pending then
/// is dropped at its await point, and the future resolves to the timeout error. A
/// clause that blocks its thread (a plain clause, or an async one between two awaits)
/// cannot be cut while it blocks: the future resolves once it returns or yields. Unlike `async_while`'s (a
/// Python convention), a zero timeout is not "no timeout": the clause gets one
/// attempt (an async clause, one poll). For no timeout, pass [`Duration::MAX`].
///
/// The clause runs in the task that awaits the `PollUntil`, so it may borrow local,
/// `!Send` state. Time is tokio's clock ([`tokio::time`]), so tests can pause it.
///
/// # Errors
///
/// [`ErrorKind::Timeout`] when no value came before the deadline; its message gives
/// the timeout and the number of attempts, and its source is the last `Err` the
/// clause returned, if any (reachable typed with
/// [`Error::downcast_ref`]).
///
/// # Panics
///
/// Polling the future outside a tokio runtime with timers enabled (every
/// [`EventLoop`](crate::EventLoop) has them) panics, as [`tokio::time::sleep`] does;
/// so does polling it again after it resolved.
///
/// # Examples
///
/// ```
/// use pulsar_async::{poll_until, ErrorKind, EventLoop};
/// use std::time::Duration;
///
/// let lp = EventLoop::builder().build_driven().unwrap();
/// lp.run_until_complete(async {
///     // Wait for a job's result: `None` until it is there, then the value itself.
///     let mut polls = 0;
///     let result = poll_until(Duration::from_secs(5), || {
///         polls += 1;
///         (polls == 3).then_some("done")
///     })
///     .await;
///     assert_eq!(result.unwrap(), "done");
///
///     // A fallible probe: its last error is the cause of the timeout.
///     let err = poll_until(Duration::from_millis(350), || async {
///         "busy".parse::<u16>()
///     })
///     .await
///     .unwrap_err();
///     assert_eq!(err.kind(), ErrorKind::Timeout);
///     assert_eq!(err.to_string(), "timed out: no value within 350ms (3 attempts)");
///     assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
/// })
/// .unwrap();
/// ```
pub fn poll_until<C, M>(timeout: Duration, clause: C) -> PollUntil<C, M>
where
    C: UntilClause<M>,
{
    let rounds = UntilRounds {
        clause,
        timeout,
        attempts: 0,
        _marker: PhantomData,
    };
    PollUntil {
        polling: Polling::new(rounds, Some(timeout)),
    }
}

/// How `poll_until` reads its clause: on while "not yet", keeping the last reason;
/// every evaluation, the first one included, is bounded by the deadline.
struct UntilRounds<C, M> {
    clause: C,
    timeout: Duration,
    attempts: u64,
    _marker: PhantomData<fn() -> M>,
}

impl<C, M> UntilRounds<C, M> {
    fn timeout_error(&self, last: Option<Error>) -> Error {
        let plural = if self.attempts == 1 { "" } else { "s" };
        let message = format!(
            "no value within {:?} ({} attempt{plural})",
            self.timeout, self.attempts
        );
        match last {
            Some(why) => Error::caused_by(ErrorKind::Timeout, message, why),
            None => Error::new(ErrorKind::Timeout, message),
        }
    }
}

impl<C: UntilClause<M>, M> Rounds for UntilRounds<C, M> {
    type Future = C::Future;
    type Last = Option<Error>;
    type Output = Result<ValueOf<C, M>, Error>;

    fn evaluate(&mut self) -> C::Future {
        self.attempts = self.attempts.saturating_add(1);
        self.clause.evaluate()
    }

    fn judge(&mut self, value: C::Output) -> ControlFlow<Self::Output, Option<Error>> {
        match value.into_value() {
            Ok(value) => ControlFlow::Break(Ok(value)),
            Err(why) => ControlFlow::Continue(why),
        }
    }

    fn timed_out(&mut self, last: Option<Error>) -> Self::Output {
        Err(self.timeout_error(last))
    }

    fn timed_out_first(&mut self) -> Option<Self::Output> {
        Some(Err(self.timeout_error(None)))
    }
}

/// The future of [`poll_until`]; configure its intervals before awaiting it.
///
/// # Cancel safety
///
/// Dropping it before it resolves stops the polling and loses only its own progress:
/// an async clause's evaluation under way is dropped with it (cut wherever it was),
/// and nothing resumes; a new `poll_until` starts over, with a new deadline.
///
/// # Panics
///
/// When polled again after it resolved, as futures may.
///
/// # Examples
///
/// ```
/// use pulsar_async::poll_until;
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let mut rounds = 0;
/// let value = poll_until(Duration::MAX, || { rounds += 1; (rounds == 3).then_some(rounds) })
///     .first_interval(Duration::from_millis(2))
///     .interval_step(Duration::from_millis(1))
///     .max_interval(Duration::from_millis(3))
///     .await;
/// assert_eq!(value.unwrap(), 3);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct PollUntil<C: UntilClause<M>, M> {
    polling: Polling<UntilRounds<C, M>>,
}

impl<C: UntilClause<M>, M> PollUntil<C, M> {
    interval_setters!(
        PollUntil,
        "pulsar_async::poll_until(Duration::from_secs(1), || Some(1))"
    );

    /// The timeout given to [`poll_until`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = Duration::from_secs(3);
    /// assert_eq!(pulsar_async::poll_until(t, || Some(1)).timeout(), t);
    /// ```
    pub fn timeout(&self) -> Duration {
        self.polling.rounds.timeout
    }
}

impl<C: UntilClause<M>, M> Future for PollUntil<C, M> {
    type Output = Result<ValueOf<C, M>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.polling).poll(cx)
    }
}

impl<C: UntilClause<M>, M> fmt::Debug for PollUntil<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PollUntil");
        self.polling.debug_fields(&mut d);
        d.field("attempts", &self.polling.rounds.attempts);
        d.finish()
    }
}
