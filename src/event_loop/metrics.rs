//! What a loop is doing, always on: [`LoopMetrics`], the snapshot
//! [`EventLoop::metrics`](super::EventLoop::metrics) gives, and [`Counters`], where
//! the loop keeps it.
//!
//! # What it costs
//!
//! A push from another thread stores its sequence number in an atomic, under the
//! injector's lock that it holds anyway (the queue depth is pushes minus the calls
//! done). The loop publishes the calls of the injector it has done (run or cut) every
//! [`PUBLISH_EVERY`] calls and at the end of each iteration, and what else it counted
//! (calls run, the length of its local queue) once per iteration, with relaxed stores
//! to a line that only it writes; it reads the clock twice per park of its thread (tokio's `on_thread_park` /
//! `on_thread_unpark`); a task costs one increment when it starts and one decrement
//! when it ends. The numbers are read one by one, so a snapshot taken while the loop
//! runs is a consistent picture only to within the iteration running then.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// A snapshot of what a loop is doing, from
/// [`EventLoop::metrics`](super::EventLoop::metrics) (and
/// [`LoopPool::metrics`](crate::LoopPool::metrics) for each loop of a pool).
///
/// Cheap enough to be always on (see `BENCHMARKS.md`, the `metrics` rows); reading it
/// costs a few atomic loads. `Display` gives it as one line.
///
/// # Examples
///
/// ```
/// use pulsar_async::{run_in_loop, EventLoop};
///
/// let lp = EventLoop::builder().name("m").spawn().unwrap();
/// for i in 0..10 {
///     run_in_loop(&lp, move || i).wait().unwrap();
/// }
/// println!("{}", lp.metrics()); // m: 10 calls served, 0 queued, 0 tasks, busy ...
/// // Counts are published as the loop goes; once it is closed, they are final.
/// lp.close();
/// let m = lp.metrics();
/// assert_eq!((m.calls_served, m.queue_depth), (10, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopMetrics {
    /// The loop's name.
    pub name: String,
    /// Calls the loop took off its queues and ran since it started (`run_in_loop`,
    /// `call_soon`, `call_soon_threadsafe`, `LoopLocal` calls, the `spawn` family's
    /// starts); published once per iteration.
    pub calls_served: u64,
    /// Calls queued now and not finished: waiting in the loop's queues, or in the
    /// iteration running now (the call running counts, as the batch behind it; the
    /// loop publishes its progress through a batch every 32 calls). 0 once the loop
    /// is closing.
    pub queue_depth: usize,
    /// Tasks alive on the loop: those started by this crate (`spawn`, `spawn_local`,
    /// `run_in_loop_async`, `call_later`, `LoopLocal::call_async`, `#[task]` async
    /// methods) and those of `tokio::spawn` inside the loop. Tasks a user starts with
    /// `tokio::task::spawn_local` directly are not counted.
    pub tasks_alive: usize,
    /// Time the loop's thread spent running (calls, tasks, timers, I/O, and the spin
    /// window of [`Builder::spin`](super::Builder::spin)) while the loop was driven.
    pub busy: Duration,
    /// Time the loop's thread spent parked, waiting for work, while driven.
    pub idle: Duration,
    /// Calls and task polls that held the loop for the debug-mode threshold
    /// ([`Builder::slow_callback`](super::Builder::slow_callback)) or longer; counted
    /// in debug mode only (outside it nothing is timed).
    pub slow_calls: u64,
    /// Calls refused because the loop was full (its
    /// [`Builder::queue_capacity`](super::Builder::queue_capacity)); always 0 on an
    /// unbounded loop.
    pub calls_refused: u64,
}

impl LoopMetrics {
    /// The share of the driven time the loop spent busy, from 0 to 1 (0 before it
    /// ran at all).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let load = lp.metrics().utilization();
    /// assert!((0.0..=1.0).contains(&load));
    /// ```
    pub fn utilization(&self) -> f64 {
        let total = self.busy + self.idle;
        if total.is_zero() {
            0.0
        } else {
            self.busy.as_secs_f64() / total.as_secs_f64()
        }
    }
}

