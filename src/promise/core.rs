//! The promise's core: the state word, the write-once outcome cell, the core's own
//! reference count and the reading handles.
//!
//! # Safety
//!
//! The first of the two files with `unsafe` (the second, `call.rs`, keeps work in a
//! promise's allocation and follows this protocol). Everything that makes the cell
//! sound lives here, so that no other file can break it:
//!
//! - **Writing.** The cell is written once, by the thread whose CAS *claims* the
//!   promise (KIND from 0 to a kind: [`Core::write_outcome`]); COMPLETE is set with `Release`
//!   right after, and nothing reads the cell before seeing COMPLETE with `Acquire`.
//! - **Moving out.** Only a [`Reader`] (a reading handle) may move the value out, by a
//!   CAS from a state with READERS = 1 (itself), HOLD clear and TAKEN clear, to TAKEN
//!   with COMPLETE cleared ([`Reader::read`]); it then writes the taken error into the
//!   cell in the value's place and sets COMPLETE again, so every later view reads that
//!   error in place (a reader that looks in between waits for COMPLETE, as after a
//!   claim). The READERS count is kept by [`Reader`]'s constructors and `Drop` alone,
//!   so it is never below the number of live readers.
//! - **Reading in place.** A shared reference into the cell exists only (a) borrowed
//!   from a live [`Reader`] — no take can happen while another reader lives, and this
//!   one cannot take while borrowed; or (b) borrowed from a [`Hold`] — a token that
//!   exists while, and only while, the HOLD bit is set, which forbids the take.
//!   Both borrows need `T: Sync`, since other threads may hold the same reference;
//!   clones for `T: Send` only are made under the CLONING bit, one at a time, as
//!   `Mutex<T>` does it.
//! - **Errors** are never moved out (an [`Error`] is a cheap clone), so reading the
//!   `Err` variant needs no `T` bound at all.
//! - **Dropping.** The core is freed when its last counted reference goes (REFS in
//!   the state word, as tokio's task state holds its ref count); the outcome (or the
//!   taken error in its place) is then dropped. [`Shared`] is this crate's `Arc<Core<T>>`: one `fetch_sub`
//!   gives back a reader's READER and REF together, and the last reference frees the
//!   allocation without touching the weak count unless a `WeakShared` exists.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::Location;
use std::ptr::NonNull;

use super::state::{Backoff, Kind, Snapshot, StateWord, CANCELLED, COMPLETE, ERROR};
use super::state::{READER, READERS, REF, REFS, RETRIEVED, VALUE};
use super::waiters::{release_slot, wake_after_take, Waiters};
use crate::error::{Error, ErrorKind};
use crate::loom::{fence, lock, AtomicUsize, Mutex, Ordering, UnsafeCell};
use crate::schedule::Scheduler;

/// What a [`Core`] may carry besides the promise: nothing, or a pending call that
/// shares the promise's allocation (`CallCell`, [`call`](super::call)).
pub(crate) trait CallSlot: Send + Sync {}

impl CallSlot for () {}

/// A promise's shared state. `C` is the call kept in the same allocation for
/// `run_in_loop`; handles see it as the `dyn CallSlot` default.
pub(crate) struct Core<T, C: ?Sized = dyn CallSlot> {
    /// The state word ([`state`](super::state) documents it).
    state: StateWord,
    /// Weak handles, plus one held by all the counted references together (as std's
    /// `Arc`): the allocation is freed when it drops to 0.
    pub(super) weak: AtomicUsize,
    /// The outcome: uninitialised until COMPLETE; moved out when TAKEN.
    pub(super) outcome: UnsafeCell<MaybeUninit<Result<T, Error>>>,
    /// Wakers, internal consumers, done-callbacks ([`waiters`](super::waiters)).
    /// `ManuallyDrop` (as the other fields with drop glue): `destroy` drops them when
    /// the last reference goes, and keeps `weak` alive until the allocation is freed.
    pub(crate) waiters: ManuallyDrop<Mutex<Waiters<T>>>,
    /// The loop the promise is bound to.
    pub(crate) scheduler: ManuallyDrop<Option<Scheduler>>,
    /// Where the promise was made, for debug reports.
    pub(crate) created_at: &'static Location<'static>,
    /// The call that will settle it, if it shares this allocation.
    pub(crate) call: ManuallyDrop<C>,
}

