//! `LoopMetrics`: what a loop is doing, always on.

use pulsar_async::event_loop::LoopMetrics;
use pulsar_async::{run_in_loop, EventLoop};
use std::sync::mpsc;
use std::time::Duration;

mod loops;
use loops::Held;

const LIMIT: Duration = Duration::from_secs(10);

/// Waits (bounded) until the metrics of `lp` satisfy `done`: counts are published as
/// the loop goes.
fn wait_for(lp: &EventLoop, what: &str, done: impl Fn(&LoopMetrics) -> bool + Send + 'static) {
    let lp = lp.clone();
    loops::within(LIMIT, move || {
        while !done(&lp.metrics()) {
            std::thread::yield_now()
        }
    })
    .unwrap_or_else(|| panic!("still waiting until {what}"));
}

#[test]
fn calls_served_counts_every_call_the_loop_ran() {
    let lp = EventLoop::new().unwrap();
    assert_eq!(lp.metrics().calls_served, 0);
    for i in 0..100 {
        run_in_loop(&lp, move || i).wait_timeout(LIMIT).unwrap();
    }
    // Published at the end of each iteration: the last call's iteration may still run.
    wait_for(&lp, "the count reaches 100", |m| m.calls_served >= 100);
    assert_eq!(lp.metrics().calls_served, 100);
}

#[test]
fn queue_depth_counts_the_calls_not_finished_behind_and_in_a_busy_loop() {
    let lp = EventLoop::new().unwrap();
    let mut held = Held::new(lp.clone());
    let queued: Vec<_> = (0..25).map(|i| run_in_loop(&lp, move || i)).collect();
    // The 25 queued, and the holding call, running and not finished.
    assert_eq!(lp.metrics().queue_depth, 26);
    held.release();
    for p in queued {
        p.wait_timeout(LIMIT).unwrap();
    }
    // Published at the end of the iteration that ran them.
    wait_for(&lp, "the queue drains", |m| m.queue_depth == 0);
}

#[test]
fn tasks_alive_counts_the_loops_tasks_until_they_end() {
    let lp = EventLoop::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = lp.spawn(async move { rx.await.is_ok() });
    let timer = lp.call_later(Duration::from_secs(3600), || ());
    wait_for(&lp, "two tasks alive", |m| m.tasks_alive >= 2);
    assert_eq!(lp.metrics().tasks_alive, 2);
    tx.send(()).unwrap();
    assert!(task.wait_timeout(LIMIT).unwrap());
    timer.cancel();
    wait_for(&lp, "no task left", |m| m.tasks_alive == 0);
}

#[test]
fn busy_time_grows_with_work_and_idle_time_with_waiting() {
    let lp = EventLoop::builder().spin(Duration::ZERO).spawn().unwrap();
    run_in_loop(&lp, || std::thread::sleep(Duration::from_millis(30)))
        .wait_timeout(LIMIT)
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let m = lp.metrics();
    assert!(m.busy >= Duration::from_millis(30), "{m}");
    assert!(m.idle >= Duration::from_millis(20), "{m}");
    assert!(m.utilization() > 0.0 && m.utilization() < 1.0, "{m}");
}

#[test]
fn slow_calls_are_counted_in_debug_mode() {
    let lp = EventLoop::builder()
        .debug(true)
        .slow_callback(Duration::from_millis(5))
        .spawn()
        .unwrap();
    run_in_loop(&lp, || std::thread::sleep(Duration::from_millis(10)))
        .wait_timeout(LIMIT)
        .unwrap();
    run_in_loop(&lp, || ()).wait_timeout(LIMIT).unwrap();
    assert_eq!(lp.metrics().slow_calls, 1);
}

#[test]
fn a_metrics_line_names_the_loop_and_its_counts() {
    let lp = EventLoop::builder().name("line").spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    lp.call_soon_threadsafe(move || tx.send(()).unwrap())
        .unwrap();
    rx.recv_timeout(LIMIT).unwrap();
    let line = lp.metrics().to_string();
    assert!(line.starts_with("line: "), "{line}");
    assert!(
        line.contains("queued") && line.contains("busy") && line.contains("idle"),
        "{line}"
    );
}

#[test]
fn a_closed_loop_has_no_queue() {
    let lp = EventLoop::new().unwrap();
    let mut held = Held::new(lp.clone());
    let _queued: Vec<_> = (0..5).map(|i| run_in_loop(&lp, move || i)).collect();
    let release = held.releaser();
    lp.close_background();
    release();
    assert_eq!(lp.metrics().queue_depth, 0);
}
