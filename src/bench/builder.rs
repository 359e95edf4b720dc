//! How a bench is configured and started: [`Builder`], made by [`Bench::builder`].

use std::error::Error as StdError;
use std::future::Future;

#[cfg(doc)]
use crate::error::ErrorKind;
use crate::event_loop::EventLoop;
use crate::promise::Promise;

use super::driver::BenchFuture;
use super::Bench;

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
    pub fn builder(times: usize) -> Builder {
        Builder {
            times,
            concurrency: None,
            repeats: 1,
            warm_up: 0,
        }
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
pub struct Builder {
    times: usize,
    concurrency: Option<usize>,
    repeats: usize,
    warm_up: usize,
}

impl Builder {
    /// Runs at most `limit` calls at a time: the first `limit` start at once, and each
    /// one that finishes starts the next. A limit of 0 makes the bench fail with
    /// [`ErrorKind::InvalidInput`].
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

    /// Runs the `times` calls in `k` measured rounds, one after another (1 by
    /// default), so that the bench says how far apart identical rounds came out: each
    /// round's figures are in [`Bench::repeats`], the table shows the mean round and
    /// each column's lowest and highest, and [`Bench::compare`] says `within noise`
    /// when two benches' ranges of calls per second overlap. `call` is called
    /// `times * k` times (plus the [`warm_up`](Builder::warm_up) rounds'), with `i`
    /// in `0..times` in each round. `k == 0` makes the bench fail with
    /// [`ErrorKind::InvalidInput`], and no call is made.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::cell::Cell;
    ///
    /// # futures::executor::block_on(async {
    /// let made = Cell::new(0);
    /// let bench = Bench::builder(100)
    ///     .repeats(5)
    ///     .run(|i| {
    ///         made.set(made.get() + 1);
    ///         async move { Ok::<_, Error>(i) }
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(made.get(), 500);
    /// assert_eq!(bench.repeats().len(), 5);
    /// assert_eq!(bench.latencies().len(), 500); // every measured call
    /// assert_eq!(bench.results().len(), 100); // the last round's
    /// println!("{bench}"); // a mean row, then each column's low and high
    /// # });
    /// ```
    pub fn repeats(mut self, k: usize) -> Self {
        self.repeats = k;
        self
    }

    /// Runs `rounds` whole rounds of the `times` calls first (same calls, same
    /// concurrency limit), to warm caches, allocators and the loop up; their calls
    /// are counted nowhere in the bench's figures, and their results are dropped. A
    /// warm-up call that fails fails the bench, as a measured one does. `0`, the
    /// default, runs no warm-up round.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let mut cold = true;
    /// let bench = Bench::builder(10)
    ///     .warm_up(1)
    ///     .run(|i| {
    ///         // The first round's calls are slow: the cache is cold.
    ///         let ms = if cold { 100 } else { 1 };
    ///         if i == 9 { cold = false }
    ///         async move {
    ///             tokio::time::sleep(Duration::from_millis(ms)).await;
    ///             Ok::<_, Error>(())
    ///         }
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(bench.warm_up(), 1);
    /// assert_eq!(bench.latency().unwrap().max, Duration::from_millis(1)); // warm only
    /// assert_eq!(bench.taken(), Duration::from_millis(1));
    /// # });
    /// ```
    pub fn warm_up(mut self, rounds: usize) -> Self {
        self.warm_up = rounds;
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
    /// future) fails the bench with that error's kind, carrying a
    /// [`CallError`](super::CallError) with the call's index and its own error
    /// (it prints `bench call 3 failed`, then the call's error as its source); the
    /// calls still running are dropped. [`ErrorKind::InvalidInput`]
    /// for a concurrency limit of 0, or when `times` is too large to allocate.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{bench::CallError, Bench, Error};
    ///
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(5)
    ///     .run(|i| async move { if i == 3 { Err(Error::user("three")) } else { Ok(i) } })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(CallError::index_of(&err), Some(3));
    /// assert_eq!(err.to_string(), "bench call 3 failed");
    /// assert_eq!(format!("{}", std::error::Error::source(&err).unwrap()), "three");
    /// # });
    /// ```
    pub fn run<F, Fut, T, E>(self, call: F) -> BenchFuture<F, Fut, T>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        BenchFuture::new(call, self.times, self.concurrency).rounds(self.warm_up, self.repeats)
    }

    /// Runs the bench on `lp` as a task and returns at once a promise of it. `call`
    /// is sent to the loop's thread; the futures it makes there need not be `Send`.
    ///
    /// # Errors
    ///
    /// The promise fails as [`run`](Builder::run) does, or with
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
        T: Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync + 'static>> + 'static,
    {
        lp.spawn_settling(std::any::type_name::<F>(), move || self.run(call))
    }
}
