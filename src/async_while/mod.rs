//! Polling with a growing interval and an exact deadline, two ways:
//!
//! - [`async_while`]: the asynchronous `while clause():` of Pulsar, re-checking a
//!   condition until it is false or a timeout passes, and returning the clause's last
//!   value (Python's truthiness: truthy when it timed out);
//! - [`poll_until`]: its Rust-shaped companion, polling a clause that returns an
//!   `Option` or a `Result` until it gives a value, resolving to `Ok(value)` or to a
//!   [`Timeout`](crate::ErrorKind::Timeout) error.
//!
//! Both run on one engine (in `polling.rs`): the same intervals (0.1 s, growing by
//! 0.1 s per round up to 1 s, configurable), the same deadline, and the same clauses,
//! plain or async. `poll_until` resolves by its deadline wherever the clause yields:
//! an async evaluation still pending at the deadline is dropped there, at its await
//! point; code that blocks the thread without yielding (a plain clause, or an async
//! one between two awaits) cannot be cut, and the future resolves when it returns.
//! `async_while` keeps the same deadline, except for one case: an async clause whose
//! *first* evaluation is still running at the deadline is awaited to its end, since
//! there is no earlier value to return (`tests/async_while_poll_until.rs`
//! `the_first_evaluation_is_awaited_even_past_the_deadline`).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

mod polling;
mod until;

use polling::{interval_setters, Polling, Rounds};
pub use until::{poll_until, Attempt, PollUntil, UntilClause};

/// A value that reads as true or false, as a `while` condition does in Python.
///
/// [`async_while`] goes on while its clause returns a truthy value, and returns the
/// last value it got: falsy when the condition was met, truthy when it timed out.
///
/// Implemented for `bool`, `Option<T>` (`Some` is truthy), the integer types (non-zero
/// is truthy), and `Vec<T>`, `String` and `&str` (non-empty is truthy). Implement it
/// for your own types to return them from a clause.
///
/// # Examples
///
/// ```
/// use pulsar_async::async_while::Truthy;
///
/// assert!(true.is_truthy());
/// assert!(!None::<u8>.is_truthy());
/// assert!(Some(0).is_truthy());
/// assert!(!0usize.is_truthy());
/// assert!(vec![1].is_truthy());
/// assert!(!"".is_truthy());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read as true or false",
    label = "an `async_while` clause must return a `Truthy` value",
    note = "return a `bool` or an `Option`, or implement `pulsar_async::async_while::Truthy` for `{Self}`"
)]
pub trait Truthy {
    /// `true` when the value counts as true (the `while` goes on).
    fn is_truthy(&self) -> bool;
}

impl Truthy for bool {
    fn is_truthy(&self) -> bool {
        *self
    }
}

impl<T> Truthy for Option<T> {
    fn is_truthy(&self) -> bool {
        self.is_some()
    }
}

impl<T> Truthy for Vec<T> {
    fn is_truthy(&self) -> bool {
        !self.is_empty()
    }
}

impl Truthy for String {
    fn is_truthy(&self) -> bool {
        !self.is_empty()
    }
}

impl Truthy for &str {
    fn is_truthy(&self) -> bool {
        !self.is_empty()
    }
}

macro_rules! truthy_integers {
    ($($t:ty)*) => {$(
        impl Truthy for $t {
            fn is_truthy(&self) -> bool {
                *self != 0
            }
        }
    )*};
}

truthy_integers!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize);

