//! What a promise needs from a loop, on the ground floor so that promises, gathers and
//! debug reports never import the event loop: [`Job`], the [`Schedule`] trait the loop
//! implements, the [`Scheduler`] handle a promise keeps, and [`current`], the
//! scheduler of the loop of this thread, which the event loop registers.

use std::any::Any;
use std::sync::{Arc, OnceLock};

/// A unit of work handed to a loop: runs once, on the loop's thread.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// What a promise bound to a loop needs from that loop.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Queues `job` on the loop; gives it back if the loop is closed.
    fn schedule(&self, job: Job) -> Result<(), Job>;
    /// `true` when the current thread is the one that runs the loop.
    fn is_loop_thread(&self) -> bool;
    /// The loop's debug flag.
    fn is_debug(&self) -> bool;
    /// `true` while the loop runs jobs (a caller-driven loop between runs does not):
    /// a gather binds its result only to a loop that runs. `true` unless told.
    fn is_running(&self) -> bool {
        true
    }
    /// The loop itself, for the layer that knows its type (`Promise::get_loop`);
    /// `None` unless told.
    fn as_any(self: Arc<Self>) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }
}

/// A loop as a promise sees it.
pub(crate) type Scheduler = Arc<dyn Schedule>;

/// How to find the current thread's loop; set by the event loop when it builds its
/// first loop (before that, no thread has a loop).
static CURRENT: OnceLock<fn() -> Option<Scheduler>> = OnceLock::new();

/// Registers how [`current`] finds the loop of the current thread.
pub(crate) fn register_current(find: fn() -> Option<Scheduler>) {
    let _ = CURRENT.set(find);
}

/// The scheduler of the current thread's loop (the one running here, else the open
/// caller-driven loop built here most recently); `None` if there is none.
pub(crate) fn current() -> Option<Scheduler> {
    CURRENT.get().and_then(|find| find())
}

/// The scheduler of the loop running on this thread right now: [`current`], unless it
/// is a caller-driven loop between runs, which would run nothing queued on it until
/// it is driven again.
pub(crate) fn current_running() -> Option<Scheduler> {
    current().filter(|scheduler| scheduler.is_running())
}
