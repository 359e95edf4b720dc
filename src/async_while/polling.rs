//! The one polling engine behind [`async_while`](super::async_while) and
//! [`poll_until`](super::poll_until): evaluate a clause, sleep a growing interval,
//! evaluate again, and stop at the deadline. The one exception is a first
//! evaluation still running at the deadline when `Rounds::timed_out_first` gives
//! `None` (`async_while`, which has no value to return yet): it is awaited to its end.
//!
//! What differs between the two is only how a value is read and what a timeout
//! gives; that is the [`Rounds`] a [`Polling`] is made with.
//!
//! | phase | what it waits for | then |
//! |---|---|---|
//! | `Start` | nothing (first poll) | set the deadline, evaluate |
//! | `Evaluating` | the clause's future, raced with the deadline | `Rounds::judge`: resolve, or keep the value and sleep |
//! | `Sleeping` | the timer (the interval, cut at the deadline) | `Awake` |
//! | `Awake` | nothing | past the deadline: `Rounds::timed_out`; else evaluate |
//! | `Done` | resolved | polling again panics |

use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::time::deadline_after;

/// What one kind of polling does with the clause and its values.
pub(super) trait Rounds {
    /// One evaluation of the clause.
    type Future: Future;
    /// What is kept of a value that did not end the polling.
    type Last;
    /// What the polling resolves to.
    type Output;

    /// Starts one evaluation of the clause.
    fn evaluate(&mut self) -> Self::Future;

    /// Reads a value: `Break` resolves with it, `Continue` keeps it and polls on.
    fn judge(
        &mut self,
        value: <Self::Future as Future>::Output,
    ) -> ControlFlow<Self::Output, Self::Last>;

    /// The output at the deadline, from the last value kept.
    fn timed_out(&mut self, last: Self::Last) -> Self::Output;

    /// The output at the deadline while the first evaluation still runs; `None` to
    /// await that evaluation to its end.
    fn timed_out_first(&mut self) -> Option<Self::Output>;
}

/// The default first interval: 0.1 s.
const FIRST_INTERVAL: Duration = Duration::from_millis(100);
/// The default growth of the interval per round: 0.1 s.
const INTERVAL_STEP: Duration = Duration::from_millis(100);
/// The default longest interval: 1 s.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// The sleeps between evaluations: `first`, growing by `step` per round up to `max`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Intervals {
    pub(super) first: Duration,
    pub(super) step: Duration,
    pub(super) max: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            first: FIRST_INTERVAL,
            step: INTERVAL_STEP,
            max: MAX_INTERVAL,
        }
    }
}

/// The interval setters of a future made of a [`Polling`] (in a field `polling`),
/// with their docs; `$made` is an expression making one, for the examples.
macro_rules! interval_setters {
    ($future:ident, $made:literal) => {
        /// The first sleep (default 0.1 s). It is capped by
        #[doc = concat!("[`max_interval`](", stringify!($future), "::max_interval).")]
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = concat!("let f = ", $made, ".first_interval(Duration::from_millis(10));")]
        /// # drop(f);
        /// ```
        pub fn first_interval(mut self, first: Duration) -> Self {
            self.polling.intervals.first = first;
            self
        }

        /// How much each sleep grows over the one before (default 0.1 s); zero keeps
        /// the interval fixed.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = concat!("let fixed = ", $made, ".interval_step(Duration::ZERO);")]
        /// # drop(fixed);
        /// ```
        pub fn interval_step(mut self, step: Duration) -> Self {
            self.polling.intervals.step = step;
            self
        }

        /// The longest sleep (default 1 s).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = concat!("let f = ", $made, ".max_interval(Duration::from_secs(5));")]
        /// # drop(f);
        /// ```
        pub fn max_interval(mut self, max: Duration) -> Self {
            self.polling.intervals.max = max;
            self
        }
    };
}

pub(super) use interval_setters;

/// The engine: a future over `R`'s rounds.
pub(super) struct Polling<R: Rounds> {
    pub(super) rounds: R,
    /// `None`: no deadline.
    timeout: Option<Duration>,
    pub(super) intervals: Intervals,
    /// Set on the first poll, from `timeout`; `None` also when it overflows the clock.
    deadline: Option<Instant>,
    /// The next sleep.
    interval: Duration,
    /// One timer, reset for each sleep and for racing an evaluation to the deadline.
    timer: Option<Pin<Box<Sleep>>>,
    phase: Phase<R::Future, R::Last>,
}

enum Phase<F, L> {
    /// Not polled yet.
    Start,
    /// Evaluating the clause; `last` is the value kept from the round before, if any.
    Evaluating { eval: Pin<Box<F>>, last: Option<L> },
    /// Sleeping on the timer, keeping the value of the round that made us sleep.
    Sleeping { last: L },
    /// Done sleeping (or one yield, for a zero interval): check the deadline, then
    /// evaluate again.
    Awake { last: L },
    /// Resolved.
    Done,
}

