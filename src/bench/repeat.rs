//! [`Repeat`]: one measured round of a bench run with
//! [`Builder::repeats`](super::Builder::repeats), and the spread of the rounds'
//! figures (lowest, mean, highest) that the table and [`Comparison`] show.
//!
//! [`Comparison`]: super::Comparison

use std::time::Duration;

use tokio::time::Instant;

use super::{Bench, Latency};

/// One measured round of a bench: its `times` calls, when they started and finished,
/// and their latency summary. A bench made with
/// [`Builder::repeats(k)`](super::Builder::repeats) has `k` of them,
/// [`Bench::repeats`]; warm-up rounds are not among them.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, Error};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let mut round = 0;
/// let bench = Bench::builder(10)
///     .repeats(3)
///     .concurrency(1)
///     .run(|i| {
///         // Each round's calls take a millisecond longer than the last round's.
///         let ms = 1 + round as u64;
///         if i == 9 { round += 1 }
///         async move {
///             tokio::time::sleep(Duration::from_millis(ms)).await;
///             Ok::<_, Error>(())
///         }
///     })
///     .await
///     .unwrap();
/// let taken: Vec<_> = bench.repeats().iter().map(|r| r.taken()).collect();
/// let ms = Duration::from_millis;
/// assert_eq!(taken, [ms(10), ms(20), ms(30)]);
/// assert_eq!(bench.repeats()[0].throughput(), Some(1000.0));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repeat {
    calls: usize,
    start: Instant,
    finish: Instant,
    latency: Option<Latency>,
}

impl Repeat {
    pub(super) fn new(
        calls: usize,
        start: Instant,
        finish: Instant,
        latency: Option<Latency>,
    ) -> Self {
        Repeat {
            calls,
            start,
            finish,
            latency,
        }
    }

    /// When the round started: when the round before it finished (rounds follow one
    /// another with no gap), or the bench's start for the first round.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(5).repeats(2).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(b.repeats()[0].start(), b.start());
    /// assert_eq!(b.repeats()[1].start(), b.repeats()[0].finish());
    /// # });
    /// ```
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When the round saw its last call finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(5).repeats(2).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(b.repeats()[1].finish(), b.finish());
    /// # });
    /// ```
    pub fn finish(&self) -> Instant {
        self.finish
    }

    /// `finish - start`: the time the round's calls took together.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(5).repeats(4).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// let sum: Duration = b.repeats().iter().map(|r| r.taken()).sum();
    /// assert_eq!(sum, b.taken()); // the rounds' times add up to the bench's
    /// # });
    /// ```
    pub fn taken(&self) -> Duration {
        self.finish.saturating_duration_since(self.start)
    }

    /// The round's calls per second; `None` for zero calls or when no time passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let b = Bench::builder(4)
    ///     .repeats(2)
    ///     .run(|_| async {
    ///         tokio::time::sleep(Duration::from_millis(500)).await;
    ///         Ok::<_, Error>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(b.repeats()[1].throughput(), Some(8.0)); // 4 calls in 0.5 s
    /// # });
    /// ```
    pub fn throughput(&self) -> Option<f64> {
        rate(self.calls, self.taken())
    }

    /// The latency summary of the round's calls; `None` for zero calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(3).repeats(2).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert!(b.repeats().iter().all(|r| r.latency().is_some()));
    /// # });
    /// ```
    pub fn latency(&self) -> Option<Latency> {
        self.latency
    }
}

/// `calls` per second over `taken`; `None` for zero calls or zero time.
pub(super) fn rate(calls: usize, taken: Duration) -> Option<f64> {
    let secs = taken.as_secs_f64();
    (calls > 0 && secs > 0.0).then(|| calls as f64 / secs)
}

/// The mean of `durations`, to the nanosecond; zero for none.
fn mean(durations: impl Iterator<Item = Duration>) -> Duration {
    let (mut total, mut n) = (0u128, 0u128);
    for d in durations {
        total += d.as_nanos();
        n += 1;
    }
    let nanos = total.checked_div(n).unwrap_or(0);
    Duration::new(
        u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
        (nanos % 1_000_000_000) as u32,
    )
}

