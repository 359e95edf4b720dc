//! Tasks on a loop's task set that settle a promise: the future runs under a panic
//! guard, its outcome completes the promise, and cancelling the promise aborts the
//! task. On a caller-driven loop, the tasks whose promise may be read from other
//! threads are also listed in the loop's [`Registry`], so that a close from another
//! thread fails them at once, without waiting for the owning thread to drop them.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::panic::{self, run_guarded};
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

/// As [`spawn_task`], for a promise other threads may read: with the registry of a
/// caller-driven loop, the task is listed there, so that a close from another thread
/// fails its promise at once.
pub(crate) fn spawn_listed<F, T>(registry: Option<Registry>, future: F, completer: Completer<T>)
where
    F: Future<Output = Result<T, Error>> + 'static,
    T: Send + 'static,
{
    let Some(tasks) = registry else {
        return spawn_task(future, completer);
    };
    let promise = completer.setter().cloned();
    let cell = Arc::new(Listed(Mutex::new(Some(completer))));
    let Some(key) = tasks.insert(cell.clone()) else {
        // The loop is closing: dropping the completer fails the promise.
        return;
    };
    let task = tokio::task::spawn_local(async move {
        let outcome = panic::catch_unwind(future).await.and_then(|r| r);
        let completer = cell.take();
        tasks.remove(key);
        if let Some(completer) = completer {
            completer.complete(outcome);
        }
    });
    if let Some(promise) = promise {
        promise.on_cancel(abort_hook(&task));
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

/// The completer of a listed task, taken once: by the task when it ends, or by a
/// close, which drops it (failing the promise with loop-closed).
struct Listed<T>(Mutex<Option<Completer<T>>>);

impl<T> Listed<T> {
    fn take(&self) -> Option<Completer<T>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A listed task as the registry sees it.
trait Cut: Send + Sync {
    /// Fails the task's promise with loop-closed, unless the task ended.
    fn cut(&self);
}

impl<T: Send> Cut for Listed<T> {
    fn cut(&self) {
        drop(self.take());
    }
}

/// The tasks of a caller-driven loop whose promises other threads may read.
#[derive(Clone)]
pub(crate) struct Registry(Arc<Mutex<Slots>>);

#[derive(Default)]
struct Slots {
    tasks: Vec<Option<Arc<dyn Cut>>>,
    free: Vec<usize>,
    closed: bool,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry(Arc::default())
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists a task; `None` once the loop is closing.
    fn insert(&self, task: Arc<dyn Cut>) -> Option<usize> {
        let mut slots = self.slots();
        if slots.closed {
            return None;
        }
        Some(match slots.free.pop() {
            Some(key) => {
                slots.tasks[key] = Some(task);
                key
            }
            None => {
                slots.tasks.push(Some(task));
                slots.tasks.len() - 1
            }
        })
    }

    fn remove(&self, key: usize) {
        let mut slots = self.slots();
        if slots.tasks.get_mut(key).and_then(Option::take).is_some() {
            slots.free.push(key);
        }
    }

    /// Closes the list and fails every task still in it, each under a guard; how many.
    pub(crate) fn cut_all(&self) -> usize {
        let tasks = {
            let mut slots = self.slots();
            slots.closed = true;
            slots.free.clear();
            std::mem::take(&mut slots.tasks)
        };
        let mut n = 0;
        for task in tasks.into_iter().flatten() {
            run_guarded(move || task.cut(), "failing a task cut by close");
            n += 1;
        }
        n
    }
}
