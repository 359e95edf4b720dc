//! [`EventLoop`]: a tokio current-thread runtime with a local task set, on a thread of
//! its own or driven by its caller, reachable from any thread through a cheap handle;
//! and [`Builder`], which makes one.
//!
//! The handle and its methods live here; the rest of the concept has a file each:
//! `builder.rs` (how a loop is made), `driver.rs` (the shared state and lifecycle
//! flags, the thread-local state, the drive, the loop's thread, teardown),
//! `queue.rs` (the cross-thread injector), `spawn.rs` (tasks that settle a promise).

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::loom::Ordering;
use crate::panic;
use crate::promise::{CallTask, Completer, Promise};
use crate::schedule::{Job, Schedule, Scheduler};
use crate::time::deadline_after;

mod builder;
mod driver;
#[cfg(all(test, loom))]
mod loom_tests;
mod queue;
mod spawn;

pub use builder::Builder;
use driver::{LocalLoop, LoopShared};
use queue::{Task, Timed};
use spawn::{abort_hook, run_task, spawn_task};

/// A handle to an event loop: a tokio current-thread runtime plus a
/// [`LocalSet`](tokio::task::LocalSet), so work on the loop may be `!Send` and keep `Rc`/`RefCell` state.
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

impl EventLoop {
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
        EventLoop::upgrade(&driver::current_local()?.shared)
    }

    /// A new user handle from the loop's internals, unless every handle is gone.
    fn upgrade(shared: &Arc<LoopShared>) -> Option<EventLoop> {
        shared.try_add_handle().then(|| EventLoop {
            shared: shared.clone(),
        })
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
        self.submit_job(Box::new(f), what)
    }

    /// Queues a boxed job (see [`submit`](EventLoop::submit)).
    #[track_caller]
    pub(crate) fn submit_job(&self, job: Job, what: &'static str) -> Result<(), Error> {
        self.submit(job, Task::Job, what)
    }

    /// Queues a call that shares its promise's allocation (see
    /// [`submit`](EventLoop::submit)).
    #[track_caller]
    pub(crate) fn submit_call(&self, call: CallTask, what: &'static str) -> Result<(), Error> {
        self.submit(call, Task::Call, what)
    }

    /// The one route of work into the loop from any thread: queues `item` as
    /// `wrap(item)`, wrapped in debug mode so that it is timed where it runs and
    /// reported, with the caller's location and `what`, if it is slow. When the loop
    /// is closed the item is dropped here, which fails its promise with
    /// [`ErrorKind::LoopClosed`], and so is the result.
    #[track_caller]
    fn submit<I>(&self, item: I, wrap: fn(I) -> Task, what: &'static str) -> Result<(), Error> {
        let pushed = match self.shared.origin(what) {
            None => self.shared.injector.push_task(item, wrap),
            Some(origin) => self.shared.injector.push_task(item, |item| {
                Task::Timed(Box::new(Timed {
                    origin,
                    task: wrap(item),
                }))
            }),
        };
        pushed.map_err(|_| Error::from(ErrorKind::LoopClosed))
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
            Some(origin) => local.push_local(Box::new(move || origin.time(f))),
        }
        Ok(())
    }

    /// This loop's thread-local state; errors off its thread or once closed.
    fn local(&self) -> Result<Rc<LocalLoop>, Error> {
        if self.is_closed() {
            return Err(ErrorKind::LoopClosed.into());
        }
        driver::local_loop(self.shared.id).ok_or_else(|| {
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
    /// For a future that is not `Send`, make it on the loop with
    /// [`run_in_loop_async`](crate::run_in_loop_async).
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
        F: Future + 'static,
        F: Send, // a `!Send` future? make it on the loop: `run_in_loop_async(&lp, || async { .. })`
        F::Output: Send + Sync + 'static,
    {
        self.spawn_settling(std::any::type_name::<F>(), move || async move {
            Ok(future.await)
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
            match panic::catch(make) {
                Ok(future) => match origin {
                    None => spawn_task(future, completer),
                    Some(origin) => spawn_task(crate::debug::timed(origin, future), completer),
                },
                Err(error) => completer.complete(Err(error)),
            }
        });
        // A refused job is dropped, failing the promise with loop-closed.
        let _ = self.submit_job(job, what);
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
        self.local()?.drive(future)
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
        let _ = self.submit_job(Box::new(|| {}), "stop");
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
        if let Some(local) = driver::local_loop(self.shared.id) {
            local.close_here();
        }
    }
}

impl Clone for EventLoop {
    fn clone(&self) -> Self {
        self.shared.add_handle();
        EventLoop {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if self.shared.drop_handle() {
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
