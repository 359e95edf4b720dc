//! Our operations against the tokio / tokio-util / futures way of doing the same job,
//! as ratios, on your machine (it prints how long it took at the end; `BENCHMARKS.md`
//! quotes a run, with its time and the machine's load):
//!
//! ```sh
//! cargo run --release --example bench_report
//! ```
//!
//! The workloads are the ones of `benches/peers.rs` (the same file is included), timed
//! with a plain median-of-N loop instead of criterion. Each group runs its rows one
//! after the other, so compare ratios within a group; on a busy machine run it twice.
//! `BENCHMARKS.md` explains the rows and the targets.
//!
//! `bench_report --quick` runs every row with a handful of samples: a check that each
//! row runs to its end (what CI does), not a measurement; its figures mean nothing.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[path = "../benches/common/mod.rs"]
mod common;
use common::*;

#[path = "../benches/common/pool.rs"]
mod pool_work;

#[path = "../benches/common/service.rs"]
mod service_work;

/// One measured row: median time per operation, and CPU time per operation of the
/// whole process (every thread) when asked for.
struct Row {
    name: &'static str,
    /// Nanoseconds per operation.
    median: f64,
    cpu: Option<f64>,
}

/// `--quick`: every row runs, with at most [`QUICK_SAMPLES`] samples of at most
/// [`QUICK_SAMPLES`] operations each.
static QUICK: AtomicBool = AtomicBool::new(false);
const QUICK_SAMPLES: usize = 3;

/// `n`, or at most [`QUICK_SAMPLES`] in `--quick` mode.
fn scaled(n: usize) -> usize {
    if QUICK.load(Ordering::Relaxed) {
        n.min(QUICK_SAMPLES)
    } else {
        n
    }
}

/// The median of `samples` runs of `op`, each run timing `per_sample` operations.
fn median_of<T>(samples: usize, per_sample: u64, mut op: impl FnMut() -> T) -> f64 {
    let (samples, per_sample) = (scaled(samples), scaled(per_sample as usize) as u64);
    black_box(op()); // warm up
    let times = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_sample {
                black_box(op());
            }
            nanos(start.elapsed()) / per_sample as f64
        })
        .collect();
    median(times)
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// The median of `samples` single calls, each made after a pause in which every
/// thread parks; also the process's CPU time per call (pauses included, which is
/// where a spinning loop burns it).
fn median_after_pause<T>(samples: usize, mut op: impl FnMut() -> T) -> (f64, f64) {
    let samples = scaled(samples);
    black_box(op());
    let cpu_start = process_cpu();
    let times = (0..samples)
        .map(|_| nanos(timed_after_pause(1, &mut op)))
        .collect();
    let cpu = nanos(process_cpu().saturating_sub(cpu_start)) / samples as f64;
    (median(times), cpu)
}

/// As [`median_after_pause`] for several contenders at once, taking turns in blocks
/// of `block` calls for `rounds` rounds, so that a change in the machine's load
/// during the run weighs on every contender alike: each one's median and CPU per
/// call.
fn interleaved_after_pause(
    rounds: usize,
    block: usize,
    ops: &mut [&mut dyn FnMut()],
) -> Vec<(f64, f64)> {
    let (rounds, block) = (scaled(rounds), scaled(block));
    let mut times = vec![Vec::new(); ops.len()];
    let mut cpu = vec![Duration::ZERO; ops.len()];
    for op in ops.iter_mut() {
        op(); // warm up
    }
    for _ in 0..rounds {
        for (i, op) in ops.iter_mut().enumerate() {
            let start = process_cpu();
            for _ in 0..block {
                times[i].push(nanos(timed_after_pause(1, &mut *op)));
            }
            cpu[i] += process_cpu().saturating_sub(start);
        }
    }
    let calls = (rounds * block) as f64;
    times
        .into_iter()
        .zip(cpu)
        .map(|(t, c)| (median(t), nanos(c) / calls))
        .collect()
}

/// CPU time used so far by every thread of this process (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

