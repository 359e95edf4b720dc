//! The lifecycle of a loop in one atomic word ([`Lifecycle`]), its public view
//! ([`LoopState`]), and what a close reports of the work it ended ([`ShutdownReport`]).
//!
//! | phase | takes new work | runs queued calls | entered by |
//! |---|---|---|---|
//! | `RUNNING` | yes | yes (a caller-driven loop: while driven) | building the loop |
//! | `STOPPING` | no | yes, until the deadline | `shutdown` |
//! | `CLOSING` | no | no: each is cut (fails with loop-closed) | `close`, the last drop, the deadline, the drain's end, the owning thread's exit, the loop thread's death |
//! | `CLOSED` | no | no | the end of teardown: tasks dropped, runtime shut down |
//!
//! The phase only moves forward. Beside it, two flags:
//! - `DRIVEN`: a thread is driving the loop (`is_running`); set and cleared by that
//!   thread, and never set once the loop is closing;
//! - `STOP`: `stop()` asked a caller-driven drive to return after its iteration.
//!
//! The word changes only at those transitions, so the threads that read it on every
//! call (a push, the loop before each call) share its cache line undisturbed; it has
//! that line to itself. Whether a batch of calls is running now, which changes on
//! every iteration, is a hint kept apart ([`CallsRunning`]).
//!
//! The transitions that stop the loop taking work (`to_stopping`, `to_closing`) are
//! made under the injector's lock, which is also where a push reads the phase: a
//! push either lands before the transition (and is then run or cut) or is refused.

use crate::loom::{AtomicBool, AtomicUsize, Ordering};

const PHASE: usize = 0b11;
const RUNNING: usize = 0;
const STOPPING: usize = 1;
const CLOSING: usize = 2;
const CLOSED: usize = 3;
const DRIVEN: usize = 1 << 2;
const STOP: usize = 1 << 3;

/// Where a loop is in its lifecycle, as [`EventLoop::state`](super::EventLoop::state)
/// reports it. Every loop goes through these states in this order (one may be
/// skipped, none revisited); what each means for new work, queued calls and tasks is
/// written down once, in [the lifecycle](super::EventLoop#lifecycle).
///
/// # Examples
///
/// ```
/// use pulsar_async::event_loop::LoopState;
/// let lp = pulsar_async::EventLoop::new().unwrap();
/// assert_eq!(lp.state(), LoopState::Running);
/// lp.close();
/// assert_eq!(lp.state(), LoopState::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoopState {
    /// Takes work and runs it.
    Running,
    /// Draining for [`shutdown`](super::EventLoop::shutdown): refuses new work, runs
    /// what was queued until the deadline.
    Stopping,
    /// Refuses work; what has not started is cut, tasks are being dropped.
    Closing,
    /// Finished closing: every promise of its work is settled.
    Closed,
}

/// The one word of a loop's lifecycle: its phase and the `DRIVEN` and `STOP` flags,
/// on a cache line of its own.
#[repr(align(128))]
pub(crate) struct Lifecycle(AtomicUsize);

impl Lifecycle {
    pub(crate) fn new() -> Self {
        Lifecycle(AtomicUsize::new(RUNNING))
    }

