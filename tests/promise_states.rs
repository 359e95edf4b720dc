//! One state machine, forward only, that every view agrees with; awaiting any type,
//! without `Clone`; shared reads of `Clone` values; and asyncio's pieces a port needs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use pulsar_async::{
    multi_async, run_in_loop, try_run_in_loop, Error, ErrorKind, EventLoop, Promise,
};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Every view of a promise, as one tuple, for comparing.
fn views<T: Clone + std::fmt::Debug + Sync>(p: &Promise<T>) -> (bool, bool, String, String) {
    let done = p.is_done();
    let cancelled = p.is_cancelled();
    let tried = format!("{:?}", p.try_result().map_err(|e| e.kind()));
    let peeked = format!(
        "{:?}",
        p.peek()
            .map(|r| r.as_ref().map(|v| format!("{v:?}")).map_err(|e| e.kind()))
    );
    (done, cancelled, tried, peeked)
}

/// What a done-callback added now sees.
fn callback_sees<T: Send + Sync + Clone + 'static>(p: &Promise<T>) -> Result<T, ErrorKind> {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    p.add_done_callback(move |r| *s.lock().unwrap() = Some(r.clone().map_err(|e| e.kind())));
    let seen = seen.lock().unwrap().take();
    seen.expect("a callback added to a done promise runs at once")
}

// ---------------------------------------------------------------------------------
// Defect 1: once settled, settled from every view for ever.

#[test]
fn a_settled_promise_refuses_a_second_outcome_and_cancel_from_every_handle() {
    let p = Promise::new();
    let q = p.clone();
    let setter = p.setter();
    p.set_result(1).unwrap();
    assert_eq!(q.set_result(2).unwrap_err().into_inner().unwrap(), 2);
    assert!(setter.set_result(3).is_err());
    assert!(!q.cancel() && !setter.cancel() && !p.cancel_with("late"));
    assert_eq!(p.try_result().unwrap(), 1);
    assert_eq!(q.try_result().unwrap(), 1);
    assert!(!p.is_cancelled());
}

#[test]
fn a_cancelled_promise_stays_cancelled_for_every_view() {
    let p = Promise::<u8>::new();
    assert!(p.cancel());
    assert!(p.is_done() && p.is_cancelled());
    assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(
        p.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    assert!(p.set_result(1).is_err());
    assert!(!p.cancel());
    assert_eq!(callback_sees(&p), Err(ErrorKind::Cancelled));
}

#[test]
fn select_through_mut_on_a_shared_promise_never_moves_the_value_out() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut p = Promise::new();
        drop(p.clone()); // once shared: the value is Clone and may be shared again
        let setter = p.setter();
        tokio::spawn(async move { setter.set_result(String::from("v")).unwrap() });
        tokio::select! {
            r = &mut p => assert_eq!(r.unwrap(), "v"),
            _ = tokio::time::sleep(Duration::from_secs(5)) => panic!("timed out"),
        }
        // Still settled, still holding its value, from every view.
        assert!(p.is_done() && !p.cancel());
        assert!(p.set_result(String::from("second")).is_err());
        assert_eq!(p.try_result().unwrap(), "v");
        assert_eq!((&mut p).await.unwrap(), "v");
        assert_eq!(callback_sees(&p).unwrap(), "v");
    });
}

