//! Helpers shared by the integration tests (each test binary uses what it needs).
#![allow(dead_code)]

use pulsar_async::{run_in_loop, EventLoop};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// A future that counts its polls.
pub struct Counted<F> {
    pub inner: F,
    pub polls: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A flag set when the thread of `lp` exits (by a thread-local's destructor there).
pub fn thread_exit_flag(lp: &EventLoop) -> Arc<AtomicBool> {
    struct OnExit(Arc<AtomicBool>);
    impl Drop for OnExit {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    thread_local!(static EXIT: RefCell<Option<OnExit>> = const { RefCell::new(None) });
    let exited = Arc::new(AtomicBool::new(false));
    let flag = exited.clone();
    run_in_loop(lp, move || {
        EXIT.with(|x| *x.borrow_mut() = Some(OnExit(flag)))
    })
    .wait()
    .expect("the loop runs the call");
    exited
}

/// Waits until `done()` holds, polling; panics naming `what` after `limit`, so a bug
/// is a failure, not a hang.
pub fn wait_until(limit: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "still waiting after {limit:?} until {what}"
        );
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}
