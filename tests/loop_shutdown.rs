//! Ending a loop with a rule for each way: `shutdown(deadline)` drains until the
//! deadline and reports; `shutdown_async(deadline)` does the same from any executor;
//! the blocking form is allowed wherever a blocking wait is (`spawn_blocking`,
//! `block_in_place`) and refused elsewhere with an error naming the form that works;
//! `closed()` resolves when the loop has finished closing; `close_background()` does
//! not block; `Drop` never waits without bound.

mod loops;

use loops::{within, Held, LIMIT};
use pulsar_async::event_loop::LoopState;
use pulsar_async::{run_in_loop, ErrorKind, EventLoop};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Waits until `lp` is in `state`.
fn wait_for_state(lp: &EventLoop, state: LoopState) {
    let start = Instant::now();
    while lp.state() != state {
        assert!(start.elapsed() < LIMIT, "still {:?}", lp.state());
        thread::yield_now();
    }
}

#[test]
fn shutdown_refuses_new_work_runs_what_was_queued_and_reports_it() {
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let queued: Vec<_> = (0..100).map(|i| run_in_loop(&lp, move || i)).collect();
    let shutdown = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(LIMIT))
    };
    wait_for_state(&lp, LoopState::Stopping);
    let refused = run_in_loop(&lp, || -1).wait_timeout(LIMIT).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::LoopClosed);
    held.release();
    let report = shutdown.join().unwrap().unwrap();
    assert_eq!((report.ran, report.cut), (100, 0));
    assert!(held.busy.wait_timeout(LIMIT).unwrap());
    for (i, p) in queued.into_iter().enumerate() {
        assert_eq!(p.wait_timeout(LIMIT).unwrap(), i as i32);
    }
    assert_eq!(lp.state(), LoopState::Closed);
}

#[test]
fn shutdown_cuts_what_is_left_at_the_deadline() {
    // The loop is held by a call until its shutdown's deadline has passed, whatever
    // the machine's load: the ten calls queued behind it are left at the deadline.
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let queued: Vec<_> = (0..10).map(|i| run_in_loop(&lp, move || i)).collect();
    let deadline = Instant::now() + Duration::from_millis(20);
    let shutdown = {
        let lp = lp.clone();
        thread::spawn(move || lp.shutdown(deadline))
    };
    wait_for_state(&lp, LoopState::Stopping);
    while Instant::now() <= deadline {
        thread::sleep(Duration::from_millis(2));
    }
    held.release();
    let report = shutdown.join().unwrap().unwrap();
    assert_eq!((report.ran, report.cut), (0, 10));
    for p in queued {
        let err = p.wait_timeout(LIMIT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LoopClosed);
    }
}

#[test]
fn close_cuts_every_queued_call_and_closed_reports_them() {
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let queued: Vec<_> = (0..10_000).map(|i| run_in_loop(&lp, move || i)).collect();
    let closed = lp.closed();
    let closer = {
        let lp = lp.clone();
        thread::spawn(move || lp.close())
    };
    wait_for_state(&lp, LoopState::Closing);
    held.release();
    closer.join().unwrap();
    let report = within(LIMIT, move || futures::executor::block_on(closed)).expect("closed");
    assert_eq!((report.ran, report.cut), (0, 10_000));
    assert!(
        held.busy.wait_timeout(LIMIT).unwrap(),
        "the running call finished"
    );
    for p in queued {
        assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    }
}

#[test]
fn shutdown_of_a_caller_driven_loop_on_its_thread_drives_it_through_the_drain() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let queued: Vec<_> = (0..10).map(|i| run_in_loop(&lp, move || i)).collect();
    let report = lp.shutdown(LIMIT).unwrap();
    assert_eq!((report.ran, report.cut), (10, 0));
    for (i, p) in queued.into_iter().enumerate() {
        assert_eq!(p.try_result().unwrap(), i);
    }
    assert_eq!(lp.state(), LoopState::Closed);
}

#[test]
fn shutdown_on_the_loops_own_thread_is_a_would_deadlock_error_and_changes_nothing() {
    let lp = EventLoop::new().unwrap();
    let inner = lp.clone();
    let err = run_in_loop(&lp, move || inner.shutdown(LIMIT).unwrap_err().kind());
    assert_eq!(err.wait_timeout(LIMIT).unwrap(), ErrorKind::WouldDeadlock);
    assert_eq!(lp.state(), LoopState::Running);
}

#[tokio::test]
async fn shutdown_inside_a_tokio_runtime_is_an_error_and_closed_is_its_async_form() {
    let lp = EventLoop::new().unwrap();
    let err = lp.shutdown(LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    assert!(err.to_string().contains("shutdown_async"), "{err}");
    let queued = run_in_loop(&lp, || 5);
    lp.shutdown_background(LIMIT);
    let report = lp.closed().await;
    assert_eq!((report.ran, report.cut), (1, 0));
    assert_eq!(queued.await.unwrap(), 5);
    assert_eq!(lp.state(), LoopState::Closed);
}

#[tokio::test]
async fn close_background_returns_at_once_and_closed_resolves_when_the_loop_is_closed() {
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let task = lp.spawn(std::future::pending::<u8>());
    let start = Instant::now();
    lp.close_background();
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "did not block"
    );
    assert_eq!(lp.state(), LoopState::Closing, "the held call still runs");
    held.release();
    lp.closed().await;
    assert_eq!(lp.state(), LoopState::Closed);
    assert!(held.busy.clone().await.unwrap());
    assert_eq!(task.await.unwrap_err().kind(), ErrorKind::LoopClosed);
}

