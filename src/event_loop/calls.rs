//! Scheduling work on a loop: promises bound to it, calls queued from any thread or
//! from its own, calls at a time, and tasks spawned on it.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::panic;
use crate::promise::{CallTask, Completer, Promise};
use crate::schedule::Job;
use crate::time::deadline_from;

use super::driver::{self, LocalLoop};
use super::handle::{self, CallHandle, LocalCallHandle};
use super::queue::{Task, Timed};
use super::spawn::{self, abort_hook, run_task, spawn_listed};
use super::EventLoop;

impl EventLoop {
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

    /// Queues `f` to run on the loop's thread; callable from any thread. Returns the
    /// call's [`CallHandle`], to cancel it while it waits in the queue (dropping the
    /// handle costs nothing and cancels nothing).
    ///
    /// A panic in `f` is logged and the loop goes on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LoopClosed`] when the loop takes no more work (stopping, closing or
    /// closed).
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
    #[inline]
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<CallHandle, Error> {
        let what = std::any::type_name_of_val(&f);
        let seq = self.submit(Box::new(f) as Job, |job, _| Task::Job(job), what)?;
        Ok(CallHandle::new(self.shared.id, seq))
    }

    /// Queues a boxed job (see [`submit`](EventLoop::submit)).
    #[track_caller]
    pub(crate) fn submit_job(&self, job: Job, what: &'static str) -> Result<(), Error> {
        self.submit(job, |job, _| Task::Job(job), what).map(drop)
    }

    /// Queues a call that shares its promise's allocation (see
    /// [`submit`](EventLoop::submit)).
    #[track_caller]
    pub(crate) fn submit_call(&self, call: CallTask, what: &'static str) -> Result<(), Error> {
        self.submit(call, |call, _| Task::Call(call), what)
            .map(drop)
    }

    /// The one route of work into the loop from any thread: queues `item` as
    /// `wrap(item, seq)`, wrapped in debug mode so that it is timed where it runs and
    /// reported, with the caller's location and `what`, if it is slow; gives its
    /// sequence number.
    #[track_caller]
    #[inline]
    fn submit<I>(
        &self,
        item: I,
        wrap: impl FnOnce(I, u64) -> Task,
        what: &'static str,
    ) -> Result<u64, Error> {
        match self.shared.origin(what) {
            None => self.submit_task(item, wrap),
            Some(origin) => self.submit_task(item, |item, seq| {
                Task::Timed(Box::new(Timed {
                    origin,
                    task: wrap(item, seq),
                }))
            }),
        }
    }

    /// Queues `wrap(item, seq)` on the loop's local queue from its own thread, else on
    /// its injector. When the loop takes no work the item is dropped here, under a
    /// guard (which fails its promise with [`ErrorKind::LoopClosed`]), and so is the
    /// result.
    #[inline]
    fn submit_task<I>(&self, item: I, wrap: impl FnOnce(I, u64) -> Task) -> Result<u64, Error> {
        self.shared.push(item, wrap).map_err(|refused| {
            panic::run_guarded(
                move || drop(refused),
                "dropping a call refused by a closed loop",
            );
            Error::from(ErrorKind::LoopClosed)
        })
    }

    /// Queues `f` to run on the loop's thread; must be called on that thread, so `f`
    /// may be `!Send`. Calls issued on the loop's thread run in the order issued,
    /// whichever entry point. Returns the call's [`LocalCallHandle`], to cancel it
    /// before it starts.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WrongThread`] off the loop's thread, [`ErrorKind::LoopClosed`] when
    /// the loop takes no more work.
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
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Result<LocalCallHandle, Error> {
        let local = self.local_loop()?;
        if !self.shared.life.takes_work() {
            return Err(ErrorKind::LoopClosed.into());
        }
        let (call, handle) = match self.shared.origin(std::any::type_name_of_val(&f)) {
            None => handle::LocalCall::with_handle(f),
            Some(origin) => handle::LocalCall::with_handle(move || origin.time(f)),
        };
        local.push(driver::Ready::Local(call));
        Ok(handle)
    }

    /// This loop's thread-local state; errors off its thread or once closing.
    pub(super) fn local_loop(&self) -> Result<Rc<LocalLoop>, Error> {
        if self.shared.life.is_closing() {
            if let Some(local) = driver::local_loop(self.shared.id) {
                // Closed from another thread: the owning thread drops what is left.
                if !self.shared.life.is_driven() {
                    local.teardown(&mut Default::default());
                }
            }
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
        T: Send + 'static,
    {
        self.call_at(deadline_from(self.time(), delay), f)
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
        T: Send + 'static,
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
        F::Output: Send + 'static,
    {
        self.spawn_settling(std::any::type_name::<F>(), move || async move {
            Ok(future.await)
        })
    }

    /// Runs the future made by `make` on the loop; its `Result` settles the promise.
    /// `make` and the future run inside the caller's span, if it is in one that a
    /// subscriber records.
    #[track_caller]
    pub(crate) fn spawn_settling<M, F, T>(&self, what: &'static str, make: M) -> Promise<T>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<T, Error>> + 'static,
        T: Send + 'static,
    {
        let span = tracing::Span::current();
        if span.is_none() {
            return self.spawn_made(what, make);
        }
        self.spawn_made(what, move || {
            let future = span.in_scope(make);
            tracing::Instrument::instrument(future, span)
        })
    }

    /// [`spawn_settling`](EventLoop::spawn_settling), without a span.
    #[track_caller]
    fn spawn_made<M, F, T>(&self, what: &'static str, make: M) -> Promise<T>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<T, Error>> + 'static,
        T: Send + 'static,
    {
        let promise = self.create_promise();
        let completer = Completer::new(promise.setter());
        let origin = self.shared.origin(what);
        // A caller-driven loop lists its tasks, so that a close from another thread
        // fails them at once.
        let listed = (!self.shared.owns_thread).then(|| self.shared.tasks.clone());
        let metrics = self.shared.metrics.clone();
        let job: Job = Box::new(move || {
            if completer.is_done() {
                return;
            }
            match panic::catch(make) {
                Ok(future) => match origin {
                    None => spawn_listed(listed, metrics.count(future), completer),
                    Some(origin) => spawn_listed(
                        listed,
                        metrics.count(crate::debug::timed(origin, future)),
                        completer,
                    ),
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
        let future = self.shared.metrics.count(async move {
            Ok(match origin {
                None => future.await,
                Some(origin) => crate::debug::timed(origin, future).await,
            })
        });
        match self.local_loop() {
            Ok(local) => {
                let completer = Completer::new(promise.setter());
                match &*local.parts.borrow() {
                    // A caller-driven loop that is not running: queue on its task set.
                    Some((_, set)) => {
                        let task = set.spawn_local(run_task(future, completer));
                        promise.on_cancel(abort_hook(&task));
                    }
                    None => spawn::spawn_task(future, completer),
                }
            }
            Err(e) => {
                let _ = promise.set_error(e);
            }
        }
        promise
    }
}
