//! The handles `call_soon` and `call_soon_threadsafe` return (asyncio's `Handle`):
//! cancel before the call starts, from any thread for the thread-safe one; dropping
//! the handle cancels nothing; a call cancelled before it ran is counted nowhere (not
//! served, not ran, not cut).

mod loops;

use loops::{Held, LIMIT};
use pulsar_async::event_loop::LocalCallHandle;
use pulsar_async::{run_in_loop, EventLoop};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_call_cancelled_from_another_thread_while_it_waits_never_runs_and_is_dropped_at_once() {
    // Hold the loop in a call, so that the next one waits in its queue.
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let (ran, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, d) = (ran.clone(), DropCount(dropped.clone()));
    let handle = lp
        .call_soon_threadsafe(move || {
            let _keep = &d;
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let cancelled =
        thread::spawn(move || (handle.cancel(), handle.cancel(), handle.is_cancelled()))
            .join()
            .unwrap();
    assert_eq!(cancelled, (true, false, true));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the closure went with the cancel"
    );
    held.release();
    assert!(held.busy.wait_timeout(LIMIT).unwrap());
    run_in_loop(&lp, || ()).wait_timeout(LIMIT).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn cancelling_one_of_several_waiting_calls_cancels_that_call_and_no_other() {
    // Hold the loop in a call, so that the next three wait in its queue.
    let mut held = Held::new(EventLoop::new().unwrap());
    let lp = held.lp.clone();
    let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let ran = ran.clone();
            lp.call_soon_threadsafe(move || ran.lock().unwrap().push(i))
                .unwrap()
        })
        .collect();
    assert!(handles[2].cancel(), "the last one waiting");
    assert!(handles[0].cancel(), "the first one waiting");
    assert!(!handles[2].cancel(), "only once");
    held.release();
    assert!(held.busy.wait_timeout(LIMIT).unwrap());
    run_in_loop(&lp, || ()).wait_timeout(LIMIT).unwrap();
    assert_eq!(*ran.lock().unwrap(), [1], "only the call not cancelled ran");
}

#[test]
fn a_call_queued_on_the_loops_own_thread_is_cancelled_there_in_the_same_iteration() {
    let lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (r, inner) = (ran.clone(), lp.clone());
    let cancelled = run_in_loop(&lp, move || {
        let h = inner
            .call_soon_threadsafe(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        h.cancel() && h.is_cancelled()
    });
    assert!(cancelled.wait_timeout(LIMIT).unwrap());
    run_in_loop(&lp, || ()).wait_timeout(LIMIT).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn cancelling_a_call_that_already_ran_does_nothing() {
    let lp = EventLoop::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let handle = lp
        .call_soon_threadsafe(move || tx.send(()).unwrap())
        .unwrap();
    rx.recv_timeout(LIMIT).unwrap();
    assert!(!handle.cancel());
    assert!(!handle.is_cancelled());
}

#[test]
fn dropping_a_handle_does_not_cancel_its_call() {
    let lp = EventLoop::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let handle = lp
        .call_soon_threadsafe(move || tx.send("ran").unwrap())
        .unwrap();
    let _ = handle;
    assert_eq!(rx.recv_timeout(LIMIT).unwrap(), "ran");
}

#[test]
fn a_call_soon_cancelled_before_its_iteration_never_runs() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let log = Rc::new(Cell::new(0));
    let (a, b) = (log.clone(), log.clone());
    let inner = lp.clone();
    // Cancelled by the call before it, in the same iteration.
    let second: Rc<Cell<Option<LocalCallHandle>>> = Rc::default();
    let s = second.clone();
    lp.call_soon(move || {
        a.set(a.get() + 1);
        let h = s.take().unwrap();
        assert!(h.cancel());
        drop(inner);
    })
    .unwrap();
    second.set(Some(lp.call_soon(move || b.set(b.get() + 10)).unwrap()));
    lp.run_until_complete(tokio::task::yield_now()).unwrap();
    assert_eq!(log.get(), 1);
}

#[test]
fn a_call_cancelled_before_it_ran_is_counted_nowhere() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let remote = lp.clone();
    // Queued from another thread (the injector), three calls and one cancelled; then
    // three more and one cancelled, which the close cuts.
    let handles = thread::spawn(move || {
        let first: Vec<_> = (0..3)
            .map(|_| remote.call_soon_threadsafe(|| ()).unwrap())
            .collect();
        assert!(first[1].cancel());
        first
    })
    .join()
    .unwrap();
    lp.run_until_complete(tokio::task::yield_now()).unwrap();
    assert_eq!(lp.metrics().calls_served, 2);
    let remote = lp.clone();
    thread::spawn(move || {
        let later: Vec<_> = (0..3)
            .map(|_| remote.call_soon_threadsafe(|| ()).unwrap())
            .collect();
        assert!(later[0].cancel());
    })
    .join()
    .unwrap();
    let local = lp.call_soon(|| ()).unwrap();
    assert!(local.cancel());
    lp.close();
    let report = futures::executor::block_on(lp.closed());
    assert_eq!((report.ran, report.cut), (0, 2));
    assert_eq!(lp.metrics().calls_served, 2);
    drop(handles);
}

#[test]
fn a_cancelled_call_is_not_counted_as_ran_by_a_shutdown() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let remote = lp.clone();
    thread::spawn(move || {
        let calls: Vec<_> = (0..3)
            .map(|_| remote.call_soon_threadsafe(|| ()).unwrap())
            .collect();
        assert!(calls[2].cancel());
    })
    .join()
    .unwrap();
    let report = lp.shutdown(LIMIT).unwrap();
    assert_eq!((report.ran, report.cut), (2, 0));
}