/// The condition of an [`async_while`]: a closure returning a [`Truthy`] value, or a
/// closure returning a future of one.
///
/// You never implement this trait: it is implemented for every `FnMut() -> R` with
/// `R: Truthy` (marker [`SyncClause`]) and every `FnMut() -> F` with `F: Future` whose
/// output is `Truthy` (marker [`AsyncClause`]). The marker only tells the two apart,
/// and is inferred.
///
/// # Examples
///
/// ```
/// use pulsar_async::async_while::{AsyncClause, SyncClause, WhileClause};
///
/// fn takes<M>(_: impl WhileClause<M>) {}
/// takes::<SyncClause>(|| true);
/// takes::<AsyncClause>(|| async { None::<u8> });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `async_while` clause",
    label = "expected a closure returning a `Truthy` value, or a future of one",
    note = "a clause is `|| -> bool`, `|| -> Option<T>`, or `|| async {{ .. }}` returning one of those"
)]
pub trait WhileClause<Marker> {
    /// The value the clause returns.
    type Output: Truthy;
    /// The future of one evaluation.
    type Future: Future<Output = Self::Output>;

    /// Evaluates the clause once.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::async_while::{SyncClause, WhileClause};
    /// let mut clause = || 7u8;
    /// let value = futures::executor::block_on(WhileClause::<SyncClause>::evaluate(&mut clause));
    /// assert_eq!(value, 7);
    /// ```
    fn evaluate(&mut self) -> Self::Future;
}

/// Marks a [`WhileClause`] that returns its value directly.
///
/// # Examples
///
/// ```
/// use pulsar_async::async_while::{SyncClause, WhileClause};
/// fn sync_only(_: impl WhileClause<SyncClause>) {}
/// sync_only(|| false);
/// ```
#[derive(Debug)]
pub enum SyncClause {}

/// Marks a [`WhileClause`] that returns a future of its value.
///
/// # Examples
///
/// ```
/// use pulsar_async::async_while::{AsyncClause, WhileClause};
/// fn async_only(_: impl WhileClause<AsyncClause>) {}
/// async_only(|| async { false });
/// ```
#[derive(Debug)]
pub enum AsyncClause {}

impl<F, R> WhileClause<SyncClause> for F
where
    F: FnMut() -> R,
    R: Truthy,
{
    type Output = R;
    type Future = std::future::Ready<R>;

    fn evaluate(&mut self) -> Self::Future {
        std::future::ready(self())
    }
}

impl<F, Fut> WhileClause<AsyncClause> for F
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Truthy,
{
    type Output = Fut::Output;
    type Future = Fut;

    fn evaluate(&mut self) -> Self::Future {
        self()
    }
}

/// The asynchronous `while clause():` — waits while `clause` returns a truthy value.
///
/// The clause is evaluated at once. While its value is truthy, the future sleeps and
/// evaluates it again; the sleeps start at 0.1 s and grow by 0.1 s per round up to
/// 1 s (0.1, 0.2, ..., 1.0, 1.0, ...); see
/// [`first_interval`](AsyncWhile::first_interval),
/// [`interval_step`](AsyncWhile::interval_step) and
/// [`max_interval`](AsyncWhile::max_interval) to change them. It resolves to the last
/// value of the clause: falsy when the condition was met, truthy when it timed out.
///
/// `timeout` counts from the first poll. [`Duration::ZERO`] means no timeout, as in
/// Pulsar. With a timeout:
/// - the last sleep is cut short to end at the deadline, and then the clause is not
///   evaluated again;
/// - the clause's own run time counts: if a later evaluation of an async clause is
///   still running at the deadline, it is dropped and the previous (truthy) value is
///   returned, exactly at the deadline;
/// - **the first evaluation is the exception.** There is no previous value to
///   return, so it is always awaited to its end, even past the deadline. An async
///   clause that takes longer than `timeout` on its first run makes the future
///   resolve when that run ends, after the deadline. If you need to stop exactly at
///   the deadline, use [`poll_until`], which bounds every
///   evaluation, the first one included.
///
/// The clause may return its value ([`SyncClause`]) or a future of it
/// ([`AsyncClause`]); it runs in the task that awaits the `AsyncWhile`, so it may
/// borrow local, `!Send` state.
///
/// Time is tokio's clock ([`tokio::time`]), so tests can pause it.
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
/// use pulsar_async::{async_while, EventLoop};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let lp = EventLoop::builder().build_driven().unwrap();
/// lp.run_until_complete(async {
///     // Wait while the job is still pending, for at most 5 s.
///     let pending = Arc::new(AtomicU32::new(3));
///     let p = pending.clone();
///     let left = async_while(Duration::from_secs(5), move || p.fetch_sub(1, Ordering::SeqCst) > 1)
///         .first_interval(Duration::from_millis(1))
///         .interval_step(Duration::ZERO)
///         .await;
///     assert!(!left); // falsy: the condition was met
///
///     // An async clause that never gets there times out with a truthy value.
///     let timed_out = async_while(Duration::from_millis(20), || async { Some("busy") }).await;
///     assert_eq!(timed_out, Some("busy"));
/// })
/// .unwrap();
/// ```
pub fn async_while<C, M>(timeout: Duration, clause: C) -> AsyncWhile<C, M>
where
    C: WhileClause<M>,
{
    let rounds = WhileRounds {
        clause,
        _marker: PhantomData,
    };
    AsyncWhile {
        polling: Polling::new(rounds, (!timeout.is_zero()).then_some(timeout)),
    }
}

