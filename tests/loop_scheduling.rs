//! `EventLoop`: thread loops, caller-driven loops, scheduling, time and closing.

mod common;

use pulsar_async::{run_in_loop, ErrorKind, EventLoop, Promise};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn a_thread_loop_runs_on_a_thread_named_after_it() {
    let lp = EventLoop::builder().name("named").spawn().unwrap();
    assert!(lp.owns_thread());
    assert_ne!(lp.thread_id(), thread::current().id());
    let p = run_in_loop(&lp, || {
        (
            thread::current().name().map(String::from),
            thread::current().id(),
        )
    });
    let (name, id) = p.wait_timeout(WAIT).unwrap();
    assert_eq!(name.as_deref(), Some("named"));
    assert_eq!(id, lp.thread_id());
}

#[test]
fn the_handle_is_cheap_to_clone_and_every_clone_reaches_the_same_loop() {
    let lp = EventLoop::new().unwrap();
    let other = lp.clone();
    assert_eq!(lp, other);
    assert_eq!(
        run_in_loop(&other, || thread::current().id())
            .wait_timeout(WAIT)
            .unwrap(),
        lp.thread_id()
    );
}

#[test]
fn current_is_the_running_loop_inside_it_and_none_on_a_plain_thread() {
    assert!(EventLoop::current().is_none());
    let lp = EventLoop::new().unwrap();
    let inside = run_in_loop(&lp, || EventLoop::current().map(|l| l.thread_id()));
    assert_eq!(inside.wait_timeout(WAIT).unwrap(), Some(lp.thread_id()));
}

#[test]
fn call_soon_threadsafe_runs_calls_in_the_order_they_were_queued() {
    let lp = EventLoop::new().unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..100 {
        let tx = tx.clone();
        lp.call_soon_threadsafe(move || tx.send(i).unwrap())
            .unwrap();
    }
    let got: Vec<_> = (0..100).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn call_soon_on_the_loop_thread_takes_not_send_callbacks_in_order() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let log = log.clone();
        lp.call_soon(move || log.borrow_mut().push(i)).unwrap();
    }
    lp.run_until_complete(tokio::task::yield_now()).unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2]);
}

#[test]
fn call_soon_from_another_thread_is_a_wrong_thread_error() {
    let lp = EventLoop::new().unwrap();
    let err = lp.call_soon(|| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongThread);
}

#[test]
fn a_panic_in_a_callback_is_contained_and_the_loop_keeps_running() {
    let lp = EventLoop::new().unwrap();
    lp.call_soon_threadsafe(|| panic!("callback exploded"))
        .unwrap();
    assert_eq!(
        run_in_loop(&lp, || "alive").wait_timeout(WAIT).unwrap(),
        "alive"
    );
}

#[test]
fn call_later_runs_after_the_delay_and_can_be_cancelled() {
    let lp = EventLoop::new().unwrap();
    let start = std::time::Instant::now();
    let fired = lp.call_later(Duration::from_millis(5), || "fired");
    assert_eq!(fired.wait_timeout(WAIT).unwrap(), "fired");
    assert!(start.elapsed() >= Duration::from_millis(5));

    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let cancelled = lp.call_later(Duration::from_millis(5), move || {
        r.store(true, Ordering::SeqCst)
    });
    assert!(cancelled.cancel());
    lp.call_later(Duration::from_millis(10), || ())
        .wait_timeout(WAIT)
        .unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn call_at_a_time_in_the_past_runs_on_the_next_turn() {
    let lp = EventLoop::new().unwrap();
    let past = lp.time() - Duration::from_millis(1);
    assert_eq!(lp.call_at(past, || 1).wait_timeout(WAIT).unwrap(), 1);
}

#[test]
fn call_later_with_a_zero_delay_runs_on_the_next_turn() {
    let lp = EventLoop::new().unwrap();
    assert_eq!(
        lp.call_later(Duration::ZERO, || 2)
            .wait_timeout(WAIT)
            .unwrap(),
        2
    );
}

#[test]
fn a_loops_clock_and_timers_follow_tokios_paused_clock() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let _watchdog = common::stop_after(&lp, WAIT);
    let inner = lp.clone();
    let (fired, elapsed) = lp
        .run_until_complete(async move {
            tokio::time::pause();
            let before = inner.time();
            let fired = inner.call_later(Duration::from_secs(3600), || "an hour later");
            (fired.await, inner.time() - before)
        })
        .expect("the hour passes on the paused clock, not on the wall clock");
    assert_eq!(fired.unwrap(), "an hour later");
    assert!(elapsed >= Duration::from_secs(3600), "{elapsed:?}");
}

