//! A cut call whose captured value panics on drop: one outcome, whichever thread cuts it.
//!
//! Rules proved here:
//!
//! - a call cut by a close (queued, never run) fails with `LoopClosed`, even when a
//!   value it captured panics as it is dropped; the panic goes no further than a log
//!   line (target `pulsar_async`), and it makes no difference which thread cuts the
//!   call: the owner of a caller-driven loop, a thread that closes it from outside, a
//!   loop's own thread cutting the rest of an iteration, or the thread that closes a
//!   thread loop while the call waits in its injector;
//! - a call that ran is another matter: dropping what it captured is part of the call,
//!   so a panic there is the call's own (`Panicked`).

mod common;

use common::LogCapture;
use pulsar_async::{run_in_loop, run_in_loop_async, ErrorKind, EventLoop, Promise};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long any wait in these tests may take: a bug shows as a failure, not a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// A value whose `Drop` panics, with a message that names it.
struct Bomb {
    id: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        panic!("bomb {} went off in its drop", self.id);
    }
}

/// The calls of one test: each captures a bomb, and says whether it ran.
#[derive(Default)]
struct Calls {
    queued: Vec<(Promise<u8>, Arc<AtomicBool>, &'static str, u64)>,
    drops: Arc<AtomicUsize>,
}

static NEXT_BOMB: AtomicU64 = AtomicU64::new(1);

impl Calls {
    fn bomb(&self) -> (Bomb, u64) {
        let id = NEXT_BOMB.fetch_add(1, Ordering::Relaxed);
        let drops = self.drops.clone();
        (Bomb { id, drops }, id)
    }

    /// Queues on `lp` one call of each form that carries a promise, each capturing a
    /// bomb.
    fn queue(&mut self, lp: &EventLoop) {
        let (b, id) = self.bomb();
        let (ran, r) = flag();
        let p = run_in_loop(lp, move || {
            let _b = &b;
            r.store(true, Ordering::SeqCst);
            1u8
        });
        self.queued.push((p, ran, "run_in_loop", id));

        let (b, id) = self.bomb();
        let (ran, r) = flag();
        let p = run_in_loop_async(lp, move || {
            let _b = &b;
            r.store(true, Ordering::SeqCst);
            async { 1u8 }
        });
        self.queued.push((p, ran, "run_in_loop_async", id));

        let (b, id) = self.bomb();
        let (ran, r) = flag();
        let p = lp.spawn(async move {
            let _b = &b;
            r.store(true, Ordering::SeqCst);
            1u8
        });
        self.queued.push((p, ran, "spawn", id));

        let (b, id) = self.bomb();
        let (ran, r) = flag();
        let p = lp.call_later(Duration::ZERO, move || {
            let _b = &b;
            r.store(true, Ordering::SeqCst);
            1u8
        });
        self.queued.push((p, ran, "call_later", id));

        let state = lp.local(|| 0u8);
        let (b, id) = self.bomb();
        let (ran, r) = flag();
        let p = state.call(move |_| {
            let _b = &b;
            r.store(true, Ordering::SeqCst);
            1u8
        });
        self.queued.push((p, ran, "LoopLocal::call", id));
    }