/// Starts a task on tokio's blocking pool of `lp` that blocks (on a read) until the
/// returned sender sends, or `LIMIT` passes; returns once it runs.
fn block_the_pool(lp: &EventLoop) -> mpsc::Sender<()> {
    let (release, blocked) = mpsc::channel::<()>();
    let (started, is_started) = mpsc::channel();
    drop(lp.spawn(async move {
        tokio::task::spawn_blocking(move || {
            started.send(()).unwrap();
            let _ = blocked.recv_timeout(LIMIT);
        })
        .await
        .is_ok()
    }));
    is_started.recv_timeout(LIMIT).unwrap();
    release
}

#[test]
fn dropping_the_last_handle_waits_for_tokios_blocking_pool_at_most_shutdown_timeout() {
    let lp = EventLoop::builder()
        .shutdown_timeout(Duration::from_millis(50))
        .spawn()
        .unwrap();
    let release = block_the_pool(&lp);
    let took = within(LIMIT, move || {
        let start = Instant::now();
        drop(lp);
        start.elapsed()
    })
    .expect("the drop returned");
    release.send(()).unwrap();
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn the_last_drop_waits_for_a_blocking_task_that_ends_within_shutdown_timeout() {
    // The loop's thread sleeps while tokio's blocking pool winds down: that is the
    // teardown, not a blocked call, and the drop waits for it (up to
    // `shutdown_timeout`).
    let lp = EventLoop::builder()
        .shutdown_timeout(LIMIT)
        .spawn()
        .unwrap();
    let closed = lp.closed();
    let release = block_the_pool(&lp);
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let _ = release.send(());
    });
    within(LIMIT, move || drop(lp)).expect("the drop returned");
    releaser.join().unwrap();
    assert!(
        futures::FutureExt::now_or_never(closed).is_some(),
        "the loop was closed when the drop returned"
    );
}

#[tokio::test]
async fn shutdown_async_drains_and_reports_inside_a_tokio_runtime() {
    let lp = EventLoop::new().unwrap();
    let task = lp.spawn(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        1
    });
    run_in_loop(&lp, || ()).await.unwrap();
    let report = lp.shutdown_async(LIMIT).await.unwrap();
    assert_eq!((report.tasks_finished, report.tasks_cut), (1, 0));
    assert_eq!(task.await.unwrap(), 1);
    assert_eq!(lp.state(), LoopState::Closed);
}

#[test]
fn shutdown_async_resolves_on_any_executor() {
    let lp = EventLoop::new().unwrap();
    let queued = run_in_loop(&lp, || 2);
    let report = within(LIMIT, move || {
        futures::executor::block_on(lp.shutdown_async(LIMIT)).map(|r| r.cut)
    })
    .expect("the shutdown resolved");
    assert_eq!(report.unwrap(), 0);
    assert_eq!(queued.wait_timeout(LIMIT).unwrap(), 2);
}

#[test]
fn shutdown_async_on_the_loops_own_thread_is_would_deadlock_naming_shutdown_background() {
    let lp = EventLoop::new().unwrap();
    let inner = lp.clone();
    let err = pulsar_async::run_in_loop_async(&lp, move || async move {
        inner.shutdown_async(LIMIT).await.unwrap_err()
    })
    .wait_timeout(LIMIT)
    .unwrap();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    assert!(err.to_string().contains("shutdown_background"), "{err}");
    assert_eq!(lp.state(), LoopState::Running, "nothing done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_shutdown_is_allowed_in_spawn_blocking_and_block_in_place() {
    let lp = EventLoop::new().unwrap();
    let queued = run_in_loop(&lp, || 3);
    let l = lp.clone();
    let report = tokio::task::spawn_blocking(move || l.shutdown(LIMIT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.cut, 0);
    assert_eq!(queued.await.unwrap(), 3);
    let other = EventLoop::new().unwrap();
    let report = tokio::task::block_in_place(|| other.shutdown(LIMIT)).unwrap();
    assert_eq!(report.cut, 0);
    assert!(other.is_closed() && lp.is_closed());
}

#[test]
fn a_caller_driven_loop_nobody_drives_is_closed_at_the_deadline_of_its_shutdown() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let remote = lp.clone();
    let (p, report) = within(LIMIT, move || {
        let p = run_in_loop(&remote, || 1);
        let report = futures::executor::block_on(remote.shutdown_async(Duration::from_millis(20)));
        (p, report)
    })
    .expect("closed at the deadline");
    let report = report.unwrap();
    assert_eq!((report.ran, report.cut), (0, 1));
    assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    assert_eq!(lp.state(), LoopState::Closed);
}
