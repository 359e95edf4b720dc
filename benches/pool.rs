//! Loop-local state against a hand-written tokio actor, a pool of
//! loops against tokio-util's `LocalPoolHandle`, the scaling of CPU-bound calls over
//! the pool's loops, `run_keyed` against `loop_at`, and `#[task]` receivers. Each row
//! runs with its peer in the same group of the same run, so the report is a ratio.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "common/pool.rs"]
mod work;
use work::*;

fn local_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("local_round_trip");
    let ours = LocalCounter::new();
    let actor = Actor::new();
    g.bench_function("loop_local_call", |b| {
        b.iter(|| black_box(ours.round_trip()))
    });
    g.bench_function("tokio_actor_mpsc_oneshot", |b| {
        b.iter(|| black_box(actor.round_trip()))
    });
    g.finish();
}

fn local_burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("local_burst_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BURST as u64));
    let ours = LocalCounter::new();
    let actor = Actor::new();
    g.bench_function("loop_local_call", |b| b.iter(|| black_box(ours.burst())));
    g.bench_function("tokio_actor_mpsc_oneshot", |b| {
        b.iter(|| black_box(actor.burst()))
    });
    g.finish();
}

fn pool_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_1m_calls_4_threads");
    g.sample_size(10);
    g.throughput(Throughput::Elements(POOL_CALLS as u64));
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    let ours = our_pool(n);
    let pinned = tokio_util::task::LocalPoolHandle::new(n);
    g.bench_function("loop_pool_run", |b| b.iter(|| black_box(pool_calls(&ours))));
    g.bench_function("local_pool_handle_spawn_pinned", |b| {
        b.iter(|| black_box(pinned_calls(&pinned)))
    });
    g.finish();
}

fn cpu_scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_cpu_10us_calls");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CPU_CALLS as u64));
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    let one = our_pool(1);
    let all = our_pool(n);
    g.bench_function("one_loop", |b| b.iter(|| black_box(cpu_calls(&one))));
    g.bench_function("n_loops", |b| b.iter(|| black_box(cpu_calls(&all))));
    g.finish();
}

fn keyed(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_keyed_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BURST as u64));
    let pool = our_pool(2);
    g.bench_function("loop_at", |b| b.iter(|| black_box(indexed_burst(&pool))));
    g.bench_function("run_keyed", |b| b.iter(|| black_box(keyed_burst(&pool))));
    g.finish();
}

fn task_receivers(c: &mut Criterion) {
    let mut g = c.benchmark_group("task_1m_vec_object");
    let big = Big::new();
    g.bench_function("arc_receiver", |b| {
        b.iter(|| black_box(big.first_shared().wait().unwrap()))
    });
    g.bench_function("ref_self_clone", |b| {
        b.iter(|| black_box(big.first_cloned().wait().unwrap()))
    });
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
    targets = local_round_trip, local_burst, pool_throughput, cpu_scaling, keyed, task_receivers
}
criterion_main!(benches);
