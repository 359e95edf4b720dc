//! Drop counts on every path (every value is dropped exactly once); a cancelled
//! gather releases what it gathered; a callback that captures its own promise; a chain's wait is not a cycle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::FutureExt;
use pulsar_async::{chain_future, multi_async, run_in_loop, ErrorKind, EventLoop, Promise};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);
impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted(self.0.clone())
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[test]
fn a_value_settled_and_never_read_is_dropped_once_with_the_promise() {
    let n = counter();
    let p = Promise::new();
    p.set_result(Counted(n.clone())).unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(p);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn a_taken_value_is_dropped_once_by_its_new_owner_and_never_by_the_promise() {
    let n = counter();
    let mut p = Promise::new();
    p.set_result(Counted(n.clone())).unwrap();
    let v = (&mut p).now_or_never().unwrap().unwrap();
    drop(p);
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(v);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn cloned_reads_drop_each_clone_once_and_the_original_once() {
    let n = counter();
    let p = Promise::new();
    let q = p.clone();
    p.set_result(Counted(n.clone())).unwrap();
    let a = p.try_result().unwrap();
    let b = q.now_or_never().unwrap().unwrap();
    drop((a, b));
    assert_eq!(n.load(Ordering::SeqCst), 2);
    drop(p);
    assert_eq!(n.load(Ordering::SeqCst), 3);
}

#[test]
fn a_value_refused_by_a_cancelled_promise_comes_back_and_is_dropped_once() {
    let n = counter();
    let p = Promise::new();
    p.cancel();
    let refused = p.set_result(Counted(n.clone())).unwrap_err();
    drop(p);
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(refused);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn a_chain_moves_the_value_of_its_last_reader_and_drops_it_once() {
    let n = counter();
    let source = Promise::new();
    let setter = source.setter();
    let next = chain_future(source).callback(|_: Counted| Ok(1u8)).start();
    setter.set_result(Counted(n.clone())).unwrap();
    assert_eq!(
        n.load(Ordering::SeqCst),
        1,
        "moved into the callback, dropped there"
    );
    assert_eq!(next.try_take().ok().unwrap().unwrap(), 1);
    drop(setter);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn a_gather_moves_the_values_of_its_last_readers_into_the_output() {
    let n = counter();
    let (a, b) = (Promise::new(), Promise::new());
    let (sa, sb) = (a.setter(), b.setter());
    let all = multi_async(vec![a, b]);
    sa.set_result(Counted(n.clone())).unwrap();
    sb.set_result(Counted(n.clone())).unwrap();
    let out = all.into_promise().try_take().ok().unwrap().unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 0, "moved, not cloned");
    drop(out);
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

#[test]
fn a_chain_on_a_done_source_it_alone_holds_drops_the_value_once_whatever_next_holds() {
    // The source's allocation is reused for next when the layouts match, and freed
    // when they do not: either way the value is moved into the callback, once.
    let n = counter();
    let same = chain_future(Promise::resolved(Counted(n.clone())))
        .callback(|c: Counted| Ok(Counted(c.0.clone())))
        .start();
    assert_eq!(
        n.load(Ordering::SeqCst),
        1,
        "the source's value, in the callback"
    );
    drop(same.try_take().ok().unwrap().unwrap());
    assert_eq!(n.load(Ordering::SeqCst), 2);
    let bigger = chain_future(Promise::resolved(Counted(n.clone())))
        .callback(|c: Counted| Ok([c.0.load(Ordering::SeqCst); 16]))
        .start();
    assert_eq!(n.load(Ordering::SeqCst), 3);
    assert_eq!(bigger.try_take().ok().unwrap().unwrap(), [2; 16]);
}

/// Counts values made (clones included) and values dropped.
struct Tally {
    made: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}
impl Tally {
    fn new(made: &Arc<AtomicUsize>, dropped: &Arc<AtomicUsize>) -> Self {
        made.fetch_add(1, Ordering::SeqCst);
        Tally {
            made: made.clone(),
            dropped: dropped.clone(),
        }
    }
}
impl Clone for Tally {
    fn clone(&self) -> Self {
        Tally::new(&self.made, &self.dropped)
    }
}
impl Drop for Tally {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn values_racing_settle_read_and_drop_from_many_threads_are_dropped_exactly_once() {
    let (made, dropped) = (counter(), counter());
    for round in 0..2_000 {
        let p = Promise::new();
        let q = p.clone();
        let setter = p.setter();
        let v = Tally::new(&made, &dropped);
        let t1 = std::thread::spawn(move || drop(setter.set_result(v)));
        let t2 = std::thread::spawn(move || drop(q.now_or_never()));
        if round % 2 == 0 {
            drop(p.take_blocking());
        } else {
            drop(p.now_or_never());
        }
        t1.join().unwrap();
        t2.join().unwrap();
    }
    assert_eq!(made.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst));
}

#[test]
fn a_cancelled_gather_releases_the_values_it_gathered_so_far() {
    let n = counter();
    let a = Promise::new();
    let b = Promise::<Counted>::new();
    let (sa, sb) = (a.setter(), b.setter());
    let all = multi_async(vec![a, b]);
    sa.set_result(Counted(n.clone())).unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 0, "held by the gather");
    assert!(all.cancel());
    assert_eq!(
        n.load(Ordering::SeqCst),
        1,
        "released on cancel, before b settles"
    );
    drop(sb);
}

#[test]
fn a_gather_whose_inputs_are_all_dropped_unsettled_fails_instead_of_hanging() {
    let a = Promise::<u8>::new();
    let setter = a.setter();
    let all = multi_async(vec![a]);
    assert!(!all.is_done());
    drop(setter);
    assert_eq!(
        all.try_result().unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

#[test]
fn the_call_of_a_run_in_loop_promise_is_dropped_once_whether_it_runs_or_not() {
    let n = counter();
    let lp = EventLoop::new().unwrap();
    let held = Counted(n.clone());
    let p = run_in_loop(&lp, move || {
        let _held = held;
        1u8
    });
    assert_eq!(p.wait_timeout(LIMIT).unwrap(), 1);
    assert_eq!(n.load(Ordering::SeqCst), 1);
    lp.close();
    let held = Counted(n.clone());
    let q = run_in_loop(&lp, move || {
        let _held = held;
        1u8
    });
    assert_eq!(
        q.wait_timeout(LIMIT).unwrap_err().kind(),
        ErrorKind::LoopClosed
    );
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

#[test]
fn a_callback_capturing_its_own_promise_leaks_until_the_promise_settles() {
    // The documented rule: a strong handle in its own callback keeps the promise
    // alive while it is pending; settling (or cancelling) it breaks the cycle.
    let n = counter();
    let p = Promise::<u8>::new();
    let me = p.clone();
    let held = Counted(n.clone());
    p.add_done_callback(move |_| drop((me, held)));
    let setter = p.setter();
    drop(p);
    assert_eq!(n.load(Ordering::SeqCst), 0, "the cycle keeps it alive");
    setter.cancel();
    assert_eq!(n.load(Ordering::SeqCst), 1, "the settle ran and dropped it");
}

#[test]
fn a_callback_capturing_a_weak_handle_to_its_own_promise_does_not_leak() {
    let n = counter();
    let p = Promise::<u8>::new();
    let me = p.downgrade();
    let held = Counted(n.clone());
    p.add_done_callback(move |_| drop((me, held)));
    drop(p);
    assert_eq!(
        n.load(Ordering::SeqCst),
        1,
        "no cycle: dropped with the promise"
    );
}

#[test]
fn a_chain_waiting_on_a_promise_is_not_a_cycle() {
    // The chain's consumer waits inside the source's own waiters holding a reader
    // count, not the source's allocation: dropping every handle frees it.
    let n = counter();
    let source = Promise::<u8>::new();
    let held = Counted(n.clone());
    let next = chain_future(source)
        .callback(move |v: u8| {
            let _held = &held;
            Ok(v)
        })
        .start();
    assert_eq!(
        n.load(Ordering::SeqCst),
        1,
        "source dropped: the consumer went"
    );
    let err = next.try_take().ok().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
}

#[test]
fn a_weak_handle_upgrades_while_a_reader_lives_and_never_after() {
    let drops = counter();
    let p = Promise::resolved(Counted(drops.clone()));
    let weak = p.downgrade();
    let again = weak.upgrade().expect("a reader lives");
    assert!(again.is_done());
    drop(again);
    // The upgraded handle counted itself and gave its count back: the value lives on.
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert!(p.peek().unwrap().is_ok());
    drop(p);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped once, with the last reader"
    );
    assert!(weak.upgrade().is_none());
    assert!(weak.setter().is_none());
}

#[test]
fn a_done_callback_that_never_ran_is_dropped_with_the_promise() {
    let n = counter();
    let p = Promise::<u8>::new();
    let held = Counted(n.clone());
    p.add_done_callback(move |_| {
        let _kept = &held;
    });
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(p); // never settled: the callback never runs, and goes with the promise
    assert_eq!(n.load(Ordering::SeqCst), 1);
}
