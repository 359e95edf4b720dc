//! [`as_completed`] and [`AsCompleted`]: a gather's inputs as a stream of
//! `(key, outcome)`, in the order they finish (asyncio's `as_completed`, futures'
//! `FuturesUnordered`).
//!
//! As in `FuturesUnordered`, each pending input is polled with a waker of its own,
//! which queues the input's index once on the one ready queue ([`crate::ready`]) and
//! wakes the stream; the stream takes the queued indexes under one lock and polls
//! only the inputs they name, yielding each with its key. Nothing is scanned: `n`
//! inputs cost `O(n)` in all, whatever order they finish in. That machinery,
//! [`Unordered`], is also what [`PromiseSet`](super::PromiseSet) reads.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use super::Item;
use crate::error::Error;
use crate::gather::Gather;
use crate::maybe::IntoMaybeAsync;
use crate::panic::run_guarded;
use crate::promise::Promise;
use crate::ready::{ReadyQueue, Slot};

/// The inputs of `data` as a [`Stream`] of `(key, outcome)` pairs, each yielded once,
/// as the input finishes: asyncio's `as_completed`, with the keys of
/// [`multi_async`](crate::multi_async).
///
/// `data` is any [`Gather`] container, with the same values as `multi_async` takes
/// ([`Promise`](crate::Promise)s, [`MaybeAsync`](crate::MaybeAsync)s, `Result`s). A key
/// is the input's index for a `Vec`, `VecDeque`, array, and its key for a `HashMap`,
/// `BTreeMap`, `IndexMap`. Ready inputs come first, in the container's order; then
/// pending ones in the order they settle, from whatever thread or loop settles them
/// (those that settled before the stream was first polled come in the container's
/// order, as in a `FuturesUnordered`: the first poll finds them done).
/// A failure does not stop the stream: it is that input's `Err` (a panicking input
/// gives [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) for its key, and the others go on). The stream ends
/// after the last input.
///
/// The cost is linear: an input is polled once, and again only when its own waker
/// says it settled (nothing is scanned), so 100,000 inputs cost
/// 100,000 small steps (`tests/multi_as_completed.rs` times it). It runs on any executor: the stream is
/// woken by the input that settles, not by a loop.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use pulsar_async::{multi, Error, ErrorKind, Promise};
/// use std::collections::HashMap;
///
/// # futures::executor::block_on(async {
/// let (slow, fast) = (Promise::<u32>::new(), Promise::<u32>::new());
/// let mut done = multi::as_completed(HashMap::from([("slow", slow.clone()), ("fast", fast.clone())]));
/// assert_eq!(done.len(), 2);
/// fast.set_result(1).unwrap();
/// let (key, outcome) = done.next().await.unwrap();
/// assert_eq!((key, outcome.unwrap()), ("fast", 1));
/// slow.set_error(Error::from(ErrorKind::Timeout)).unwrap();
/// let (key, outcome) = done.next().await.unwrap();
/// assert_eq!((key, outcome.unwrap_err().kind()), ("slow", ErrorKind::Timeout));
/// assert!(done.next().await.is_none());
/// # });
/// ```
pub fn as_completed<C>(data: C) -> AsCompleted<C::Key, Item<C>>
where
    C: Gather,
    C::Value: IntoMaybeAsync,
    Item<C>: Send + 'static,
{
    let (_shape, entries) = data.into_entries();
    let mut ready = VecDeque::new();
    let mut pending = Unordered::new();
    for (key, value) in entries {
        match value.into_maybe_async().into_ready() {
            Ok(outcome) => ready.push_back((key, outcome)),
            // Queued from the start, as `FuturesUnordered` queues what it is given:
            // the first poll registers the input's waker, or finds it done.
            Err(input) => pending.push(key, input.into_promise()),
        }
    }
    AsCompleted { ready, pending }
}

