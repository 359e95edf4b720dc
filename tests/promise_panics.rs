//! Every promise settles (a value, an error, `Panicked` or
//! `LoopClosed`) whatever user code panics in: the call, `Clone`, `Drop`, a panic
//! payload's `Drop`; and a loop survives all of them.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use pulsar_async::{
    chain_future, multi_async, multi_async_settled, run_in_loop, Error, ErrorKind, EventLoop,
    Promise,
};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A value whose `Clone` panics.
#[derive(Debug)]
struct BadClone(u8);
impl Clone for BadClone {
    fn clone(&self) -> Self {
        panic!("clone boom")
    }
}

/// A map key whose `Clone` panics.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct BadKey(u8);
impl Clone for BadKey {
    fn clone(&self) -> Self {
        panic!("key clone boom")
    }
}

/// A panic payload whose own `Drop` panics.
struct BadPayload;
impl Drop for BadPayload {
    fn drop(&mut self) {
        panic!("payload drop boom")
    }
}

/// A value whose `Drop` panics (counted).
struct BadDrop(Arc<AtomicUsize>);
impl Drop for BadDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("value drop boom")
    }
}

#[test]
fn a_panicking_clone_gives_that_reader_panicked_and_leaves_the_promise_intact() {
    let p = Promise::new();
    let q = p.clone();
    p.set_result(BadClone(1)).unwrap();
    assert_eq!(q.try_result().unwrap_err().kind(), ErrorKind::Panicked);
    let awaited = futures::executor::block_on(q).unwrap_err();
    assert_eq!(awaited.kind(), ErrorKind::Panicked);
    assert!(p.is_done() && !p.is_cancelled());
    // The last reader moves the value out: no clone needed.
    assert_eq!(p.take_blocking().unwrap().0, 1);
}

#[test]
fn a_chain_over_a_value_whose_clone_panics_settles_its_next_with_panicked() {
    let p = Promise::new();
    let keep = p.clone(); // a second reader: the chain's read must clone
    let next = chain_future(p).callback(|v: BadClone| Ok(v.0)).start();
    keep.set_result(BadClone(2)).unwrap();
    let err = next.try_take().ok().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn a_gather_over_a_value_whose_clone_panics_settles_with_panicked() {
    let p = Promise::new();
    let keep = p.clone();
    let all = multi_async(vec![p]);
    keep.set_result(BadClone(3)).unwrap();
    let err = all.into_promise().try_take().ok().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn a_gather_whose_key_clone_panics_on_a_failure_settles_with_panicked() {
    // Pending: the key is cloned when the input fails, to list the failure.
    let failing = Promise::<u8>::new();
    let all = multi_async_settled(BTreeMap::from([(BadKey(1), failing.clone())]));
    failing.set_error(Error::user("no")).unwrap();
    let err = all.into_promise().try_take().ok().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    // Ready: the same, when the gather starts.
    let ready = BTreeMap::from([(BadKey(2), Promise::<u8>::failed(Error::user("no")))]);
    let err = multi_async(ready).into_promise().try_take().ok().unwrap();
    assert_eq!(err.unwrap_err().kind(), ErrorKind::Panicked);
}

#[test]
fn a_call_that_panics_with_a_payload_whose_drop_panics_settles_with_panicked() {
    let lp = EventLoop::new().unwrap();
    let p = run_in_loop(&lp, || -> u8 { std::panic::panic_any(BadPayload) });
    assert_eq!(
        p.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Panicked
    );
    async fn task_that_panics() -> u8 {
        std::panic::panic_any(BadPayload)
    }
    let task = lp.spawn(task_that_panics());
    assert_eq!(
        task.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Panicked
    );
    // The loop survived both.
    assert_eq!(run_in_loop(&lp, || 1u8).wait_timeout(LIMIT).unwrap(), 1);
}

#[test]
fn a_job_that_panics_with_a_payload_whose_drop_panics_leaves_the_loop_serving() {
    let lp = EventLoop::new().unwrap();
    lp.call_soon_threadsafe(|| std::panic::panic_any(BadPayload))
        .unwrap();
    assert_eq!(run_in_loop(&lp, || 2u8).wait_timeout(LIMIT).unwrap(), 2);
    assert!(!lp.is_closed());
}

#[test]
fn a_chain_callback_that_panics_with_a_payload_whose_drop_panics_fails_next() {
    let next = chain_future(Promise::resolved(1u8))
        .callback(|_: u8| -> Result<u8, Error> { std::panic::panic_any(BadPayload) })
        .start();
    let err = next.try_take().ok().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
}

#[test]
fn a_callback_panicking_with_a_payload_whose_drop_panics_does_not_stop_the_others() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let p = Promise::new();
    let s = seen.clone();
    p.add_done_callback(|_: &Result<u8, _>| std::panic::panic_any(BadPayload));
    p.add_done_callback(move |_| s.lock().unwrap().push(2));
    p.set_result(0).unwrap();
    assert_eq!(*seen.lock().unwrap(), [2]);
}

#[test]
fn a_value_whose_drop_panics_is_dropped_once_without_unwinding_out_of_the_promise() {
    let drops = Arc::new(AtomicUsize::new(0));
    let p = Promise::new();
    assert!(p.set_result(BadDrop(drops.clone())).is_ok());
    drop(p); // the last handle: the core drops the value inside a guard
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn an_abandoned_call_holding_a_value_whose_drop_panics_fails_its_promise_with_loop_closed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let lp = EventLoop::new().unwrap();
    common::hold_busy(&lp, Duration::from_millis(20)); // the call stays queued
    let held = BadDrop(drops.clone());
    let p = run_in_loop(&lp, move || {
        let _held = &held;
        1u8
    });
    lp.close(); // drops the queued call: its closure's Drop panics, inside a guard
    assert_eq!(
        p.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_consumer_that_panics_does_not_break_the_work_list() {
    // A chain whose callback panics, on a pending source: the panic is caught where
    // the settle runs it, and the next link still settles.
    let source = Promise::<u8>::new();
    let setter = source.setter();
    let next = chain_future(source)
        .callback(|_: u8| -> Result<u8, Error> { panic!("in the work list") })
        .start();
    let after = chain_future(next)
        .callback(|_: u8| Ok(false))
        .errback(|e: Error| Ok(e.kind() == ErrorKind::Panicked))
        .start();
    setter.set_result(1).unwrap();
    assert!(after.now_or_never().unwrap().unwrap());
}