impl fmt::Display for LoopMetrics {
    /// One line: `name: N calls served, N queued, N tasks, busy X (P%), idle Y, N slow`,
    /// and `, N refused` when the loop refused calls for room.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} calls served, {} queued, {} tasks, busy {:.1?} ({:.0}%), idle {:.1?}, {} slow",
            self.name,
            self.calls_served,
            self.queue_depth,
            self.tasks_alive,
            self.busy,
            self.utilization() * 100.0,
            self.idle,
            self.slow_calls,
        )?;
        if self.calls_refused > 0 {
            write!(f, ", {} refused", self.calls_refused)?;
        }
        Ok(())
    }
}

/// How many calls of a batch the loop runs between two publications of its progress:
/// often enough that a router sees a loop working through a long batch as busy, seldom
/// enough that the line it writes is not bounced between caches on every call.
pub(crate) const PUBLISH_EVERY: usize = 32;

/// Where the loop's thread is, for the busy and idle clocks.
const STOPPED: u8 = 0;
const BUSY: u8 = 1;
const PARKED: u8 = 2;

/// The counters behind [`LoopMetrics`] that the loop writes. On their own cache
/// lines, written by the loop's thread only (the task count too: tasks start and
/// end there), read by any thread.
#[repr(align(128))]
pub(crate) struct Counters {
    /// Calls run, as of the end of the last iteration.
    served: AtomicU64,
    /// Tasks of the injector done (run or cut), as of the last publication.
    done: AtomicU64,
    /// The local queue's length, as of the end of the last iteration.
    local_len: AtomicUsize,
    /// Tasks alive (on [`crate::loom`]: the drain of a shutdown decides on it).
    tasks: crate::loom::AtomicUsize,
    /// Shared with the debug-mode timers ([`crate::debug::Origin`]).
    pub(crate) slow: Arc<AtomicU64>,
    /// The origin of the clock readings below.
    base: Instant,
    /// When the thread last changed between busy and parked, in nanoseconds since
    /// `base`, and where it is now (`STOPPED`, `BUSY`, `PARKED`).
    mark: AtomicU64,
    phase: AtomicU8,
    busy: AtomicU64,
    idle: AtomicU64,
    /// The drain of a shutdown: see [`Drain`].
    drain: Drain,
}

