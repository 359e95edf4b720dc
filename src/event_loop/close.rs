//! The close protocol, one for every path: begin (refuse work, cut what is queued),
//! let the thread that owns the runtime tear it down, finish (mark closed, settle the
//! report), and wait for it where waiting cannot hang; and what it gives back:
//! the [`Closed`] future (of a [`ShutdownReport`]), [`Deadline`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use std::sync::Arc;

use crate::loom::Ordering;
use crate::promise::Promise;

use super::driver::LoopShared;
use super::state::ShutdownReport;
use super::threads::{is_driving, local_loop};

/// When a [`shutdown`](super::EventLoop::shutdown) stops draining: a point in time, or
/// a timeout from now. Made from a [`Duration`], a [`std::time::Instant`] or a
/// [`tokio::time::Instant`].
///
/// # Examples
///
/// ```
/// use pulsar_async::event_loop::Deadline;
/// use std::time::{Duration, Instant};
/// let soon = Deadline::from(Duration::from_millis(10));
/// assert!(soon.instant() <= Instant::now() + Duration::from_millis(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline as an instant of the standard clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// let at = Instant::now();
    /// assert_eq!(pulsar_async::event_loop::Deadline::from(at).instant(), at);
    /// ```
    pub fn instant(self) -> Instant {
        self.0
    }
}

impl From<Duration> for Deadline {
    fn from(timeout: Duration) -> Self {
        let now = Instant::now();
        Deadline(now.checked_add(timeout).unwrap_or(now + FAR_FUTURE))
    }
}

impl From<Instant> for Deadline {
    fn from(at: Instant) -> Self {
        Deadline(at)
    }
}

impl From<tokio::time::Instant> for Deadline {
    fn from(at: tokio::time::Instant) -> Self {
        Deadline(at.into_std())
    }
}

/// A deadline that never comes, for a timeout too large to represent.
const FAR_FUTURE: Duration = Duration::from_secs(86400 * 365 * 30);

/// A future that resolves, with its [`ShutdownReport`], once the loop has finished
/// closing; made by [`EventLoop::closed`](super::EventLoop::closed). Awaitable from
/// any executor.
///
/// # Cancel safety
///
/// Dropping it changes nothing: the loop closes all the same.
///
/// # Examples
///
/// ```
/// let lp = pulsar_async::EventLoop::new().unwrap();
/// let closed = lp.closed();
/// lp.close_background();
/// let report = futures::executor::block_on(closed);
/// assert_eq!(report.cut, 0);
/// assert!(lp.is_closed());
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Closed(pub(super) Promise<ShutdownReport>);

impl Future for Closed {
    type Output = ShutdownReport;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ShutdownReport> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|report| report.unwrap_or_default())
    }
}

/// A future that shuts a loop down gracefully and resolves, with its
/// [`ShutdownReport`], once the loop is closed; made by
/// [`EventLoop::shutdown_async`](super::EventLoop::shutdown_async). Awaitable from any
/// executor: the loop enforces the deadline itself (a caller-driven loop that nobody
/// drives is closed at the deadline by a watchdog thread).
///
/// The shutdown begins when the future is first polled.
///
/// # Cancel safety
///
/// Dropping it once polled does not stop the shutdown: the loop drains and closes
/// all the same. Dropped before its first poll, it did nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # futures::executor::block_on(async {
/// let lp = pulsar_async::EventLoop::new().unwrap();
/// let p = lp.spawn(async {
///     tokio::time::sleep(Duration::from_millis(5)).await;
///     "finished while the loop drained"
/// });
/// pulsar_async::run_in_loop(&lp, || ()).await.unwrap(); // the task is alive
/// let report = lp.shutdown_async(Duration::from_secs(10)).await.unwrap();
/// assert_eq!((report.tasks_finished, report.tasks_cut), (1, 0));
/// assert_eq!(p.await.unwrap(), "finished while the loop drained");
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct ShutdownAsync {
    /// The loop and the deadline, until the first poll begins the shutdown.
    start: Option<(Arc<LoopShared>, Deadline)>,
    closed: Closed,
}

impl ShutdownAsync {
    pub(super) fn new(shared: Arc<LoopShared>, deadline: Deadline) -> Self {
        let closed = Closed(shared.closed.clone());
        ShutdownAsync {
            start: Some((shared, deadline)),
            closed,
        }
    }
}

