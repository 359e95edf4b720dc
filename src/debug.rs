//! Debug mode: calls and task polls slower than a threshold, and errors that nobody
//! read, reported through `tracing` with where the work came from.
//!
//! Debug mode is a loop's flag ([`Builder::debug`](crate::event_loop::Builder::debug),
//! [`EventLoop::set_debug`](crate::EventLoop::set_debug)), on by default when the
//! environment variable `PULSAR_ASYNC_DEBUG` is `1`. Reports go to the
//! `pulsar_async::debug` tracing target at `WARN` level.

use std::future::Future;
use std::panic::Location;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Error;

/// The slow-callback threshold a loop starts with.
pub(crate) const DEFAULT_SLOW_CALLBACK: Duration = Duration::from_millis(100);

/// `true` when `PULSAR_ASYNC_DEBUG=1` (read once per process).
pub(crate) fn env_debug() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("PULSAR_ASYNC_DEBUG").is_ok_and(|v| v == "1"))
}

/// Where a piece of work was scheduled from, for reports.
#[derive(Clone)]
pub(crate) struct Origin {
    pub(crate) loop_name: std::sync::Arc<str>,
    /// What runs: the type name of the closure or future.
    pub(crate) what: &'static str,
    pub(crate) at: &'static Location<'static>,
    pub(crate) threshold: Duration,
    /// The loop's count of slow calls and polls (its metrics).
    pub(crate) slow: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Origin {
    /// Runs `f` (a call), reporting it if it held the loop for the threshold or longer.
    pub(crate) fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let out = f();
        self.report_if_slow("call", started.elapsed());
        out
    }

    fn report_if_slow(&self, what: &str, took: Duration) {
        if took >= self.threshold {
            self.slow.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                target: "pulsar_async::debug",
                event_loop = &*self.loop_name,
                what = self.what,
                scheduled_at = %self.at,
                took_ms = took.as_secs_f64() * 1e3,
                threshold_ms = self.threshold.as_secs_f64() * 1e3,
                "slow {what}: it held the loop for {took:?}",
            );
        }
    }
}

/// Polls `future`, reporting every poll longer than the threshold.
pub(crate) async fn timed<F: Future>(origin: Origin, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let started = Instant::now();
        let poll = future.as_mut().poll(cx);
        origin.report_if_slow("task poll", started.elapsed());
        poll
    })
    .await
}

/// An error and every `source()` below it, `: `-separated (as anyhow's `{:#}`): a
/// report names the user's own error, not only the crate's context.
struct Chain<'a>(&'a Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(self.0);
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

/// Reports a promise whose error nobody read before its last handle was dropped.
pub(crate) fn report_unretrieved(error: &Error, created_at: &'static Location<'static>) {
    tracing::warn!(
        target: "pulsar_async::debug",
        created_at = %created_at,
        error = %Chain(error),
        kind = ?error.kind(),
        "a promise failed and its error was never retrieved",
    );
}