#[test]
fn spawn_runs_a_send_future_from_any_thread_and_spawn_local_refuses_off_thread() {
    let lp = EventLoop::new().unwrap();
    assert_eq!(lp.spawn(async { 5 }).wait_timeout(WAIT).unwrap(), 5);
    let local = lp.spawn_local(async { 1 });
    assert_eq!(
        local.try_result().unwrap_err().kind(),
        ErrorKind::WrongThread
    );
}

#[test]
fn a_panicking_task_fails_its_promise_and_the_loop_keeps_running() {
    let lp = EventLoop::new().unwrap();
    let p = lp.spawn(async { panic!("task bug") });
    assert_eq!(
        p.wait_timeout(WAIT).unwrap_err().message(),
        Some("task bug")
    );
    assert_eq!(lp.spawn(async { 1 }).wait_timeout(WAIT).unwrap(), 1);
}

#[test]
fn a_driven_loop_runs_only_inside_run_until_complete() {
    let lp = EventLoop::builder().build_driven().unwrap();
    assert!(!lp.owns_thread());
    assert!(!lp.is_running());
    let queued = run_in_loop(&lp, || thread::current().id());
    assert!(!queued.is_done());
    let (out, id) = lp
        .run_until_complete(async { (7, queued.await.unwrap()) })
        .unwrap();
    assert_eq!((out, id), (7, thread::current().id()));
}

#[test]
fn a_driven_loop_is_the_current_loop_of_the_thread_that_built_it() {
    let lp = EventLoop::builder().name("mine").build_driven().unwrap();
    assert_eq!(EventLoop::current().unwrap(), lp);
    let elsewhere = thread::spawn(|| EventLoop::current().is_none())
        .join()
        .unwrap();
    assert!(elsewhere);
}

#[test]
fn run_forever_returns_after_stop_and_the_loop_can_run_again() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let stopper = lp.clone();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    lp.call_soon(move || {
        c.set(c.get() + 1);
        stopper.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(count.get(), 1);
    assert_eq!(lp.run_until_complete(async { 3 }).unwrap(), 3);
}

#[test]
fn stop_from_another_thread_ends_run_forever() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let remote = lp.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        remote.stop();
    });
    lp.run_forever().unwrap();
    t.join().unwrap();
}

#[test]
fn run_until_complete_from_another_thread_is_a_wrong_thread_error() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let remote = lp.clone();
    let err = thread::spawn(move || remote.run_until_complete(async {}).unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::WrongThread);
}

#[test]
fn run_until_complete_on_a_thread_loop_is_a_wrong_thread_error() {
    let lp = EventLoop::new().unwrap();
    assert_eq!(
        lp.run_until_complete(async {}).unwrap_err().kind(),
        ErrorKind::WrongThread
    );
}

#[test]
fn running_a_loop_that_is_already_running_is_an_invalid_state_error() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let inner = lp.clone();
    let nested =
        lp.run_until_complete(async move { inner.run_until_complete(async {}).unwrap_err() });
    assert_eq!(nested.unwrap().kind(), ErrorKind::InvalidState);
}

#[tokio::test]
async fn driving_a_loop_from_inside_a_tokio_runtime_is_an_error_not_a_panic() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let err = lp.run_until_complete(async {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
}

#[test]
fn a_panic_in_run_until_complete_becomes_a_panicked_error() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let err = lp
        .run_until_complete(async { panic!("driven bug") })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(lp.run_until_complete(async { 1 }).unwrap(), 1);
}

