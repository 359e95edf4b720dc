//! `run_in_loop` and its forms (SPEC Part 1), plus a stress test: 1,000,000 calls from two threads.

mod common;

use pulsar_async::{
    run_in_loop, run_in_loop_async, try_run_in_loop, try_run_in_loop_async, Error, ErrorKind,
    EventLoop, Promise,
};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[test]
fn the_callable_runs_on_the_loops_thread() {
    let lp = EventLoop::builder().name("target").spawn().unwrap();
    let p = run_in_loop(&lp, || thread::current().name().map(String::from));
    assert_eq!(p.wait_timeout(WAIT).unwrap().as_deref(), Some("target"));
}

#[test]
fn the_promise_is_returned_at_once_while_the_loop_is_busy() {
    let lp = EventLoop::new().unwrap();
    // A blocking wait on a promise inside a loop call is refused (the loop is a tokio
    // runtime): a std channel keeps the loop busy instead.
    let (gate, g) = std::sync::mpsc::channel::<()>();
    let busy = run_in_loop(&lp, move || {
        g.recv_timeout(std::time::Duration::from_secs(20)).unwrap()
    });
    let queued = run_in_loop(&lp, || 1);
    assert!(!queued.is_done());
    gate.send(()).unwrap();
    busy.wait_timeout(WAIT).unwrap();
    assert_eq!(queued.wait_timeout(WAIT).unwrap(), 1);
}

#[test]
fn the_returned_promise_is_bound_to_the_target_loop() {
    let lp = EventLoop::builder().name("bound").spawn().unwrap();
    let p = run_in_loop(&lp, || 0u8);
    let (tx, rx) = std::sync::mpsc::channel();
    p.add_done_callback(move |_| tx.send(thread::current().name().map(String::from)).unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap().as_deref(),
        Some("bound")
    );
}

#[test]
fn a_panic_in_the_callable_fails_the_promise_and_the_loop_keeps_serving() {
    let lp = EventLoop::new().unwrap();
    let p = run_in_loop(&lp, || -> u8 { panic!("kaboom") });
    let err = p.wait_timeout(WAIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.message(), Some("kaboom"));
    assert_eq!(run_in_loop(&lp, || 2).wait_timeout(WAIT).unwrap(), 2);
}

#[test]
fn an_error_returned_by_the_callable_fails_the_promise_with_it_as_source() {
    let lp = EventLoop::new().unwrap();
    let p = try_run_in_loop(&lp, || std::fs::read("/definitely/not/here"));
    let err = p.wait_timeout(WAIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::User);
    assert!(err.downcast_ref::<std::io::Error>().is_some());
}

#[test]
fn an_error_of_this_crate_returned_by_the_callable_keeps_its_kind() {
    let lp = EventLoop::new().unwrap();
    let p = try_run_in_loop(&lp, || -> Result<u8, Error> {
        Err(ErrorKind::Timeout.into())
    });
    assert_eq!(p.wait_timeout(WAIT).unwrap_err().kind(), ErrorKind::Timeout);
}

#[test]
fn a_returned_future_is_scheduled_on_the_loop_and_chained_into_the_promise() {
    let lp = EventLoop::builder().name("async").spawn().unwrap();
    let p = run_in_loop_async(&lp, || async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        thread::current().name().map(String::from)
    });
    assert_eq!(p.wait_timeout(WAIT).unwrap().as_deref(), Some("async"));
}

#[test]
fn a_returned_future_may_hold_not_send_state() {
    let lp = EventLoop::new().unwrap();
    let p = run_in_loop_async(&lp, || {
        let cell = Rc::new(RefCell::new(1));
        async move {
            tokio::task::yield_now().await;
            *cell.borrow_mut() += 1;
            let v = *cell.borrow();
            v
        }
    });
    assert_eq!(p.wait_timeout(WAIT).unwrap(), 2);
}

#[test]
fn a_returned_future_that_fails_fails_the_promise() {
    let lp = EventLoop::new().unwrap();
    let p = try_run_in_loop_async(&lp, || async { "x".parse::<u8>() });
    assert_eq!(p.wait_timeout(WAIT).unwrap_err().kind(), ErrorKind::User);
    let q = run_in_loop_async(&lp, || async { panic!("in a task") });
    assert_eq!(
        q.wait_timeout(WAIT).unwrap_err().kind(),
        ErrorKind::Panicked
    );
}