/// The stream of [`as_completed`]: `(key, Result<T, Error>)` for each input, in the
/// order the inputs finish. `K` is the key (or index) of an input.
///
/// It is a [`futures_core::Stream`] (use `futures::StreamExt` or
/// `tokio_stream::StreamExt` to read it) and a [`FusedStream`]: after its last item it
/// keeps returning `None`. [`len`](AsCompleted::len) and `size_hint` give the number
/// of items still to come, exactly.
///
/// An input that never settles keeps the stream waiting, as a future that never
/// completes keeps a `FuturesUnordered` waiting: bound the wait with a timeout
/// (`tokio::time::timeout`) where that can happen.
///
/// # Cancel safety
///
/// `next().await` is cancel safe: an item is taken off the stream only when it is
/// returned, so dropping a pending `next()` loses nothing.
///
/// Dropping the stream **cancels** the inputs it has not yielded yet, as dropping a
/// `FuturesUnordered` drops its futures and dropping a tokio `JoinSet` aborts its
/// tasks: each still-pending input's promise is cancelled (a
/// [`maybe_async`](crate::maybe_async) or spawned task behind it is aborted, a clone
/// of it that someone else holds reads [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled)),
/// and outcomes that arrived but were not read are dropped. Inputs already yielded
/// are not touched.
///
/// # Examples
///
/// ```
/// use futures::{Stream, StreamExt};
/// use pulsar_async::{multi, Promise};
///
/// # futures::executor::block_on(async {
/// let (a, b) = (Promise::<u8>::new(), Promise::<u8>::new());
/// let mut done = multi::as_completed(vec![a.clone(), b.clone()]);
/// b.set_result(2).unwrap();
/// let (key, outcome) = done.next().await.unwrap();
/// assert_eq!((key, outcome.unwrap()), (1, 2));
/// assert_eq!(done.size_hint(), (1, Some(1)));
/// drop(done); // `a` was not yielded: it is cancelled
/// assert!(a.is_cancelled());
/// # });
/// ```
#[must_use = "streams do nothing unless polled; dropping it cancels its pending inputs"]
pub struct AsCompleted<K, T> {
    /// Inputs ready at the start, with their keys, in input order.
    ready: VecDeque<(K, Result<T, Error>)>,
    /// Inputs pending at the start.
    pending: Unordered<K, T>,
}

/// Promises with their keys, each polled once and then only when its own waker
/// says it woke ([`crate::ready`]), yielded as they finish: the machinery of
/// [`AsCompleted`] and of [`PromiseSet`](super::PromiseSet), which pushes promises
/// while it is read. A finished promise's place is reused by the next one pushed.
pub(super) struct Unordered<K, T> {
    /// The promises by index; a place whose promise finished is empty and listed in
    /// `free`.
    entries: Vec<Entry<K, T>>,
    free: Vec<usize>,
    /// Promises held.
    len: usize,
    /// Indexes to poll: every promise pushed, then those taken off the queue.
    arrived: VecDeque<usize>,
    queue: ReadyQueue,
    /// Polls of the promises, for the test that the cost is linear.
    #[cfg(test)]
    polls: usize,
}

/// A place of [`Unordered`]: a key and promise until the promise finishes, and the
/// place's slot in the ready queue (its waker), kept for the next promise.
struct Entry<K, T> {
    held: Option<(K, Promise<T>)>,
    slot: Slot,
}

impl<K, T> Unordered<K, T> {
    pub(super) fn new() -> Self {
        Unordered {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            arrived: VecDeque::new(),
            queue: ReadyQueue::new(),
            #[cfg(test)]
            polls: 0,
        }
    }

