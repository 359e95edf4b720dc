//! What waits on a promise — wakers of reading handles, internal consumers, and
//! done-callbacks — and the two events that release them: the settle and the end of
//! the callbacks' hold.
//!
//! # Done-callbacks: in the order added, once each
//!
//! Callbacks sit in one queue. At most one *runner* drains it at a time (the
//! `Run::Running` state, decided under the waiters' lock), and it keeps running until
//! it finds the queue empty — under the same lock — so a callback added while earlier
//! ones are still running is appended and run after them by that runner, never
//! beside them. The runner holds the promise's HOLD (a [`Hold`] token) from the moment
//! the first callback is queued until the queue is empty: callbacks read the outcome
//! in place, so the value's last reader waits for them before it moves the value out,
//! and is woken when the hold is released.
//!
//! On a promise bound to a loop the runner is one job on that loop; if the loop
//! refuses it (closed), or drops it unrun, it runs on the thread at hand, through the
//! [`work`](super::work) list, still in order.
//!
//! # Internal consumers
//!
//! A chain's or a gather's wait on a promise is not a callback: it is a reading handle
//! turned into a closure that receives the outcome by value (moved when it is the last
//! reader, cloned otherwise). It waits in `consumers` holding a [`Detached`] count, not
//! an `Arc`, so that a promise never keeps itself alive through its own waiters.

use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::task::Waker;

use super::core::{attach, Core, Detached, Hold, Read, Reader, Shared};
use super::state::{Snapshot, RETRIEVED, WAITERS};
use super::work;
use crate::error::Error;
use crate::loom::lock;
use crate::panic::run_guarded;
use crate::schedule::{Job, Scheduler};

/// A done-callback.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Result<T, Error>) + Send + 'static>;

/// An internal consumer's continuation.
pub(crate) type Consume<T> = Box<dyn FnOnce(Result<T, Error>) + Send + 'static>;

/// The waiters of one promise, behind its lock.
pub(crate) struct Waiters<T> {
    /// Boxed, since most promises have nothing waiting on them: it keeps the core
    /// small. `ManuallyDrop`: its drop goes through the work list (see `Drop`).
    extras: ManuallyDrop<Option<Box<Extras<T>>>>,
}

struct Slot {
    owned: bool,
    waker: Option<Waker>,
}

/// Makes the job that runs a promise's callbacks (recorded where `T: Sync`).
type Runner<T> = fn(Shared<T>, Hold) -> Job;
/// Makes the job that hands a parked consumer its outcome.
type ConsumerJob<T> = fn(Shared<T>, Detached, Consume<T>) -> Job;
/// Erases the extras to a `'static` box, for the work list's deferred drops.
type Erase<T> = fn(Box<Extras<T>>) -> Box<dyn Send>;

/// Where the callbacks' runner is.
enum Run {
    /// No callback queued; HOLD clear.
    Idle,
    /// Callbacks queued on a pending promise; the hold waits for the settle.
    Queued(Hold),
    /// A runner is dispatched or running; it owns the hold.
    Running,
}

struct Extras<T> {
    /// One entry per reading handle that ever waited (a handle keeps its index).
    slots: Vec<Slot>,
    consumers: Vec<(Detached, Consume<T>)>,
    callbacks: VecDeque<(u64, Callback<T>)>,
    next_key: u64,
    run: Run,
    /// Run (in the order added) if the promise is cancelled, dropped if it settles
    /// otherwise.
    on_cancel: Vec<Job>,
    /// Monomorphic helpers recorded by the typed entry points (`T: 'static` there),
    /// so that the untyped settle path can call them.
    runner: Option<Runner<T>>,
    consumer: Option<ConsumerJob<T>>,
    erase: Option<Erase<T>>,
    /// `<T as Clone>::clone`, recorded by the first clone of a reading handle (reads
    /// that know `T: Clone` pass it themselves and never look here).
    cloner: Option<fn(&T) -> T>,
}

impl<T> Waiters<T> {
    pub(crate) fn new() -> Self {
        Waiters {
            extras: ManuallyDrop::new(None),
        }
    }

    fn extras(&mut self) -> &mut Extras<T> {
        self.extras.get_or_insert_with(|| {
            Box::new(Extras {
                slots: Vec::new(),
                consumers: Vec::new(),
                callbacks: VecDeque::new(),
                next_key: 0,
                run: Run::Idle,
                on_cancel: Vec::new(),
                runner: None,
                consumer: None,
                erase: None,
                cloner: None,
            })
        })
    }

