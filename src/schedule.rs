//! What a promise needs from a loop, on the ground floor so that promises, gathers and
//! debug reports never import the event loop: [`Job`], the [`Schedule`] trait the loop
//! implements, the [`Scheduler`] handle a promise keeps, and [`current`], the
//! scheduler of the loop of this thread, which the event loop registers.

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
