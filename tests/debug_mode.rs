//! Debug mode: slow calls and task polls, and errors nobody read, reported through
//! `tracing` with the loop's name and where the work was scheduled from.

mod common;

use pulsar_async::{run_in_loop, run_in_loop_async, EventLoop, Promise};
use std::time::Duration;

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything the crate logs in this test binary.
fn logs() -> &'static common::LogCapture {
    common::LogCapture::global()
}

/// The captured lines that mention `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    logs().lines_with(needle)
}

/// The captured unread-error reports for a promise made at `line` of this file.
fn unread_reports(line: u32) -> Vec<String> {
    lines_with(&format!("created_at=tests/debug_mode.rs:{line}:"))
        .into_iter()
        .filter(|l| l.contains("never retrieved"))
        .collect()
}

fn debug_loop(name: &str) -> EventLoop {
    logs();
    EventLoop::builder()
        .name(name)
        .debug(true)
        .slow_callback(Duration::from_millis(20))
        .spawn()
        .unwrap()
}

/// Runs one more call so that everything the loop did before has been reported.
fn flush(lp: &EventLoop) {
    run_in_loop(lp, || ()).wait_timeout(LIMIT).unwrap();
}

#[test]
fn a_slow_call_is_reported_with_its_loop_and_where_it_was_scheduled() {
    let lp = debug_loop("slow-call-loop");
    let line = line!() + 1;
    run_in_loop(&lp, || std::thread::sleep(Duration::from_millis(40)))
        .wait_timeout(LIMIT)
        .unwrap();
    flush(&lp);
    let reports = lines_with("slow-call-loop");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("slow call"), "{}", reports[0]);
    assert!(
        reports[0].contains(&format!("scheduled_at=tests/debug_mode.rs:{line}:")),
        "{}",
        reports[0]
    );
    assert!(reports[0].contains("WARN"), "{}", reports[0]);
}

#[test]
fn fast_calls_are_not_reported() {
    let lp = debug_loop("fast-call-loop");
    for _ in 0..100 {
        run_in_loop(&lp, || 1 + 1).wait_timeout(LIMIT).unwrap();
    }
    flush(&lp);
    assert!(lines_with("fast-call-loop").is_empty());
}

#[test]
fn slow_calls_are_not_reported_when_debug_is_off() {
    logs();
    let lp = EventLoop::builder()
        .name("quiet-loop")
        .debug(false)
        .slow_callback(Duration::from_millis(1))
        .spawn()
        .unwrap();
    run_in_loop(&lp, || std::thread::sleep(Duration::from_millis(10)))
        .wait_timeout(LIMIT)
        .unwrap();
    flush(&lp);
    assert!(lines_with("quiet-loop").is_empty());
}

#[test]
fn a_slow_task_poll_is_reported() {
    let lp = debug_loop("slow-poll-loop");
    run_in_loop_async(&lp, || async {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(40)); // blocks the loop inside a poll
    })
    .wait_timeout(LIMIT)
    .unwrap();
    flush(&lp);
    let reports = lines_with("slow-poll-loop");
    assert!(
        reports.iter().any(|l| l.contains("slow task poll")),
        "{reports:?}"
    );
}

#[test]
fn a_failed_promise_nobody_read_is_reported_when_dropped_with_where_it_was_made() {
    let lp = debug_loop("unread-loop");
    let line = line!() + 1;
    let p = run_in_loop(&lp, || -> u8 { panic!("nobody reads this") });
    while !p.is_done() {
        std::thread::yield_now();
    }
    drop(p);
    // The loop may hold the call's promise a moment after settling it: the last of
    // the two to let go reports. One more call on the loop and it has let go.
    flush(&lp);
    let reports = unread_reports(line);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("nobody reads this"), "{}", reports[0]);
}

#[test]
fn a_failed_promise_whose_error_was_read_is_not_reported() {
    let lp = debug_loop("read-loop");
    let line = line!() + 1;
    let p = run_in_loop(&lp, || -> u8 { panic!("someone reads this") });
    assert!(p.wait_timeout(LIMIT).is_err());
    drop(p);
    flush(&lp);
    assert!(unread_reports(line).is_empty());
}

#[test]
fn a_cancelled_promise_is_not_reported_as_an_unread_error() {
    let lp = debug_loop("cancel-loop");
    let line = line!() + 1;
    let p = lp.create_promise::<u8>();
    p.cancel();
    drop(p);
    assert!(unread_reports(line).is_empty());
}

#[test]
fn without_the_env_flag_a_failed_promise_with_no_loop_is_not_reported() {
    // PULSAR_ASYNC_DEBUG is unset in this binary; `debug_env.rs` tests it set.
    logs();
    let line = line!() + 1;
    let p = Promise::<u8>::new();
    p.set_error(pulsar_async::Error::user("unbound")).unwrap();
    drop(p);
    assert!(unread_reports(line).is_empty());
}

#[test]
fn a_failed_promise_that_was_awaited_but_never_read_is_reported() {
    // Awaiting registers a waiter; only reading the error counts as retrieving it.
    let lp = debug_loop("awaited-loop");
    let line = line!() + 1;
    let mut p = lp.create_promise::<u8>();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::future::Future::poll(std::pin::Pin::new(&mut p), &mut cx).is_pending());
    p.set_error(pulsar_async::Error::user("awaited, never read"))
        .unwrap();
    drop(p);
    flush(&lp);
    let reports = unread_reports(line);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("awaited, never read"), "{}", reports[0]);
}

#[test]
fn a_failed_promise_whose_error_was_peeked_is_not_reported() {
    let lp = debug_loop("peek-loop");
    let line = line!() + 1;
    let p = lp.create_promise::<u8>();
    p.set_error(pulsar_async::Error::user("peeked")).unwrap();
    assert!(p.peek().unwrap().is_err());
    drop(p);
    flush(&lp);
    assert!(unread_reports(line).is_empty());
}

#[test]
fn a_failed_promise_whose_error_went_to_a_done_callback_is_not_reported() {
    let lp = debug_loop("callback-loop");
    let line = line!() + 1;
    let p = lp.create_promise::<u8>();
    let (tx, rx) = std::sync::mpsc::channel();
    p.add_done_callback(move |outcome| {
        let _ = tx.send(outcome.is_err());
    });
    p.set_error(pulsar_async::Error::user("seen by a callback"))
        .unwrap();
    assert!(rx.recv_timeout(LIMIT).unwrap());
    drop(p);
    flush(&lp);
    assert!(unread_reports(line).is_empty());
}
