//! The loop's driver: what a loop shares between its handles, its thread and the
//! promises bound to it ([`LoopShared`]), the state only its own thread touches
//! ([`LocalLoop`]: the local queue), the fair iteration that runs queued calls between
//! the loop's tokio tasks (spinning, then parking when idle), the thread of a loop
//! that owns one, teardown, and the thread-locals that tell which loops a thread runs.
//!
//! # One iteration
//!
//! As asyncio's `_run_once`: an iteration runs the calls that were ready when it
//! began (the local queue's length then, and the batch taken from the injector then),
//! in that order; what they queue waits for the next iteration. After each iteration
//! the drive wakes itself and returns `Pending`, so that before the next one tokio
//! polls the `LocalSet`'s tasks (`RunUntil::poll`, after this future) and its driver
//! for timers and I/O (`park_timeout(0)` in the current-thread scheduler, since the
//! drive woke itself).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::LocalSet;

use crate::debug::Origin;
use crate::error::{Error, ErrorKind};
use crate::loom::{AtomicBool, AtomicUsize, Ordering};
use crate::panic::{self, run_guarded};
use crate::promise::Promise;
use crate::schedule::{Job, Schedule, Scheduler};

use super::link::{LoopLink, TokioHandle};
pub(crate) use super::locals::Slots;
use super::metrics::{Counters, PUBLISH_EVERY};
use super::queue::{position, Injector, OwnerQueue, Ready, Task, LOCAL_SEQ, OWNER_SEQ};
use super::spawn::Registry;
use super::spin::{Spin, Spun};
use super::state::{CallsRunning, Lifecycle, LoopState, ShutdownReport};
pub(crate) use super::threads::with_locals;
pub(super) use super::threads::{
    current_local, current_scheduler, is_driving, local_loop, take_queued,
};
use super::threads::{owns_loops, OWNED, OWNED_COUNT, RUNNING};

/// What a loop shares between its handles, its thread and the promises bound to it.
///
/// Its lifecycle is the one word of [`Lifecycle`], on [`crate::loom`] primitives so
/// that the model checker sees it; `handles` counts the user handles (the last one to
/// go closes the loop); `closed` is settled with the report when the loop is closed.
pub(crate) struct LoopShared {
    pub(super) id: u64,
    pub(super) name: Arc<str>,
    pub(super) debug: AtomicBool,
    /// Debug mode reports calls and task polls that take at least this long.
    pub(super) slow_callback: Duration,
    pub(super) owns_thread: bool,
    pub(super) thread: OnceLock<ThreadId>,
    pub(super) life: Lifecycle,
    pub(super) calls_running: CallsRunning,
    pub(super) injector: Injector,
    handles: AtomicUsize,
    pub(super) join: Mutex<Option<JoinHandle<()>>>,
    pub(super) spin: Duration,
    /// How long teardown waits for tokio's blocking pool, and the last drop for a
    /// running call.
    pub(super) shutdown_timeout: Duration,
    /// When a shutdown stops draining and cuts what is left.
    pub(super) deadline: Mutex<Option<Instant>>,
    /// Calls run while stopping, and calls cut: the report.
    pub(super) ran: AtomicUsize,
    pub(super) cut: AtomicUsize,
    /// Tasks alive when the loop was torn down (dropped): the report's `tasks_cut`.
    pub(super) tasks_cut: AtomicUsize,
    /// Settled with the report once the loop is closed.
    pub(super) closed: Promise<ShutdownReport>,
    /// The tasks of a caller-driven loop, which a close from another thread fails.
    pub(super) tasks: Registry,
    /// The calls a caller-driven loop's owning thread queued, which a close from
    /// another thread cuts.
    pub(super) owner_queue: OwnerQueue,
    /// What the loop is doing: [`LoopMetrics`](super::LoopMetrics)' counters.
    pub(super) metrics: Arc<Counters>,
    /// The handle of the loop's tokio runtime, for
    /// [`EventLoop::tokio_handle`](super::EventLoop::tokio_handle) (every loop has one,
    /// but those of the loom models), until the loop is torn down.
    pub(super) tokio: TokioHandle,
    /// What the loop's promises hold of it (see [`LoopLink`]).
    link: Arc<LoopLink>,
}