/// The lowest, mean and highest of each latency statistic across `summaries`, each
/// statistic on its own (the lowest `p50` and the lowest `max` may come from two
/// rounds); `None` when there are none or one is missing (a round of zero calls).
pub(super) fn latency_spread(summaries: &[Option<Latency>]) -> Option<[Latency; 3]> {
    let all: Vec<Latency> = summaries.iter().copied().collect::<Option<_>>()?;
    let first = *all.first()?;
    let fold = |pick: fn(Duration, Duration) -> Duration| {
        all.iter().skip(1).fold(first, |acc, l| Latency {
            min: pick(acc.min, l.min),
            mean: pick(acc.mean, l.mean),
            p50: pick(acc.p50, l.p50),
            p90: pick(acc.p90, l.p90),
            p99: pick(acc.p99, l.p99),
            max: pick(acc.max, l.max),
        })
    };
    let average = |field: fn(&Latency) -> Duration| mean(all.iter().map(field));
    let means = Latency {
        min: average(|l| l.min),
        mean: average(|l| l.mean),
        p50: average(|l| l.p50),
        p90: average(|l| l.p90),
        p99: average(|l| l.p99),
        max: average(|l| l.max),
    };
    Some([fold(Duration::min), means, fold(Duration::max)])
}

impl<T> Bench<T> {
    /// The measured rounds, in the order they ran: one for a bench of one repeat
    /// (the default), `k` for [`Builder::repeats(k)`](super::Builder::repeats). Warm-up
    /// rounds are not among them.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let one = Bench::builder(3).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(one.repeats().len(), 1);
    /// let five = Bench::builder(3).repeats(5).warm_up(2).run(|_| async { Ok::<_, Error>(()) });
    /// assert_eq!(five.await.unwrap().repeats().len(), 5);
    /// # });
    /// ```
    pub fn repeats(&self) -> &[Repeat] {
        &self.repeats
    }

    /// How many warm-up rounds ran before the measured ones (0 by default). Their
    /// calls ran, and are counted nowhere in the bench's figures.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let b = Bench::builder(3).warm_up(1).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(b.warm_up(), 1);
    /// assert_eq!(b.latencies().len(), 3); // the warm-up's 3 calls are not counted
    /// # });
    /// ```
    pub fn warm_up(&self) -> usize {
        self.warm_up
    }

    /// The lowest and highest calls per second of the measured rounds: how far apart
    /// identical rounds came out. A single round gives its own rate twice. `None`
    /// when a round has no throughput (no calls, or no time passed).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let mut round = 0;
    /// let b = Bench::builder(10)
    ///     .repeats(2)
    ///     .concurrency(1)
    ///     .run(|i| {
    ///         let ms = if round == 0 { 1 } else { 2 }; // the second round is slower
    ///         if i == 9 { round += 1 }
    ///         async move {
    ///             tokio::time::sleep(Duration::from_millis(ms)).await;
    ///             Ok::<_, Error>(())
    ///         }
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(b.throughput_range(), Some((500.0, 1000.0)));
    /// # });
    /// ```
    pub fn throughput_range(&self) -> Option<(f64, f64)> {
        let mut rates = self.repeats.iter().map(Repeat::throughput);
        let first = rates.next()??;
        rates.try_fold((first, first), |(low, high), r| {
            r.map(|r| (low.min(r), high.max(r)))
        })
    }

    /// The lowest, mean and highest of each latency statistic across the rounds.
    pub(super) fn latency_spread(&self) -> Option<[Latency; 3]> {
        let summaries: Vec<Option<Latency>> = self.repeats.iter().map(Repeat::latency).collect();
        latency_spread(&summaries)
    }

    /// The lowest and highest of the rounds' times.
    pub(super) fn taken_range(&self) -> (Duration, Duration) {
        let taken = self.repeats.iter().map(Repeat::taken);
        let low = taken.clone().min().unwrap_or_default();
        (low, taken.max().unwrap_or_default())
    }

    /// The mean time of a round.
    pub(super) fn mean_taken(&self) -> Duration {
        mean(self.repeats.iter().map(Repeat::taken))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn summary(ms: u64) -> Option<Latency> {
        Latency::of(&[Duration::from_millis(ms)])
    }

    #[test]
    fn the_spread_takes_each_statistic_on_its_own() {
        let [low, mean, high] = latency_spread(&[summary(1), summary(3), summary(2)]).unwrap();
        assert_eq!(low.p50, Duration::from_millis(1));
        assert_eq!(mean.p50, Duration::from_millis(2));
        assert_eq!(high.max, Duration::from_millis(3));
        assert_eq!(latency_spread(&[summary(1), None]), None);
        assert_eq!(latency_spread(&[]), None);
    }
}
