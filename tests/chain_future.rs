//! `chain_future` (SPEC Part 1): every rule, one test each.

use pulsar_async::{chain_future, maybe_async, Error, ErrorKind, EventLoop, MaybeAsync, Promise};
use std::time::Duration;

mod common;

/// Awaits `f` on futures' executor (chains run on any executor); a chain still
/// pending after 10 s fails its test.
fn block<F: std::future::IntoFuture>(f: F) -> F::Output {
    common::block_within(Duration::from_secs(10), f)
}

#[test]
fn without_a_callback_next_gets_the_source_result_itself() {
    let source = Promise::new();
    let next = chain_future(source.clone()).start();
    source.set_result(5).unwrap();
    assert_eq!(block(next).unwrap(), 5);
}

#[test]
fn next_gets_the_callback_result_on_success() {
    let source = Promise::new();
    let next = chain_future(source.clone())
        .callback(|v: u32| Ok(v.to_string()))
        .start();
    source.set_result(12).unwrap();
    assert_eq!(block(next).unwrap(), "12");
}

#[test]
fn without_an_errback_next_gets_the_same_error() {
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone())
        .callback(|v: u8| Ok(v + 1))
        .start();
    source.set_error(Error::user("upstream")).unwrap();
    let err = block(next).unwrap_err();
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "upstream"
    );
}

#[test]
fn errback_return_value_recovers_the_chain() {
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone())
        .callback(|v: u8| Ok(v))
        .errback(|e: Error| Ok(if e.kind() == ErrorKind::User { 100 } else { 0 }))
        .start();
    source.set_error(Error::user("recover me")).unwrap();
    assert_eq!(block(next).unwrap(), 100);
}

#[test]
fn cancellation_of_the_source_counts_as_a_failure_for_the_errback() {
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone())
        .errback(|e: Error| Ok(if e.is_cancelled() { 1 } else { 2 }))
        .start();
    source.cancel();
    assert_eq!(block(next).unwrap(), 1);
}

#[test]
fn cancellation_of_the_source_without_an_errback_cancels_next() {
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone()).start();
    source.cancel();
    assert!(block(next).unwrap_err().is_cancelled());
}

#[test]
fn a_panicking_callback_fails_next_with_the_panic() {
    let next = chain_future(Promise::resolved(1))
        .callback(|_: i32| -> Result<i32, Error> { panic!("callback bug") })
        .start();
    let err = block(next).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.message(), Some("callback bug"));
}

#[test]
fn a_callback_that_returns_an_error_fails_next_with_it() {
    let next = chain_future(Promise::resolved(1))
        .callback(|_: i32| -> Result<i32, Error> { Err(Error::from(ErrorKind::InvalidState)) })
        .start();
    assert_eq!(block(next).unwrap_err().kind(), ErrorKind::InvalidState);
}

#[test]
fn a_panicking_errback_fails_next_with_the_panic() {
    let next = chain_future(Promise::<u8>::failed(Error::user("x")))
        .errback(|_| -> Result<u8, Error> { panic!("errback bug") })
        .start();
    assert_eq!(block(next).unwrap_err().message(), Some("errback bug"));
}

#[test]
fn a_promise_returned_by_the_callback_is_chained_in_instead_of_becoming_the_value() {
    let inner = Promise::new();
    let i = inner.clone();
    let next = chain_future(Promise::resolved(2))
        .callback(move |_: i32| i)
        .start();
    assert!(!next.is_done());
    inner.set_result(20).unwrap();
    assert_eq!(block(next).unwrap(), 20);
}

#[test]
fn a_promise_returned_by_the_errback_is_chained_in() {
    let next = chain_future(Promise::<u8>::failed(Error::user("x")))
        .errback(|_| Promise::resolved(3))
        .start();
    assert_eq!(block(next).unwrap(), 3);
}

#[test]
fn flattening_reaches_any_depth() {
    let deepest = Promise::new();
    let d = deepest.clone();
    // The callback returns a chain whose callback returns a chain whose callback
    // returns a pending promise: three levels, one value.
    let next = chain_future(Promise::resolved(1))
        .callback(move |_: i32| {
            chain_future(Promise::resolved(2))
                .callback(move |_: i32| {
                    chain_future(Promise::resolved(3))
                        .callback(move |_: i32| d)
                        .start()
                })
                .start()
        })
        .start();
    assert!(!next.is_done());
    deepest.set_result("bottom").unwrap();
    assert_eq!(block(next).unwrap(), "bottom");
}

