//! The service pattern, the use the crate exists for: handlers on a tokio multi-thread
//! runtime (as many workers as cores) calling keyed state, a short critical section
//! per call, at a given concurrency. For `benches/service.rs` (criterion) and
//! `examples/bench_report.rs` (both include this file). Four ways to hold the state,
//! each measured in the same run:
//!
//! - an in-runtime tokio actor per key (an `mpsc` channel, a `oneshot` per reply, the
//!   task owning the state spawned on the same runtime): the 1.00x row;
//! - tokio-util's `LocalPoolHandle::spawn_pinned_by_idx`, the tokio way to reach
//!   `!Send` state: the key's worker thread, its state in a thread-local;
//! - ours, `PoolLocal::call_keyed` on a pool with as many loops as cores;
//! - `Arc<Mutex<HashMap>>` (informative: state that may cross threads needs none of
//!   the others).
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulsar_async::pool::PoolLocal;
use pulsar_async::EventLoop;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::LocalPoolHandle;

/// Keys of the state.
pub const KEYS: usize = 8;
/// Calls of one measured run, spread over the handlers.
pub const CALLS: usize = 20_000;

/// The critical section every contender runs: count the key's calls.
fn touch(map: &mut HashMap<u32, u64>, key: u32) -> u64 {
    let n = map.entry(key).or_default();
    *n += 1;
    *n
}

/// A way to hold keyed state that handlers call into.
pub trait KeyedState: Clone + Send + Sync + 'static {
    /// One call on the state of `key`; its result.
    fn call(&self, key: u32) -> impl Future<Output = u64> + Send;
}

/// The runtime the handlers run on: as many workers as cores.
pub fn app_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .enable_all()
        .build()
        .unwrap()
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `concurrency` handlers on `rt` make `calls` calls in all, each awaiting its
/// answer before the next; the time of the whole and each call's latency.
pub fn run_handlers<S: KeyedState>(
    rt: &Runtime,
    state: &S,
    concurrency: usize,
    calls: usize,
) -> (Duration, Vec<Duration>) {
    let per_handler = calls.div_ceil(concurrency);
    rt.block_on(async {
        let start = Instant::now();
        let handlers: Vec<_> = (0..concurrency)
            .map(|h| {
                let state = state.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_handler);
                    for i in 0..per_handler {
                        let key = ((h * 7 + i) % KEYS) as u32;
                        let t = Instant::now();
                        black_box(state.call(key).await);
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::with_capacity(per_handler * concurrency);
        for h in handlers {
            all.extend(h.await.unwrap());
        }
        (start.elapsed(), all)
    })
}

// ---------------------------------------------------------------------------------

enum Msg {
    Touch {
        key: u32,
        reply: oneshot::Sender<u64>,
    },
}

/// One actor task per key, spawned on the application's runtime.
#[derive(Clone)]
pub struct Actors {
    senders: Arc<[mpsc::UnboundedSender<Msg>]>,
}

impl Actors {
    pub fn new(rt: &Runtime) -> Self {
        let senders = (0..KEYS)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
                rt.spawn(async move {
                    let mut map = HashMap::new();
                    while let Some(Msg::Touch { key, reply }) = rx.recv().await {
                        let _ = reply.send(touch(&mut map, key));
                    }
                });
                tx
            })
            .collect();
        Actors { senders }
    }
}

impl KeyedState for Actors {
    async fn call(&self, key: u32) -> u64 {
        let (reply, answer) = oneshot::channel();
        let _ = self.senders[key as usize % KEYS].send(Msg::Touch { key, reply });
        answer.await.unwrap()
    }
}

thread_local!(static PINNED_STATE: RefCell<HashMap<u32, u64>> = RefCell::default());

/// tokio-util's pool of pinned workers: the key's worker, its state a thread-local.
#[derive(Clone)]
pub struct Pinned {
    pool: Arc<LocalPoolHandle>,
}

impl Pinned {
    pub fn new() -> Self {
        Pinned {
            pool: Arc::new(LocalPoolHandle::new(cores())),
        }
    }
}

impl KeyedState for Pinned {
    async fn call(&self, key: u32) -> u64 {
        let worker = key as usize % self.pool.num_threads();
        self.pool
            .spawn_pinned_by_idx(
                move || async move { PINNED_STATE.with(|m| touch(&mut m.borrow_mut(), key)) },
                worker,
            )
            .await
            .unwrap()
    }
}

/// Ours: one map per loop of a pool with as many loops as cores, by key.
#[derive(Clone)]
pub struct OnPool {
    shards: PoolLocal<HashMap<u32, u64>>,
}

impl OnPool {
    pub fn new() -> Self {
        Self::with_builder(EventLoop::builder())
    }

    /// The same, with loops that park at once when they run out of work.
    pub fn no_spin() -> Self {
        Self::with_builder(EventLoop::builder().spin(std::time::Duration::ZERO))
    }

    fn with_builder(builder: pulsar_async::event_loop::Builder) -> Self {
        let pool = builder.name("bench-keyed").pool(cores()).unwrap();
        OnPool {
            shards: pool.local(|_| HashMap::new()),
        }
    }
}

impl KeyedState for OnPool {
    async fn call(&self, key: u32) -> u64 {
        self.shards
            .call_keyed(&key, move |map| touch(map, key))
            .await
            .unwrap()
    }
}

/// State that may cross threads: one map behind a mutex.
#[derive(Clone, Default)]
pub struct Locked {
    map: Arc<Mutex<HashMap<u32, u64>>>,
}

impl KeyedState for Locked {
    async fn call(&self, key: u32) -> u64 {
        touch(&mut self.map.lock().unwrap(), key)
    }
}
