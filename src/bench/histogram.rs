//! [`Histogram`]: a bench's latencies in log-scale buckets, drawn with bars in the
//! terminal (the alternate form `{:#}` of [`Bench`]).

use std::fmt;
use std::time::Duration;

use super::{Bench, Latency};

/// The mantissas of the bucket edges: 1, 2, 5, 10, 20, 50, ... nanoseconds, three
/// buckets per decade.
const MANTISSAS: [u64; 3] = [1, 2, 5];
/// The width of the longest bar, in characters.
const BAR_WIDTH: usize = 40;
/// A bar's last character, by eighths of a character.
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// A bench's latencies counted in log-scale buckets, whose edges run 1, 2, 5, 10, 20,
/// 50, ... (in nanoseconds, so `1µs`, `2µs`, `5µs`, `10µs`, ...): three buckets per
/// decade, from the one holding the fastest call to the one holding the slowest.
///
/// `Display` draws it as `hyperfine` and `oha` do, one bar per bucket, with the
/// count, the share of calls, and which percentiles fall in the bucket; it is what
/// the alternate form of a [`Bench`] (`{:#}`) prints under its table.
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
///         // 90 fast calls of 1 ms, 10 slow ones of 30 ms.
///         let ms = if i % 10 == 9 { 30 } else { 1 };
///         tokio::time::sleep(Duration::from_millis(ms)).await;
///         Ok::<_, Error>(())
///     })
///     .await
///     .unwrap();
/// let histogram = bench.histogram();
/// let counts: Vec<_> = histogram.buckets().iter().map(|b| (b.low, b.count)).collect();
/// let ms = Duration::from_millis;
/// assert_eq!(counts, [(ms(1), 90), (ms(2), 0), (ms(5), 0), (ms(10), 0), (ms(20), 10)]);
/// println!("{histogram}");
/// println!("{bench:#}"); // the table, then the same histogram
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    buckets: Vec<Bucket>,
    calls: usize,
    latency: Option<Latency>,
}

/// One bucket of a [`Histogram`]: the calls whose latency was at least `low` and
/// less than `high`.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, Error};
/// # futures::executor::block_on(async {
/// let bench = Bench::builder(3).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
/// let total: usize = bench.histogram().buckets().iter().map(|b| b.count).sum();
/// assert_eq!(total, 3);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Bucket {
    /// The lowest latency of the bucket (included).
    pub low: Duration,
    /// The end of the bucket (excluded).
    pub high: Duration,
    /// How many calls fell in it.
    pub count: usize,
}

impl<T> Bench<T> {
    /// The calls' latencies counted in log-scale buckets; the alternate form of the
    /// bench (`{:#}`) prints it under the table.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let empty = Bench::builder(0).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert!(empty.histogram().buckets().is_empty());
    /// # });
    /// ```
    pub fn histogram(&self) -> Histogram {
        Histogram::of(self.latencies(), self.latency())
    }
}

/// The `k`-th bucket edge: 1, 2, 5, 10, 20, 50, ... nanoseconds; `None` past what a
/// `Duration` of nanoseconds in a `u64` holds.
fn edge(k: u32) -> Option<Duration> {
    let mantissa = MANTISSAS[(k % 3) as usize];
    let nanos = 10u64.checked_pow(k / 3)?.checked_mul(mantissa)?;
    Some(Duration::from_nanos(nanos))
}

impl Histogram {
    fn of(latencies: &[Duration], latency: Option<Latency>) -> Histogram {
        let mut histogram = Histogram {
            buckets: Vec::new(),
            calls: latencies.len(),
            latency,
        };
        let Some(max) = latencies.iter().copied().max() else {
            return histogram;
        };
        let min_nonzero = latencies.iter().copied().filter(|d| !d.is_zero()).min();
        // The edges from the one at or below the fastest (non-zero) call to the first
        // above the slowest; zero latencies get a bucket from 0 to the first edge.
        let mut edges: Vec<Duration> = Vec::new();
        if let Some(min) = min_nonzero {
            let mut k = 0;
            while edge(k + 1).is_some_and(|e| e <= min) {
                k += 1;
            }
            loop {
                match edge(k) {
                    Some(e) if e <= max => edges.push(e),
                    Some(e) => {
                        edges.push(e);
                        break;
                    }
                    None => {
                        edges.push(Duration::MAX);
                        break;
                    }
                }
                k += 1;
            }
        } else {
            edges.push(Duration::from_nanos(1));
        }
        if latencies.iter().any(Duration::is_zero) {
            edges.insert(0, Duration::ZERO);
        }
        histogram.buckets = edges
            .windows(2)
            .map(|w| Bucket {
                low: w[0],
                high: w[1],
                count: 0,
            })
            .collect();
        let last = histogram.buckets.len().saturating_sub(1);
        for latency in latencies {
            // The last bucket whose low edge is at or below the latency (the last
            // bucket also holds a latency of `Duration::MAX`, its open end).
            let index = edges.partition_point(|e| e <= latency).saturating_sub(1);
            if let Some(bucket) = histogram.buckets.get_mut(index.min(last)) {
                bucket.count += 1;
            }
        }
        histogram
    }

