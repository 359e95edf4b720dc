//! How a loop is made: [`Builder`], and the constructors of [`EventLoop`] that use it.

use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::LocalSet;

use crate::error::{Error, ErrorKind};

use super::driver::{self, LocalLoop, LoopShared, Settings};
use super::metrics::Counters;
use super::spin::DEFAULT_SPIN;
use super::EventLoop;

/// A hook run on a loop's threads.
type Hook = Arc<dyn Fn() + Send + Sync>;

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
// Methods of `Builder` in other rooms: `pool` (pool.rs: `LoopPool` sits above the
// loop).
#[derive(Clone)]
pub struct Builder {
    pub(crate) name: Option<String>,
    debug: bool,
    spin: Duration,
    slow_callback: Duration,
    shutdown_timeout: Duration,
    stack_size: Option<usize>,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    start_paused: bool,
    queue_capacity: Option<usize>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("debug", &self.debug)
            .field("spin", &self.spin)
            .field("slow_callback", &self.slow_callback)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("start_paused", &self.start_paused)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
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
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            start_paused: false,
            queue_capacity: None,
        }
    }

    /// At most `calls` calls queued on the loop and not yet started, from any thread
    /// and any entry point (`run_in_loop` and its forms, `spawn`, `call_soon`,
    /// `call_soon_threadsafe`, [`LoopLocal`](crate::LoopLocal) and
    /// [`PoolLocal`](crate::pool::PoolLocal) calls); for a pool, on each of its loops. The
    /// default is no bound, as tokio's `spawn`.
    ///
    /// On a full loop a call is refused at once: its promise fails with
    /// [`ErrorKind::Full`] (the `Result` forms return it), its closure is dropped on
    /// the caller's thread and never runs, and nothing the loop accepted is lost. To
    /// wait for room instead, [`EventLoop::reserve`] a place and run the call
    /// through its [`Permit`](super::Permit), as tokio's bounded `Sender::reserve`.
    /// Refusals are counted in [`LoopMetrics::calls_refused`](super::LoopMetrics).
    /// Work the loop gives itself (a promise's callbacks, a loop-local state's init
    /// and release) is never refused and holds no place. A call cancelled by its
    /// handle keeps its place until the loop passes it (at its next iteration).
    ///
    /// # Errors
    ///
    /// A capacity of 0 makes [`spawn`](Builder::spawn), [`build_driven`](Builder::build_driven)
    /// and [`pool`](Builder::pool) fail with [`ErrorKind::InvalidInput`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, ErrorKind, EventLoop};
    /// let lp = EventLoop::builder().queue_capacity(1).build_driven().unwrap();
    /// let first = run_in_loop(&lp, || 1);
    /// let second = run_in_loop(&lp, || 2); // the loop holds one call already
    /// assert_eq!(second.try_result().unwrap_err().kind(), ErrorKind::Full);
    /// assert_eq!(lp.run_until_complete(first).unwrap().unwrap(), 1);
    /// assert_eq!(lp.metrics().calls_refused, 1);
    ///
    /// let zero = EventLoop::builder().queue_capacity(0).build_driven();
    /// assert_eq!(zero.unwrap_err().kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn queue_capacity(mut self, calls: usize) -> Self {
        self.queue_capacity = Some(calls);
        self
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
    /// a short park shows calls coming back to back again; and while its windows
    /// catch calls less often than they end empty (a window caught adds a credit, up
    /// to four, an empty one takes one; it starts with two), it parks at once too,
    /// spinning one window in every sixteen idle turns to find out when spinning pays
    /// again. On a machine where loop threads, tokio workers and callers outnumber the
    /// cores, an empty window takes the CPU that the thread sending the next call
    /// needs.
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
    /// handle's drop waits at most this long (and a grace of 200 ms) for that teardown
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

    /// The stack size of the loop's thread, and of the threads of its runtime's
    /// blocking pool (`spawn_blocking`); the default is the standard library's (2 MiB,
    /// or `RUST_MIN_STACK`). Has no effect on a caller-driven loop's own thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().stack_size(8 << 20).spawn().unwrap();
    /// // Deep recursion on the loop's thread has 8 MiB to use.
    /// let big = pulsar_async::run_in_loop(&lp, || [0u8; 4 << 20].len());
    /// assert_eq!(big.wait().unwrap(), 4 << 20);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `hook` on each thread of the loop when it starts, before it runs anything:
    /// the loop's own thread (of a loop spawned with [`spawn`](Builder::spawn)) and the
    /// threads of its runtime's blocking pool (tokio's `on_thread_start`). A panic in
    /// the hook is logged and the thread goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// let lp = pulsar_async::EventLoop::builder()
    ///     .on_thread_start(move || { s.fetch_add(1, Ordering::SeqCst); })
    ///     .spawn()
    ///     .unwrap();
    /// pulsar_async::run_in_loop(&lp, || ()).wait().unwrap();
    /// assert_eq!(started.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(hook));
        self
    }

    /// Runs `hook` on each thread of the loop when it stops: the loop's own thread
    /// after the loop is torn down (its loop-local state dropped, its runtime shut
    /// down), and the threads of the blocking pool (tokio's `on_thread_stop`). A panic
    /// in the hook is logged.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// let stopped = Arc::new(AtomicBool::new(false));
    /// let s = stopped.clone();
    /// let lp = pulsar_async::EventLoop::builder()
    ///     .on_thread_stop(move || s.store(true, Ordering::SeqCst))
    ///     .spawn()
    ///     .unwrap();
    /// lp.close(); // returns once the loop's thread has exited
    /// assert!(stopped.load(Ordering::SeqCst));
    /// ```
    pub fn on_thread_stop(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_stop = Some(Arc::new(hook));
        self
    }

    /// Starts the loop's runtime on tokio's paused clock (`start_paused` of tokio's
    /// runtime builder), for tests: time moves only when the loop has nothing to do
    /// but wait for a timer, and then jumps to it. The clock starts paused on the
    /// timer wheel's origin, so deadlines land exactly: a `call_later(d, ..)` runs when
    /// [`time`](EventLoop::time) on the loop reads exactly `d` after it was scheduled
    /// (whole milliseconds; tokio's timers tick in milliseconds), and an
    /// [`async_while`](fn@crate::async_while) with a 10 s timeout ends after exactly 10 s
    /// of the loop's clock, in microseconds of real time.
    ///
    /// Needs this crate's `test-util` feature (which turns on tokio's).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "test-util")] {
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::builder().start_paused(true).spawn().unwrap();
    /// let waited = pulsar_async::run_in_loop_async(&lp, || async {
    ///     let start = tokio::time::Instant::now();
    ///     tokio::time::sleep(Duration::from_secs(3600)).await;
    ///     start.elapsed()
    /// });
    /// assert_eq!(waited.wait().unwrap(), Duration::from_secs(3600));
    /// # }
    /// ```
    #[cfg(feature = "test-util")]
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    /// The runtime of a new loop, with the builder's hooks and its metrics' clocks.
    pub(super) fn runtime(&self, metrics: &Arc<Counters>) -> Result<Runtime, Error> {
        let mut rt = tokio::runtime::Builder::new_current_thread();
        rt.enable_all();
        if let Some(bytes) = self.stack_size {
            rt.thread_stack_size(bytes);
        }
        // (tokio built for loom has no thread hooks; the loom models build no runtime.)
        #[cfg(not(loom))]
        {
            let (parked, unparked) = (metrics.clone(), metrics.clone());
            rt.on_thread_park(move || parked.parked());
            rt.on_thread_unpark(move || unparked.unparked());
            if let Some(hook) = self.on_thread_start.clone() {
                rt.on_thread_start(move || run_hook(&hook, "on_thread_start"));
            }
            if let Some(hook) = self.on_thread_stop.clone() {
                rt.on_thread_stop(move || run_hook(&hook, "on_thread_stop"));
            }
        }
        #[cfg(loom)]
        let _ = metrics;
        #[cfg(feature = "test-util")]
        rt.start_paused(self.start_paused);
        rt.build().map_err(|e| {
            Error::caused_by(
                ErrorKind::InvalidInput,
                "cannot build the loop's tokio runtime",
                e,
            )
        })
    }

    /// Refuses settings no loop can have: a name with a NUL byte, a queue capacity
    /// of 0.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.name.as_deref().is_some_and(|n| n.contains('\0')) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a loop's name (its thread's name) may not contain a NUL byte",
            ));
        }
        if self.queue_capacity == Some(0) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a queue capacity of 0 would refuse every call: give at least 1 (or no capacity, for an unbounded queue)",
            ));
        }
        Ok(())
    }

    /// The state of a new loop, with its one handle.
    pub(super) fn shared(
        self,
        owns_thread: bool,
        runtime: Option<&Runtime>,
        metrics: Arc<Counters>,
    ) -> Arc<LoopShared> {
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
                queue_capacity: self.queue_capacity,
                metrics,
                tokio: runtime.map(|rt| rt.handle().clone()),
            },
        ));
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
        self.check()?;
        let metrics = Arc::new(Counters::new());
        let runtime = self.runtime(&metrics)?;
        let mut thread = std::thread::Builder::new();
        if let Some(bytes) = self.stack_size {
            thread = thread.stack_size(bytes);
        }
        let (start, stop) = (self.on_thread_start.clone(), self.on_thread_stop.clone());
        let shared = self.shared(true, Some(&runtime), metrics);
        let on_thread = shared.clone();
        let handle = thread
            .name(shared.name.to_string())
            .spawn(move || {
                if let Some(hook) = start {
                    run_hook(&hook, "on_thread_start");
                }
                driver::thread_main(on_thread, runtime);
                if let Some(hook) = stop {
                    run_hook(&hook, "on_thread_stop");
                }
            })
            .map_err(|e| {
                Error::caused_by(
                    ErrorKind::InvalidInput,
                    "the OS refused a thread for the loop (too many threads?)",
                    e,
                )
            })?;
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
        self.check()?;
        let metrics = Arc::new(Counters::new());
        let runtime = self.runtime(&metrics)?;
        let shared = self.shared(false, Some(&runtime), metrics);
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

/// Runs a thread hook of the builder; a panic in it is logged.
fn run_hook(hook: &Hook, what: &'static str) {
    crate::panic::run_guarded(|| hook(), what);
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