#[test]
fn a_value_moved_out_through_mut_is_the_taken_state_for_every_view() {
    // The one residual case: `&mut p` completes on the last handle of a promise that
    // was never cloned, so the value (which may not be `Clone`) is moved out.
    let mut p = Promise::new();
    p.set_result(vec![1u8]).unwrap();
    assert_eq!((&mut p).now_or_never().unwrap().unwrap(), [1]);
    assert!(p.is_done(), "taken is still done");
    assert!(!p.is_cancelled());
    assert!(!p.cancel(), "cancel on a taken promise is false");
    assert!(p.set_result(vec![2]).is_err(), "no second outcome");
    assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::Taken);
    assert_eq!(p.wait_timeout(LIMIT).unwrap_err().kind(), ErrorKind::Taken);
    let peeked = p.peek().unwrap().as_ref().unwrap_err().kind();
    assert_eq!(peeked, ErrorKind::Taken);
    assert_eq!(
        (&mut p).now_or_never().unwrap().unwrap_err().kind(),
        ErrorKind::Taken
    );
    assert!(p.error().unwrap().is_none(), "it succeeded: no exception");
    assert_eq!(format!("{p:?}"), "Promise { state: \"taken\" }");
    assert_eq!(
        callback_sees(&p),
        Err(ErrorKind::Taken),
        "a later callback runs"
    );
}

#[test]
fn a_multi_future_polled_through_mut_stays_settled_for_every_view() {
    let input = Promise::new();
    let mut all = multi_async(vec![input.clone()]);
    input.set_result(4u8).unwrap();
    assert_eq!((&mut all).now_or_never().unwrap().unwrap(), [4]);
    assert!(all.is_done() && !all.cancel());
    assert_eq!(all.try_result().unwrap_err().kind(), ErrorKind::Taken);
    let promise = all.into_promise();
    assert!(promise.set_result(vec![5]).is_err(), "no second outcome");
    assert_eq!(callback_sees(&promise), Err(ErrorKind::Taken));
}

#[test]
fn views_agree_at_every_step_of_the_life_of_a_promise() {
    let p = Promise::<u32>::new();
    assert_eq!(
        views(&p),
        (false, false, "Err(InvalidState)".into(), "None".into())
    );
    p.set_result(5).unwrap();
    assert_eq!(
        views(&p),
        (true, false, "Ok(5)".into(), "Some(Ok(\"5\"))".into())
    );
    let c = Promise::<u32>::new();
    c.cancel();
    assert_eq!(
        views(&c),
        (
            true,
            true,
            "Err(Cancelled)".into(),
            "Some(Err(Cancelled))".into()
        )
    );
}

#[test]
fn settle_racing_from_many_threads_gives_one_outcome_that_every_clone_reads() {
    for _ in 0..200 {
        let p = Promise::<usize>::new();
        let winners: Vec<_> = (0..4)
            .map(|i| {
                let p = p.clone();
                std::thread::spawn(move || {
                    if i == 3 {
                        p.cancel()
                    } else {
                        p.set_result(i).is_ok()
                    }
                })
            })
            .collect();
        let won: usize = winners
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(won, 1);
        let first = p.try_result().map_err(|e| e.kind());
        for _ in 0..3 {
            assert_eq!(p.clone().try_result().map_err(|e| e.kind()), first);
        }
    }
}

// ---------------------------------------------------------------------------------
// Awaiting any type: one reader moves, many readers clone.

#[test]
fn a_promise_of_a_value_that_is_not_clone_is_awaited_and_moved_out() {
    let p = Promise::<Result<Vec<u8>, std::io::Error>>::new();
    let setter = p.setter();
    std::thread::spawn(move || setter.set_result(Ok(vec![1, 2])).unwrap());
    let got = futures::executor::block_on(p).unwrap().unwrap();
    assert_eq!(got, [1, 2]);
}

#[test]
fn a_run_in_loop_result_that_is_not_clone_is_awaited_on_another_executor() {
    let lp = EventLoop::new().unwrap();
    let p = run_in_loop(&lp, || std::fs::read("/definitely/not/here"));
    let err = futures::executor::block_on(p).unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let q = try_run_in_loop(&lp, || std::fs::read("/definitely/not/here"));
    let err = futures::executor::block_on(q).unwrap_err();
    assert!(err.downcast_ref::<std::io::Error>().is_some());
}

