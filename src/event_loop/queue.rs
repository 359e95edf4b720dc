//! The loop's queues: the [`Injector`] (the cross-thread entry: a queue that any thread
//! pushes to and the loop takes in batches, waking the loop only when it went idle)
//! and [`Task`], what a loop runs.

use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::debug::Origin;
use crate::loom::{lock, AtomicBool, Mutex, Ordering};
use crate::promise::CallTask;
use crate::schedule::Job;

use super::capacity::Capacity;
use super::state::Lifecycle;

/// What a loop runs: a boxed job, or a call that shares its promise's allocation;
/// either one timed, in debug mode.
pub(crate) enum Task {
    Job(Job),
    /// Work the loop gives itself (a promise's callbacks, a loop-local state's init
    /// and release): never refused for room, and holds no place on a bounded loop.
    Own(Job),
    Call(CallTask),
    /// A task submitted in debug mode: timed where it runs, reported with where it
    /// came from if it is slow.
    Timed(Box<Timed>),
    /// The place of a task cancelled by its handle: runs nothing, counts nowhere.
    Cancelled,
}

/// A task to time, and where it came from.
pub(crate) struct Timed {
    pub(crate) origin: Origin,
    pub(crate) task: Task,
}

impl Task {
    /// Runs the task (a call whose promise is already done, or whose handle cancelled
    /// it, is dropped unrun).
    pub(crate) fn run(self) {
        match self {
            Task::Job(job) | Task::Own(job) => job(),
            Task::Call(call) => call.run(),
            Task::Timed(timed) => {
                let Timed { origin, task } = *timed;
                origin.time(|| task.run());
            }
            Task::Cancelled => {}
        }
    }

    /// `true` for the place of a cancelled task.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(self, Task::Cancelled)
    }

    /// `true` for a task that holds a place on its loop (see `capacity.rs`): all but
    /// the loop's own work. A cancelled task keeps the place of the call it was.
    #[inline]
    pub(crate) fn holds_place(&self) -> bool {
        match self {
            Task::Own(_) => false,
            Task::Timed(timed) => timed.task.holds_place(),
            _ => true,
        }
    }

    /// What takes the place of a cancelled task in a queue, so that the positions of
    /// the others, which their sequence numbers give, stay as they are.
    pub(crate) fn cancelled() -> Task {
        Task::Cancelled
    }
}

/// Where the task with sequence number `seq` is in a queue that holds `len` tasks
/// and will give the next one `next_seq`; `None` once it left the queue. Tasks only
/// ever leave a queue from its front (or all at once), so the task `seq` is at
/// `seq - (next_seq - len)`.
pub(crate) fn position(seq: u64, next_seq: u64, len: usize) -> Option<usize> {
    let front = next_seq.checked_sub(len as u64)?;
    seq.checked_sub(front)
        .map(|at| at as usize)
        .filter(|at| *at < len)
}

/// Aligned to its own cache lines, so that the threads pushing to it and the loop
/// draining it do not also contend with the counters of the structure holding it.
#[repr(align(128))]
pub(crate) struct Injector {
    state: Mutex<State>,
    /// `true` while jobs may be queued: set by every push, cleared by the take that
    /// empties the queue (both under the lock). Lets a lingering loop look for work
    /// without taking the lock, so it does not slow down the threads pushing to it.
    has_jobs: AtomicBool,
    /// How many tasks were pushed so far: the sequence number of the next push,
    /// stored under the lock by every push, read without it by the loop's metrics.
    pushed: std::sync::atomic::AtomicU64,
    /// The bound on the loop's queued calls (all its queues), and who waits for room.
    capacity: Capacity,
}

struct State {
    jobs: VecDeque<Task>,
    /// The loop's waker while it waits for jobs; taken by the push that wakes it, so a
    /// burst of pushes costs one wake-up.
    waker: Option<Waker>,
    /// How many queued tasks transitions took out to cut: counted here, under the
    /// lock, so that a report read after the loop is closed includes them all.
    cut: usize,
    /// The sequence number of the next push: a `call_soon_threadsafe` handle finds
    /// its call by it (see [`position`]).
    next_seq: u64,
}

