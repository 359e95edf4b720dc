//! Loom models of the loop's lifecycle: close racing submit (a boxed job, and a
//! `run_in_loop` call on its production path), the last drop racing a close, two
//! closes at once, the owning thread's exit, a stop from another thread, a close from
//! another thread with a call on the owner's queue, and the drain of a shutdown
//! waiting for its last task.
//! The loops here are caller-driven loops with no runtime and no spin window, driven
//! by hand as [`LocalLoop::drive`] drives them (enter the drive, poll the iterations,
//! tear down if closing, leave the drive), so that only the protocol is explored.
//! Each runs the promise core inside it (a call's promise, the loop's `closed()`), so
//! each is a composite model, bounded to two preemptions
//! ([`crate::loom::model_composite`]).

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use ::loom::thread;

use super::{Builder, EventLoop, LocalLoop, LoopState};
use crate::error::ErrorKind;
use crate::loom::{Arc, AtomicUsize, Ordering};
use crate::promise::{Completer, Promise};
use crate::schedule::Job;

/// A handle to a new caller-driven loop that nobody drives yet.
fn idle_loop() -> EventLoop {
    let metrics = std::sync::Arc::new(super::metrics::Counters::new());
    let shared = Builder::new()
        .spin(Duration::ZERO)
        .shared(false, None, metrics);
    EventLoop {
        shared,
        counted: true,
    }
}

/// The local state of the loop of `lp`, for the thread that drives it; kept as long
/// as that thread owns the loop (dropping it is that thread's exit).
fn owner(lp: &EventLoop) -> Rc<LocalLoop> {
    Rc::new(LocalLoop::new(lp.shared.clone(), None))
}

/// Drives the loop on this thread as its owner, until the drive returns (stopped or
/// closing); tears it down if it is closing.
fn drive(local: &Rc<LocalLoop>) {
    let life = &local.shared.life;
    if life.enter_drive().is_err() {
        local.teardown(&mut VecDeque::new());
        return;
    }
    let mut batch = VecDeque::new();
    ::loom::future::block_on(std::future::poll_fn(|cx| local.poll_drive(cx, &mut batch)));
    if life.is_closing() {
        local.teardown(&mut batch);
    }
    life.leave_drive();
}

/// Queues a call on `lp` that counts its run in `ran`; its promise.
fn submit_counted(lp: &EventLoop, ran: &Arc<AtomicUsize>) -> Promise<usize> {
    let promise = Promise::new();
    let done = Completer::new(promise.setter());
    let ran = ran.clone();
    let _ = lp.submit_job(
        Box::new(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            done.complete(Ok(1));
        }),
        "job",
    );
    promise
}

/// The promise of a call settles: run (its value) or cut (loop-closed).
fn assert_settled(p: &Promise<usize>) {
    match p.try_result() {
        Ok(v) => assert_eq!(v, 1),
        Err(e) => assert_eq!(e.kind(), ErrorKind::LoopClosed),
    }
}

/// One model of a call racing a close: `submit` queues a call that counts its run in
/// the counter it is given, on a thread of its own, while another thread closes the
/// loop and this one drives it. The call runs once (its value) or is cut (loop-closed),
/// and the drive ends.
fn call_racing_a_close(submit: fn(&EventLoop, Arc<AtomicUsize>) -> Promise<usize>) {
    crate::loom::model_composite(move || {
        let lp = idle_loop();
        let ran = Arc::new(AtomicUsize::new(0));
        let (caller, closer) = (lp.clone(), lp.clone());
        let counter = ran.clone();
        let call = thread::spawn(move || submit(&caller, counter));
        let close = thread::spawn(move || closer.close());
        // Would hang (and loom report a deadlock) if the close were not seen.
        drive(&owner(&lp));
        let p = call.join().unwrap();
        close.join().unwrap();
        assert_eq!(lp.state(), LoopState::Closed);
        assert_settled(&p);
        assert_eq!(
            ran.load(Ordering::SeqCst),
            usize::from(p.try_result().is_ok())
        );
    });
}

#[test]
fn a_close_racing_a_submit_runs_the_call_or_cuts_it_and_ends_the_drive() {
    call_racing_a_close(|lp, ran| submit_counted(lp, &ran));
}

#[test]
fn a_run_in_loop_racing_a_close_runs_its_call_once_or_fails_its_promise_with_loop_closed() {
    // `run_in_loop` itself: the production path (`Promise::for_call` bound to the
    // loop's scheduler, the `CallTask` through `submit_call`), not a substitute.
    call_racing_a_close(|lp, ran| {
        crate::run_in_loop(lp, move || ran.fetch_add(1, Ordering::SeqCst) + 1)
    });
}

