//! Tasks on a loop's task set that settle a promise: the future runs under a panic
//! guard, its outcome completes the promise, and cancelling the promise aborts the
//! task.

use std::future::Future;

use crate::error::Error;
use crate::panic;
use crate::promise::Completer;
use crate::schedule::Job;

/// Spawns `future` on the current thread's task set, settling `completer` with its
/// output (or its panic); cancelling the promise aborts the task.
pub(crate) fn spawn_task<F, T>(future: F, completer: Completer<T>)
where
    F: Future<Output = Result<T, Error>> + 'static,
    T: 'static,
{
    let setter = completer.setter().cloned();
    let task = tokio::task::spawn_local(run_task(future, completer));
    if let Some(setter) = setter {
        setter.on_cancel(abort_hook(&task));
    }
}

/// The cancel hook that aborts `task`.
pub(crate) fn abort_hook<T>(task: &tokio::task::JoinHandle<T>) -> Job {
    let abort = task.abort_handle();
    Box::new(move || abort.abort())
}

/// Runs `future` and settles `completer` with its outcome, or the error of its panic.
pub(crate) async fn run_task<F, T>(future: F, completer: Completer<T>)
where
    F: Future<Output = Result<T, Error>>,
{
    let outcome = panic::catch_unwind(future).await.and_then(|r| r);
    completer.complete(outcome);
}
