//! [`multi_async`] and [`MultiFuture`]: one future over many values, with the same
//! shape in and out.
//!
//! A gather takes a container ([`Gather`]) of values that are ready now or promised
//! ([`IntoMaybeAsync`]: a `Result`, a [`MaybeAsync`] or a [`Promise`]). Ready values are
//! stored at once; each pending promise is consumed into the gather's engine as a
//! reading handle, which hands it the outcome by value when it settles (moved when the
//! gather holds the last reader, cloned otherwise): the engine stores it in its slot
//! and counts it down under an atomic, so that finishing `n` inputs costs `O(n)`
//! whatever order they finish in, from whatever threads and loops they finish on: no
//! input is ever polled again to find out whether it finished. The last one to finish
//! builds the output container and settles one result [`Promise`]. A nested gather
//! settles through the promise's work list, so nesting depth costs heap, not stack.
//!
//! Its parts: the gathers and their engine here; [`KeyedError`], what a raised
//! gather's error carries (`keyed.rs`); [`as_completed`], the same inputs as a
//! stream of `(key, outcome)` in completion order (`as_completed.rs`); [`PromiseSet`],
//! a growing set of promises read as they finish, on the same machinery (`set.rs`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

mod as_completed;
mod keyed;
mod set;

pub use as_completed::{as_completed, AsCompleted};
pub use keyed::KeyedError;
pub use set::{JoinNext, PromiseSet};

