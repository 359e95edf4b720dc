//! `LoopLocal`: state built, used and dropped on its loop's thread, reached from any
//! thread in the order calls were issued.

use pulsar_async::{run_in_loop, ErrorKind, EventLoop, LoopLocal};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::ThreadId;
use std::time::Duration;

mod loops;
use loops::Held;

const LIMIT: Duration = Duration::from_secs(10);

/// State that reports, when dropped, the thread it was dropped on.
struct Tracked {
    _not_send: Rc<()>,
    dropped: mpsc::Sender<ThreadId>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let _ = self.dropped.send(std::thread::current().id());
    }
}

fn tracked(
    lp: &EventLoop,
) -> (
    LoopLocal<Tracked>,
    mpsc::Receiver<ThreadId>,
    mpsc::Receiver<ThreadId>,
) {
    let (built_tx, built) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel();
    let local = LoopLocal::new(lp, move || {
        built_tx.send(std::thread::current().id()).unwrap();
        Tracked {
            _not_send: Rc::new(()),
            dropped: dropped_tx,
        }
    });
    (local, built, dropped)
}

#[test]
fn state_is_built_and_dropped_on_the_loops_thread_when_the_last_handle_goes() {
    let lp = EventLoop::new().unwrap();
    let (local, built, dropped) = tracked(&lp);
    assert_eq!(built.recv_timeout(LIMIT).unwrap(), lp.thread_id());
    let clone = local.clone();
    let other = std::thread::spawn(move || clone.call(|_| ()).wait_timeout(LIMIT));
    other.join().unwrap().unwrap();
    drop(local);
    assert_eq!(dropped.recv_timeout(LIMIT).unwrap(), lp.thread_id());
    // The loop goes on.
    assert_eq!(run_in_loop(&lp, || 1).wait_timeout(LIMIT).unwrap(), 1);
}

#[test]
fn state_is_dropped_on_the_loops_thread_when_the_loop_closes() {
    let lp = EventLoop::new().unwrap();
    let (local, built, dropped) = tracked(&lp);
    let loop_thread = built.recv_timeout(LIMIT).unwrap();
    lp.close();
    assert_eq!(
        dropped.try_recv().unwrap(),
        loop_thread,
        "dropped before close returned"
    );
    drop(local);
}

#[test]
fn the_last_handle_dropped_on_the_loop_releases_the_state_after_the_calls_queued_before_it() {
    let lp = EventLoop::new().unwrap();
    let local = lp.local(Vec::<u32>::new);
    let (seen_tx, seen) = mpsc::channel();
    // Calls queued from this thread, then the last handle dropped on the loop's
    // thread, inside a call, right after it queued one more: all find the state.
    let mut held = Held::new(lp.clone());
    let calls: Vec<_> = (0..10).map(|i| local.call(move |v| v.push(i))).collect();
    let last = local.clone();
    drop(local);
    drop(run_in_loop(&lp, move || {
        last.call(move |v| seen_tx.send(v.len()).unwrap());
        drop(last)
    }));
    held.release();
    for c in calls {
        c.wait_timeout(LIMIT).unwrap();
    }
    assert_eq!(seen.recv_timeout(LIMIT).unwrap(), 10);
}

#[test]
fn calls_from_one_thread_run_in_the_order_issued_call_and_call_async_alike() {
    let lp = EventLoop::new().unwrap();
    let log = lp.local(Vec::<(usize, u32)>::new);
    let callers: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut last = None;
                for i in 0..500u32 {
                    last = Some(if i % 3 == 0 {
                        log.call_async(move |s| async move { s.borrow_mut().push((t, i)) })
                    } else {
                        log.call(move |s| s.push((t, i)))
                    });
                }
                last.unwrap().wait_timeout(LIMIT).unwrap();
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    let log = log.call(|s| s.clone()).wait_timeout(LIMIT).unwrap();
    assert_eq!(log.len(), 2000);
    for t in 0..4 {
        let mine: Vec<u32> = log
            .iter()
            .filter(|(c, _)| *c == t)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(mine, (0..500).collect::<Vec<_>>(), "caller {t}");
    }
}

#[test]
fn a_panic_inside_call_fails_that_call_and_leaves_the_state_as_the_call_left_it() {
    let lp = EventLoop::new().unwrap();
    let local = lp.local(Vec::<u32>::new);
    local.call(|v| v.push(1));
    let boom = local.call(|v| {
        v.push(2);
        panic!("half done")
    });
    assert_eq!(
        boom.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Panicked
    );
    // No rollback: the push before the panic stays; the next call works.
    let now = local.call(|v| {
        v.push(3);
        v.clone()
    });
    assert_eq!(now.wait_timeout(LIMIT).unwrap(), vec![1, 2, 3]);
}

