//! [`Bench`]: call an async function many times at once, gather the results, and
//! report the time taken, per-call latency percentiles and throughput.
//!
//! The calls are driven by one future, [`BenchFuture`], with no task per call: it
//! starts every call (polls it once) before it waits for any, then polls only the
//! calls that woke it, each through a waker of its own, so that `n` calls cost `O(n)`
//! polls. A call that is ready on its first poll costs one timestamp and one slot
//! write, and no allocation. Since no call is spawned, the calls' futures need not be
//! `Send`: a bench of a loop-bound object's methods runs on its loop. Inside tokio,
//! the bench opts out of the cooperative budget (`tokio::task::coop::unconstrained`):
//! like any benchmark it keeps its thread busy until its calls are all started.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::event_loop::EventLoop;
use crate::promise::Promise;

/// The outcome of a benchmark: `times` calls of an async function, all started before
/// any was awaited, their results in call order, and how long they took.
///
/// Made by [`Bench::builder`]: configure the number of calls and an optional
/// concurrency limit, then [`run`](BenchBuilder::run) (a future, for any async
/// context) or [`spawn`](BenchBuilder::spawn) (on an [`EventLoop`], giving a
/// [`Promise`]). Times come from tokio's clock ([`tokio::time::Instant`]), so a bench
/// under a paused clock measures virtual time.
///
/// `Display` prints a small table: calls, concurrency limit, time taken, calls per
/// second, and the latency percentiles.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, Error};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let bench = Bench::builder(100)
///     .run(|i| async move {
///         tokio::time::sleep(Duration::from_millis(1 + i as u64 % 10)).await;
///         Ok::<_, Error>(i * 2)
///     })
///     .await
///     .unwrap();
/// assert_eq!(bench.results()[21], 42);
/// assert_eq!(bench.taken(), Duration::from_millis(10)); // all ran at once
/// let latency = bench.latency().unwrap();
/// assert_eq!((latency.min, latency.max), (Duration::from_millis(1), Duration::from_millis(10)));
/// println!("{bench}");
/// # });
/// ```
#[derive(Clone)]
pub struct Bench<T> {
    times: usize,
    concurrency: Option<usize>,
    start: Instant,
    finish: Instant,
    results: Vec<T>,
    latencies: Vec<Duration>,
    latency: Option<Latency>,
}

/// Summary of per-call latencies: a call's latency runs from when it was started to
/// when the bench saw it finish. Percentiles are nearest-rank: `p90` is the smallest
/// latency that at least 90% of the calls did not exceed.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, Error};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let bench = Bench::builder(10)
///     .run(|i| async move {
///         tokio::time::sleep(Duration::from_secs(i as u64 + 1)).await;
///         Ok::<_, Error>(())
///     })
///     .await
///     .unwrap();
/// let l = bench.latency().unwrap();
/// assert_eq!(l.p50, Duration::from_secs(5));
/// assert_eq!(l.p90, Duration::from_secs(9));
/// assert_eq!(l.mean, Duration::from_millis(5500));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Latency {
    /// The fastest call.
    pub min: Duration,
    /// The mean over all calls.
    pub mean: Duration,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The slowest call.
    pub max: Duration,
}

impl Latency {
    /// The summary of `latencies`; `None` when there are none.
    fn of(latencies: &[Duration]) -> Option<Latency> {
        let mut sorted = latencies.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let (min, max) = (*sorted.first()?, *sorted.last()?);
        let rank = |p: u128| -> Duration {
            // Nearest rank: the ceil(p% of n)-th smallest, 1-based.
            let k = (p * n as u128).div_ceil(100).max(1);
            let index = usize::try_from(k - 1).unwrap_or(n - 1).min(n - 1);
            sorted[index]
        };
        let total: u128 = sorted.iter().map(Duration::as_nanos).sum();
        let mean_nanos = total / n as u128;
        let mean = Duration::new(
            u64::try_from(mean_nanos / 1_000_000_000).unwrap_or(u64::MAX),
            (mean_nanos % 1_000_000_000) as u32,
        );
        Some(Latency {
            min,
            mean,
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max,
        })
    }
}