fn fmt(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Prints a group: each row's median, its ratio to the first row, and the target.
fn print_group(title: &str, rows: &[Row], target: &str) {
    let base = rows[0].median;
    let mut out = format!("\n{title}\n");
    for row in rows {
        let ratio = row.median / base;
        let _ = write!(
            out,
            "  {:34} {:>11}  {:>6.2}x",
            row.name,
            fmt(row.median),
            ratio
        );
        if let Some(cpu) = row.cpu {
            let _ = write!(out, "   cpu/call {:>10}", fmt(cpu));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "  target: {target}");
    print!("{out}");
}

fn main() {
    let started = Instant::now();
    // `bench_report parked burst ...` runs only the groups named (all without).
    let mut only: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = only.iter().position(|a| a == "--quick") {
        only.remove(at);
        QUICK.store(true, Ordering::Relaxed);
        println!("--quick: a check that every row runs; the figures are not measurements");
    }
    let wants = |group: &str| only.is_empty() || only.iter().any(|g| g == group);
    println!("pulsar-async bench report (medians; ratios to the first row of each group)");
    println!(
        "{} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let groups: [(&str, fn()); 15] = [
        ("parked", parked_round_trip),
        ("back", back_to_back),
        ("busy", busy_round_trip),
        ("burst", burst),
        ("soon", soon_burst),
        ("storm", storm),
        ("promise", promise_and_chain),
        ("gather", gathers),
        ("bench", bench),
        ("local", local_vs_actor),
        ("pool", pool_vs_pinned),
        ("cpu", cpu_scaling),
        ("keyed", keyed_vs_index),
        ("task", task_receivers),
        ("keyed-app", keyed_app),
    ];
    for (name, run) in groups {
        if wants(name) {
            run();
        }
    }
    println!("\ntook {:.1} s", started.elapsed().as_secs_f64());
}

/// Round trip into a parked loop thread.
fn parked_round_trip() {
    // The floor and the peers take turns with ours, 50 calls at a time.
    let raw = RawWorker::new(false);
    let ours = our_loop_default();
    let no_spin = our_loop(Duration::ZERO);
    let rt = TokioThread::new(false);
    let pinned = Pinned::new(false);
    let names = [
        "raw channel + oneshot floor",
        "run_in_loop",
        "run_in_loop, no spin",
        "tokio Handle::spawn",
        "tokio-util spawn_pinned",
    ];
    let results = interleaved_after_pause(
        20,
        50,
        &mut [
            &mut || {
                black_box(raw.round_trip());
            },
            &mut || {
                black_box(our_round_trip(&ours));
            },
            &mut || {
                black_box(our_round_trip(&no_spin));
            },
            &mut || {
                black_box(rt.round_trip());
            },
            &mut || {
                black_box(pinned.round_trip());
            },
        ],
    );
    drop((raw, ours, no_spin, rt, pinned));
    let mut rows: Vec<Row> = names
        .into_iter()
        .zip(results)
        .map(|(name, (median, cpu))| Row {
            name,
            median,
            cpu: Some(cpu),
        })
        .collect();
    // The latency mode spins for 5 ms after each call: alone, so that its spinning
    // does not slow the others.
    let lp = our_loop(SPIN);
    let (median, cpu) = median_after_pause(1001, || our_round_trip(&lp));
    rows.push(Row {
        name: "run_in_loop, 5 ms spin (latency mode)",
        median,
        cpu: Some(cpu),
    });
    print_group(
        "round trip into a parked loop thread (per call; the first five take turns)",
        &rows,
        "run_in_loop at or below 0.9x the best peer, CPU per call at most the floor's",
    );
}

/// Calls back to back.
fn back_to_back() {
    let mut rows = Vec::new();
    {
        let raw = RawWorker::new(false);
        rows.push(row(
            "raw channel + oneshot floor",
            median_of(101, 200, || raw.round_trip()),
        ));
    }
    {
        let lp = our_loop_default();
        rows.push(row(
            "run_in_loop",
            median_of(101, 200, || our_round_trip(&lp)),
        ));
    }
    {
        let rt = TokioThread::new(false);
        rows.push(row(
            "tokio Handle::spawn",
            median_of(101, 200, || rt.round_trip()),
        ));
    }
    print_group(
        "round trip, calls back to back (per call)",
        &rows,
        "informative",
    );
}

/// Round trips when neither thread parks.
fn busy_round_trip() {
    let mut rows = Vec::new();
    {
        let raw = RawWorker::new(true);
        rows.push(row(
            "raw channel + oneshot floor",
            median_of(101, 200, || raw.round_trip_spin()),
        ));
    }
    {
        let lp = our_loop(SPIN);
        rows.push(row(
            "run_in_loop, latency mode",
            median_of(101, 200, || our_round_trip(&lp)),
        ));
    }
    {
        let rt = TokioThread::new(true);
        rows.push(row(
            "tokio Handle::spawn",
            median_of(101, 200, || rt.round_trip_spin()),
        ));
    }
    {
        let pinned = Pinned::new(true);
        rows.push(row(
            "tokio-util spawn_pinned",
            median_of(101, 200, || pinned.round_trip()),
        ));
    }
    print_group(
        "round trip when neither thread parks (per call)",
        &rows,
        "within 1.3x of the floor, ahead of tokio spawn",
    );
}

/// 100,000 calls submitted at once.
fn burst() {
    let per_call = |ns: f64| ns / BURST as f64;
    let mut rows = vec![burst_floor()];
    {
        let lp = our_loop_default();
        rows.push(row(
            "run_in_loop",
            per_call(median_of(7, 1, || our_burst(&lp))),
        ));
    }
    {
        // What a bound costs per call: bounded at BURST, the loop is never full.
        let lp = our_loop_bounded(BURST);
        rows.push(row(
            "run_in_loop, queue_capacity(100,000)",
            per_call(median_of(7, 1, || our_burst(&lp))),
        ));
    }
    {
        let rt = TokioThread::new(false);
        rows.push(row(
            "tokio Handle::spawn",
            per_call(median_of(5, 1, || rt.burst())),
        ));
    }
    {
        let pinned = Pinned::new(false);
        rows.push(row(
            "tokio-util spawn_pinned",
            per_call(median_of(5, 1, || pinned.burst())),
        ));
    }
    print_group(
        "100,000 calls submitted, then every result awaited (per call)",
        &rows,
        "run_in_loop at most 1.5x the floor, every result delivered; the bounded row within noise of run_in_loop",
    );
}

/// The floor of the burst rows: `BURST` jobs through a std channel, no replies.
fn burst_floor() -> Row {
    let raw = RawWorker::new(false);
    row(
        "raw channel floor, no replies",
        median_of(7, 1, || raw.burst_no_replies()) / BURST as f64,
    )
}

/// 100,000 `call_soon_threadsafe` calls, their handles dropped.
fn soon_burst() {
    let per_call = |ns: f64| ns / BURST as f64;
    let mut rows = vec![burst_floor()];
    {
        let lp = our_loop_default();
        rows.push(row(
            "call_soon_threadsafe, handle dropped",
            per_call(median_of(7, 1, || our_soon_burst(&lp))),
        ));
    }
    print_group(
        "100,000 call_soon_threadsafe calls, no replies (per call)",
        &rows,
        "the handle costs nothing measurable: compare with the version before handles",
    );
}

/// Under a call_soon tick storm, how long a cross-thread call and a 1 ms timer wait.
fn storm() {
    let storm = Storm::new();
    let samples = scaled(201);
    let calls = median((0..samples).map(|_| nanos(storm.call_latency())).collect());
    let timers = median(
        (0..samples)
            .map(|_| nanos(storm.timer_lateness()))
            .collect(),
    );
    let worst = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() * 99 / 100]
    };
    let calls_p99 = worst((0..samples).map(|_| nanos(storm.call_latency())).collect());
    let timers_p99 = worst(
        (0..samples)
            .map(|_| nanos(storm.timer_lateness()))
            .collect(),
    );
    drop(storm);
    // The same timer on a quiet loop: tokio's timer wheel has a 1 ms tick.
    let quiet = Storm::quiet();
    let quiet_timers = median(
        (0..samples)
            .map(|_| nanos(quiet.timer_lateness()))
            .collect(),
    );
    print_group(
        "under a call_soon tick storm: from submit to start (median of 201, then p99)",
        &[
            row("1 ms timer, lateness, quiet loop", quiet_timers),
            row("cross-thread run_in_loop call", calls),
            row("cross-thread call, p99", calls_p99),
            row("1 ms timer, lateness", timers),
            row("1 ms timer, lateness p99", timers_p99),
        ],
        "each served within 2 ms",
    );
}