    /// The buckets, fastest first; empty for a bench of zero calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let bench = Bench::builder(5).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// let buckets = bench.histogram();
    /// assert!(buckets.buckets().windows(2).all(|w| w[0].high == w[1].low));
    /// # });
    /// ```
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The percentiles that fall in `bucket`, as labels.
    fn marks(&self, bucket: &Bucket) -> String {
        let Some(l) = self.latency else {
            return String::new();
        };
        let marks: Vec<&str> = [("p50", l.p50), ("p90", l.p90), ("p99", l.p99)]
            .into_iter()
            .filter(|(_, at)| bucket.low <= *at && *at < bucket.high)
            .map(|(name, _)| name)
            .collect();
        if marks.is_empty() {
            String::new()
        } else {
            format!("  <- {}", marks.join(" "))
        }
    }
}

/// A bar `count / most` of the full width, in eighths of a character; a bucket that
/// has any call gets at least one eighth, so that it shows.
fn bar(count: usize, most: usize) -> String {
    if count == 0 || most == 0 {
        return String::new();
    }
    let eighths = (count.saturating_mul(BAR_WIDTH * 8) / most).max(1);
    let mut bar = "█".repeat(eighths / 8);
    let partial = eighths % 8;
    if partial > 0 {
        bar.push(EIGHTHS[partial]);
    }
    bar
}

impl fmt::Display for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.buckets.is_empty() {
            return f.write_str("latency histogram: no calls");
        }
        write!(f, "latency histogram ({} calls, log scale)", self.calls)?;
        let most = self.buckets.iter().map(|b| b.count).max().unwrap_or(0);
        for bucket in &self.buckets {
            let share = bucket.count as f64 * 100.0 / self.calls.max(1) as f64;
            let high = if bucket.high == Duration::MAX {
                "...".to_owned()
            } else {
                format!("{:?}", bucket.high)
            };
            write!(
                f,
                "\n{:>9} .. {:<9} |{:<width$}| {:>8} {:>5.1}%{}",
                format!("{:?}", bucket.low),
                high,
                bar(bucket.count, most),
                bucket.count,
                share,
                self.marks(bucket),
                width = BAR_WIDTH
            )?;
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn edges_run_one_two_five_per_decade() {
        let edges: Vec<_> = (0..7).map(|k| edge(k).unwrap()).collect();
        let ns = Duration::from_nanos;
        assert_eq!(
            edges,
            [ns(1), ns(2), ns(5), ns(10), ns(20), ns(50), ns(100)]
        );
        assert_eq!(edge(60), None, "past u64 nanoseconds");
    }

    #[test]
    fn every_latency_lands_in_the_bucket_that_spans_it() {
        let latencies = [ms(1), ms(2), ms(3), ms(4), ms(5), ms(19), ms(20)];
        let h = Histogram::of(&latencies, None);
        let got: Vec<_> = h.buckets.iter().map(|b| (b.low, b.high, b.count)).collect();
        assert_eq!(
            got,
            [
                (ms(1), ms(2), 1),
                (ms(2), ms(5), 3),
                (ms(5), ms(10), 1),
                (ms(10), ms(20), 1),
                (ms(20), ms(50), 1)
            ]
        );
    }

    #[test]
    fn zero_latencies_get_a_bucket_from_zero() {
        let h = Histogram::of(&[Duration::ZERO, Duration::ZERO, ms(1)], None);
        assert_eq!(
            h.buckets[0],
            Bucket {
                low: Duration::ZERO,
                high: ms(1),
                count: 2
            }
        );
        let only_zeros = Histogram::of(&[Duration::ZERO], None);
        assert_eq!(only_zeros.buckets.len(), 1);
        assert_eq!(only_zeros.buckets[0].count, 1);
    }

    #[test]
    fn a_huge_latency_gets_an_open_ended_last_bucket() {
        let h = Histogram::of(&[Duration::MAX], None);
        assert_eq!(
            h.buckets.last().map(|b| (b.high, b.count)),
            Some((Duration::MAX, 1))
        );
    }

    #[test]
    fn bars_scale_to_the_fullest_bucket_and_a_single_call_still_shows() {
        assert_eq!(bar(10, 10).chars().count(), BAR_WIDTH);
        assert_eq!(bar(5, 10).chars().count(), BAR_WIDTH / 2);
        assert_eq!(bar(1, 1_000_000), "▏");
        assert_eq!(bar(0, 10), "");
    }
}
