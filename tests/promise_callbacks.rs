//! Done-callbacks run in the order added, once each, whoever adds
//! them and whenever; on a loop-bound promise they run on the loop, in order, and on
//! the thread at hand (still in order) when the loop refuses them or drops them.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use pulsar_async::{run_in_loop, Error, EventLoop, Promise};

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

type Seen = Arc<Mutex<Vec<usize>>>;
type Callback = Box<dyn FnOnce(&Result<u8, Error>) + Send>;

/// A log of tags, and a maker of callbacks that push their tag to it.
fn recorder() -> (Seen, impl Fn(usize) -> Callback) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, move |tag| {
        let s = s.clone();
        Box::new(move |_: &Result<u8, _>| s.lock().unwrap().push(tag))
    })
}

#[test]
fn callbacks_added_before_and_after_the_settle_run_in_the_order_added() {
    let (seen, cb) = recorder();
    let p = Promise::new();
    p.add_done_callback(cb(1));
    p.add_done_callback(cb(2));
    p.set_result(0).unwrap();
    p.add_done_callback(cb(3));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
}

#[test]
fn a_callback_added_from_inside_a_callback_runs_after_the_ones_already_queued() {
    let (seen, cb) = recorder();
    let p = Promise::new();
    let q = p.clone();
    let late = cb(9);
    let s = seen.clone();
    p.add_done_callback(move |_| {
        s.lock().unwrap().push(1);
        q.add_done_callback(late);
    });
    p.add_done_callback(cb(2));
    p.set_result(0).unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2, 9]);
}

#[test]
fn a_callback_added_by_a_thread_woken_by_the_settle_never_runs_before_earlier_ones() {
    // The defect: the woken thread added its callback while the settler was still
    // running the earlier ones, and it ran first (1-4 rounds in 5,000).
    for _ in 0..5_000 {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let p = Promise::<u8>::new();
        let go = Arc::new(Barrier::new(2));
        for tag in 0..3 {
            let s = seen.clone();
            p.add_done_callback(move |_| {
                std::hint::black_box(0..50).for_each(drop);
                s.lock().unwrap().push(tag)
            });
        }
        let adder = {
            let (p, s, go) = (p.clone(), seen.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                let _ = p.wait(); // woken by the settle
                p.add_done_callback(move |_| s.lock().unwrap().push(3));
            })
        };
        go.wait();
        p.set_result(1).unwrap();
        adder.join().unwrap();
        // The last callback may run on either thread, but always last.
        while seen.lock().unwrap().len() < 4 {
            std::thread::yield_now();
        }
        assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3]);
    }
}

#[test]
fn every_callback_runs_exactly_once_when_many_threads_add_while_it_settles() {
    for _ in 0..300 {
        let p = Promise::<u8>::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (p, runs, order) = (p.clone(), runs.clone(), order.clone());
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let (runs, order) = (runs.clone(), order.clone());
                        p.add_done_callback(move |_| {
                            runs.fetch_add(1, Ordering::Relaxed);
                            order.lock().unwrap().push((t, i));
                        });
                    }
                })
            })
            .collect();
        p.set_result(0).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(runs.load(Ordering::Relaxed), 100);
        // Per adding thread, its callbacks ran in the order it added them.
        let order = order.lock().unwrap();
        for t in 0..4 {
            let mine: Vec<_> = order.iter().filter(|k| k.0 == t).map(|k| k.1).collect();
            assert_eq!(mine, (0..25).collect::<Vec<_>>());
        }
    }
}

#[test]
fn callbacks_of_a_loop_bound_promise_run_on_the_loop_in_order() {
    let lp = EventLoop::new().unwrap();
    let loop_thread = lp.thread_id();
    let p = lp.create_promise::<u8>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for tag in 0..3 {
        let s = seen.clone();
        p.add_done_callback(move |_| s.lock().unwrap().push((tag, std::thread::current().id())));
    }
    p.set_result(1).unwrap();
    let s = seen.clone();
    p.add_done_callback(move |_| s.lock().unwrap().push((3, std::thread::current().id())));
    run_in_loop(&lp, || ()).wait_timeout(LIMIT).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert!(
        seen.iter().all(|s| s.1 == loop_thread),
        "on the loop's thread"
    );
}

#[test]
fn callbacks_of_a_promise_whose_loop_is_closed_run_inline_in_order() {
    let lp = EventLoop::new().unwrap();
    let p = lp.create_promise::<u8>();
    lp.close();
    let (seen, cb) = recorder();
    p.add_done_callback(cb(1));
    p.add_done_callback(cb(2));
    p.set_result(0).unwrap();
    p.add_done_callback(cb(3));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
}

#[test]
fn callbacks_queued_on_a_loop_that_closes_before_running_them_still_run_once_in_order() {
    let lp = EventLoop::new().unwrap();
    common::hold_busy(&lp, Duration::from_millis(20)); // the runner job stays queued
    let p = lp.create_promise::<u8>();
    let (seen, cb) = recorder();
    p.add_done_callback(cb(1));
    p.add_done_callback(cb(2));
    p.set_result(0).unwrap();
    lp.close(); // drops the queued runner: it runs here instead
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
}

#[test]
fn a_removed_callback_never_runs_and_the_others_keep_their_order() {
    let (seen, cb) = recorder();
    let p = Promise::new();
    p.add_done_callback(cb(1));
    let key = p.add_done_callback(cb(2));
    p.add_done_callback(cb(3));
    assert!(p.remove_done_callback(key));
    assert!(!p.remove_done_callback(key), "once");
    p.set_result(0).unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 3]);
    let ran = p.add_done_callback(cb(4));
    assert!(
        !p.remove_done_callback(ran),
        "a callback that ran cannot be removed"
    );
}

#[test]
fn removing_every_queued_callback_lets_the_last_reader_move_the_value_out() {
    struct NotClone(u8);
    let p = Promise::new();
    let key = p.add_done_callback(|_: &Result<NotClone, _>| {});
    assert!(p.remove_done_callback(key));
    p.set_result(NotClone(4)).ok().unwrap();
    assert_eq!(p.try_take().ok().unwrap().unwrap().0, 4);
}

#[test]
fn a_panicking_callback_is_logged_and_the_others_still_run() {
    let (seen, cb) = recorder();
    let p = Promise::new();
    p.add_done_callback(cb(1));
    p.add_done_callback(|_| panic!("callback boom"));
    p.add_done_callback(cb(2));
    p.set_result(0).unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
}
