//! [`EventLoop`]: a tokio current-thread runtime with a local task set, on a thread of
//! its own or driven by its caller, reachable from any thread through a cheap handle.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::LocalSet;

use crate::debug::Origin;
use crate::error::{Error, ErrorKind};
use crate::promise::{run_guarded, CallTask, Completer, Job, Promise, Schedule, Scheduler};
use crate::queue::{Injector, Task};

/// A handle to an event loop: a tokio current-thread runtime plus a
/// [`LocalSet`], so work on the loop may be `!Send` and keep `Rc`/`RefCell` state.
///
/// The handle is cheap to clone, `Send` and `Sync`; it is how any thread reaches the
/// loop ([`call_soon_threadsafe`](EventLoop::call_soon_threadsafe),
/// [`spawn`](EventLoop::spawn), [`run_in_loop`](crate::run_in_loop)). Tokio's timers,
/// I/O and tasks all work inside the loop.
///
/// A loop comes two ways:
/// - on a thread of its own ([`EventLoop::new`], [`Builder::spawn`]): it runs until it
///   is closed, and dropping its last handle closes it and joins the thread;
/// - driven by its caller ([`Builder::build_driven`]): it runs only inside
///   [`run_until_complete`](EventLoop::run_until_complete) or
///   [`run_forever`](EventLoop::run_forever), on the thread that built it.
///
/// Closing a loop resolves every promise of the work it still owned (queued calls,
/// tasks, timers) with [`ErrorKind::LoopClosed`]; later calls into it fail at once
/// with that error.
///
/// # Examples
///
/// ```
/// use pulsar_async::{run_in_loop, EventLoop};
/// use std::{cell::RefCell, rc::Rc};
///
/// let lp = EventLoop::new().unwrap();
/// // `!Send` state lives on the loop; other threads reach it through calls.
/// let counter = run_in_loop(&lp, || {
///     thread_local!(static HITS: Rc<RefCell<u32>> = Rc::new(RefCell::new(0)));
///     HITS.with(|h| { *h.borrow_mut() += 1; *h.borrow() })
/// });
/// assert_eq!(counter.wait().unwrap(), 1);
/// ```
pub struct EventLoop {
    shared: Arc<LoopShared>,
}

/// What a loop shares between its handles, its thread and the promises bound to it.
pub(crate) struct LoopShared {
    id: u64,
    name: Arc<str>,
    debug: AtomicBool,
    /// Debug mode reports calls and task polls that take at least this long.
    slow_callback: Duration,
    owns_thread: bool,
    thread: OnceLock<ThreadId>,
    injector: Injector,
    handles: AtomicUsize,
    running: AtomicBool,
    stop_requested: AtomicBool,
    join: Mutex<Option<JoinHandle<()>>>,
    spin: Duration,
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
}

impl LoopShared {
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
}

/// Configures and starts an [`EventLoop`].
///
/// # Examples
///
/// ```
/// use pulsar_async::EventLoop;
/// let lp = EventLoop::builder().name("io").debug(true).spawn().unwrap();
/// assert_eq!(lp.name(), "io");
/// assert!(lp.is_debug());
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    name: Option<String>,
    debug: bool,
    spin: Duration,
    slow_callback: Duration,
}

impl Builder {
    /// A builder with the defaults: a generated name, debug off (unless the
    /// `PULSAR_ASYNC_DEBUG` environment variable is `1`), a 100 ms slow-callback
    /// threshold, a 10 µs spin window (see [`spin`](Builder::spin)).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().spawn().unwrap();
    /// assert!(lp.name().starts_with("pulsar-loop-"));
    /// ```
    pub fn new() -> Self {
        Builder {
            name: None,
            debug: crate::debug::env_debug(),
            spin: DEFAULT_SPIN,
            slow_callback: crate::debug::DEFAULT_SLOW_CALLBACK,
        }
    }