    /// The cloner recorded by the first clone of a reading handle.
    pub(crate) fn cloner(&self) -> Option<fn(&T) -> T> {
        self.extras.as_deref().and_then(|extras| extras.cloner)
    }

    /// Records the cloner (see [`cloner`](Waiters::cloner)).
    pub(crate) fn record_cloner(&mut self, clone: fn(&T) -> T) {
        self.extras().cloner = Some(clone);
    }

    fn set_slot(&mut self, slot: &mut usize, waker: &Waker) {
        let slots = &mut self.extras().slots;
        if *slot == 0 {
            let free = slots.iter().position(|s| !s.owned);
            let index = free.unwrap_or_else(|| {
                slots.push(Slot {
                    owned: false,
                    waker: None,
                });
                slots.len() - 1
            });
            slots[index].owned = true;
            *slot = index + 1;
        }
        if let Some(entry) = slots.get_mut(*slot - 1) {
            if !entry.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                entry.waker = Some(waker.clone());
            }
        }
    }

    /// Takes out everything that a settle (`settled`) or a hold's release wakes.
    fn collect(&mut self, core: &Shared<T>, settled: Option<Snapshot>) -> Fired {
        let mut fired = Fired::default();
        let Some(extras) = self.extras.as_deref_mut() else {
            return fired;
        };
        for slot in &mut extras.slots {
            if let Some(waker) = slot.waker.take() {
                fired.wakers.push(waker);
            }
        }
        if let Some(state) = settled {
            let hooks = std::mem::take(&mut extras.on_cancel);
            if state.is_cancelled() {
                fired.hooks = hooks;
            } else {
                fired.unused = hooks;
            }
            if let (Run::Queued(_), Some(runner)) = (&extras.run, extras.runner) {
                if let Run::Queued(hold) = std::mem::replace(&mut extras.run, Run::Running) {
                    fired.jobs.push(runner(core.clone(), hold));
                }
            }
        }
        if let Some(consumer) = extras.consumer {
            for (detached, consume) in extras.consumers.drain(..) {
                fired.jobs.push(consumer(core.clone(), detached, consume));
            }
        }
        fired
    }
}

impl<T> Drop for Waiters<T> {
    #[inline]
    fn drop(&mut self) {
        // The extras may hold the next link of a chain (a consumer or callback that
        // owns the next promise): their drop goes through the work list.
        if let Some(extras) = self.extras.take() {
            drop_extras(extras);
        }
        // `extras` is `None` now: nothing is left to drop in it.
    }
}

#[inline(never)]
fn drop_extras<T>(extras: Box<Extras<T>>) {
    match extras.erase {
        Some(erase) => work::defer_drop(erase(extras)),
        None => drop(extras),
    }
}

fn erase<T: Send + 'static>(extras: Box<Extras<T>>) -> Box<dyn Send> {
    extras
}

/// What an event released, acted on once the lock is dropped.
#[derive(Default)]
struct Fired {
    wakers: Vec<Waker>,
    jobs: Vec<Job>,
    hooks: Vec<Job>,
    unused: Vec<Job>,
}

impl Fired {
    fn run(self, scheduler: Option<&Scheduler>) {
        for hook in self.hooks {
            run_guarded(hook, "cancel hook");
        }
        for unused in self.unused {
            run_guarded(move || drop(unused), "dropping a cancel hook");
        }
        for waker in self.wakers {
            waker.wake();
        }
        for job in self.jobs {
            dispatch(scheduler, job);
        }
    }
}

/// Runs `job` on the promise's loop, or on this thread's work list when it has none,
/// or when the loop refuses it or drops it unrun.
pub(crate) fn dispatch(scheduler: Option<&Scheduler>, job: Job) {
    match scheduler {
        Some(scheduler) => {
            if let Err(job) = scheduler.schedule(must_run(job)) {
                work::run(job);
            }
        }
        None => work::run(job),
    }
}

/// Wraps a job so that, dropped unrun (a loop that closes with it queued), it runs on
/// the dropping thread's work list instead: callbacks run once each, whatever the loop
/// does.
fn must_run(job: Job) -> Job {
    struct MustRun(Option<Job>);
    impl Drop for MustRun {
        fn drop(&mut self) {
            if let Some(job) = self.0.take() {
                work::run(job);
            }
        }
    }
    let mut once = MustRun(Some(job));
    Box::new(move || {
        if let Some(job) = once.0.take() {
            job();
        }
    })
}