    #[inline]
    fn word(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// The public view.
    #[inline]
    pub(crate) fn state(&self) -> LoopState {
        match self.word() & PHASE {
            RUNNING => LoopState::Running,
            STOPPING => LoopState::Stopping,
            CLOSING => LoopState::Closing,
            _ => LoopState::Closed,
        }
    }

    /// `true` while the loop takes new work (`RUNNING`).
    #[inline]
    pub(crate) fn takes_work(&self) -> bool {
        self.word() & PHASE == RUNNING
    }

    /// `true` once the loop is closing or closed: nothing queued may start.
    pub(crate) fn is_closing(&self) -> bool {
        self.word() & PHASE >= CLOSING
    }

    /// `true` while draining for a shutdown.
    pub(crate) fn is_stopping(&self) -> bool {
        self.word() & PHASE == STOPPING
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.word() & PHASE == CLOSED
    }

    pub(crate) fn is_driven(&self) -> bool {
        self.word() & DRIVEN != 0
    }

    /// `RUNNING` to `STOPPING`; `true` if this call made the move. Under the
    /// injector's lock.
    pub(crate) fn to_stopping(&self) -> bool {
        self.advance(STOPPING)
            .is_some_and(|was| was & PHASE == RUNNING)
    }

    /// `RUNNING` or `STOPPING` to `CLOSING`; `true` if this call made the move.
    /// Under the injector's lock.
    pub(crate) fn to_closing(&self) -> bool {
        self.advance(CLOSING).is_some()
    }

    /// `CLOSING` to `CLOSED`; `true` if this call made the move (teardown is over).
    pub(crate) fn to_closed(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w & PHASE == CLOSING).then_some(w | CLOSED)
            })
            .is_ok()
    }

    /// Moves the phase forward to `phase` (never back); the word before, or `None`
    /// when the phase was already there or past it.
    fn advance(&self, phase: usize) -> Option<usize> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w & PHASE < phase).then_some((w & !PHASE) | phase)
            })
            .ok()
    }

    /// Starts a drive: sets `DRIVEN` unless the loop is closing or already driven.
    /// `Err(closing)` when refused: `true` if refused because it is closing.
    pub(crate) fn enter_drive(&self) -> Result<(), bool> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w & PHASE < CLOSING && w & DRIVEN == 0).then_some(w | DRIVEN)
            })
            .map(drop)
            .map_err(|w| w & PHASE >= CLOSING)
    }

    /// Ends a drive.
    pub(crate) fn leave_drive(&self) {
        self.0.fetch_and(!DRIVEN, Ordering::AcqRel);
    }

    /// Asks a caller-driven drive to return after its iteration.
    pub(crate) fn request_stop(&self) {
        self.0.fetch_or(STOP, Ordering::AcqRel);
    }

    /// Takes the stop request, if there is one.
    ///
    /// A compare-exchange loop rather than `fetch_and`: the form loom models correctly
    /// (tokio-rs/loom#254 lets a store slip between the read and the write of a
    /// read-modify-write that ignores what it read).
    pub(crate) fn take_stop(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w & STOP != 0).then_some(w & !STOP)
            })
            .is_ok()
    }

    /// `true` when a stop is requested (without taking it).
    pub(crate) fn stop_requested(&self) -> bool {
        self.word() & STOP != 0
    }
}

/// Whether the loop is running a batch of calls, so that a user call may be running
/// now: a hint for the last drop, which waits for a running call only so long. Not
/// part of the lifecycle (nothing is decided on it but how long to wait), and on a
/// cache line of its own, since the loop writes it twice per iteration.
#[repr(align(128))]
pub(crate) struct CallsRunning(AtomicBool);

impl CallsRunning {
    pub(crate) fn new() -> Self {
        CallsRunning(AtomicBool::new(false))
    }

    pub(crate) fn set(&self, running: bool) {
        self.0.store(running, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_phase_only_moves_forward() {
        let l = Lifecycle::new();
        assert!(l.to_stopping());
        assert!(!l.to_stopping());
        assert!(l.to_closing());
        assert!(!l.to_stopping());
        assert!(!l.to_closing());
        assert!(l.to_closed());
        assert!(!l.to_closed());
        assert_eq!(l.state(), LoopState::Closed);
    }

    #[test]
    fn a_closing_loop_cannot_be_driven_and_the_flags_survive_transitions() {
        let l = Lifecycle::new();
        assert_eq!(l.enter_drive(), Ok(()));
        assert_eq!(l.enter_drive(), Err(false), "already driven");
        l.request_stop();
        assert!(l.to_closing());
        assert!(l.is_driven() && l.stop_requested());
        l.leave_drive();
        assert_eq!(l.enter_drive(), Err(true), "closing");
        assert!(l.take_stop());
        assert!(!l.take_stop());
    }
}

/// How a loop's close went: of the calls queued on it, how many ran while it drained
/// for a [`shutdown`](super::EventLoop::shutdown), and how many were cut (failed with
/// [`LoopClosed`](crate::ErrorKind::LoopClosed) without running); of its tasks, how
/// many finished while it drained, and how many were cut (dropped when it closed,
/// their promises failed with `LoopClosed`).
///
/// Calls are what `call_soon`, `call_soon_threadsafe`, `run_in_loop` and the `spawn`
/// family queue; tasks are what runs on the loop's task set: `spawn`, `spawn_local`,
/// `run_in_loop_async`, `call_later` (a timer is a task), `LoopLocal::call_async`, and
/// `tokio::spawn` inside the loop.
///
/// More fields may come (`#[non_exhaustive]`): read them by name.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// // A caller-driven loop runs nothing until driven: the three calls wait in its queue.
/// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
/// for i in 0..3 {
///     let _ = pulsar_async::run_in_loop(&lp, move || i);
/// }
/// let report = lp.shutdown(Duration::from_secs(5)).unwrap();
/// assert_eq!((report.ran, report.cut), (3, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Calls that ran while the loop drained for a shutdown.
    pub ran: usize,
    /// Calls cut: queued but never started, each failed with `LoopClosed`.
    pub cut: usize,
    /// Tasks that ended while the loop drained for a shutdown.
    pub tasks_finished: usize,
    /// Tasks alive when the loop closed: dropped, their promises failed with
    /// `LoopClosed`.
    pub tasks_cut: usize,
}