    /// The loop's name (also its thread's name).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().name("db").spawn().unwrap();
    /// assert_eq!(lp.name(), "db");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Turns debug mode on or off.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().debug(true).spawn().unwrap();
    /// assert!(lp.is_debug());
    /// ```
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// The spin window: when the loop runs out of work it keeps looking for new calls
    /// for up to `spin` before it parks its thread. A call that arrives in that window
    /// skips the wake-up of a parked thread (tens of microseconds on a busy or
    /// virtualised machine), at the cost of up to `spin` of CPU time per idle period.
    /// The loop's tasks, timers and I/O still run while it spins (it lets them run
    /// at least every 50 µs).
    ///
    /// The default, 10 µs, catches the next call of a thread that submits calls back
    /// to back, or in bursts. A longer window is a latency mode for a loop that must
    /// answer sporadic calls fast and may burn a core to do it; zero parks at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::builder()
    ///     .spin(Duration::from_micros(50))
    ///     .spawn()
    ///     .unwrap();
    /// assert_eq!(pulsar_async::run_in_loop(&lp, || 1).wait().unwrap(), 1);
    /// ```
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// In debug mode, a call or a task poll that holds the loop for at least
    /// `threshold` is reported through `tracing` (target `pulsar_async::debug`), with
    /// the loop's name and the place in the code the work was scheduled from.
    /// The default is 100 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::builder()
    ///     .debug(true)
    ///     .slow_callback(Duration::from_millis(5))
    ///     .spawn()
    ///     .unwrap();
    /// assert_eq!(lp.slow_callback(), Duration::from_millis(5));
    /// ```
    pub fn slow_callback(mut self, threshold: Duration) -> Self {
        self.slow_callback = threshold;
        self
    }

    fn shared(self, owns_thread: bool) -> Arc<LoopShared> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Arc::new(LoopShared {
            id,
            name: self
                .name
                .unwrap_or_else(|| format!("pulsar-loop-{id}"))
                .into(),
            debug: AtomicBool::new(self.debug),
            slow_callback: self.slow_callback,
            owns_thread,
            thread: OnceLock::new(),
            injector: Injector::new(),
            handles: AtomicUsize::new(1),
            running: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            join: Mutex::new(None),
            spin: self.spin,
        })
    }

    /// Starts the loop on a thread of its own and returns its handle.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::User`] wrapping the I/O error when the runtime or the thread could
    /// not be created; [`ErrorKind::InvalidState`] for a name with a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().spawn().unwrap();
    /// assert!(lp.owns_thread());
    /// ```
    pub fn spawn(self) -> Result<EventLoop, Error> {
        if self.name.as_deref().is_some_and(|n| n.contains('\0')) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "a loop's name (its thread's name) may not contain a NUL byte",
            ));
        }
        let runtime = new_runtime()?;
        let shared = self.shared(true);
        let on_thread = shared.clone();
        let handle = std::thread::Builder::new()
            .name(shared.name.to_string())
            .spawn(move || thread_main(on_thread, runtime))
            .map_err(Error::user)?;
        let _ = shared.thread.set(handle.thread().id());
        *shared.join.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(EventLoop { shared })
    }

    /// Builds a loop driven by its caller: it runs only inside
    /// [`run_until_complete`](EventLoop::run_until_complete) and
    /// [`run_forever`](EventLoop::run_forever), on this thread, and becomes this
    /// thread's [`current`](EventLoop::current) loop.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::User`] wrapping the I/O error when the runtime could not be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// assert_eq!(lp.run_until_complete(async { 2 + 2 }).unwrap(), 4);
    /// ```
    pub fn build_driven(self) -> Result<EventLoop, Error> {
        let runtime = new_runtime()?;
        let shared = self.shared(false);
        let _ = shared.thread.set(std::thread::current().id());
        let local = Rc::new(LocalLoop::new(
            shared.clone(),
            Some((runtime, LocalSet::new())),
        ));
        OWNED.with(|owned| owned.borrow_mut().push(local));
        Ok(EventLoop { shared })
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn new_runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::user)
}

