//! A blocking wait never hangs silently where a hang is certain
//! (on the loop that must settle the promise; inside a tokio runtime where blocking
//! is not allowed), and raises no false alarm where waiting is fine (`block_in_place`,
//! `spawn_blocking`, a plain thread that merely built an idle caller-driven loop).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulsar_async::{multi_async, run_in_loop, ErrorKind, EventLoop, Promise};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn wait_on_the_loop_thread_that_must_settle_the_promise_is_would_deadlock() {
    let lp = EventLoop::new().unwrap();
    let p = lp.create_promise::<u8>();
    let q = p.clone();
    let r = run_in_loop(&lp, move || q.wait().map_err(|e| e.kind()));
    assert_eq!(
        r.wait_timeout(LIMIT).unwrap(),
        Err(ErrorKind::WouldDeadlock)
    );
    assert!(!p.is_done());
}

#[test]
fn wait_on_an_unbound_promise_inside_a_loop_call_is_would_deadlock() {
    // Whoever settles it, the loop that runs this call is blocked: a task of that
    // loop never would.
    let lp = EventLoop::new().unwrap();
    let p = Promise::<u8>::new();
    let q = p.clone();
    let r = run_in_loop(&lp, move || q.wait().map_err(|e| e.kind()));
    assert_eq!(
        r.wait_timeout(LIMIT).unwrap(),
        Err(ErrorKind::WouldDeadlock)
    );
}

#[tokio::test]
async fn wait_inside_a_current_thread_runtime_is_would_deadlock_and_says_to_await() {
    let p = Promise::<u8>::new();
    let err = p.wait().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    assert!(err.to_string().contains(".await"), "{err}");
    // A done promise is read at once: no false alarm.
    p.set_result(1).unwrap();
    assert_eq!(p.wait().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_on_a_tokio_worker_is_would_deadlock() {
    let p = Promise::<u8>::new();
    let q = p.clone();
    let inside = tokio::spawn(async move { q.wait().map_err(|e| e.kind()) })
        .await
        .unwrap();
    assert_eq!(inside, Err(ErrorKind::WouldDeadlock));
    let take = tokio::spawn(async move { p.take_blocking().map_err(|e| e.kind()) })
        .await
        .unwrap();
    assert_eq!(take, Err(ErrorKind::WouldDeadlock));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_inside_block_in_place_blocks_until_settled() {
    let p = Promise::<u8>::new();
    let setter = p.setter();
    let settler = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        setter.set_result(4).unwrap();
    });
    let got = tokio::task::block_in_place(|| p.wait());
    assert_eq!(got.unwrap(), 4);
    settler.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_inside_spawn_blocking_blocks_until_settled() {
    let p = Promise::<u8>::new();
    let setter = p.setter();
    let waiter = tokio::task::spawn_blocking(move || p.wait());
    tokio::time::sleep(Duration::from_millis(10)).await;
    setter.set_result(6).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), 6);
}

#[test]
fn a_plain_thread_with_an_idle_entered_runtime_may_still_wait() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = rt.enter();
    let p = Promise::<u8>::new();
    let setter = p.setter();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        setter.set_result(2).unwrap();
    });
    assert_eq!(p.wait().unwrap(), 2);
}

#[test]
fn the_runtime_probe_leaves_the_task_budget_as_it_found_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Promise::<u8>::new();
        for _ in 0..1_000 {
            assert_eq!(p.wait().unwrap_err().kind(), ErrorKind::WouldDeadlock);
        }
        // Had the probe spent budget, a budgeted tokio resource would now yield.
        assert!(tokio::task::coop::has_budget_remaining());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tx.send(1).unwrap();
        assert_eq!(futures::FutureExt::now_or_never(rx), Some(Ok(1)));
    });
}

#[test]
fn a_blocking_wait_inside_a_callback_runs_the_settle_queued_behind_it() {
    // Callbacks of an unbound promise run from the thread's work list; a callback
    // that waits for a promise settled by work queued after it must not hang.
    let a = Promise::<u8>::new();
    let b = Promise::<u8>::new();
    let c = Promise::<u8>::new();
    let (b2, c2) = (b.clone(), c.clone());
    let c_setter = c.setter();
    b.add_done_callback(move |_| c_setter.set_result(3).unwrap());
    let out = Arc::new(Mutex::new(None));
    let o = out.clone();
    a.add_done_callback(move |_| {
        b2.set_result(2).unwrap(); // queues b's callbacks behind this one
        *o.lock().unwrap() = Some(c2.wait().unwrap());
    });
    a.set_result(1).unwrap();
    assert_eq!(*out.lock().unwrap(), Some(3));
}

#[test]
fn a_thread_that_merely_built_an_idle_driven_loop_can_wait_on_another_loops_gather() {
    let _idle = EventLoop::builder().build_driven().unwrap();
    let other = EventLoop::new().unwrap();
    let all = multi_async(vec![run_in_loop(&other, || 1), run_in_loop(&other, || 2)]);
    assert!(
        all.promise().get_loop().is_none(),
        "not bound to the idle loop"
    );
    assert_eq!(all.wait_timeout(LIMIT).unwrap(), [1, 2]);
}

#[test]
fn a_gathers_done_callbacks_are_not_queued_on_an_idle_driven_loop() {
    let _idle = EventLoop::builder().build_driven().unwrap();
    let other = EventLoop::builder().name("other").spawn().unwrap();
    let input = Promise::<u8>::new();
    let all = multi_async(vec![input.clone()]);
    let (tx, rx) = std::sync::mpsc::channel();
    all.promise().add_done_callback(move |r| {
        let _ = tx.send((r.is_ok(), std::thread::current().name().map(String::from)));
    });
    // Settled on the other loop's thread: the callback runs there, not queued on the
    // idle loop of this thread (which would run it only when driven).
    run_in_loop(&other, move || input.set_result(1).unwrap())
        .wait_timeout(LIMIT)
        .unwrap();
    let (ok, thread) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(ok);
    assert_eq!(thread.as_deref(), Some("other"));
}

#[test]
fn a_gather_made_inside_a_running_loop_is_bound_to_it() {
    let lp = EventLoop::new().unwrap();
    let bound = run_in_loop(&lp, || {
        multi_async(vec![Promise::resolved(1)]).promise().get_loop()
    });
    assert_eq!(bound.wait_timeout(LIMIT).unwrap(), Some(lp.clone()));
    let driven = EventLoop::builder().build_driven().unwrap();
    let inside = driven
        .run_until_complete(async { multi_async(vec![Promise::resolved(1)]).promise().get_loop() })
        .unwrap();
    assert_eq!(inside, Some(driven.clone()));
}
