//! Every row of the peers' report: our operation and the peers' way of doing the same job, in
//! the same group of the same run, so the report is a ratio.
//!
//! `cargo bench --bench peers` (about 2 minutes); `BENCHMARKS.md` has the figures.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[path = "common/mod.rs"]
mod common;
use common::*;

/// Under a `call_soon` tick storm: how long after its submission a cross-thread call
/// starts, and how late a 1 ms timer fires (the fair loop's target: each within
/// 2 ms).
fn storm(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick_storm");
    g.sample_size(20);
    let storm = Storm::new();
    g.bench_function("cross_thread_call_submit_to_start", |b| {
        b.iter_custom(|n| (0..n).map(|_| storm.call_latency()).sum())
    });
    g.bench_function("timer_1ms_lateness", |b| {
        b.iter_custom(|n| (0..n).map(|_| storm.timer_lateness()).sum())
    });
    g.finish();
}

/// Round trip into a loop thread that is parked (call from this thread, block until
/// the result is back): every call comes after a pause in which all threads park.
/// Also the latency mode, which keeps the loop thread spinning (one core's worth of
/// CPU) instead.
fn round_trip_parked(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip_parked");
    // Each timed call costs a pause too: keep the number of calls small.
    g.warm_up_time(Duration::from_millis(200));
    g.measurement_time(Duration::from_millis(400));
    g.sample_size(30);
    {
        let raw = RawWorker::new(false);
        g.bench_function("raw_channel_oneshot_floor", |b| {
            b.iter_custom(|n| timed_after_pause(n, || raw.round_trip()))
        });
    }
    {
        let lp = our_loop(Duration::ZERO);
        g.bench_function("run_in_loop_no_spin", |b| {
            b.iter_custom(|n| timed_after_pause(n, || our_round_trip(&lp)))
        });
    }
    {
        let lp = our_loop_default();
        g.bench_function("run_in_loop", |b| {
            b.iter_custom(|n| timed_after_pause(n, || our_round_trip(&lp)))
        });
    }
    {
        let rt = TokioThread::new(false);
        g.bench_function("tokio_handle_spawn", |b| {
            b.iter_custom(|n| timed_after_pause(n, || rt.round_trip()))
        });
    }
    {
        let pinned = Pinned::new(false);
        g.bench_function("tokio_util_spawn_pinned", |b| {
            b.iter_custom(|n| timed_after_pause(n, || pinned.round_trip()))
        });
    }
    {
        let lp = our_loop(SPIN);
        g.bench_function("run_in_loop_spin_mode", |b| {
            b.iter_custom(|n| timed_after_pause(n, || our_round_trip(&lp)))
        });
    }
    g.finish();
}

/// Calls back to back from one thread, each waited for before the next: the default
/// spin window of the loop catches the next call.
fn round_trip_back_to_back(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip_back_to_back");
    {
        let raw = RawWorker::new(false);
        g.bench_function("raw_channel_oneshot_floor", |b| {
            b.iter(|| black_box(raw.round_trip()))
        });
    }
    {
        let lp = our_loop_default();
        g.bench_function("run_in_loop", |b| b.iter(|| black_box(our_round_trip(&lp))));
    }
    {
        let rt = TokioThread::new(false);
        g.bench_function("tokio_handle_spawn", |b| {
            b.iter(|| black_box(rt.round_trip()))
        });
    }
    g.finish();
}

/// Round trip when neither thread parks: the callee spins or keeps busy, the caller
/// spins on the reply.
fn round_trip_busy(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip_busy");
    {
        let raw = RawWorker::new(true);
        g.bench_function("raw_channel_oneshot_floor", |b| {
            b.iter(|| black_box(raw.round_trip_spin()))
        });
    }
    {
        let lp = our_loop(SPIN);
        g.bench_function("run_in_loop_spin_mode", |b| {
            b.iter(|| black_box(our_round_trip(&lp)))
        });
    }
    {
        let rt = TokioThread::new(true);
        g.bench_function("tokio_handle_spawn", |b| {
            b.iter(|| black_box(rt.round_trip_spin()))
        });
    }
    {
        let pinned = Pinned::new(true);
        g.bench_function("tokio_util_spawn_pinned", |b| {
            b.iter(|| black_box(pinned.round_trip()))
        });
    }
    g.finish();
}

/// `BURST` calls submitted, then every result awaited; one iteration is the whole
/// burst (divide by `BURST` for ns/call).
fn burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("burst_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BURST as u64));
    {
        let raw = RawWorker::new(false);
        g.bench_function("raw_channel_floor_no_replies", |b| {
            b.iter(|| black_box(raw.burst_no_replies()))
        });
    }
    {
        let lp = our_loop_default();
        g.bench_function("run_in_loop", |b| b.iter(|| black_box(our_burst(&lp))));
        // No replies, as the floor: what the entry point (and its handle) costs.
        g.bench_function("call_soon_threadsafe_handle_dropped", |b| {
            b.iter(|| black_box(our_soon_burst(&lp)))
        });
    }
    {
        // What a bound costs per call: a loop bounded at BURST, never full.
        let lp = our_loop_bounded(BURST);
        g.bench_function("run_in_loop_bounded_never_full", |b| {
            b.iter(|| black_box(our_burst(&lp)))
        });
    }
    {
        let rt = TokioThread::new(false);
        g.bench_function("tokio_handle_spawn", |b| b.iter(|| black_box(rt.burst())));
    }
    {
        let pinned = Pinned::new(false);
        g.bench_function("tokio_util_spawn_pinned", |b| {
            b.iter(|| black_box(pinned.burst()))
        });
    }
    g.finish();
}