use crate::error::{Error, ErrorKind};
use crate::gather::{Gather, Seq};
use crate::loom::{lock, Arc, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::maybe::{IntoMaybeAsync, MaybeAsync};
use crate::panic::{self, run_guarded};
use crate::promise::{Completer, Promise};
use crate::schedule::{self, Scheduler};

/// The value each entry of a container `C` gives once gathered.
type Item<C> = <<C as Gather>::Value as IntoMaybeAsync>::Output;

/// What [`multi_async`] makes of a container `C`: the same container of values.
type Raised<C> = MultiFuture<<C as Gather>::Output<Item<C>>, <C as Gather>::Key>;

/// What [`multi_async_settled`] makes of a container `C`: the same container of
/// outcomes.
type Settled<C> = MultiFuture<<C as Gather>::Output<Result<Item<C>, Error>>, <C as Gather>::Key>;

/// What a gather of `C` in mode `M` makes.
type Gathered<C, M> =
    MultiFuture<<C as Gather>::Output<<M as Mode>::Slot<Item<C>>>, <C as Gather>::Key>;

/// Gathers the values of `data` into one [`MultiFuture`] of the same shape:
/// `raise_on_error = true`, the first failure (or cancellation) fails the whole.
///
/// `data` is a [`Gather`] container (`Vec`, array, `VecDeque`, `HashMap`,
/// `BTreeMap`, `IndexMap` with the `indexmap` feature; any iterator through
/// `collect::<MultiFuture<_>>()`). Its values may be:
/// - [`Promise`]s, of any loop or thread, or none;
/// - [`MaybeAsync`]s, such as what [`maybe_async`](crate::maybe_async) makes of any
///   future;
/// - plain values, written `Ok(value)` or [`MaybeAsync::ready(value)`](MaybeAsync::ready)
///   (a plain `T` cannot be told apart from a `Promise<T>` by the trait system, so it
///   comes in wrapped).
///
/// Ready values, and promises already done, are stored at once with no task and no
/// callback; only pending promises are waited for, each consumed by the gather, which
/// counts it when it settles. When nothing is left pending the output is built and the
/// MultiFuture is done: an empty input, or one whose values are all ready, is done
/// when `multi_async` returns, with no loop iteration. A promise's value is moved into
/// the output when the gather holds its last reading handle, and cloned while other
/// clones of it live; so values need only be `Send` (not `Clone`, not `Sync`): a map of
/// `JoinHandle`s or of promises of `Result<_, io::Error>` gathers as it is.
///
/// The first failure or cancellation among the inputs fails the whole at once with
/// an error of that input's [`ErrorKind`] that names its key: it carries a
/// [`KeyedError`] (the key, by its `Debug`, in the message; the key itself through
/// `err.downcast_ref::<KeyedError<K>>()`; the input's error as its `source()`), which
/// is why keys must be `Debug + Sync`. The other inputs are not cancelled, only no longer waited for,
/// and the values gathered so far are released. To keep every failure in its slot
/// instead, use [`multi_async_settled`]. If every handle of a pending input is dropped
/// before it settles, the whole fails with [`ErrorKind::InvalidState`] instead of
/// staying pending for ever; a panic in a key's `Clone` or in building the output
/// fails it with [`ErrorKind::Panicked`].
///
/// The MultiFuture's promise is bound to the loop running on the current thread when
/// there is one (its done-callbacks run there), else to no loop: a caller-driven
/// [`EventLoop`](crate::EventLoop) that is built but not running is not one, since
/// nothing would run there until it is driven.
///
/// # Examples
///
/// ```
/// use pulsar_async::{maybe_async, multi_async, MaybeAsync, MultiFuture, Promise};
/// use std::collections::HashMap;
///
/// # futures::executor::block_on(async {
/// let (a, b) = (Promise::new(), Promise::new());
/// let all = multi_async(vec![
///     MaybeAsync::from(a.clone()),
///     MaybeAsync::from(b.clone()),
///     MaybeAsync::ready("bla"),
/// ]);
/// b.set_result("b").unwrap();
/// a.set_result("a").unwrap();
/// assert_eq!(all.await.unwrap(), ["a", "b", "bla"]);
///
/// // A map gives a map with the same keys; ready values make it done at once.
/// let prices = HashMap::from([("tea", Ok(3)), ("cake", Ok(5))]);
/// let gathered = multi_async(prices);
/// assert!(gathered.is_done());
/// assert_eq!(gathered.await.unwrap()["cake"], 5);
///
/// // Any futures, through maybe_async; any iterator, through collect.
/// let squares: MultiFuture<Vec<u64>> = (1..=3u64).map(|i| maybe_async(async move { i * i })).collect();
/// assert_eq!(squares.await.unwrap(), [1, 4, 9]);
/// # });
/// ```
pub fn multi_async<C>(data: C) -> Raised<C>
where
    C: Gather,
    C::Key: Clone + fmt::Debug + Send + Sync + 'static,
    C::Value: IntoMaybeAsync,
    Item<C>: Send + 'static,
    C::Shape: Send + 'static,
    C::Output<Item<C>>: Send + 'static,
{
    gather::<C, Raise>(data, Some(KeyedError::into_error))
}

/// Gathers like [`multi_async`] with `raise_on_error = false`: every input is waited
/// for, and each slot of the output holds that input's `Result`, so a failure sits in
/// its slot as an [`Error`] value. The failures are also listed, with their key or
/// index, by [`MultiFuture::failures`]. The whole itself fails only when it is
/// cancelled.
///
/// # Examples
///
/// ```
/// use pulsar_async::{multi_async_settled, Error, ErrorKind, Promise};
/// use std::collections::BTreeMap;
///
/// let (ok, bad) = (Promise::new(), Promise::<u8>::new());
/// let all = multi_async_settled(BTreeMap::from([("ok", ok.clone()), ("bad", bad.clone())]));
/// bad.set_error(Error::from(ErrorKind::Timeout)).unwrap();
/// ok.set_result(1).unwrap();
///
/// let failures = all.failures();
/// assert_eq!(failures.len(), 1);
/// assert_eq!((failures[0].0, failures[0].1.kind()), ("bad", ErrorKind::Timeout));
/// let out = all.wait().unwrap();
/// assert_eq!(out["ok"].as_ref().unwrap(), &1);
/// assert_eq!(out["bad"].as_ref().unwrap_err().kind(), ErrorKind::Timeout);
/// ```
#[doc(alias = "raise_on_error")]
pub fn multi_async_settled<C>(data: C) -> Settled<C>
where
    C: Gather,
    C::Key: Clone + Send + 'static,
    C::Value: IntoMaybeAsync,
    Item<C>: Send + 'static,
    C::Shape: Send + 'static,
    C::Output<Result<Item<C>, Error>>: Send + 'static,
{
    gather::<C, Settle>(data, None)
}

/// One future over many values, from [`multi_async`] or [`multi_async_settled`]:
/// `O` is the output container, `K` the key (or index) of an input.
///
/// It is a [`Promise`] of the output plus the list of failures: await it (giving
/// `Result<O, Error>`), get its promise with [`promise`](MultiFuture::promise) to
/// chain on it or share it, or block a plain thread with
/// [`wait`](MultiFuture::wait). It is thread safe: inputs may finish on any thread or
/// loop. Dropping it does not stop the gather; cancelling it stops waiting and
/// leaves the inputs alone.
///
/// # Cancel safety
///
/// Awaiting a `MultiFuture` is cancel safe: dropping the future before it completes
/// neither stops nor cancels the gather, and a clone of its
/// [`promise`](MultiFuture::promise) still reads the output. Cancelling it releases
/// the values gathered so far at once.
///
/// # Examples
///
/// ```
/// use pulsar_async::{multi_async, MultiFuture, Promise};
/// use std::time::Duration;
///
/// let p = Promise::new();
/// let all: MultiFuture<[u32; 2]> = multi_async([p.clone(), Promise::resolved(2)]);
/// assert!(!all.is_done());
/// std::thread::spawn(move || p.set_result(1).unwrap());
/// assert_eq!(all.wait_timeout(Duration::from_secs(5)).unwrap(), [1, 2]);
/// ```
#[doc(alias = "gather")]
#[must_use = "a gather runs anyway; its outcome is lost unless it is read"]
pub struct MultiFuture<O, K = usize> {
    promise: Promise<O>,
    log: Option<Arc<Log<K>>>,
}

/// The failures seen so far, with their keys.
struct Log<K> {
    failures: Mutex<Vec<(K, Error)>>,
}

impl<O, K> MultiFuture<O, K> {
    /// `true` once the whole is done: every input finished, or (with
    /// `raise_on_error`) one failed, or it was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, Promise};
    /// assert!(multi_async(Vec::<Promise<u8>>::new()).is_done());
    /// let input = Promise::<u8>::new();
    /// assert!(!multi_async(vec![input.clone()]).is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.promise.is_done()
    }

    /// The promise of the output, giving up this handle (and with it
    /// [`failures`](MultiFuture::failures)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, Promise};
    /// let p = multi_async([Promise::resolved('x')]).into_promise();
    /// assert_eq!(p.wait().unwrap(), ['x']);
    /// ```
    pub fn into_promise(self) -> Promise<O> {
        self.promise
    }

    /// Stops waiting: the whole becomes done with an [`ErrorKind::Cancelled`] error.
    /// The inputs are not cancelled. Returns `false`, changing nothing, when the whole
    /// was already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, Promise};
    /// let input = Promise::<u8>::new();
    /// let all = multi_async(vec![input.clone()]);
    /// assert!(all.cancel());
    /// assert!(all.try_result().unwrap_err().is_cancelled());
    /// assert!(!input.is_done());
    /// ```
    pub fn cancel(&self) -> bool {
        self.promise.cancel()
    }
}

