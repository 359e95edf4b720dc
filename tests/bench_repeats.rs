//! `Bench` with repeats and warm-up, so that a bench says how sure it is:
//!
//! - `Builder::repeats(k)` runs the calls in `k` measured rounds, one after another
//!   with no gap; `warm_up(w)` runs `w` rounds first, counted in no figure; `warm_up(0)`
//!   (the default) runs none, `repeats(1)` is the default, `repeats(0)` is an
//!   `InvalidInput` error and makes no call.
//! - Each round has its own figures; the bench's figures pool the measured rounds.
//! - The table shows the mean round and each column's lowest and highest.
//! - `compare` says `within noise` when the ranges overlap, otherwise gives the ratio
//!   with its range; two benches of one round each keep their plain verdicts.
//!
//! Counting, not wall-clock: how many times the body ran, under tokio's paused clock.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use pulsar_async::bench::CallError;
use pulsar_async::{Bench, Error, ErrorKind, EventLoop};
use tokio::time::sleep;

const LONG: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// A paused-clock bench of `times` calls one at a time, in `warm_up` then `repeats`
/// rounds; a call of round `r` (warm-up rounds counted, from 0) sleeps `latency(r)`
/// milliseconds and gives `r`. Also gives how many times the body ran.
fn rounds(
    times: usize,
    warm_up: usize,
    repeats: usize,
    latency: impl Fn(usize) -> u64,
) -> (Result<Bench<usize>, Error>, usize) {
    let made = Rc::new(Cell::new(0usize));
    let body = {
        let made = made.clone();
        move |_| {
            let round = made.get() / times.max(1);
            made.set(made.get() + 1);
            let d = ms(latency(round));
            async move {
                sleep(d).await;
                Ok::<_, Error>(round)
            }
        }
    };
    let bench = paused().block_on(
        Bench::builder(times)
            .concurrency(1)
            .warm_up(warm_up)
            .repeats(repeats)
            .run(body),
    );
    (bench, made.get())
}

#[test]
fn warm_up_rounds_run_the_body_but_count_in_no_figure() {
    // Two slow warm-up rounds (100 ms a call), then three of 1 ms a call.
    let (bench, made) = rounds(10, 2, 3, |r| if r < 2 { 100 } else { 1 });
    let bench = bench.unwrap();
    assert_eq!(made, 50, "10 calls in each of 2 + 3 rounds");
    assert_eq!(bench.warm_up(), 2);
    assert_eq!(bench.repeats().len(), 3);
    assert_eq!(bench.latencies().len(), 30);
    assert!(bench.latencies().iter().all(|l| *l == ms(1)));
    let counted: usize = bench.histogram().buckets().iter().map(|b| b.count).sum();
    assert_eq!(counted, 30);
    assert_eq!(bench.taken(), ms(30));
    assert_eq!(bench.throughput(), Some(1000.0));
    assert_eq!(bench.latency().unwrap().max, ms(1));
    assert_eq!(bench.results(), [4; 10], "the last round's results");
    assert!(bench
        .to_string()
        .ends_with("(after 2 warm-up rounds of 10 calls, not counted)"));
}

#[test]
fn warm_up_of_zero_runs_no_warm_up_round() {
    let (bench, made) = rounds(10, 0, 2, |_| 1);
    let bench = bench.unwrap();
    assert_eq!(made, 20);
    assert_eq!(bench.warm_up(), 0);
    assert_eq!(bench.results(), [1; 10]);
    assert!(!bench.to_string().contains("warm-up"));
}

#[test]
fn the_default_is_one_repeat_and_no_warm_up() {
    let made = Cell::new(0);
    let bench = paused()
        .block_on(Bench::builder(7).run(|i| {
            made.set(made.get() + 1);
            async move { Ok::<_, Error>(i) }
        }))
        .unwrap();
    assert_eq!(made.get(), 7);
    assert_eq!(bench.repeats().len(), 1);
    assert_eq!(bench.warm_up(), 0);
    assert_eq!(bench.repeats()[0].taken(), bench.taken());
    assert_eq!(bench.to_string().lines().count(), 2, "the plain table");
}