/// A loop's state that only its own thread touches.
struct LocalLoop {
    shared: Arc<LoopShared>,
    local_jobs: RefCell<VecDeque<Box<dyn FnOnce()>>>,
    waker: RefCell<Option<Waker>>,
    /// The end of the current spin window, while the loop spins for new calls.
    spin_until: Cell<Option<Instant>>,
    /// The runtime and task set of a caller-driven loop, while it is not running.
    parts: RefCell<Option<(Runtime, LocalSet)>>,
}

impl LocalLoop {
    fn new(shared: Arc<LoopShared>, parts: Option<(Runtime, LocalSet)>) -> Self {
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
    fn poll_drive(&self, cx: &mut Context<'_>, batch: &mut VecDeque<Task>) -> Poll<()> {
        let mut ran = 0usize;
        loop {
            if self.shared.stop_requested.swap(false, Ordering::AcqRel) {
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

    fn push_local(&self, job: Box<dyn FnOnce()>) {
        self.local_jobs.borrow_mut().push_back(job);
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// How many calls the loop runs before it lets its tasks run.
const DRIVE_BUDGET: usize = 1024;

/// The longest a loop spins without letting its tasks run.
const SPIN_SLICE: Duration = Duration::from_micros(50);

/// How many times a spinning loop looks at its queue between two reads of the clock.
const SPIN_CHECKS: u32 = 16;

/// The default spin window ([`Builder::spin`]): long enough to catch the next call of
/// a caller that submits calls back to back, short enough to cost little CPU.
pub(crate) const DEFAULT_SPIN: Duration = Duration::from_micros(10);

thread_local! {
    /// The loops this thread runs or owns: a thread loop's own, or the caller-driven
    /// loops built here.
    static OWNED: RefCell<Vec<Rc<LocalLoop>>> = const { RefCell::new(Vec::new()) };
    /// The loop running on this thread right now, if any.
    static RUNNING: RefCell<Option<Rc<LocalLoop>>> = const { RefCell::new(None) };
}

/// The local state of loop `id`, if this thread owns it.
fn local_loop(id: u64) -> Option<Rc<LocalLoop>> {
    OWNED
        .try_with(|owned| owned.borrow().iter().find(|l| l.shared.id == id).cloned())
        .ok()
        .flatten()
}

fn thread_main(shared: Arc<LoopShared>, runtime: Runtime) {
    let _ = shared.thread.set(std::thread::current().id());
    let local = Rc::new(LocalLoop::new(shared.clone(), None));
    OWNED.with(|owned| owned.borrow_mut().push(local.clone()));
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

impl EventLoop {
    /// Starts a loop on a thread of its own with the default settings.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// assert!(lp.is_running() || !lp.is_closed());
    /// ```
    pub fn new() -> Result<EventLoop, Error> {
        Builder::new().spawn()
    }

    /// A [`Builder`] to name the loop, turn on debug, or build a caller-driven loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().name("x").spawn().unwrap();
    /// assert_eq!(lp.name(), "x");
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The loop of the current thread: the one running here, else the caller-driven
    /// loop most recently built here; `None` if there is none (or it is closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// assert!(EventLoop::current().is_none());
    /// let lp = EventLoop::new().unwrap();
    /// let same = run_in_loop(&lp, || EventLoop::current().map(|l| l.name().to_owned()));
    /// assert_eq!(same.wait().unwrap().as_deref(), Some(lp.name()));
    /// ```
    pub fn current() -> Option<EventLoop> {
        let running = RUNNING.try_with(|r| r.borrow().clone()).ok().flatten();
        let local = running.or_else(|| {
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
        })?;
        EventLoop::upgrade(&local.shared)
    }

    /// A new user handle from the loop's internals, unless every handle is gone.
    fn upgrade(shared: &Arc<LoopShared>) -> Option<EventLoop> {
        let mut n = shared.handles.load(Ordering::Acquire);
        loop {
            if n == 0 || shared.injector.is_closed() {
                return None;
            }
            match shared
                .handles
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Some(EventLoop {
                        shared: shared.clone(),
                    })
                }
                Err(seen) => n = seen,
            }
        }
    }

    pub(crate) fn scheduler(&self) -> Scheduler {
        self.shared.clone()
    }

    /// The loop's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().name("n").spawn().unwrap();
    /// assert_eq!(lp.name(), "n");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The id of the thread that runs the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// assert_eq!(lp.thread_id(), std::thread::current().id());
    /// ```
    pub fn thread_id(&self) -> ThreadId {
        *self
            .shared
            .thread
            .get_or_init(|| std::thread::current().id())
    }

    /// `true` when the current thread is the loop's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// assert!(!lp.is_current_thread());
    /// let inside = { let lp2 = lp.clone(); run_in_loop(&lp, move || lp2.is_current_thread()) };
    /// assert!(inside.wait().unwrap());
    /// ```
    pub fn is_current_thread(&self) -> bool {
        self.shared.is_loop_thread()
    }

    /// `true` for a loop on a thread of its own, `false` for a caller-driven one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(pulsar_async::EventLoop::new().unwrap().owns_thread());
    /// ```
    pub fn owns_thread(&self) -> bool {
        self.shared.owns_thread
    }

    /// `true` while the loop is running (a thread loop from start to close; a
    /// caller-driven loop inside `run_until_complete`/`run_forever`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// assert!(!lp.is_running());
    /// let inside = lp.run_until_complete({
    ///     let lp = lp.clone();
    ///     async move { lp.is_running() }
    /// });
    /// assert!(inside.unwrap());
    /// ```
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::Acquire)
    }

    /// `true` once the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.close();
    /// assert!(lp.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.injector.is_closed()
    }

    /// The loop's debug flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.set_debug(true);
    /// assert!(lp.is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.shared.debug.load(Ordering::Relaxed)
    }

    /// The slow-callback threshold of debug mode (see [`Builder::slow_callback`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// assert_eq!(lp.slow_callback(), std::time::Duration::from_millis(100));
    /// ```
    pub fn slow_callback(&self) -> Duration {
        self.shared.slow_callback
    }

    /// Sets the loop's debug flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.set_debug(false);
    /// assert!(!lp.is_debug());
    /// ```
    pub fn set_debug(&self, on: bool) {
        self.shared.debug.store(on, Ordering::Relaxed);
    }

    /// The loop's clock: tokio's [`Instant::now`](tokio::time::Instant::now), so a
    /// paused test clock is honoured.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let (a, b) = (lp.time(), lp.time());
    /// assert!(b >= a);
    /// ```
    pub fn time(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }

    /// A pending promise bound to this loop: its done-callbacks run on the loop's
    /// thread, and a blocking [`wait`](Promise::wait) on that thread fails instead of
    /// deadlocking.
    ///
    /// The loop runs no work for it, so closing the loop does not settle it: whoever
    /// holds it does (its callbacks then run on the settling thread).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let p = lp.create_promise::<u8>();
    /// p.set_result(1).unwrap();
    /// assert_eq!(p.wait().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn create_promise<T>(&self) -> Promise<T> {
        Promise::with_scheduler(Some(self.scheduler()))
    }