impl<O, K: Clone> MultiFuture<O, K> {
    /// The inputs that failed so far, with their key (or index), in the order the
    /// failures were seen: ready ones in input order, then pending ones as they
    /// finished.
    ///
    /// With [`multi_async_settled`] this lists every failure. With [`multi_async`] it
    /// holds at most one: the failure that failed the whole.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, multi_async_settled, Error, ErrorKind, MaybeAsync};
    ///
    /// let inputs = || vec![
    ///     MaybeAsync::ready(1),
    ///     MaybeAsync::failed(Error::from(ErrorKind::Timeout)),
    ///     MaybeAsync::failed(Error::user("no")),
    /// ];
    /// let settled = multi_async_settled(inputs());
    /// let indexes: Vec<usize> = settled.failures().into_iter().map(|(i, _)| i).collect();
    /// assert_eq!(indexes, [1, 2]);
    ///
    /// let raised = multi_async(inputs());
    /// assert_eq!(raised.failures().len(), 1);
    /// assert_eq!(raised.try_result().unwrap_err().kind(), ErrorKind::Timeout);
    /// ```
    pub fn failures(&self) -> Vec<(K, Error)> {
        match &self.log {
            Some(log) => lock(&log.failures).clone(),
            None => Vec::new(),
        }
    }
}

