//! How a loop is made: [`Builder`], and the constructors of [`EventLoop`] that use it.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::LocalSet;

use crate::error::{Error, ErrorKind};

use super::driver::{self, LocalLoop, LoopShared, Settings, DEFAULT_SPIN};
use super::EventLoop;

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
    shutdown_timeout: Duration,
}

impl Builder {
    /// A builder with the defaults: a generated name, debug off (unless the
    /// `PULSAR_ASYNC_DEBUG` environment variable is `1`), a 100 ms slow-callback
    /// threshold, a 10 µs spin window (see [`spin`](Builder::spin)), a 1 s shutdown
    /// timeout (see [`shutdown_timeout`](Builder::shutdown_timeout)).
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
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
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
    /// The loop spins only while it pays: after a park that lasted more than four
    /// windows (calls come seldom), it parks at once when it runs out of work, until
    /// a short park shows calls coming back to back again.
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

    /// The bound on waiting for a closing loop: its teardown waits at most this long
    /// for tokio's blocking pool (`spawn_blocking`, `tokio::fs`, `tokio::io::stdin`:
    /// work still running there is left to finish on its own threads), and the last
    /// handle's drop waits at most this long for a call still running on the loop
    /// (see [the lifecycle](EventLoop#lifecycle)). The default is 1 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let lp = pulsar_async::EventLoop::builder()
    ///     .shutdown_timeout(Duration::from_millis(50))
    ///     .spawn()
    ///     .unwrap();
    /// // A blocking read that never ends does not hold the close for longer.
    /// let _ = lp.spawn(async {
    ///     let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_secs(3))).await;
    /// });
    /// let start = Instant::now();
    /// lp.close();
    /// assert!(start.elapsed() < Duration::from_secs(2));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The state of a new loop, with its one handle.
    pub(super) fn shared(self, owns_thread: bool) -> Arc<LoopShared> {
        // From the first loop on, the lower floors find the current loop through this.
        crate::schedule::register_current(driver::current_scheduler);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = self
            .name
            .unwrap_or_else(|| format!("pulsar-loop-{id}"))
            .into();
        let shared = Arc::new(LoopShared::new(
            id,
            owns_thread,
            Settings {
                name,
                debug: self.debug,
                slow_callback: self.slow_callback,
                spin: self.spin,
                shutdown_timeout: self.shutdown_timeout,
            },
        ));
        driver::register(&shared);
        shared
    }

    /// Starts the loop on a thread of its own and returns its handle.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::User`] wrapping the I/O error when the runtime or the thread could
    /// not be created; [`ErrorKind::InvalidInput`] for a name with a NUL byte.
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
                ErrorKind::InvalidInput,
                "a loop's name (its thread's name) may not contain a NUL byte",
            ));
        }
        let runtime = new_runtime()?;
        let shared = self.shared(true);
        let on_thread = shared.clone();
        let handle = std::thread::Builder::new()
            .name(shared.name.to_string())
            .spawn(move || driver::thread_main(on_thread, runtime))
            .map_err(Error::user)?;
        let _ = shared.thread.set(handle.thread().id());
        *shared.join.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(EventLoop {
            shared,
            counted: true,
        })
    }

    /// Builds a loop driven by its caller: it runs only inside
    /// [`run_until_complete`](EventLoop::run_until_complete) and
    /// [`run_forever`](EventLoop::run_forever), on this thread, and becomes this
    /// thread's [`current`](EventLoop::current) loop. When this thread exits, the loop
    /// is closed if it is still open (see [the lifecycle](EventLoop#lifecycle)).
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
        Rc::new(LocalLoop::new(
            shared.clone(),
            Some((runtime, LocalSet::new())),
        ))
        .own();
        Ok(EventLoop {
            shared,
            counted: true,
        })
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The default of [`Builder::shutdown_timeout`].
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

fn new_runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::user)
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
}