#[test]
fn a_closed_loop_gives_the_loop_closed_error_at_once() {
    let lp = EventLoop::new().unwrap();
    lp.close();
    let p = run_in_loop(&lp, || 1);
    assert!(p.is_done());
    assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    let q = run_in_loop_async(&lp, || async { 1 });
    assert_eq!(q.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
}

#[test]
fn cancelling_the_promise_before_the_call_starts_skips_the_call() {
    let lp = EventLoop::new().unwrap();
    let (gate, g) = std::sync::mpsc::channel::<()>();
    let _busy = run_in_loop(&lp, move || {
        let _ = g.recv_timeout(std::time::Duration::from_secs(20));
    });
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let p = run_in_loop(&lp, move || r.store(true, Ordering::SeqCst));
    assert!(p.cancel());
    gate.send(()).unwrap();
    run_in_loop(&lp, || ()).wait_timeout(WAIT).unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    assert!(p.try_result().unwrap_err().is_cancelled());
}

#[test]
fn cancelling_the_promise_of_a_running_future_aborts_it_on_the_loop() {
    let lp = EventLoop::new().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let guard = SetOnDrop(dropped.clone());
    let started = Promise::new();
    let s = started.clone();
    let p = run_in_loop_async(&lp, move || async move {
        let _guard = guard;
        s.set_result(()).unwrap();
        std::future::pending::<()>().await;
    });
    started.wait_timeout(WAIT).unwrap();
    assert!(p.cancel());
    // Any later call runs after the abort was processed.
    run_in_loop_async(&lp, tokio::task::yield_now)
        .wait_timeout(WAIT)
        .unwrap();
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn not_send_state_on_a_loop_is_mutated_by_calls_from_other_threads() {
    thread_local! {
        static STATE: Rc<RefCell<Vec<usize>>> = Rc::new(RefCell::new(Vec::new()));
    }
    let lp = EventLoop::new().unwrap();
    let callers: Vec<_> = (0..4)
        .map(|t| {
            let lp = lp.clone();
            thread::spawn(move || {
                let mut calls = Vec::new();
                for i in 0..250 {
                    calls.push(run_in_loop(&lp, move || {
                        STATE.with(|s| s.borrow_mut().push(t * 1000 + i))
                    }));
                }
                for call in calls {
                    call.wait_timeout(WAIT).unwrap();
                }
                // The calls ran on the loop, not here: this thread's state is untouched.
                assert!(STATE.with(|s| s.borrow().is_empty()));
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    let state = run_in_loop(&lp, || STATE.with(|s| s.borrow().clone()))
        .wait_timeout(WAIT)
        .unwrap();
    assert_eq!(state.len(), 1000);
    // Calls from one thread keep their order on the loop.
    for t in 0..4 {
        let mine: Vec<_> = state
            .iter()
            .filter(|v| **v / 1000 == t)
            .map(|v| v % 1000)
            .collect();
        assert_eq!(mine, (0..250).collect::<Vec<_>>());
    }
}

#[test]
fn an_rc_refcell_created_on_the_loop_lives_there_across_calls() {
    let lp = EventLoop::new().unwrap();
    // Built on the loop by a future maker, kept in a task that other threads feed.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let total = run_in_loop_async(&lp, move || {
        let sum = Rc::new(RefCell::new(0u32));
        let mut rx = rx;
        async move {
            while let Some(v) = rx.recv().await {
                *sum.borrow_mut() += v;
            }
            let total = *sum.borrow();
            total
        }
    });
    let feeders: Vec<_> = (0..2)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || (1..=100).for_each(|v| tx.send(v).unwrap()))
        })
        .collect();
    drop(tx);
    feeders.into_iter().for_each(|f| f.join().unwrap());
    assert_eq!(total.wait_timeout(WAIT).unwrap(), 2 * 5050);
}

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn one_million_calls_from_two_threads_each_resolve_exactly_once_with_the_right_value() {
    const PER_THREAD: usize = 500_000;
    let lp = EventLoop::builder().name("stress").spawn().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..2)
        .map(|t| {
            let lp = lp.clone();
            let runs = runs.clone();
            thread::spawn(move || {
                // One flag per call: a call that ran twice would find its flag set.
                let ran: Arc<Vec<AtomicBool>> =
                    Arc::new((0..PER_THREAD).map(|_| AtomicBool::new(false)).collect());
                let mut promises = Vec::with_capacity(PER_THREAD);
                for i in 0..PER_THREAD {
                    let (runs, ran) = (runs.clone(), ran.clone());
                    promises.push(run_in_loop(&lp, move || {
                        runs.fetch_add(1, Ordering::Relaxed);
                        assert!(!ran[i].swap(true, Ordering::Relaxed), "call {i} ran twice");
                        (t, i)
                    }));
                }
                let callbacks = Arc::new(AtomicUsize::new(0));
                for (i, p) in promises.iter().enumerate() {
                    assert_eq!(p.wait_timeout(WAIT).unwrap(), (t, i));
                    let c = callbacks.clone();
                    p.add_done_callback(move |_| {
                        c.fetch_add(1, Ordering::Relaxed);
                    });
                }
                // Every call ran (and, by its flag, at most once).
                assert!(ran.iter().all(|r| r.load(Ordering::Relaxed)));
                callbacks
            })
        })
        .collect();
    let callbacks: Vec<_> = callers
        .into_iter()
        .map(|c| common::join_within(Duration::from_secs(120), "the callers finish", c))
        .collect();
    assert_eq!(runs.load(Ordering::Relaxed), 2 * PER_THREAD);
    // The done-callbacks ran on the loop: one more call flushes them.
    run_in_loop(&lp, || ()).wait_timeout(WAIT).unwrap();
    for c in callbacks {
        assert_eq!(c.load(Ordering::Relaxed), PER_THREAD);
    }
    // Closing joins the loop thread.
    let finished = common::thread_exit_flag(&lp);
    common::join_within(
        WAIT,
        "dropping the last handle returns",
        thread::spawn(move || drop(lp)),
    );
    assert!(
        finished.load(Ordering::SeqCst),
        "the loop thread had exited when drop returned"
    );
}
