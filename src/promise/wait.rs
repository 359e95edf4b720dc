//! The blocking wait of a promise, for plain threads: a short spin, then the thread
//! parks until a [`ThreadWaker`] wakes it.

use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::loom;

use super::Promise;

impl<T: Clone> Promise<T> {
    /// Blocks the current thread until the promise is done, and returns its outcome.
    /// For plain threads; in async code, `.await` the promise instead.
    ///
    /// # Errors
    ///
    /// The promise's error; [`ErrorKind::WouldDeadlock`] at once when called, while the
    /// promise is pending, on the thread of the loop that must complete it.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// assert_eq!(run_in_loop(&lp, || 6 * 7).wait().unwrap(), 42);
    /// ```
    pub fn wait(&self) -> Result<T, Error> {
        if let Some(outcome) = self.peek() {
            return outcome.clone();
        }
        self.clone().block_until_done(None)?;
        self.try_result()
    }

    /// Like [`wait`](Promise::wait), giving up after `timeout`; the promise itself stays
    /// pending.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when `timeout` passes first; otherwise as
    /// [`wait`](Promise::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, Promise};
    /// use std::time::Duration;
    /// let p = Promise::<u8>::new();
    /// let err = p.wait_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// assert!(!p.is_done());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let deadline = Instant::now().checked_add(timeout);
        self.clone().block_until_done(deadline)?;
        self.try_result()
    }
}

impl<T> Promise<T> {
    /// Blocks the current thread until the promise is done or `deadline` passes.
    fn block_until_done(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        if self.is_done() {
            return Ok(());
        }
        if self
            .shared
            .scheduler
            .as_ref()
            .is_some_and(|s| s.is_loop_thread())
        {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "blocking wait on the thread of the loop that must complete the promise",
            ));
        }
        #[cfg(not(loom))]
        {
            // A short spin catches a loop that is answering right now without the
            // cost of parking this thread and waking it again. It yields the CPU
            // between rounds, so that on a busy machine it does not keep the loop's
            // thread from running.
            let spin_until = Instant::now() + SPIN_BEFORE_PARK;
            loop {
                for _ in 0..SPIN_CHECKS {
                    if self.is_done() {
                        return Ok(());
                    }
                    std::hint::spin_loop();
                }
                if Instant::now() >= spin_until {
                    break;
                }
                std::thread::yield_now();
            }
        }
        let waker = Waker::from(std::sync::Arc::new(ThreadWaker(loom::current_thread())));
        let result = loop {
            if !self.register(&waker) {
                break Ok(());
            }
            match deadline {
                None => loom::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Err(Error::new(ErrorKind::Timeout, "wait_timeout elapsed"));
                    }
                    park_timeout(deadline - now);
                }
            }
        };
        self.release_slot();
        result
    }
}

#[cfg(not(loom))]
fn park_timeout(d: Duration) {
    std::thread::park_timeout(d);
}

#[cfg(loom)]
fn park_timeout(_: Duration) {
    loom::park();
}

/// How long a blocking wait spins before it parks the thread.
#[cfg(not(loom))]
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(20);

/// How many times a spinning wait looks at the promise between two yields.
#[cfg(not(loom))]
const SPIN_CHECKS: u32 = 32;

/// Wakes a parked thread.
struct ThreadWaker(loom::Thread);

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}