// No field is ever pinned in place: the clause's future and the timer are boxed.
impl<R: Rounds> Unpin for Polling<R> {}

impl<R: Rounds> Polling<R> {
    /// Polling with `rounds`, the default intervals, and `timeout` counted from the
    /// first poll (`None`: none).
    pub(super) fn new(rounds: R, timeout: Option<Duration>) -> Self {
        Polling {
            rounds,
            timeout,
            intervals: Intervals::default(),
            deadline: None,
            interval: FIRST_INTERVAL,
            timer: None,
            phase: Phase::Start,
        }
    }

    /// The timeout, `None` for none.
    pub(super) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn deadline_passed(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Sets the timer to `when` (creating it on first use) and polls it.
    fn poll_timer(&mut self, when: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() != when {
                    timer.as_mut().reset(when);
                }
                timer
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep_until(when))),
        };
        timer.as_mut().poll(cx)
    }

    /// After a round that did not resolve: arms the timer for the interval (cut at
    /// the deadline) and grows the interval. `true` for a zero interval: then the
    /// caller yields once instead of sleeping.
    fn sleep_after(&mut self, last: R::Last, now: Instant) -> bool {
        let mut wake = now
            .checked_add(self.interval)
            .unwrap_or_else(|| deadline_after(self.interval));
        if let Some(deadline) = self.deadline {
            wake = wake.min(deadline);
        }
        self.interval = self
            .interval
            .saturating_add(self.intervals.step)
            .min(self.intervals.max);
        if wake <= now {
            self.phase = Phase::Awake { last };
            return true;
        }
        match &mut self.timer {
            Some(timer) => timer.as_mut().reset(wake),
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(wake))),
        }
        self.phase = Phase::Sleeping { last };
        false
    }
}

impl<R: Rounds> Future for Polling<R> {
    type Output = R::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R::Output> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.phase, Phase::Done) {
                Phase::Start => {
                    let now = Instant::now();
                    this.deadline = this.timeout.and_then(|t| now.checked_add(t));
                    this.interval = this.intervals.first.min(this.intervals.max);
                    let eval = Box::pin(this.rounds.evaluate());
                    this.phase = Phase::Evaluating { eval, last: None };
                }
                Phase::Evaluating { mut eval, last } => match eval.as_mut().poll(cx) {
                    Poll::Ready(value) => match this.rounds.judge(value) {
                        ControlFlow::Break(output) => return Poll::Ready(output),
                        ControlFlow::Continue(last) => {
                            let now = Instant::now();
                            if this.deadline_passed(now) {
                                return Poll::Ready(this.rounds.timed_out(last));
                            }
                            if this.sleep_after(last, now) {
                                // A zero interval: let others run first.
                                cx.waker().wake_by_ref();
                                return Poll::Pending;
                            }
                        }
                    },
                    Poll::Pending => {
                        // The evaluation races the deadline.
                        let due = match this.deadline {
                            Some(deadline) => this.poll_timer(deadline, cx).is_ready(),
                            None => false,
                        };
                        match (due, last) {
                            (true, Some(last)) => {
                                return Poll::Ready(this.rounds.timed_out(last));
                            }
                            (true, None) => {
                                if let Some(output) = this.rounds.timed_out_first() {
                                    return Poll::Ready(output);
                                }
                                this.phase = Phase::Evaluating { eval, last: None };
                            }
                            (false, last) => this.phase = Phase::Evaluating { eval, last },
                        }
                        return Poll::Pending;
                    }
                },
                Phase::Sleeping { last } => {
                    let polled = match &mut this.timer {
                        Some(timer) => timer.as_mut().poll(cx),
                        None => Poll::Ready(()),
                    };
                    if polled.is_pending() {
                        this.phase = Phase::Sleeping { last };
                        return Poll::Pending;
                    }
                    this.phase = Phase::Awake { last };
                }
                Phase::Awake { last } => {
                    if this.deadline_passed(Instant::now()) {
                        // Timed out: stop without evaluating again.
                        return Poll::Ready(this.rounds.timed_out(last));
                    }
                    let eval = Box::pin(this.rounds.evaluate());
                    this.phase = Phase::Evaluating {
                        eval,
                        last: Some(last),
                    };
                }
                Phase::Done => panic!("a polling future was polled after it resolved"),
            }
        }
    }
}

impl<R: Rounds> Polling<R> {
    /// The engine's fields, for the `Debug` of the futures made of it.
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        let phase = match &self.phase {
            Phase::Start => "start",
            Phase::Evaluating { .. } => "evaluating",
            Phase::Sleeping { .. } => "sleeping",
            Phase::Awake { .. } => "awake",
            Phase::Done => "done",
        };
        d.field("timeout", &self.timeout)
            .field("first_interval", &self.intervals.first)
            .field("interval_step", &self.intervals.step)
            .field("max_interval", &self.intervals.max)
            .field("deadline", &self.deadline)
            .field("phase", &phase);
    }
}