// SAFETY: `Core` is `Sync` because every access to the one `!Sync` field, the outcome
// cell, follows the protocol of this module's docs: the write happens once, by the
// claimer, before COMPLETE is published; a move happens once, by the only reader, under
// a CAS that excludes every borrow; shared borrows from several threads at once need
// `T: Sync` (`Reader::peek`, `Core::held`), and clones for a `T` that is only `Send`
// are serialised by the CLONING bit, so a `T: Send` is never touched by two threads
// at once. The other fields are `Sync` on their own for these bounds.
unsafe impl<T: Send, C: ?Sized + Sync> Sync for Core<T, C> where Mutex<Waiters<T>>: Sync {}

/// The kind bits an outcome is stored under.
fn kind_of<T>(outcome: &Result<T, Error>) -> usize {
    match outcome {
        Ok(_) => VALUE,
        Err(e) if e.is_cancelled() => CANCELLED,
        Err(_) => ERROR,
    }
}

impl<T, C> Core<T, C> {
    /// A core with the counts `counts`: pending, or born settled with `outcome`.
    pub(super) fn build(
        outcome: Option<Result<T, Error>>,
        scheduler: Option<Scheduler>,
        call: C,
        created_at: &'static Location<'static>,
        counts: usize,
    ) -> Self {
        let (state, cell) = match outcome {
            None => (counts, MaybeUninit::uninit()),
            Some(outcome) => (
                kind_of(&outcome) | COMPLETE | counts,
                MaybeUninit::new(outcome),
            ),
        };
        Core {
            state: StateWord::new(state),
            weak: AtomicUsize::new(1),
            outcome: UnsafeCell::new(cell),
            waiters: ManuallyDrop::new(Mutex::new(Waiters::new())),
            scheduler: ManuallyDrop::new(scheduler),
            created_at,
            call: ManuallyDrop::new(call),
        }
    }
}

