//! The workloads shared by `benches/peers.rs` (criterion) and
//! `examples/bench_report.rs` (a quick median-of-N report): each row's own operation and
//! the peers' way of doing the same job, set up the same way for both.
//!
//! Included with `#[path]`, so a row cannot differ between the two reports.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::future::{join_all, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use pulsar_async::promise::Setter;
use pulsar_async::{
    chain_future, multi, multi_async, run_in_loop, Bench, Error, EventLoop, Promise,
};
use tokio::runtime::{Builder as RtBuilder, Handle, Runtime};
use tokio_util::task::LocalPoolHandle;

/// How many calls the burst rows submit before awaiting them.
pub const BURST: usize = 100_000;
/// How many futures or values the gather rows take.
pub const GATHER: usize = 10_000;
/// How long a loop in latency mode spins before it parks.
pub const SPIN: Duration = Duration::from_millis(5);
/// The pause before each call of the parked rows: longer than any spin window of the
/// loop (without latency mode) or of the waiting thread, so both are parked.
pub const PAUSE: Duration = Duration::from_micros(200);

/// Times `iters` calls of `f`, each after a [`PAUSE`] (not timed) that lets every
/// thread involved park.
pub fn timed_after_pause<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        std::thread::sleep(PAUSE);
        let start = Instant::now();
        std::hint::black_box(f());
        total += start.elapsed();
    }
    total
}

type RawJob = Box<dyn FnOnce() + Send + 'static>;

/// Polls `future` without ever parking this thread: the waiting side of the busy rows.
/// Like every spinner in these rows (ours included), it yields the CPU between polls
/// so that, on a machine with more ready threads than cores, it does not starve the
/// thread it waits for.
pub fn spin_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        polite_spin();
    }
}

/// One round of a spin: a few pause hints, then the CPU is offered to others.
pub fn polite_spin() {
    for _ in 0..32 {
        std::hint::spin_loop();
    }
    std::thread::yield_now();
}

/// A task that keeps a tokio runtime from parking until `stop` is set.
async fn keep_busy(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        polite_spin();
        tokio::task::yield_now().await;
    }
}

// ---------------------------------------------------------------------------------
// Ours

/// A loop on its own thread; `spin` is its latency mode (zero: parks at once).
pub fn our_loop(spin: Duration) -> EventLoop {
    EventLoop::builder()
        .name("bench")
        .spin(spin)
        .spawn()
        .unwrap()
}

/// A loop on its own thread with the default settings.
pub fn our_loop_default() -> EventLoop {
    EventLoop::new().unwrap()
}

/// A loop bounded at `calls` queued calls (`Builder::queue_capacity`): with `BURST`,
/// never full in the burst rows, so the row is the cost of counting the bound.
pub fn our_loop_bounded(calls: usize) -> EventLoop {
    EventLoop::builder().queue_capacity(calls).spawn().unwrap()
}

/// One call into the loop, waited for from this thread.
pub fn our_round_trip(lp: &EventLoop) -> u64 {
    run_in_loop(lp, || 1u64).wait().unwrap()
}

/// `BURST` calls submitted, then every result awaited.
pub fn our_burst(lp: &EventLoop) -> u64 {
    let promises: Vec<_> = (0..BURST as u64)
        .map(|i| run_in_loop(lp, move || i))
        .collect();
    promises.into_iter().map(|p| p.wait().unwrap()).sum()
}

/// `BURST` calls queued by `call_soon_threadsafe`, each handle dropped at once; only
/// the last call signals: the per-call cost of the entry point (to compare with the
/// raw channel floor without replies, and across versions of this crate).
pub fn our_soon_burst(lp: &EventLoop) -> u64 {
    let (done, rx) = tokio::sync::oneshot::channel();
    for i in 0..BURST as u64 - 1 {
        let _ = lp.call_soon_threadsafe(move || {
            std::hint::black_box(i);
        });
    }
    let _ = lp.call_soon_threadsafe(move || {
        let _ = done.send(BURST as u64);
    });
    rx.blocking_recv().unwrap()
}

