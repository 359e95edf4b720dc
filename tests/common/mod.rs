//! Helpers shared by the integration tests (each test binary uses what it needs).
#![allow(dead_code)]

use pulsar_async::{run_in_loop, EventLoop};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// A future that counts its polls.
pub struct Counted<F> {
    pub inner: F,
    pub polls: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A flag set when the thread of `lp` exits (by a thread-local's destructor there).
pub fn thread_exit_flag(lp: &EventLoop) -> Arc<AtomicBool> {
    thread_exit_flag_after(lp, std::time::Duration::ZERO)
}

/// As [`thread_exit_flag`], with a destructor that takes `delay` before it sets the
/// flag: set only once the thread has finished exiting, whatever the machine's load.
pub fn thread_exit_flag_after(lp: &EventLoop, delay: std::time::Duration) -> Arc<AtomicBool> {
    struct OnExit(Arc<AtomicBool>, std::time::Duration);
    impl Drop for OnExit {
        fn drop(&mut self) {
            std::thread::sleep(self.1);
            self.0.store(true, Ordering::SeqCst);
        }
    }
    thread_local!(static EXIT: RefCell<Option<OnExit>> = const { RefCell::new(None) });
    let exited = Arc::new(AtomicBool::new(false));
    let flag = exited.clone();
    run_in_loop(lp, move || {
        EXIT.with(|x| *x.borrow_mut() = Some(OnExit(flag, delay)))
    })
    .wait_timeout(std::time::Duration::from_secs(5))
    .expect("the loop runs the call");
    exited
}

/// Waits until `done()` holds, polling; panics naming `what` after `limit`, so a bug
/// is a failure, not a hang.
pub fn wait_until(limit: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "still waiting after {limit:?} until {what}"
        );
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Joins `thread`, panicking naming `what` if it has not finished within `limit`
/// (and with the thread's own panic if it panicked).
pub fn join_within<T>(
    limit: std::time::Duration,
    what: &str,
    thread: std::thread::JoinHandle<T>,
) -> T {
    wait_until(limit, what, || thread.is_finished());
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Everything written to it, kept: the writer behind a `tracing` subscriber whose
/// output a test reads.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// A capture of everything `pulsar_async` logs at `debug` and above in this test
    /// binary, installed once as the global subscriber (reports are emitted on loop
    /// threads, so a thread-local subscriber would miss them).
    pub fn global() -> &'static LogCapture {
        static GLOBAL: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| {
            let capture = LogCapture::default();
            tracing_subscriber::fmt()
                .with_env_filter("pulsar_async=debug")
                .with_ansi(false)
                .with_writer(capture.clone())
                .init();
            capture
        })
    }

    /// All that was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// The lines written so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(String::from)
            .collect()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}

/// Stops the caller-driven loop `lp` after `limit` unless dropped first, so that a
/// `run_until_complete` that would hang fails instead.
pub fn stop_after(lp: &EventLoop, limit: std::time::Duration) -> StopAfter {
    let (disarm, armed) = std::sync::mpsc::channel::<()>();
    let lp = lp.clone();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = armed.recv_timeout(limit) {
            eprintln!("watchdog: still running after {limit:?}, stopping the loop");
            lp.stop();
        }
    });
    StopAfter(disarm)
}

/// Disarms [`stop_after`]'s watchdog when dropped.
pub struct StopAfter(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

/// Keeps `lp` busy for `time` with a call that has started when this returns, so that
/// what is queued on it now waits behind that call.
pub fn hold_busy(lp: &EventLoop, time: std::time::Duration) {
    let started = Arc::new(std::sync::Barrier::new(2));
    let s = started.clone();
    lp.call_soon_threadsafe(move || {
        s.wait();
        std::thread::sleep(time);
    })
    .unwrap();
    started.wait();
}

/// Awaits `f` on futures' executor (any executor, not only tokio), panicking if it is
/// still pending after `limit`: a future that never completes fails its test instead
/// of hanging it. The timer is a plain thread and a futures oneshot, so it leans on
/// nothing under test.
pub fn block_within<F: std::future::IntoFuture>(limit: std::time::Duration, f: F) -> F::Output {
    use futures::future::{select, Either};
    let (fire, timer) = futures::channel::oneshot::channel::<()>();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if finished.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            let _ = fire.send(());
        }
    });
    let f = std::pin::pin!(f.into_future());
    let out = futures::executor::block_on(select(f, timer));
    drop(done);
    match out {
        Either::Left((value, _)) => value,
        Either::Right(_) => panic!("still pending after {limit:?}"),
    }
}