impl<T, C: ?Sized> Core<T, C> {
    /// The state word, read once (`Acquire`: an outcome seen COMPLETE is readable).
    #[inline]
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.state.load()
    }

    /// This core's address, which [`Hold`] and [`Detached`] tokens carry.
    fn addr(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// The claim and complete transitions: stores `outcome` if the promise is pending
    /// and returns the state word as it was just before COMPLETE; gives `outcome` back
    /// if another settle claimed the promise first.
    #[inline]
    pub(crate) fn write_outcome(
        &self,
        outcome: Result<T, Error>,
    ) -> Result<Snapshot, Result<T, Error>> {
        if !self.state.claim(kind_of(&outcome)) {
            return Err(outcome);
        }
        self.outcome.with_mut(|cell| {
            // SAFETY: the CAS above moved KIND from 0 and only one CAS can do that, so
            // this thread alone writes the cell, once; nobody reads it before COMPLETE,
            // published below with `Release`.
            unsafe { (*cell).write(outcome) };
        });
        Ok(self.state.complete())
    }

    /// Waits out the window between a claim and COMPLETE (a plain memory write by the
    /// claimer, no user code): the state as soon as it is complete, or pending.
    pub(crate) fn wait_complete(&self) -> Snapshot {
        let mut backoff = Backoff::default();
        loop {
            let s = self.snapshot();
            if s.is_complete() || !s.is_done() {
                return s;
            }
            backoff.snooze();
        }
    }

    /// Sets flag bits that carry no ownership (WAITERS, RETRIEVED): the **waiters**
    /// and **retrieved** transitions; returns the state word as it was before.
    #[inline]
    pub(crate) fn mark(&self, bits: usize) -> Snapshot {
        self.state.mark(bits)
    }

    /// The error of a failed or cancelled promise (`None` while pending or for a
    /// value), marked as read when `retrieve` is set.
    pub(crate) fn error(&self, retrieve: bool) -> Option<Error> {
        let s = self.wait_complete();
        if !s.is_complete() || s.kind() == Kind::Value {
            return None;
        }
        if retrieve && !s.is_retrieved() {
            self.mark(RETRIEVED);
        }
        self.outcome.with(|cell| {
            // SAFETY: COMPLETE was seen with `Acquire`, so the cell is written; an error
            // is never moved out, and the cell is only dropped with `&mut self`. Only
            // the `Err` variant is looked at, so no `T` is touched.
            match unsafe { &*(*cell).as_ptr() } {
                Err(error) => Some(error.clone()),
                Ok(_) => None,
            }
        })
    }

    /// Clones the value with `clone` (else the cloner recorded in the promise), one
    /// clone at a time (the CLONING bit, so `T: Send` is enough). A panicking `Clone`
    /// gives this reader a `Panicked` error and leaves the promise intact.
    fn clone_value(&self, clone: Option<fn(&T) -> T>) -> Result<T, Error> {
        let Some(clone) = clone.or_else(|| lock(&self.waiters).cloner()) else {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the promise's value is shared but no cloner was recorded",
            ));
        };
        self.state.begin_cloning();
        let result = self.outcome.with(|cell| {
            // SAFETY: the caller saw KIND = VALUE, COMPLETE and not TAKEN with
            // `Acquire`, and holds a live reader (`&self` or `&mut self` of a
            // `Reader`) for the whole call: another reader cannot take (that needs
            // READERS = 1, and this one counts), and this one does not. This thread
            // holds CLONING, so no other clone reads the value at the same time. The
            // borrow does not outlive this closure; `catch` keeps a panic inside it.
            match unsafe { &*(*cell).as_ptr() } {
                Ok(value) => crate::panic::catch(|| clone(value)),
                Err(error) => Err(error.clone()),
            }
        });
        self.state.end_cloning();
        result
    }

    /// Records `<T as Clone>::clone`, before the reader that needs it can exist.
    fn record_cloner(&self)
    where
        T: Clone,
    {
        if !self.snapshot().has_cloner() {
            lock(&self.waiters).record_cloner(<T as Clone>::clone);
            self.state.set_cloner();
        }
    }

    /// The take transition from `s` (which a reader saw allow it, for itself as the
    /// only reader): the outcome, and the state word as it was just before COMPLETE
    /// was set again (the caller wakes what registered in between); `None` if the
    /// state moved on meanwhile.
    #[inline]
    fn take(&self, s: Snapshot) -> Option<(Result<T, Error>, Snapshot)> {
        if !self.state.take(s) {
            return None;
        }
        let outcome = self.outcome.with_mut(|cell| {
            // SAFETY: only `Reader::read` calls this, for a live reader that saw READERS
            // = 1 (itself), HOLD and TAKEN clear and the cell complete; the CAS moved the
            // state from exactly that word to TAKEN with COMPLETE clear, so no borrow
            // exists (readers' and holds' borrows are excluded by those bits) and none
            // can start (every borrow waits for COMPLETE). The value is read exactly
            // once and the taken error written in its place, published below.
            unsafe { std::ptr::replace((*cell).as_mut_ptr(), Err(Error::taken())) }
        });
        Some((outcome, self.state.complete()))
    }

    /// Acquires the HOLD: done-callbacks will read the outcome in place, so the take
    /// transition is off until the hold is released. `None` if already held.
    pub(crate) fn acquire_hold(&self) -> Option<Hold> {
        self.state.hold().then(|| Hold { core: self.addr() })
    }

    /// Releases the HOLD that `hold` proves; returns the state word after.
    pub(crate) fn release_hold(&self, hold: Hold) -> Snapshot {
        if hold.core != self.addr() {
            // A token of another core: keep this one held (never unsound, only stuck).
            debug_assert!(false, "a hold released on the wrong promise");
            return self.snapshot();
        }
        self.state.release_hold()
    }

    /// The outcome in place, for done-callbacks (the taken error, when the value was
    /// moved out before the hold); `None` while the promise is pending.
    pub(crate) fn held<'a>(&'a self, hold: &'a Hold) -> Option<&'a Result<T, Error>>
    where
        T: Sync,
    {
        if hold.core != self.addr() {
            return None;
        }
        let s = self.wait_complete();
        if !s.is_complete() {
            return None;
        }
        self.outcome.with(|cell| {
            // SAFETY: COMPLETE was seen with `Acquire`, so the cell holds the outcome or,
            // after a finished take, the taken error. HOLD is set (by `hold`, which lives
            // at least as long as the borrow) and the take CAS needs HOLD clear, so the
            // cell stays as it is. `T: Sync`: other threads may read it at the same time.
            Some(unsafe { &*(*cell).as_ptr() })
        })
    }

    /// `true` when debug reports are on for this promise.
    fn is_debug(&self) -> bool {
        match &*self.scheduler {
            Some(scheduler) => scheduler.is_debug(),
            None => crate::debug::env_debug(),
        }
    }
}

