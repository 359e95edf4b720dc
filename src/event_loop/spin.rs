//! The idle spin: when a loop runs out of work it may look for new calls a little
//! longer before it parks its thread, so that a call arriving in that window costs no
//! wake-up. [`Spin`] holds the window ([`Builder::spin`](super::Builder::spin)) and
//! the rule for when spinning pays.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A loop's idle spin (only its own thread touches it).
pub(super) struct Spin {
    /// The window: how long the loop spins before it parks (zero: never).
    window: Duration,
    /// The end of the current window, while the loop spins for new calls.
    until: Cell<Option<Instant>>,
    /// When the drive last parked, until it runs again.
    parked_at: Cell<Option<Instant>>,
    /// Whether the window is worth spinning: not after a park much longer than the
    /// window (the next call is not coming soon either).
    pays: Cell<bool>,
}

impl Spin {
    pub(super) fn new(window: Duration) -> Self {
        Spin {
            window,
            until: Cell::new(None),
            parked_at: Cell::new(None),
            pays: Cell::new(true),
        }
    }

    /// The drive runs again after a park: the park's length says whether the next
    /// spin pays (see [`SPIN_PAYS_WITHIN`]).
    #[inline]
    pub(super) fn woken(&self) {
        if let Some(parked_at) = self.parked_at.take() {
            self.pays
                .set(parked_at.elapsed() < self.window * SPIN_PAYS_WITHIN);
        }
    }

    /// Work was found: the next time the loop runs out of it, a new window opens.
    #[inline]
    pub(super) fn found_work(&self) {
        self.until.set(None);
    }

    /// The loop parks: the window is over, and the park's length is measured.
    #[inline]
    pub(super) fn parks(&self) {
        self.until.set(None);
        if !self.window.is_zero() {
            self.parked_at.set(Some(Instant::now()));
        }
    }

    /// Spins while `has_work` says no, up to the end of the window or of the current
    /// slice ([`SPIN_SLICE`]).
    pub(super) fn spin(&self, has_work: impl Fn() -> bool) -> Spun {
        if self.window.is_zero() || !self.pays.get() {
            return Spun::WindowOver;
        }
        let now = Instant::now();
        let until = *self.until.get().get_or_insert(now + self.window);
        self.until.set(Some(until));
        let slice_end = until.min(now + SPIN_SLICE);
        loop {
            for _ in 0..SPIN_CHECKS {
                if has_work() {
                    return Spun::Found;
                }
                std::hint::spin_loop();
            }
            let now = Instant::now();
            if now >= until {
                return Spun::WindowOver;
            }
            if now >= slice_end {
                return Spun::SliceOver;
            }
            // Give the CPU to any other thread that is ready: on a busy machine the
            // thread that will call next may be waiting for it.
            std::thread::yield_now();
        }
    }
}

/// What a spin for new calls found.
pub(super) enum Spun {
    /// Work may be queued.
    Found,
    /// The slice is over but the window is not: let the tasks run, then spin again.
    SliceOver,
    /// The window is over: park.
    WindowOver,
}

/// A spin window pays while the loop's parks last less than this many windows: calls
/// come back to back, and spinning catches the next one without a wake-up. After a
/// longer park, the loop parks at once when it runs out of work (and spins again
/// after a short park).
const SPIN_PAYS_WITHIN: u32 = 4;

/// The longest a loop spins without letting its tasks run.
const SPIN_SLICE: Duration = Duration::from_micros(50);

/// How many times a spinning loop looks at its queue between two reads of the clock.
const SPIN_CHECKS: u32 = 16;

/// The default spin window ([`Builder::spin`](super::Builder::spin)): long enough to
/// catch the next call of a caller that submits calls back to back, short enough to
/// cost little CPU.
pub(super) const DEFAULT_SPIN: Duration = Duration::from_micros(10);