#[test]
fn repeats_of_zero_is_an_invalid_input_error_and_makes_no_call() {
    let (bench, made) = rounds(10, 1, 0, |_| 1);
    assert_eq!(bench.unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(made, 0);
}

#[test]
fn repeats_too_many_to_hold_are_an_invalid_input_error_not_a_panic() {
    for (times, repeats) in [(usize::MAX / 2, 4), (1, usize::MAX)] {
        let made = Cell::new(0);
        let err = futures::executor::block_on(Bench::builder(times).repeats(repeats).run(|_| {
            made.set(made.get() + 1);
            async { Ok::<_, Error>(()) }
        }))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{times} x {repeats}");
        assert_eq!(made.get(), 0);
    }
}

#[test]
fn each_round_has_its_own_figures_and_the_bench_pools_them() {
    // Rounds of 1, 2 and 3 ms a call.
    let (bench, made) = rounds(10, 0, 3, |r| r as u64 + 1);
    let bench = bench.unwrap();
    assert_eq!(made, 30);
    let taken: Vec<_> = bench.repeats().iter().map(|r| r.taken()).collect();
    assert_eq!(taken, [ms(10), ms(20), ms(30)]);
    let p50s: Vec<_> = bench
        .repeats()
        .iter()
        .map(|r| r.latency().unwrap().p50)
        .collect();
    assert_eq!(p50s, [ms(1), ms(2), ms(3)]);
    assert_eq!(bench.repeats()[0].throughput(), Some(1000.0));
    assert_eq!(bench.taken(), ms(60));
    assert_eq!(bench.throughput(), Some(500.0)); // 30 calls in 60 ms
    let (low, high) = bench.throughput_range().unwrap();
    assert!(
        (low - 1000.0 / 3.0).abs() < 1e-9 && high == 1000.0,
        "{low} {high}"
    );
    let pooled = bench.latency().unwrap();
    assert_eq!((pooled.min, pooled.p50, pooled.max), (ms(1), ms(2), ms(3)));
    assert_eq!(bench.start(), bench.repeats()[0].start());
    assert_eq!(bench.finish(), bench.repeats()[2].finish());
}

#[test]
fn rounds_follow_one_another_with_no_gap() {
    // On the real clock, where a gap between rounds would show.
    let bench = futures::executor::block_on(
        Bench::builder(1000)
            .repeats(5)
            .warm_up(1)
            .run(|i| async move { Ok::<_, Error>(i) }),
    )
    .unwrap();
    for (a, b) in bench.repeats().iter().zip(&bench.repeats()[1..]) {
        assert_eq!(a.finish(), b.start());
    }
    let sum: Duration = bench.repeats().iter().map(|r| r.taken()).sum();
    assert_eq!(sum, bench.taken());
}

#[test]
fn the_table_shows_the_mean_round_and_each_columns_low_and_high() {
    let (bench, _) = rounds(10, 1, 3, |r| [9, 1, 2, 3][r]);
    let expected = [
        " 3 repeats      calls  limit      taken      calls/s        min        p50        p90        p99        max",
        "      mean         10      1     20.0ms          500      2.0ms      2.0ms      2.0ms      2.0ms      2.0ms",
        "       low         10      1     10.0ms          333      1.0ms      1.0ms      1.0ms      1.0ms      1.0ms",
        "      high         10      1     30.0ms         1000      3.0ms      3.0ms      3.0ms      3.0ms      3.0ms",
        "(after 1 warm-up round of 10 calls, not counted)",
    ];
    assert_eq!(bench.unwrap().to_string(), expected.join("\n"));
}

#[test]
fn benches_whose_ranges_overlap_are_within_noise() {
    let (a, _) = rounds(10, 0, 3, |r| [2, 3, 4][r]);
    let (b, _) = rounds(10, 0, 3, |r| [3, 4, 5][r]);
    let cmp = a.unwrap().compare(&b.unwrap()).labels("a", "b");
    assert!(cmp.within_noise());
    let text = cmp.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[2], "calls/s           333          250   within noise",
        "{text}"
    );
    assert_eq!(
        lines.last(),
        Some(&"a and b are within noise (calls per second)")
    );
}

#[test]
fn benches_whose_ranges_do_not_overlap_give_the_ratio_with_its_range() {
    let (fast, _) = rounds(10, 0, 2, |r| [1, 2][r]);
    let (slow, _) = rounds(10, 0, 2, |r| [4, 8][r]);
    let (fast, slow) = (fast.unwrap(), slow.unwrap());
    let cmp = fast.compare(&slow).labels("fast", "slow");
    assert!(!cmp.within_noise());
    assert_eq!(cmp.throughput_ratio_range(), Some((2.0, 8.0)));
    let expected = [
        "                 fast         slow",
        "calls              10           10",
        "calls/s           667          167   4.00x faster (2.00x .. 8.00x)",
        "min             1.0ms        4.0ms   4.00x faster (2.00x .. 8.00x)",
        "mean            1.5ms        6.0ms   4.00x faster (2.00x .. 8.00x)",
        "p50             1.0ms        4.0ms   4.00x faster (2.00x .. 8.00x)",
        "p90             2.0ms        8.0ms   4.00x faster (2.00x .. 8.00x)",
        "p99             2.0ms        8.0ms   4.00x faster (2.00x .. 8.00x)",
        "max             2.0ms        8.0ms   4.00x faster (2.00x .. 8.00x)",
        "fast is 4.00x faster than slow (calls per second; 2.00x .. 8.00x across rounds)",
    ];
    assert_eq!(cmp.to_string(), expected.join("\n"));
    let back = slow.compare(&fast).to_string();
    assert!(
        back.ends_with(
            "this is 4.00x slower than other (calls per second; 2.00x .. 8.00x across rounds)"
        ),
        "{back}"
    );
}

#[test]
fn two_benches_of_one_round_each_keep_the_plain_verdict() {
    let (a, _) = rounds(10, 0, 1, |_| 2);
    let (b, _) = rounds(10, 0, 1, |_| 2);
    let cmp = a.unwrap().compare(&b.unwrap());
    assert!(!cmp.within_noise(), "one round each: no spread to judge by");
    assert!(cmp
        .to_string()
        .ends_with("this and other are as fast (calls per second)"));
}

#[test]
fn a_warm_up_call_that_fails_fails_the_bench_with_its_index() {
    let made = Cell::new(0);
    let err = futures::executor::block_on(Bench::builder(5).warm_up(1).repeats(3).run(|i| {
        made.set(made.get() + 1);
        async move {
            if i == 3 {
                Err(Error::user("cold"))
            } else {
                Ok(i)
            }
        }
    }))
    .unwrap_err();
    assert_eq!(CallError::index_of(&err), Some(3));
    assert_eq!(made.get(), 4, "the bench stopped at the failing call");
}

#[test]
fn a_bench_of_repeats_runs_on_an_event_loop() {
    let lp = EventLoop::new().unwrap();
    let bench = Bench::builder(100)
        .repeats(3)
        .warm_up(1)
        .spawn(&lp, |i| {
            let local = Rc::new(i); // !Send: the calls run on the loop
            async move { Ok::<_, Error>(*local) }
        })
        .wait_timeout(LONG)
        .unwrap();
    assert_eq!(bench.repeats().len(), 3);
    assert_eq!(bench.latencies().len(), 300);
    assert_eq!(bench.results()[99], 99);
}
