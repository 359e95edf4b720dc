//! Waiting for room on a bounded loop: [`EventLoop::reserve`] (the future
//! [`Reserve`]) and [`EventLoop::try_reserve`] give a [`Permit`], one place on the
//! loop held for a call that [`Permit::run`] then submits without a second check
//! (tokio's bounded `Sender::reserve` shape). The line the waiters stand in is
//! `capacity.rs`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, ErrorKind};
use crate::promise::Promise;

use super::EventLoop;

impl EventLoop {
    /// Waits for a place on the loop, for one call: a future of a [`Permit`] whose
    /// [`run`](Permit::run) submits the call without a second check. On a loop
    /// without a [`queue_capacity`](super::Builder::queue_capacity) it is ready at
    /// once. Waiters are served first come, first served.
    ///
    /// # Errors
    ///
    /// The future fails with [`ErrorKind::LoopClosed`] once the loop takes no more
    /// work (stopping, closing or closed), including while it waits.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it is ready, it holds no place, and a place freed
    /// for it passes to the next waiter; its turn in the line is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::EventLoop;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let lp = EventLoop::builder().queue_capacity(16).spawn().unwrap();
    /// let mut replies = Vec::new();
    /// for i in 0..100u32 {
    ///     // Backpressure: waits while the loop holds 16 calls not yet started.
    ///     let permit = lp.reserve().await.unwrap();
    ///     replies.push(permit.run(move || i * 2));
    /// }
    /// for (i, reply) in replies.into_iter().enumerate() {
    ///     assert_eq!(reply.await.unwrap(), i as u32 * 2);
    /// }
    /// assert_eq!(lp.metrics().calls_refused, 0);
    /// # }
    /// ```
    pub fn reserve(&self) -> Reserve {
        Reserve {
            lp: Some(self.uncounted()),
            ticket: None,
        }
    }

    /// A place on the loop now, if there is one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Full`] when the loop holds as many calls as its
    /// [`queue_capacity`](super::Builder::queue_capacity) allows (counted in
    /// [`LoopMetrics::calls_refused`](super::LoopMetrics)); [`ErrorKind::LoopClosed`]
    /// when it takes no more work.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, EventLoop};
    /// let lp = EventLoop::builder().queue_capacity(1).build_driven().unwrap();
    /// let permit = lp.try_reserve().unwrap();
    /// assert_eq!(lp.try_reserve().unwrap_err().kind(), ErrorKind::Full);
    /// drop(permit); // an unused permit gives its place back
    /// let answer = lp.try_reserve().unwrap().run(|| 42);
    /// assert_eq!(lp.run_until_complete(answer).unwrap().unwrap(), 42);
    /// ```
    pub fn try_reserve(&self) -> Result<Permit, Error> {
        if !self.shared.takes_local_work() {
            return Err(ErrorKind::LoopClosed.into());
        }
        self.admit()?;
        Ok(Permit {
            lp: self.uncounted(),
            spent: false,
        })
    }
}

/// The future of [`EventLoop::reserve`]: a [`Permit`] once the loop has room.
///
/// # Cancel safety
///
/// Cancel safe: dropped before it is ready, it holds no place, and a place freed for
/// it passes to the next waiter.
///
/// # Examples
///
/// ```
/// use pulsar_async::EventLoop;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let lp = EventLoop::builder().queue_capacity(2).spawn().unwrap();
/// let reserve: pulsar_async::event_loop::Reserve = lp.reserve();
/// let permit = reserve.await.unwrap();
/// assert_eq!(permit.run(|| "ran").await.unwrap(), "ran");
/// # }
/// ```
#[must_use = "a future does nothing unless polled"]
pub struct Reserve {
    /// `None` once ready.
    lp: Option<EventLoop>,
    /// Its place in the line of waiters, while it waits.
    ticket: Option<u64>,
}

