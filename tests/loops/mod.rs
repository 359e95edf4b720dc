//! Helpers of the loop tests (`tests/loop_*.rs`): bounded waits, so that a loop that
//! hangs fails its test instead of stalling the run.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

/// Long enough for any step of these tests on a loaded 2-core machine; a step that
/// takes longer is taken to hang.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Runs `f` on a thread of its own and gives its result, or `None` if it has not
/// returned within `limit` (the thread is then left behind, hung).
pub fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// A value whose `Drop` panics: user code that panics where few expect it.
pub struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a Drop that panics");
        }
    }
}

/// A self-rescheduling `call_soon` callback (a tick) that runs until `stop` is set,
/// counting its runs in `ticks`; to be started on the loop's thread.
pub fn tick_storm(
    lp: pulsar_async::EventLoop,
    ticks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    if stop.load(Ordering::SeqCst) {
        return;
    }
    ticks.fetch_add(1, Ordering::SeqCst);
    let again = lp.clone();
    let _ = lp.call_soon(move || tick_storm(again, ticks, stop));
}