/// Promise create + set + await on one thread, and chain_future on a resolved source.
fn promise(c: &mut Criterion) {
    let mut g = c.benchmark_group("promise");
    g.bench_function("promise_create_set_await", |b| {
        b.iter(|| black_box(our_promise()))
    });
    g.bench_function("tokio_oneshot", |b| b.iter(|| black_box(tokio_oneshot())));
    g.bench_function("futures_shared_oneshot", |b| {
        b.iter(|| black_box(futures_shared()))
    });
    g.finish();

    let mut g = c.benchmark_group("chain_resolved");
    g.bench_function("chain_future_callback", |b| {
        b.iter(|| black_box(our_chain()))
    });
    g.bench_function("promise_create_set_await", |b| {
        b.iter(|| black_box(our_promise()))
    });
    g.bench_function("futures_then_map", |b| b.iter(|| black_box(then_map())));
    g.bench_function("futures_then_map_boxed", |b| {
        b.iter(|| black_box(then_map_boxed()))
    });
    g.finish();

    // Linear: the time per link of a pending chain is the same at 1,000 links as at
    // a million (`bench_report` runs the million; `tests/promise_depth.rs` proves
    // the stack stays flat).
    let mut g = c.benchmark_group("chain_pending_1000_links");
    g.throughput(Throughput::Elements(CHAIN_LINKS as u64));
    g.bench_function("chain_future_build_settle_await_drop", |b| {
        b.iter(|| black_box(our_chain_pending(CHAIN_LINKS)))
    });
    g.finish();
}

/// multi_async over completed futures, plain values and a map, against a sequential
/// await loop, `join_all`, a plain collect and a map rebuild; `multi::as_completed`
/// against `FuturesUnordered` over the same pending promises.
fn gather(c: &mut Criterion) {
    let rt = gather_runtime();
    let mut g = c.benchmark_group("gather_10k_completed");
    g.sample_size(20);
    g.bench_function("multi_async", |b| {
        b.iter_batched(
            resolved_promises,
            |ps| rt.block_on(our_gather_completed(ps)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("sequential_await_promises", |b| {
        b.iter_batched(
            resolved_promises,
            |ps| rt.block_on(sequential_promises(ps)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("futures_join_all", |b| {
        b.iter_batched(
            completed_receivers,
            |rxs| rt.block_on(join_all_completed(rxs)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("sequential_await_loop", |b| {
        b.iter_batched(
            completed_receivers,
            |rxs| rt.block_on(sequential_completed(rxs)),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("as_completed_10k_pending");
    g.sample_size(20);
    g.throughput(Throughput::Elements(GATHER as u64));
    g.bench_function("multi_as_completed", |b| {
        b.iter_batched(pending_promises, our_as_completed, BatchSize::LargeInput)
    });
    g.bench_function("futures_unordered_keyed", |b| {
        b.iter_batched(
            pending_promises,
            futures_unordered_keyed,
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let values = plain_values();
    let map = plain_map();
    let mut g = c.benchmark_group("gather_10k_plain");
    g.bench_function("collect_results", |b| {
        b.iter_batched(ready_values, collect_results, BatchSize::LargeInput)
    });
    g.bench_function("copy_plain_vec", |b| {
        b.iter(|| black_box(collect_plain(&values)))
    });
    g.bench_function("multi_async_vec", |b| {
        b.iter_batched(ready_values, our_gather_plain, BatchSize::LargeInput)
    });
    g.finish();

    let mut g = c.benchmark_group("gather_10k_map");
    g.bench_function("rebuild_hashmap", |b| {
        b.iter(|| black_box(rebuild_map(&map)))
    });
    g.bench_function("multi_async_hashmap", |b| {
        b.iter_batched(ready_map, our_gather_map, BatchSize::LargeInput)
    });
    g.finish();
}

/// Bench's own cost per call: `BENCH_CALLS` no-op async calls, started all at once,
/// against awaiting them one after the other.
fn bench_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("bench_10k_no_op_calls");
    g.throughput(Throughput::Elements(BENCH_CALLS as u64));
    g.bench_function("sequential_await", |b| b.iter(sequential_calls));
    g.bench_function("bench_run", |b| b.iter(our_bench));
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = round_trip_parked, round_trip_back_to_back, round_trip_busy, burst, storm, promise, gather, bench_overhead
}
criterion_main!(benches);