/// A panic on a thread that holds a loop's handle leaves the loop consistent: every
/// transition of its lifecycle is one atomic step, its queues are behind locks that
/// survive poisoning, and its report promise is only ever set once. So a handle may
/// cross `catch_unwind`, as it could before the loop kept a promise.
impl std::panic::RefUnwindSafe for LoopShared {}

impl Schedule for LoopShared {
    /// Work the loop gives itself (a promise's callbacks): holds no place on the
    /// loop, never refused for room (see `capacity.rs`).
    fn schedule(&self, job: Job) -> Result<(), Job> {
        self.push(job, |job, _| Task::Own(job)).map(drop)
    }

    /// On the owning thread of a caller-driven loop closed from another thread (and
    /// so never driven again), the owner drops what is left of the loop first, which
    /// settles every promise of its work: then the loop is no thread's, and a blocking
    /// wait for one of those promises returns at once instead of refusing.
    fn is_loop_thread(&self) -> bool {
        if self.thread.get() != Some(&std::thread::current().id()) {
            return false;
        }
        if self.owns_thread || !self.life.is_closing() || self.life.is_driven() {
            return true;
        }
        if let Some(local) = local_loop(self.id) {
            let held = local.parts.try_borrow().is_ok_and(|p| p.is_some());
            if held {
                local.teardown(&mut VecDeque::new());
            }
        }
        false
    }

    fn is_debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    /// An own-thread loop runs until it closes; a caller-driven one only while it
    /// is driven.
    fn is_running(&self) -> bool {
        (self.owns_thread && !self.life.is_closed()) || self.life.is_driven()
    }

    fn as_any(self: Arc<Self>) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(self)
    }
}

/// How a loop is configured, for [`LoopShared::new`].
pub(super) struct Settings {
    pub(super) name: Arc<str>,
    pub(super) debug: bool,
    pub(super) slow_callback: Duration,
    pub(super) spin: Duration,
    pub(super) shutdown_timeout: Duration,
    pub(super) queue_capacity: Option<usize>,
    pub(super) metrics: Arc<Counters>,
    pub(super) tokio: Option<tokio::runtime::Handle>,
}

impl LoopShared {
    /// The state of a new loop, with one handle.
    pub(super) fn new(id: u64, owns_thread: bool, settings: Settings) -> Self {
        LoopShared {
            id,
            name: settings.name,
            debug: AtomicBool::new(settings.debug),
            slow_callback: settings.slow_callback,
            owns_thread,
            thread: OnceLock::new(),
            life: Lifecycle::new(),
            calls_running: CallsRunning::new(),
            injector: Injector::new(settings.queue_capacity),
            handles: AtomicUsize::new(1),
            join: Mutex::new(None),
            spin: settings.spin,
            shutdown_timeout: settings.shutdown_timeout,
            deadline: Mutex::new(None),
            ran: AtomicUsize::new(0),
            cut: AtomicUsize::new(0),
            tasks_cut: AtomicUsize::new(0),
            closed: Promise::new(),
            tasks: Registry::new(),
            owner_queue: OwnerQueue::new(),
            metrics: settings.metrics,
            tokio: TokioHandle::new(settings.tokio),
            link: Arc::new(LoopLink::new()),
        }
    }

    /// The loop as its promises hold it: through its [`LoopLink`], which lets go of
    /// the loop once it is torn down.
    #[inline]
    pub(crate) fn scheduler(self: &Arc<Self>) -> Scheduler {
        self.link()
    }