    /// Every call was cut: none ran, each failed with `LoopClosed`, each bomb was
    /// dropped once and its panic logged.
    fn assert_all_cut_with_loop_closed(self) {
        let n = self.queued.len();
        let logs = LogCapture::global();
        for (p, ran, form, id) in self.queued {
            let outcome = p.wait_timeout(LIMIT).map_err(|e| e.kind());
            assert!(!ran.load(Ordering::SeqCst), "{form}: the call ran");
            assert_eq!(outcome, Err(ErrorKind::LoopClosed), "{form}");
            // A job's promise is settled as its completer drops, maybe before the
            // bomb beside it: the log line may come a moment after.
            let line = format!("bomb {id} went off in its drop");
            let logged = || logs.lines_with(&line).len();
            let until = std::time::Instant::now() + LIMIT;
            while logged() == 0 && std::time::Instant::now() < until {
                thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(logged(), 1, "{form}: bomb {id}'s panic not logged once");
        }
        assert_eq!(
            self.drops.load(Ordering::SeqCst),
            n,
            "each bomb dropped once"
        );
    }
}

fn flag() -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    let ran = Arc::new(AtomicBool::new(false));
    (ran.clone(), ran)
}

/// The panics of the bombs are logged, not printed by the default hook.
fn quiet() {
    LogCapture::global();
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let bomb = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m.starts_with("bomb ") && m.ends_with("went off in its drop"));
            if !bomb {
                default(info);
            }
        }));
    });
}

/// Holds a thread loop inside a call until the returned sender sends (or drops).
fn hold(lp: &EventLoop) -> mpsc::Sender<()> {
    let (release, gate) = mpsc::channel::<()>();
    let (started, entered) = mpsc::channel::<()>();
    let _held = run_in_loop(lp, move || {
        started.send(()).unwrap();
        let _ = gate.recv();
        0u8
    });
    entered.recv_timeout(LIMIT).unwrap();
    release
}

#[test]
fn a_cut_call_whose_captured_value_panics_on_drop_fails_with_loop_closed_when_the_owner_cuts_it() {
    quiet();
    for _ in 0..20 {
        // Queued by the owner (its owner queue) and by another thread (the injector);
        // the owner closes, and cuts both.
        let lp = EventLoop::builder().build_driven().unwrap();
        let mut calls = Calls::default();
        calls.queue(&lp);
        let mut other = Calls::default();
        thread::scope(|s| {
            s.spawn(|| other.queue(&lp));
        });
        lp.close();
        calls.assert_all_cut_with_loop_closed();
        other.assert_all_cut_with_loop_closed();
    }
}

#[test]
fn a_cut_call_whose_captured_value_panics_on_drop_fails_with_loop_closed_when_another_thread_cuts_it(
) {
    quiet();
    for _ in 0..20 {
        // A caller-driven loop's owner queued them; another thread closes it.
        let lp = EventLoop::builder().build_driven().unwrap();
        let mut calls = Calls::default();
        calls.queue(&lp);
        let closer = lp.clone();
        thread::spawn(move || closer.close()).join().unwrap();
        calls.assert_all_cut_with_loop_closed();

        // A thread loop, held in a call: another thread closes it while the calls
        // wait in its injector (that thread cuts them).
        let lp = EventLoop::new().unwrap();
        let release = hold(&lp);
        let mut calls = Calls::default();
        calls.queue(&lp);
        lp.close_background();
        drop(release);
        calls.assert_all_cut_with_loop_closed();
        lp.close();
    }
}

#[test]
fn a_cut_call_whose_captured_value_panics_on_drop_fails_with_loop_closed_when_its_loop_thread_cuts_it(
) {
    quiet();
    for _ in 0..20 {
        // The call before them in the same iteration closes the loop: its own thread
        // cuts the rest of the iteration.
        let lp = EventLoop::new().unwrap();
        let release = hold(&lp);
        let inner = lp.clone();
        let _closer = run_in_loop(&lp, move || inner.close_background());
        let mut calls = Calls::default();
        calls.queue(&lp);
        drop(release);
        calls.assert_all_cut_with_loop_closed();
        lp.close();
    }
}

#[test]
fn a_call_that_ran_and_whose_captured_value_panics_on_drop_fails_with_panicked() {
    quiet();
    let lp = EventLoop::new().unwrap();
    let calls = Calls::default();
    let (b, _) = calls.bomb();
    let p = run_in_loop(&lp, move || {
        let _b = &b;
        1u8
    });
    let err = p.wait_timeout(LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(calls.drops.load(Ordering::SeqCst), 1);
}
