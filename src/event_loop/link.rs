//! What outlives a loop holds of it: a promise's or a call handle's [`LoopLink`]
//! (the loop until its teardown, then nothing), and the loop's [`TokioHandle`]
//! (its runtime's handle until teardown drops it with the runtime's drivers).

use std::sync::{Arc, Mutex, OnceLock};

use crate::panic::run_guarded;
use crate::schedule::{Job, Schedule};

use super::driver::LoopShared;

/// What a promise bound to a loop (or a call's handle) holds of it: the loop until it
/// is torn down, then
/// nothing but the debug flag it had. A promise may outlive its loop by any time (a
/// cache of results); once the loop is closed, what the promise pins is this link and
/// its own outcome, not the loop's state, queues, counters or runtime.
///
/// The link holds the loop from the first promise made (`arm`) to the end of the
/// loop's teardown (`cut`); after the cut it is never armed again. The loop holds the
/// link, so until the cut the two keep each other: a loop that hands out a promise is
/// always torn down (its thread's end, its owner's close or exit).
pub(crate) struct LoopLink {
    state: Mutex<Link>,
    /// Set once armed: a promise made after that takes the link as it is.
    armed: std::sync::atomic::AtomicBool,
    /// The loop's debug flag, as it was when the link was cut.
    debug: std::sync::atomic::AtomicBool,
}

struct Link {
    shared: Option<Arc<LoopShared>>,
    cut: bool,
}

impl LoopLink {
    pub(super) fn new() -> Self {
        LoopLink {
            state: Mutex::new(Link {
                shared: None,
                cut: false,
            }),
            armed: std::sync::atomic::AtomicBool::new(false),
            debug: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Link> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loop, unless the link was cut (the loop is torn down).
    #[inline]
    pub(super) fn get(&self) -> Option<Arc<LoopShared>> {
        self.lock().shared.clone()
    }

    /// Links `shared` to its promises, unless it is torn down already: a lock the
    /// first time only (a promise made after that takes the link as it is).
    #[inline]
    pub(super) fn arm(&self, shared: &Arc<LoopShared>) {
        if self.armed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let mut link = self.lock();
        if !link.cut && link.shared.is_none() {
            link.shared = Some(shared.clone());
        }
        self.armed.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Unlinks the loop from its promises for good (the end of its teardown).
    pub(super) fn cut(&self, debug: bool) {
        self.debug
            .store(debug, std::sync::atomic::Ordering::Relaxed);
        let shared = {
            let mut link = self.lock();
            link.cut = true;
            link.shared.take()
        };
        // Maybe the loop's last reference: its drop runs outside the lock.
        drop(shared);
    }
}

impl Schedule for LoopLink {
    fn schedule(&self, job: Job) -> Result<(), Job> {
        match self.get() {
            Some(shared) => shared.schedule(job),
            None => Err(job),
        }
    }

    fn is_loop_thread(&self) -> bool {
        self.get().is_some_and(|shared| shared.is_loop_thread())
    }

    fn is_debug(&self) -> bool {
        match self.get() {
            Some(shared) => shared.is_debug(),
            None => self.debug.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn is_running(&self) -> bool {
        self.get().is_some_and(|shared| shared.is_running())
    }

    fn as_any(self: Arc<Self>) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.get()
            .map(|shared| shared as Arc<dyn std::any::Any + Send + Sync>)
    }
}

/// The handle of a loop's tokio runtime while the runtime lives. A handle keeps the
/// runtime's drivers alive (the I/O driver's epoll descriptor and its waker's
/// eventfd, the timer wheel) after the runtime itself is dropped, so teardown drops
/// it too: once a loop is closed, nothing of its runtime is left, whatever still holds
/// the loop (a promise, a handle). Readers then get the handle of a runtime that is
/// shut down, on which a spawned task fails at once, as on the loop's own once closed.
pub(crate) struct TokioHandle(Mutex<Option<tokio::runtime::Handle>>);

impl TokioHandle {
    pub(super) fn new(handle: Option<tokio::runtime::Handle>) -> Self {
        TokioHandle(Mutex::new(handle))
    }

    /// The handle: the loop's runtime's, or once the loop is torn down that of a
    /// runtime that is shut down (`None` only for the loom models' loops).
    pub(super) fn get(&self) -> Option<tokio::runtime::Handle> {
        let handle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*handle {
            Some(handle) => Some(handle.clone()),
            None if cfg!(loom) => None,
            None => shut_down_runtime(),
        }
    }

    /// How many tasks are alive on the runtime (0 once it is gone).
    pub(super) fn alive_tasks(&self) -> usize {
        let handle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        handle
            .as_ref()
            .map_or(0, |rt| rt.metrics().num_alive_tasks())
    }

    /// Drops the handle (teardown, once the runtime is shut down).
    pub(super) fn release(&self) {
        let handle = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        run_guarded(move || drop(handle), "dropping the loop's runtime handle");
    }
}

/// The handle of one runtime of the process, built with a loop's drivers and shut
/// down at once: what a closed loop's [`TokioHandle`] gives. `None` if it cannot be
/// built (no descriptor left): then a runtime without drivers.
fn shut_down_runtime() -> Option<tokio::runtime::Handle> {
    static SHUT_DOWN: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    SHUT_DOWN
        .get_or_init(|| {
            let mut with_drivers = tokio::runtime::Builder::new_current_thread();
            with_drivers.enable_io().enable_time();
            let runtime = with_drivers
                .build()
                .or_else(|_| tokio::runtime::Builder::new_current_thread().build())
                .ok()?;
            let handle = runtime.handle().clone();
            runtime.shutdown_background();
            Some(handle)
        })
        .clone()
}