impl<O: Clone, K> MultiFuture<O, K> {
    /// The promise of the output: a clone of the handle this MultiFuture reads (a
    /// second reader, so the output must be `Clone`; see
    /// [`into_promise`](MultiFuture::into_promise) otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{chain_future, multi_async, Promise};
    /// let all = multi_async(vec![Promise::resolved(1), Promise::resolved(2)]);
    /// let sum = chain_future(all.promise()).callback(|v: Vec<i32>| Ok(v.iter().sum::<i32>()));
    /// assert_eq!(sum.start().try_result().unwrap(), 3);
    /// ```
    pub fn promise(&self) -> Promise<O> {
        self.promise.clone()
    }

    /// The output now, without waiting.
    ///
    /// # Errors
    ///
    /// The whole's error once it failed or was cancelled;
    /// [`ErrorKind::InvalidState`] while it is pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, ErrorKind, Promise};
    /// let input = Promise::<u8>::new();
    /// let all = multi_async(vec![input.clone()]);
    /// assert_eq!(all.try_result().unwrap_err().kind(), ErrorKind::InvalidState);
    /// ```
    pub fn try_result(&self) -> Result<O, Error> {
        self.promise.try_result()
    }

    /// Blocks the current thread until the whole is done; for plain threads.
    ///
    /// # Errors
    ///
    /// As [`Promise::wait`]: the whole's error, or [`ErrorKind::WouldDeadlock`] on the
    /// thread of the loop its promise is bound to, or inside a tokio runtime where
    /// blocking is not allowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, run_in_loop, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// let all = multi_async(vec![run_in_loop(&lp, || 1), run_in_loop(&lp, || 2)]);
    /// assert_eq!(all.wait().unwrap(), [1, 2]);
    /// ```
    pub fn wait(&self) -> Result<O, Error> {
        self.promise.wait()
    }

    /// Like [`wait`](MultiFuture::wait), giving up after `timeout`; the gather goes on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when `timeout` passes first; otherwise as
    /// [`wait`](MultiFuture::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, ErrorKind, Promise};
    /// use std::time::Duration;
    /// let input = Promise::<u8>::new();
    /// let all = multi_async(vec![input.clone()]);
    /// let err = all.wait_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<O, Error> {
        self.promise.wait_timeout(timeout)
    }
}

impl<O, K> Future for MultiFuture<O, K> {
    type Output = Result<O, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().promise).poll(cx)
    }
}

impl<O, K> IntoMaybeAsync for MultiFuture<O, K> {
    type Output = O;

    fn into_maybe_async(self) -> MaybeAsync<O> {
        MaybeAsync::from(self.promise)
    }

    fn is_ready(&self) -> bool {
        self.promise.is_done()
    }
}

impl<O, K> From<MultiFuture<O, K>> for Promise<O> {
    fn from(multi: MultiFuture<O, K>) -> Promise<O> {
        multi.promise
    }
}

