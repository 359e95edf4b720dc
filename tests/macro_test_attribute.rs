//! `#[pulsar_async::test]`: an async test body on a fresh caller-driven loop.
//!
//! - The body runs on a loop of the test's thread: `EventLoop::current()`,
//!   `spawn_local` and `!Send` state work, and so does tokio (timers, `tokio::spawn`).
//! - `name = ".."` names the loop (the test's name by default).
//! - The body may return a `Result`; `?` works in it.
//! - A panicking body fails the test with its message.
//! - When the test ends, failed or not, its loop is closed and what it still ran is
//!   dropped: nothing leaks into the next test.
//! - `start_paused = true` (feature `test-util`) runs the loop on tokio's paused clock.
//!
//! (Compile errors: `tests/macro_test_attr_ui.rs`.)

use pulsar_async::{Error, EventLoop, Promise};
use std::rc::Rc;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

#[pulsar_async::test]
async fn the_body_runs_on_a_loop_of_the_tests_thread_where_local_state_and_tokio_work() {
    let lp = EventLoop::current().expect("the test's loop is current");
    assert!(lp.is_current_thread() && !lp.owns_thread());
    let local = Rc::new(20);
    let task = lp.spawn_local({
        let local = local.clone();
        async move { *local + 1 }
    });
    assert_eq!(task.await.unwrap(), 21);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(tokio::spawn(async { 2 }).await.unwrap(), 2);
}

#[pulsar_async::test]
async fn the_loop_is_named_after_the_test() {
    let lp = EventLoop::current().unwrap();
    assert_eq!(lp.name(), "the_loop_is_named_after_the_test");
}

#[pulsar_async::test(name = "named")]
async fn name_names_the_loop() {
    assert_eq!(EventLoop::current().unwrap().name(), "named");
}

#[pulsar_async::test]
async fn the_body_may_return_a_result_and_use_question_marks() -> Result<(), Error> {
    let value = Promise::resolved(3).await?;
    assert_eq!(value, 3);
    Ok(())
}

#[pulsar_async::test]
#[should_panic(expected = "boom in the body")]
async fn a_panicking_body_fails_the_test_with_its_message() {
    panic!("boom in the body");
}

/// What the failing test below left behind: its loop, and a channel that tells when
/// the task it left running was dropped.
static LEFT: Mutex<Option<(EventLoop, mpsc::Receiver<()>)>> = Mutex::new(None);

struct Signal(#[allow(dead_code)] mpsc::Sender<()>);

/// Fails with work still running on its loop; run by the test after it.
#[pulsar_async::test]
#[ignore = "run by when_a_test_fails_its_loop_is_closed_and_what_it_ran_is_dropped"]
async fn fails_with_a_task_still_running() -> Result<(), Error> {
    let lp = EventLoop::current().unwrap();
    let (tx, rx) = mpsc::channel();
    let signal = Signal(tx);
    let _left = lp.spawn_local(async move {
        let _signal = signal;
        std::future::pending::<()>().await
    });
    tokio::task::yield_now().await;
    *LEFT.lock().unwrap() = Some((lp, rx));
    Err(Error::user("the test failed"))
}

#[test]
fn when_a_test_fails_its_loop_is_closed_and_what_it_ran_is_dropped() {
    let outcome = fails_with_a_task_still_running();
    let err = outcome.unwrap_err();
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "the test failed"
    );
    let (lp, dropped) = LEFT.lock().unwrap().take().expect("the test ran");
    assert!(lp.is_closed());
    // The sender was dropped with the task: the channel is disconnected, at once.
    assert_eq!(
        dropped.recv_timeout(Duration::from_secs(10)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert!(EventLoop::current().is_none_or(|current| current.is_closed()));
}

#[cfg(feature = "test-util")]
#[pulsar_async::test(start_paused = true)]
async fn start_paused_runs_the_loop_on_tokios_paused_clock() {
    let start = tokio::time::Instant::now();
    let real = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
    assert!(real.elapsed() < Duration::from_secs(3600));
}
