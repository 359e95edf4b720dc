//! The workloads of loop-local state and pools (loop-local state, pools of loops), for `benches/pool.rs`
//! (criterion) and `examples/bench_report.rs` (both include this file), each with the
//! peer it is measured against.
#![allow(dead_code)]

use std::hint::black_box;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pulsar_async::{run_in_loop, EventLoop, LoopLocal, LoopPool};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::LocalPoolHandle;

/// Calls per burst.
pub const BURST: usize = 100_000;
/// Calls of the pool throughput rows, in all.
pub const POOL_CALLS: usize = 1_000_000;
/// Threads that make those calls.
pub const CALLERS: usize = 4;
/// Calls of the CPU-bound rows.
pub const CPU_CALLS: usize = 20_000;

// ---------------------------------------------------------------------------------
// Loop-local state against a hand-written tokio actor.

/// Ours: a counter kept on a loop, reached through a `LoopLocal`.
pub struct LocalCounter {
    pub local: LoopLocal<u64>,
}

impl LocalCounter {
    pub fn new() -> Self {
        let lp = EventLoop::builder().name("local-bench").spawn().unwrap();
        LocalCounter {
            local: lp.local(|| 0u64),
        }
    }

    /// One call, waited for.
    pub fn round_trip(&self) -> u64 {
        self.local
            .call(|total| {
                *total += 1;
                *total
            })
            .wait()
            .unwrap()
    }

    /// `BURST` calls issued, then every result waited for.
    pub fn burst(&self) -> u64 {
        let calls: Vec<_> = (0..BURST as u64)
            .map(|n| {
                self.local.call(move |total| {
                    *total += n;
                    *total
                })
            })
            .collect();
        calls.into_iter().map(|p| p.wait().unwrap()).last().unwrap()
    }
}

/// The message enum of the hand-written actor.
enum Msg {
    Add { n: u64, reply: oneshot::Sender<u64> },
}

/// The tokio way (the actor pattern of the tokio guides): a task owning the state on
/// a current-thread runtime of its own thread, an `mpsc` channel of messages (the
/// unbounded one, tokio's fastest), a `oneshot` per reply. Callers are plain threads
/// (`send`, `blocking_recv`).
pub struct Actor {
    tx: Option<mpsc::UnboundedSender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Actor {
    pub fn new() -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut total = 0u64;
                while let Some(msg) = rx.recv().await {
                    match msg {
                        Msg::Add { n, reply } => {
                            total += n;
                            let _ = reply.send(total);
                        }
                    }
                }
            });
        });
        Actor {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    fn add(&self, n: u64) -> oneshot::Receiver<u64> {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().unwrap();
        tx.send(Msg::Add { n, reply }).ok().unwrap();
        rx
    }

    pub fn round_trip(&self) -> u64 {
        self.add(1).blocking_recv().unwrap()
    }

    pub fn burst(&self) -> u64 {
        let replies: Vec<_> = (0..BURST as u64).map(|n| self.add(n)).collect();
        replies
            .into_iter()
            .map(|rx| rx.blocking_recv().unwrap())
            .last()
            .unwrap()
    }
}

impl Drop for Actor {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------
// A pool of loops against tokio-util's `LocalPoolHandle`.

/// A pool of `n` loops.
pub fn our_pool(n: usize) -> LoopPool {
    EventLoop::builder().name("bench-pool").pool(n).unwrap()
}

/// `POOL_CALLS` small calls from `CALLERS` threads at once (`run`, the least busy
/// loop), each thread then waiting for its results.
pub fn pool_calls(pool: &LoopPool) -> u64 {
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                s.spawn(|| {
                    let calls: Vec<_> = (0..(POOL_CALLS / CALLERS) as u64)
                        .map(|i| pool.run_any(move || i))
                        .collect();
                    calls.into_iter().map(|p| p.wait().unwrap()).sum::<u64>()
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).sum()
    })
}

/// The same with `LocalPoolHandle::spawn_pinned` (each caller thread runs the
/// current-thread runtime that `spawn_pinned` needs).
pub fn pinned_calls(pool: &LocalPoolHandle) -> u64 {
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let handles: Vec<_> = (0..(POOL_CALLS / CALLERS) as u64)
                            .map(|i| pool.spawn_pinned(move || async move { i }))
                            .collect();
                        let mut sum = 0;
                        for h in handles {
                            sum += h.await.unwrap();
                        }
                        sum
                    })
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).sum()
    })
}

/// About 10 µs of CPU work: the iterations of [`spin_work`] that take that long here.
pub fn ten_micros() -> u64 {
    use std::sync::OnceLock;
    static ITERS: OnceLock<u64> = OnceLock::new();
    *ITERS.get_or_init(|| {
        let probe = 100_000;
        let mut best = Duration::MAX;
        for _ in 0..20 {
            let start = Instant::now();
            black_box(spin_work(probe));
            best = best.min(start.elapsed());
        }
        (probe as f64 * 10e-6 / best.as_secs_f64()) as u64
    })
}

/// CPU work: `iters` rounds of a multiply-add the compiler cannot skip.
pub fn spin_work(iters: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..iters {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    x
}

/// `CPU_CALLS` calls of about 10 µs of CPU each, from this thread, on the least busy
/// loop of `pool`; then every result waited for.
pub fn cpu_calls(pool: &LoopPool) -> u64 {
    let iters = ten_micros();
    let calls: Vec<_> = (0..CPU_CALLS)
        .map(|_| pool.run_any(move || spin_work(iters)))
        .collect();
    calls
        .into_iter()
        .map(|p| p.wait().unwrap())
        .fold(0, u64::wrapping_add)
}

/// `BURST` calls by key (`run_keyed`, key `i`), then every result waited for.
pub fn keyed_burst(pool: &LoopPool) -> u64 {
    let calls: Vec<_> = (0..BURST as u64)
        .map(|i| pool.run_keyed(&i, move || i))
        .collect();
    calls.into_iter().map(|p| p.wait().unwrap()).sum()
}

/// The same calls by index (`loop_at(i % n)`), the baseline of `run_keyed`.
pub fn indexed_burst(pool: &LoopPool) -> u64 {
    let n = pool.len() as u64;
    let calls: Vec<_> = (0..BURST as u64)
        .map(|i| run_in_loop(pool.loop_at((i % n) as usize).unwrap(), move || i))
        .collect();
    calls.into_iter().map(|p| p.wait().unwrap()).sum()
}

// ---------------------------------------------------------------------------------
// `#[task]`: a method of an object holding a 1,000,000-entry `Vec`.

use pulsar_async::{task, AsyncObject};
use std::sync::Arc;

/// The object.
#[derive(Clone)]
pub struct Big {
    lp: EventLoop,
    data: Vec<u64>,
}

impl AsyncObject for Big {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Big {
    pub fn new() -> Arc<Big> {
        Arc::new(Big {
            lp: EventLoop::builder().name("big").spawn().unwrap(),
            data: vec![1; 1_000_000],
        })
    }

    /// `&self`: the object is cloned into every call.
    #[task]
    pub fn first_cloned(&self) -> u64 {
        self.data[0]
    }

    /// `self: &Arc<Self>`: the `Arc` is.
    #[task]
    pub fn first_shared(self: &Arc<Self>) -> u64 {
        self.data[0]
    }
}