/// Gathers any iterator of values into a `Vec`, in input order, like
/// [`multi_async`] on a `Vec` (with `raise_on_error`), without collecting the inputs
/// first.
///
/// # Examples
///
/// ```
/// use pulsar_async::{MultiFuture, Promise};
/// let all: MultiFuture<Vec<u8>> = (1..=3).map(Promise::resolved).collect();
/// assert_eq!(all.try_result().unwrap(), [1, 2, 3]);
/// ```
impl<V, T> FromIterator<V> for MultiFuture<Vec<T>>
where
    V: IntoMaybeAsync<Output = T>,
    T: Send + 'static,
{
    fn from_iter<I: IntoIterator<Item = V>>(iter: I) -> Self {
        gather::<Seq<I::IntoIter>, Raise>(Seq(iter.into_iter()), Some(KeyedError::into_error))
    }
}

/// Gathers the promises of a broadcast, one per loop in the loops' order, into a
/// `Vec` as [`multi_async`] does, its error naming the broadcast and the loop
/// ([`KeyedError::into_broadcast_error`]).
pub(crate) fn gather_broadcast<T, I>(promises: I) -> MultiFuture<Vec<T>>
where
    I: IntoIterator<Item = Promise<T>>,
    T: Send + 'static,
{
    gather::<Seq<I::IntoIter>, Raise>(
        Seq(promises.into_iter()),
        Some(KeyedError::into_broadcast_error),
    )
}

impl<O, K> fmt::Debug for MultiFuture<O, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failures = self.log.as_ref().map_or(0, |log| lock(&log.failures).len());
        f.debug_struct("MultiFuture")
            .field("promise", &self.promise)
            .field("failures", &failures)
            .finish()
    }
}

/// What a gather does with a failed input: fail the whole, or keep the error in its
/// slot.
trait Mode {
    type Slot<T>;
    fn slot<T>(outcome: Result<T, Error>) -> Result<Self::Slot<T>, Error>;
    /// The slot of an input that holds a value.
    fn value<T>(value: T) -> Self::Slot<T>;
}

/// `raise_on_error = true`.
struct Raise;

impl Mode for Raise {
    type Slot<T> = T;
    #[inline]
    fn slot<T>(outcome: Result<T, Error>) -> Result<T, Error> {
        outcome
    }
    #[inline]
    fn value<T>(value: T) -> T {
        value
    }
}

/// `raise_on_error = false`.
struct Settle;

impl Mode for Settle {
    type Slot<T> = Result<T, Error>;
    #[inline]
    fn slot<T>(outcome: Result<T, Error>) -> Result<Result<T, Error>, Error> {
        Ok(outcome)
    }
    #[inline]
    fn value<T>(value: T) -> Result<T, Error> {
        Ok(value)
    }
}

/// A gathered input: its outcome once it finished, `None` while it is pending.
type Slot<T> = Option<Result<T, Error>>;

type Build<K, T, S, O> = fn(S, Vec<(K, Slot<T>)>) -> Result<O, Error>;

/// How a gather with `raise_on_error` makes its error from the failed input's key
/// and error ([`KeyedError::into_error`]); `None` for a settled gather, which keeps
/// each failure in its slot.
type RaiseWith<K> = Option<fn(K, Error) -> Error>;

/// The state of a gather with pending inputs, shared by the consumers of those
/// inputs.
struct Engine<K, T, S, O> {
    /// Pending inputs not yet finished; the one that takes it to zero builds the
    /// output.
    remaining: AtomicUsize,
    raise: RaiseWith<K>,
    build: Build<K, T, S, O>,
    log: Arc<Log<K>>,
    state: Mutex<State<K, T, S, O>>,
}

struct State<K, T, S, O> {
    shape: Option<S>,
    slots: Vec<(K, Slot<T>)>,
    /// Taken by whoever settles the result: the last input, the first failure (with
    /// `raise_on_error`), or a cancel of the result (which releases the slots). If the
    /// engine goes away with it (every pending input dropped unsettled), the result
    /// fails instead of staying pending.
    result: Option<Completer<O>>,
}

