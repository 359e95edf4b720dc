//! [`Comparison`]: two benches side by side, as ratios, saying which is faster.

use std::fmt;
use std::time::Duration;

use super::{Bench, Latency};

/// Two benches side by side: throughput and each latency statistic of both, as
/// ratios saying how many times faster the first is (`> 1.0`) or slower (`< 1.0`).
/// Made by [`Bench::compare`]; `Display` prints the table and a verdict, so a
/// program can compare two implementations of the same job as it runs.
///
/// When either bench ran more than one round ([`Builder::repeats`](super::Builder::repeats)),
/// each row is judged by the rounds' ranges: where the two ranges overlap, the row
/// says `within noise` instead of a ratio; elsewhere it gives the ratio with the
/// lowest and highest ratio the rounds allow, as in `2.50x faster (2.10x .. 2.95x)`.
/// Two benches of one round each have no spread to judge by, and give plain ratios.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, Error};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let with_sleep = |ms: u64| move |_| async move {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
///     Ok::<_, Error>(())
/// };
/// let fast = Bench::builder(100).concurrency(10).run(with_sleep(2)).await.unwrap();
/// let slow = Bench::builder(100).concurrency(10).run(with_sleep(5)).await.unwrap();
///
/// let cmp = fast.compare(&slow).labels("cached", "uncached");
/// assert_eq!(cmp.throughput_ratio(), Some(2.5)); // 2.5 times the calls per second
/// assert_eq!(cmp.latency_ratios().unwrap().p50, 2.5); // 2.5 times less latency
/// assert!(cmp.to_string().ends_with("cached is 2.50x faster than uncached (calls per second)"));
/// println!("{cmp}");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    labels: [String; 2],
    calls: [usize; 2],
    throughput: [Option<f64>; 2],
    latency: [Option<Latency>; 2],
    /// How many measured rounds each bench ran.
    rounds: [usize; 2],
    /// Each bench's lowest and highest calls per second across its rounds.
    throughput_range: [Option<(f64, f64)>; 2],
    /// Each bench's lowest and highest of each latency statistic across its rounds.
    latency_range: [Option<(Latency, Latency)>; 2],
}

/// How many times faster the first bench of a [`Comparison`] is at each latency
/// statistic: the second's latency divided by the first's, so that `> 1.0` means
/// faster, as for throughput. Two zero latencies give `1.0`; a zero latency against a
/// non-zero one gives an infinity.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Bench, Error};
/// # futures::executor::block_on(async {
/// let a = Bench::builder(3).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
/// let ratios = a.compare(&a).latency_ratios().unwrap();
/// assert_eq!((ratios.p50, ratios.max), (1.0, 1.0)); // a bench is as fast as itself
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LatencyRatios {
    /// At the fastest call.
    pub min: f64,
    /// At the mean.
    pub mean: f64,
    /// At the median.
    pub p50: f64,
    /// At the 90th percentile.
    pub p90: f64,
    /// At the 99th percentile.
    pub p99: f64,
    /// At the slowest call.
    pub max: f64,
}

impl<T> Bench<T> {
    /// This bench next to `other`: ratios of throughput and of each latency
    /// statistic, `> 1.0` when this one is faster. The two benches' results may be of
    /// different types: they are two implementations of one job.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let a = Bench::builder(10).run(|i| async move { Ok::<_, Error>(i) }).await.unwrap();
    /// let b = Bench::builder(10).run(|i| async move { Ok::<_, Error>(i.to_string()) }).await.unwrap();
    /// println!("{}", a.compare(&b).labels("usize", "String"));
    /// # });
    /// ```
    pub fn compare<U>(&self, other: &Bench<U>) -> Comparison {
        let latency_range = |spread: Option<[Latency; 3]>| spread.map(|[low, _, high]| (low, high));
        Comparison {
            labels: ["this".to_owned(), "other".to_owned()],
            calls: [self.times(), other.times()],
            throughput: [self.throughput(), other.throughput()],
            latency: [self.latency(), other.latency()],
            rounds: [self.repeats().len(), other.repeats().len()],
            throughput_range: [self.throughput_range(), other.throughput_range()],
            latency_range: [
                latency_range(self.latency_spread()),
                latency_range(other.latency_spread()),
            ],
        }
    }
}

/// `other / this`, the speed-up of `this` at a latency, with the zero cases of
/// [`LatencyRatios`].
fn speedup(this: Duration, other: Duration) -> f64 {
    match (this.is_zero(), other.is_zero()) {
        (true, true) => 1.0,
        (true, false) => f64::INFINITY,
        _ => other.as_secs_f64() / this.as_secs_f64(),
    }
}

