//! The service pattern: handlers on a tokio multi-thread runtime calling keyed state,
//! at concurrency 1 and 64; ours (`PoolLocal::call_keyed`) beside an in-runtime tokio
//! actor, tokio-util's `spawn_pinned_by_idx` and `Arc<Mutex>`, in the same group of the
//! same run, so the report is a ratio. `bench_report keyed-app` prints the same rows
//! with p50 and p99.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "common/service.rs"]
mod work;
use work::*;

fn keyed_state(c: &mut Criterion) {
    let rt = app_runtime();
    let actors = Actors::new(&rt);
    let pinned = Pinned::new();
    let ours = OnPool::new();
    let locked = Locked::default();
    for concurrency in [1, 64] {
        let mut g = c.benchmark_group(format!("tokio_app_keyed_state_concurrency_{concurrency}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(CALLS as u64));
        g.bench_function("in_runtime_tokio_actor", |b| {
            b.iter(|| black_box(run_handlers(&rt, &actors, concurrency, CALLS).0))
        });
        g.bench_function("spawn_pinned_by_idx", |b| {
            b.iter(|| black_box(run_handlers(&rt, &pinned, concurrency, CALLS).0))
        });
        g.bench_function("pool_local_call_keyed", |b| {
            b.iter(|| black_box(run_handlers(&rt, &ours, concurrency, CALLS).0))
        });
        g.bench_function("arc_mutex", |b| {
            b.iter(|| black_box(run_handlers(&rt, &locked, concurrency, CALLS).0))
        });
        g.finish();
    }
}

criterion_group!(benches, keyed_state);
criterion_main!(benches);