impl<T, C: ?Sized> Core<T, C> {
    /// Drops what the core owns, once its last counted reference went: the outcome
    /// (unless TAKEN), the waiters, the scheduler handle, the call slot. `weak` stays
    /// alive for [`free`].
    ///
    /// # Safety
    ///
    /// Called once, by the thread that dropped REFS to 0, after an `Acquire` fence;
    /// nothing else can reach the core's contents any more.
    unsafe fn destroy(&mut self) {
        let s = self.snapshot();
        if s.is_complete() {
            let outcome = self.outcome.with_mut(|cell| {
                // SAFETY: no other access exists (the caller's contract); COMPLETE, so
                // the cell holds the outcome, or the taken error that replaced a value
                // moved out. Read once.
                unsafe { std::ptr::read((*cell).as_ptr()) }
            });
            if let Err(error) = &outcome {
                if s.is_failed() && !s.is_retrieved() && self.is_debug() {
                    crate::debug::report_unretrieved(error, self.created_at);
                }
            }
            crate::panic::run_guarded(move || drop(outcome), "dropping a promise's value");
        }
        // SAFETY: each field is dropped once, here, and never used again: the last
        // reference is gone and `free` only reads `weak`.
        unsafe {
            ManuallyDrop::drop(&mut self.waiters);
            ManuallyDrop::drop(&mut self.scheduler);
            ManuallyDrop::drop(&mut self.call);
        }
    }
}

/// Gives back `counts` (REF, or READER | REF) held through `ptr`; the last REF
/// destroys the core and frees it (unless a weak handle still holds the allocation).
///
/// # Safety
///
/// `ptr` points to a live core on which the caller holds `counts`, and the caller
/// does not use `ptr` again.
#[inline]
unsafe fn release<T>(ptr: NonNull<Core<T>>, counts: usize) {
    // SAFETY: the caller holds a reference, so the core is alive.
    let prev = unsafe { ptr.as_ref() }.state.sub(counts);
    if prev.0 & REFS != REF {
        return;
    }
    fence(Ordering::Acquire);
    // SAFETY: this was the last REF: no other thread can reach the contents any more
    // (a weak handle can no longer upgrade, since REFS is 0), and the fence orders the
    // other references' last uses before this.
    unsafe { last_ref(ptr) };
}

/// # Safety
///
/// As the end of [`release`]: the last REF is gone.
#[inline(never)]
unsafe fn last_ref<T>(ptr: NonNull<Core<T>>) {
    // SAFETY: the allocation is alive until `free` and nobody else uses it.
    let layout = Layout::for_value(unsafe { ptr.as_ref() });
    // SAFETY: the caller's contract: once, with no other access.
    unsafe { (*ptr.as_ptr()).destroy() };
    // SAFETY: `weak` is never dropped and lives until `free`.
    let weak = unsafe { &(*ptr.as_ptr()).weak };
    // No weak handle exists (and none can be made: that needs a reference): free now
    // without an atomic write. Else give back the references' shared weak count.
    if weak.load(Ordering::Acquire) == 1 || weak.fetch_sub(1, Ordering::Release) == 1 {
        fence(Ordering::Acquire);
        // SAFETY: the weak count is (or reached) its last: nobody can reach the
        // allocation; its contents were destroyed above.
        unsafe { free(ptr.cast(), layout) };
    }
}

/// Frees a core's allocation (made by `Box::new` of the same layout).
///
/// # Safety
///
/// Nobody can reach the allocation any more and its contents were destroyed.
pub(super) unsafe fn free(ptr: NonNull<u8>, layout: Layout) {
    // SAFETY: the caller's contract; the layout is the one `Box` allocated with.
    unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
}

/// A counted reference to a core: this crate's `Arc<Core<T>>`, with the count in the
/// state word.
pub(crate) struct Shared<T> {
    pub(super) ptr: NonNull<Core<T>>,
    _owns: PhantomData<Core<T>>,
}

// SAFETY: as `Arc<Core<T>>`: a `Shared` sent or shared to another thread gives it
// `&Core<T>` and the right to drop the core, so it needs `Core<T>: Send + Sync`.
unsafe impl<T> Send for Shared<T> where Core<T>: Send + Sync {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> where Core<T>: Send + Sync {}

impl<T> Shared<T> {
    /// The counted reference that `ptr` stands for (an erased call task's REF).
    ///
    /// # Safety
    ///
    /// `ptr` points to a live core whose REF the caller owns and hands over.
    #[inline]
    pub(super) unsafe fn from_raw(ptr: NonNull<Core<T>>) -> Self {
        Shared {
            ptr,
            _owns: PhantomData,
        }
    }