impl Future for ShutdownAsync {
    type Output = Result<ShutdownReport, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some((shared, deadline)) = self.start.take() {
            if let Err(e) = shared.shutdown_waitable(deadline) {
                return Poll::Ready(Err(e));
            }
        }
        Pin::new(&mut self.closed).poll(cx).map(Ok)
    }
}

impl std::fmt::Debug for LoopShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopShared")
            .field("name", &self.name)
            .field("state", &self.life.state())
            .finish()
    }
}

/// How long the last drop keeps waiting for a loop's teardown beyond
/// `shutdown_timeout` (which bounds the wait for tokio's blocking pool): the time to
/// drop the loop's tasks and exit its thread.
const TEARDOWN_GRACE: Duration = Duration::from_millis(200);

impl LoopShared {
    /// Begins the close: `CLOSING` (under the injector's lock, so that no push slips
    /// past it), then cuts the calls still queued there and, on a caller-driven loop,
    /// fails its tasks. The owning thread cuts the rest when it sees the close.
    pub(super) fn begin_close(&self) {
        let mut cut = VecDeque::new();
        let mut owned = VecDeque::new();
        let moved = self.injector.transition(
            || {
                let moved = self.life.to_closing();
                if !self.owns_thread {
                    // The owner's queued calls, settled here whoever closes: taken
                    // under the injector's lock, where the report is settled, so that
                    // it counts them.
                    owned = self.owner_queue.cut();
                }
                moved
            },
            Some(&mut cut),
        );
        self.drop_cut(cut);
        self.drop_cut(owned);
        if moved && !self.owns_thread {
            // Counted as cut unless the owning thread tears the loop down and counts
            // the tasks alive then (these among them).
            let n = self.tasks.cut_all();
            self.tasks_cut.store(n, Ordering::Relaxed);
        }
    }

    /// Ends the close: `CLOSED`, and the report to every waiter.
    pub(super) fn finish_close(&self) {
        if self.injector.transition(|| self.life.to_closed(), None) {
            // Every cut of the injector's queue came before (under its lock), every
            // other cut on the thread that tears the loop down, before this.
            let report = ShutdownReport {
                ran: self.ran.load(Ordering::Relaxed),
                cut: self.cut.load(Ordering::Relaxed)
                    + self.injector.cut_count()
                    + self.owner_queue.cut_count(),
                tasks_finished: self.metrics.tasks_finished(),
                tasks_cut: self.tasks_cut.load(Ordering::Relaxed),
            };
            let _ = self.closed.set_result(report);
        }
    }

    /// Begins a shutdown: refuses new work from now on and drains what is queued
    /// until `deadline`. A shutdown that already began keeps the earlier deadline.
    pub(super) fn begin_shutdown(&self, deadline: Deadline) {
        {
            let mut at = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
            *at = Some(at.map_or(deadline.0, |d| d.min(deadline.0)));
        }
        if self.life.takes_work() {
            self.metrics.set_draining(true);
        }
        self.injector.transition(|| self.life.to_stopping(), None);
    }