/// A loop on its own thread kept busy by a tick storm: a `call_soon` callback that
/// queues itself again for ever (until dropped).
pub struct Storm {
    pub lp: EventLoop,
    stop: Arc<AtomicBool>,
}

impl Storm {
    pub fn new() -> Self {
        let lp = EventLoop::builder().name("storm").spawn().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        run_in_loop(&lp, move || tick(flag)).wait().unwrap();
        Storm { lp, stop }
    }

    /// The same loop without the storm, for comparison.
    pub fn quiet() -> Self {
        let lp = EventLoop::builder().name("quiet").spawn().unwrap();
        let stop = Arc::new(AtomicBool::new(true));
        Storm { lp, stop }
    }

    /// One `run_in_loop` call from this thread: how long after it was submitted it
    /// started on the loop (the wake-up of this thread afterwards is not counted: on
    /// a busy machine it is the OS scheduler's share, not the loop's).
    pub fn call_latency(&self) -> Duration {
        let start = Instant::now();
        let ran_at = run_in_loop(&self.lp, Instant::now).wait().unwrap();
        ran_at.saturating_duration_since(start)
    }

    /// How late a 1 ms timer of the loop fires (measured where it fires).
    pub fn timer_lateness(&self) -> Duration {
        let start = Instant::now();
        let fired = self
            .lp
            .call_later(Duration::from_millis(1), Instant::now)
            .wait()
            .unwrap();
        fired.saturating_duration_since(start + Duration::from_millis(1))
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The tick of a [`Storm`].
fn tick(stop: Arc<AtomicBool>) {
    if stop.load(Ordering::Relaxed) {
        return;
    }
    if let Some(lp) = EventLoop::current() {
        let _ = lp.call_soon(move || tick(stop));
    }
}

/// Promise create + set + await, one thread.
pub fn our_promise() -> Option<u64> {
    let p = Promise::new();
    p.set_result(1u64).unwrap();
    p.now_or_never().map(Result::unwrap)
}

/// chain_future with a callback on an already-resolved source, awaited.
pub fn our_chain() -> Option<u64> {
    chain_future(Promise::resolved(1u64))
        .callback(|v: u64| Ok(v + 1))
        .start()
        .now_or_never()
        .map(Result::unwrap)
}

/// How many links the pending-chain row builds (criterion; `bench_report` also runs
/// `LONG_CHAIN`).
pub const CHAIN_LINKS: usize = 1_000;
/// The long chain: a million links.
pub const LONG_CHAIN: usize = 1_000_000;

/// A pending chain of `links` links (each `chain_future` + callback), settled at its
/// source, awaited at its end, and dropped: the time per link is the cost of a link.
pub fn our_chain_pending(links: usize) -> u64 {
    let source = Promise::<u64>::new();
    let setter = source.setter();
    let mut last = source;
    for _ in 0..links {
        last = chain_future(last).callback(|v: u64| Ok(v + 1)).start();
    }
    setter.set_result(0).unwrap();
    last.now_or_never().unwrap().unwrap()
}

// ---------------------------------------------------------------------------------
// The raw floor: a thread that runs boxed jobs from a std channel, replies by oneshot.

/// A plain thread running boxed jobs from a `std::sync::mpsc` channel.
pub struct RawWorker {
    tx: Option<mpsc::Sender<RawJob>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RawWorker {
    /// `busy`: the worker spins on `try_recv` instead of blocking in `recv`.
    pub fn new(busy: bool) -> Self {
        let (tx, rx) = mpsc::channel::<RawJob>();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            if busy {
                while !flag.load(Ordering::Relaxed) {
                    match rx.try_recv() {
                        Ok(job) => job(),
                        Err(mpsc::TryRecvError::Empty) => polite_spin(),
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    }
                }
            } else {
                while let Ok(job) = rx.recv() {
                    job();
                }
            }
        });
        RawWorker {
            tx: Some(tx),
            stop,
            thread: Some(thread),
        }
    }

    fn send(&self, job: RawJob) {
        self.tx.as_ref().unwrap().send(job).unwrap();
    }

    /// One call, its reply over a tokio oneshot, the caller blocking.
    pub fn round_trip(&self) -> u64 {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Box::new(move || {
            let _ = reply.send(1u64);
        }));
        rx.blocking_recv().unwrap()
    }

