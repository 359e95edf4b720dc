//! Work that settles a promise: a call sharing its promise's allocation
//! ([`CallTask`], made by `Promise::for_call`), the [`Completer`] a boxed job, a
//! task, a chain or a gather keeps, and a chain's next promise made in its done
//! source's allocation ([`Recycled`]). The first two are the one loop-closed guard:
//! dropped before the work ran (its loop closed), they fail the promise with
//! [`ErrorKind::LoopClosed`] (or the completer's own drop error).
//!
//! Neither is a reading handle: the reader that awaits a `run_in_loop` promise is its
//! last reader even while the call's task still holds the allocation, so it moves the
//! value out.
//!
//! # Safety
//!
//! The second of the two files with `unsafe` (the first is `core.rs`, whose protocol
//! this one follows). A call shares its promise's allocation as a
//! `Core<T, CallCell<C>>`; the loop's queue holds it as a [`CallTask`], that core with
//! `T` and `C` erased behind a vtable made for them. The rules:
//!
//! - **One task, one REF.** `with_call` makes the core with two REFs: the first
//!   reader's and the task's. The task gives its REF back exactly once, whether it
//!   runs (`CallTask::run`, which forgets the task) or is dropped unrun (its `Drop`),
//!   each through the vtable of the `T` and `C` it was made for.
//! - **The call is taken once.** Only the task takes the call out of its
//!   `CallCell`, while it still holds its REF; whatever is left in the cell is dropped
//!   with the core, after the task's REF was given back (`Release`, then `Acquire`
//!   before the core is destroyed), so the two never touch the cell at once.
//! - **Types.** The vtable is chosen at the one place where `T` and `C` are known
//!   (`with_call`), so an erased pointer is only ever viewed as the type it was made
//!   with.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::ptr::NonNull;

use super::core::{free, CallSlot, Core, Reader, Shared};
use super::state::{READER, REF};
use super::waiters::settle;
use super::{Promise, Setter};
use crate::error::{Error, ErrorKind};
use crate::loom::UnsafeCell;
use crate::panic::run_guarded;
use crate::schedule::Scheduler;

/// A call to run on a loop, settling the promise it shares an allocation with.
struct LoopCall<F>(F);

impl<T, F> Call<T> for LoopCall<F>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    fn run(self, core: &Shared<T>) {
        finish_call(self.0, core);
    }

    fn abandon(self, core: &Shared<T>) {
        run_guarded(move || drop(self), "dropping an abandoned call");
        let _ = settle(core, Err(never_ran()));
    }
}

impl<T> Promise<T> {
    /// A promise bound to `scheduler` that `f` settles, and the task that runs `f`:
    /// both in one allocation. Dropped unrun (its loop closed), the task fails the
    /// promise with [`ErrorKind::LoopClosed`].
    #[track_caller]
    pub(crate) fn for_call<F>(scheduler: Scheduler, f: F) -> (Self, CallTask)
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, Error> + Send + 'static,
    {
        let created_at = std::panic::Location::caller();
        let (task, reader) = with_call(Some(scheduler), LoopCall(f), created_at);
        (Promise::from_reader(reader), task)
    }
}

/// Runs `call` and settles the promise with its outcome, unless the promise is
/// already done (cancelled): then the call is dropped unrun. A panic, in the call or
/// in its panic payload's `Drop`, becomes the promise's `Panicked` error.
fn finish_call<T, F>(call: F, core: &Shared<T>)
where
    F: FnOnce() -> Result<T, Error>,
{
    if core.snapshot().is_done() {
        run_guarded(move || drop(call), "dropping a cancelled call");
        return;
    }
    let outcome = crate::panic::catch(call).and_then(|outcome| outcome);
    if let Err(refused) = settle(core, outcome) {
        run_guarded(move || drop(refused), "dropping a refused outcome");
    }
}

/// The error of a call its loop dropped unrun: it never started.
fn never_ran() -> Error {
    Error::new(
        ErrorKind::LoopClosed,
        "the loop was closed (or stopping) before the call started: it never ran",
    )
}

fn loop_closed() -> Error {
    Error::new(
        ErrorKind::LoopClosed,
        "the loop closed before the work finished",
    )
}

