//! The loop's cross-thread entry: a queue of jobs that any thread pushes to and the
//! loop drains in batches, waking the loop only when it went idle.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::loom::{lock, Mutex};
use crate::promise::Job;

pub(crate) struct Injector {
    state: Mutex<State>,
}

struct State {
    jobs: VecDeque<Job>,
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
        }
    }

    /// Queues `job`; gives it back if the queue is closed.
    pub(crate) fn push(&self, job: Job) -> Result<(), Job> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(job);
        }
        state.jobs.push_back(job);
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
    pub(crate) fn poll_drain(&self, cx: &mut Context<'_>, batch: &mut VecDeque<Job>) -> Poll<bool> {
        let mut state = lock(&self.state);
        if !state.jobs.is_empty() {
            std::mem::swap(&mut state.jobs, batch);
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
    pub(crate) fn close(&self) -> VecDeque<Job> {
        let mut state = lock(&self.state);
        state.closed = true;
        let jobs = std::mem::take(&mut state.jobs);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        jobs
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
    use loom::thread;

    /// Drains like the loop does until the queue is closed and empty.
    fn drain_until_closed(q: &Injector) {
        let mut batch = VecDeque::new();
        loop {
            let ready = loom::future::block_on(std::future::poll_fn(|cx| q.poll_drain(cx, &mut batch)));
            if !ready {
                return;
            }
            for job in batch.drain(..) {
                job();
            }
        }
    }

    #[test]
    fn every_pushed_job_runs_or_fails_with_loop_closed_when_close_races_submit() {
        loom::model(|| {
            let q = Arc::new(Injector::new());
            let ran = Arc::new(AtomicUsize::new(0));
            let mut promises = Vec::new();
            let mut submitters = Vec::new();
            for _ in 0..2 {
                let p = Promise::<usize>::new();
                promises.push(p.clone());
                let (q, ran) = (q.clone(), ran.clone());
                submitters.push(thread::spawn(move || {
                    let done = Completer::new(p);
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
                    Err(e) => assert_eq!(e.kind(), crate::ErrorKind::LoopClosed),
                }
            }
            assert_eq!(ok, ran.load(Ordering::SeqCst));
        });
    }

    #[test]
    fn a_push_after_the_loop_went_idle_wakes_it() {
        loom::model(|| {
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