    /// Allocates `core`, whose state word already counts the references the caller
    /// makes from the returned pointer.
    pub(super) fn allocate<C: CallSlot + 'static>(core: Core<T, C>) -> NonNull<Core<T>> {
        let core: Box<Core<T>> = Box::new(core);
        NonNull::from(Box::leak(core))
    }

    /// Adds `counts` (REF, READER) to the state word.
    #[inline]
    fn add(&self, counts: usize) {
        let prev = self.state.add(counts).0;
        if prev & REFS == REFS || prev & READERS == READERS {
            // Hundreds of millions of handles to one promise: as `Arc`, abort rather
            // than wrap the count.
            std::process::abort();
        }
    }

    /// A weak handle (see [`WeakShared`]).
    pub(crate) fn downgrade(&self) -> WeakShared<T> {
        self.weak.fetch_add(1, Ordering::Relaxed);
        WeakShared {
            ptr: self.ptr,
            layout: Layout::for_value(&**self),
        }
    }
}

// A handle is a pointer: moving it never moves the core.
impl<T> Unpin for Shared<T> {}

impl<T> std::ops::Deref for Shared<T> {
    type Target = Core<T>;

    #[inline]
    fn deref(&self) -> &Core<T> {
        // SAFETY: this reference holds a REF, so the core is alive.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Clone for Shared<T> {
    #[inline]
    fn clone(&self) -> Self {
        self.add(REF);
        Shared {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Shared<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this reference holds one REF and is never used again.
        unsafe { release(self.ptr, REF) };
    }
}

/// A reference that does not keep the core alive (`std::sync::Weak`'s role).
pub(crate) struct WeakShared<T> {
    ptr: NonNull<Core<T>>,
    /// The allocation's layout, to free it if this is the last weak handle.
    layout: Layout,
}

// SAFETY: as `Weak<Core<T>>`: it upgrades to a `Shared` on any thread.
unsafe impl<T> Send for WeakShared<T> where Core<T>: Send + Sync {}
// SAFETY: as above.
unsafe impl<T> Sync for WeakShared<T> where Core<T>: Send + Sync {}

impl<T> WeakShared<T> {
    /// A counted reference, while the core is alive (REFS > 0).
    pub(crate) fn upgrade(&self) -> Option<Shared<T>> {
        // SAFETY: a weak handle keeps the allocation (and its `state`) alive.
        let state = unsafe { &self.ptr.as_ref().state };
        // `then`, not `then_some`: a `Shared` made for a failed upgrade would give
        // back a REF it never had when dropped.
        state.upgrade().then(|| Shared {
            ptr: self.ptr,
            _owns: PhantomData,
        })
    }
}

impl<T> Clone for WeakShared<T> {
    fn clone(&self) -> Self {
        // SAFETY: a weak handle keeps the allocation alive.
        unsafe { self.ptr.as_ref() }
            .weak
            .fetch_add(1, Ordering::Relaxed);
        WeakShared {
            ptr: self.ptr,
            layout: self.layout,
        }
    }
}

impl<T> Drop for WeakShared<T> {
    fn drop(&mut self) {
        // SAFETY: this weak handle keeps the allocation alive until this decrement.
        let weak = unsafe { &self.ptr.as_ref().weak };
        if weak.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            // SAFETY: the last weak count: REFS is 0 (the references' shared count
            // was given back), the contents are destroyed, nobody can reach it.
            unsafe { free(self.ptr.cast(), self.layout) };
        }
    }
}

/// Proof that the HOLD bit is set for one core: done-callbacks borrow the outcome
/// through it ([`Core::held`]). Made only by [`Core::acquire_hold`], consumed only by
/// [`Core::release_hold`]; not `Clone`.
#[derive(Debug)]
pub(crate) struct Hold {
    core: usize,
}

/// What a read by a reading handle found.
pub(crate) enum Read<T> {
    /// Not settled yet.
    Pending,
    /// Settled, but done-callbacks still read the value in place and this is its
    /// last reader: it may move the value out once they are done.
    Held,
    /// The outcome: moved, cloned, an error, or the taken error.
    Ready(Result<T, Error>),
}

/// One reading handle's share of a promise: one READER and one REF. It also owns the
/// handle's waker slot in the waiters (0 while it has none), given back on drop.
pub(crate) struct Reader<T> {
    /// `ManuallyDrop`: the reader gives back its READER and REF with one `fetch_sub`.
    pub(super) core: ManuallyDrop<Shared<T>>,
    pub(super) slot: usize,
}

impl<T> Reader<T> {
    pub(super) fn from_ptr(ptr: NonNull<Core<T>>) -> Self {
        Reader {
            core: ManuallyDrop::new(Shared {
                ptr,
                _owns: PhantomData,
            }),
            slot: 0,
        }
    }