impl Future for Reserve {
    type Output = Result<Permit, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(lp) = this.lp.as_ref() else {
            return Poll::Ready(Err(Error::new(
                ErrorKind::InvalidState,
                "this Reserve future was polled after it gave its result",
            )));
        };
        let shared = &lp.shared;
        let polled = shared
            .injector
            .capacity()
            .poll_take(&mut this.ticket, cx, || shared.takes_local_work());
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(Permit {
                lp: this.lp.take().expect("checked above"),
                spent: false,
            })),
            Poll::Ready(Err(())) => {
                this.lp = None;
                Poll::Ready(Err(ErrorKind::LoopClosed.into()))
            }
        }
    }
}

impl Drop for Reserve {
    fn drop(&mut self) {
        if let Some(lp) = &self.lp {
            lp.shared.injector.capacity().leave(&mut self.ticket);
        }
    }
}

impl fmt::Debug for Reserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve")
            .field("event_loop", &self.lp.as_ref().map(EventLoop::name))
            .field("waiting", &self.ticket.is_some())
            .finish()
    }
}

/// One place on a loop, held for one call: [`run`](Permit::run) (or
/// [`try_run`](Permit::try_run), [`run_async`](Permit::run_async)) submits it without
/// a second check, so it is never refused for room. Dropped unused, it gives its place
/// back. It does not keep the loop open; a call run through it on a loop that closed
/// meanwhile fails with [`ErrorKind::LoopClosed`].
///
/// # Examples
///
/// ```
/// use pulsar_async::EventLoop;
/// let lp = EventLoop::builder().queue_capacity(4).spawn().unwrap();
/// let permit: pulsar_async::event_loop::Permit = lp.try_reserve().unwrap();
/// assert_eq!(permit.event_loop().name(), lp.name());
/// assert_eq!(permit.run(|| 1 + 1).wait().unwrap(), 2);
/// ```
pub struct Permit {
    lp: EventLoop,
    /// Set when a call took the place over.
    spent: bool,
}

impl Permit {
    /// The loop the place is on.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// assert!(lp.try_reserve().unwrap().event_loop() == &lp);
    /// ```
    pub fn event_loop(&self) -> &EventLoop {
        &self.lp
    }

    /// Runs `f` on the loop's thread, in the place this permit holds: as
    /// [`run_in_loop`](crate::run_in_loop), never refused for room.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().queue_capacity(1).spawn().unwrap();
    /// let p = lp.try_reserve().unwrap().run(|| "on the loop");
    /// assert_eq!(p.wait().unwrap(), "on the loop");
    /// ```
    #[track_caller]
    pub fn run<T, F>(self, f: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.into_loop()
            .call_admitted(std::any::type_name::<F>(), move || Ok(f()))
    }

    /// Like [`run`](Permit::run), for a callable that returns a `Result`: as
    /// [`try_run_in_loop`](crate::try_run_in_loop) (an `Err` fails the promise).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().queue_capacity(1).spawn().unwrap();
    /// let p = lp.try_reserve().unwrap().try_run(|| "12".parse::<u8>());
    /// assert_eq!(p.wait().unwrap(), 12);
    /// ```
    #[track_caller]
    pub fn try_run<T, E, F>(self, f: F) -> Promise<T>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        T: Send + 'static,
    {
        self.into_loop()
            .call_admitted(std::any::type_name::<F>(), move || f().map_err(Error::user))
    }

    /// Like [`run`](Permit::run), for a callable that returns a future, run as a task
    /// on the loop: as [`run_in_loop_async`](crate::run_in_loop_async).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().queue_capacity(1).spawn().unwrap();
    /// let p = lp.try_reserve().unwrap().run_async(|| async { 7 });
    /// assert_eq!(p.wait().unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn run_async<T, F, Fut>(self, f: F) -> Promise<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        self.into_loop()
            .spawn_admitted(std::any::type_name::<Fut>(), move || {
                let future = f();
                async move { Ok(future.await) }
            })
    }

    /// The loop, with the place now owned by the call about to be submitted (so
    /// the permit's drop does not give it back).
    fn into_loop(mut self) -> EventLoop {
        self.spent = true;
        self.lp.uncounted()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.spent {
            self.lp.shared.injector.capacity().give_back();
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("event_loop", &self.lp.name())
            .finish()
    }
}
