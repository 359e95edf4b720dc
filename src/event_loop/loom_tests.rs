//! Loom models of the loop's lifecycle: the handle count, and the close and stop
//! flags racing the drive. The loops here are caller-driven loops with no runtime
//! and no spin window, driven by hand, so that only the protocol is explored.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use ::loom::thread;

use super::{Builder, EventLoop, LocalLoop};
use crate::loom::{Arc, AtomicUsize, Ordering};

/// A handle to a new loop that nobody drives yet, and its local state.
fn idle_loop() -> (EventLoop, Rc<LocalLoop>) {
    let shared = Builder::new().spin(Duration::ZERO).shared(false);
    let local = Rc::new(LocalLoop::new(shared.clone(), None));
    (EventLoop { shared }, local)
}

/// Drives `local` until the drive returns (the loop stopped or closed).
fn drive_until_ready(local: &LocalLoop) {
    let mut batch = VecDeque::new();
    ::loom::future::block_on(std::future::poll_fn(|cx| local.poll_drive(cx, &mut batch)));
}

#[test]
fn the_last_handle_closes_the_loop_and_an_upgrade_racing_it_never_revives_it() {
    ::loom::model(|| {
        let (lp, _local) = idle_loop();
        let shared = lp.shared.clone();
        let other = lp.clone();
        let dropper = thread::spawn(move || drop(other));
        let upgrader = thread::spawn(move || {
            if let Some(revived) = EventLoop::upgrade(&shared) {
                // A handle got from a live loop keeps it open until it goes.
                assert!(!revived.is_closed());
            }
        });
        drop(lp);
        dropper.join().unwrap();
        upgrader.join().unwrap();
    });
}

#[test]
fn handles_dropped_on_two_threads_close_the_loop_exactly_when_the_last_goes() {
    ::loom::model(|| {
        let (lp, _local) = idle_loop();
        let shared = lp.shared.clone();
        let (a, b) = (lp.clone(), lp);
        let ta = thread::spawn(move || drop(a));
        let tb = thread::spawn(move || drop(b));
        ta.join().unwrap();
        tb.join().unwrap();
        assert!(shared.injector.is_closed());
        assert!(EventLoop::upgrade(&shared).is_none());
    });
}

#[test]
fn a_close_from_another_thread_ends_the_drive_and_fails_what_it_cut() {
    ::loom::model(|| {
        let (lp, local) = idle_loop();
        let ran = Arc::new(AtomicUsize::new(0));
        let (submitter, closer) = (lp.clone(), lp.clone());
        let counter = ran.clone();
        let submit = thread::spawn(move || {
            submitter
                .submit_job(
                    Box::new(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }),
                    "job",
                )
                .is_ok()
        });
        let close = thread::spawn(move || closer.close());
        // Would hang (and loom report a deadlock) if the close were not seen.
        drive_until_ready(&local);
        let queued = submit.join().unwrap();
        close.join().unwrap();
        assert!(lp.is_closed());
        // A job the queue refused never runs; one it took runs at most once.
        assert!(ran.load(Ordering::SeqCst) <= usize::from(queued));
    });
}

#[test]
fn a_stop_from_another_thread_is_never_lost() {
    ::loom::model(|| {
        let (lp, local) = idle_loop();
        let stopper = lp.clone();
        let t = thread::spawn(move || stopper.stop());
        // Would hang if the stop request or its wake-up were lost.
        drive_until_ready(&local);
        t.join().unwrap();
        assert!(!lp.is_closed());
    });
}
