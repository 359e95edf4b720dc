//! Helpers of the loop tests (`tests/loop_*.rs`): bounded waits, so that a loop that
//! hangs fails its test instead of stalling the run.
#![allow(dead_code)]

use pulsar_async::{run_in_loop, EventLoop, Promise};
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

/// A loop held busy by a call until [`release`](Held::release): calls queued
/// meanwhile wait in its queue. The gate is a std channel, so holding and releasing
/// do not depend on how promises wait.
pub struct Held {
    pub lp: EventLoop,
    /// The holding call's promise: `true` once it was released in time.
    pub busy: Promise<bool>,
    gate: Option<mpsc::Sender<()>>,
}

impl Held {
    /// Holds `lp` (a loop with a thread of its own) with a call, once that call runs.
    pub fn new(lp: EventLoop) -> Held {
        let (gate, wait) = mpsc::channel::<()>();
        let (started, is_started) = mpsc::channel();
        let busy = run_in_loop(&lp, move || {
            started.send(()).unwrap();
            wait.recv_timeout(LIMIT).is_ok()
        });
        is_started
            .recv_timeout(LIMIT)
            .expect("the holding call runs");
        Held {
            lp,
            busy,
            gate: Some(gate),
        }
    }

    /// Lets the holding call return.
    pub fn release(&mut self) {
        (self.releaser())();
    }

    /// What lets the holding call return, to be called from elsewhere.
    pub fn releaser(&mut self) -> impl FnOnce() + Send + 'static {
        let gate = self.gate.take();
        move || {
            if let Some(gate) = gate {
                let _ = gate.send(());
            }
        }
    }
}