    /// The loop's [`LoopLink`], armed: what its promises and call handles hold.
    #[inline]
    pub(super) fn link(self: &Arc<Self>) -> Arc<LoopLink> {
        self.link.arm(self);
        self.link.clone()
    }

    /// Where work submitted now comes from, when debug mode is on.
    #[track_caller]
    pub(crate) fn origin(&self, what: &'static str) -> Option<Origin> {
        let at = std::panic::Location::caller();
        self.is_debug().then(|| Origin {
            loop_name: self.name.clone(),
            what,
            at,
            threshold: self.slow_callback,
            slow: self.metrics.slow.clone(),
        })
    }

    /// The one route of work into the loop: on the loop's own thread, the local queue
    /// (so that calls issued there run in the order issued, whichever entry point);
    /// from any other thread, the injector. Gives the task's sequence number (local
    /// ones have [`LOCAL_SEQ`] set), or `item` back when the loop takes no work.
    #[inline]
    pub(super) fn push<I>(&self, item: I, wrap: impl FnOnce(I, u64) -> Task) -> Result<u64, I> {
        if !owns_loops() {
            return self.injector.push_task(&self.life, item, wrap);
        }
        match local_loop(self.id) {
            None => self.injector.push_task(&self.life, item, wrap),
            Some(local) if self.takes_local_work() => match self.owns_thread {
                true => {
                    Ok(LOCAL_SEQ | local.push_with(|seq| Ready::Task(wrap(item, LOCAL_SEQ | seq))))
                }
                false => local.push_owned(item, wrap),
            },
            Some(_) => Err(item),
        }
    }

    /// Whether work queued on the loop's own thread is taken: while running, and while
    /// draining for a shutdown from code the loop runs (its tasks and calls: what they
    /// spawn or queue is part of what the loop holds).
    #[inline]
    pub(super) fn takes_local_work(&self) -> bool {
        self.life.takes_work() || (self.life.is_stopping() && is_driving(self.id))
    }

    /// Tasks alive on the loop now: this crate's and those of `tokio::spawn` inside it.
    pub(super) fn tasks_alive(&self) -> (usize, usize) {
        (self.metrics.tasks_alive(), self.tokio.alive_tasks())
    }