impl Bench<()> {
    /// Configures a bench of `times` calls. `times == 0` is allowed: the bench
    /// finishes at once with no results, and no [`latency`](Bench::latency) or
    /// [`throughput`](Bench::throughput) to report.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    ///
    /// # futures::executor::block_on(async {
    /// let empty = Bench::builder(0).run(|_| async { Ok::<u8, Error>(0) }).await.unwrap();
    /// assert!(empty.results().is_empty());
    /// assert!(empty.latency().is_none());
    /// assert!(empty.throughput().is_none());
    /// # });
    /// ```
    pub fn builder(times: usize) -> BenchBuilder {
        BenchBuilder {
            times,
            concurrency: None,
        }
    }
}

impl<T> Bench<T> {
    /// The number of calls made.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(3).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(b.times(), 3);
    /// # });
    /// ```
    pub fn times(&self) -> usize {
        self.times
    }

    /// The concurrency limit the bench ran with; `None` for all calls at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(3).concurrency(2).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(b.concurrency(), Some(2));
    /// # });
    /// ```
    pub fn concurrency(&self) -> Option<usize> {
        self.concurrency
    }

    /// When the bench started its first call (on tokio's clock).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let before = tokio::time::Instant::now();
    /// let b = Bench::builder(1).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert!(b.start() >= before && b.finish() >= b.start());
    /// # });
    /// ```
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When the bench saw its last call finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(1).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert!(b.finish() <= tokio::time::Instant::now());
    /// # });
    /// ```
    pub fn finish(&self) -> Instant {
        self.finish
    }

    /// `finish - start`: the time all the calls took together.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(1).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(b.taken(), b.finish() - b.start());
    /// # });
    /// ```
    pub fn taken(&self) -> Duration {
        self.finish.saturating_duration_since(self.start)
    }

    /// The calls' results, in call order.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(3).run(|i| async move { Ok::<_, Error>(i) }).await.unwrap();
    /// assert_eq!(b.results(), [0, 1, 2]);
    /// # });
    /// ```
    pub fn results(&self) -> &[T] {
        &self.results
    }

    /// The calls' results, moved out.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(2).run(|i| async move { Ok::<_, Error>(i.to_string()) }).await.unwrap();
    /// assert_eq!(b.into_results(), ["0", "1"]);
    /// # });
    /// ```
    pub fn into_results(self) -> Vec<T> {
        self.results
    }

    /// Each call's latency, in call order.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let b = Bench::builder(2)
    ///     .run(|i| async move {
    ///         tokio::time::sleep(Duration::from_secs(2 - i as u64)).await;
    ///         Ok::<_, Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(b.latencies(), [Duration::from_secs(2), Duration::from_secs(1)]);
    /// # });
    /// ```
    pub fn latencies(&self) -> &[Duration] {
        &self.latencies
    }

    /// The latency summary: min, mean, p50, p90, p99, max. `None` for a bench of
    /// zero calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(5).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// let l = b.latency().unwrap();
    /// assert!(l.min <= l.p50 && l.p50 <= l.p99 && l.p99 <= l.max);
    /// # });
    /// ```
    pub fn latency(&self) -> Option<Latency> {
        self.latency
    }

    /// Calls per second over the whole bench; `None` for zero calls or when no time
    /// passed (as under a paused clock with calls that never sleep).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let b = Bench::builder(10)
    ///     .concurrency(1)
    ///     .run(|_| async {
    ///         tokio::time::sleep(Duration::from_millis(100)).await;
    ///         Ok::<_, Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(b.throughput(), Some(10.0)); // one at a time, 0.1 s each
    /// # });
    /// ```
    pub fn throughput(&self) -> Option<f64> {
        let secs = self.taken().as_secs_f64();
        (self.times > 0 && secs > 0.0).then(|| self.times as f64 / secs)
    }
}

impl<T> fmt::Display for Bench<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dur = |d: Duration| format!("{d:.1?}");
        let limit = self
            .concurrency
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        let rate = self
            .throughput()
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"));
        let cols = match self.latency {
            Some(l) => [l.min, l.p50, l.p90, l.p99, l.max].map(dur),
            None => std::array::from_fn(|_| "-".to_owned()),
        };
        writeln!(
            f,
            "{:>10} {:>6} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "calls", "limit", "taken", "calls/s", "min", "p50", "p90", "p99", "max"
        )?;
        write!(
            f,
            "{:>10} {:>6} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
            self.times,
            limit,
            dur(self.taken()),
            rate,
            cols[0],
            cols[1],
            cols[2],
            cols[3],
            cols[4]
        )
    }
}