impl<K: Clone, T, S, O> Engine<K, T, S, O> {
    /// Input `index` finished with `outcome`: stored in its slot and counted down.
    /// A failure is listed with its key and, with `raise_on_error`, fails the whole.
    fn finished(&self, index: usize, outcome: Result<T, Error>) {
        let mut state = lock(&self.state);
        if state.result.is_none() {
            // The whole already failed, was cancelled or is complete: keep nothing.
            drop(state);
            run_guarded(move || drop(outcome), "dropping a gathered value");
            return;
        }
        if let Err(error) = &outcome {
            if let Some((key, _)) = state.slots.get(index) {
                let raise = self.raise;
                match panic::catch(|| (key.clone(), raise.map(|_| key.clone()))) {
                    Ok((logged, raised)) => {
                        lock(&self.log.failures).push((logged, error.clone()));
                        if let (Some(key), Some(keyed)) = (raised, raise) {
                            let error = keyed(key, error.clone());
                            return self.fail(state, error);
                        }
                    }
                    Err(panicked) => return self.fail(state, panicked),
                }
            }
        }
        if let Some((_, slot)) = state.slots.get_mut(index) {
            *slot = Some(outcome);
        }
        drop(state);
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.complete();
        }
    }

    /// Fails the whole with `error` and releases the values gathered so far: the
    /// other inputs are no longer waited for.
    fn fail(&self, state: MutexGuard<'_, State<K, T, S, O>>, error: Error) {
        let (result, released) = Engine::release_in(state);
        if let Some(result) = result {
            result.complete(Err(error));
        }
        drop(released);
    }

    /// The cancel hook of the result: releases the values gathered so far at once.
    fn cancelled(&self) {
        let (result, released) = Engine::release_in(lock(&self.state));
        // Dropping the completer of a cancelled promise changes nothing.
        drop(result);
        drop(released);
    }

    /// Takes the result and everything the gather holds out of `state`; the values are
    /// dropped (under the panic guard) by whoever drops what is returned, after the
    /// lock is released.
    fn release_in(
        mut state: MutexGuard<'_, State<K, T, S, O>>,
    ) -> (Option<Completer<O>>, Released<K, T, S>) {
        let result = state.result.take();
        let released = Released(std::mem::take(&mut state.slots), state.shape.take());
        drop(state);
        (result, released)
    }

    /// Builds the output from the finished inputs and settles the result.
    fn complete(&self) {
        let mut state = lock(&self.state);
        let Some(result) = state.result.take() else {
            return;
        };
        let slots = std::mem::take(&mut state.slots);
        let shape = state.shape.take();
        drop(state);
        let outcome = match shape {
            Some(shape) => guarded(|| (self.build)(shape, slots)),
            None => Err(Error::new(
                ErrorKind::InvalidState,
                "multi_async: the gather was completed twice",
            )),
        };
        result.complete(outcome);
    }
}

/// Values and shape a gather let go of, dropped under the panic guard.
struct Released<K, T, S>(Vec<(K, Slot<T>)>, Option<S>);

impl<K, T, S> Drop for Released<K, T, S> {
    fn drop(&mut self) {
        let slots = std::mem::take(&mut self.0);
        let shape = self.1.take();
        run_guarded(move || drop((slots, shape)), "dropping a gather's values");
    }
}

/// Builds the output container from finished slots; in raise mode an error found in
/// a slot fails the whole.
fn build<C, M, T>(
    shape: C::Shape,
    slots: Vec<(C::Key, Slot<T>)>,
) -> Result<C::Output<M::Slot<T>>, Error>
where
    C: Gather,
    M: Mode,
{
    let len = slots.len();
    let mut failure = None;
    let entries = slots.into_iter().map_while(|(key, slot)| {
        let outcome = slot.unwrap_or_else(|| {
            Err(Error::new(
                ErrorKind::InvalidState,
                "multi_async: an input was pending when the gather finished",
            ))
        });
        match M::slot(outcome) {
            Ok(value) => Some((key, value)),
            Err(error) => {
                failure = Some(error);
                None
            }
        }
    });
    let out = C::rebuild(shape, len, entries);
    match failure {
        Some(error) => Err(error),
        None => out,
    }
}

