//! The rules of asyncio's future (SPEC Part 1), one test each, for `Promise`.

mod common;

use pulsar_async::{Error, ErrorKind, EventLoop, Promise};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[test]
fn a_new_promise_is_pending_and_its_result_is_an_invalid_state_error() {
    let p = Promise::<u8>::new();
    assert!(!p.is_done());
    assert!(p.peek().is_none());
    assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::InvalidState);
}

#[test]
fn setting_a_result_twice_is_an_invalid_state_error_and_keeps_the_first() {
    let p = Promise::new();
    p.set_result(1).unwrap();
    let err = p.set_result(2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(err.into_inner().unwrap(), 2);
    assert_eq!(p.try_result().unwrap(), 1);
}

#[test]
fn setting_an_error_after_a_result_is_an_invalid_state_error() {
    let p = Promise::new();
    p.set_result("ok").unwrap();
    assert!(p.set_error(Error::user("late")).is_err());
    assert_eq!(p.try_result().unwrap(), "ok");
}

#[test]
fn setting_a_cancelled_promise_is_an_invalid_state_error() {
    let p = Promise::new();
    assert!(p.cancel());
    let err = p.set_result(5).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(p.is_cancelled());
}

#[test]
fn cancel_on_a_done_promise_returns_false_and_changes_nothing() {
    let p = Promise::new();
    p.set_result(3).unwrap();
    assert!(!p.cancel());
    assert_eq!(p.try_result().unwrap(), 3);
}

#[test]
fn cancel_twice_returns_true_then_false() {
    let p = Promise::<()>::new();
    assert!(p.cancel());
    assert!(!p.cancel());
}

#[test]
fn the_result_of_a_cancelled_promise_is_a_cancelled_error() {
    let p = Promise::<u8>::new();
    p.cancel();
    let err = p.try_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(err.is_cancelled());
}

#[test]
fn every_clone_reads_the_same_outcome() {
    let p = Promise::new();
    let clones: Vec<_> = (0..4).map(|_| p.clone()).collect();
    clones[2].set_result(String::from("shared")).unwrap();
    for c in clones.iter().chain([&p]) {
        assert_eq!(c.try_result().unwrap(), "shared");
    }
}

#[test]
fn every_clone_reads_the_same_error() {
    let p = Promise::<u8>::new();
    let c = p.clone();
    p.set_error(Error::user("bad")).unwrap();
    assert_eq!(
        std::error::Error::source(&c.try_result().unwrap_err())
            .unwrap()
            .to_string(),
        "bad"
    );
    assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::User);
}

#[test]
fn a_promise_set_on_one_thread_is_awaited_on_another_under_the_futures_executor() {
    let p = Promise::new();
    let setter = p.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(2));
        setter.set_result(99u64).unwrap();
    });
    assert_eq!(
        common::block_within(Duration::from_secs(10), p).unwrap(),
        99
    );
    t.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clones_awaited_on_tokio_tasks_all_wake_with_the_value() {
    let p = Promise::new();
    let readers: Vec<_> = (0..16).map(|_| tokio::spawn(p.clone())).collect();
    tokio::task::yield_now().await;
    p.set_result(7u32).unwrap();
    for r in readers {
        assert_eq!(r.await.unwrap().unwrap(), 7);
    }
}

#[test]
fn awaiting_a_shared_failed_promise_gives_its_own_error() {
    let p = Promise::<u8>::new();
    let keep = p.clone();
    p.set_error(ErrorKind::Timeout.into()).unwrap();
    assert_eq!(
        futures::executor::block_on(p).unwrap_err().kind(),
        ErrorKind::Timeout
    );
    assert_eq!(
        futures::executor::block_on(keep).unwrap_err().kind(),
        ErrorKind::Timeout
    );
}

#[test]
fn awaiting_a_non_clone_value_works_through_take() {
    struct Token(u8);
    let p = Promise::new();
    p.set_result(Token(4)).unwrap();
    assert_eq!(futures::executor::block_on(p.take()).unwrap().0, 4);
}

#[test]
fn take_refuses_while_another_clone_could_still_read_the_outcome() {
    let p = Promise::new();
    let other = p.clone();
    p.set_result(vec![1]).unwrap();
    let err = futures::executor::block_on(p.take()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(other.try_result().unwrap(), vec![1]);
}

#[test]
fn done_callbacks_run_in_registration_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let p = Promise::new();
    for i in 0..5 {
        let order = order.clone();
        p.add_done_callback(move |r: &Result<u8, Error>| {
            order.lock().unwrap().push((i, *r.as_ref().unwrap()));
        });
    }
    p.set_result(1).unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        (0..5).map(|i| (i, 1)).collect::<Vec<_>>()
    );
}

#[test]
fn a_callback_added_to_a_done_promise_is_run_at_once() {
    let p = Promise::resolved(2u8);
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    p.add_done_callback(move |r| *s.lock().unwrap() = Some(*r.as_ref().unwrap()));
    assert_eq!(*seen.lock().unwrap(), Some(2));
}

#[test]
fn callbacks_see_cancellation_as_a_cancelled_error() {
    let p = Promise::<u8>::new();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    p.add_done_callback(move |r| *s.lock().unwrap() = Some(r.as_ref().unwrap_err().kind()));
    p.cancel();
    assert_eq!(*seen.lock().unwrap(), Some(ErrorKind::Cancelled));
}

