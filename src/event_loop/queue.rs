//! The loop's cross-thread entry: a queue of jobs that any thread pushes to and the
//! loop drains in batches, waking the loop only when it went idle.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::debug::Origin;
use crate::loom::{lock, AtomicBool, Mutex, Ordering};
use crate::promise::CallTask;
use crate::schedule::Job;

/// What a loop runs: a boxed job, or a call that shares its promise's allocation;
/// either one timed, in debug mode.
pub(crate) enum Task {
    Job(Job),
    Call(CallTask),
    /// A job or call submitted in debug mode: timed where it runs, reported with
    /// where it came from if it is slow.
    Timed(Box<Timed>),
}

/// A task to time, and where it came from.
pub(crate) struct Timed {
    pub(crate) origin: Origin,
    pub(crate) task: Task,
}

impl Task {
    /// Runs the task (a call whose promise is already done is dropped unrun).
    pub(crate) fn run(self) {
        match self {
            Task::Job(job) => job(),
            Task::Call(call) => call.run(),
            Task::Timed(timed) => {
                let Timed { origin, task } = *timed;
                origin.time(|| task.run());
            }
        }
    }
}

/// Aligned to its own cache lines, so that the threads pushing to it and the loop
/// draining it do not also contend with the counters of the structure holding it.
#[repr(align(128))]
pub(crate) struct Injector {
    state: Mutex<State>,
    /// `true` while jobs may be queued: set by every push, cleared by the drain that
    /// empties the queue (both under the lock). Lets a lingering loop look for work
    /// without taking the lock, so it does not slow down the threads pushing to it.
    has_jobs: AtomicBool,
}

struct State {
    jobs: VecDeque<Task>,
    /// The loop's waker while it waits for jobs; taken by the push that wakes it, so a
    /// burst of pushes costs one wake-up.
    waker: Option<Waker>,
    closed: bool,
}

impl Injector {
    pub(crate) fn new() -> Self {
        Injector {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                waker: None,
                closed: false,
            }),
            has_jobs: AtomicBool::new(false),
        }
    }

    /// Queues `job`; gives it back if the queue is closed.
    pub(crate) fn push(&self, job: Job) -> Result<(), Job> {
        self.push_task(job, Task::Job)
    }

    /// Queues `item` as `wrap(item)`; gives `item` back if the queue is closed.
    pub(crate) fn push_task<I>(&self, item: I, wrap: impl FnOnce(I) -> Task) -> Result<(), I> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(item);
        }
        state.jobs.push_back(wrap(item));
        self.has_jobs.store(true, Ordering::Release);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Moves every queued job into `batch` (which must be empty). `Ready(true)` when
    /// jobs were moved, `Ready(false)` once closed, `Pending` (with the waker stored)
    /// when there is nothing to do.
    pub(crate) fn poll_drain(
        &self,
        cx: &mut Context<'_>,
        batch: &mut VecDeque<Task>,
    ) -> Poll<bool> {
        let mut state = lock(&self.state);
        if !state.jobs.is_empty() {
            std::mem::swap(&mut state.jobs, batch);
            self.has_jobs.store(false, Ordering::Relaxed);
            return Poll::Ready(true);
        }
        if state.closed {
            return Poll::Ready(false);
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Closes the queue: later pushes fail. Returns the jobs that never ran (the caller
    /// drops them outside any lock, which fails their promises with loop-closed), and
    /// wakes the loop so it sees the close.
    pub(crate) fn close(&self) -> VecDeque<Task> {
        let mut state = lock(&self.state);
        state.closed = true;
        self.has_jobs.store(true, Ordering::Release);
        let jobs = std::mem::take(&mut state.jobs);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        jobs
    }

    /// `true` when a job may be waiting (or the queue was closed); without locking.
    /// A hint for a loop that spins before it parks: `false` can be stale, so the
    /// loop still goes through [`poll_drain`](Injector::poll_drain) before parking.
    pub(crate) fn may_have_jobs(&self) -> bool {
        self.has_jobs.load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::{Arc, AtomicUsize, Ordering};
    use crate::promise::{Completer, Promise};
    use crate::schedule::{Job, Schedule};
    use ::loom::thread;

    /// Drains like the loop does until the queue is closed and empty.
    fn drain_until_closed(q: &Injector) {
        let mut batch = VecDeque::new();
        loop {
            let ready =
                ::loom::future::block_on(std::future::poll_fn(|cx| q.poll_drain(cx, &mut batch)));
            if !ready {
                return;
            }
            for job in batch.drain(..) {
                job.run();
            }
        }
    }

    #[test]
    fn every_pushed_job_runs_or_fails_with_loop_closed_when_close_races_submit() {
        ::loom::model(|| {
            let q = Arc::new(Injector::new());
            let ran = Arc::new(AtomicUsize::new(0));
            let mut promises = Vec::new();
            let mut submitters = Vec::new();
            for _ in 0..1 {
                let p = Promise::<usize>::new();
                promises.push(p.clone());
                let (q, ran) = (q.clone(), ran.clone());
                submitters.push(thread::spawn(move || {
                    let done = Completer::new(p.setter());
                    let job: Job = Box::new(move || {
                        ran.fetch_add(1, Ordering::SeqCst);
                        done.complete(Ok(1));
                    });
                    // A refused job is dropped here, which fails its promise.
                    let _ = q.push(job);
                }));
            }
            let closer = {
                let q = q.clone();
                thread::spawn(move || drop(q.close()))
            };
            drain_until_closed(&q);
            for t in submitters {
                t.join().unwrap();
            }
            closer.join().unwrap();
            let mut ok = 0;
            for p in &promises {
                match p.try_result() {
                    Ok(1) => ok += 1,
                    Ok(v) => panic!("wrong value {v}"),
                    Err(e) => assert_eq!(e.kind(), crate::error::ErrorKind::LoopClosed),
                }
            }
            assert_eq!(ok, ran.load(Ordering::SeqCst));
        });
    }

    /// A scheduler for promises whose loop is gone.
    struct NoLoop;

    impl Schedule for NoLoop {
        fn schedule(&self, job: Job) -> Result<(), Job> {
            Err(job)
        }
        fn is_loop_thread(&self) -> bool {
            false
        }
        fn is_debug(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_call_sharing_its_promise_runs_or_fails_with_loop_closed_when_close_races_submit() {
        ::loom::model(|| {
            let q = Arc::new(Injector::new());
            let (p, call) = Promise::for_call(std::sync::Arc::new(NoLoop), || Ok(1usize));
            let submitter = {
                let q = q.clone();
                // A refused call is dropped here, which fails its promise.
                thread::spawn(move || drop(q.push_task(call, Task::Call)))
            };
            let closer = {
                let q = q.clone();
                thread::spawn(move || drop(q.close()))
            };
            drain_until_closed(&q);
            submitter.join().unwrap();
            closer.join().unwrap();
            match p.try_result() {
                Ok(v) => assert_eq!(v, 1),
                Err(e) => assert_eq!(e.kind(), crate::error::ErrorKind::LoopClosed),
            }
        });
    }

    #[test]
    fn a_push_after_the_loop_went_idle_wakes_it() {
        ::loom::model(|| {
            let q = Arc::new(Injector::new());
            let pusher = {
                let q = q.clone();
                thread::spawn(move || {
                    let _ = q.push(Box::new(|| {}));
                    drop(q.close());
                })
            };
            // Would hang (and loom would report a deadlock) if a wake-up were lost.
            drain_until_closed(&q);
            pusher.join().unwrap();
        });
    }
}