    /// One call, the caller spinning on the reply.
    pub fn round_trip_spin(&self) -> u64 {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Box::new(move || {
            let _ = reply.send(1u64);
        }));
        spin_on(rx).unwrap()
    }

    /// `BURST` jobs without replies; only the last one signals.
    pub fn burst_no_replies(&self) -> u64 {
        let (done, rx) = tokio::sync::oneshot::channel();
        for i in 0..BURST as u64 - 1 {
            self.send(Box::new(move || {
                std::hint::black_box(i);
            }));
        }
        self.send(Box::new(move || {
            let _ = done.send(BURST as u64);
        }));
        rx.blocking_recv().unwrap()
    }
}

impl Drop for RawWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------
// tokio: a current-thread runtime on a thread of its own, reached by `Handle::spawn`.

/// A current-thread tokio runtime driven by a thread of its own.
pub struct TokioThread {
    handle: Handle,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TokioThread {
    /// `busy`: a task keeps the runtime from parking.
    pub fn new(busy: bool) -> Self {
        let rt = RtBuilder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (shutdown, wait) = tokio::sync::oneshot::channel::<()>();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            if busy {
                rt.spawn(keep_busy(flag));
            }
            let _ = rt.block_on(wait);
        });
        TokioThread {
            handle,
            stop,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// One `Handle::spawn`, its `JoinHandle` waited for from this thread.
    pub fn round_trip(&self) -> u64 {
        futures::executor::block_on(self.handle.spawn(async { 1u64 })).unwrap()
    }

    /// One `Handle::spawn`, its `JoinHandle` polled in a spin.
    pub fn round_trip_spin(&self) -> u64 {
        spin_on(self.handle.spawn(async { 1u64 })).unwrap()
    }

    /// `BURST` spawns, then every `JoinHandle` awaited.
    pub fn burst(&self) -> u64 {
        let handles: Vec<_> = (0..BURST as u64)
            .map(|i| self.handle.spawn(async move { i }))
            .collect();
        futures::executor::block_on(async {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        })
    }
}

impl Drop for TokioThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.shutdown.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------
// tokio-util: `LocalPoolHandle::spawn_pinned` on a pool of one worker, called from a
// current-thread runtime on this thread (spawn_pinned needs one).

/// A one-worker `LocalPoolHandle` and the caller's runtime.
pub struct Pinned {
    pool: LocalPoolHandle,
    caller: Runtime,
    stop: Arc<AtomicBool>,
}

impl Pinned {
    /// `busy`: tasks keep the worker and the caller's runtime from parking.
    pub fn new(busy: bool) -> Self {
        let pool = LocalPoolHandle::new(1);
        let caller = RtBuilder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        if busy {
            let (a, b) = (stop.clone(), stop.clone());
            caller.block_on(async {
                drop(pool.spawn_pinned(move || keep_busy(a)));
            });
            caller.spawn(keep_busy(b));
        }
        Pinned { pool, caller, stop }
    }

    /// One `spawn_pinned`, awaited.
    pub fn round_trip(&self) -> u64 {
        self.caller
            .block_on(self.pool.spawn_pinned(|| async { 1u64 }))
            .unwrap()
    }

