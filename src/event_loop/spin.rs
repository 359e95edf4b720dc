//! The idle spin: when a loop runs out of work it may look for new calls a little
//! longer before it parks its thread, so that a call arriving in that window costs no
//! wake-up. [`Spin`] holds the window ([`Builder::spin`](super::Builder::spin)) and
//! the rule for when spinning pays.
//!
//! The rule: a loop spins only while spinning catches calls at least as often as it
//! misses. Each window that catches a call adds a credit (up to [`MAX_CREDIT`]),
//! each that ends with nothing found takes one; a loop starts with
//! [`MISSES_TO_REST`] and, out of credit, parks at once when it runs out of work,
//! trying one window again every [`REST_IDLES`] idle turns, so it spins again as soon
//! as calls come back to back.
//! On a machine where loop threads, tokio workers and callers outnumber the cores,
//! a window that catches nothing takes the CPU the thread that will send the next
//! call needs (a thread woken for a reply, a worker handling it): a spin there
//! costs time and CPU and gains nothing, so the loop stops paying for it.

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
    /// Windows that caught a call, less those that did not, within
    /// `0..=MAX_CREDIT`: the loop rests from spinning at 0.
    credit: Cell<u32>,
    /// Idle turns parked at once since the last window, while the loop rests.
    rested: Cell<u32>,
}

impl Spin {
    pub(super) fn new(window: Duration) -> Self {
        Spin {
            window,
            until: Cell::new(None),
            parked_at: Cell::new(None),
            pays: Cell::new(true),
            credit: Cell::new(MISSES_TO_REST),
            rested: Cell::new(0),
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
        let opening = self.until.get().is_none();
        if opening && self.credit.get() == 0 {
            // Resting: park at once, but for one window in every `REST_IDLES`.
            let rested = self.rested.get() + 1;
            if rested < REST_IDLES {
                self.rested.set(rested);
                return Spun::WindowOver;
            }
            self.rested.set(0);
        }
        let now = Instant::now();
        let until = *self.until.get().get_or_insert(now + self.window);
        self.until.set(Some(until));
        let slice_end = until.min(now + SPIN_SLICE);
        loop {
            for _ in 0..SPIN_CHECKS {
                if has_work() {
                    self.credit.set((self.credit.get() + 1).min(MAX_CREDIT));
                    return Spun::Found;
                }
                std::hint::spin_loop();
            }
            let now = Instant::now();
            if now >= until {
                self.credit.set(self.credit.get().saturating_sub(1));
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

/// The credit a loop starts with: windows in a row that catch nothing before a new
/// loop rests from spinning.
const MISSES_TO_REST: u32 = 2;

/// The most credit a loop keeps: after a run of hits, this many misses in a row make
/// it rest.
const MAX_CREDIT: u32 = 4;

/// While resting, a loop spins one window in this many idle turns, to find out
/// whether spinning pays again.
const REST_IDLES: u32 = 16;

/// The longest a loop spins without letting its tasks run.
const SPIN_SLICE: Duration = Duration::from_micros(50);

/// How many times a spinning loop looks at its queue between two reads of the clock.
const SPIN_CHECKS: u32 = 16;

/// The default spin window ([`Builder::spin`](super::Builder::spin)): long enough to
/// catch the next call of a caller that submits calls back to back, short enough to
/// cost little CPU.
pub(super) const DEFAULT_SPIN: Duration = Duration::from_micros(10);

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// How many times a spin looked for work: zero when it parked at once.
    fn looks(spin: &Spin, found: bool) -> (usize, bool) {
        let n = Cell::new(0usize);
        let result = spin.spin(|| {
            n.set(n.get() + 1);
            found
        });
        spin.parks();
        (n.get(), matches!(result, Spun::Found))
    }

    /// Runs windows until one ends (a slice may end first on a busy machine).
    fn window_ends_empty(spin: &Spin) -> usize {
        let n = Cell::new(0usize);
        loop {
            let result = spin.spin(|| {
                n.set(n.get() + 1);
                false
            });
            if let Spun::WindowOver = result {
                spin.parks();
                return n.get();
            }
        }
    }

    #[test]
    fn a_loop_whose_spins_catch_nothing_rests_and_tries_one_window_in_every_rest_idles() {
        let spin = Spin::new(Duration::from_micros(20));
        for _ in 0..MISSES_TO_REST {
            assert!(window_ends_empty(&spin) >= SPIN_CHECKS as usize, "spun");
        }
        // Resting: the next idle turns park at once, without looking.
        for _ in 1..REST_IDLES {
            assert_eq!(looks(&spin, false), (0, false), "parked at once");
        }
        // One window in every REST_IDLES is spun again.
        assert!(window_ends_empty(&spin) >= SPIN_CHECKS as usize);
    }

    #[test]
    fn a_spin_that_catches_a_call_ends_the_rest() {
        let spin = Spin::new(Duration::from_micros(20));
        for _ in 0..MISSES_TO_REST {
            window_ends_empty(&spin);
        }
        for _ in 1..REST_IDLES {
            looks(&spin, false);
        }
        // The probe window catches a call: spinning pays again, at every idle turn.
        assert_eq!(looks(&spin, true), (1, true));
        for _ in 0..4 {
            assert_eq!(looks(&spin, true), (1, true), "spins at once, not resting");
        }
    }

    #[test]
    fn a_loop_that_misses_more_often_than_it_catches_rests() {
        let spin = Spin::new(Duration::from_micros(20));
        for _ in 0..10 {
            looks(&spin, true); // credit up to MAX_CREDIT
        }
        // One hit in three windows: the credit runs out, and the loop rests.
        let mut rested = false;
        for _ in 0..3 * MAX_CREDIT as usize {
            if spin.credit.get() == 0 {
                rested = true;
                break;
            }
            window_ends_empty(&spin);
            window_ends_empty(&spin);
            looks(&spin, true);
        }
        assert!(rested, "a 1-in-3 hit rate does not pay for the spin");
        assert_eq!(looks(&spin, false), (0, false), "parked at once");
    }

    #[test]
    fn a_zero_window_never_spins() {
        let spin = Spin::new(Duration::ZERO);
        assert_eq!(looks(&spin, true), (0, false));
    }
}