impl<T> fmt::Debug for Bench<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bench")
            .field("times", &self.times)
            .field("concurrency", &self.concurrency)
            .field("taken", &self.taken())
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Bench`]; made by [`Bench::builder`].
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, Error};
/// # futures::executor::block_on(async {
/// let bench = Bench::builder(8).concurrency(2).run(|i| async move { Ok::<_, Error>(i) });
/// assert_eq!(bench.await.unwrap().results().len(), 8);
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use = "a bench builder does nothing until it is run"]
pub struct BenchBuilder {
    times: usize,
    concurrency: Option<usize>,
}

impl BenchBuilder {
    /// Runs at most `limit` calls at a time: the first `limit` start at once, and each
    /// one that finishes starts the next. A limit of 0 makes the bench fail with
    /// [`ErrorKind::InvalidState`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let b = Bench::builder(6)
    ///     .concurrency(2)
    ///     .run(|_| async {
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Ok::<_, Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(b.taken(), Duration::from_secs(3)); // three rounds of two
    /// # });
    /// ```
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = Some(limit);
        self
    }

    /// The bench as a future: awaited in any async context (any executor, a tokio
    /// task, an [`EventLoop`]), it calls `call(i)` for `i` in `0..times`, all at once
    /// (or up to the concurrency limit), and gives the [`Bench`].
    ///
    /// A call returns a future of `Result<T, E>`; the calls' futures need not be
    /// `Send`. For calls whose futures cannot fail, return `Ok::<_, Error>(value)`.
    ///
    /// # Errors
    ///
    /// The first call that fails (returns `Err` or panics, in `call` or in its
    /// future) fails the bench with that error's kind, the call's index in the
    /// message, and a [`BenchCallError`] as source, holding the index and the call's
    /// own error; the calls still running are dropped. [`ErrorKind::InvalidState`]
    /// for a concurrency limit of 0, or when `times` is too large to allocate.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, BenchCallError, Error};
    ///
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(5)
    ///     .run(|i| async move { if i == 3 { Err(Error::user("three")) } else { Ok(i) } })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(BenchCallError::index_of(&err), Some(3));
    /// assert_eq!(err.to_string(), "bench call 3 failed: three");
    /// # });
    /// ```
    pub fn run<F, Fut, T, E>(self, call: F) -> BenchFuture<F, Fut, T>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        BenchFuture {
            call,
            times: self.times,
            concurrency: self.concurrency,
            run: None,
            finished: false,
        }
    }

    /// Runs the bench on `lp` as a task and returns at once a promise of it. `call`
    /// is sent to the loop's thread; the futures it makes there need not be `Send`.
    ///
    /// # Errors
    ///
    /// The promise fails as [`run`](BenchBuilder::run) does, or with
    /// [`ErrorKind::LoopClosed`] when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error, EventLoop};
    /// use std::rc::Rc;
    ///
    /// let lp = EventLoop::new().unwrap();
    /// let bench = Bench::builder(100).spawn(&lp, |i| {
    ///     let local = Rc::new(i); // !Send: fine, the calls run on the loop
    ///     async move { Ok::<_, Error>(*local + 1) }
    /// });
    /// let bench = bench.wait().unwrap();
    /// assert_eq!(bench.results()[99], 100);
    /// ```
    pub fn spawn<F, Fut, T, E>(self, lp: &EventLoop, call: F) -> Promise<Bench<T>>
    where
        F: FnMut(usize) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: Send + Sync + 'static,
        E: Into<Box<dyn StdError + Send + Sync + 'static>> + 'static,
    {
        lp.spawn_settling(std::any::type_name::<F>(), move || self.run(call))
    }
}

/// The error a failed call of a [`Bench`] leaves as the source of the bench's
/// [`Error`]: the call's index and its own error.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, BenchCallError, Error, ErrorKind};
/// use std::error::Error as _;
///
/// # futures::executor::block_on(async {
/// let err = Bench::builder(4)
///     .run(|i| async move {
///         if i == 2 { Err(Error::from(ErrorKind::Timeout)) } else { Ok(()) }
///     })
///     .await
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Timeout); // the call's kind is kept
/// let call = err.downcast_ref::<BenchCallError>().unwrap();
/// assert_eq!(call.index(), 2);
/// assert_eq!(call.error().kind(), ErrorKind::Timeout);
/// assert!(err.source().is_some());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct BenchCallError {
    index: usize,
    error: Error,
}