/// How `async_while` reads its clause: on while truthy, and at the deadline the last
/// (truthy) value; the first evaluation, which has no value before it, is awaited
/// past the deadline (`timed_out_first` gives `None`).
struct WhileRounds<C, M> {
    clause: C,
    _marker: PhantomData<fn() -> M>,
}

impl<C: WhileClause<M>, M> Rounds for WhileRounds<C, M> {
    type Future = C::Future;
    type Last = C::Output;
    type Output = C::Output;

    fn evaluate(&mut self) -> C::Future {
        self.clause.evaluate()
    }

    fn judge(&mut self, value: C::Output) -> ControlFlow<C::Output, C::Output> {
        if value.is_truthy() {
            ControlFlow::Continue(value)
        } else {
            ControlFlow::Break(value)
        }
    }

    fn timed_out(&mut self, last: C::Output) -> C::Output {
        last
    }

    fn timed_out_first(&mut self) -> Option<C::Output> {
        None
    }
}

/// The future of [`async_while`]; configure its intervals before awaiting it.
///
/// # Cancel safety
///
/// Dropping it before it resolves stops the waiting and loses only its own progress:
/// an async clause's evaluation under way is dropped with it (cut wherever it was),
/// and nothing resumes; a new `async_while` starts over, with a new deadline.
///
/// # Panics
///
/// When polled again after it resolved, as futures may (the value was given away).
///
/// # Examples
///
/// ```
/// use pulsar_async::async_while;
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let mut rounds = 0;
/// let still = async_while(Duration::ZERO, || { rounds += 1; rounds < 3 })
///     .first_interval(Duration::from_millis(2))
///     .interval_step(Duration::from_millis(1))
///     .max_interval(Duration::from_millis(3))
///     .await;
/// assert!(!still);
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AsyncWhile<C: WhileClause<M>, M> {
    polling: Polling<WhileRounds<C, M>>,
}

impl<C: WhileClause<M>, M> AsyncWhile<C, M> {
    interval_setters!(
        AsyncWhile,
        "pulsar_async::async_while(Duration::ZERO, || false)"
    );

    /// The timeout, or `None` when there is none (a zero timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use pulsar_async::async_while;
    /// assert_eq!(async_while(Duration::ZERO, || false).timeout(), None);
    /// let t = Duration::from_secs(3);
    /// assert_eq!(async_while(t, || false).timeout(), Some(t));
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.polling.timeout()
    }
}

impl<C: WhileClause<M>, M> Future for AsyncWhile<C, M> {
    type Output = C::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        Pin::new(&mut self.polling).poll(cx)
    }
}

impl<C: WhileClause<M>, M> fmt::Debug for AsyncWhile<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AsyncWhile");
        self.polling.debug_fields(&mut d);
        d.finish()
    }
}
