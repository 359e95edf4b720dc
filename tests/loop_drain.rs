//! A graceful shutdown drains live work: `shutdown(deadline)` takes no new work from
//! other threads, then runs until the deadline what the loop already holds (queued
//! calls, the tasks alive at its start and what they wake or spawn, timers due before
//! the deadline); it ends as soon as nothing is left, and cuts the rest at the
//! deadline. The report counts calls (`ran`, `cut`) and tasks (`tasks_finished`,
//! `tasks_cut`); a close counts the tasks it cuts too. Time is tokio's paused clock,
//! on the loop (`tokio::time::pause` on the loop's thread).

mod loops;

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use loops::{within, Held, LIMIT};
use pulsar_async::event_loop::ShutdownReport;
use pulsar_async::{run_in_loop, run_in_loop_async, ErrorKind, EventLoop};
use std::time::Duration;

/// What the tasks of a test wait for before they start their timers: opened on the
/// loop, by the call that begins the shutdown, so that the paused clock cannot run
/// ahead to their timers before the shutdown begins (it jumps whenever the loop is
/// idle).
type Gate = Shared<oneshot::Receiver<()>>;

fn gate() -> (oneshot::Sender<()>, Gate) {
    let (open, gate) = oneshot::channel();
    (open, gate.shared())
}

/// Opens `open` and begins a shutdown of `lp` until `deadline` in one call on the
/// loop, then waits for the report. On the paused clock the drain is then driven by
/// the loop alone: the deadline is a timer of the loop like the tasks' own.
fn open_and_shut_down(
    lp: &EventLoop,
    deadline: Duration,
    open: oneshot::Sender<()>,
) -> ShutdownReport {
    run_in_loop(lp, move || {
        let _ = open.send(());
        EventLoop::current().unwrap().shutdown_background(deadline);
    })
    .wait_timeout(LIMIT)
    .unwrap();
    let closed = lp.closed();
    within(LIMIT, move || futures::executor::block_on(closed)).expect("the loop closed")
}

/// A loop on a thread of its own whose clock is tokio's paused clock: time jumps to
/// the next timer whenever the loop has nothing else to do.
fn paused_loop() -> EventLoop {
    let lp = EventLoop::new().unwrap();
    run_in_loop(&lp, tokio::time::pause)
        .wait_timeout(LIMIT)
        .unwrap();
    lp
}

/// Waits until every call queued on `lp` before now has run (so the tasks they
/// spawned are alive).
fn settle(lp: &EventLoop) {
    run_in_loop(lp, || ()).wait_timeout(LIMIT).unwrap();
}

#[test]
fn a_shutdown_lets_the_tasks_alive_at_its_start_finish_and_counts_them() {
    let lp = paused_loop();
    let (open, gate) = gate();
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let gate = gate.clone();
            run_in_loop_async(&lp, move || async move {
                let _ = gate.await;
                tokio::time::sleep(Duration::from_millis(40)).await;
                i
            })
        })
        .collect();
    settle(&lp);
    let report = open_and_shut_down(&lp, Duration::from_secs(3), open);
    assert_eq!((report.ran, report.cut), (0, 0));
    assert_eq!((report.tasks_finished, report.tasks_cut), (10, 0));
    for (i, p) in tasks.into_iter().enumerate() {
        assert_eq!(p.try_result().unwrap(), i as u64);
    }
}

#[test]
fn a_task_woken_by_a_call_drained_during_the_shutdown_runs_to_its_end() {
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let (tx, rx) = futures::channel::oneshot::channel::<u8>();
    // Queued behind the holding call: a task waiting for a value, and the call that
    // sends it.
    let task = lp.spawn(async move { rx.await.unwrap_or(0) + 1 });
    let _sent = run_in_loop(&lp, move || tx.send(41).is_ok());
    lp.shutdown_background(LIMIT);
    held.release();
    let report = within(LIMIT, move || futures::executor::block_on(lp.closed())).unwrap();
    assert_eq!(task.try_result().unwrap(), 42);
    // The holding call ran before the shutdown began; the spawn and the send during it.
    assert_eq!((report.ran, report.cut), (2, 0));
    assert_eq!((report.tasks_finished, report.tasks_cut), (1, 0));
}