#[test]
fn block_on_tokio_spawn_and_join_all_keep_working_with_promises() {
    let p = Promise::new();
    p.set_result(1u32).unwrap();
    assert_eq!(futures::executor::block_on(p.clone()).unwrap(), 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let q = p.clone();
    let spawned = rt.block_on(async move { tokio::spawn(q).await });
    assert_eq!(spawned.unwrap().unwrap(), 1);
    let many: Vec<Promise<u32>> = (0..5).map(Promise::resolved).collect();
    let all = futures::executor::block_on(futures::future::join_all(many));
    let all: Vec<u32> = all.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, [0, 1, 2, 3, 4]);
    assert_eq!(
        p.try_result().unwrap(),
        1,
        "clones awaited elsewhere left it"
    );
}

#[test]
fn every_clone_reads_the_same_outcome_and_the_value_stays_while_clones_live() {
    let p = Promise::new();
    let (a, b) = (p.clone(), p.clone());
    p.set_result(String::from("shared")).unwrap();
    assert_eq!(futures::executor::block_on(a).unwrap(), "shared");
    assert_eq!(b.wait_timeout(LIMIT).unwrap(), "shared");
    assert_eq!(futures::executor::block_on(b).unwrap(), "shared");
    assert_eq!(p.try_result().unwrap(), "shared");
}

#[test]
fn the_last_reader_waits_for_callbacks_still_to_run_before_moving_the_value_out() {
    let lp = EventLoop::new().unwrap();
    let p = lp.create_promise::<Vec<u8>>();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    // Keep the loop busy so that the callbacks' runner waits there.
    let (release, busy) = std::sync::mpsc::channel::<()>();
    lp.call_soon_threadsafe(move || {
        busy.recv_timeout(std::time::Duration::from_secs(20))
            .unwrap()
    })
    .unwrap();
    p.add_done_callback(move |r| *s.lock().unwrap() = Some(r.as_ref().unwrap().clone()));
    p.set_result(vec![9]).unwrap();
    let mut p = p;
    assert!(
        (&mut p).now_or_never().is_none(),
        "held back while the callback is queued"
    );
    release.send(()).unwrap();
    assert_eq!(futures::executor::block_on(p).unwrap(), [9]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.as_deref(),
        Some(&[9u8][..]),
        "the callback read it first"
    );
}

#[test]
fn take_moves_the_value_out_of_the_only_reader_and_refuses_while_others_read() {
    struct NotClone(u8);
    let p = Promise::new();
    p.set_result(NotClone(1)).ok().unwrap();
    assert_eq!(futures::executor::block_on(p.take()).unwrap().0, 1);

    let q = Promise::new();
    let other = q.clone();
    q.set_result(vec![2u8]).unwrap();
    let refused = q.take_blocking().unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::InvalidState,
        "another reader lives"
    );
    assert_eq!(
        other.try_take().ok().unwrap().unwrap(),
        [2],
        "the only reader"
    );
}

#[test]
fn a_blocking_take_of_a_value_that_is_not_clone_waits_for_another_thread() {
    struct NotClone(u8);
    let p = Promise::new();
    let setter = p.setter();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        setter.set_result(NotClone(5)).ok().unwrap();
    });
    assert_eq!(p.take_blocking().unwrap().0, 5);
}

