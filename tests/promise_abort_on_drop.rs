//! `Promise::abort_on_drop`: a promise that cancels its work when its awaiter goes away.
//!
//! - Dropping the handle before a queued call starts: the call never runs.
//! - A handle that loses a `select!` aborts its task at the task's next await.
//! - A `tokio::time::timeout` that expires aborts the task behind the handle.
//! - Aborting the task that awaits the handle aborts the work behind it.
//! - A handle that completed gives the value, and its drop cancels nothing.
//! - A handle of a promise already settled, dropped unpolled, cancels nothing.
//! - A detached handle leaves the work running; `abort` cancels at once.
//! - A handle polled through `&mut` in `select!` survives the branch that did not win.

use pulsar_async::{run_in_loop, ErrorKind, EventLoop, Promise};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

/// A current-thread runtime on tokio's paused clock: a sleep of an hour ends as soon
/// as nothing else can run.
fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Sends once when dropped: held by a task's future, it tells when the future was
/// dropped (the task aborted).
struct DropSignal(mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// A task on `lp`, started and waiting for ever at an await, that holds a
/// [`DropSignal`] and would set `ran` if it ever got past its await; and the
/// receiver of its signal.
fn endless_task(lp: &EventLoop, ran: &Arc<AtomicBool>) -> (Promise<()>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    let signal = DropSignal(tx);
    let ran = ran.clone();
    let gate = Promise::<()>::new();
    let work = lp.spawn(async move {
        let _signal = signal;
        let _ = started_tx.send(());
        let _ = gate.await;
        ran.store(true, Ordering::SeqCst);
    });
    started
        .recv_timeout(LIMIT)
        .expect("the task started on the loop");
    (work, rx)
}

/// The task's future was dropped (it was aborted), within [`LIMIT`].
fn assert_aborted(rx: &mpsc::Receiver<()>) {
    rx.recv_timeout(LIMIT)
        .expect("the task was aborted: its future was dropped");
}

#[test]
fn dropping_the_handle_before_a_queued_call_starts_means_the_call_never_runs() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let call = run_in_loop(&lp, move || flag.store(true, Ordering::SeqCst));
    let watcher = call.clone();
    drop(call.abort_on_drop());
    // Calls from one thread run in the order issued: this one runs after the first.
    let after = run_in_loop(&lp, || ());
    lp.run_until_complete(after).unwrap().unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(
        watcher.try_result().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

#[test]
fn a_handle_that_loses_a_select_aborts_its_task_at_its_next_await() {
    let lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let (work, dropped) = endless_task(&lp, &ran);
    let watcher = work.clone();
    paused().block_on(async {
        tokio::select! {
            _ = work.abort_on_drop() => panic!("the task never ends"),
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    });
    assert_aborted(&dropped);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(
        watcher.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

#[test]
fn a_timeout_that_expires_aborts_the_task_behind_the_handle() {
    let lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let (work, dropped) = endless_task(&lp, &ran);
    let watcher = work.clone();
    let out = paused().block_on(async {
        tokio::time::timeout(Duration::from_secs(5), work.abort_on_drop()).await
    });
    assert!(out.is_err(), "the timeout expired");
    assert_aborted(&dropped);
    assert_eq!(
        watcher.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

#[test]
fn aborting_the_task_that_awaits_the_handle_aborts_the_work_behind_it() {
    let lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let (work, dropped) = endless_task(&lp, &ran);
    let watcher = work.clone();
    paused().block_on(async {
        let awaiting = tokio::spawn(work.abort_on_drop());
        tokio::task::yield_now().await;
        awaiting.abort();
        assert!(awaiting.await.unwrap_err().is_cancelled());
    });
    assert_aborted(&dropped);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(
        watcher.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

#[test]
fn a_handle_that_completed_gives_the_value_and_its_drop_cancels_nothing() {
    let lp = EventLoop::new().unwrap();
    let work = lp.spawn(async { 7 });
    let watcher = work.clone();
    let mut handle = work.abort_on_drop();
    let out = paused().block_on(&mut handle);
    assert_eq!(out.unwrap(), 7);
    drop(handle);
    assert_eq!(watcher.wait_timeout(LIMIT).unwrap(), 7);
}

#[test]
fn a_handle_of_a_settled_promise_dropped_unpolled_cancels_nothing() {
    let done = Promise::resolved(3);
    let handle = done.clone().abort_on_drop();
    assert!(handle.is_done());
    drop(handle);
    assert_eq!(done.try_result().unwrap(), 3);
}

#[test]
fn a_detached_handle_leaves_the_work_running_and_abort_cancels_at_once() {
    let p = Promise::<u8>::new();
    drop(p.clone().abort_on_drop().detach());
    assert!(!p.is_done());
    p.set_result(1).unwrap();
    assert_eq!(p.try_result().unwrap(), 1);

    let q = Promise::<u8>::new();
    let handle = q.clone().abort_on_drop();
    assert!(handle.abort());
    assert!(!handle.abort());
    assert!(q.is_cancelled());
    let out = paused().block_on(handle);
    assert_eq!(out.unwrap_err().kind(), ErrorKind::Cancelled);
}

#[test]
fn a_handle_polled_through_mut_in_select_survives_the_branch_that_did_not_win() {
    let p = Promise::<u8>::new();
    let setter = p.setter();
    let watcher = p.clone();
    let out = paused().block_on(async move {
        let mut handle = p.abort_on_drop();
        tokio::select! {
            _ = &mut handle => panic!("not settled yet"),
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        assert!(
            !watcher.is_done(),
            "losing a branch through &mut cancels nothing"
        );
        setter.set_result(9).unwrap();
        handle.await
    });
    assert_eq!(out.unwrap(), 9);
}
