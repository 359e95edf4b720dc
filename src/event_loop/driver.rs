//! The loop's driver: what a loop shares between its handles, its thread and the
//! promises bound to it ([`LoopShared`]: the handle count and the lifecycle flags),
//! the state only its own thread touches ([`LocalLoop`]), the drive that runs queued
//! calls between the loop's tokio tasks (spinning, then parking), the thread of a loop
//! that owns one, teardown, and the thread-locals that tell which loops a thread runs.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
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
use crate::schedule::{Job, Schedule, Scheduler};

use super::queue::{Injector, Task};

/// What a loop shares between its handles, its thread and the promises bound to it.
///
/// The lifecycle lives here, on [`crate::loom`] primitives so that the model checker
/// sees it: `handles` counts the user handles (the last one to go closes the loop, and
/// [`try_add_handle`](LoopShared::try_add_handle) never brings a loop back from zero);
/// the injector's `closed` flag is the closed state; `running` and `stop_requested`
/// tell whether the loop is being driven and whether it should return.
pub(crate) struct LoopShared {
    pub(super) id: u64,
    pub(super) name: Arc<str>,
    pub(super) debug: AtomicBool,
    /// Debug mode reports calls and task polls that take at least this long.
    pub(super) slow_callback: Duration,
    pub(super) owns_thread: bool,
    pub(super) thread: OnceLock<ThreadId>,
    pub(super) injector: Injector,
    handles: AtomicUsize,
    pub(super) running: AtomicBool,
    pub(super) stop_requested: AtomicBool,
    pub(super) join: Mutex<Option<JoinHandle<()>>>,
    pub(super) spin: Duration,
}

impl Schedule for LoopShared {
    fn schedule(&self, job: Job) -> Result<(), Job> {
        self.injector.push(job)
    }

    fn is_loop_thread(&self) -> bool {
        self.thread.get() == Some(&std::thread::current().id())
    }

    fn is_debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    fn as_any(self: Arc<Self>) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(self)
    }
}