    /// A new promise and its first reader: pending, or born settled with `outcome`.
    #[inline]
    pub(crate) fn new(
        outcome: Option<Result<T, Error>>,
        scheduler: Option<Scheduler>,
        created_at: &'static Location<'static>,
    ) -> Self {
        let core = Core::build(outcome, scheduler, (), created_at, READER | REF);
        Reader::from_ptr(Shared::allocate(core))
    }

    /// The shared core.
    #[inline]
    pub(crate) fn core(&self) -> &Shared<T> {
        &self.core
    }

    /// The shared core and this handle's waker slot.
    #[inline]
    pub(crate) fn parts(&mut self) -> (&Shared<T>, &mut usize) {
        (&self.core, &mut self.slot)
    }

    /// A second reader, for a `Clone` value: records the cloner first, so that any
    /// reader that sees READERS > 1 finds it.
    pub(crate) fn clone_reader(&self) -> Self
    where
        T: Clone,
    {
        let core = &*self.core;
        core.record_cloner();
        // One READER and one REF, in one read-modify-write.
        core.add(READER | REF);
        Reader {
            core: ManuallyDrop::new(Shared {
                ptr: core.ptr,
                _owns: PhantomData,
            }),
            slot: 0,
        }
    }

    /// Turns a counted reference into a reader, for a `Clone` value (a second reader;
    /// a weak handle upgraded).
    pub(crate) fn adopt(core: Shared<T>) -> Self
    where
        T: Clone,
    {
        core.record_cloner();
        core.add(READER);
        Reader {
            core: ManuallyDrop::new(core),
            slot: 0,
        }
    }

    /// A shared read through `&self`: clones the value, never moves it (and records
    /// nothing: `T: Clone` is known here).
    pub(crate) fn read_shared(&self) -> Read<T>
    where
        T: Clone,
    {
        let core = &*self.core;
        let s = core.wait_complete();
        if let Some(read) = read_no_value(core, s) {
            return read;
        }
        Read::Ready(core.clone_value(Some(<T as Clone>::clone)))
    }

    /// The outcome in place: `None` while pending; the outcome by reference (the taken
    /// error once the value was moved out). Reading an error marks it retrieved.
    pub(crate) fn peek(&self) -> Option<&Result<T, Error>>
    where
        T: Sync,
    {
        let core = &*self.core;
        let s = core.wait_complete();
        if !s.is_complete() {
            return None;
        }
        if s.kind() != Kind::Value && !s.is_retrieved() {
            core.mark(RETRIEVED);
        }
        core.outcome.with(|cell| {
            // SAFETY: COMPLETE seen with `Acquire`: the cell holds the outcome, or the
            // taken error written by a finished take. This reader is counted in READERS
            // for as long as `&self` is borrowed, so no other reader can take (that
            // needs READERS = 1), and this one cannot while borrowed; an error is never
            // moved. `T: Sync`: other readers may borrow it on other threads.
            Some(unsafe { &*(*cell).as_ptr() })
        })
    }

    /// Reads the outcome: clones a shared value, moves out an unshared one (the take
    /// transition) once no done-callback holds it, clones an error.
    ///
    /// `consuming` is set when the handle is consumed by the read (`take`, a by-value
    /// consumer): then a value that was shared once but has no other reader left is
    /// moved, not cloned.
    #[inline]
    pub(crate) fn read(&mut self, consuming: bool) -> Read<T> {
        let s = self.core.snapshot();
        if s.can_move_out(consuming) {
            if let Some(outcome) = self.take_alone(s) {
                return Read::Ready(outcome);
            }
            if let Some(outcome) = self.take(s) {
                return Read::Ready(outcome);
            }
        }
        self.read_slow(consuming)
    }