#[test]
fn a_failure_deep_in_the_flattened_chain_reaches_next() {
    let next = chain_future(Promise::resolved(1))
        .callback(|_: i32| chain_future(Promise::<i32>::failed(Error::user("deep"))).start())
        .start();
    let err = block(next).unwrap_err();
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "deep");
}

#[test]
fn a_given_next_is_the_promise_returned_and_settled() {
    let mine = Promise::new();
    let returned = chain_future(Promise::resolved(4))
        .next(mine.clone())
        .start();
    assert_eq!(mine.try_result().unwrap(), 4);
    assert_eq!(returned.try_result().unwrap(), 4);
}

#[test]
fn a_next_already_done_is_left_alone() {
    let mine = Promise::new();
    mine.set_result(1).unwrap();
    let returned = chain_future(Promise::resolved(2)).next(mine).start();
    assert_eq!(returned.try_result().unwrap(), 1);
}

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn callbacks_run_on_the_sources_loop() {
    let lp = EventLoop::builder().name("chain").spawn().unwrap();
    let source = lp.create_promise();
    let next = chain_future(source.clone())
        .callback(|v: u8| Ok((v, std::thread::current().name().map(String::from))))
        .start();
    source.set_result(1).unwrap();
    let (v, thread) = next.wait_timeout(WAIT).unwrap();
    assert_eq!((v, thread.as_deref()), (1, Some("chain")));
}

#[test]
fn next_is_made_on_the_sources_loop_whether_the_source_is_pending_or_ready() {
    let lp = EventLoop::builder().name("source-loop").spawn().unwrap();
    let ready_source = |v: u8| {
        let p = lp.create_promise();
        p.set_result(v).unwrap();
        p
    };
    let never = Promise::<u8>::new();
    let nexts = [
        (
            "a pending source",
            chain_future(lp.create_promise::<u8>()).start(),
        ),
        (
            "a ready source",
            chain_future(ready_source(1))
                .callback(|v: u8| Ok(v))
                .start(),
        ),
        (
            "a ready source whose callback gives a pending promise",
            chain_future(ready_source(2))
                .callback(move |_: u8| never)
                .start(),
        ),
    ];
    for (case, next) in nexts {
        assert_eq!(
            thread_of_done_callbacks(&next).as_deref(),
            Some("source-loop"),
            "next from {case} is bound to the source's loop"
        );
    }
}

/// The thread that runs a done-callback of `p` when this thread settles it (or at
/// once if it is done): its loop's thread if it is bound to one, else this thread.
fn thread_of_done_callbacks(p: &Promise<u8>) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    p.add_done_callback(move |_| {
        let _ = tx.send(std::thread::current().name().map(String::from));
    });
    if !p.is_done() {
        p.set_result(0).unwrap();
    }
    rx.recv_timeout(WAIT).expect("the done-callback runs")
}

#[test]
fn a_coroutine_source_is_scheduled_through_maybe_async() {
    let lp = EventLoop::new().unwrap();
    let source: MaybeAsync<u32> = pulsar_async::maybe_async_in(&lp, async {
        tokio::task::yield_now().await;
        40
    });
    let next = chain_future(source).callback(|v: u32| Ok(v + 2)).start();
    assert_eq!(next.wait_timeout(WAIT).unwrap(), 42);
}

