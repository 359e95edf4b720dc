//! [`Comparison`]: two benches side by side, as ratios, saying which is faster.

use std::fmt;
use std::time::Duration;

use super::{Bench, Latency};

/// Two benches side by side: throughput and each latency statistic of both, as
/// ratios saying how many times faster the first is (`> 1.0`) or slower (`< 1.0`).
/// Made by [`Bench::compare`]; `Display` prints the table and a verdict, so a
/// program can compare two implementations of the same job as it runs.
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
        Comparison {
            labels: ["this".to_owned(), "other".to_owned()],
            calls: [self.times(), other.times()],
            throughput: [self.throughput(), other.throughput()],
            latency: [self.latency(), other.latency()],
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
            self.throughput_ratio().map_or_else(dash, verdict)
        )?;
        if let ([Some(a), Some(b)], Some(r)) = (self.latency, self.latency_ratios()) {
            let rows = [
                ("min", a.min, b.min, r.min),
                ("mean", a.mean, b.mean, r.mean),
                ("p50", a.p50, b.p50, r.p50),
                ("p90", a.p90, b.p90, r.p90),
                ("p99", a.p99, b.p99, r.p99),
                ("max", a.max, b.max, r.max),
            ];
            for (name, a, b, ratio) in rows {
                writeln!(
                    f,
                    "{:<8} {:>12} {:>12}   {}",
                    name,
                    format!("{a:.1?}"),
                    format!("{b:.1?}"),
                    verdict(ratio)
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
    fn latency_speedups_divide_the_other_by_this_and_handle_zero() {
        let ms = Duration::from_millis;
        assert_eq!(speedup(ms(2), ms(5)), 2.5);
        assert_eq!(speedup(ms(5), ms(2)), 0.4);
        assert_eq!(speedup(Duration::ZERO, Duration::ZERO), 1.0);
        assert_eq!(speedup(Duration::ZERO, ms(1)), f64::INFINITY);
        assert_eq!(speedup(ms(1), Duration::ZERO), 0.0);
    }
}
