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

//!
//! The concept has a file per part: the report types here ([`Bench`], [`Latency`],
//! the table), `histogram.rs` ([`Histogram`]: the latencies in log-scale buckets,
//! drawn with bars), `compare.rs` ([`Comparison`]: two benches as ratios),
//! `builder.rs` ([`Builder`]: how a bench is configured and started), `repeat.rs`
//! ([`Repeat`]: one measured round, and the spread across rounds), `error.rs`
//! ([`CallError`]), `driver.rs` ([`BenchFuture`] and the call driver behind it, on
//! `crate::loom` primitives and model-checked).

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

mod builder;
mod compare;
mod driver;
mod error;
mod histogram;
mod repeat;

pub use builder::Builder;
pub use compare::{Comparison, LatencyRatios};
pub use driver::BenchFuture;
pub use error::CallError;
pub use histogram::{Bucket, Histogram};
pub use repeat::Repeat;

/// The outcome of a benchmark: `times` calls of an async function, all started before
/// any was awaited, their results in call order, and how long they took.
///
/// Made by [`Bench::builder`]: configure the number of calls and an optional
/// concurrency limit, then [`run`](Builder::run) (a future, for any async
/// context) or [`spawn`](Builder::spawn) (on an [`EventLoop`](crate::EventLoop),
/// giving a [`Promise`](crate::Promise)). Times come from tokio's clock ([`tokio::time::Instant`]), so a bench
/// under a paused clock measures virtual time.
///
/// `Display` prints a small table: calls, concurrency limit, time taken, calls per
/// second, and the latency percentiles. The alternate form, `{:#}`, adds the
/// latencies' [`Histogram`] under it, with bars. [`compare`](Bench::compare) sets two
/// benches side by side, as ratios.
///
/// # Repeats and warm-up
///
/// A bench made with [`Builder::repeats(k)`](Builder::repeats) runs its `times` calls
/// in `k` measured rounds, one after another, after
/// [`Builder::warm_up(w)`](Builder::warm_up) rounds whose calls are counted nowhere.
/// Each round's figures are in [`repeats`](Bench::repeats); the bench's own figures
/// pool the measured rounds: [`latencies`](Bench::latencies) holds every measured
/// call, [`taken`](Bench::taken) runs from the first round's start to the last one's
/// finish, [`throughput`](Bench::throughput) is all the measured calls over that
/// time, and [`results`](Bench::results) are the last round's. With more than one
/// round the table has three rows: `mean` (the mean round: its time, the bench's
/// calls per second, the mean of each latency statistic), then `low` and `high`, each
/// column's lowest and highest across the rounds, so it shows how sure the figures
/// are:
///
/// ```
/// use pulsar_async::{Bench, Error};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let mut round = 0;
/// let bench = Bench::builder(10)
///     .concurrency(1)
///     .repeats(2)
///     .run(|i| {
///         let ms = 1 + round; // the second round's calls take 2 ms, the first's 1 ms
///         if i == 9 { round += 1 }
///         async move {
///             tokio::time::sleep(Duration::from_millis(ms)).await;
///             Ok::<_, Error>(())
///         }
///     })
///     .await
///     .unwrap();
/// let table = bench.to_string();
/// let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
/// assert_eq!(rows[0][..3], ["2", "repeats", "calls"]);
/// assert_eq!(rows[1][..6], ["mean", "10", "1", "15.0ms", "667", "1.5ms"]);
/// assert_eq!(rows[2][..6], ["low", "10", "1", "10.0ms", "500", "1.0ms"]);
/// assert_eq!(rows[3][..6], ["high", "10", "1", "20.0ms", "1000", "2.0ms"]);
/// println!("{bench}");
/// # });
/// ```
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
/// println!("{bench:#}"); // the table and a histogram of the latencies
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
    warm_up: usize,
    repeats: Vec<Repeat>,
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

impl<T> Bench<T> {
    /// The number of calls made (in each round, for a bench of
    /// [`repeats`](Builder::repeats)).
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

    /// When the bench started its first call (on tokio's clock); with repeats, its
    /// first measured call (warm-up rounds ran before it).
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