impl BenchCallError {
    /// The index of the call that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, BenchCallError, Error};
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(1).run(|_| async { Err::<(), _>(Error::user("x")) }).await.unwrap_err();
    /// assert_eq!(err.downcast_ref::<BenchCallError>().unwrap().index(), 0);
    /// # });
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The call's own error.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, BenchCallError, Error};
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(1).run(|_| async { Err::<(), _>(Error::user("x")) }).await.unwrap_err();
    /// assert_eq!(err.downcast_ref::<BenchCallError>().unwrap().error().to_string(), "x");
    /// # });
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The index of the failed call behind a bench's `error`; `None` when the error
    /// is not a failed call's.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, BenchCallError, Error, ErrorKind};
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(9).run(|i| async move {
    ///     if i == 7 { panic!("seven") }
    ///     Ok::<_, Error>(())
    /// }).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Panicked);
    /// assert_eq!(BenchCallError::index_of(&err), Some(7));
    /// assert_eq!(BenchCallError::index_of(&Error::user("other")), None);
    /// # });
    /// ```
    pub fn index_of(error: &Error) -> Option<usize> {
        error
            .downcast_ref::<BenchCallError>()
            .map(BenchCallError::index)
    }

    /// The bench's error for call `index` failing with `error`.
    fn into_error(index: usize, error: Error) -> Error {
        let message = format!("bench call {index} failed: {error}");
        let kind = error.kind();
        Error::build(
            kind,
            Some(message),
            Some(Box::new(BenchCallError { index, error })),
        )
    }
}

impl fmt::Display for BenchCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {} failed: {}", self.index, self.error)
    }
}

impl StdError for BenchCallError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

/// The future of a [`Bench`], made by [`BenchBuilder::run`]. The calls start on its
/// first poll.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, BenchFuture, Error};
/// use std::future::Ready;
///
/// # futures::executor::block_on(async {
/// let fut: BenchFuture<_, Ready<Result<usize, Error>>, usize> =
///     Bench::builder(2).run(|i| std::future::ready(Ok(i)));
/// assert_eq!(fut.await.unwrap().results(), [0, 1]);
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct BenchFuture<F, Fut, T> {
    call: F,
    times: usize,
    concurrency: Option<usize>,
    run: Option<Run<Fut, T>>,
    finished: bool,
}

// Nothing in a `BenchFuture` is ever pinned in place: the calls' futures are pinned
// in boxes of their own.
impl<F, Fut, T> Unpin for BenchFuture<F, Fut, T> {}

/// The calls of a bench under way.
struct Run<Fut, T> {
    start: Instant,
    /// The next call to start.
    next: usize,
    /// Calls finished.
    done: usize,
    /// Calls started and not finished.
    in_flight: usize,
    results: Vec<Option<T>>,
    latencies: Vec<Duration>,
    /// A box for the next call's future, reused while calls finish on their first poll.
    spare: Option<Pin<Box<Option<Fut>>>>,
    /// The calls that are pending, by waker id.
    calls: Vec<Option<Running<Fut>>>,
    /// One waker per id, reused by the calls that take the id.
    wakers: Vec<(Arc<CallWaker>, Waker)>,
    /// Ids free for the next pending call.
    free: Vec<usize>,
    queue: Arc<Queue>,
    /// The ids taken from the queue, a buffer kept to reuse its allocation.
    woken: Vec<usize>,
}

struct Running<Fut> {
    index: usize,
    started: Instant,
    future: Pin<Box<Option<Fut>>>,
}

/// The ids of the calls woken since the bench last looked, and the bench's own waker.
struct Queue {
    ready: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

/// A pending call's waker: queues its id once, and wakes the bench.
struct CallWaker {
    id: usize,
    /// Set while the id is in the queue, so that a call waking many times is queued
    /// once.
    queued: AtomicBool,
    queue: Arc<Queue>,
}

impl Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.queue.ready).push(self.id);
        let parent = lock(&self.queue.parent).clone();
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

