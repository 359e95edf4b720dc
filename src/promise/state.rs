//! The promise's state word: what each bit means, which transitions exist, and
//! [`Snapshot`], the one type every view of a promise is derived from.
//!
//! One `AtomicUsize` per promise, a [`StateWord`]: the core holds it, and it changes
//! only through the transition functions here, one per row of the table below. Every view — `is_done`, `is_cancelled`, `cancel`, `set*`, `wait`,
//! `try_result`, `peek`, await, done-callbacks — reads this word; no view keeps a
//! second flag.
//!
//! ```text
//!  bit    name       meaning
//!  0..2   KIND       00 pending; 01 VALUE, 10 ERROR, 11 CANCELLED: set once, by the
//!                    claim that wins the right to write the outcome cell
//!  2      COMPLETE   the outcome cell is written (readable); set once, after KIND
//!  3      TAKEN      the value was moved out (only with KIND = VALUE)
//!  4      RETRIEVED  an error was read (debug mode reports failures nobody read)
//!  5      WAITERS    something waits in the waiters' list: whoever completes, or
//!                    releases a hold, takes the lock and looks
//!  6      HOLD       done-callbacks are queued or running: they read the outcome in
//!                    place, so it may not be moved out
//!  7      CLONER     `<T as Clone>::clone` is recorded: the value may be shared
//!  8      CLONING    a reader is cloning the value: clones are made one at a time,
//!                    so that a `T` that is `Send` but not `Sync` is never read by two
//!                    threads at once (a lock, as `Mutex<T>`)
//!  9..36  READERS    the number of reading handles (`Promise`s, and internal
//!                    consumers that took one over)
//!  36..64  REFS       the number of counted references to the core (handles,
//!                    setters, jobs): the core is freed when it drops to 0. A
//!                    reading handle holds one READER and one REF and gives both
//!                    back with one `fetch_sub`.
//! ```
//!
//! # States and transitions
//!
//! The life of a promise is `pending → settled → (taken)`; the flags on the side
//! (RETRIEVED, WAITERS, HOLD, CLONER, READERS) never move it backwards.
//!
//! | transition | from | to | by | function |
//! |---|---|---|---|---|
//! | claim | KIND = 0 | KIND = k | the first `set`/`cancel` (CAS) | `StateWord::claim` |
//! | complete | KIND = k, !COMPLETE | COMPLETE | the claimer, after writing the cell | `StateWord::complete` |
//! | take | KIND = VALUE, COMPLETE, !TAKEN, !HOLD, READERS = 1 | TAKEN, !COMPLETE | the last reader (CAS; a plain store when it is the only reference) | `StateWord::take`, `StateWord::take_alone` |
//! | rewrite | TAKEN, !COMPLETE | TAKEN, COMPLETE | the taker, after writing the taken error into the cell | `StateWord::complete` |
//! | hold | !HOLD | HOLD | the first done-callback (under the waiters' lock) | `StateWord::hold` |
//! | release | HOLD | !HOLD | the callback runner, queue empty (under the lock) | `StateWord::release_hold` |
//! | waiters | — | WAITERS | anyone registering a waiter (under the lock) | `StateWord::mark` |
//! | retrieved | — | RETRIEVED | a read of an error; a refused `cancel` | `StateWord::mark` |
//! | cloner | !CLONER | CLONER | the first `Promise::clone` | `StateWord::set_cloner` |
//! | cloning | !CLONING | CLONING, then back | a reader cloning the value | `StateWord::begin_cloning`, `end_cloning` |
//! | reader +1 / −1 | READERS = n | n ± 1 | `Promise::clone` / drop | `StateWord::add`, `sub` |
//! | ref +1 / −1 | REFS = n | n ± 1; at 0 the core is freed | any counted reference (a weak handle: only while REFS > 0) | `StateWord::add`, `sub`, `upgrade` |
//!
//! There is no way back to pending, and no second claim: a `set` or `cancel` that
//! finds KIND ≠ 0 is refused (`set` returns [`SetError`](crate::error::SetError),
//! `cancel` returns `false`). Between claim and complete (a plain memory write, no
//! user code) the promise is already done for every view that only asks "done?"; a
//! view that needs the outcome waits for COMPLETE, which the claimer sets right after.
//! A take clears COMPLETE for the same kind of window: it moves the value out, writes
//! the taken error ([`ErrorKind::Taken`](crate::ErrorKind::Taken)) in its place and
//! sets COMPLETE again, so from then on every view reads that error in the cell.
//!
//! # Who may do what
//!
//! - Any handle (`Promise`, [`Setter`](crate::promise::Setter), an internal completer) may claim.
//! - Only a reading handle may read. Reads of a value clone it when the value is
//!   shared (READERS > 1, or CLONER set and the read does not consume its handle),
//!   and move it (TAKEN) otherwise, once no done-callback holds it (HOLD clear).
//! - Reads of an error always clone it (an [`Error`](crate::Error) is a cheap
//!   `Arc`): a failed promise never becomes taken.
//! - Done-callbacks read the outcome in place, under a `Hold` (see `core`).