#[test]
fn a_panicking_init_fails_every_call_with_its_error() {
    let lp = EventLoop::new().unwrap();
    let local: LoopLocal<u32> = lp.local(|| panic!("no state"));
    for _ in 0..2 {
        let err = local.call(|n| *n).wait_timeout(LIMIT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Panicked);
    }
    assert_eq!(run_in_loop(&lp, || 1).wait_timeout(LIMIT).unwrap(), 1);
}

#[test]
fn calls_after_the_loop_closed_fail_with_loop_closed_at_once() {
    let lp = EventLoop::new().unwrap();
    let local = lp.local(|| 0u8);
    lp.close();
    let call = local.call(|n| *n);
    assert_eq!(call.try_result().unwrap_err().kind(), ErrorKind::LoopClosed);
    let later = local.call_async(|s| async move { *s.borrow() });
    assert_eq!(
        later.try_result().unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    // A handle made on a closed loop: the same.
    let made = lp.local(|| 1u8);
    assert_eq!(
        made.call(|n| *n).try_result().unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
}

#[test]
fn call_async_futures_interleave_at_their_awaits_and_see_each_others_changes() {
    let lp = EventLoop::new().unwrap();
    let log = lp.local(Vec::<&str>::new);
    let (go_tx, go) = tokio::sync::oneshot::channel::<()>();
    let first = log.call_async(|s| async move {
        s.borrow_mut().push("a1");
        go.await.unwrap();
        s.borrow_mut().push("a2");
        s.borrow().clone()
    });
    let second = log.call_async(|s| async move {
        s.borrow_mut().push("b1");
        go_tx.send(()).unwrap();
        tokio::task::yield_now().await;
        s.borrow_mut().push("b2");
    });
    second.wait_timeout(LIMIT).unwrap();
    let seen = first.wait_timeout(LIMIT).unwrap();
    assert_eq!(&seen[..2], ["a1", "b1"]);
    assert!(seen.contains(&"a2"));
}

#[test]
fn a_borrow_held_across_an_await_makes_a_call_fail_with_invalid_state_not_panic() {
    let lp = EventLoop::new().unwrap();
    let local = lp.local(|| 0u32);
    let (release_tx, release) = tokio::sync::oneshot::channel::<()>();
    #[allow(clippy::await_holding_refcell_ref)]
    let holder = local.call_async(|s| async move {
        let mut held = s.borrow_mut();
        release.await.unwrap();
        *held += 1;
    });
    let blocked = local.call(|n| *n);
    assert_eq!(
        blocked.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    release_tx.send(()).unwrap();
    holder.wait_timeout(LIMIT).unwrap();
    assert_eq!(local.call(|n| *n).wait_timeout(LIMIT).unwrap(), 1);
}

#[test]
fn with_reaches_the_state_at_once_on_the_loops_thread_and_is_refused_elsewhere() {
    let lp = EventLoop::new().unwrap();
    let local = lp.local(|| Rc::new(RefCell::new(5u32)));
    let inside = local.clone();
    let read = run_in_loop(&lp, move || inside.with(|s| *s.borrow()).unwrap());
    assert_eq!(read.wait_timeout(LIMIT).unwrap(), 5);
    assert_eq!(
        local.with(|_| ()).unwrap_err().kind(),
        ErrorKind::WrongThread
    );
    // Inside a call on the same state, `with` finds it borrowed.
    let nested = local.clone();
    let again = local.call(move |_| nested.with(|_| ()).unwrap_err().kind());
    assert_eq!(again.wait_timeout(LIMIT).unwrap(), ErrorKind::InvalidState);
}

#[test]
fn state_made_on_a_caller_driven_loops_thread_is_built_at_once() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let local = lp.local(|| vec![1, 2, 3]);
    assert_eq!(local.with(|v| v.len()).unwrap(), 3);
    let sum = local.call(|v| v.iter().sum::<i32>());
    assert_eq!(lp.run_until_complete(sum).unwrap().unwrap(), 6);
}

#[test]
fn state_used_from_tokio_tasks_on_another_runtime() {
    let lp = EventLoop::new().unwrap();
    let local = lp.local(|| 0u64);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let total = rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let local = local.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        local.call(|n| *n += 1).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        local.call(|n| *n).await.unwrap()
    });
    assert_eq!(total, 800);
}

#[test]
fn the_handle_is_send_and_sync_whatever_the_state_and_a_local_ref_is_not_send() {
    fn send_sync<T: Send + Sync + Clone + Unpin>() {}
    send_sync::<LoopLocal<Rc<RefCell<u8>>>>();
    send_sync::<pulsar_async::LoopPool>();
    send_sync::<pulsar_async::pool::PoolLocal<Rc<u8>>>();
    send_sync::<pulsar_async::event_loop::LoopMetrics>();
    // `LocalRef` is `Send` exactly when a probe call is ambiguous; it must not be.
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    let _ = <pulsar_async::local::LocalRef<u8> as AmbiguousIfSend<_>>::some_item;
}