    /// Begins a shutdown that this thread will wait for (blocking or awaiting), or
    /// says why it cannot, naming the form that works here: on the loop's own thread
    /// (a call or task of the loop, or the future its drive runs) the loop would wait
    /// for itself. A caller-driven loop whose owning thread does not drive it through
    /// the drain is closed at the deadline by a watchdog thread.
    pub(super) fn shutdown_waitable(self: &Arc<Self>, deadline: Deadline) -> Result<(), Error> {
        if is_driving(self.id) || (self.owns_thread && self.is_current_thread()) {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "a loop cannot wait for its own shutdown: call shutdown_background(deadline) here \
                 (the loop drains and closes on its own), or shutdown / shutdown_async on another thread",
            ));
        }
        self.begin_shutdown(deadline);
        if !self.owns_thread && !self.life.is_closed() {
            let shared = self.clone();
            let watchdog = std::thread::Builder::new()
                .name(format!("{}-shutdown", self.name))
                .spawn(move || shared.close_at(deadline));
            if watchdog.is_err() {
                // No thread for the watchdog: close now rather than never.
                self.begin_close();
                self.settle_close();
            }
        }
        Ok(())
    }

    /// Closes the loop at `deadline` unless it is closed by then (a caller-driven
    /// loop shut down while nobody drives it).
    fn close_at(&self, deadline: Deadline) {
        let left = deadline.0.saturating_duration_since(Instant::now());
        if self.closed.wait_timeout(left).is_err() {
            self.begin_close();
            if self.settle_close() {
                let _ = self.closed.wait();
            }
        }
    }

    /// After `begin_close`, does what this thread can to finish the close, and says
    /// whether it may then wait for the loop to be closed (`false`: waiting could
    /// hang, or there is nothing to wait for).
    ///
    /// - On the loop's own thread while it is driven (a call, a task, the future of
    ///   `run_until_complete`): the drive tears the loop down when it returns.
    /// - On the owning thread of a caller-driven loop that is not driven: tear it
    ///   down here, now.
    /// - On another thread, a caller-driven loop that is not driven (and, being
    ///   closing, never will be again): nothing of it can run any more; it is closed
    ///   now, and its owning thread drops the runtime and its `!Send` work when it
    ///   next touches the loop or exits.
    /// - Inside a tokio runtime, where a blocking wait is refused (a task, a
    ///   `block_on` future; not `spawn_blocking` or `block_in_place`): waiting would
    ///   block that runtime's thread.
    pub(super) fn settle_close(&self) -> bool {
        if is_driving(self.id) {
            return false;
        }
        if let Some(local) = local_loop(self.id) {
            if !self.owns_thread {
                local.teardown(&mut VecDeque::new());
            }
            return false;
        }
        if !self.owns_thread && !self.life.is_driven() {
            self.finish_close();
            return false;
        }
        blocking_allowed()
    }

    /// Waits until the loop is closed, then for its thread to exit. Concurrent
    /// callers all wait: the one that joins the thread holds the lock of its handle
    /// while it does.
    pub(super) fn wait_closed(&self) {
        let _ = self.closed.wait();
        self.join_thread();
    }

    /// The last drop's wait: as [`wait_closed`](LoopShared::wait_closed) when no call
    /// is running, bounded by `shutdown_timeout` (tokio's blocking pool) and a grace;
    /// not at all while a call runs (it may be waiting for the dropping thread): the
    /// loop then closes when that call returns, and [`close`](super::EventLoop::close)
    /// is the way to wait for it.
    pub(super) fn wait_closed_bounded(&self) {
        if self.calls_running.get() && !self.life.is_closed() {
            tracing::debug!(
                target: "pulsar_async",
                loop_name = &*self.name,
                "the last handle is gone while a call runs on the loop; the loop closes when it returns"
            );
            return;
        }
        if self
            .closed
            .wait_timeout(self.shutdown_timeout + TEARDOWN_GRACE)
            .is_err()
        {
            tracing::warn!(
                target: "pulsar_async",
                loop_name = &*self.name,
                "the loop did not finish closing within its shutdown timeout; it goes on closing on its own thread"
            );
            return;
        }
        self.join_thread();
    }

    /// Joins the loop's thread once the loop is closed (the first caller joins; the
    /// others wait for the lock until it has).
    fn join_thread(&self) {
        // The report was settled after the move to closed, made under the injector's
        // lock; passing through that lock orders this thread after it even where the
        // promise's own synchronisation is not seen (loom does not see its std
        // `OnceLock`).
        self.injector.transition(|| (), None);
        if self.is_current_thread() {
            return;
        }
        let mut join = self.join.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(thread) = join.take() {
            let _ = thread.join();
        }
    }

    fn is_current_thread(&self) -> bool {
        self.thread.get() == Some(&std::thread::current().id())
    }
}

/// `true` where a blocking wait is allowed: wherever a promise's
/// [`wait`](crate::Promise::wait) is (it refuses inside a tokio task or `block_on`
/// future, not in `spawn_blocking` or `block_in_place`). Asked of a promise nobody
/// settles, with no time to wait.
pub(crate) fn blocking_allowed() -> bool {
    // (The loom models have no runtime: blocking is always allowed there.)
    #[cfg(loom)]
    return true;
    #[cfg(not(loom))]
    match Promise::<()>::new().wait_timeout(Duration::ZERO) {
        Err(e) => e.kind() != ErrorKind::WouldDeadlock,
        Ok(()) => true,
    }
}