/// Whether the ranges `a` and `b` share a point.
fn overlap<V: PartialOrd>(a: (V, V), b: (V, V)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The ratio and its range in words, as (`2.50x faster`, `2.10x .. 2.95x`) or
/// (`1.25x slower`, `1.10x .. 1.40x`); `None` unless all three are finite and
/// positive.
fn ratio_with_range(ratio: f64, (low, high): (f64, f64)) -> Option<(String, String)> {
    let finite = |r: f64| r.is_finite() && r > 0.0;
    if !(finite(ratio) && finite(low) && finite(high)) {
        return None;
    }
    Some(if ratio >= 1.0 {
        (
            format!("{ratio:.2}x faster"),
            format!("{low:.2}x .. {high:.2}x"),
        )
    } else {
        (
            format!("{:.2}x slower", 1.0 / ratio),
            format!("{:.2}x .. {:.2}x", 1.0 / high, 1.0 / low),
        )
    })
}

/// `within noise` when the ranges overlapped, else the ratio and its range:
/// `2.50x faster (2.10x .. 2.95x)`.
fn ranged_verdict(ratio: f64, range: (f64, f64), overlapped: bool) -> String {
    if overlapped {
        return "within noise".to_owned();
    }
    match ratio_with_range(ratio, range) {
        Some((v, range)) => format!("{v} ({range})"),
        None => verdict(ratio),
    }
}

/// `2.50x faster`, `1.25x slower`, or `same` within half a percent.
fn verdict(ratio: f64) -> String {
    if ratio.is_nan() {
        "-".to_owned()
    } else if ratio.is_infinite() {
        "faster (this: 0)".to_owned()
    } else if ratio == 0.0 {
        "slower (other: 0)".to_owned()
    } else if (ratio - 1.0).abs() < 0.005 {
        "same".to_owned()
    } else if ratio > 1.0 {
        format!("{ratio:.2}x faster")
    } else {
        format!("{:.2}x slower", 1.0 / ratio)
    }
}

impl Comparison {
    /// Names the two benches in the printed table (by default `this` and `other`).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let a = Bench::builder(1).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// let table = a.compare(&a).labels("old", "new").to_string();
    /// assert!(table.lines().next().unwrap().contains("old"));
    /// # });
    /// ```
    pub fn labels(mut self, this: impl Into<String>, other: impl Into<String>) -> Self {
        self.labels = [this.into(), other.into()];
        self
    }

    /// This bench's calls per second over the other's: `> 1.0` when this one is
    /// faster. `None` when either has no throughput (no calls, or no time passed).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let none = Bench::builder(0).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert_eq!(none.compare(&none).throughput_ratio(), None);
    /// # });
    /// ```
    pub fn throughput_ratio(&self) -> Option<f64> {
        match self.throughput {
            [Some(this), Some(other)] if other > 0.0 => Some(this / other),
            _ => None,
        }
    }

    /// Whether the two benches are within noise of each other: either ran more than
    /// one round, and their ranges across rounds overlap, in calls per second (or in
    /// median latency when either has no throughput, as the closing line judges).
    /// `false` for two benches of one round each: they have no spread to judge by.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// // Rounds of calls sleeping `ms[round]` milliseconds, one call at a time.
    /// async fn rounds(ms: [u64; 3]) -> Bench<()> {
    ///     let mut call = 0;
    ///     Bench::builder(10).concurrency(1).repeats(3).run(|_| {
    ///         let d = Duration::from_millis(ms[call / 10]);
    ///         call += 1;
    ///         async move { tokio::time::sleep(d).await; Ok::<_, Error>(()) }
    ///     }).await.unwrap()
    /// }
    /// let a = rounds([2, 3, 4]).await;
    /// let b = rounds([3, 4, 5]).await; // overlaps a's rounds
    /// let c = rounds([8, 9, 10]).await; // far slower than a's
    /// assert!(a.compare(&b).within_noise());
    /// assert!(a.compare(&b).to_string().ends_with("this and other are within noise (calls per second)"));
    /// assert!(!a.compare(&c).within_noise());
    /// println!("{}", a.compare(&c));
    /// # });
    /// ```
    pub fn within_noise(&self) -> bool {
        if self.rounds.iter().all(|&k| k <= 1) {
            return false;
        }
        match (self.throughput_range, self.latency_range) {
            ([Some(a), Some(b)], _) => overlap(a, b),
            (_, [Some((a_low, a_high)), Some((b_low, b_high))]) => {
                overlap((a_low.p50, a_high.p50), (b_low.p50, b_high.p50))
            }
            _ => false,
        }
    }

    /// The lowest and highest [`throughput_ratio`](Comparison::throughput_ratio) the
    /// rounds allow: this bench's slowest round over the other's fastest, and this
    /// one's fastest over the other's slowest. For two benches of one round each,
    /// the ratio twice. `None` when either has no throughput.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let mut call = 0;
    /// let a = Bench::builder(10).concurrency(1).repeats(2).run(|_| {
    ///     let ms = if call < 10 { 1 } else { 2 }; // a round of 1000/s, one of 500/s
    ///     call += 1;
    ///     async move { tokio::time::sleep(Duration::from_millis(ms)).await; Ok::<_, Error>(()) }
    /// }).await.unwrap();
    /// let b = Bench::builder(10).concurrency(1).run(|_| async {
    ///     tokio::time::sleep(Duration::from_millis(4)).await; // 250/s
    ///     Ok::<_, Error>(())
    /// }).await.unwrap();
    /// assert_eq!(a.compare(&b).throughput_ratio_range(), Some((2.0, 4.0)));
    /// # });
    /// ```
    pub fn throughput_ratio_range(&self) -> Option<(f64, f64)> {
        match self.throughput_range {
            [Some((a_low, a_high)), Some((b_low, b_high))] if b_low > 0.0 && b_high > 0.0 => {
                Some((a_low / b_high, a_high / b_low))
            }
            _ => None,
        }
    }

    /// Whether either bench ran more than one round: then rows are judged by ranges.
    fn ranged(&self) -> bool {
        self.rounds.iter().any(|&k| k > 1)
    }

    /// The verdict of the calls/s row.
    fn throughput_verdict(&self) -> Option<String> {
        let ratio = self.throughput_ratio()?;
        match (
            self.ranged(),
            self.throughput_ratio_range(),
            self.throughput_range,
        ) {
            (true, Some(range), [Some(a), Some(b)]) => {
                Some(ranged_verdict(ratio, range, overlap(a, b)))
            }
            _ => Some(verdict(ratio)),
        }
    }

    /// The verdict of a latency row: `pick` chooses the statistic.
    fn latency_verdict(&self, ratio: f64, pick: fn(&Latency) -> Duration) -> String {
        match (self.ranged(), self.latency_range) {
            (true, [Some((a_low, a_high)), Some((b_low, b_high))]) => {
                let (a, b) = ((pick(&a_low), pick(&a_high)), (pick(&b_low), pick(&b_high)));
                let range = (speedup(a.1, b.0), speedup(a.0, b.1));
                ranged_verdict(ratio, range, overlap(a, b))
            }
            _ => verdict(ratio),
        }
    }

    /// How many times faster this bench is at each latency statistic; `None` when
    /// either bench made no calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Bench, Error};
    /// # futures::executor::block_on(async {
    /// let a = Bench::builder(2).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// let none = Bench::builder(0).run(|_| async { Ok::<_, Error>(()) }).await.unwrap();
    /// assert!(a.compare(&a).latency_ratios().is_some());
    /// assert!(a.compare(&none).latency_ratios().is_none());
    /// # });
    /// ```
    pub fn latency_ratios(&self) -> Option<LatencyRatios> {
        let [Some(this), Some(other)] = self.latency else {
            return None;
        };
        Some(LatencyRatios {
            min: speedup(this.min, other.min),
            mean: speedup(this.mean, other.mean),
            p50: speedup(this.p50, other.p50),
            p90: speedup(this.p90, other.p90),
            p99: speedup(this.p99, other.p99),
            max: speedup(this.max, other.max),
        })
    }

    /// The closing line: which bench is faster, by throughput, else by median latency.
    fn headline(&self) -> String {
        let [this, other] = &self.labels;
        let (ratio, by) = match (self.throughput_ratio(), self.latency_ratios()) {
            (Some(ratio), _) => (ratio, "calls per second"),
            (None, Some(ratios)) => (ratios.p50, "median latency"),
            (None, None) => return "no calls to compare".to_owned(),
        };
        if ratio.is_infinite() || ratio == 0.0 {
            let (zero, slower) = if ratio == 0.0 {
                (other, this)
            } else {
                (this, other)
            };
            return format!("{zero} is faster than {slower} ({by}: {zero}'s is 0, so no ratio)");
        }
        if self.ranged() {
            if self.within_noise() {
                return format!("{this} and {other} are within noise ({by})");
            }
            let range = match by {
                "calls per second" => self.throughput_ratio_range(),
                _ => match self.latency_range {
                    [Some((a_low, a_high)), Some((b_low, b_high))] => Some((
                        speedup(a_high.p50, b_low.p50),
                        speedup(a_low.p50, b_high.p50),
                    )),
                    _ => None,
                },
            };
            if let Some((v, range)) = range.and_then(|range| ratio_with_range(ratio, range)) {
                return format!("{this} is {v} than {other} ({by}; {range} across rounds)");
            }
        }
        match verdict(ratio).as_str() {
            "same" => format!("{this} and {other} are as fast ({by})"),
            v => format!("{this} is {v} than {other} ({by})"),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [this, other] = &self.labels;
        let dash = || "-".to_owned();
        let rate = |r: Option<f64>| r.map_or_else(dash, |r| format!("{r:.0}"));
        writeln!(f, "{:<8} {:>12} {:>12}", "", this, other)?;
        writeln!(
            f,
            "{:<8} {:>12} {:>12}",
            "calls", self.calls[0], self.calls[1]
        )?;
        writeln!(
            f,
            "{:<8} {:>12} {:>12}   {}",
            "calls/s",
            rate(self.throughput[0]),
            rate(self.throughput[1]),
            self.throughput_verdict().unwrap_or_else(dash)
        )?;
        if let ([Some(a), Some(b)], Some(r)) = (self.latency, self.latency_ratios()) {
            type Pick = fn(&Latency) -> Duration;
            let rows: [(&str, f64, Pick); 6] = [
                ("min", r.min, |l| l.min),
                ("mean", r.mean, |l| l.mean),
                ("p50", r.p50, |l| l.p50),
                ("p90", r.p90, |l| l.p90),
                ("p99", r.p99, |l| l.p99),
                ("max", r.max, |l| l.max),
            ];
            for (name, ratio, pick) in rows {
                writeln!(
                    f,
                    "{:<8} {:>12} {:>12}   {}",
                    name,
                    format!("{:.1?}", pick(&a)),
                    format!("{:.1?}", pick(&b)),
                    self.latency_verdict(ratio, pick)
                )?;
            }
        }
        f.write_str(&self.headline())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn verdicts_say_faster_slower_or_same() {
        assert_eq!(verdict(2.5), "2.50x faster");
        assert_eq!(verdict(0.8), "1.25x slower");
        assert_eq!(verdict(1.001), "same");
        assert_eq!(verdict(f64::INFINITY), "faster (this: 0)");
        assert_eq!(verdict(0.0), "slower (other: 0)");
        assert_eq!(verdict(f64::NAN), "-");
    }

    #[test]
    fn ranged_verdicts_say_within_noise_or_give_the_ratio_and_its_range() {
        assert_eq!(ranged_verdict(2.5, (2.0, 3.0), true), "within noise");
        assert_eq!(
            ranged_verdict(2.5, (2.0, 3.0), false),
            "2.50x faster (2.00x .. 3.00x)"
        );
        assert_eq!(
            ranged_verdict(0.5, (0.25, 0.8), false),
            "2.00x slower (1.25x .. 4.00x)"
        );
        assert_eq!(
            ranged_verdict(2.0, (1.0, f64::INFINITY), false),
            "2.00x faster"
        );
    }

    #[test]
    fn ranges_overlap_when_they_share_a_point() {
        assert!(overlap((1.0, 2.0), (2.0, 3.0)));
        assert!(overlap((1.0, 5.0), (2.0, 3.0)));
        assert!(!overlap((1.0, 1.9), (2.0, 3.0)));
        assert!(!overlap((3.5, 4.0), (2.0, 3.0)));
    }

    #[test]
    fn latency_speedups_divide_the_other_by_this_and_handle_zero() {
        let ms = Duration::from_millis;
        assert_eq!(speedup(ms(2), ms(5)), 2.5);
        assert_eq!(speedup(ms(5), ms(2)), 0.4);
        assert_eq!(speedup(Duration::ZERO, Duration::ZERO), 1.0);
        assert_eq!(speedup(Duration::ZERO, ms(1)), f64::INFINITY);
        assert_eq!(speedup(ms(1), Duration::ZERO), 0.0);
    }
}