/// The setter half kept by a job, a task or an internal consumer: if it is dropped
/// before completing (the job never ran because its loop closed; the promise a chain
/// waited on was dropped unsettled), the promise fails with its drop error
/// ([`ErrorKind::LoopClosed`] unless told otherwise).
pub(crate) struct Completer<T> {
    setter: Option<Setter<T>>,
    on_drop: fn() -> Error,
}

impl<T> Completer<T> {
    /// A completer whose drop fails the promise with [`ErrorKind::LoopClosed`] (what
    /// loop jobs and tasks keep).
    pub(crate) fn new(setter: Setter<T>) -> Self {
        Completer {
            setter: Some(setter),
            on_drop: loop_closed,
        }
    }

    /// A completer whose drop fails the promise with `on_drop()`.
    pub(crate) fn with_drop_error(setter: Setter<T>, on_drop: fn() -> Error) -> Self {
        Completer {
            setter: Some(setter),
            on_drop,
        }
    }

    /// The promise's setter, until the completer completes.
    pub(crate) fn setter(&self) -> Option<&Setter<T>> {
        self.setter.as_ref()
    }

    /// `true` when the promise was settled elsewhere (cancelled): the work can be
    /// skipped.
    pub(crate) fn is_done(&self) -> bool {
        self.setter.as_ref().is_none_or(Setter::is_done)
    }

    /// Settles the promise (a refused outcome is dropped, guarded).
    pub(crate) fn complete(mut self, outcome: Result<T, Error>) {
        if let Some(setter) = self.setter.take() {
            if let Err(refused) = settle(setter.core(), outcome) {
                run_guarded(move || drop(refused), "dropping a refused outcome");
            }
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(setter) = self.setter.take() {
            if !setter.is_done() {
                let _ = settle(setter.core(), Err((self.on_drop)()));
            }
        }
    }
}

/// A new pending promise sharing its allocation with `call`: the task that runs the
/// call (one REF) and the first reader.
fn with_call<T, C: Call<T>>(
    scheduler: Option<Scheduler>,
    call: C,
    created_at: &'static Location<'static>,
) -> (CallTask, Reader<T>)
where
    T: Send + 'static,
{
    let core = Core::build(
        None,
        scheduler,
        CallCell::new(call),
        created_at,
        READER | (2 * REF),
    );
    let typed: NonNull<Core<T, CallCell<C>>> = NonNull::from(Box::leak(Box::new(core)));
    let task = CallTask {
        ptr: typed.cast(),
        vtable: CallVTable::of::<T, C>(),
    };
    (task, Reader::from_ptr(typed))
}

/// What a call sharing its promise's allocation does.
pub(crate) trait Call<T>: Send + 'static {
    /// Runs the call and settles the promise.
    fn run(self, core: &Shared<T>);
    /// Drops the call unrun and fails the promise (its loop closed).
    fn abandon(self, core: &Shared<T>);
}

/// The call slot of a core that shares its allocation with a call: the call, until
/// the one [`CallTask`] of that core takes it out (to run it or abandon it). No lock:
/// only that task ever takes it, once, and only the last reference's drop (which
/// comes after the task's) drops what is left.
pub(crate) struct CallCell<C>(UnsafeCell<Option<C>>);

impl<C: Send> CallSlot for CallCell<C> {}

// SAFETY: the cell is touched by one thread at a time: the thread that runs or drops
// the core's one `CallTask` (which takes the call out, `CallCell::take`), then the
// thread that drops the core's last reference (`Core::destroy`), ordered after the
// task's REF was given back (`Release`, then `Acquire` before destroying). Moving a
// `C: Send` between them is what `Send` allows.
unsafe impl<C: Send> Sync for CallCell<C> {}

impl<C> CallCell<C> {
    fn new(call: C) -> Self {
        CallCell(UnsafeCell::new(Some(call)))
    }

    /// Takes the call out.
    ///
    /// # Safety
    ///
    /// Called only by the core's one `CallTask`, while it holds its REF.
    unsafe fn take(&self) -> Option<C> {
        self.0.with_mut(|cell| {
            // SAFETY: the caller's contract: the one task, once; nothing else touches
            // the cell before the last reference goes, after this task's.
            unsafe { (*cell).take() }
        })
    }
}