/// What a shutdown's drain needs of the tasks: set while the loop drains, each task
/// that ends is counted as finished and wakes the drive (parked until the last task
/// ends or the deadline), so the drain ends as soon as nothing is left. Outside a
/// drain a task's end costs one relaxed load of `on`.
/// On [`crate::loom`], so that the model of the drain explores it.
struct Drain {
    on: crate::loom::AtomicBool,
    finished: crate::loom::AtomicUsize,
    waker: crate::loom::Mutex<Option<Waker>>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            served: AtomicU64::new(0),
            done: AtomicU64::new(0),
            local_len: AtomicUsize::new(0),
            tasks: crate::loom::AtomicUsize::new(0),
            slow: Arc::default(),
            base: Instant::now(),
            mark: AtomicU64::new(0),
            phase: AtomicU8::new(STOPPED),
            busy: AtomicU64::new(0),
            idle: AtomicU64::new(0),
            drain: Drain {
                on: crate::loom::AtomicBool::new(false),
                finished: crate::loom::AtomicUsize::new(0),
                waker: crate::loom::Mutex::new(None),
            },
        }
    }

    /// Tasks alive now, started by this crate (see [`count`](Counters::count)).
    pub(crate) fn tasks_alive(&self) -> usize {
        self.tasks.load(Ordering::Acquire)
    }

    /// A shutdown's drain begins (`true`) or ends: from now on the tasks that end are
    /// counted as finished, and wake the drive.
    pub(crate) fn set_draining(&self, on: bool) {
        self.drain.on.store(on, Ordering::Release);
    }

    /// The drive waits for the drain: the next task to end wakes `waker`.
    pub(crate) fn drain_waker(&self, waker: &Waker) {
        let mut slot = crate::loom::lock(&self.drain.waker);
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Tasks that ended while the loop drained.
    pub(crate) fn tasks_finished(&self) -> usize {
        self.drain.finished.load(Ordering::Acquire)
    }

    /// A task ended: counted, and the drive woken, while the loop drains.
    fn task_ended(&self) {
        // Counted finished before it stops counting as alive: whoever sees the last
        // task gone (and ends the drain, settling the report) sees it finished.
        let draining = self.drain.on.load(Ordering::Acquire);
        if draining {
            self.drain.finished.fetch_add(1, Ordering::AcqRel);
        }
        self.tasks.fetch_sub(1, Ordering::AcqRel);
        if draining {
            let waker = crate::loom::lock(&self.drain.waker).take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Publishes the loop's own counts at the end of an iteration: `ran` more calls
    /// served, the local queue `local_len` long. Only the loop's thread writes them.
    #[inline]
    pub(crate) fn publish(&self, ran: u64, local_len: usize) {
        let served = self.served.load(Ordering::Relaxed);
        self.served.store(served + ran, Ordering::Relaxed);
        self.local_len.store(local_len, Ordering::Relaxed);
    }

    /// `n` more tasks of the injector done, run or cut (only the loop's thread
    /// writes this).
    #[inline]
    pub(crate) fn finished(&self, n: usize) {
        let done = self.done.load(Ordering::Relaxed);
        self.done.store(done + n as u64, Ordering::Relaxed);
    }

    /// Calls queued now, given the injector's count of pushes (`pushed`): a cheap
    /// read, for routing.
    #[inline]
    pub(crate) fn depth(&self, pushed: u64) -> usize {
        let done = self.done.load(Ordering::Relaxed);
        pushed.saturating_sub(done) as usize + self.local_len.load(Ordering::Relaxed)
    }

    /// The thread moves to `phase`; the time since the last move goes to the clock of
    /// the phase it leaves.
    fn switch(&self, phase: u8) {
        let now = self.now();
        let since = now.saturating_sub(self.mark.load(Ordering::Relaxed));
        match self.phase.load(Ordering::Relaxed) {
            BUSY => self.busy.fetch_add(since, Ordering::Relaxed),
            PARKED => self.idle.fetch_add(since, Ordering::Relaxed),
            _ => 0,
        };
        self.mark.store(now, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// A drive of the loop begins: its thread is busy.
    pub(crate) fn drive_started(&self) {
        self.switch(BUSY);
    }

    /// A drive of the loop ends.
    pub(crate) fn drive_ended(&self) {
        self.switch(STOPPED);
    }

    /// The loop's thread parks (tokio's `on_thread_park`).
    #[cfg_attr(loom, allow(dead_code))] // tokio built for loom has no park hooks
    pub(crate) fn parked(&self) {
        if self.phase.load(Ordering::Relaxed) != STOPPED {
            self.switch(PARKED);
        }
    }

    /// The loop's thread wakes up (tokio's `on_thread_unpark`).
    #[cfg_attr(loom, allow(dead_code))] // tokio built for loom has no park hooks
    pub(crate) fn unparked(&self) {
        if self.phase.load(Ordering::Relaxed) != STOPPED {
            self.switch(BUSY);
        }
    }

    /// `future`, counted as a task alive from now until it ends or is dropped.
    pub(crate) fn count<F: std::future::Future>(
        self: &Arc<Self>,
        future: F,
    ) -> impl std::future::Future<Output = F::Output> {
        self.tasks.fetch_add(1, Ordering::Relaxed);
        let alive = TaskAlive(self.clone());
        async move {
            let _alive = alive;
            future.await
        }
    }

    /// The snapshot, with what the loop's shared state adds.
    pub(crate) fn snapshot(
        &self,
        name: &str,
        queue_depth: usize,
        runtime_tasks: usize,
        calls_refused: u64,
    ) -> LoopMetrics {
        let (mut busy, mut idle) = (
            self.busy.load(Ordering::Relaxed),
            self.idle.load(Ordering::Relaxed),
        );
        let since = self.now().saturating_sub(self.mark.load(Ordering::Relaxed));
        match self.phase.load(Ordering::Relaxed) {
            BUSY => busy += since,
            PARKED => idle += since,
            _ => {}
        }
        LoopMetrics {
            name: name.to_owned(),
            calls_served: self.served.load(Ordering::Relaxed),
            queue_depth,
            tasks_alive: self.tasks.load(Ordering::Relaxed) + runtime_tasks,
            busy: Duration::from_nanos(busy),
            idle: Duration::from_nanos(idle),
            slow_calls: self.slow.load(Ordering::Relaxed),
            calls_refused,
        }
    }
}

/// A task alive on the loop: counted while this lives (it is kept by the task's
/// future, so it goes when the task ends or is dropped).
pub(crate) struct TaskAlive(Arc<Counters>);

impl Drop for TaskAlive {
    fn drop(&mut self) {
        self.0.task_ended();
    }
}