/// Promise and chain_future.
fn promise_and_chain() {
    let rows = vec![
        row("tokio oneshot", median_of(101, 10_000, tokio_oneshot)),
        row(
            "Promise create + set + await",
            median_of(101, 10_000, our_promise),
        ),
        row(
            "futures Shared oneshot",
            median_of(101, 10_000, futures_shared),
        ),
    ];
    print_group(
        "promise create + set + await, one thread",
        &rows,
        "at most 1.2x tokio oneshot",
    );

    // Chain.
    let rows = vec![
        row(
            "Promise create + set + await",
            median_of(101, 10_000, our_promise),
        ),
        row(
            "chain_future + callback, resolved",
            median_of(101, 10_000, our_chain),
        ),
        row("futures then + map", median_of(101, 10_000, then_map)),
        row(
            "futures then + map, boxed",
            median_of(101, 10_000, then_map_boxed),
        ),
    ];
    print_group(
        "chain_future with a callback on a resolved source",
        &rows,
        "at most 1.5x a Promise create + set + await",
    );

    // A pending chain, per link: the same at a thousand links as at a million.
    let per_link = |links: usize, ns: f64| ns / links as f64;
    print_group(
        "pending chain: built, settled at its source, awaited, dropped (per link)",
        &[
            row(
                "1,000 links",
                per_link(
                    CHAIN_LINKS,
                    median_of(31, 1, || our_chain_pending(CHAIN_LINKS)),
                ),
            ),
            row(
                "1,000,000 links",
                per_link(
                    LONG_CHAIN,
                    median_of(3, 1, || our_chain_pending(LONG_CHAIN)),
                ),
            ),
        ],
        "linear: the same time per link",
    );
}