/// The outcome kind bits.
pub(crate) const KIND: usize = 0b11;
/// KIND: settled with a value.
pub(crate) const VALUE: usize = 0b01;
/// KIND: settled with an error.
pub(crate) const ERROR: usize = 0b10;
/// KIND: cancelled (the cell holds an [`ErrorKind::Cancelled`](crate::ErrorKind) error).
pub(crate) const CANCELLED: usize = 0b11;
/// The outcome cell is written.
pub(crate) const COMPLETE: usize = 1 << 2;
/// The value was moved out.
pub(crate) const TAKEN: usize = 1 << 3;
/// An error was read.
pub(crate) const RETRIEVED: usize = 1 << 4;
/// The waiters' list may hold something.
pub(crate) const WAITERS: usize = 1 << 5;
/// Done-callbacks are queued or running.
pub(crate) const HOLD: usize = 1 << 6;
/// A cloner is recorded.
pub(crate) const CLONER: usize = 1 << 7;
/// A reader is cloning the value (clones are made one at a time).
pub(crate) const CLONING: usize = 1 << 8;
/// One reading handle.
pub(crate) const READER: usize = 1 << 9;
/// All the READERS bits (27 of them).
pub(crate) const READERS: usize = ((1 << 27) - 1) * READER;
/// One counted reference to the core (a handle, a setter, a job): the core is freed
/// when the last one goes, as an `Arc`'s strong count.
pub(crate) const REF: usize = 1 << 36;
/// All the REFS bits (28 of them).
pub(crate) const REFS: usize = !(REF - 1);

use crate::loom::{AtomicUsize, Ordering};

// The word holds two counts beside the flags: a 64-bit word is needed.
const _: () = assert!(
    usize::BITS == 64,
    "the promise state word needs a 64-bit usize"
);

/// What a promise was settled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pending,
    Value,
    Error,
    Cancelled,
}

/// A copy of the state word, read once; every view of a promise is a method here.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    /// What the promise was settled with (`Pending` before the claim).
    pub(crate) fn kind(self) -> Kind {
        match self.0 & KIND {
            0 => Kind::Pending,
            VALUE => Kind::Value,
            ERROR => Kind::Error,
            _ => Kind::Cancelled,
        }
    }

    /// Settled (claimed): every "done?" view says yes from here on.
    pub(crate) fn is_done(self) -> bool {
        self.0 & KIND != 0
    }

    /// Cancelled.
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & KIND == CANCELLED
    }

    /// Failed with an error other than cancellation.
    pub(crate) fn is_failed(self) -> bool {
        self.0 & KIND == ERROR
    }

    /// The outcome cell is written.
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }

    /// The value was moved out.
    pub(crate) fn is_taken(self) -> bool {
        self.0 & TAKEN != 0
    }

    /// An error was read.
    pub(crate) fn is_retrieved(self) -> bool {
        self.0 & RETRIEVED != 0
    }

    /// Something may wait in the waiters' list.
    pub(crate) fn has_waiters(self) -> bool {
        self.0 & WAITERS != 0
    }

    /// Done-callbacks hold the outcome in place.
    pub(crate) fn is_held(self) -> bool {
        self.0 & HOLD != 0
    }

    /// A cloner is recorded: the value is `Clone` and was shared at least once.
    pub(crate) fn has_cloner(self) -> bool {
        self.0 & CLONER != 0
    }

    /// The number of reading handles.
    pub(crate) fn readers(self) -> usize {
        (self.0 & READERS) / READER
    }

    /// The number of counted references to the core.
    pub(crate) fn refs(self) -> usize {
        self.0 / REF
    }

    /// Whether a read by a reading handle must clone the value rather than move it:
    /// other readers exist, or (for a read that does not consume its handle, such as
    /// a poll through `&mut`) the value was shared once and may be again.
    pub(crate) fn must_clone(self, consuming: bool) -> bool {
        self.readers() > 1 || (!consuming && self.has_cloner())
    }

    /// Whether a read (see `Reader::read`) would have to wait: the promise is not
    /// complete, or this is the value's last reader and done-callbacks still hold it.
    pub(crate) fn read_would_wait(self, consuming: bool) -> bool {
        !self.is_complete()
            || (self.kind() == Kind::Value
                && !self.is_taken()
                && !self.must_clone(consuming)
                && self.is_held())
    }

    /// The fast path of a read: the take transition is allowed and the read does not
    /// have to clone — one mask and one compare.
    #[inline]
    pub(crate) fn can_move_out(self, consuming: bool) -> bool {
        let cloner = if consuming { 0 } else { CLONER };
        self.0 & (KIND | COMPLETE | TAKEN | HOLD | READERS | cloner) == VALUE | COMPLETE | READER
    }

    /// The take transition is allowed from this state (for the one reader left).
    pub(crate) fn can_take(self) -> bool {
        self.kind() == Kind::Value
            && self.is_complete()
            && !self.is_taken()
            && !self.is_held()
            && self.readers() == 1
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("kind", &self.kind())
            .field("complete", &self.is_complete())
            .field("taken", &self.is_taken())
            .field("retrieved", &self.is_retrieved())
            .field("waiters", &self.has_waiters())
            .field("held", &self.is_held())
            .field("cloner", &self.has_cloner())
            .field("readers", &self.readers())
            .field("refs", &self.refs())
            .finish()
    }
}

