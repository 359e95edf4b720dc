//! The fair loop (asyncio's `_run_once`): one iteration runs the calls that were ready
//! when it began; what they queue waits for the next iteration, after the loop's
//! timers, I/O, tasks and cross-thread calls had their turn. Calls issued from one
//! thread run in the order issued, whichever entry point.

mod loops;

use loops::{tick_storm, within, LIMIT};
use pulsar_async::{run_in_loop, run_in_loop_async, EventLoop};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A thread loop running a tick storm, and the counter of its ticks. The storm ends
/// when the `Storm` is dropped (before the loop's handle, even when a test fails).
struct Storm {
    ticks: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    lp: EventLoop,
}

impl Storm {
    fn start() -> Storm {
        let lp = EventLoop::builder().name("storm").spawn().unwrap();
        let (ticks, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (t, s, inner) = (ticks.clone(), stop.clone(), lp.clone());
        run_in_loop(&lp, move || tick_storm(inner, t, s))
            .wait_timeout(LIMIT)
            .unwrap();
        Storm { ticks, stop, lp }
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A caller-driven loop of this thread with a tick storm queued (it runs while the
/// loop is driven): the loop, the counter of ticks and the flag that ends the storm.
fn driven_storm() -> (EventLoop, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let lp = EventLoop::builder().build_driven().unwrap();
    let (ticks, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    tick_storm(lp.clone(), ticks.clone(), stop.clone());
    (lp, ticks, stop)
}

#[test]
fn a_tick_storm_does_not_starve_a_cross_thread_call() {
    let storm = Storm::start();
    for i in 0..20 {
        let served = run_in_loop(&storm.lp, move || i).wait_timeout(LIMIT);
        assert_eq!(served.expect("served under the storm"), i);
    }
}

#[test]
fn a_tick_storm_does_not_starve_a_timer_or_a_task() {
    let storm = Storm::start();
    let fired = storm.lp.call_later(Duration::from_millis(1), || "fired");
    assert_eq!(fired.wait_timeout(LIMIT).unwrap(), "fired");
    let task = run_in_loop_async(&storm.lp, || async {
        tokio::task::yield_now().await;
        "yielded and came back"
    });
    assert_eq!(task.wait_timeout(LIMIT).unwrap(), "yielded and came back");
    let ticks = storm.ticks.load(Ordering::SeqCst);
    assert!(ticks > 1, "the storm went on meanwhile ({ticks} ticks)");
}

#[test]
fn run_until_complete_returns_under_a_tick_storm() {
    let done = within(LIMIT, || {
        let (lp, ticks, stop) = driven_storm();
        let out = lp.run_until_complete(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            "slept"
        });
        stop.store(true, Ordering::SeqCst);
        (out.unwrap(), ticks.load(Ordering::SeqCst))
    });
    let (out, ticks) = done.expect("run_until_complete returned");
    assert_eq!(out, "slept");
    assert!(ticks > 1);
}

#[test]
fn stop_returns_from_run_forever_under_a_tick_storm() {
    let done = within(LIMIT, || {
        let (lp, ticks, stop) = driven_storm();
        let (remote, seen) = (lp.clone(), ticks.clone());
        // Stops the loop once the storm is under way.
        let stopper = std::thread::spawn(move || {
            while seen.load(Ordering::SeqCst) < 100 {
                std::thread::yield_now();
            }
            remote.stop();
        });
        lp.run_forever().unwrap();
        stopper.join().unwrap();
        // Stopped, not closed: it runs again, the storm still going.
        let again = lp.run_until_complete(async { 1 }).unwrap();
        stop.store(true, Ordering::SeqCst);
        again
    });
    assert_eq!(done, Some(1), "run_forever returned after stop");
}

#[test]
fn what_a_call_queues_runs_in_the_next_iteration_after_the_loops_tasks() {
    let lp = EventLoop::builder().build_driven().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    // A task, ready to run at the loop's first turn.
    let l = log.clone();
    let _task = lp.spawn_local(async move { l.borrow_mut().push("task") });
    // A call that queues another call.
    let (l, inner) = (log.clone(), lp.clone());
    lp.call_soon(move || {
        l.borrow_mut().push("first call");
        let l2 = l.clone();
        inner
            .call_soon(move || l2.borrow_mut().push("queued by the first call"))
            .unwrap();
    })
    .unwrap();
    lp.run_until_complete(async {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        ["first call", "task", "queued by the first call"]
    );
}

#[test]
fn calls_issued_on_the_loop_thread_run_in_the_order_issued_whichever_entry_point() {
    let lp = EventLoop::builder().name("fifo").spawn().unwrap();
    let (tx, rx) = mpsc::channel::<&str>();
    let inner = lp.clone();
    run_in_loop(&lp, move || {
        let t = tx.clone();
        inner
            .call_soon(move || t.send("call_soon").unwrap())
            .unwrap();
        let t = tx.clone();
        inner
            .call_soon_threadsafe(move || t.send("call_soon_threadsafe").unwrap())
            .unwrap();
        let t = tx.clone();
        drop(run_in_loop(&inner, move || t.send("run_in_loop").unwrap()));
        inner
            .call_soon(move || tx.send("call_soon again").unwrap())
            .unwrap();
    })
    .wait_timeout(LIMIT)
    .unwrap();
    let order: Vec<_> = (0..4).map(|_| rx.recv_timeout(LIMIT).unwrap()).collect();
    assert_eq!(
        order,
        [
            "call_soon",
            "call_soon_threadsafe",
            "run_in_loop",
            "call_soon again"
        ]
    );
}