/// Gathers of completed futures, plain values and maps.
fn gathers() {
    let rt = gather_runtime();
    let seq = median_with_setup(21, completed_receivers, |rxs| {
        black_box(rt.block_on(sequential_completed(rxs)));
    });
    let ours = median_with_setup(21, resolved_promises, |ps| {
        black_box(rt.block_on(our_gather_completed(ps)));
    });
    let seq_promises = median_with_setup(21, resolved_promises, |ps| {
        black_box(rt.block_on(sequential_promises(ps)));
    });
    let joined = median_with_setup(11, completed_receivers, |rxs| {
        black_box(rt.block_on(join_all_completed(rxs)));
    });
    print_group(
        "10,000 completed futures in a tokio runtime",
        &[
            row("sequential await loop (oneshots)", seq),
            row("multi_async (resolved promises)", ours),
            row("sequential await loop (promises)", seq_promises),
            row("futures join_all (oneshots)", joined),
        ],
        "multi_async at most 1.5x the sequential loop",
    );
    print_group(
        "10,000 pending promises, settled in reverse, read in completion order",
        &[
            row(
                "futures FuturesUnordered, keyed",
                median_with_setup(21, pending_promises, |inputs| {
                    black_box(futures_unordered_keyed(inputs));
                }),
            ),
            row(
                "multi::as_completed",
                median_with_setup(21, pending_promises, |inputs| {
                    black_box(our_as_completed(inputs));
                }),
            ),
        ],
        "as_completed at most 1.5x FuturesUnordered",
    );
    let values = plain_values();
    print_group(
        "10,000 plain values",
        &[
            row(
                "collect::<Result<Vec<_>, _>> (the same Results)",
                median_with_setup(21, ready_values, |v| {
                    black_box(collect_results(v));
                }),
            ),
            row(
                "multi_async",
                median_with_setup(21, ready_values, |v| {
                    black_box(our_gather_plain(v));
                }),
            ),
            row(
                "copy of plain u64s (to_vec; informative)",
                median_of(31, 20, || collect_plain(&values)),
            ),
        ],
        "multi_async at most 2x the collect of the same Results",
    );
    let map = plain_map();
    print_group(
        "a 10,000-entry HashMap of plain values",
        &[
            row(
                "rebuild the HashMap",
                median_of(21, 2, || rebuild_map(&map)),
            ),
            row(
                "multi_async",
                median_with_setup(21, ready_map, |m| {
                    black_box(our_gather_map(m));
                }),
            ),
        ],
        "multi_async at most 2x the rebuild",
    );
}

/// Bench's per-call overhead.
fn bench() {
    let per_call = |ns: f64| ns / BENCH_CALLS as f64;
    print_group(
        "Bench: 10,000 no-op async calls (per call)",
        &[
            row(
                "sequential await",
                per_call(median_of(21, 1, sequential_calls)),
            ),
            row("Bench::run", per_call(median_of(21, 1, our_bench))),
        ],
        "Bench under 100 ns per call",
    );
}