#[test]
fn a_ready_source_runs_the_callback_at_once() {
    let next = chain_future(maybe_async(async { 1 }))
        .callback(|v: i32| Ok(v * 10))
        .start();
    assert_eq!(next.try_result().unwrap(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fails_next_when_the_source_is_too_slow() {
    let start = tokio::time::Instant::now();
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone())
        .timeout(Duration::from_secs(10))
        .start();
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert!(!next.is_done());
    assert_eq!(next.clone().await.unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    // The late value does not overwrite the timeout.
    source.set_result(1).unwrap();
    assert_eq!(next.try_result().unwrap_err().kind(), ErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_does_not_fire_when_the_source_is_in_time() {
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone())
        .timeout(Duration::from_secs(10))
        .start();
    source.set_result(3).unwrap();
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(next.await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_timeout_timer_is_aborted_as_soon_as_next_is_done() {
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone())
        .timeout(Duration::from_secs(3600))
        .start();
    assert_eq!(alive(), 1, "the timer task");
    source.set_result(3).unwrap();
    assert_eq!(next.await.unwrap(), 3);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // Not left asleep for an hour, holding next's setter.
    assert_eq!(alive(), 0, "the timer was aborted when next was done");
}

#[test]
fn a_timeout_without_a_runtime_is_an_invalid_state_error_not_a_panic() {
    let next = chain_future(Promise::<u8>::new())
        .timeout(Duration::from_secs(1))
        .start();
    assert_eq!(
        next.try_result().unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

#[test]
fn a_chain_can_be_awaited_directly() {
    let out = block(chain_future(Promise::resolved(1)).callback(|v: i32| Ok(v + 1)));
    assert_eq!(out.unwrap(), 2);
}

#[test]
fn cancelling_next_does_not_cancel_the_source_which_other_readers_still_read() {
    let source = Promise::new();
    let reader = source.clone();
    let next = chain_future(source.clone())
        .callback(|v: u8| -> Result<u8, Error> { panic!("skipped: next is cancelled ({v})") })
        .start();
    assert!(next.cancel());
    assert!(!source.is_done(), "the source is not cancelled");
    source.set_result(3).unwrap();
    assert_eq!(block(reader).unwrap(), 3);
    assert!(next.is_cancelled());
}

#[test]
fn a_chain_of_values_that_are_neither_clone_nor_sync_moves_them_through() {
    type Out = Result<Vec<u8>, std::io::Error>;
    let source = Promise::<Out>::new();
    let setter = source.setter();
    let next = chain_future(source)
        .callback(|r: Out| Ok(r.map(|v| v.len())))
        .start();
    setter.set_result(Ok(vec![1, 2, 3])).unwrap();
    assert_eq!(block(next).unwrap().unwrap(), 3);
}

#[test]
fn a_chain_whose_source_is_dropped_unsettled_fails_instead_of_hanging() {
    let source = Promise::<u8>::new();
    let setter = source.setter();
    let next = chain_future(source).callback(|v: u8| Ok(v + 1)).start();
    assert!(!next.is_done());
    drop(setter);
    assert_eq!(block(next).unwrap_err().kind(), ErrorKind::InvalidState);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_on_a_given_next_keeps_its_own_cancel_hook() {
    // next is a task's promise: cancelling it must still abort the task, though the
    // chain's timer hooks onto the same promise.
    struct SetOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let aborted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let guard = SetOnDrop(aborted.clone());
    let lp = EventLoop::new().unwrap();
    let (started, running) = std::sync::mpsc::channel();
    let task = lp.spawn(async move {
        let _guard = guard;
        started.send(()).unwrap();
        std::future::pending::<u8>().await
    });
    // The task is running, so its abort hook is on the promise before the chain's.
    running.recv_timeout(Duration::from_secs(5)).unwrap();
    let source = Promise::<u8>::new();
    let next = chain_future(source.clone())
        .next(task.clone())
        .timeout(Duration::from_secs(60))
        .start();
    assert!(next.cancel());
    for _ in 0..500 {
        if aborted.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        aborted.load(std::sync::atomic::Ordering::SeqCst),
        "the task was aborted"
    );
}

// Mutation testing (TESTING.md): a chain reuses the allocation of a done source it
// holds the only handle of. These rules were left unchecked by surviving mutants.

#[tokio::test]
async fn a_chain_on_a_promise_whose_value_was_awaited_through_mut_fails_with_taken() {
    let mut p = Promise::resolved(String::from("moved"));
    assert_eq!((&mut p).await.unwrap(), "moved");
    let next = chain_future(p).callback(|s: String| Ok(s.len())).start();
    let err = next.wait_timeout(WAIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Taken);
}

#[test]
fn a_chain_on_a_pending_promise_nobody_can_settle_never_runs_its_callback() {
    // The chain holds the only handle: the source can never be settled.
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = ran.clone();
    let next = chain_future(Promise::<String>::new())
        .callback(move |s: String| {
            r.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(s.len())
        })
        .start();
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        next.try_result().is_err(),
        "no value out of a source never settled"
    );
}

#[test]
fn a_chain_never_reuses_a_source_a_weak_handle_can_still_reach() {
    let p = Promise::resolved(String::from("weakly held"));
    let weak = p.downgrade();
    let next = chain_future(p).callback(|s: String| Ok(s.len())).start();
    assert_eq!(next.wait_timeout(WAIT).unwrap(), 11);
    // The source is gone with its last reader: the weak handle upgrades to nothing,
    // never to the chain's next promise.
    assert!(weak.upgrade().is_none());
    assert!(weak.setter().is_none());
}
