//! `Bench`: one test per rule of SPEC Part 1, plus what this crate adds (latency
//! percentiles, throughput, a concurrency limit, the table, typed failures).

mod common;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pulsar_async::bench::{CallError as BenchCallError, Latency};
use pulsar_async::{Bench, Error, ErrorKind, EventLoop};
use tokio::time::{sleep, Instant};

const LONG: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// SPEC: Bench calls a function `times` times, all at once: each call is started
// before any is awaited.

#[tokio::test(start_paused = true)]
async fn every_call_is_started_before_any_is_awaited() {
    let started = Rc::new(Cell::new(0usize));
    let seen_after_first_await = Rc::new(Cell::new(usize::MAX));
    let bench = Bench::builder(50)
        .run(|_| {
            let (started, seen) = (started.clone(), seen_after_first_await.clone());
            async move {
                started.set(started.get() + 1);
                sleep(ms(1)).await;
                seen.set(seen.get().min(started.get()));
                Ok::<_, Error>(())
            }
        })
        .await
        .unwrap();
    assert_eq!(bench.times(), 50);
    assert_eq!(
        seen_after_first_await.get(),
        50,
        "a call resumed before all had started"
    );
    assert_eq!(bench.taken(), ms(1));
}

// SPEC: it gathers the results: `result` holds them in call order.