    /// `finish - start`: the time all the calls took together (all the measured
    /// rounds', which follow one another with no gap).
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

    /// The calls' results, in call order (the last round's, for a bench of repeats).
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

    /// Each call's latency, in call order; with repeats, every measured round's in
    /// turn (`times * k` of them).
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

    /// The latency summary: min, mean, p50, p90, p99, max, over all the measured
    /// calls. `None` for a bench of zero calls.
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

    /// Calls per second over the whole bench (all the measured rounds' calls over
    /// [`taken`](Bench::taken)); `None` for zero calls or when no time passed (as
    /// under a paused clock with calls that never sleep).
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
        let rounds = self.repeats.len().max(1);
        repeat::rate(self.times.saturating_mul(rounds), self.taken())
    }
}

/// A duration in the table: one decimal.
fn dur(d: Duration) -> String {
    format!("{d:.1?}")
}

/// A rate in the table: whole calls per second, or `-`.
fn per_second(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"))
}

/// The five latency columns of the table, or dashes.
fn latency_cols(latency: Option<Latency>) -> [String; 5] {
    match latency {
        Some(l) => [l.min, l.p50, l.p90, l.p99, l.max].map(dur),
        None => std::array::from_fn(|_| "-".to_owned()),
    }
}

/// One line of the table: an optional first column naming the row, then the nine.
fn table_line(
    f: &mut fmt::Formatter<'_>,
    first: Option<&str>,
    cells: [&str; 4],
    cols: &[String; 5],
) -> fmt::Result {
    if let Some(first) = first {
        write!(f, "{first:>10} ")?;
    }
    write!(
        f,
        "{:>10} {:>6} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
        cells[0], cells[1], cells[2], cells[3], cols[0], cols[1], cols[2], cols[3], cols[4]
    )
}

impl<T> fmt::Display for Bench<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = self
            .concurrency
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        let calls = self.times.to_string();
        let header = ["calls", "limit", "taken", "calls/s"];
        let header_cols = ["min", "p50", "p90", "p99", "max"].map(str::to_owned);
        let rounds = self.repeats.len();
        if rounds > 1 {
            let first = format!("{rounds} repeats");
            table_line(f, Some(&first), header, &header_cols)?;
            let [low, mean, high] = match self.latency_spread() {
                Some(spread) => spread.map(Some),
                None => [None; 3],
            };
            let (taken_low, taken_high) = self.taken_range();
            let (rate_low, rate_high) = match self.throughput_range() {
                Some((low, high)) => (Some(low), Some(high)),
                None => (None, None),
            };
            let rows = [
                ("mean", self.mean_taken(), self.throughput(), mean),
                ("low", taken_low, rate_low, low),
                ("high", taken_high, rate_high, high),
            ];
            for (name, taken, rate, latency) in rows {
                f.write_str("\n")?;
                let cells = [&calls, &limit, &dur(taken), &per_second(rate)];
                table_line(
                    f,
                    Some(name),
                    cells.map(String::as_str),
                    &latency_cols(latency),
                )?;
            }
        } else {
            table_line(f, None, header, &header_cols)?;
            f.write_str("\n")?;
            let cells = [
                &calls,
                &limit,
                &dur(self.taken()),
                &per_second(self.throughput()),
            ];
            table_line(
                f,
                None,
                cells.map(String::as_str),
                &latency_cols(self.latency),
            )?;
        }
        if self.warm_up > 0 {
            let s = if self.warm_up == 1 { "" } else { "s" };
            write!(
                f,
                "\n(after {} warm-up round{s} of {} calls, not counted)",
                self.warm_up, self.times
            )?;
        }
        if f.alternate() {
            write!(f, "\n\n{}", self.histogram())?;
        }
        Ok(())
    }
}

impl<T> fmt::Debug for Bench<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bench")
            .field("times", &self.times)
            .field("concurrency", &self.concurrency)
            .field("taken", &self.taken())
            .field("latency", &self.latency)
            .field("warm_up", &self.warm_up)
            .field("repeats", &self.repeats.len())
            .finish_non_exhaustive()
    }
}