    /// Holds `promise` with `key`; it is polled at the next `poll_next`.
    pub(super) fn push(&mut self, key: K, promise: Promise<T>) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.entries.len();
                self.entries.push(Entry {
                    held: None,
                    slot: self.queue.slot(index),
                });
                index
            }
        };
        if let Some(entry) = self.entries.get_mut(index) {
            entry.slot.mark_queued();
            entry.held = Some((key, promise));
            self.arrived.push_back(index);
            self.len += 1;
        }
    }

    /// The number of promises held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Polls of the promises so far.
    #[cfg(test)]
    pub(super) fn polls(&self) -> usize {
        self.polls
    }

    /// Cancels every promise held; they stay, to be read.
    pub(super) fn cancel_all(&self) {
        for entry in &self.entries {
            if let Some((_, promise)) = &entry.held {
                promise.cancel();
            }
        }
    }

    /// The next promise to finish, with its key; `Ready(None)` when none is held.
    pub(super) fn poll_next(&mut self, cx: &Context<'_>) -> Poll<Option<(K, Result<T, Error>)>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        loop {
            let Some(index) = self.arrived.pop_front() else {
                if self.queue.take_or_register(&mut self.arrived, cx.waker()) {
                    continue;
                }
                return Poll::Pending;
            };
            let Some(entry) = self.entries.get_mut(index) else {
                continue;
            };
            let Some((_, promise)) = entry.held.as_mut() else {
                continue;
            };
            entry.slot.clear();
            #[cfg(test)]
            {
                self.polls += 1;
            }
            if let Poll::Ready(outcome) =
                Pin::new(promise).poll(&mut Context::from_waker(entry.slot.waker()))
            {
                if let Some((key, promise)) = entry.held.take() {
                    self.free.push(index);
                    self.len -= 1;
                    // The promise's drop is the crate's own code, and cannot panic.
                    drop(promise);
                    return Poll::Ready(Some((key, outcome)));
                }
            }
        }
    }
}

impl<K, T> Drop for Unordered<K, T> {
    /// Cancels every promise still held, then drops them with their keys (a key's
    /// drop may panic: it is caught and logged).
    fn drop(&mut self) {
        self.queue.close();
        self.cancel_all();
        let entries = std::mem::take(&mut self.entries);
        run_guarded(
            move || drop(entries),
            "dropping unread promises and their keys",
        );
    }
}

impl<K, T> AsCompleted<K, T> {
    /// The number of items still to come.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi, Promise};
    /// let done = multi::as_completed([Promise::resolved(1), Promise::new()]);
    /// assert_eq!(done.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.ready.len() + self.pending.len()
    }

    /// `true` when every item was yielded (or there were none).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi, Promise};
    /// assert!(multi::as_completed(Vec::<Promise<u8>>::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// Nothing in the stream is pinned: keys and outcomes are only moved in and out, and
// promises are `Unpin`.
impl<K, T> Unpin for AsCompleted<K, T> {}

impl<K, T> Stream for AsCompleted<K, T> {
    type Item = (K, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(item) = this.ready.pop_front() {
            return Poll::Ready(Some(item));
        }
        this.pending.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<K, T> FusedStream for AsCompleted<K, T> {
    fn is_terminated(&self) -> bool {
        self.is_empty()
    }
}

impl<K, T> Drop for AsCompleted<K, T> {
    /// The pending inputs are cancelled and dropped by `Unordered`'s drop; the
    /// outcomes that arrived but were not read are dropped here.
    fn drop(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        run_guarded(move || drop(ready), "dropping unread as_completed outcomes");
    }
}

impl<K, T> fmt::Debug for AsCompleted<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn inputs_settled_one_at_a_time_are_polled_once_each_and_once_more_when_each_settles() {
        let n = 1000;
        let inputs: Vec<Promise<usize>> = (0..n).map(|_| Promise::new()).collect();
        let mut stream = as_completed(inputs.clone());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
        assert_eq!(
            stream.pending.polls(),
            n,
            "the first look polls each input once"
        );
        for (i, input) in inputs.iter().enumerate().rev() {
            input.set_result(i).unwrap();
            match Pin::new(&mut stream).poll_next(&mut cx) {
                Poll::Ready(Some((key, outcome))) => assert_eq!((key, outcome.unwrap()), (i, i)),
                other => panic!("input {i} settled, the stream gave {:?}", other.map(|_| ())),
            }
        }
        // Nothing scanned: one more poll per input, the one its wake asked for.
        assert_eq!(stream.pending.polls(), 2 * n);
    }
}