impl LoopShared {
    /// The state of a new loop, with one handle.
    pub(super) fn new(
        id: u64,
        name: Arc<str>,
        debug: bool,
        slow_callback: Duration,
        owns_thread: bool,
        spin: Duration,
    ) -> Self {
        LoopShared {
            id,
            name,
            debug: AtomicBool::new(debug),
            slow_callback,
            owns_thread,
            thread: OnceLock::new(),
            injector: Injector::new(),
            handles: AtomicUsize::new(1),
            running: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            join: Mutex::new(None),
            spin,
        }
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
        })
    }

    /// Counts one more handle, cloned from a live one.
    pub(super) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one more handle unless every handle is gone or the loop is closed.
    pub(super) fn try_add_handle(&self) -> bool {
        let mut n = self.handles.load(Ordering::Acquire);
        loop {
            if n == 0 || self.injector.is_closed() {
                return false;
            }
            match self
                .handles
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(seen) => n = seen,
            }
        }
    }

    /// Counts one handle less; `true` for the last one, whose owner closes the loop.
    pub(super) fn drop_handle(&self) -> bool {
        self.handles.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Takes the stop request, if there is one.
    ///
    /// A compare-exchange rather than `swap(false)`: the same on every machine, and
    /// the form loom models correctly (tokio-rs/loom#254 lets a store slip between the
    /// read and the write of a `swap`).
    pub(super) fn take_stop_request(&self) -> bool {
        self.stop_requested
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// `true` while a user handle exists and the loop is open.
    fn is_live(&self) -> bool {
        self.handles.load(Ordering::Acquire) != 0 && !self.injector.is_closed()
    }
}

/// A loop's state that only its own thread touches.
pub(super) struct LocalLoop {
    pub(super) shared: Arc<LoopShared>,
    local_jobs: RefCell<VecDeque<Box<dyn FnOnce()>>>,
    waker: RefCell<Option<Waker>>,
    /// The end of the current spin window, while the loop spins for new calls.
    spin_until: Cell<Option<Instant>>,
    /// The runtime and task set of a caller-driven loop, while it is not running.
    pub(super) parts: RefCell<Option<(Runtime, LocalSet)>>,
}

impl LocalLoop {
    pub(super) fn new(shared: Arc<LoopShared>, parts: Option<(Runtime, LocalSet)>) -> Self {
        LocalLoop {
            shared,
            local_jobs: RefCell::new(VecDeque::new()),
            waker: RefCell::new(None),
            spin_until: Cell::new(None),
            parts: RefCell::new(parts),
        }
    }

    /// Runs queued work until there is none (`Pending`), or until the loop is closed
    /// or asked to stop (`Ready`).
    ///
    /// Out of work, the loop spins for up to the builder's `spin` window before it
    /// parks, looking for new calls without taking the queue's lock. It spins in
    /// slices of at most [`SPIN_SLICE`] and lets its tasks, timers and I/O run
    /// between slices, so a long window never starves them.
    pub(super) fn poll_drive(&self, cx: &mut Context<'_>, batch: &mut VecDeque<Task>) -> Poll<()> {
        let mut ran = 0usize;
        loop {
            if self.shared.take_stop_request() {
                return Poll::Ready(());
            }
            loop {
                let job = self.local_jobs.borrow_mut().pop_front();
                let Some(job) = job else { break };
                run_guarded(job, "callback");
                ran += 1;
            }
            if !self.shared.injector.may_have_jobs() && !self.spin_for_jobs() {
                // The slice is over but the window is not: let the tasks run, then
                // come back to spin.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match self.shared.injector.poll_drain(cx, batch) {
                Poll::Ready(true) => {
                    self.spin_until.set(None);
                    for task in batch.drain(..) {
                        run_guarded(|| task.run(), "callback");
                        ran += 1;
                    }
                }
                Poll::Ready(false) => return Poll::Ready(()),
                Poll::Pending => {
                    if !self.local_jobs.borrow().is_empty() {
                        continue;
                    }
                    self.spin_until.set(None);
                    *self.waker.borrow_mut() = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
            if ran >= DRIVE_BUDGET {
                // Let the loop's tasks and timers run before taking more calls.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Spins while the queue looks empty, up to the end of the spin window or of the
    /// current slice. `true` when the caller should look at the queue now (a job may
    /// be there, or the window is over and it is time to park); `false` when the
    /// slice is over but the window is not.
    fn spin_for_jobs(&self) -> bool {
        let window = self.shared.spin;
        if window.is_zero() {
            return true;
        }
        let now = Instant::now();
        let until = *self.spin_until.get().get_or_insert(now + window);
        self.spin_until.set(Some(until));
        let slice_end = until.min(now + SPIN_SLICE);
        loop {
            for _ in 0..SPIN_CHECKS {
                if self.shared.injector.may_have_jobs() || !self.local_jobs.borrow().is_empty() {
                    return true;
                }
                std::hint::spin_loop();
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            if now >= slice_end {
                return false;
            }
            // Give the CPU to any other thread that is ready: on a busy machine the
            // thread that will call next may be waiting for it.
            std::thread::yield_now();
        }
    }

    /// Queues a `!Send` job from the loop's own thread, waking the drive if it waits.
    pub(super) fn push_local(&self, job: Box<dyn FnOnce()>) {
        self.local_jobs.borrow_mut().push_back(job);
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Drives a caller-driven loop on this thread until `future` completes (`Some`) or
    /// the loop is stopped (`None`); tears the loop down if it got closed meanwhile.
    pub(super) fn drive<F: Future>(
        self: &Rc<Self>,
        future: Option<F>,
    ) -> Result<Option<F::Output>, Error> {
        if self.parts.borrow().is_none() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the loop is already running",
            ));
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "cannot drive a loop from inside a tokio runtime",
            ));
        }
        let Some((runtime, set)) = self.parts.borrow_mut().take() else {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the loop is already running",
            ));
        };
        let previous = RUNNING.with(|r| r.borrow_mut().replace(self.clone()));
        self.shared.running.store(true, Ordering::Release);
        let mut future = std::pin::pin!(future);
        let mut batch = VecDeque::new();
        let outcome = set.block_on(
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
        );
        self.shared.running.store(false, Ordering::Release);
        RUNNING.with(|r| *r.borrow_mut() = previous);
        if self.shared.injector.is_closed() {
            teardown(runtime, set);
            self.disown();
            return outcome.and(Err(ErrorKind::LoopClosed.into()));
        }
        *self.parts.borrow_mut() = Some((runtime, set));
        outcome
    }

    /// Closes a caller-driven loop from its own thread: tears it down now if it is
    /// idle; a running one tears down when its run returns.
    pub(super) fn close_here(self: &Rc<Self>) {
        let parts = self.parts.borrow_mut().take();
        if let Some((runtime, set)) = parts {
            self.disown();
            teardown(runtime, set);
        }
        self.local_jobs.borrow_mut().clear();
    }

    /// Makes this loop one of those this thread owns.
    pub(super) fn own(self: &Rc<Self>) {
        OWNED.with(|owned| owned.borrow_mut().push(self.clone()));
    }

    fn disown(self: &Rc<Self>) {
        OWNED.with(|owned| owned.borrow_mut().retain(|l| !Rc::ptr_eq(l, self)));
    }
}

/// How many calls the loop runs before it lets its tasks run.
const DRIVE_BUDGET: usize = 1024;

/// The longest a loop spins without letting its tasks run.
const SPIN_SLICE: Duration = Duration::from_micros(50);

/// How many times a spinning loop looks at its queue between two reads of the clock.
const SPIN_CHECKS: u32 = 16;

/// The default spin window ([`Builder::spin`](super::Builder::spin)): long enough to
/// catch the next call of a caller that submits calls back to back, short enough to
/// cost little CPU.
pub(super) const DEFAULT_SPIN: Duration = Duration::from_micros(10);

thread_local! {
    /// The loops this thread runs or owns: a thread loop's own, or the caller-driven
    /// loops built here.
    static OWNED: RefCell<Vec<Rc<LocalLoop>>> = const { RefCell::new(Vec::new()) };
    /// The loop running on this thread right now, if any.
    static RUNNING: RefCell<Option<Rc<LocalLoop>>> = const { RefCell::new(None) };
}

/// The local state of loop `id`, if this thread owns it.
pub(super) fn local_loop(id: u64) -> Option<Rc<LocalLoop>> {
    OWNED
        .try_with(|owned| owned.borrow().iter().find(|l| l.shared.id == id).cloned())
        .ok()
        .flatten()
}

/// The loop of the current thread: the one running here, else the open
/// caller-driven loop most recently built here.
pub(super) fn current_local() -> Option<Rc<LocalLoop>> {
    let running = RUNNING.try_with(|r| r.borrow().clone()).ok().flatten();
    running.or_else(|| {
        OWNED
            .try_with(|owned| {
                owned
                    .borrow()
                    .iter()
                    .rev()
                    .find(|l| !l.shared.injector.is_closed())
                    .cloned()
            })
            .ok()
            .flatten()
    })
}

/// The scheduler of the current thread's loop while it has a user handle and is
/// open; registered as [`crate::schedule::current`].
pub(super) fn current_scheduler() -> Option<Scheduler> {
    let local = current_local()?;
    let shared: Scheduler = local.shared.clone();
    local.shared.is_live().then_some(shared)
}

/// The body of a loop's own thread: drive the loop until it is closed, then fail
/// everything it still holds.
pub(super) fn thread_main(shared: Arc<LoopShared>, runtime: Runtime) {
    let _ = shared.thread.set(std::thread::current().id());
    let local = Rc::new(LocalLoop::new(shared.clone(), None));
    local.own();
    RUNNING.with(|r| *r.borrow_mut() = Some(local.clone()));
    shared.running.store(true, Ordering::Release);
    let set = LocalSet::new();
    let mut batch = VecDeque::new();
    set.block_on(
        &runtime,
        std::future::poll_fn(|cx| local.poll_drive(cx, &mut batch)),
    );
    shared.running.store(false, Ordering::Release);
    drop(shared.injector.close());
    // Dropping the task set drops every task still on it, which fails their promises.
    {
        let _guard = runtime.enter();
        drop(set);
    }
    drop(runtime);
    RUNNING.with(|r| r.borrow_mut().take());
    OWNED.with(|owned| owned.borrow_mut().clear());
    local.local_jobs.borrow_mut().clear();
}

/// Drops a task set (failing its tasks' promises) and its runtime without blocking,
/// so it is safe even inside another runtime.
fn teardown(runtime: Runtime, set: LocalSet) {
    {
        let _guard = runtime.enter();
        drop(set);
    }
    runtime.shutdown_background();
}