/// Settles the promise with `outcome` and releases what waited for it; gives the
/// outcome back if the promise was already settled (then every view already reports
/// the earlier outcome when this returns).
#[inline]
pub(crate) fn settle<T>(
    core: &Shared<T>,
    outcome: Result<T, Error>,
) -> Result<(), Result<T, Error>> {
    match core.write_outcome(outcome) {
        Ok(before) => {
            if before.has_waiters() {
                let after = core.snapshot();
                let fired = lock(&core.waiters).collect(core, Some(after));
                fired.run(core.scheduler.as_ref());
            }
            Ok(())
        }
        Err(outcome) => {
            core.wait_complete();
            Err(outcome)
        }
    }
}

/// Cancels the promise (with `message`, if any); `false` when it was already done.
/// A refused cancel of a failed promise marks its error as read (asyncio).
pub(crate) fn cancel<T>(core: &Shared<T>, message: Option<String>) -> bool {
    let refused = |core: &Shared<T>| {
        let s = core.wait_complete();
        if s.is_failed() && !s.is_retrieved() {
            core.mark(RETRIEVED);
        }
        false
    };
    if core.snapshot().is_done() {
        return refused(core);
    }
    let error = match message {
        Some(message) => Error::new(crate::error::ErrorKind::Cancelled, message),
        None => Error::from(crate::error::ErrorKind::Cancelled),
    };
    match settle(core, Err(error)) {
        Ok(()) => true,
        Err(_) => refused(core),
    }
}

/// Releases what registered while a take rewrote the outcome cell: COMPLETE was clear
/// for that short window, so a read there waited, and a callback or cancel hook added
/// there was queued as on a pending promise. They are released as a settle releases
/// them.
#[inline(never)]
pub(crate) fn wake_after_take<T>(core: &Shared<T>) {
    let after = core.snapshot();
    let fired = lock(&core.waiters).collect(core, Some(after));
    fired.run(core.scheduler.as_ref());
}

/// Registers `waker` in a handle's `slot`; `false` (registering nothing new) when a
/// read would no longer wait. Checked under the lock, after WAITERS is set, so that a
/// settle or a hold's release after this point finds the waker.
pub(crate) fn register<T>(
    core: &Core<T>,
    slot: &mut usize,
    waker: &Waker,
    consuming: bool,
) -> bool {
    let mut waiters = lock(&core.waiters);
    let s = Snapshot(core.mark(WAITERS).0 | WAITERS);
    if !s.read_would_wait(consuming) {
        return false;
    }
    waiters.set_slot(slot, waker);
    true
}

/// Gives a handle's slot back.
#[inline]
pub(crate) fn release_slot<T, C: ?Sized>(core: &Core<T, C>, slot: &mut usize) {
    if *slot != 0 {
        release_slot_slow(core, slot);
    }
}

#[inline(never)]
fn release_slot_slow<T, C: ?Sized>(core: &Core<T, C>, slot: &mut usize) {
    {
        let mut waiters = lock(&core.waiters);
        let slots = waiters
            .extras
            .as_deref_mut()
            .map(|extras| &mut extras.slots);
        if let Some(entry) = slots.and_then(|slots| slots.get_mut(*slot - 1)) {
            entry.owned = false;
            entry.waker = None;
        }
        *slot = 0;
    }
}

/// Registers `hook` to run if the promise is cancelled; runs it at once if it was.
pub(crate) fn on_cancel<T>(core: &Shared<T>, hook: Job) {
    let mut waiters = lock(&core.waiters);
    let before = core.mark(WAITERS);
    if !before.is_complete() {
        waiters.extras().on_cancel.push(hook);
        return;
    }
    drop(waiters);
    if before.is_cancelled() {
        run_guarded(hook, "cancel hook");
    } else {
        run_guarded(move || drop(hook), "dropping a cancel hook");
    }
}

/// A done-callback's key, to remove it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallbackKey(pub(crate) u64);

/// Adds a done-callback after the ones added before it; on a settled promise it runs
/// (after those still queued) at once, on the promise's loop when it has one.
pub(crate) fn add_callback<T: Send + Sync + 'static>(
    core: &Shared<T>,
    callback: Callback<T>,
) -> CallbackKey {
    let mut waiters = lock(&core.waiters);
    let extras = waiters.extras();
    extras.runner = Some(runner::<T>);
    extras.erase = Some(erase::<T>);
    let key = extras.next_key;
    extras.next_key += 1;
    extras.callbacks.push_back((key, callback));
    let before = core.mark(WAITERS);
    let job = match extras.run {
        Run::Idle => match core.acquire_hold() {
            Some(hold) if before.is_complete() => {
                extras.run = Run::Running;
                Some(runner(core.clone(), hold))
            }
            Some(hold) => {
                extras.run = Run::Queued(hold);
                None
            }
            None => {
                debug_assert!(false, "HOLD set while no runner exists");
                None
            }
        },
        Run::Queued(_) | Run::Running => None,
    };
    drop(waiters);
    if let Some(job) = job {
        dispatch(core.scheduler.as_ref(), job);
    }
    CallbackKey(key)
}