/// The state word itself. It changes only through the transitions below, one
/// function each, named as in the table above and returning what happened (as
/// tokio's task `State`); the orderings live here, next to the reasons for them.
pub(crate) struct StateWord(AtomicUsize);

impl StateWord {
    pub(crate) fn new(word: usize) -> Self {
        StateWord(AtomicUsize::new(word))
    }

    /// The word, read once (`Acquire`: an outcome seen COMPLETE is readable).
    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// **claim**: KIND from 0 to `kind`. `true` for the one caller that wins the right
    /// to write the outcome cell; `false` if another claim came first.
    #[inline]
    pub(crate) fn claim(&self, kind: usize) -> bool {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            if s & KIND != 0 {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(s, s | kind, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// **complete** (after a claim) and **rewrite** (after a take): sets COMPLETE,
    /// publishing the cell (`Release`); the word as it was just before.
    #[inline]
    pub(crate) fn complete(&self) -> Snapshot {
        Snapshot(self.0.fetch_or(COMPLETE, Ordering::AcqRel))
    }

    /// **take**: from `s` (a complete value, not taken, not held, one reader) to
    /// TAKEN with COMPLETE cleared, by CAS; `false` if the word moved on.
    #[inline]
    pub(crate) fn take(&self, s: Snapshot) -> bool {
        debug_assert!(s.can_take());
        let taken = (s.0 | TAKEN) & !COMPLETE;
        self.0
            .compare_exchange(s.0, taken, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// **take**, by the only reference to the core (nobody else can change the word,
    /// so it is still `s`): the value goes, COMPLETE stays. Not under loom, where the
    /// single-owner fast path is off.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn take_alone(&self, s: Snapshot) {
        self.0.store(s.0 | TAKEN, Ordering::Relaxed);
    }

    /// **waiters** and **retrieved**: sets flag bits that carry no ownership; returns
    /// the word as it was before.
    ///
    /// When the bits are set already, a load stands in for the read-modify-write. For
    /// WAITERS (always set under the waiters' lock) that is enough: if the WAITERS seen
    /// came before a settle's COMPLETE in the word's order, that settle takes the lock
    /// after it, and the lock orders this caller's reads; if it came after, the load
    /// sees COMPLETE too.
    #[inline]
    pub(crate) fn mark(&self, bits: usize) -> Snapshot {
        debug_assert_eq!(bits & !(WAITERS | RETRIEVED), 0);
        let bits = bits & (WAITERS | RETRIEVED);
        let s = self.load();
        if s.0 & bits == bits {
            return s;
        }
        Snapshot(self.0.fetch_or(bits, Ordering::AcqRel))
    }

    /// **hold**: `true` if this call set HOLD (it was clear).
    #[inline]
    pub(crate) fn hold(&self) -> bool {
        self.0.fetch_or(HOLD, Ordering::AcqRel) & HOLD == 0
    }

    /// **release**: clears HOLD; the word after.
    #[inline]
    pub(crate) fn release_hold(&self) -> Snapshot {
        Snapshot(self.0.fetch_and(!HOLD, Ordering::AcqRel) & !HOLD)
    }

    /// **cloner**: records that `<T as Clone>::clone` is kept in the waiters.
    pub(crate) fn set_cloner(&self) {
        self.0.fetch_or(CLONER, Ordering::AcqRel);
    }

    /// **cloning**, first half: waits until this thread is the one cloning.
    pub(crate) fn begin_cloning(&self) {
        let mut backoff = Backoff::default();
        while self.0.fetch_or(CLONING, Ordering::Acquire) & CLONING != 0 {
            backoff.snooze();
        }
    }

    /// **cloning**, second half: the clone is made (`Release`: its reads come first).
    pub(crate) fn end_cloning(&self) {
        self.0.fetch_and(!CLONING, Ordering::Release);
    }

    /// **reader/ref +1**: adds `counts`; the word as it was before. `Relaxed`, as
    /// `Arc::clone`: the caller already holds a reference.
    #[inline]
    pub(crate) fn add(&self, counts: usize) -> Snapshot {
        Snapshot(self.0.fetch_add(counts, Ordering::Relaxed))
    }

    /// **reader/ref −1**: gives back `counts`; the word as it was before. `Release`:
    /// this holder's uses come before the last one's `Acquire` fence.
    #[inline]
    pub(crate) fn sub(&self, counts: usize) -> Snapshot {
        Snapshot(self.0.fetch_sub(counts, Ordering::Release))
    }

    /// **ref +1** by a weak handle: adds a REF unless REFS is 0 (the core is gone);
    /// `true` if it did.
    pub(crate) fn upgrade(&self) -> bool {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            if s & REFS == 0 {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(s, s + REF, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }
}

/// How a thread waits out a window another thread closes without user code (a claim
/// before COMPLETE, a clone under CLONING): spins a little, then yields its CPU, so a
/// busy machine still runs the thread it waits for (crossbeam's `Backoff::snooze`).
#[derive(Default)]
pub(crate) struct Backoff {
    spins: u32,
}

impl Backoff {
    /// Spins this many times before yielding on every round.
    const SPINS: u32 = 64;

    pub(crate) fn snooze(&mut self) {
        if self.spins < Self::SPINS && cfg!(not(loom)) {
            std::hint::spin_loop();
            self.spins += 1;
        } else {
            crate::loom::yield_now();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_each_field_of_the_word_on_its_own() {
        let s = Snapshot(VALUE | COMPLETE | HOLD | (3 * READER));
        assert_eq!(s.kind(), Kind::Value);
        assert!(s.is_done() && s.is_complete() && s.is_held());
        assert!(!s.is_taken() && !s.is_cancelled() && !s.has_cloner());
        assert_eq!(s.readers(), 3);
        assert!(!s.can_take(), "held and shared: no take");
        assert!(Snapshot(VALUE | COMPLETE | READER).can_take());
        assert!(
            !Snapshot(ERROR | COMPLETE | READER).can_take(),
            "errors are cloned, never taken"
        );
        assert!(Snapshot(VALUE | COMPLETE | CLONER | READER).must_clone(false));
        assert!(!Snapshot(VALUE | COMPLETE | CLONER | READER).must_clone(true));
        assert!(Snapshot(VALUE | COMPLETE | READER | WAITERS | RETRIEVED).can_move_out(false));
        assert!(Snapshot(VALUE | COMPLETE | READER | (5 * REF)).can_move_out(false));
        assert_eq!(Snapshot(VALUE | (2 * READER) | (5 * REF)).readers(), 2);
        assert_eq!(Snapshot(VALUE | (2 * READER) | (5 * REF)).refs(), 5);
        assert!(!Snapshot(VALUE | COMPLETE | CLONER | READER).can_move_out(false));
        assert!(Snapshot(VALUE | COMPLETE | CLONER | READER).can_move_out(true));
        assert!(!Snapshot(VALUE | COMPLETE | (2 * READER)).can_move_out(true));
        assert!(!Snapshot(VALUE | COMPLETE | HOLD | READER).can_move_out(true));
        assert!(!Snapshot(VALUE | COMPLETE | TAKEN | READER).can_move_out(true));
        assert!(!Snapshot(ERROR | COMPLETE | READER).can_move_out(true));
        assert!(!Snapshot(VALUE | READER).can_move_out(true));
    }
}