    /// Queues `f` to run on the loop's thread; callable from any thread.
    ///
    /// A panic in `f` is logged and the loop goes on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LoopClosed`] when the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// lp.call_soon_threadsafe(move || tx.send(std::thread::current().name().map(String::from)).unwrap())
    ///     .unwrap();
    /// assert_eq!(rx.recv().unwrap().as_deref(), Some(lp.name()));
    /// ```
    #[track_caller]
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        let what = std::any::type_name_of_val(&f);
        self.submit(Box::new(f), what)
            .map_err(|_| Error::from(ErrorKind::LoopClosed))
    }

    /// Queues `job`; gives it back when the loop is closed.
    /// In debug mode the job is timed, and reported with the caller's location and
    /// `what` if it is slow.
    #[track_caller]
    pub(crate) fn submit(&self, job: Job, what: &'static str) -> Result<(), Job> {
        match self.shared.origin(what) {
            None => self.shared.injector.push(job),
            Some(origin) => self
                .shared
                .injector
                .push(crate::debug::timed_job(origin, job)),
        }
    }

    /// Queues a call; gives it back when the loop is closed.
    pub(crate) fn submit_call(&self, call: CallTask) -> Result<(), CallTask> {
        self.shared.injector.push_call(call)
    }

    /// Queues `f` to run on the loop's thread; must be called on that thread, so `f`
    /// may be `!Send`. Calls run in the order they were queued.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WrongThread`] off the loop's thread, [`ErrorKind::LoopClosed`] when
    /// the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let hits = Rc::new(Cell::new(0));
    /// let h = hits.clone();
    /// lp.call_soon(move || h.set(h.get() + 1)).unwrap();
    /// lp.run_until_complete(tokio::task::yield_now()).unwrap();
    /// assert_eq!(hits.get(), 1);
    /// ```
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Result<(), Error> {
        let local = self.local()?;
        match self.shared.origin(std::any::type_name_of_val(&f)) {
            None => local.push_local(Box::new(f)),
            Some(origin) => local.push_local(crate::debug::timed_local_job(origin, Box::new(f))),
        }
        Ok(())
    }

    /// This loop's thread-local state; errors off its thread or once closed.
    fn local(&self) -> Result<Rc<LocalLoop>, Error> {
        if self.is_closed() {
            return Err(ErrorKind::LoopClosed.into());
        }
        local_loop(self.shared.id).ok_or_else(|| {
            Error::new(
                ErrorKind::WrongThread,
                format!(
                    "this call must be made on the thread of loop {:?}",
                    self.name()
                ),
            )
        })
    }

    /// Runs `f` on the loop after `delay`; callable from any thread. Cancelling the
    /// returned promise cancels the call if it has not run yet.
    ///
    /// A zero delay runs `f` on the next turn of the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let later = lp.call_later(Duration::from_millis(1), || "rang");
    /// assert_eq!(later.wait().unwrap(), "rang");
    /// let never = lp.call_later(Duration::from_secs(3600), || "nope");
    /// assert!(never.cancel());
    /// ```
    #[track_caller]
    pub fn call_later<T, F>(&self, delay: Duration, f: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.call_at(deadline_after(delay), f)
    }

    /// Runs `f` on the loop at `when` (on tokio's clock); callable from any thread.
    /// A time in the past runs `f` on the next turn of the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let at = lp.time() + Duration::from_millis(1);
    /// assert_eq!(lp.call_at(at, || 5).wait().unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn call_at<T, F>(&self, when: tokio::time::Instant, f: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.spawn(async move {
            tokio::time::sleep_until(when).await;
            f()
        })
    }

    /// Runs `future` as a task on the loop; callable from any thread. Cancelling the
    /// returned promise aborts the task; a panic in it becomes the promise's error.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let p = lp.spawn(async { tokio::task::yield_now().await; "done" });
    /// assert_eq!(p.wait().unwrap(), "done");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Promise<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + Sync + 'static,
    {
        self.spawn_with(move || future)
    }

    /// Runs the future made by `make` as a task on the loop: `make` runs on the loop's
    /// thread, so the future need not be `Send`. Callable from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let p = lp.spawn_with(|| {
    ///     let local = Rc::new(3); // !Send, fine: made on the loop
    ///     async move { *local * 2 }
    /// });
    /// assert_eq!(p.wait().unwrap(), 6);
    /// ```
    #[track_caller]
    pub fn spawn_with<M, F>(&self, make: M) -> Promise<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + Sync + 'static,
    {
        self.spawn_settling(std::any::type_name::<F>(), move || {
            let future = make();
            async move { Ok(future.await) }
        })
    }

    /// Runs the future made by `make` on the loop; its `Result` settles the promise.
    #[track_caller]
    pub(crate) fn spawn_settling<M, F, T>(&self, what: &'static str, make: M) -> Promise<T>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<T, Error>> + 'static,
        T: Send + Sync + 'static,
    {
        let promise = self.create_promise();
        let completer = Completer::new(promise.clone());
        let origin = self.shared.origin(what);
        let job: Job = Box::new(move || {
            if completer.is_done() {
                return;
            }
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(make)) {
                Ok(future) => match origin {
                    None => spawn_task(future, completer),
                    Some(origin) => spawn_task(crate::debug::timed(origin, future), completer),
                },
                Err(payload) => completer.complete(Err(Error::from_panic(payload))),
            }
        });
        // A refused job is dropped here, failing the promise with loop-closed.
        let _ = self.submit(job, what);
        promise
    }

    /// Runs a `!Send` future as a task on the loop; must be called on the loop's
    /// thread.
    ///
    /// The returned promise fails at once with [`ErrorKind::WrongThread`] off the
    /// loop's thread, or [`ErrorKind::LoopClosed`] once the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let shared = Rc::new(10);
    /// let p = lp.spawn_local({ let s = shared.clone(); async move { *s + 1 } });
    /// assert_eq!(lp.run_until_complete(p).unwrap().unwrap(), 11);
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> Promise<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let promise = self.create_promise();
        let origin = self.shared.origin(std::any::type_name::<F>());
        let future = async move {
            Ok(match origin {
                None => future.await,
                Some(origin) => crate::debug::timed(origin, future).await,
            })
        };
        match self.local() {
            Ok(local) => {
                let completer = Completer::new(promise.clone());
                match &*local.parts.borrow() {
                    // A caller-driven loop that is not running: queue on its task set.
                    Some((_, set)) => {
                        let task = set.spawn_local(run_task(future, completer));
                        promise.on_cancel(abort_hook(&task));
                    }
                    None => spawn_task(future, completer),
                }
            }
            Err(e) => {
                let _ = promise.set_error(e);
            }
        }
        promise
    }

    /// Drives a caller-driven loop until `future` completes, and returns its output.
    /// Queued calls and the loop's tasks run meanwhile.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::WrongThread`]: not the thread that built the loop, or a loop
    ///   with a thread of its own;
    /// - [`ErrorKind::InvalidState`]: the loop is already running, or was stopped
    ///   before `future` completed;
    /// - [`ErrorKind::WouldDeadlock`]: called from inside another tokio runtime;
    /// - [`ErrorKind::LoopClosed`]: the loop is (or got) closed;
    /// - [`ErrorKind::Panicked`]: `future` panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let out = lp.run_until_complete(async {
    ///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    ///     "slept"
    /// });
    /// assert_eq!(out.unwrap(), "slept");
    /// ```
    pub fn run_until_complete<F: Future>(&self, future: F) -> Result<F::Output, Error> {
        self.drive(Some(future)).and_then(|out| {
            out.ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidState,
                    "the loop stopped before the future completed",
                )
            })
        })
    }

    /// Drives a caller-driven loop until [`stop`](EventLoop::stop) is called.
    ///
    /// # Errors
    ///
    /// As [`run_until_complete`](EventLoop::run_until_complete).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let stopper = lp.clone();
    /// lp.call_soon(move || stopper.stop()).unwrap();
    /// lp.run_forever().unwrap();
    /// ```
    pub fn run_forever(&self) -> Result<(), Error> {
        self.drive(None::<std::future::Pending<()>>).map(|_| ())
    }

    fn drive<F: Future>(&self, future: Option<F>) -> Result<Option<F::Output>, Error> {
        if self.owns_thread() {
            return Err(Error::new(
                ErrorKind::WrongThread,
                "a loop with a thread of its own runs there; use run_in_loop or spawn",
            ));
        }
        let local = self.local()?;
        if local.parts.borrow().is_none() {
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
        let Some((runtime, set)) = local.parts.borrow_mut().take() else {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the loop is already running",
            ));
        };
        let previous = RUNNING.with(|r| r.borrow_mut().replace(local.clone()));
        self.shared.running.store(true, Ordering::Release);
        let mut future = std::pin::pin!(future);
        let mut batch = VecDeque::new();
        let outcome = set.block_on(
            &runtime,
            std::future::poll_fn(|cx| {
                if let Some(f) = future.as_mut().as_pin_mut() {
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.poll(cx))) {
                        Ok(Poll::Ready(out)) => return Poll::Ready(Ok(Some(out))),
                        Ok(Poll::Pending) => {}
                        Err(payload) => return Poll::Ready(Err(Error::from_panic(payload))),
                    }
                }
                local.poll_drive(cx, &mut batch).map(|()| Ok(None))
            }),
        );
        self.shared.running.store(false, Ordering::Release);
        RUNNING.with(|r| *r.borrow_mut() = previous);
        if self.is_closed() {
            teardown(runtime, set);
            OWNED.with(|owned| owned.borrow_mut().retain(|l| !Rc::ptr_eq(l, &local)));
            return outcome.and(Err(ErrorKind::LoopClosed.into()));
        }
        *local.parts.borrow_mut() = Some((runtime, set));
        outcome
    }

    /// Stops the loop after the call running now. A caller-driven loop returns from
    /// `run_forever` (and can be run again); a loop with a thread of its own closes,
    /// since nothing could run it again.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.stop();
    /// let after = pulsar_async::run_in_loop(&lp, || 1);
    /// assert!(after.wait().is_err());
    /// ```
    pub fn stop(&self) {
        if self.owns_thread() {
            self.close();
            return;
        }
        self.shared.stop_requested.store(true, Ordering::Release);
        // Wake the loop so it sees the request.
        let _ = self.submit(Box::new(|| {}), "stop");
    }

    /// Closes the loop: calls still queued, tasks and timers fail with
    /// [`ErrorKind::LoopClosed`], later calls fail at once with it. Closing from
    /// another thread waits for a loop's own thread to finish; from inside the loop it
    /// takes effect when the current call returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, ErrorKind, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// lp.close();
    /// let err = run_in_loop(&lp, || 1).wait().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::LoopClosed);
    /// ```
    pub fn close(&self) {
        drop(self.shared.injector.close());
        if self.owns_thread() {
            if !self.is_current_thread() {
                let handle = self
                    .shared
                    .join
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let Some(handle) = handle {
                    let _ = handle.join();
                }
            }
            return;
        }
        // A caller-driven loop: tear down now if this is its thread and it is idle;
        // a running one tears down when its run returns.
        if let Some(local) = local_loop(self.shared.id) {
            let parts = local.parts.borrow_mut().take();
            if let Some((runtime, set)) = parts {
                OWNED.with(|owned| owned.borrow_mut().retain(|l| !Rc::ptr_eq(l, &local)));
                teardown(runtime, set);
            }
            local.local_jobs.borrow_mut().clear();
        }
    }
}