impl Injector {
    pub(crate) fn new(capacity: Option<usize>) -> Self {
        Injector {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                waker: None,
                cut: 0,
                next_seq: 0,
            }),
            has_jobs: AtomicBool::new(false),
            pushed: std::sync::atomic::AtomicU64::new(0),
            capacity: Capacity::new(capacity),
        }
    }

    /// The bound on the loop's queued calls.
    #[inline]
    pub(crate) fn capacity(&self) -> &Capacity {
        &self.capacity
    }

    /// Queues `item` as `wrap(item, seq)` while `life` takes work, and gives its
    /// sequence number `seq`; gives `item` back otherwise.
    #[inline]
    pub(crate) fn push_task<I>(
        &self,
        life: &Lifecycle,
        item: I,
        wrap: impl FnOnce(I, u64) -> Task,
    ) -> Result<u64, I> {
        let mut state = lock(&self.state);
        if !life.takes_work() {
            return Err(item);
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        self.pushed
            .store(state.next_seq, std::sync::atomic::Ordering::Relaxed);
        state.jobs.push_back(wrap(item, seq));
        self.has_jobs.store(true, Ordering::Release);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(seq)
    }

    /// How many tasks were pushed so far (a relaxed read, for the metrics).
    #[inline]
    pub(crate) fn pushed(&self) -> u64 {
        self.pushed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the task `seq` out of the queue, if it still waits there, leaving a
    /// no-op in its place.
    pub(crate) fn take_queued(&self, seq: u64) -> Option<Task> {
        let mut state = lock(&self.state);
        let at = position(seq, state.next_seq, state.jobs.len())?;
        Some(std::mem::replace(&mut state.jobs[at], Task::cancelled()))
    }

    /// Moves every queued task into `batch` (which must be empty): the cross-thread
    /// half of one iteration. `true` if it moved any.
    pub(crate) fn take_batch(&self, batch: &mut VecDeque<Task>) -> bool {
        if !self.may_have_jobs() {
            return false;
        }
        let mut state = lock(&self.state);
        self.has_jobs.store(false, Ordering::Relaxed);
        if state.jobs.is_empty() {
            return false;
        }
        std::mem::swap(&mut state.jobs, batch);
        true
    }

    /// Before the loop parks: `Ready` when there is something to do (a queued task,
    /// or `wake_up` says so, read under the lock), else `Pending` with the waker
    /// stored, so that the next push, close, stop or shutdown wakes the loop.
    pub(crate) fn poll_idle(
        &self,
        cx: &mut Context<'_>,
        wake_up: impl FnOnce() -> bool,
    ) -> Poll<()> {
        let mut state = lock(&self.state);
        if !state.jobs.is_empty() || wake_up() {
            return Poll::Ready(());
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Makes the transition `change` of the lifecycle under the lock, so that no push
    /// slips past it, and wakes the loop so that it sees it, and those waiting for
    /// room (a loop that stops taking work fails them). With `cut`, takes the
    /// tasks still queued, for the caller to drop outside any lock (which fails their
    /// promises with loop-closed). Returns what `change` returned.
    pub(crate) fn transition<R>(
        &self,
        change: impl FnOnce() -> R,
        cut: Option<&mut VecDeque<Task>>,
    ) -> R {
        let mut state = lock(&self.state);
        let out = change();
        if let Some(cut) = cut {
            // A cancelled call is counted nowhere.
            state.cut += state.jobs.iter().filter(|t| !t.is_cancelled()).count();
            cut.append(&mut state.jobs);
        }
        self.has_jobs.store(true, Ordering::Release);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        self.capacity.wake_all();
        out
    }

    /// How many queued tasks transitions took out to cut, so far.
    pub(crate) fn cut_count(&self) -> usize {
        lock(&self.state).cut
    }

    /// Wakes the loop if it is parked (for a stop request).
    pub(crate) fn wake(&self) {
        self.transition(|| (), None);
    }

    /// `true` when a job may be waiting (or the loop was woken); without locking. A
    /// hint for a loop that spins before it parks: `false` can be stale, so the loop
    /// still goes through [`poll_idle`](Injector::poll_idle) before parking.
    pub(crate) fn may_have_jobs(&self) -> bool {
        self.has_jobs.load(Ordering::Acquire)
    }
}

/// The calls a caller-driven loop's owning thread queued that carry a promise (a
/// `run_in_loop` call, a `spawn` job: [`Task`]s, which are `Send`), kept where any
/// thread can reach them, so that a close from another thread settles their promises
/// at once: the owner may never drive the loop again. The owner's local queue holds a
/// placeholder for each, in order ([`Ready::Owned`]); running a
/// placeholder runs the front task here. Tasks leave from the front (or all at once,
/// cut), so the task `seq` is found by [`position`].
pub(crate) struct OwnerQueue(Mutex<Owned>);

struct Owned {
    tasks: VecDeque<Task>,
    next_seq: u64,
    /// Set by the cut: nothing is queued here after it.
    cut: bool,
    /// How many tasks the cut took (not counting cancelled ones).
    cut_count: usize,
}

impl OwnerQueue {
    pub(crate) fn new() -> Self {
        OwnerQueue(Mutex::new(Owned {
            tasks: VecDeque::new(),
            next_seq: 0,
            cut: false,
            cut_count: 0,
        }))
    }

    /// Queues `item` as `wrap(item, seq)` and gives `seq`; `item` back once cut.
    pub(crate) fn push<I>(&self, item: I, wrap: impl FnOnce(I, u64) -> Task) -> Result<u64, I> {
        let mut q = lock(&self.0);
        if q.cut {
            return Err(item);
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        q.tasks.push_back(wrap(item, seq));
        Ok(seq)
    }

    /// The task at the front, for its placeholder to run; `None` once cut.
    pub(crate) fn pop_front(&self) -> Option<Task> {
        lock(&self.0).tasks.pop_front()
    }

    /// Takes the task `seq` out, if it still waits, leaving a no-op in its place.
    pub(crate) fn take_queued(&self, seq: u64) -> Option<Task> {
        let mut q = lock(&self.0);
        let at = position(seq, q.next_seq, q.tasks.len())?;
        Some(std::mem::replace(&mut q.tasks[at], Task::cancelled()))
    }

    /// Takes every task out, for the caller to drop (which fails their promises with
    /// loop-closed); nothing is queued here after it.
    pub(crate) fn cut(&self) -> VecDeque<Task> {
        let mut q = lock(&self.0);
        q.cut = true;
        q.cut_count += q.tasks.iter().filter(|t| !t.is_cancelled()).count();
        std::mem::take(&mut q.tasks)
    }

    /// How many tasks the cut took.
    pub(crate) fn cut_count(&self) -> usize {
        lock(&self.0).cut_count
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::Arc;
    use crate::promise::Promise;
    use ::loom::thread;

    /// Waits like an idle loop until a batch can be taken.
    fn next_batch(q: &Injector, life: &Lifecycle, batch: &mut VecDeque<Task>) {
        ::loom::future::block_on(std::future::poll_fn(|cx| loop {
            if q.take_batch(batch) || life.is_closing() {
                return Poll::Ready(());
            }
            if q.poll_idle(cx, || !life.takes_work()).is_pending() {
                return Poll::Pending;
            }
        }));
    }

    #[test]
    fn a_call_racing_a_close_runs_or_fails_with_loop_closed() {
        ::loom::model(|| {
            let q = Arc::new(Injector::new(None));
            let life = Arc::new(Lifecycle::new());
            let (p, call) = Promise::for_call(std::sync::Arc::new(NoLoop), || Ok(1usize));
            let submitter = {
                let (q, life) = (q.clone(), life.clone());
                // A refused call is dropped here, which fails its promise.
                thread::spawn(move || drop(q.push_task(&life, call, |c, _| Task::Call(c))))
            };
            let closer = {
                let (q, life) = (q.clone(), life.clone());
                thread::spawn(move || {
                    let mut cut = VecDeque::new();
                    q.transition(|| life.to_closing(), Some(&mut cut));
                    drop(cut);
                })
            };
            // The loop: runs batches until it sees the close, then cuts what is left.
            let mut batch = VecDeque::new();
            loop {
                next_batch(&q, &life, &mut batch);
                if life.is_closing() {
                    break;
                }
                for task in batch.drain(..) {
                    task.run();
                }
            }
            submitter.join().unwrap();
            closer.join().unwrap();
            let mut cut = std::mem::take(&mut batch);
            q.transition(|| (), Some(&mut cut));
            drop(cut);
            match p.try_result() {
                Ok(v) => assert_eq!(v, 1),
                Err(e) => assert_eq!(e.kind(), crate::error::ErrorKind::LoopClosed),
            }
        });
    }

    /// A scheduler for promises whose loop is gone.
    struct NoLoop;

    impl crate::schedule::Schedule for NoLoop {
        fn schedule(&self, job: Job) -> Result<(), Job> {
            Err(job)
        }
        fn is_loop_thread(&self) -> bool {
            false
        }
        fn is_debug(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_push_after_the_loop_went_idle_wakes_it() {
        ::loom::model(|| {
            let q = Arc::new(Injector::new(None));
            let life = Arc::new(Lifecycle::new());
            let done = Promise::<u8>::new();
            let pusher = {
                let (q, life, done) = (q.clone(), life.clone(), done.clone());
                thread::spawn(move || {
                    let job: Job = Box::new(move || drop(done.set_result(1)));
                    assert!(q.push_task(&life, job, |j, _| Task::Job(j)).is_ok());
                })
            };
            // Would hang (and loom would report a deadlock) if the wake-up were lost.
            let mut batch = VecDeque::new();
            next_batch(&q, &life, &mut batch);
            for task in batch.drain(..) {
                task.run();
            }
            pusher.join().unwrap();
            assert_eq!(done.try_result().unwrap(), 1);
        });
    }
}

/// Set in the sequence numbers of tasks queued on the loop's own thread, so that
/// they never equal those of the injector.
pub(super) const LOCAL_SEQ: u64 = 1 << 63;

/// Set, beside [`LOCAL_SEQ`], in those of a caller-driven loop's owner queue.
pub(super) const OWNER_SEQ: u64 = 1 << 62;

/// An entry of the local queue: a `call_soon` call, any task queued from the loop's
/// own thread, or, on a caller-driven loop, the place of a task in its owner queue.
pub(super) enum Ready {
    Local(Rc<dyn RunLocal>),
    Task(Task),
    Owned,
}

impl Ready {
    /// Runs the entry, giving back its place on the loop first (see `capacity.rs`):
    /// once started, a call holds none.
    pub(super) fn run(self, capacity: &Capacity, owner_queue: &OwnerQueue) {
        match self {
            Ready::Local(call) => {
                capacity.give_back();
                call.run()
            }
            Ready::Task(task) => {
                if task.holds_place() {
                    capacity.give_back();
                }
                task.run()
            }
            Ready::Owned => {
                if let Some(task) = owner_queue.pop_front() {
                    if task.holds_place() {
                        capacity.give_back();
                    }
                    task.run();
                }
            }
        }
    }

    /// `true` for a call cancelled before it ran: it is counted nowhere.
    #[inline]
    pub(super) fn is_cancelled(&self) -> bool {
        match self {
            Ready::Local(call) => call.is_cancelled(),
            Ready::Task(task) => task.is_cancelled(),
            Ready::Owned => false,
        }
    }
}

/// What the loop does with a queued `call_soon` call (a `LocalCall`, `handle.rs`).
pub(crate) trait RunLocal {
    fn run(&self);
    /// `true` once cancelled by its handle: it runs nothing and counts nowhere.
    fn is_cancelled(&self) -> bool;
}