#[test]
fn the_last_drop_racing_a_close_closes_once_and_both_return_closed() {
    crate::loom::model_composite(|| {
        let lp = idle_loop();
        let ran = Arc::new(AtomicUsize::new(0));
        let p = submit_counted(&lp, &ran);
        // The owning thread keeps a handle that does not count.
        let uncounted = EventLoop {
            shared: lp.shared.clone(),
            counted: false,
        };
        let closing = lp.clone();
        // Either thread may hold the last counted handle.
        let a = thread::spawn(move || drop(lp));
        let b = thread::spawn(move || {
            closing.close();
            closing.state()
        });
        drive(&owner(&uncounted));
        a.join().unwrap();
        assert_eq!(b.join().unwrap(), LoopState::Closed);
        assert_eq!(uncounted.state(), LoopState::Closed);
        assert_settled(&p);
        assert!(uncounted.closed().0.is_done());
    });
}

#[test]
fn a_second_concurrent_close_returns_only_once_the_loop_is_closed() {
    // Three threads, two of them in a blocking wait on the loop's `closed()` promise,
    // whose waker slots the model explores too: one preemption takes about 40 s of
    // CPU here, two over ten minutes. A closer that returned before the close ended
    // would do so in schedules without any preemption.
    let mut model = ::loom::model::Builder::new();
    model.preemption_bound = Some(1);
    model.check(|| {
        let lp = idle_loop();
        let closers: Vec<_> = (0..2)
            .map(|_| {
                let lp = lp.clone();
                thread::spawn(move || {
                    lp.close();
                    lp.state()
                })
            })
            .collect();
        drive(&owner(&lp));
        for c in closers {
            assert_eq!(c.join().unwrap(), LoopState::Closed);
        }
    });
}

#[test]
fn the_owning_threads_exit_closes_the_loop_and_fails_its_calls() {
    crate::loom::model_composite(|| {
        let lp = idle_loop();
        let shared = lp.shared.clone();
        let ran = Arc::new(AtomicUsize::new(0));
        let owner = thread::spawn(move || {
            // The owner's local state, dropped without a drive: what the destructor
            // of the thread-local list does when the owning thread exits.
            drop(LocalLoop::new(shared, None));
        });
        let p = submit_counted(&lp, &ran);
        owner.join().unwrap();
        // Would hang if the exit did not close the loop.
        assert_eq!(p.wait().unwrap_err().kind(), ErrorKind::LoopClosed);
        assert_eq!(lp.state(), LoopState::Closed);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn handles_dropped_on_two_threads_close_the_loop_exactly_when_the_last_goes() {
    crate::loom::model_composite(|| {
        let lp = idle_loop();
        let shared = lp.shared.clone();
        let (a, b) = (lp.clone(), lp);
        let ta = thread::spawn(move || drop(a));
        let tb = thread::spawn(move || drop(b));
        ta.join().unwrap();
        tb.join().unwrap();
        assert_eq!(shared.life.state(), LoopState::Closed);
    });
}

#[test]
fn a_stop_from_another_thread_is_never_lost() {
    crate::loom::model_composite(|| {
        let lp = idle_loop();
        let stopper = lp.clone();
        let t = thread::spawn(move || stopper.stop());
        let local = owner(&lp);
        // Would hang if the stop request or its wake-up were lost.
        drive(&local);
        t.join().unwrap();
        assert!(!lp.is_closed());
        drop(local);
    });
}

#[test]
fn a_close_from_another_thread_settles_a_call_on_the_owners_queue_before_it_returns() {
    crate::loom::model_composite(|| {
        let lp = idle_loop();
        let local = owner(&lp);
        // Queued by the owning thread (as its `run_in_loop` calls are): on the owner
        // queue, with its place in the local queue.
        let p = Promise::<usize>::new();
        let done = Completer::new(p.setter());
        let job: Job = Box::new(move || done.complete(Ok(1)));
        assert!(local.push_owned(job, |j, _| super::Task::Job(j)).is_ok());
        let (closer, seen) = (lp.clone(), p.clone());
        let close = thread::spawn(move || {
            closer.close();
            // Settled by the time close returns, on this thread, whatever the owner does.
            assert!(seen.is_done());
            closer.closed().0.try_result().unwrap()
        });
        // The owner drives, racing the close: it runs the call, or finds it cut.
        drive(&local);
        let report = close.join().unwrap();
        assert_settled(&p);
        assert_eq!(report.cut, usize::from(p.try_result().is_err()));
        assert_eq!(lp.state(), LoopState::Closed);
    });
}

#[test]
fn a_drain_ends_when_its_last_task_ends_and_counts_it_finished() {
    crate::loom::model_composite(|| {
        let lp = idle_loop();
        let local = owner(&lp);
        // A task alive on the loop: what the crate's tasks hold while they live.
        let task = lp.shared.metrics.count(std::future::ready(()));
        lp.shared
            .begin_shutdown(super::Deadline::from(Duration::from_secs(3600)));
        // The task ends while the drive waits for it (a task's end wakes the drive).
        let ends = thread::spawn(move || drop(task));
        // Would hang (and loom report a deadlock) if the end's wake-up were lost.
        drive(&local);
        ends.join().unwrap();
        let report = lp.closed().0.try_result().unwrap();
        assert_eq!((report.tasks_finished, report.tasks_cut), (1, 0));
        assert_eq!(lp.state(), LoopState::Closed);
    });
}