/// Locks a mutex of the bench; a poisoned one is taken over, since no critical
/// section here can leave its data half-changed.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one poll of a call gave.
enum Step<T> {
    Done(Result<T, Error>),
    Pending,
}

/// Polls a call's future, turning its `Err` or a panic into an [`Error`]; drops the
/// future once it is done.
fn poll_call<Fut, T, E>(future: &mut Pin<Box<Option<Fut>>>, waker: &Waker) -> Step<T>
where
    Fut: Future<Output = Result<T, E>>,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    let polled = catch_unwind(AssertUnwindSafe(|| {
        let mut cx = Context::from_waker(waker);
        let step = match future.as_mut().as_pin_mut() {
            Some(f) => match f.poll(&mut cx) {
                Poll::Ready(outcome) => Step::Done(outcome.map_err(Error::user)),
                Poll::Pending => Step::Pending,
            },
            None => Step::Done(Err(Error::new(
                ErrorKind::InvalidState,
                "bench: a call was polled after it finished",
            ))),
        };
        if let Step::Done(_) = step {
            future.as_mut().set(None);
        }
        step
    }));
    polled.unwrap_or_else(|payload| Step::Done(Err(Error::from_panic(payload))))
}

impl<Fut, T> Run<Fut, T> {
    fn new(times: usize) -> Result<Self, Error> {
        let too_many = |_| {
            Error::new(
                ErrorKind::InvalidState,
                format!("bench: cannot allocate the results of {times} calls"),
            )
        };
        let mut results = Vec::new();
        results.try_reserve_exact(times).map_err(too_many)?;
        results.resize_with(times, || None);
        let mut latencies = Vec::new();
        latencies.try_reserve_exact(times).map_err(too_many)?;
        latencies.resize(times, Duration::ZERO);
        Ok(Run {
            start: Instant::now(),
            next: 0,
            done: 0,
            in_flight: 0,
            results,
            latencies,
            spare: None,
            calls: Vec::new(),
            wakers: Vec::new(),
            free: Vec::new(),
            queue: Arc::new(Queue {
                ready: Mutex::new(Vec::new()),
                parent: Mutex::new(None),
            }),
            woken: Vec::new(),
        })
    }

    fn record(&mut self, index: usize, value: T, latency: Duration) {
        if let Some(slot) = self.results.get_mut(index) {
            *slot = Some(value);
        }
        if let Some(slot) = self.latencies.get_mut(index) {
            *slot = latency;
        }
        self.done += 1;
    }

    /// An id (and its waker) for a call that may stay pending.
    fn take_id(&mut self) -> usize {
        if let Some(id) = self.free.pop() {
            return id;
        }
        let id = self.wakers.len();
        let waker = Arc::new(CallWaker {
            id,
            queued: AtomicBool::new(false),
            queue: self.queue.clone(),
        });
        self.wakers.push((waker.clone(), Waker::from(waker)));
        self.calls.push(None);
        id
    }

