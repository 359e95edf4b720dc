//! Handles of scheduled calls, as asyncio's `call_soon` returns them:
//! [`CallHandle`] for [`call_soon_threadsafe`](super::EventLoop::call_soon_threadsafe)
//! and [`LocalCallHandle`] for [`call_soon`](super::EventLoop::call_soon).
//!
//! Neither costs a caller that drops it anything measurable: a [`CallHandle`] is its
//! loop's link (what the loop's promises hold too: the loop until it is torn down,
//! then nothing of it) and the call's sequence number (given out under the queue's
//! lock that the push takes anyway), and cancelling finds the call in its loop's queue
//! by that number, whatever the number of loops in the process; a
//! [`LocalCallHandle`] shares, without atomics, the one allocation that also holds the
//! call.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::panic;

use super::driver::{self, LoopShared};
use super::link::LoopLink;
use super::queue::RunLocal;

/// Where a queued local call is: waiting with its closure, or gone one of two ways.
enum Slot<F> {
    Pending(F),
    Started,
    Cancelled,
}

impl<F> Slot<F> {
    /// Takes the closure to run it; `None` if it was cancelled (or already taken).
    fn start(&mut self) -> Option<F> {
        match std::mem::replace(self, Slot::Started) {
            Slot::Pending(f) => Some(f),
            other => {
                *self = other;
                None
            }
        }
    }

    /// Takes the closure to drop it; `None` if it had started (or was cancelled).
    fn cancel(&mut self) -> Option<F> {
        match std::mem::replace(self, Slot::Cancelled) {
            Slot::Pending(f) => Some(f),
            other => {
                *self = other;
                None
            }
        }
    }

    fn is_cancelled(&self) -> bool {
        matches!(self, Slot::Cancelled)
    }
}

/// Drops a cancelled call under a guard: a panic in its `Drop` is logged.
pub(super) fn drop_cancelled<F>(f: F) {
    panic::run_guarded(move || drop(f), "dropping a cancelled call");
}

/// The handle of a call queued by
/// [`call_soon_threadsafe`](super::EventLoop::call_soon_threadsafe): cancel it while
/// it waits in the loop's queue. `Send` and `Sync`.
///
/// Cancelling succeeds while the call waits in the queue: from any thread for a call
/// queued from another thread than the loop's; on the loop's own thread for a call
/// queued there (it waits in the loop's local queue). Once the loop has taken the call
/// for an iteration, it runs.
///
/// Dropping the handle does not cancel the call, and costs next to nothing: the handle
/// is a link to its loop (which lets go of the loop once it is closed: a handle kept
/// longer pins none of its resources) and a number. Cancelling reaches that loop directly: its cost does not grow with the
/// number of loops in the process.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
/// let ran = Arc::new(AtomicBool::new(false));
/// let r = ran.clone();
/// let handle = lp.call_soon_threadsafe(move || r.store(true, Ordering::SeqCst)).unwrap();
/// assert!(handle.cancel());
/// assert!(handle.is_cancelled());
/// lp.run_until_complete(tokio::task::yield_now()).unwrap();
/// assert!(!ran.load(Ordering::SeqCst));
/// ```
pub struct CallHandle {
    /// The loop, reached directly by a cancel, until it is torn down.
    link: Arc<LoopLink>,
    seq: u64,
    cancelled: AtomicBool,
}

impl CallHandle {
    pub(super) fn new(shared: &Arc<LoopShared>, seq: u64) -> Self {
        CallHandle {
            link: shared.link(),
            seq,
            cancelled: AtomicBool::new(false),
        }
    }

    /// Cancels the call: `true` if it was still waiting in the loop's queue, so it
    /// will never run (its closure is dropped now); `false` if the loop had taken it
    /// (it runs, or ran), it was cut by a close, or it was cancelled already.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let h = lp.call_soon_threadsafe(|| ()).unwrap();
    /// assert!(h.cancel());
    /// assert!(!h.cancel(), "only once");
    /// ```
    pub fn cancel(&self) -> bool {
        if self.cancelled.load(Ordering::Acquire) {
            return false;
        }
        let Some(shared) = self.link.get() else {
            // The loop is gone, and with it every call it held.
            return false;
        };
        let Some(call) = driver::take_queued(&shared, self.seq) else {
            return false;
        };
        self.cancelled.store(true, Ordering::Release);
        drop_cancelled(call);
        true
    }

    /// `true` once [`cancel`](CallHandle::cancel) succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let h = lp.call_soon_threadsafe(|| ()).unwrap();
    /// lp.run_until_complete(tokio::task::yield_now()).unwrap();
    /// assert!(!h.cancel(), "it ran");
    /// assert!(!h.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

impl fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallHandle")
            .field("seq", &self.seq)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// A call queued by `call_soon` on the loop's thread, shared with its
/// [`LocalCallHandle`].
pub(crate) struct LocalCall<F>(RefCell<Slot<F>>);

trait CancelLocal {
    fn cancel(&self) -> bool;
    fn is_cancelled(&self) -> bool;
}

impl<F: FnOnce() + 'static> LocalCall<F> {
    /// The call for the local queue, and its handle: one allocation.
    pub(crate) fn with_handle(f: F) -> (Rc<dyn RunLocal>, LocalCallHandle) {
        let call = Rc::new(LocalCall(RefCell::new(Slot::Pending(f))));
        (call.clone(), LocalCallHandle(call))
    }
}

impl<F: FnOnce()> RunLocal for LocalCall<F> {
    fn run(&self) {
        let f = self.0.borrow_mut().start();
        if let Some(f) = f {
            f();
        }
    }

    fn is_cancelled(&self) -> bool {
        self.0.borrow().is_cancelled()
    }
}

impl<F: FnOnce()> CancelLocal for LocalCall<F> {
    fn cancel(&self) -> bool {
        let f = self.0.borrow_mut().cancel();
        f.map(drop_cancelled).is_some()
    }

    fn is_cancelled(&self) -> bool {
        self.0.borrow().is_cancelled()
    }
}

/// The handle of a call queued by [`call_soon`](super::EventLoop::call_soon): cancel
/// it before it starts. Like the call, it stays on the loop's thread (`!Send`).
///
/// Dropping the handle does not cancel the call.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
///
/// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
/// let hits = Rc::new(Cell::new(0));
/// let (a, b) = (hits.clone(), hits.clone());
/// let first = lp.call_soon(move || a.set(a.get() + 1)).unwrap();
/// let second = lp.call_soon(move || b.set(b.get() + 10)).unwrap();
/// assert!(second.cancel());
/// lp.run_until_complete(tokio::task::yield_now()).unwrap();
/// assert_eq!(hits.get(), 1);
/// assert!(!first.is_cancelled() && second.is_cancelled());
/// ```
#[derive(Clone)]
pub struct LocalCallHandle(Rc<dyn CancelLocal>);

impl LocalCallHandle {
    /// Cancels the call: `true` if it had not started, so it will never run (its
    /// closure is dropped now); `false` if it already started, ran, or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let h = lp.call_soon(|| ()).unwrap();
    /// assert!(h.cancel());
    /// assert!(!h.cancel(), "only once");
    /// ```
    pub fn cancel(&self) -> bool {
        self.0.cancel()
    }

    /// `true` once the call was cancelled before it started.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let h = lp.call_soon(|| ()).unwrap();
    /// assert!(!h.is_cancelled());
    /// h.cancel();
    /// assert!(h.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

impl fmt::Debug for LocalCallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCallHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