    /// Counts one more handle, cloned from a counted one.
    pub(super) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one handle less; `true` for the last one, whose owner closes the loop.
    pub(super) fn drop_handle(&self) -> bool {
        self.handles.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Drops tasks that will never run (the loop closed), each under a guard so that
    /// a panicking `Drop` in one neither stops the others nor unwinds into the caller;
    /// counts them as cut.
    pub(super) fn cut_tasks<T>(&self, tasks: impl IntoIterator<Item = T>) {
        let n = self.drop_cut(tasks);
        if n > 0 {
            self.cut.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Drops cut tasks as [`cut_tasks`](LoopShared::cut_tasks) does, without counting
    /// them (the injector counted them when it gave them out); how many.
    pub(super) fn drop_cut<T>(&self, tasks: impl IntoIterator<Item = T>) -> usize {
        let mut n = 0;
        for task in tasks {
            run_guarded(move || drop(task), "dropping a call cut by close");
            n += 1;
        }
        n
    }
}

/// A loop's state that only its own thread touches.
pub(super) struct LocalLoop {
    pub(super) shared: Arc<LoopShared>,
    local: RefCell<VecDeque<Ready>>,
    /// The sequence number of the next task queued here.
    next_seq: Cell<u64>,
    waker: RefCell<Option<Waker>>,
    /// The idle spin: its window, and whether it pays now.
    spin: Spin,
    /// The deadline of a shutdown's drain as a timer of the loop's runtime, while the
    /// drive waits for tasks.
    drain_timer: RefCell<Option<Pin<Box<tokio::time::Sleep>>>>,
    /// The runtime and task set of a caller-driven loop, while it is not running.
    pub(super) parts: RefCell<Option<(Runtime, LocalSet)>>,
    /// The values of the loop's loop-local state.
    pub(super) locals: Slots,
}

impl LocalLoop {
    pub(super) fn new(shared: Arc<LoopShared>, parts: Option<(Runtime, LocalSet)>) -> Self {
        LocalLoop {
            spin: Spin::new(shared.spin),
            shared,
            local: RefCell::new(VecDeque::new()),
            next_seq: Cell::new(0),
            waker: RefCell::new(None),
            drain_timer: RefCell::new(None),
            parts: RefCell::new(parts),
            locals: Slots::default(),
        }
    }

    /// Runs the loop's iterations until it is closing or asked to stop (`Ready`).
    ///
    /// Between two iterations the runtime has a turn: after an iteration, if calls
    /// are already waiting, the drive wakes itself and returns `Pending`, so that
    /// tokio runs the `LocalSet`'s tasks and polls its timers and I/O before the next
    /// one. If nothing waits, the drive goes idle at once (spinning for the builder's
    /// window, then parking, which is the runtime's turn); a call that arrives while it
    /// spins still waits for that turn before it runs.
    pub(super) fn poll_drive(&self, cx: &mut Context<'_>, batch: &mut VecDeque<Task>) -> Poll<()> {
        let life = &self.shared.life;
        // Being polled again, the drive had returned `Pending`: the runtime had its turn.
        let mut turn_owed = false;
        self.spin.woken();
        loop {
            if life.is_closing() || (!self.shared.owns_thread && life.take_stop()) {
                return Poll::Ready(());
            }
            if life.is_stopping() && self.past_deadline() {
                self.shared.begin_close();
                continue;
            }
            let queued_here = self.local.borrow().len();
            if queued_here == 0 && !self.shared.injector.may_have_jobs() {
                if life.is_stopping() && self.shared.tasks_alive() == (0, 0) {
                    // Drained: no call queued, no task alive. The shutdown ends here.
                    self.shared.begin_close();
                    continue;
                }
                match self.idle(cx) {
                    Some(poll) => return poll,
                    None => continue,
                }
            }
            if turn_owed {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // One iteration: what is ready now, and nothing queued after this point.
            self.shared.injector.take_batch(batch);
            self.spin.found_work();
            self.run_iteration(queued_here, batch);
            turn_owed = true;
        }
    }

    /// Runs the first `queued_here` calls of the local queue, then `batch`, each under
    /// a guard; stops at the first call that finds the loop closing (or past its
    /// shutdown deadline) and cuts the rest of the batch.
    fn run_iteration(&self, queued_here: usize, batch: &mut VecDeque<Task>) {
        let capacity = self.shared.injector.capacity();
        self.shared.calls_running.set(true);
        let mut ran_stopping = 0;
        let mut open = true;
        let mut ran = 0u64;
        for _ in 0..queued_here {
            let Some(call) = self.local.borrow_mut().pop_front() else {
                break;
            };
            // A cancelled call neither runs nor counts.
            let counts = !call.is_cancelled();
            open = self.may_start(&mut ran_stopping, counts);
            if !open {
                // Not started: back in the queue, where teardown cuts it.
                self.local.borrow_mut().push_front(call);
                break;
            }
            ran += u64::from(counts);
            run_guarded(
                || call.run(self.shared.injector.capacity(), &self.shared.owner_queue),
                "callback",
            );
        }
        let mut unpublished = 0;
        if open {
            while let Some(task) = batch.pop_front() {
                let counts = !task.is_cancelled();
                if !self.may_start(&mut ran_stopping, counts) {
                    batch.push_front(task);
                    break;
                }
                // Started: its place on the loop is free.
                if task.holds_place() {
                    capacity.give_back();
                }
                ran += u64::from(counts);
                run_guarded(|| task.run(), "callback");
                unpublished += 1;
                if unpublished == PUBLISH_EVERY {
                    self.shared.metrics.finished(unpublished);
                    unpublished = 0;
                }
            }
        }
        // The rest of the batch is cut below.
        self.shared.metrics.finished(unpublished + batch.len());
        self.shared.calls_running.set(false);
        let local_len = self.local.borrow().len();
        self.shared.metrics.publish(ran, local_len);
        if ran_stopping > 0 {
            self.shared.ran.fetch_add(ran_stopping, Ordering::Relaxed);
        }
        // Calls that had not started when the loop began closing are cut.
        self.shared
            .cut_tasks(batch.drain(..).filter(|t| !t.is_cancelled()));
    }

    /// Whether the next queued call may start: not once the loop is closing or past
    /// its shutdown deadline. Counts the calls that start while stopping.
    #[inline]
    fn may_start(&self, ran_stopping: &mut usize, counts: bool) -> bool {
        match self.shared.life.state() {
            LoopState::Running => true,
            LoopState::Stopping if self.past_deadline() => {
                self.shared.begin_close();
                false
            }
            LoopState::Stopping => {
                *ran_stopping += usize::from(counts);
                true
            }
            LoopState::Closing | LoopState::Closed => false,
        }
    }

    /// `true` once the deadline of the shutdown in progress has passed, on the loop's
    /// clock (tokio's: a paused clock is honoured).
    fn past_deadline(&self) -> bool {
        self.deadline()
            .is_some_and(|d| tokio::time::Instant::now() >= d)
    }

    /// The deadline of the shutdown in progress, on tokio's clock.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let deadline = *self
            .shared
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        deadline.map(tokio::time::Instant::from_std)
    }

    /// While a shutdown drains and only tasks are left: the drive waits for the next
    /// task to end (it wakes the drive), for the deadline (a timer of the loop's
    /// runtime), and, while tasks of `tokio::spawn` are alive (whose end wakes nobody),
    /// looks again every millisecond. `true` when the drive must look again: the
    /// timer is due, or the last task ended before the waker was in place.
    fn wait_for_tasks(&self, cx: &mut Context<'_>) -> bool {
        self.shared.metrics.drain_waker(cx.waker());
        // A task that ended before the waker was in place woke nobody: read the count
        // after (the waker's lock orders the two).
        if self.shared.metrics.tasks_alive() == 0 && self.shared.tasks_alive().1 == 0 {
            return true;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            // (The loom models have no runtime: only a task's end wakes them.)
            return false;
        }
        let Some(deadline) = self.deadline() else {
            return false;
        };
        let at = match self.shared.tasks_alive().1 {
            0 => deadline,
            _ => deadline.min(tokio::time::Instant::now() + RECHECK_TOKIO_TASKS),
        };
        let mut timer = self.drain_timer.borrow_mut();
        match timer.as_mut() {
            Some(t) if t.deadline() == at => {}
            Some(t) => t.as_mut().reset(at),
            None => *timer = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        timer
            .as_mut()
            .is_some_and(|t| t.as_mut().poll(cx).is_ready())
    }

    /// Out of work: spins for new calls for up to the builder's `spin` window, in
    /// slices (see `spin.rs`) with the loop's tasks, timers and I/O run
    /// between slices; then parks. `None` when there may be work now.
    fn idle(&self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        let has_work = || self.shared.injector.may_have_jobs() || !self.local.borrow().is_empty();
        match self.spin.spin(has_work) {
            Spun::Found => return None,
            Spun::SliceOver => {
                cx.waker().wake_by_ref();
                return Some(Poll::Pending);
            }
            Spun::WindowOver => {}
        }
        let life = &self.shared.life;
        // A drain waits for its tasks; a loop that had not seen the shutdown begin
        // wakes up for it (the phase is read under the injector's lock, where the
        // shutdown moves it).
        let draining = life.is_stopping();
        if draining && self.wait_for_tasks(cx) {
            return None;
        }
        let wake_up =
            || life.is_closing() || life.stop_requested() || (!draining && !life.takes_work());
        if self.shared.injector.poll_idle(cx, wake_up).is_ready() || !self.local.borrow().is_empty()
        {
            return None;
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        self.spin.parks();
        Some(Poll::Pending)
    }

    /// Queues a task from the owning thread of a caller-driven loop: in the owner
    /// queue, where a close from another thread reaches it, and its place here.
    pub(super) fn push_owned<I>(
        &self,
        item: I,
        wrap: impl FnOnce(I, u64) -> Task,
    ) -> Result<u64, I> {
        let seq = self
            .shared
            .owner_queue
            .push(item, |item, seq| wrap(item, LOCAL_SEQ | OWNER_SEQ | seq))?;
        self.push_with(|_| Ready::Owned);
        Ok(LOCAL_SEQ | OWNER_SEQ | seq)
    }

    /// Queues a call from the loop's own thread, waking the drive if it waits.
    pub(super) fn push(&self, call: Ready) {
        self.push_with(|_| call);
    }

    /// Queues the call `make(seq)` from the loop's own thread, `seq` being its
    /// sequence number in the local queue (see [`position`]), which it returns.
    fn push_with(&self, make: impl FnOnce(u64) -> Ready) -> u64 {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        self.local.borrow_mut().push_back(make(seq));
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
        seq
    }

    /// Drives a caller-driven loop on this thread until `future` completes (`Some`) or
    /// the loop is stopped (`None`); tears the loop down if it got closed meanwhile.
    pub(super) fn drive<F: Future>(
        self: &Rc<Self>,
        future: Option<F>,
    ) -> Result<Option<F::Output>, Error> {
        let life = &self.shared.life;
        if life.is_driven() && !life.is_closing() {
            return Err(already_running());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "cannot drive a loop from inside a tokio runtime",
            ));
        }
        if let Err(closing) = life.enter_drive() {
            return Err(match closing {
                true => {
                    self.teardown(&mut VecDeque::new());
                    ErrorKind::LoopClosed.into()
                }
                false => already_running(),
            });
        }
        let Some((runtime, set)) = self.parts.borrow_mut().take() else {
            life.leave_drive();
            return Err(already_running());
        };
        let previous = RUNNING.with(|r| r.borrow_mut().replace(self.clone()));
        self.shared.metrics.drive_started();
        let mut future = std::pin::pin!(future);
        let mut batch = VecDeque::new();
        let outcome = panic::catch(|| {
            set.block_on(
                &runtime,
                std::future::poll_fn(|cx| {
                    if let Some(f) = future.as_mut().as_pin_mut() {
                        match panic::catch(|| f.poll(cx)) {
                            Ok(Poll::Ready(out)) => return Poll::Ready(Ok(Some(out))),
                            Ok(Poll::Pending) => {}
                            Err(error) => return Poll::Ready(Err(error)),
                        }
                    }
                    self.poll_drive(cx, &mut batch).map(|()| Ok(None))
                }),
            )
        })
        .and_then(|outcome| outcome);
        self.shared.metrics.drive_ended();
        RUNNING.with(|r| *r.borrow_mut() = previous);
        *self.parts.borrow_mut() = Some((runtime, set));
        if life.is_closing() {
            // Torn down before the drive ends, so that whoever sees the loop neither
            // driven nor closed knows that nobody will tear it down but its owner.
            self.teardown(&mut batch);
            life.leave_drive();
            return outcome.and(Err(ErrorKind::LoopClosed.into()));
        }
        life.leave_drive();
        outcome
    }

    /// Tears the loop down on the thread that owns it: closes it if it was not
    /// closing yet, cuts every call still queued, drops the task set (which fails its
    /// tasks' promises) and shuts the runtime down (waiting at most the builder's
    /// `shutdown_timeout` for tokio's blocking pool, and not at all inside another
    /// runtime), then marks the loop closed. Each step is guarded, so a panic in user
    /// `Drop` code cannot stop it.
    pub(super) fn teardown(&self, batch: &mut VecDeque<Task>) {
        let shared = &self.shared;
        shared.begin_close();
        shared.cut_tasks(batch.drain(..).filter(|t| !t.is_cancelled()));
        let local = std::mem::take(&mut *self.local.borrow_mut());
        // A placeholder's task was cut with the owner queue, and a cancelled call is
        // counted nowhere: neither counts here.
        shared.cut_tasks(
            local
                .into_iter()
                .filter(|r| !r.is_cancelled() && !matches!(r, Ready::Owned)),
        );
        self.waker.borrow_mut().take();
        self.drain_timer.borrow_mut().take();
        let parts = self.parts.borrow_mut().take();
        if let Some((runtime, set)) = parts {
            // The tasks alive now are cut; those that end from now on are not
            // finished, whatever the drain counted.
            shared.metrics.set_draining(false);
            let (ours, theirs) = shared.tasks_alive();
            shared.tasks_cut.store(ours + theirs, Ordering::Relaxed);
            // Dropping the task set drops every task still on it, which fails their
            // promises; in the runtime's context when this thread can still enter it.
            // Then the loop-local state, which those tasks may have held.
            let set = match panic::catch(|| runtime.enter()) {
                Ok(_guard) => {
                    run_guarded(move || drop(set), "dropping the loop's tasks");
                    self.locals.clear();
                    None
                }
                Err(_) => Some(set),
            };
            run_guarded(move || drop(set), "dropping the loop's tasks");
            let timeout = shared.shutdown_timeout;
            run_guarded(
                move || match tokio::runtime::Handle::try_current() {
                    Ok(_) => runtime.shutdown_background(),
                    Err(_) => runtime.shutdown_timeout(timeout),
                },
                "shutting the loop's runtime down",
            );
            // Its drivers (descriptors, timer wheel) live as long as a handle does.
            shared.tokio.release();
        }
        self.locals.clear();
        shared.finish_close();
        self.disown();
        // Nothing of the loop runs any more: its promises let go of it.
        shared.link.cut(shared.is_debug());
    }

    /// Makes this loop one of those this thread owns.
    pub(super) fn own(self: &Rc<Self>) {
        OWNED.with(|owned| {
            let mut owned = owned.borrow_mut();
            owned.insert(self.shared.id, self.clone());
            OWNED_COUNT.with(|n| n.set(owned.len()));
        });
    }

    /// No longer one of the loops this thread owns (unless the list is busy or
    /// gone: the thread is exiting, and the list goes with it).
    fn disown(&self) {
        let _ = OWNED.try_with(|owned| {
            if let Ok(mut owned) = owned.try_borrow_mut() {
                if owned
                    .get(&self.shared.id)
                    .is_some_and(|l| std::ptr::eq(&**l, self))
                {
                    owned.remove(&self.shared.id);
                }
                let _ = OWNED_COUNT.try_with(|n| n.set(owned.len()));
            }
        });
    }
}

impl LocalLoop {
    /// Takes the task queued on this loop's own thread with sequence number `seq`
    /// (a `call_soon_threadsafe` handle's cancel), leaving a cancelled one in its place;
    /// `None` if it already ran or the entry is not such a task.
    pub(super) fn take_local(&self, seq: u64) -> Option<Task> {
        let mut queue = self.local.borrow_mut();
        let at = position(seq, self.next_seq.get(), queue.len())?;
        match std::mem::replace(&mut queue[at], Ready::Task(Task::cancelled())) {
            Ready::Task(task) => Some(task),
            other => {
                // Not a task of a `call_soon_threadsafe` handle: put it back.
                queue[at] = other;
                None
            }
        }
    }
}

impl Drop for LocalLoop {
    /// The last reference to a loop's local state goes when its owning thread exits
    /// (the thread-local list of owned loops is destroyed): a caller-driven loop left
    /// open is closed here, and its work fails with loop-closed.
    fn drop(&mut self) {
        if !self.shared.life.is_closed() || self.parts.get_mut().is_some() {
            self.teardown(&mut VecDeque::new());
        }
    }
}

fn already_running() -> Error {
    Error::new(ErrorKind::InvalidState, "the loop is already running")
}

/// How often a drain looks whether the tasks of `tokio::spawn` on the loop ended.
const RECHECK_TOKIO_TASKS: Duration = Duration::from_millis(1);

/// The body of a loop's own thread: drive the loop until it is closing, then tear it
/// down. Whatever way the drive ends (even by a panic that escaped every guard), the
/// loop is closed and everything it held fails with loop-closed.
pub(super) fn thread_main(shared: Arc<LoopShared>, runtime: Runtime) {
    run_thread(shared, runtime, LocalLoop::poll_drive);
}

/// [`thread_main`], with the drive as a parameter (so that a test can make it die).
fn run_thread(
    shared: Arc<LoopShared>,
    runtime: Runtime,
    mut drive: impl FnMut(&LocalLoop, &mut Context<'_>, &mut VecDeque<Task>) -> Poll<()>,
) {
    let _ = shared.thread.set(std::thread::current().id());
    let local = Rc::new(LocalLoop::new(
        shared.clone(),
        Some((runtime, LocalSet::new())),
    ));
    local.own();
    RUNNING.with(|r| *r.borrow_mut() = Some(local.clone()));
    let _ = shared.life.enter_drive();
    shared.metrics.drive_started();
    let mut batch = VecDeque::new();
    let parts = local.parts.borrow_mut().take();
    if let Some((runtime, set)) = parts {
        let drive = panic::catch(|| {
            set.block_on(
                &runtime,
                std::future::poll_fn(|cx| drive(&local, cx, &mut batch)),
            )
        });
        if let Err(error) = drive {
            panic::report(|| {
                tracing::error!(
                    target: "pulsar_async",
                    loop_name = &*shared.name,
                    error = %error,
                    "the loop's drive panicked; closing the loop",
                )
            });
        }
        *local.parts.borrow_mut() = Some((runtime, set));
    }
    shared.metrics.drive_ended();
    local.teardown(&mut batch);
    shared.life.leave_drive();
    let _ = RUNNING.try_with(|r| r.borrow_mut().take());
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::event_loop::{Builder, EventLoop, LoopState};

    #[test]
    fn a_loop_thread_whose_drive_dies_closes_its_loop_and_fails_all_it_held() {
        let builder = Builder::new();
        let metrics = Arc::new(Counters::new());
        let runtime = builder.runtime(&metrics).unwrap();
        let shared = builder.shared(true, Some(&runtime), metrics);
        let handle = EventLoop {
            shared: shared.clone(),
            counted: true,
        };
        let die = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (drive, dies) = (shared.clone(), die.clone());
        let thread = std::thread::spawn(move || {
            run_thread(drive, runtime, |local, cx, batch| {
                if dies.load(std::sync::atomic::Ordering::SeqCst) {
                    panic!("the drive died");
                }
                local.poll_drive(cx, batch)
            });
        });
        // A task and a timer running on the loop, then a call queued as it dies.
        let task = handle.spawn(std::future::pending::<u8>());
        let timer = handle.call_later(std::time::Duration::from_secs(3600), || 1u8);
        let limit = std::time::Duration::from_secs(5);
        handle
            .call_settling("a call", || Ok(()))
            .wait_timeout(limit)
            .unwrap();
        die.store(true, std::sync::atomic::Ordering::SeqCst);
        let queued = handle.call_settling("a call", || Ok(2u8));
        thread.join().unwrap();
        assert_eq!(handle.state(), LoopState::Closed);
        for p in [task, timer, queued] {
            let err = p.wait_timeout(limit).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::LoopClosed);
        }
        let later = handle.call_settling("a call", || Ok(3u8));
        assert_eq!(
            later.try_result().unwrap_err().kind(),
            ErrorKind::LoopClosed
        );
    }
}
