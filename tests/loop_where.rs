//! Work handed to a loop runs on that loop, from its first poll; `#[task]` called on
//! its own running loop is scheduled, not run inline; user code that panics in odd
//! places (a panic payload's `Drop`, a queued closure's `Drop`) neither kills the
//! loop's thread nor leaves a promise pending.

mod loops;

use loops::{Held, PanicsOnDrop, LIMIT};
use pulsar_async::{maybe_async_in, run_in_loop, task, ErrorKind, EventLoop};
use std::cell::RefCell;
use std::time::Duration;

thread_local!(static TAG: RefCell<&'static str> = const { RefCell::new("not the loop") });

#[test]
fn maybe_async_in_runs_every_step_of_the_future_on_the_loop() {
    let lp = EventLoop::builder().name("steps").spawn().unwrap();
    run_in_loop(&lp, || TAG.with(|t| *t.borrow_mut() = "the loop"))
        .wait_timeout(LIMIT)
        .unwrap();
    let m = maybe_async_in(&lp, async {
        // The first step reads the thread's state and uses the loop's timer.
        let first = (
            TAG.with(|t| *t.borrow()),
            std::thread::current().name().map(String::from),
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
        first
    });
    let (tag, thread) = m.into_promise().wait_timeout(LIMIT).unwrap();
    assert_eq!(tag, "the loop");
    assert_eq!(thread.as_deref(), Some("steps"));
}

thread_local!(static STATE: RefCell<u32> = const { RefCell::new(0) });

#[task]
fn bump() -> u32 {
    STATE.with(|s| {
        *s.borrow_mut() += 1;
        *s.borrow()
    })
}

#[test]
fn a_task_called_on_its_own_running_loop_runs_after_the_caller_returns() {
    let lp = EventLoop::builder().name("own").spawn().unwrap();
    let p = run_in_loop(&lp, || {
        STATE.with(|s| {
            // The caller holds a borrow of the state the task uses.
            let held = s.borrow_mut();
            let p = bump();
            let was_done = p.is_done();
            drop(held);
            (p, was_done)
        })
    });
    let (p, was_done) = p.wait_timeout(LIMIT).unwrap();
    assert!(!was_done, "scheduled, not run inline");
    assert_eq!(p.wait_timeout(LIMIT).unwrap(), 1);
}

#[test]
fn a_panic_payload_whose_drop_panics_does_not_kill_the_loop_thread() {
    let lp = EventLoop::new().unwrap();
    lp.call_soon_threadsafe(|| std::panic::panic_any(PanicsOnDrop))
        .unwrap();
    let p = run_in_loop(&lp, || std::panic::panic_any(PanicsOnDrop));
    assert_eq!(
        p.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Panicked
    );
    assert_eq!(
        run_in_loop(&lp, || "alive").wait_timeout(LIMIT).unwrap(),
        "alive"
    );
    assert!(!lp.is_closed());
}

#[test]
fn a_queued_closure_whose_drop_panics_cut_by_close_fails_its_promise_and_close_does_not_panic() {
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let bomb = PanicsOnDrop;
    let call = run_in_loop(&lp, move || {
        let _keep = &bomb;
        1
    });
    let bomb = PanicsOnDrop;
    let task = pulsar_async::run_in_loop_async(&lp, move || {
        let _keep = &bomb;
        async { 2 }
    });
    let bomb = PanicsOnDrop;
    lp.call_soon_threadsafe(move || drop(bomb)).unwrap();
    let closer = {
        let lp = lp.clone();
        std::thread::spawn(move || std::panic::catch_unwind(move || lp.close()).is_ok())
    };
    let start = std::time::Instant::now();
    while !lp.is_closed() && start.elapsed() < LIMIT {
        std::thread::yield_now();
    }
    held.release();
    assert!(closer.join().unwrap(), "close() did not panic");
    assert!(held.busy.wait_timeout(LIMIT).unwrap());
    for err in [
        call.wait_timeout(LIMIT).unwrap_err(),
        task.wait_timeout(LIMIT).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::LoopClosed);
    }
}

/// A thread that owns many caller-driven loops reaches each one's own queue and
/// state: calls issued on that thread to any of them run on that one loop, when
/// it is driven, whichever order the loops were built or closed in.
#[test]
fn a_thread_owning_many_caller_driven_loops_runs_each_call_on_the_loop_it_was_sent_to() {
    let loops: Vec<EventLoop> = (0..2_000)
        .map(|_| EventLoop::builder().build_driven().unwrap())
        .collect();
    // Close every third loop, so the ones left are not contiguous.
    for lp in loops.iter().step_by(3) {
        lp.close();
    }
    for (i, lp) in loops.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        let promise = run_in_loop(lp, move || i);
        assert!(
            !promise.is_done(),
            "queued on the owner's queue, not run inline"
        );
        let got = lp
            .run_until_complete(async move { tokio::time::timeout(LIMIT, promise).await })
            .unwrap()
            .expect("the call ran on the loop it was sent to")
            .unwrap();
        assert_eq!(got, i);
    }
    for (i, lp) in loops.iter().enumerate().step_by(3) {
        let err = run_in_loop(lp, move || i).wait_timeout(LIMIT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LoopClosed);
    }
}