/// The median of `samples` runs of `op`, each on a fresh input made (untimed) by
/// `setup`.
fn median_with_setup<I>(samples: usize, setup: impl Fn() -> I, op: impl Fn(I)) -> f64 {
    let samples = scaled(samples);
    let times = (0..samples)
        .map(|_| {
            let input = setup();
            let start = Instant::now();
            op(input);
            nanos(start.elapsed())
        })
        .collect();
    median(times)
}

fn row(name: &'static str, median: f64) -> Row {
    Row {
        name,
        median,
        cpu: None,
    }
}

/// Runs `ops` in turns, `samples` times each; each one's median time per call
/// (`calls` calls per run), so that load drift weighs on every row alike.
fn alternating(samples: usize, calls: usize, ops: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let samples = scaled(samples);
    let mut times = vec![Vec::new(); ops.len()];
    for op in ops.iter_mut() {
        op(); // warm up
    }
    for _ in 0..samples {
        for (i, op) in ops.iter_mut().enumerate() {
            let start = Instant::now();
            op();
            times[i].push(nanos(start.elapsed()) / calls as f64);
        }
    }
    times.into_iter().map(median).collect()
}

fn rows(names: &[&'static str], medians: Vec<f64>) -> Vec<Row> {
    names
        .iter()
        .zip(medians)
        .map(|(name, median)| Row {
            name,
            median,
            cpu: None,
        })
        .collect()
}

/// `LoopLocal::call` against a hand-written tokio actor: a round trip, and a burst.
fn local_vs_actor() {
    let ours = pool_work::LocalCounter::new();
    let actor = pool_work::Actor::new();
    let trips = 2_000;
    let round = alternating(
        15,
        trips,
        &mut [
            &mut || {
                for _ in 0..trips {
                    black_box(actor.round_trip());
                }
            },
            &mut || {
                for _ in 0..trips {
                    black_box(ours.round_trip());
                }
            },
        ],
    );
    print_group(
        "loop-local state: round trip, back to back",
        &rows(
            &["tokio actor (mpsc + oneshot)", "LoopLocal::call + wait"],
            round,
        ),
        "ours <= 1.0x the actor",
    );
    let burst = alternating(
        9,
        pool_work::BURST,
        &mut [
            &mut || {
                black_box(actor.burst());
            },
            &mut || {
                black_box(ours.burst());
            },
        ],
    );
    print_group(
        "loop-local state: 100,000 calls, then all awaited (per call)",
        &rows(&["tokio actor (mpsc + oneshot)", "LoopLocal::call"], burst),
        "ours <= 1.0x the actor",
    );
}

/// 1,000,000 small calls from 4 threads: a pool of loops against `spawn_pinned`.
fn pool_vs_pinned() {
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    let ours = pool_work::our_pool(n);
    let pinned = tokio_util::task::LocalPoolHandle::new(n);
    let medians = alternating(
        5,
        pool_work::POOL_CALLS,
        &mut [
            &mut || {
                black_box(pool_work::pinned_calls(&pinned));
            },
            &mut || {
                black_box(pool_work::pool_calls(&ours));
            },
        ],
    );
    print_group(
        &format!("pool of {n}: 1,000,000 calls from 4 threads (per call; throughput is 1/x)"),
        &rows(&["LocalPoolHandle::spawn_pinned", "LoopPool::run"], medians),
        "ours <= 0.33x (3x the throughput)",
    );
}

/// Calls of about 10 us of CPU each: one loop against a loop per core.
fn cpu_scaling() {
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    let one = pool_work::our_pool(1);
    let all = pool_work::our_pool(n);
    let medians = alternating(
        9,
        pool_work::CPU_CALLS,
        &mut [
            &mut || {
                black_box(pool_work::cpu_calls(&one));
            },
            &mut || {
                black_box(pool_work::cpu_calls(&all));
            },
        ],
    );
    let speedup = medians[0] / medians[1];
    let served: Vec<u64> = all.metrics().iter().map(|m| m.calls_served).collect();
    println!("\n(calls served by each loop of the pool of {n}: {served:?})");
    print_group(
        &format!(
            "20,000 calls of ~10 us CPU: 1 loop vs {n} loops (per call; speed-up {speedup:.2}x)"
        ),
        &rows(&["LoopPool of 1", "LoopPool of n"], medians),
        "2 loops: <= 0.625x (1.6x the throughput)",
    );
}

/// `run_keyed` against `loop_at(i)`, the same 100,000 calls on a pool of 2.
fn keyed_vs_index() {
    let pool = pool_work::our_pool(2);
    let medians = alternating(
        15,
        pool_work::BURST,
        &mut [
            &mut || {
                black_box(pool_work::indexed_burst(&pool));
            },
            &mut || {
                black_box(pool_work::keyed_burst(&pool));
            },
        ],
    );
    print_group(
        "pool of 2: 100,000 calls by index vs by key (per call)",
        &rows(&["loop_at(i % 2)", "run_keyed(&i)"], medians),
        "run_keyed <= 1.10x",
    );
}

/// A `#[task]` method of an object holding a 1,000,000-entry Vec: `&self` (the object
/// cloned into each call) against `self: &Arc<Self>`.
fn task_receivers() {
    let big = pool_work::Big::new();
    let calls = 100;
    let medians = alternating(
        9,
        calls,
        &mut [
            &mut || {
                for _ in 0..calls {
                    black_box(big.first_shared().wait().unwrap());
                }
            },
            &mut || {
                for _ in 0..calls {
                    black_box(big.first_cloned().wait().unwrap());
                }
            },
        ],
    );
    print_group(
        "#[task] on an object holding a 1,000,000-entry Vec (per call)",
        &rows(
            &["self: &Arc<Self> (0 copies)", "&self (1 copy per call)"],
            medians,
        ),
        "no copy of user data per call",
    );
}

/// The service pattern: handlers on a tokio multi-thread runtime calling keyed state
/// (`benches/common/service.rs`), at concurrency 1 and 64. The contenders take turns,
/// a run of `CALLS` calls each per round; per call: the median of the rounds' mean
/// time, and p50 / p99 of every call's latency.
fn keyed_app() {
    use service_work::*;
    let rt = app_runtime();
    let actors = Actors::new(&rt);
    let pinned = Pinned::new();
    let ours = OnPool::new();
    let ours_no_spin = OnPool::no_spin();
    let locked = Locked::default();
    let names = [
        "in-runtime tokio actor",
        "spawn_pinned_by_idx",
        "PoolLocal::call_keyed",
        "PoolLocal::call_keyed, no spin",
        "Arc<Mutex> (informative)",
    ];
    let calls = scaled(CALLS / 100) * 100;
    for concurrency in [1, 64] {
        let rounds = scaled(5);
        let mut means = vec![Vec::new(); names.len()];
        let mut latencies = vec![Vec::new(); names.len()];
        let mut record = |i: usize, (took, lat): (Duration, Vec<Duration>)| {
            means[i].push(nanos(took) / lat.len() as f64);
            latencies[i].extend(lat.into_iter().map(nanos));
        };
        for _ in 0..rounds {
            record(0, run_handlers(&rt, &actors, concurrency, calls));
            record(1, run_handlers(&rt, &pinned, concurrency, calls));
            record(2, run_handlers(&rt, &ours, concurrency, calls));
            record(3, run_handlers(&rt, &ours_no_spin, concurrency, calls));
            record(4, run_handlers(&rt, &locked, concurrency, calls));
        }
        let quantile = |lat: &mut Vec<f64>, q: f64| {
            lat.sort_by(f64::total_cmp);
            lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)]
        };
        let base = median(means[0].clone());
        let (base50, base99) = (
            quantile(&mut latencies[0], 0.50),
            quantile(&mut latencies[0], 0.99),
        );
        let mut out = format!(
            "\ntokio app calling keyed state, concurrency {concurrency} (per call; {} workers, {} loops, {KEYS} keys, {calls} calls x {rounds} rounds)\n",
            cores(),
            cores()
        );
        for (i, name) in names.iter().enumerate() {
            let m = median(means[i].clone());
            let (p50, p99) = (
                quantile(&mut latencies[i], 0.50),
                quantile(&mut latencies[i], 0.99),
            );
            let _ = writeln!(
                out,
                "  {name:34} {:>11}  {:>6.2}x   p50 {:>10} ({:.2}x)   p99 {:>10} ({:.2}x)",
                fmt(m),
                m / base,
                fmt(p50),
                p50 / base50,
                fmt(p99),
                p99 / base99
            );
        }
        let _ = writeln!(
            out,
            "  target: PoolLocal::call_keyed <= 1.3x the actor (p99 <= 2x), <= 0.2x spawn_pinned_by_idx"
        );
        print!("{out}");
    }
}
