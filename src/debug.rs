//! Debug mode: calls and task polls slower than a threshold, and errors that nobody
//! read, reported through `tracing` with where the work came from.
//!
//! Debug mode is a loop's flag ([`Builder::debug`](crate::Builder::debug),
//! [`EventLoop::set_debug`](crate::EventLoop::set_debug)), on by default when the
//! environment variable `PULSAR_ASYNC_DEBUG` is `1`. Reports go to the
//! `pulsar_async::debug` tracing target at `WARN` level.

use std::future::Future;
use std::panic::Location;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::promise::Job;

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
}

/// Wraps `job` so that a run longer than the threshold is reported.
pub(crate) fn timed_job(origin: Origin, job: Job) -> Job {
    Box::new(move || {
        let started = Instant::now();
        job();
        report_if_slow(&origin, "call", started.elapsed());
    })
}

/// Like [`timed_job`] for a loop-local (`!Send`) call.
pub(crate) fn timed_local_job(origin: Origin, job: Box<dyn FnOnce()>) -> Box<dyn FnOnce()> {
    Box::new(move || {
        let started = Instant::now();
        job();
        report_if_slow(&origin, "call", started.elapsed());
    })
}

/// Polls `future`, reporting every poll longer than the threshold.
pub(crate) async fn timed<F: Future>(origin: Origin, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let started = Instant::now();
        let poll = future.as_mut().poll(cx);
        report_if_slow(&origin, "task poll", started.elapsed());
        poll
    })
    .await
}

fn report_if_slow(origin: &Origin, what: &str, took: Duration) {
    if took >= origin.threshold {
        tracing::warn!(
            target: "pulsar_async::debug",
            event_loop = &*origin.loop_name,
            what = origin.what,
            scheduled_at = %origin.at,
            took_ms = took.as_secs_f64() * 1e3,
            threshold_ms = origin.threshold.as_secs_f64() * 1e3,
            "slow {what}: it held the loop for {took:?}",
        );
    }
}

/// Reports a promise whose error nobody read before its last handle was dropped.
pub(crate) fn report_unretrieved(error: &Error, created_at: &'static Location<'static>) {
    tracing::warn!(
        target: "pulsar_async::debug",
        created_at = %created_at,
        error = %error,
        kind = ?error.kind(),
        "a promise failed and its error was never retrieved",
    );
}