#[test]
fn timers_due_before_the_deadline_run_and_tasks_alive_at_the_deadline_are_cut() {
    let lp = paused_loop();
    let (open, gate) = gate();
    let timer = |after: Duration, gate: Gate| async move {
        let _ = gate.await;
        tokio::time::sleep(after).await;
    };
    let early = lp.spawn(timer(Duration::from_millis(500), gate.clone()));
    let late = lp.spawn(timer(Duration::from_secs(10), gate));
    let forever = lp.spawn(std::future::pending::<u8>());
    settle(&lp);
    let report = open_and_shut_down(&lp, Duration::from_secs(2), open);
    assert!(
        early.try_result().is_ok(),
        "the timer due before the deadline rang"
    );
    assert_eq!(late.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    assert_eq!(
        forever.try_result().unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    assert_eq!((report.tasks_finished, report.tasks_cut), (1, 2));
}

#[test]
fn what_a_task_spawns_or_queues_while_the_loop_drains_runs_too() {
    let lp = paused_loop();
    let (open, gate) = gate();
    let parent = run_in_loop_async(&lp, || async {
        let _ = gate.await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        let here = EventLoop::current().unwrap();
        let child = here.spawn(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            2
        });
        let call = run_in_loop(&here, || 3);
        child.await.unwrap() + call.await.unwrap()
    });
    settle(&lp);
    let report = open_and_shut_down(&lp, Duration::from_secs(3), open);
    assert_eq!(parent.try_result().unwrap(), 5);
    assert_eq!((report.tasks_finished, report.tasks_cut), (2, 0));
    assert_eq!((report.ran, report.cut), (2, 0), "the spawn and the call");
}

#[test]
fn a_shutdown_ends_as_soon_as_nothing_is_left_not_at_its_deadline() {
    let lp = EventLoop::new().unwrap();
    let task = lp.spawn(async { tokio::task::yield_now().await });
    settle(&lp);
    // A real clock and a deadline an hour away: a drain that waited for it would
    // fail `within`.
    let l = lp.clone();
    let report = within(LIMIT, move || l.shutdown(Duration::from_secs(3600)))
        .expect("the shutdown returned")
        .unwrap();
    assert!(task.try_result().is_ok());
    assert_eq!(report.tasks_cut, 0);
}

#[test]
fn a_close_cuts_the_live_tasks_and_its_report_counts_them() {
    let lp = EventLoop::new().unwrap();
    let tasks: Vec<_> = (0..3)
        .map(|_| lp.spawn(std::future::pending::<u8>()))
        .collect();
    settle(&lp);
    lp.close();
    let report = futures::executor::block_on(lp.closed());
    assert_eq!((report.tasks_finished, report.tasks_cut), (0, 3));
    for t in tasks {
        assert_eq!(t.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    }
}

#[test]
fn new_work_from_other_threads_is_refused_while_the_loop_drains() {
    // The real clock: on a paused one an idle loop jumps to the next timer, the sleep
    // of a task or the drain's deadline, and either could come first. No real wait:
    // the task alive when the shutdown begins ends when told, at once.
    let lp = EventLoop::new().unwrap();
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let _alive = lp.spawn(async move {
        let _ = finished.await;
    });
    settle(&lp);
    lp.shutdown_background(Duration::from_secs(5));
    let refused = lp.spawn(async { 1 });
    assert_eq!(
        refused.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    finish.send(()).unwrap();
    let report = within(LIMIT, move || futures::executor::block_on(lp.closed())).unwrap();
    assert_eq!((report.tasks_finished, report.tasks_cut), (1, 0));
}