#[test]
fn take_timeout_gives_up_leaving_the_promise_pending_then_reads_it() {
    let mut p = Promise::<u8>::new();
    let err = p.take_timeout(Duration::from_millis(5)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(!p.is_done());
    p.set_result(3).unwrap();
    assert_eq!(p.take_timeout(Duration::from_millis(5)).unwrap(), 3);
}

#[test]
fn try_take_gives_the_handle_back_while_pending() {
    let p = Promise::<u8>::new();
    let setter = p.setter();
    let p = p.try_take().unwrap_err();
    setter.set_error(Error::from(ErrorKind::Timeout)).unwrap();
    let err = p.try_take().ok().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[test]
fn a_setter_is_not_a_reader_so_the_reader_moves_the_value_out() {
    struct NotClone(u8);
    let p = Promise::new();
    let setter = p.setter();
    let keep = setter.clone();
    setter.set_result(NotClone(8)).ok().unwrap();
    assert!(keep.is_done());
    let mut p = p;
    assert_eq!((&mut p).now_or_never().unwrap().unwrap().0, 8);
    assert_eq!(format!("{keep:?}"), "Setter { state: \"taken\" }");
}

// ---------------------------------------------------------------------------------
// Defect 6: asyncio's missing pieces.

#[test]
fn cancel_on_a_failed_promise_is_false_and_changes_nothing() {
    let p = Promise::<u8>::failed(Error::user("boom"));
    assert!(!p.cancel());
    assert_eq!(format!("{p:?}"), "Promise { state: \"failed\" }");
    let err = p.try_result().unwrap_err();
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "boom");
}

#[test]
fn cancel_with_a_message_keeps_the_message_in_the_error() {
    let p = Promise::<u8>::new();
    assert!(p.cancel_with("shutting down"));
    let err = p.try_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(err.message(), Some("shutting down"));
    assert!(!p.cancel_with("again"));
}

#[test]
fn the_error_of_a_promise_of_a_value_that_is_not_clone_is_readable() {
    struct NotClone;
    let p = Promise::<NotClone>::new();
    let pending = p.error().unwrap_err().kind();
    assert_eq!(pending, ErrorKind::InvalidState);
    p.set_error(Error::user("bad")).ok().unwrap();
    let err = p.error().unwrap().unwrap();
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "bad");
    let ok = Promise::new();
    ok.set_result(NotClone).ok().unwrap();
    assert!(ok.error().unwrap().is_none());
    let c = Promise::<NotClone>::new();
    c.cancel();
    assert!(c.error().unwrap().unwrap().is_cancelled());
}

#[test]
fn a_promise_tells_the_loop_it_is_bound_to() {
    let lp = EventLoop::new().unwrap();
    assert_eq!(lp.create_promise::<u8>().get_loop(), Some(lp.clone()));
    assert_eq!(run_in_loop(&lp, || 1).get_loop(), Some(lp.clone()));
    assert_eq!(lp.spawn(async { 1 }).get_loop(), Some(lp.clone()));
    assert!(Promise::<u8>::new().get_loop().is_none());
}

#[test]
fn remove_done_callback_returns_whether_it_removed_one() {
    let p = Promise::<u8>::new();
    let key = p.add_done_callback(|_| panic!("removed callbacks never run"));
    assert!(p.remove_done_callback(key));
    assert!(!p.remove_done_callback(key));
    p.set_result(1).unwrap();
}

/// A `Send`, `!Sync` value whose `Clone` counts the clones of it that overlap in time
/// (it spins a little inside, to widen the window).
struct CountsOverlaps {
    inside: Arc<std::sync::atomic::AtomicBool>,
    overlaps: Arc<std::sync::atomic::AtomicUsize>,
    _not_sync: std::cell::Cell<()>,
}

impl Clone for CountsOverlaps {
    fn clone(&self) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        if self.inside.swap(true, SeqCst) {
            self.overlaps.fetch_add(1, SeqCst);
        }
        for _ in 0..200 {
            std::hint::spin_loop();
        }
        self.inside.store(false, SeqCst);
        CountsOverlaps {
            inside: self.inside.clone(),
            overlaps: self.overlaps.clone(),
            _not_sync: std::cell::Cell::new(()),
        }
    }
}

#[test]
fn a_value_that_is_send_but_not_sync_is_cloned_by_one_reader_at_a_time() {
    // A `Promise<T>` asks only `T: Send`, so the value is never touched by two
    // threads at once: readers on four threads clone it one after another.
    let overlaps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let p = Promise::resolved(CountsOverlaps {
        inside: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        overlaps: overlaps.clone(),
        _not_sync: std::cell::Cell::new(()),
    });
    let start = Arc::new(std::sync::Barrier::new(4));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (p, start) = (p.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..5_000 {
                    drop(p.try_result().ok().unwrap());
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(overlaps.load(std::sync::atomic::Ordering::SeqCst), 0);
}