    /// Polls the calls that woke; gives the index and error of a failed one.
    fn poll_woken<E>(&mut self) -> Result<(), Error>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        let mut woken = std::mem::take(&mut self.woken);
        std::mem::swap(&mut *lock(&self.queue.ready), &mut woken);
        for id in woken.drain(..) {
            let Some((call_waker, waker)) = self.wakers.get(id) else {
                continue;
            };
            call_waker.queued.store(false, Ordering::Release);
            let Some(running) = self.calls.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            let Step::Done(outcome) = poll_call(&mut running.future, waker) else {
                continue;
            };
            let (index, started) = (running.index, running.started);
            let future = self
                .calls
                .get_mut(id)
                .and_then(Option::take)
                .map(|r| r.future);
            if self.spare.is_none() {
                self.spare = future;
            }
            self.free.push(id);
            self.in_flight -= 1;
            match outcome {
                Ok(value) => self.record(
                    index,
                    value,
                    Instant::now().saturating_duration_since(started),
                ),
                Err(error) => return Err(BenchCallError::into_error(index, error)),
            }
        }
        self.woken = woken;
        Ok(())
    }

    /// Starts calls while there are calls left and room under `limit`.
    fn start_calls<F, E>(&mut self, call: &mut F, times: usize, limit: usize) -> Result<(), Error>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        // One timestamp per call: a call starts when the one before it was polled.
        let mut started = Instant::now();
        while self.next < times && self.in_flight < limit {
            let index = self.next;
            self.next += 1;
            let mut future = self.spare.take().unwrap_or_else(|| Box::pin(None));
            if let Err(payload) =
                catch_unwind(AssertUnwindSafe(|| future.as_mut().set(Some(call(index)))))
            {
                return Err(BenchCallError::into_error(
                    index,
                    Error::from_panic(payload),
                ));
            }
            let id = self.take_id();
            let step = match self.wakers.get(id) {
                Some((_, waker)) => poll_call(&mut future, waker),
                None => Step::Pending,
            };
            let now = Instant::now();
            match step {
                Step::Done(Ok(value)) => {
                    self.record(index, value, now.saturating_duration_since(started));
                    self.free.push(id);
                    self.spare = Some(future);
                }
                Step::Done(Err(error)) => return Err(BenchCallError::into_error(index, error)),
                Step::Pending => {
                    if let Some(slot) = self.calls.get_mut(id) {
                        *slot = Some(Running {
                            index,
                            started,
                            future,
                        });
                    }
                    self.in_flight += 1;
                }
            }
            started = now;
        }
        Ok(())
    }

    fn into_bench(self, times: usize, concurrency: Option<usize>) -> Result<Bench<T>, Error> {
        let finish = Instant::now();
        let results: Option<Vec<T>> = self.results.into_iter().collect();
        let results = results.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidState,
                "bench: a call finished without a result",
            )
        })?;
        let latency = Latency::of(&self.latencies);
        Ok(Bench {
            times,
            concurrency,
            start: self.start,
            finish,
            results,
            latencies: self.latencies,
            latency,
        })
    }
}

impl<F, Fut, T, E> BenchFuture<F, Fut, T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bench<T>, Error>> {
        let limit = match self.concurrency {
            Some(0) => {
                return Poll::Ready(Err(Error::new(
                    ErrorKind::InvalidState,
                    "bench: a concurrency limit must be at least 1",
                )))
            }
            Some(limit) => limit,
            None => usize::MAX,
        };
        let run = match &mut self.run {
            Some(run) => run,
            None => match Run::new(self.times) {
                Ok(run) => self.run.insert(run),
                Err(error) => return Poll::Ready(Err(error)),
            },
        };
        {
            let mut parent = lock(&run.queue.parent);
            if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        if let Err(error) = run.poll_woken() {
            return Poll::Ready(Err(error));
        }
        if let Err(error) = run.start_calls(&mut self.call, self.times, limit) {
            return Poll::Ready(Err(error));
        }
        if run.done == self.times {
            return match self.run.take() {
                Some(run) => Poll::Ready(run.into_bench(self.times, self.concurrency)),
                None => Poll::Ready(Err(Error::new(ErrorKind::InvalidState, "bench: no run"))),
            };
        }
        if !lock(&run.queue.ready).is_empty() {
            // Calls woke while this poll ran: come back for them, after letting
            // others run.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<F, Fut, T, E> Future for BenchFuture<F, Fut, T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    type Output = Result<Bench<T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(Error::new(
                ErrorKind::InvalidState,
                "the bench was polled after it completed",
            )));
        }
        // All the calls are polled inside this one task: tokio's cooperative budget
        // (made to stop one task starving others) would throttle them after a few
        // polls and have them polled again and again, so the bench opts out of it.
        let out = {
            let drive = std::future::poll_fn(|cx| this.drive(cx));
            let mut drive = std::pin::pin!(tokio::task::coop::unconstrained(drive));
            drive.as_mut().poll(cx)
        };
        if out.is_ready() {
            this.finished = true;
            // Calls still running when a call failed are dropped here.
            this.run = None;
        }
        out
    }
}

impl<F, Fut, T> fmt::Debug for BenchFuture<F, Fut, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (started, done) = self.run.as_ref().map_or((0, 0), |r| (r.next, r.done));
        f.debug_struct("BenchFuture")
            .field("times", &self.times)
            .field("concurrency", &self.concurrency)
            .field("started", &started)
            .field("done", &done)
            .field("finished", &self.finished)
            .finish()
    }
}