/// Removes a done-callback that has not run yet; `false` if it ran (or is running),
/// or the key is unknown.
pub(crate) fn remove_callback<T>(core: &Shared<T>, key: CallbackKey) -> bool {
    let mut waiters = lock(&core.waiters);
    let Some(extras) = waiters.extras.as_deref_mut() else {
        return false;
    };
    let removed = match extras.callbacks.iter().position(|(k, _)| *k == key.0) {
        Some(index) => extras.callbacks.remove(index),
        None => None,
    };
    let mut fired = None;
    // A queued (not yet running) hold with no callback left is released; a running
    // runner finds the queue empty and ends by itself.
    if removed.is_some() && extras.callbacks.is_empty() && matches!(extras.run, Run::Queued(_)) {
        if let Run::Queued(hold) = std::mem::replace(&mut extras.run, Run::Idle) {
            core.release_hold(hold);
            fired = Some(waiters.collect(core, None));
        }
    }
    drop(waiters);
    let found = removed.is_some();
    if let Some(removed) = removed {
        run_guarded(move || drop(removed), "dropping a removed callback");
    }
    if let Some(fired) = fired {
        fired.run(core.scheduler.as_ref());
    }
    found
}

fn runner<T: Send + Sync + 'static>(core: Shared<T>, hold: Hold) -> Job {
    Box::new(move || run_callbacks(core, hold))
}

/// The callbacks' runner: pops and runs callbacks, in order, until the queue is empty;
/// then releases the hold and wakes what waited for it, under the same lock that
/// adders take, so no callback is left behind.
fn run_callbacks<T: Send + Sync + 'static>(core: Shared<T>, hold: Hold) {
    loop {
        let mut waiters = lock(&core.waiters);
        let next = waiters
            .extras
            .as_deref_mut()
            .and_then(|extras| extras.callbacks.pop_front());
        let Some((_, callback)) = next else {
            if let Some(extras) = waiters.extras.as_deref_mut() {
                extras.run = Run::Idle;
            }
            core.release_hold(hold);
            let fired = waiters.collect(&core, None);
            drop(waiters);
            fired.run(core.scheduler.as_ref());
            return;
        };
        drop(waiters);
        match core.held(&hold) {
            Some(outcome) => {
                if outcome.is_err() && !core.snapshot().is_retrieved() {
                    core.mark(RETRIEVED);
                }
                run_guarded(move || callback(outcome), "done-callback");
            }
            None => {
                // Unreachable: a runner runs only once the promise is complete.
                debug_assert!(false, "a done-callback ran on a pending promise");
                drop(callback);
            }
        }
    }
}

/// Hands `reader` to `consume`: at once when the outcome is there, else when it is
/// (on the promise's loop when it has one, else on the settling thread's work list).
pub(crate) fn consume<T: Send + 'static>(reader: Reader<T>, consume: Consume<T>) {
    step(reader, consume);
}

fn step<T: Send + 'static>(mut reader: Reader<T>, mut consume: Consume<T>) {
    loop {
        match reader.read(true) {
            Read::Ready(outcome) => {
                drop(reader);
                run_guarded(move || consume(outcome), "promise consumer");
                return;
            }
            Read::Pending | Read::Held => match park(reader, consume) {
                Some((r, c)) => {
                    reader = r;
                    consume = c;
                }
                None => return,
            },
        }
    }
}

/// Parks a consumer in the waiters; gives it back when a read would not wait any more.
fn park<T: Send + 'static>(
    reader: Reader<T>,
    consume: Consume<T>,
) -> Option<(Reader<T>, Consume<T>)> {
    let core = reader.core().clone();
    let mut waiters = lock(&core.waiters);
    let s = Snapshot(core.mark(WAITERS).0 | WAITERS);
    if !s.read_would_wait(true) {
        return Some((reader, consume));
    }
    let extras = waiters.extras();
    extras.consumer = Some(consumer_job::<T>);
    extras.erase = Some(erase::<T>);
    extras.consumers.push((reader.detach(), consume));
    None
}

fn consumer_job<T: Send + 'static>(
    core: Shared<T>,
    detached: Detached,
    consume: Consume<T>,
) -> Job {
    Box::new(move || {
        let reader = attach(&core, detached);
        drop(core);
        step(reader, consume);
    })
}