#[test]
fn callbacks_of_a_loop_bound_promise_run_on_the_loop_thread_in_order() {
    let lp = EventLoop::builder().name("callbacks").spawn().unwrap();
    let p = lp.create_promise();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..3 {
        let tx = tx.clone();
        p.add_done_callback(move |_: &Result<(), Error>| {
            tx.send((i, thread::current().name().map(String::from)))
                .unwrap();
        });
    }
    p.set_result(()).unwrap();
    let got: Vec<_> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    for (i, (order, name)) in got.into_iter().enumerate() {
        assert_eq!(order, i);
        assert_eq!(name.as_deref(), Some("callbacks"));
    }
}

#[test]
fn a_callback_added_to_a_done_loop_bound_promise_is_scheduled_on_the_loop() {
    let lp = EventLoop::builder().name("late").spawn().unwrap();
    let p = lp.create_promise();
    p.set_result(1u8).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    p.add_done_callback(move |_| tx.send(thread::current().name().map(String::from)).unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap().as_deref(),
        Some("late")
    );
}

#[test]
fn a_panicking_callback_does_not_stop_the_next_one() {
    let p = Promise::new();
    let ran = Arc::new(Mutex::new(false));
    p.add_done_callback(|_: &Result<u8, Error>| panic!("callback bug"));
    let r = ran.clone();
    p.add_done_callback(move |_| *r.lock().unwrap() = true);
    p.set_result(0).unwrap();
    assert!(*ran.lock().unwrap());
}

#[test]
fn a_callback_may_read_its_own_promise_without_deadlocking() {
    let p = Promise::new();
    let me = p.clone();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    p.add_done_callback(move |_: &Result<u8, Error>| {
        *s.lock().unwrap() = Some(me.try_result().unwrap());
        assert!(me.set_result(2).is_err());
    });
    p.set_result(1).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(1));
}

#[test]
fn wait_blocks_a_plain_thread_until_another_thread_sets_the_value() {
    let p = Promise::new();
    let s = p.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        s.set_result("late").unwrap();
    });
    assert_eq!(p.wait_timeout(LIMIT).unwrap(), "late");
    t.join().unwrap();
}

#[test]
fn wait_timeout_gives_a_timeout_error_and_leaves_the_promise_pending() {
    let p = Promise::<u8>::new();
    let err = p.wait_timeout(Duration::from_millis(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(!p.is_done());
    p.set_result(1).unwrap();
    assert_eq!(p.wait_timeout(Duration::ZERO).unwrap(), 1);
}

#[test]
fn wait_on_a_cancelled_promise_returns_the_cancelled_error() {
    let p = Promise::<u8>::new();
    let c = p.clone();
    let t = thread::spawn(move || c.cancel());
    assert!(p.wait_timeout(LIMIT).unwrap_err().is_cancelled());
    assert!(t.join().unwrap());
}

#[test]
fn waiting_on_a_loop_bound_promise_from_the_loops_own_thread_is_an_error_not_a_hang() {
    let lp = EventLoop::new().unwrap();
    let inner = lp.clone();
    let outcome = pulsar_async::run_in_loop(&lp, move || {
        let never = inner.create_promise::<u8>();
        never.wait().unwrap_err().kind()
    });
    assert_eq!(
        outcome.wait_timeout(LIMIT).unwrap(),
        ErrorKind::WouldDeadlock
    );
}

#[test]
fn dropping_a_pending_awaiter_releases_its_waker_slot() {
    /// A waker that counts its wakes; its `Arc`'s strong count tells how many clones
    /// of it are alive, so how many the promise holds.
    struct Counting(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let counting = Arc::new(Counting(Default::default()));
    let waker = std::task::Waker::from(counting.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let held_by_the_promise = || Arc::strong_count(&counting) - 2; // ours and `waker`
    let p = Promise::<u8>::new();
    for _ in 0..100 {
        let mut reader = p.clone();
        assert!(std::pin::Pin::new(&mut reader).poll(&mut cx).is_pending());
        assert_eq!(
            held_by_the_promise(),
            1,
            "a pending reader's slot holds its waker"
        );
        drop(reader);
        assert_eq!(
            held_by_the_promise(),
            0,
            "a dropped reader's slot lets it go"
        );
    }
    // A later reader still works and the setter wakes it...
    let reader = p.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || tx.send(futures::executor::block_on(reader)));
    p.set_result(5).unwrap();
    let wait = Duration::from_secs(5);
    assert_eq!(rx.recv_timeout(wait).unwrap().unwrap(), 5);
    // ...while none of the 100 readers that went away is woken.
    assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 0);
}

use std::future::Future as _;

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn a_setter_cloned_after_every_reader_is_gone_still_settles() {
    // Fire and forget: the readers went away; the setters still hold the promise.
    let p = Promise::<u8>::new();
    let setter = p.setter();
    drop(p);
    let other = setter.clone();
    assert!(other.set_result(1).is_ok());
    assert!(setter.set_result(2).is_err(), "settled once");
}

/// A waker that counts its wakes.
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn every_handle_awaiting_a_promise_is_woken_by_its_settle() {
    let p = Promise::<u8>::new();
    let mut handles: Vec<Promise<u8>> = (0..3).map(|_| p.clone()).collect();
    let wakers: Vec<_> = (0..3)
        .map(|_| std::sync::Arc::new(CountWakes(std::sync::atomic::AtomicUsize::new(0))))
        .collect();
    for (h, w) in handles.iter_mut().zip(&wakers) {
        let waker = std::task::Waker::from(w.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::future::Future::poll(std::pin::Pin::new(h), &mut cx).is_pending());
    }
    p.set_result(1).unwrap();
    for w in &wakers {
        assert_eq!(
            w.0.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "each task woken once"
        );
    }
}