#[tokio::test(start_paused = true)]
async fn results_come_back_in_call_order_whatever_order_calls_finish_in() {
    let bench = Bench::builder(10)
        .run(|i| async move {
            sleep(ms(100 - 10 * i as u64)).await;
            Ok::<_, Error>(i * i)
        })
        .await
        .unwrap();
    assert_eq!(bench.results(), [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    assert_eq!(bench.clone().into_results().len(), 10);
}

// SPEC: `start` and `finish` are loop time; `taken` is finish - start.

#[tokio::test(start_paused = true)]
async fn taken_is_finish_minus_start_on_tokios_clock() {
    let before = Instant::now();
    let bench = Bench::builder(3)
        .run(|_| async {
            sleep(Duration::from_secs(3)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    assert_eq!(bench.start(), before);
    assert_eq!(bench.finish(), before + Duration::from_secs(3));
    assert_eq!(bench.taken(), Duration::from_secs(3));
}

// SPEC: one failing call fails the bench (here: with that call's index).

#[tokio::test(start_paused = true)]
async fn one_failing_call_fails_the_bench_with_its_index() {
    let err = Bench::builder(10)
        .run(|i| async move {
            sleep(ms(i as u64)).await;
            if i == 6 {
                Err(std::io::Error::other("disk on fire"))
            } else {
                Ok(i)
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::User);
    assert_eq!(BenchCallError::index_of(&err), Some(6));
    let call = err.downcast_ref::<BenchCallError>().unwrap();
    assert!(call.error().downcast_ref::<std::io::Error>().is_some());
    assert_eq!(err.to_string(), "bench call 6 failed");
}

#[test]
fn a_panicking_call_fails_the_bench_with_its_index_and_the_loop_survives() {
    let lp = EventLoop::new().unwrap();
    let bench = Bench::builder(5).spawn(&lp, |i| async move {
        assert_ne!(i, 2, "call two panics");
        Ok::<_, Error>(i)
    });
    let err = bench.wait_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(BenchCallError::index_of(&err), Some(2));
    let again = Bench::builder(2).spawn(&lp, |i| async move { Ok::<_, Error>(i) });
    assert_eq!(again.wait_timeout(LONG).unwrap().results(), [0, 1]);
}

#[test]
fn a_call_that_panics_before_making_its_future_fails_the_bench_with_its_index() {
    let err = futures::executor::block_on(Bench::builder(3).run(|i| {
        assert_ne!(i, 1, "no future for call one");
        async move { Ok::<_, Error>(i) }
    }))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(BenchCallError::index_of(&err), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_failing_bench_drops_the_calls_still_running() {
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let err = Bench::builder(4)
        .run(|i| {
            let guard = Guard(dropped.clone());
            async move {
                let _guard = guard;
                if i == 0 {
                    sleep(ms(1)).await;
                    return Err(Error::user("first"));
                }
                sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(BenchCallError::index_of(&err), Some(0));
    assert_eq!(dropped.load(Ordering::Relaxed), 4);
}

// Beyond the original: latency percentiles, throughput, a concurrency limit, a table.

#[tokio::test(start_paused = true)]
async fn latency_percentiles_are_nearest_rank_over_all_calls() {
    let bench = Bench::builder(100)
        .run(|i| async move {
            sleep(ms(i as u64 + 1)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let l: Latency = bench.latency().unwrap();
    assert_eq!(l.min, ms(1));
    assert_eq!(l.p50, ms(50));
    assert_eq!(l.p90, ms(90));
    assert_eq!(l.p99, ms(99));
    assert_eq!(l.max, ms(100));
    assert_eq!(l.mean, Duration::from_micros(50_500));
    assert_eq!(bench.latencies()[41], ms(42));
}

#[tokio::test(start_paused = true)]
async fn throughput_is_calls_per_second_of_the_whole_bench() {
    let bench = Bench::builder(500)
        .run(|_| async {
            sleep(ms(250)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    assert_eq!(bench.throughput(), Some(2000.0));
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_limit_caps_the_calls_in_flight() {
    let (now, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let bench = Bench::builder(12)
        .concurrency(3)
        .run(|i| {
            let (now, most) = (now.clone(), most.clone());
            async move {
                now.set(now.get() + 1);
                most.set(most.get().max(now.get()));
                sleep(Duration::from_secs(1)).await;
                now.set(now.get() - 1);
                Ok::<_, Error>(i)
            }
        })
        .await
        .unwrap();
    assert_eq!(most.get(), 3);
    assert_eq!(bench.taken(), Duration::from_secs(4));
    assert_eq!(bench.concurrency(), Some(3));
    assert_eq!(bench.latency().unwrap().max, Duration::from_secs(1));
    assert_eq!(bench.results(), (0..12).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_limit_of_zero_is_an_invalid_input_error() {
    let err = Bench::builder(3)
        .concurrency(0)
        .run(|_| async { Ok::<_, Error>(()) })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(start_paused = true)]
async fn zero_calls_give_an_empty_bench_not_a_panic() {
    let bench = Bench::builder(0)
        .run(|_| async { Ok::<u8, Error>(1) })
        .await
        .unwrap();
    assert!(bench.results().is_empty());
    assert!(bench.latencies().is_empty());
    assert_eq!(bench.latency(), None);
    assert_eq!(bench.throughput(), None);
    assert_eq!(bench.taken(), Duration::ZERO);
    assert!(bench.to_string().contains('-'));
}

#[tokio::test(start_paused = true)]
async fn the_table_shows_calls_limit_taken_rate_and_percentiles() {
    let bench = Bench::builder(4)
        .concurrency(2)
        .run(|_| async {
            sleep(ms(500)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let table = bench.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        ["calls", "limit", "taken", "calls/s", "min", "p50", "p90", "p99", "max"]
    );
    assert_eq!(
        row,
        ["4", "2", "1.0s", "4", "500.0ms", "500.0ms", "500.0ms", "500.0ms", "500.0ms"]
    );
}

// Usable from any async context and from an EventLoop.

#[test]
fn a_bench_runs_on_an_event_loop_with_calls_that_are_not_send() {
    let lp = EventLoop::builder().name("bench-home").spawn().unwrap();
    let bench = Bench::builder(1_000).spawn(&lp, |i| {
        let local = Rc::new(i);
        async move {
            tokio::task::yield_now().await;
            Ok::<_, Error>((*local, std::thread::current().name().map(String::from)))
        }
    });
    let bench = bench.wait_timeout(LONG).unwrap();
    assert_eq!(bench.results().len(), 1_000);
    assert!(bench
        .results()
        .iter()
        .enumerate()
        .all(|(i, (v, thread))| *v == i && thread.as_deref() == Some("bench-home")));
}

#[test]
fn a_bench_runs_inside_a_caller_driven_loop() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let bench = lp
        .run_until_complete(Bench::builder(10).run(|i| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, Error>(i)
        }))
        .unwrap()
        .unwrap();
    assert_eq!(bench.results().len(), 10);
    assert!(bench.taken() >= ms(1));
}

#[test]
fn a_bench_runs_on_an_executor_other_than_tokio() {
    let bench = futures::executor::block_on(Bench::builder(3).run(|i| async move {
        futures::future::ready(()).await;
        Ok::<_, Error>(i)
    }))
    .unwrap();
    assert_eq!(bench.results(), [0, 1, 2]);
}

#[test]
fn a_bench_spawned_on_a_closed_loop_fails_with_loop_closed() {
    let lp = EventLoop::new().unwrap();
    lp.close();
    let bench = Bench::builder(1).spawn(&lp, |_| async { Ok::<_, Error>(()) });
    assert_eq!(
        bench.wait_timeout(LONG).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}

// Linear cost: each call is polled only when it wakes.

/// Pending once (waking itself at once), then ready; counts its polls.
struct YieldOnce {
    yielded: bool,
    polls: Arc<AtomicUsize>,
}

impl Future for YieldOnce {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if self.yielded {
            return Poll::Ready(Ok(()));
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_bench_of_100_000_calls_polls_each_call_only_when_it_wakes() {
    const N: usize = 100_000;
    let polls = Arc::new(AtomicUsize::new(0));
    let ready_polls = Arc::new(AtomicUsize::new(0));
    let bench = futures::executor::block_on(async {
        let yielding = Bench::builder(N)
            .run(|_| YieldOnce {
                yielded: false,
                polls: polls.clone(),
            })
            .await
            .unwrap();
        let ready = Bench::builder(N)
            .run(|_| YieldOnce {
                yielded: true,
                polls: ready_polls.clone(),
            })
            .await
            .unwrap();
        (yielding, ready)
    });
    assert_eq!(bench.0.results().len(), N);
    assert_eq!(polls.load(Ordering::Relaxed), 2 * N);
    assert_eq!(ready_polls.load(Ordering::Relaxed), N);
}

#[test]
fn a_bench_future_polled_after_it_completed_gives_an_error_not_a_panic() {
    let mut fut = Box::pin(Bench::builder(1).run(|_| async { Ok::<_, Error>(()) }));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), ErrorKind::InvalidState),
        other => panic!("expected an error, got {:?}", other.map(|r| r.map(|_| ()))),
    }
}

use common::Counted;

#[tokio::test(flavor = "current_thread")]
async fn a_bench_in_a_tokio_task_is_not_throttled_by_tokios_cooperative_budget() {
    // Tokio resources answer `Pending` once a task spent its budget (128 polls); a
    // bench polls all its calls in one task, so it opts out of the budget, else its
    // calls would be polled again and again.
    const N: usize = 10_000;
    let polls = Arc::new(AtomicUsize::new(0));
    let receivers: Vec<_> = (0..N)
        .map(|i| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tx.send(i).unwrap();
            Some(rx)
        })
        .collect();
    let mut receivers = receivers;
    let bench = Bench::builder(N)
        .run(|i| Counted {
            inner: receivers[i].take().unwrap(),
            polls: polls.clone(),
        })
        .await
        .unwrap();
    assert_eq!(bench.results()[N - 1], N - 1);
    assert_eq!(polls.load(Ordering::Relaxed), N);
}

#[test]
fn calls_woken_from_other_threads_are_each_seen_once() {
    use pulsar_async::Promise;
    const N: usize = 4_000;
    for _ in 0..20 {
        let promises: Vec<Promise<usize>> = (0..N).map(|_| Promise::new()).collect();
        let barrier = Arc::new(std::sync::Barrier::new(5));
        let settlers: Vec<_> = promises
            .chunks(N / 4)
            .map(|chunk| (chunk.to_vec(), barrier.clone()))
            .map(|(chunk, barrier)| {
                std::thread::spawn(move || {
                    barrier.wait();
                    for p in chunk.into_iter().rev() {
                        p.set_result(0).unwrap();
                    }
                })
            })
            .collect();
        let bench = common::block_within(
            Duration::from_secs(30),
            Bench::builder(N).run(|i| {
                if i == N / 2 {
                    barrier.wait(); // settling starts while calls are still being started
                }
                let p = promises[i].clone();
                async move { p.await.map(|v| v + i) }
            }),
        )
        .unwrap();
        for s in settlers {
            s.join().unwrap();
        }
        assert_eq!(bench.results(), (0..N).collect::<Vec<_>>());
    }
}

// A histogram in the terminal, and two benches compared.

/// A paused-clock bench of `n` calls at most 10 at a time, call `i` sleeping
/// `latency(i)` milliseconds.
fn sleepy_bench(n: usize, latency: fn(usize) -> u64) -> Bench<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(Bench::builder(n).concurrency(10).run(move |i| async move {
            sleep(ms(latency(i))).await;
            Ok::<_, Error>(())
        }))
        .expect("no call fails")
}

#[test]
fn the_alternate_form_prints_the_table_then_a_log_scale_histogram_with_bars() {
    let bench = sleepy_bench(100, |i| if i % 10 == 9 { 30 } else { 1 + (i % 3) as u64 });
    let plain = bench.to_string();
    let alternate = format!("{bench:#}");
    assert_eq!(
        alternate.strip_prefix(&plain),
        Some(
            "\n\n\
latency histogram (100 calls, log scale)
      1ms .. 2ms       |████████████████████                    |       30  30.0%
      2ms .. 5ms       |████████████████████████████████████████|       60  60.0%  <- p50 p90
      5ms .. 10ms      |                                        |        0   0.0%
     10ms .. 20ms      |                                        |        0   0.0%
     20ms .. 50ms      |██████▋                                 |       10  10.0%  <- p99"
        )
    );
    assert!(
        !plain.contains("histogram"),
        "the plain form is the table alone"
    );
}

#[test]
fn the_histogram_counts_every_call_once() {
    let bench = sleepy_bench(1000, |i| (i % 97) as u64);
    let buckets = bench.histogram();
    assert_eq!(
        buckets.buckets().iter().map(|b| b.count).sum::<usize>(),
        1000
    );
    for (bucket, next) in buckets.buckets().iter().zip(&buckets.buckets()[1..]) {
        assert_eq!(bucket.high, next.low, "no gap, no overlap");
    }
    for latency in bench.latencies() {
        let holding = buckets
            .buckets()
            .iter()
            .filter(|b| b.low <= *latency && *latency < b.high)
            .count();
        assert_eq!(holding, 1, "{latency:?}");
    }
}

#[test]
fn comparing_two_benches_gives_ratios_and_says_which_is_faster() {
    let fast = sleepy_bench(100, |_| 2);
    let slow = sleepy_bench(100, |i| if i % 10 == 9 { 50 } else { 5 });
    let cmp = fast.compare(&slow).labels("cached", "uncached");
    let expected = [
        "               cached     uncached",
        "calls             100          100",
        "calls/s          5000          769   6.50x faster",
        "min             2.0ms        5.0ms   2.50x faster",
        "mean            2.0ms        9.5ms   4.75x faster",
        "p50             2.0ms        5.0ms   2.50x faster",
        "p90             2.0ms        5.0ms   2.50x faster",
        "p99             2.0ms       50.0ms   25.00x faster",
        "max             2.0ms       50.0ms   25.00x faster",
        "cached is 6.50x faster than uncached (calls per second)",
    ];
    assert_eq!(cmp.to_string(), expected.join("\n"));
    let ratio = cmp.throughput_ratio().expect("both have a throughput");
    assert!((ratio - 6.5).abs() < 1e-9, "{ratio}");
    let latency = cmp.latency_ratios().expect("both made calls");
    assert!((latency.p99 - 25.0).abs() < 1e-9);
}

#[test]
fn the_comparison_reads_the_other_way_round_as_slower() {
    let fast = sleepy_bench(10, |_| 2);
    let slow = sleepy_bench(10, |_| 4);
    let cmp = slow.compare(&fast);
    assert!(cmp
        .to_string()
        .ends_with("this is 2.00x slower than other (calls per second)"));
    let same = fast.compare(&fast);
    assert!(same
        .to_string()
        .ends_with("this and other are as fast (calls per second)"));
}
