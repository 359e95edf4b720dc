//! `multi::PromiseSet`: a growing set of promises read in the order they finish.
//!
//! - `join_next` gives the outcomes in the order the promises finish, then `None`.
//! - A failed or cancelled promise is its `Err`, and the set goes on.
//! - Promises pushed while the set is read are served; a push revives an ended stream.
//! - `len` and `is_empty` count the promises held; `Extend` and `FromIterator` fill it.
//! - Dropping the set cancels every promise it still holds (a loop task behind one is
//!   aborted); the outcomes it gave are not touched; `cancel_all` cancels and keeps
//!   reading.
//! - A `join_next` dropped while pending loses nothing (cancel safety).
//! - It runs on any executor, woken by promises settled on other threads and loops.
//!
//! (Its linear cost, counted in polls, is the unit test in `src/multi/set.rs`.)

mod common;

use futures::{stream::FusedStream, Stream, StreamExt};
use pulsar_async::multi::PromiseSet;
use pulsar_async::{run_in_loop, Error, ErrorKind, EventLoop, Promise};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

/// The next outcome, with its error reduced to its kind; fails after `LIMIT`.
async fn next(set: &mut PromiseSet<u32>) -> Option<Result<u32, ErrorKind>> {
    tokio::time::timeout(LIMIT, set.join_next())
        .await
        .expect("an outcome within the time limit")
        .map(|outcome| outcome.map_err(|e| e.kind()))
}

#[tokio::test]
async fn join_next_gives_the_outcomes_in_the_order_the_promises_finish_then_none() {
    let (a, b, c) = (Promise::new(), Promise::new(), Promise::new());
    let mut set = PromiseSet::from_iter([a.clone(), b.clone(), c.clone()]);
    b.set_result(2).unwrap();
    assert_eq!(next(&mut set).await, Some(Ok(2)));
    c.set_result(3).unwrap();
    a.set_result(1).unwrap();
    assert_eq!(next(&mut set).await, Some(Ok(3)));
    assert_eq!(next(&mut set).await, Some(Ok(1)));
    assert_eq!(next(&mut set).await, None);
}

#[tokio::test]
async fn a_failed_or_cancelled_promise_is_its_err_and_the_set_goes_on() {
    let (failed, cancelled, ok) = (Promise::new(), Promise::new(), Promise::new());
    let mut set = PromiseSet::from_iter([failed.clone(), cancelled.clone(), ok.clone()]);
    failed.set_error(Error::from(ErrorKind::Timeout)).unwrap();
    assert_eq!(next(&mut set).await, Some(Err(ErrorKind::Timeout)));
    cancelled.cancel();
    assert_eq!(next(&mut set).await, Some(Err(ErrorKind::Cancelled)));
    ok.set_result(7).unwrap();
    assert_eq!(next(&mut set).await, Some(Ok(7)));
}

#[tokio::test]
async fn promises_pushed_while_the_set_is_read_are_served_and_a_push_revives_an_ended_stream() {
    let lp = EventLoop::new().unwrap();
    let mut set = PromiseSet::new();
    set.push(run_in_loop(&lp, || 0u32));
    let mut seen = Vec::new();
    while let Some(outcome) = next(&mut set).await {
        let n = outcome.unwrap();
        seen.push(n);
        if n < 5 {
            set.push(run_in_loop(&lp, move || n + 1));
        }
    }
    assert_eq!(seen, [0, 1, 2, 3, 4, 5]);

    // The stream ended (and says so); a push starts it again.
    assert!(set.next().await.is_none());
    assert!(set.is_terminated());
    set.push(Promise::resolved(9));
    assert!(!set.is_terminated());
    assert_eq!(set.next().await.unwrap().unwrap(), 9);
}

#[tokio::test]
async fn len_and_is_empty_count_the_promises_held_and_extend_adds_to_them() {
    let mut set: PromiseSet<u32> = PromiseSet::default();
    assert!(set.is_empty());
    set.extend([Promise::resolved(1), Promise::new()]);
    assert_eq!((set.len(), set.size_hint()), (2, (2, Some(2))));
    assert_eq!(next(&mut set).await, Some(Ok(1)));
    assert_eq!(set.len(), 1);
    assert!(!set.is_empty());
    assert_eq!(format!("{set:?}"), "PromiseSet { len: 1, .. }");
}

#[test]
fn dropping_the_set_cancels_every_promise_it_still_holds_and_aborts_a_task_behind_one() {
    let lp = EventLoop::new().unwrap();
    struct Signal(mpsc::Sender<()>);
    impl Drop for Signal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (tx, dropped) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    let signal = Signal(tx);
    let task = lp.spawn(async move {
        let _signal = signal;
        let _ = started_tx.send(());
        std::future::pending::<u32>().await
    });
    started.recv_timeout(LIMIT).expect("the task started");
    let (read, waiting) = (Promise::new(), Promise::new());
    let mut set = PromiseSet::from_iter([task.clone(), read.clone(), waiting.clone()]);
    read.set_result(1).unwrap();
    assert_eq!(
        common::block_within(LIMIT, set.join_next())
            .unwrap()
            .unwrap(),
        1
    );
    drop(set);
    assert_eq!(
        waiting.try_result().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    assert_eq!(
        task.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    dropped.recv_timeout(LIMIT).expect("the task was aborted");
    assert_eq!(
        read.try_result().unwrap(),
        1,
        "what the set gave is not touched"
    );
}

#[test]
fn dropping_the_set_means_a_queued_call_behind_it_never_runs() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let set = PromiseSet::from_iter([run_in_loop(&lp, move || flag.store(true, Ordering::SeqCst))]);
    drop(set);
    lp.run_until_complete(run_in_loop(&lp, || ()))
        .unwrap()
        .unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn cancel_all_cancels_what_the_set_holds_and_the_reads_give_it() {
    let mut set = PromiseSet::from_iter([Promise::resolved(1), Promise::new()]);
    set.cancel_all();
    let outcomes = [next(&mut set).await, next(&mut set).await];
    assert!(outcomes.contains(&Some(Ok(1))));
    assert!(outcomes.contains(&Some(Err(ErrorKind::Cancelled))));
    assert_eq!(next(&mut set).await, None);
}

#[tokio::test(start_paused = true)]
async fn a_join_next_dropped_while_pending_loses_nothing() {
    let p = Promise::new();
    let mut set = PromiseSet::from_iter([p.clone()]);
    tokio::select! {
        _ = set.join_next() => panic!("nothing settled"),
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    assert_eq!(set.len(), 1);
    p.set_result(4).unwrap();
    assert_eq!(next(&mut set).await, Some(Ok(4)));
}

#[test]
fn the_set_runs_on_any_executor_woken_by_promises_settled_on_other_threads_and_loops() {
    let lp = EventLoop::new().unwrap();
    let (a, b) = (Promise::new(), Promise::new());
    let mut set = PromiseSet::from_iter([a.clone(), b.clone()]);
    set.push(run_in_loop(&lp, || 3u32));
    let setter = std::thread::spawn(move || {
        a.set_result(1).unwrap();
        b.set_result(2).unwrap();
    });
    // futures' executor, no tokio runtime on this thread.
    let mut got = common::block_within(LIMIT, async {
        let mut got = Vec::new();
        while let Some(outcome) = set.join_next().await {
            got.push(outcome.unwrap());
        }
        got
    });
    common::join_within(LIMIT, "the setter", setter);
    got.sort();
    assert_eq!(got, [1, 2, 3]);
}