/// A call queued on a loop, sharing one allocation with the promise it settles: one
/// REF on that core, with the types erased so that a loop's queue holds any call.
/// Dropped without running, it abandons the call.
pub(crate) struct CallTask {
    /// The core, as a `Core<T, C>` with `T` and `C` erased.
    ptr: NonNull<()>,
    vtable: &'static CallVTable,
}

// SAFETY: a `CallTask` is a REF on a `Core<T, CallCell<C>>` with `T: Send` and
// `C: Call<T>` (`Send`, so the cell is `Send + Sync`), which is `Send + Sync`: as
// `Shared<T>`; and the right to take the call out, on whatever thread it is.
unsafe impl Send for CallTask {}

struct CallVTable {
    run: unsafe fn(NonNull<()>),
    abandon: unsafe fn(NonNull<()>),
}

impl CallVTable {
    fn of<T: Send + 'static, C: Call<T>>() -> &'static CallVTable {
        &CallVTableOf::<T, C>::VTABLE
    }
}

struct CallVTableOf<T, C>(PhantomData<(T, C)>);

impl<T: Send + 'static, C: Call<T>> CallVTableOf<T, C> {
    const VTABLE: CallVTable = CallVTable {
        run: run_call::<T, C>,
        abandon: abandon_call::<T, C>,
    };
}

/// The typed views of an erased call task's REF: the `Shared<T>` that owns the REF
/// (dropped by the caller, after the call), and the call, taken out.
///
/// # Safety
///
/// `ptr` is a `CallTask`'s, made for these `T` and `C`, and its REF is consumed by
/// the caller.
unsafe fn call_parts<T: 'static, C: Call<T>>(ptr: NonNull<()>) -> (Shared<T>, Option<C>) {
    let typed: NonNull<Core<T, CallCell<C>>> = ptr.cast();
    // SAFETY: the task's REF keeps the core alive; this is that task (the caller's
    // contract), taking its call out once.
    let call = unsafe { (*typed.as_ptr()).call.take() };
    // SAFETY: the task's REF, handed over (the caller's contract).
    (unsafe { Shared::from_raw(typed) }, call)
}

/// # Safety
///
/// `ptr` is a `CallTask`'s, made for these `T` and `C`, consumed by this call.
unsafe fn run_call<T: 'static, C: Call<T>>(ptr: NonNull<()>) {
    // SAFETY: the caller's contract.
    let (core, call) = unsafe { call_parts::<T, C>(ptr) };
    if let Some(call) = call {
        call.run(&core);
    }
    drop(core);
}

/// # Safety
///
/// As [`run_call`].
unsafe fn abandon_call<T: 'static, C: Call<T>>(ptr: NonNull<()>) {
    // SAFETY: the caller's contract.
    let (core, call) = unsafe { call_parts::<T, C>(ptr) };
    if let Some(call) = call {
        call.abandon(&core);
    }
    drop(core);
}

impl CallTask {
    /// Runs the call (unless its promise is already done: then it is dropped unrun).
    pub(crate) fn run(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the task's REF is consumed once, by this call; `this` is not
        // dropped.
        unsafe { (this.vtable.run)(this.ptr) };
    }
}

impl Drop for CallTask {
    fn drop(&mut self) {
        // SAFETY: the task's REF is consumed once, here.
        unsafe { (self.vtable.abandon)(self.ptr) };
    }
}