/// Runs a build, turning a panic (in a key's `Hash`, a container's `rebuild`...) into
/// the gather's [`ErrorKind::Panicked`] error, so that the result is always settled.
fn guarded<O>(build: impl FnOnce() -> Result<O, Error>) -> Result<O, Error> {
    panic::catch(build).and_then(|out| out)
}

/// The loop a gather's result is bound to: the one running on this thread, if any.
/// A caller-driven loop that is built here but not running is not bound: it would run
/// nothing (the result's done-callbacks) until driven, and a blocking wait here on the
/// result would be refused as if this thread had to settle it.
fn result_loop() -> Option<Scheduler> {
    schedule::current_running()
}

/// What settles a gather's result. Its drop error is the gather's when every handle
/// of a pending input went away before it settled.
fn result_completer<O>(promise: &Promise<O>) -> Completer<O> {
    Completer::with_drop_error(promise.setter(), || {
        Error::new(
            ErrorKind::InvalidState,
            "multi_async: an input was dropped before it settled",
        )
    })
}

fn gather<C, M>(data: C, raise: RaiseWith<C::Key>) -> Gathered<C, M>
where
    C: Gather,
    M: Mode,
    C::Key: Clone + Send + 'static,
    C::Value: IntoMaybeAsync,
    Item<C>: Send + 'static,
    C::Shape: Send + 'static,
    C::Output<M::Slot<Item<C>>>: Send + 'static,
{
    if data.all_values(IntoMaybeAsync::is_value) {
        return gather_values::<C, M>(data);
    }
    if data.all_values(IntoMaybeAsync::is_ready) {
        return gather_ready::<C, M>(data, raise);
    }
    let (shape, entries) = data.into_entries();
    let mut slots = Vec::with_capacity(entries.size_hint().0);
    let mut pending = Vec::new();
    let mut failures = Vec::new();
    for (key, value) in entries {
        match value.into_outcome() {
            Ok(outcome) => {
                if let Err(error) = &outcome {
                    let raised = match panic::catch(|| (key.clone(), raise.map(|_| key.clone()))) {
                        Ok((logged, raised)) => {
                            failures.push((logged, error.clone()));
                            raised
                                .zip(raise)
                                .map(|(key, keyed)| keyed(key, error.clone()))
                        }
                        Err(panicked) => Some(panicked),
                    };
                    if let Some(error) = raised {
                        return MultiFuture {
                            promise: settled(Err(error)),
                            log: Some(Arc::new(Log {
                                failures: Mutex::new(failures),
                            })),
                        };
                    }
                }
                slots.push((key, Some(outcome)));
            }
            Err(input) => {
                pending.push((slots.len(), input.into_promise()));
                slots.push((key, None));
            }
        }
    }
    let log = Arc::new(Log {
        failures: Mutex::new(failures),
    });
    if pending.is_empty() {
        let has_failures = !lock(&log.failures).is_empty();
        return MultiFuture {
            promise: settled(guarded(|| build::<C, M, _>(shape, slots))),
            log: has_failures.then_some(log),
        };
    }
    let promise = Promise::with_scheduler(result_loop());
    let engine = std::sync::Arc::new(Engine {
        remaining: AtomicUsize::new(pending.len()),
        raise,
        build: build::<C, M, _>,
        log: log.clone(),
        state: Mutex::new(State {
            shape: Some(shape),
            slots,
            result: Some(result_completer(&promise)),
        }),
    });
    // Weak: the hook lives in the result, which the engine's completer keeps alive.
    let weak = std::sync::Arc::downgrade(&engine);
    promise.on_cancel(Box::new(move || {
        if let Some(engine) = weak.upgrade() {
            engine.cancelled();
        }
    }));
    for (index, input) in pending {
        let engine = engine.clone();
        input.consume(move |outcome| engine.finished(index, outcome));
    }
    MultiFuture {
        promise,
        log: Some(log),
    }
}