#[test]
fn closing_a_loop_fails_its_queued_calls_tasks_and_timers_with_loop_closed() {
    let lp = EventLoop::new().unwrap();
    // A timer and a task already live on the loop's task set...
    let timer = lp.call_later(Duration::from_secs(3600), || 2);
    let task = lp.spawn(std::future::pending::<u8>());
    run_in_loop(&lp, || ()).wait_timeout(WAIT).unwrap();
    // ...a call running, which holds the loop until close() has begun, and a call
    // queued behind it, which therefore cannot run before the close.
    let (started_tx, started) = mpsc::channel();
    let watcher = lp.clone();
    let busy: Promise<()> = run_in_loop(&lp, move || {
        started_tx.send(()).unwrap();
        common::wait_until(WAIT, "close() has begun", || watcher.is_closed());
    });
    started.recv_timeout(WAIT).unwrap();
    let queued = run_in_loop(&lp, || 1);
    let closer = {
        let lp = lp.clone();
        thread::spawn(move || lp.close())
    };
    // The call that was running when the close began finishes normally.
    busy.wait_timeout(WAIT).unwrap();
    common::join_within(WAIT, "close() returns", closer);
    for p in [queued, timer, task.clone()] {
        assert_eq!(
            p.wait_timeout(WAIT).unwrap_err().kind(),
            ErrorKind::LoopClosed
        );
    }
    assert!(lp.is_closed());
    assert_eq!(
        lp.call_soon_threadsafe(|| ()).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}

#[test]
fn closing_a_driven_loop_fails_its_tasks_with_loop_closed() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let task = lp.spawn_local(std::future::pending::<u8>());
    let queued = run_in_loop(&lp, || 1);
    lp.close();
    assert_eq!(task.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    assert_eq!(
        queued.try_result().unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    assert_eq!(
        lp.run_until_complete(async {}).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}

#[test]
fn dropping_the_last_handle_joins_the_loop_thread() {
    let lp = EventLoop::new().unwrap();
    let exited = common::thread_exit_flag(&lp);
    let clone = lp.clone();
    drop(lp);
    assert!(
        !exited.load(Ordering::SeqCst),
        "a clone still holds the loop"
    );
    drop(clone);
    assert!(exited.load(Ordering::SeqCst));
}

#[test]
fn dropping_the_last_handle_on_the_loop_thread_closes_it_without_deadlock() {
    let lp = EventLoop::new().unwrap();
    let exited = common::thread_exit_flag(&lp);
    // A task the loop holds: closing the loop fails it.
    let held: Promise<u8> = lp.spawn(std::future::pending());
    // The call below receives the last handle and drops it on the loop's own thread.
    let (tx, rx) = mpsc::channel::<EventLoop>();
    let dropped = run_in_loop(&lp, move || {
        let last = rx
            .recv_timeout(WAIT)
            .expect("the test sends the last handle");
        drop(last);
    });
    tx.send(lp).unwrap();
    // The drop returned (no panic from a thread joining itself, no hang)...
    dropped
        .wait_timeout(WAIT)
        .expect("dropping the last handle on the loop thread returns");
    // ...the loop closed, failing the work it held...
    assert_eq!(
        held.wait_timeout(WAIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    // ...and its thread exited.
    common::wait_until(WAIT, "the loop thread exits", || {
        exited.load(Ordering::SeqCst)
    });
}

#[test]
fn a_closed_loop_is_not_the_current_loop() {
    let lp = EventLoop::builder().build_driven().unwrap();
    lp.close();
    assert!(EventLoop::current().is_none());
}

#[test]
fn debug_flag_name_and_thread_are_reported() {
    let lp = EventLoop::builder()
        .name("dbg")
        .debug(true)
        .spawn()
        .unwrap();
    assert!(lp.is_debug());
    lp.set_debug(false);
    assert!(!lp.is_debug());
    assert_eq!(lp.name(), "dbg");
    assert!(format!("{lp:?}").contains("dbg"));
}

#[test]
fn a_delay_too_large_to_represent_is_accepted_and_can_be_cancelled() {
    let lp = EventLoop::new().unwrap();
    let p = lp.call_later(Duration::MAX, || ());
    run_in_loop(&lp, || ()).wait_timeout(WAIT).unwrap();
    assert!(p.cancel());
}

#[test]
fn a_call_pushed_from_another_thread_wakes_each_new_drive_of_a_caller_driven_loop() {
    let lp = EventLoop::builder().build_driven().unwrap();
    // A first drive that parks the loop and ends on a timer, not a push.
    lp.run_until_complete(async { tokio::time::sleep(Duration::from_millis(1)).await })
        .unwrap();
    // A second drive, parked, is woken by a call another thread queues.
    let p = Promise::<u8>::new();
    let (remote, setter) = (lp.clone(), p.setter());
    let pusher = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        drop(run_in_loop(&remote, move || setter.set_result(7).unwrap()));
    });
    let got = lp
        .run_until_complete(async move { tokio::time::timeout(WAIT, p).await })
        .unwrap()
        .expect("woken by the push, not by the time limit");
    assert_eq!(got.unwrap(), 7);
    pusher.join().unwrap();
}