    /// `BURST` calls to `spawn_pinned`, then every `JoinHandle` awaited.
    pub fn burst(&self) -> u64 {
        self.caller.block_on(async {
            let handles: Vec<_> = (0..BURST as u64)
                .map(|i| self.pool.spawn_pinned(move || async move { i }))
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Let the caller's keep-busy task see the flag and end.
        self.caller.block_on(tokio::task::yield_now());
    }
}

// ---------------------------------------------------------------------------------
// Promise peers

/// tokio oneshot create + send + await.
pub fn tokio_oneshot() -> Option<u64> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tx.send(1u64).unwrap();
    rx.now_or_never().map(Result::unwrap)
}

/// The futures way to a promise every clone can read: a oneshot behind `Shared`.
pub fn futures_shared() -> Option<u64> {
    let (tx, rx) = futures::channel::oneshot::channel();
    let shared = rx.shared();
    tx.send(1u64).unwrap();
    shared.now_or_never().map(Result::unwrap)
}

/// `then` + `map` on a ready future.
pub fn then_map() -> Option<u64> {
    futures::future::ready(1u64)
        .then(|v| futures::future::ready(v + 1))
        .map(|v| v)
        .now_or_never()
}

/// The same, boxed (a type-erased chain, as a callback API stores it).
pub fn then_map_boxed() -> Option<u64> {
    futures::future::ready(1u64)
        .then(|v| futures::future::ready(v + 1))
        .map(|v| v)
        .boxed()
        .now_or_never()
}

// ---------------------------------------------------------------------------------
// Gather peers (multi_async rows)

/// `GATHER` tokio oneshot receivers whose values are already sent.
pub fn completed_receivers() -> Vec<tokio::sync::oneshot::Receiver<u64>> {
    (0..GATHER as u64)
        .map(|i| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tx.send(i).unwrap();
            rx
        })
        .collect()
}

/// `join_all` over completed futures.
pub async fn join_all_completed(rxs: Vec<tokio::sync::oneshot::Receiver<u64>>) -> usize {
    join_all(rxs).await.len()
}

/// A sequential await loop over completed futures.
pub async fn sequential_completed(rxs: Vec<tokio::sync::oneshot::Receiver<u64>>) -> usize {
    let mut out = Vec::with_capacity(rxs.len());
    for rx in rxs {
        out.push(rx.await.unwrap());
    }
    out.len()
}

/// `GATHER` plain values.
pub fn plain_values() -> Vec<u64> {
    (0..GATHER as u64).collect()
}

/// Collecting plain values into a new `Vec`.
pub fn collect_plain(values: &[u64]) -> Vec<u64> {
    values.to_vec()
}

/// The same job as multi_async over ready `Result`s, the std way: the `Result`s
/// moved in, collected into a `Vec` of the values (or the first error).
pub fn collect_results(values: Vec<Result<u64, Error>>) -> usize {
    values
        .into_iter()
        .collect::<Result<Vec<u64>, Error>>()
        .unwrap()
        .len()
}

/// A `GATHER`-entry map of plain values.
pub fn plain_map() -> HashMap<u64, u64> {
    (0..GATHER as u64).map(|i| (i, i)).collect()
}

/// Rebuilding a map of plain values (same keys, new map).
pub fn rebuild_map(map: &HashMap<u64, u64>) -> HashMap<u64, u64> {
    map.iter().map(|(k, v)| (*k, *v)).collect()
}

/// A current-thread runtime for the gather rows.
pub fn gather_runtime() -> Runtime {
    RtBuilder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------
// Ours: multi_async and Bench

/// `GATHER` promises already resolved.
pub fn resolved_promises() -> Vec<Promise<u64>> {
    (0..GATHER as u64).map(Promise::resolved).collect()
}

/// multi_async over completed promises, awaited.
pub async fn our_gather_completed(promises: Vec<Promise<u64>>) -> usize {
    multi_async(promises).await.unwrap().len()
}

/// A sequential await loop over the same completed promises.
pub async fn sequential_promises(promises: Vec<Promise<u64>>) -> usize {
    let mut out = Vec::with_capacity(promises.len());
    for p in promises {
        out.push(p.await.unwrap());
    }
    out.len()
}

/// `GATHER` plain values, as multi_async takes them.
pub fn ready_values() -> Vec<Result<u64, Error>> {
    (0..GATHER as u64).map(Ok).collect()
}

/// multi_async over plain values: done at once, the output moved out.
pub fn our_gather_plain(values: Vec<Result<u64, Error>>) -> usize {
    multi_async(values).now_or_never().unwrap().unwrap().len()
}

/// A `GATHER`-entry map of plain values, as multi_async takes it.
pub fn ready_map() -> HashMap<u64, Result<u64, Error>> {
    (0..GATHER as u64).map(|i| (i, Ok(i))).collect()
}

/// multi_async over a map of plain values: a map with the same keys.
pub fn our_gather_map(map: HashMap<u64, Result<u64, Error>>) -> usize {
    multi_async(map).now_or_never().unwrap().unwrap().len()
}

/// `GATHER` pending promises, with a setter for each (settled by the row itself).
pub fn pending_promises() -> (Vec<Promise<u64>>, Vec<Setter<u64>>) {
    let promises: Vec<Promise<u64>> = (0..GATHER).map(|_| Promise::new()).collect();
    let setters = promises.iter().map(Promise::setter).collect();
    (promises, setters)
}

/// Settles the inputs of a completion-order row in reverse order.
fn settle_reversed(setters: &[Setter<u64>]) {
    for (i, setter) in setters.iter().enumerate().rev() {
        setter.set_result(i as u64).unwrap();
    }
}

/// Polls `stream` once (every input waits on its waker), settles `setters` in
/// reverse order, then reads every `(index, outcome)` on this thread: their sum.
fn drain_reversed<S>(mut stream: S, setters: &[Setter<u64>]) -> u64
where
    S: futures::Stream<Item = (usize, Result<u64, Error>)> + Unpin,
{
    assert!(stream.next().now_or_never().is_none()); // every input waits on its waker
    settle_reversed(setters);
    futures::executor::block_on(async {
        let mut sum = 0;
        while let Some((index, outcome)) = stream.next().await {
            sum += index as u64 + outcome.unwrap();
        }
        sum
    })
}

/// `multi::as_completed` over `GATHER` pending promises: polled once (each input
/// waits on its waker), settled in reverse order, every `(index, outcome)` read on
/// this thread, in that order.
pub fn our_as_completed((promises, setters): (Vec<Promise<u64>>, Vec<Setter<u64>>)) -> u64 {
    let stream = multi::as_completed(promises);
    drain_reversed(stream, &setters)
}

/// The futures way: the same promises in a `FuturesUnordered`, each keyed by its
/// index, settled and read the same way.
pub fn futures_unordered_keyed((promises, setters): (Vec<Promise<u64>>, Vec<Setter<u64>>)) -> u64 {
    let stream: FuturesUnordered<_> = promises
        .into_iter()
        .enumerate()
        .map(|(index, p)| p.map(move |outcome| (index, outcome)))
        .collect();
    drain_reversed(stream, &setters)
}

/// How many calls a Bench row makes.
pub const BENCH_CALLS: usize = 10_000;

/// A no-op async method, as `timeit` would call it.
async fn no_op(i: usize) -> Result<usize, Error> {
    Ok(i)
}

/// A Bench of `BENCH_CALLS` no-op calls, polled to completion on this thread.
pub fn our_bench() -> usize {
    futures::executor::block_on(Bench::builder(BENCH_CALLS).run(no_op))
        .unwrap()
        .results()
        .len()
}

/// The same calls awaited one after the other, results collected: the floor.
pub fn sequential_calls() -> usize {
    futures::executor::block_on(async {
        let mut out = Vec::with_capacity(BENCH_CALLS);
        for i in 0..BENCH_CALLS {
            out.push(no_op(i).await.unwrap());
        }
        out.len()
    })
}