    /// The take transition by CAS (see [`Core::take`]); wakes what registered while
    /// the cell was being rewritten.
    #[inline]
    fn take(&self, s: Snapshot) -> Option<Result<T, Error>> {
        let (outcome, before) = self.core.take(s)?;
        if before.has_waiters() {
            wake_after_take(&self.core);
        }
        Some(outcome)
    }

    /// The take transition without a CAS, when this reader holds the only reference
    /// to the core: `&mut self` excludes every other use of this handle, no other
    /// reference exists to reach the core (no setter, reader, job or hold: REFS = 1),
    /// and no weak handle exists to make one. The counts are read, then an `Acquire`
    /// fence orders this thread after the `Release` decrements of the references
    /// dropped before.
    #[cfg(not(loom))]
    #[inline]
    fn take_alone(&mut self, s: Snapshot) -> Option<Result<T, Error>> {
        if s.refs() != 1 || self.core.weak.load(Ordering::Relaxed) != 1 {
            return None;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        let core = &*self.core;
        // Nobody else can reach the core, so the state is still `s`.
        core.state.take_alone(s);
        Some(core.outcome.with_mut(|cell| {
            // SAFETY: this reader is the only reference to the core (REFS = 1, no
            // weak, checked above with an `Acquire` fence after the loads) and is
            // borrowed `&mut`, so no other thread can reach the core at all; the state
            // it saw allows the take (complete value, not taken, no hold). The value is
            // read once and the taken error written in its place.
            unsafe { std::ptr::replace((*cell).as_mut_ptr(), Err(Error::taken())) }
        }))
    }

    #[cfg(loom)]
    #[inline]
    fn take_alone(&mut self, _: Snapshot) -> Option<Result<T, Error>> {
        None
    }

    #[inline(never)]
    fn read_slow(&mut self, consuming: bool) -> Read<T> {
        let core = &*self.core;
        let mut s = core.wait_complete();
        loop {
            if let Some(read) = read_no_value(core, s) {
                return read;
            }
            if s.must_clone(consuming) {
                return Read::Ready(core.clone_value(None));
            }
            if s.is_held() {
                return Read::Held;
            }
            match self.take(s) {
                Some(outcome) => return Read::Ready(outcome),
                None => s = core.wait_complete(),
            }
        }
    }

    /// Keeps this reader's READER but gives back its REF, so that an internal
    /// consumer can wait inside the core's own waiters without keeping it alive (no
    /// cycle).
    pub(crate) fn detach(mut self) -> Detached {
        release_slot(&self.core, &mut self.slot);
        let this = ManuallyDrop::new(self);
        let ptr = this.core.ptr;
        let detached = Detached {
            core: this.core.addr(),
        };
        // SAFETY: `this` is never used or dropped again; its REF is given back once,
        // here; its READER is carried on by `detached`.
        unsafe { release(ptr, REF) };
        detached
    }
}

impl<T> Drop for Reader<T> {
    #[inline]
    fn drop(&mut self) {
        release_slot(&self.core, &mut self.slot);
        // SAFETY: this reader holds one READER and one REF, given back together
        // (`Release`: its borrows happen before a later take's `Acquire`); the
        // `ManuallyDrop` is never used again.
        unsafe { release(self.core.ptr, READER | REF) };
    }
}

/// What a read of state `s` finds when there is no value to read: pending, the
/// error (marked read), or the taken error; `None` when a value is there.
fn read_no_value<T>(core: &Core<T>, s: Snapshot) -> Option<Read<T>> {
    if !s.is_complete() {
        return Some(Read::Pending);
    }
    if s.kind() != Kind::Value {
        return Some(match core.error(true) {
            Some(error) => Read::Ready(Err(error)),
            None => Read::Pending,
        });
    }
    s.is_taken().then(|| Read::Ready(Err(Error::taken())))
}

/// A reader's READER without its REF (see [`Reader::detach`]).
#[derive(Debug)]
pub(crate) struct Detached {
    core: usize,
}

/// Turns a detached count back into a reader of `core`. A token of another core (a
/// bug) makes a fresh reader instead, which is never unsound.
pub(crate) fn attach<T>(core: &Shared<T>, detached: Detached) -> Reader<T> {
    if detached.core == core.addr() {
        core.add(REF);
    } else {
        debug_assert!(false, "a detached reader attached to the wrong promise");
        core.add(READER | REF);
    }
    Reader::from_ptr(core.ptr)
}