/// A gather whose inputs all hold a value: a conversion and a collect, with no
/// failure to record.
fn gather_values<C, M>(data: C) -> Gathered<C, M>
where
    C: Gather,
    M: Mode,
    C::Value: IntoMaybeAsync,
{
    let (shape, entries) = data.into_entries();
    let len = entries.size_hint().0;
    let output = guarded(|| {
        let slots = entries.map(|(key, value)| match value.into_outcome() {
            Ok(Ok(value)) => (key, M::value(value)),
            _ => panic!("multi_async: an input said it held a value and did not"),
        });
        C::rebuild(shape, len, slots)
    });
    MultiFuture {
        promise: settled(output),
        log: None,
    }
}

/// A gather whose inputs are all ready: the output is built straight from the
/// entries, in one pass.
fn gather_ready<C, M>(data: C, raise: RaiseWith<C::Key>) -> Gathered<C, M>
where
    C: Gather,
    M: Mode,
    C::Key: Clone,
    C::Value: IntoMaybeAsync,
{
    let (shape, entries) = data.into_entries();
    let len = entries.size_hint().0;
    let mut failures = Vec::new();
    let mut raised = None;
    let output = guarded(|| {
        let slots = entries.map_while(|(key, value)| {
            let outcome = value.into_outcome().unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::InvalidState,
                    "multi_async: an input said it was ready and was not",
                ))
            });
            if let Err(error) = &outcome {
                failures.push((key.clone(), error.clone()));
                if let Some(keyed) = raise {
                    raised = Some(keyed(key, error.clone()));
                    return None;
                }
            }
            M::slot(outcome).ok().map(|slot| (key, slot))
        });
        C::rebuild(shape, len, slots)
    });
    let outcome = match raised {
        Some(error) => Err(error),
        None => output,
    };
    let log = (!failures.is_empty()).then(|| {
        Arc::new(Log {
            failures: Mutex::new(failures),
        })
    });
    MultiFuture {
        promise: settled(outcome),
        log,
    }
}

/// A done promise for the output, bound like a pending one ([`result_loop`]).
fn settled<O>(outcome: Result<O, Error>) -> Promise<O> {
    Promise::settled_in(outcome, result_loop())
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use ::loom::thread;

    #[test]
    fn inputs_finished_on_two_threads_complete_the_gather_exactly_once() {
        ::loom::model(|| {
            let (a, b) = (Promise::<u32>::new(), Promise::<u32>::new());
            let all = multi_async(vec![a.clone(), b.clone()]);
            let ta = thread::spawn(move || a.set_result(1).unwrap());
            let tb = thread::spawn(move || b.set_result(2).unwrap());
            ta.join().unwrap();
            tb.join().unwrap();
            assert_eq!(all.try_result().unwrap(), [1, 2]);
        });
    }

    #[test]
    fn a_failure_racing_the_last_success_settles_the_gather_once() {
        ::loom::model(|| {
            let (a, b) = (Promise::<u32>::new(), Promise::<u32>::new());
            let all = multi_async_settled(vec![a.clone(), b.clone()]);
            let ta = thread::spawn(move || a.set_error(Error::user("no")).unwrap());
            let tb = thread::spawn(move || b.set_result(2).unwrap());
            ta.join().unwrap();
            tb.join().unwrap();
            let out = all.try_result().unwrap();
            assert!(out[0].is_err());
            assert_eq!(*out[1].as_ref().unwrap(), 2);
            assert_eq!(all.failures().len(), 1);
        });
    }
}