/// The instant `delay` from now on tokio's clock; a delay too large to represent
/// gives a deadline decades away instead of a panic.
pub(crate) fn deadline_after(delay: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365 * 30))
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

/// Spawns `future` on the current thread's task set, settling `completer` with its
/// output (or its panic); cancelling the promise aborts the task.
pub(crate) fn spawn_task<F, T>(future: F, completer: Completer<T>)
where
    F: Future<Output = Result<T, Error>> + 'static,
    T: 'static,
{
    let promise = completer.promise().cloned();
    let task = tokio::task::spawn_local(run_task(future, completer));
    if let Some(promise) = promise {
        promise.on_cancel(abort_hook(&task));
    }
}

fn abort_hook<T>(task: &tokio::task::JoinHandle<T>) -> Job {
    let abort = task.abort_handle();
    Box::new(move || abort.abort())
}

async fn run_task<F, T>(future: F, completer: Completer<T>)
where
    F: Future<Output = Result<T, Error>>,
{
    let outcome = catch_panic(future).await.and_then(|r| r);
    completer.complete(outcome);
}

/// Polls `future`, turning a panic into an [`ErrorKind::Panicked`] error.
pub(crate) async fn catch_panic<F: Future>(future: F) -> Result<F::Output, Error> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(Error::from_panic(payload))),
        }
    })
    .await
}

impl Clone for EventLoop {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        EventLoop {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }
}

impl PartialEq for EventLoop {
    fn eq(&self, other: &Self) -> bool {
        self.shared.id == other.shared.id
    }
}

impl Eq for EventLoop {}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("name", &self.shared.name)
            .field("owns_thread", &self.shared.owns_thread)
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .field("debug", &self.is_debug())
            .finish()
    }
}