impl<T> Reader<T> {
    /// For a chain on a done source: when this reader is the only reference to a core
    /// that carries no call, was never waited on and holds a value nobody shared,
    /// moves the value out and keeps the allocation for the chain's next promise
    /// ([`Recycled`]): one allocation and one free fewer per link. Otherwise the
    /// reader comes back.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn recycle(self) -> Result<(T, Recycled), Self> {
        use super::state::{CLONER, CLONING, COMPLETE, HOLD, KIND, READERS, REFS};
        use super::state::{TAKEN, VALUE, WAITERS};
        use crate::loom::Ordering;
        const ALL: usize = KIND | COMPLETE | TAKEN | HOLD | WAITERS | CLONER | CLONING;
        let s = self.core.snapshot();
        if s.0 & (ALL | READERS | REFS) != VALUE | COMPLETE | READER | REF
            || self.slot != 0
            || self.core.weak.load(Ordering::Relaxed) != 1
        {
            return Err(self);
        }
        let layout = Layout::for_value(&**self.core);
        // Only a core without a call has the layout of `Core<T, ()>`: a call slot is
        // never zero-sized.
        if layout != Layout::new::<Core<T, ()>>() {
            return Err(self);
        }
        std::sync::atomic::fence(Ordering::Acquire);
        let this = ManuallyDrop::new(self);
        let ptr = this.core.ptr;
        // SAFETY: this reader is the only reference to the core (REFS = 1 and READERS =
        // 1 are its own, no weak handle, checked above before an `Acquire` fence), it
        // is consumed here, and nothing waits on the core (WAITERS was never set), so
        // no other thread can reach the allocation: its contents are ours to take
        // apart. The cell holds a complete value nobody moved out (VALUE, COMPLETE, not
        // TAKEN): read once. The waiters are dropped once (the call slot is `()`, as
        // the layout says: nothing to drop); the scheduler is moved out once;
        // `outcome` is not touched again; the allocation is freed or reused by
        // `Recycled`, never by a `Shared`.
        let (outcome, scheduler) = unsafe {
            let core = &mut *ptr.as_ptr();
            let outcome = core
                .outcome
                .with_mut(|cell| std::ptr::read((*cell).as_ptr()));
            ManuallyDrop::drop(&mut core.waiters);
            (outcome, ManuallyDrop::take(&mut core.scheduler))
        };
        let recycled = Recycled {
            ptr: ptr.cast(),
            layout,
            scheduler,
        };
        match outcome {
            Ok(value) => Ok((value, recycled)),
            // Unreachable (KIND = VALUE); the allocation is freed all the same.
            Err(_) => unreachable!("a core of kind VALUE holds an error"),
        }
    }

    #[cfg(loom)]
    pub(crate) fn recycle(self) -> Result<(T, Recycled), Self> {
        Err(self)
    }
}

/// The allocation of a core taken apart by [`Reader::recycle`]: its contents are
/// gone but for the loop it was bound to; it becomes the next promise, or is freed.
pub(crate) struct Recycled {
    ptr: NonNull<u8>,
    layout: Layout,
    scheduler: Option<Scheduler>,
}

// SAFETY: a `Recycled` owns a bare allocation (no contents) and a `Scheduler`, which
// is `Send`.
unsafe impl Send for Recycled {}

impl Recycled {
    /// A new promise born done with `outcome`, bound to the same loop: in this
    /// allocation when `Core<U>` has its layout, else in a new one.
    #[inline]
    pub(crate) fn into_reader<U>(
        self,
        outcome: Result<U, Error>,
        created_at: &'static Location<'static>,
    ) -> Reader<U> {
        let mut this = ManuallyDrop::new(self);
        let scheduler = this.scheduler.take();
        let core = Core::<U, ()>::build(Some(outcome), scheduler, (), created_at, READER | REF);
        if this.layout != Layout::new::<Core<U, ()>>() {
            // SAFETY: the allocation is ours (see `Reader::recycle`), with no contents,
            // and made with `this.layout`; `this` is not used again.
            unsafe { free(this.ptr, this.layout) };
            return Reader::from_ptr(Shared::allocate(core));
        }
        let typed: NonNull<Core<U, ()>> = this.ptr.cast();
        // SAFETY: the allocation is ours and empty, and has exactly the layout of
        // `Core<U, ()>` (checked above), so writing one there is as `Box::new` would;
        // the state word counts the one reader made from it. It is freed by the last
        // reference with `Layout::for_value` of that core: the same layout.
        unsafe { typed.as_ptr().write(core) };
        Reader::from_ptr(typed)
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        // SAFETY: the allocation is ours, empty, made with `self.layout`; freed once.
        unsafe { free(self.ptr, self.layout) };
    }
}
