//! [`as_completed`] and [`AsCompleted`]: a gather's inputs as a stream of
//! `(key, outcome)`, in the order they finish (asyncio's `as_completed`, futures'
//! `FuturesUnordered`).
//!
//! Each pending input is consumed, as [`multi_async`](crate::multi_async) consumes
//! it, by a delivery that pushes `(index, outcome)` on one shared queue when it
//! settles and wakes the stream; the stream swaps the whole queue out under one lock
//! and hands its entries out with their keys, taken by index. Nothing is scanned and
//! no input is polled again: `n` inputs cost `O(n)` in all, whatever order they
//! finish in.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::{FusedStream, Stream};

use super::Item;
use crate::error::{Error, ErrorKind};
use crate::gather::Gather;
use crate::loom::{lock, Arc, Mutex};
use crate::maybe::IntoMaybeAsync;
use crate::panic::run_guarded;
use crate::promise::WeakPromise;

/// The inputs of `data` as a [`Stream`] of `(key, outcome)` pairs, each yielded once,
/// as the input finishes: asyncio's `as_completed`, with the keys of
/// [`multi_async`](crate::multi_async).
///
/// `data` is any [`Gather`] container, with the same values as `multi_async` takes
/// ([`Promise`](crate::Promise)s, [`MaybeAsync`](crate::MaybeAsync)s, `Result`s). A key
/// is the input's index for a `Vec`, `VecDeque`, array, and its key for a `HashMap`,
/// `BTreeMap`, `IndexMap`. Ready inputs come first, in the container's order; then
/// pending ones in the order they settle, from whatever thread or loop settles them.
/// A failure does not stop the stream: it is that input's `Err` (a panicking input
/// gives [`ErrorKind::Panicked`] for its key, and the others go on). The stream ends
/// after the last input.
///
/// The cost is linear: each input is handed to the stream once when it settles (no
/// input is polled again, nothing is scanned), so 100,000 inputs cost 100,000 small
/// steps (`tests/as_completed.rs` times it). It runs on any executor: the stream is
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
    let inbox = Arc::new(Inbox {
        queue: Mutex::new(Queue {
            done: VecDeque::new(),
            waker: None,
            closed: false,
        }),
    });
    let mut ready = VecDeque::new();
    let mut pending = Vec::new();
    for (key, value) in entries {
        match value.into_maybe_async().into_ready() {
            Ok(outcome) => ready.push_back((key, outcome)),
            Err(input) => {
                let promise = input.into_promise();
                let index = pending.len();
                pending.push(Entry {
                    key: Some(key),
                    input: Some(promise.downgrade()),
                });
                let delivery = Delivery {
                    inbox: Some(inbox.clone()),
                    index,
                };
                promise.consume(move |outcome| delivery.deliver(outcome));
            }
        }
    }
    AsCompleted {
        remaining: ready.len() + pending.len(),
        ready,
        pending,
        arrived: VecDeque::new(),
        inbox,
    }
}

/// The stream of [`as_completed`]: `(key, Result<T, Error>)` for each input, in the
/// order the inputs finish. `K` is the key (or index) of an input.
///
/// It is a [`futures_core::Stream`] (use `futures::StreamExt` or
/// `tokio_stream::StreamExt` to read it) and a [`FusedStream`]: after its last item it
/// keeps returning `None`. [`len`](AsCompleted::len) and `size_hint` give the number
/// of items still to come, exactly.
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
/// of it that someone else holds reads [`ErrorKind::Cancelled`]), and outcomes that
/// arrived but were not read are dropped. Inputs already yielded are not touched.
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
    /// Items still to yield.
    remaining: usize,
    /// Inputs that were ready at the start, with their keys, in input order.
    ready: VecDeque<(K, Result<T, Error>)>,
    /// Inputs that were pending at the start, by index.
    pending: Vec<Entry<K, T>>,
    /// Outcomes taken off the inbox, not yet yielded.
    arrived: VecDeque<(usize, Result<T, Error>)>,
    inbox: Arc<Inbox<T>>,
}

/// An input that was pending at the start: its key until it is yielded, and a weak
/// handle to cancel it with if the stream is dropped first.
struct Entry<K, T> {
    key: Option<K>,
    input: Option<WeakPromise<T>>,
}

/// Where deliveries push outcomes; shared by the stream and every pending input.
struct Inbox<T> {
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    /// Outcomes delivered and not yet taken by the stream, with their input's index.
    done: VecDeque<(usize, Result<T, Error>)>,
    /// The task waiting on an empty stream.
    waker: Option<Waker>,
    /// The stream was dropped: outcomes are dropped as they come.
    closed: bool,
}

impl<T> Inbox<T> {
    /// Input `index` finished with `outcome`: queued, and the stream woken.
    fn push(&self, index: usize, outcome: Result<T, Error>) {
        let mut queue = lock(&self.queue);
        if queue.closed {
            drop(queue);
            run_guarded(move || drop(outcome), "dropping an as_completed outcome");
            return;
        }
        queue.done.push_back((index, outcome));
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// What hands one pending input's outcome to the inbox. If the input goes away
/// unsettled (every handle of it dropped), its drop delivers an
/// [`ErrorKind::InvalidState`] error instead, so that the stream never waits for
/// ever.
struct Delivery<T> {
    inbox: Option<Arc<Inbox<T>>>,
    index: usize,
}

impl<T> Delivery<T> {
    fn deliver(mut self, outcome: Result<T, Error>) {
        if let Some(inbox) = self.inbox.take() {
            inbox.push(self.index, outcome);
        }
    }
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            inbox.push(
                self.index,
                Err(Error::new(
                    ErrorKind::InvalidState,
                    "as_completed: an input was dropped before it settled",
                )),
            );
        }
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
        self.remaining
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
        self.remaining == 0
    }

    /// The next item of the pending inputs, from what already arrived.
    fn next_arrived(&mut self) -> Option<(K, Result<T, Error>)> {
        while let Some((index, outcome)) = self.arrived.pop_front() {
            let Some(entry) = self.pending.get_mut(index) else {
                continue;
            };
            entry.input = None;
            if let Some(key) = entry.key.take() {
                return Some((key, outcome));
            }
        }
        None
    }
}

// Nothing in the stream is pinned: keys and outcomes are only moved in and out.
impl<K, T> Unpin for AsCompleted<K, T> {}

impl<K, T> Stream for AsCompleted<K, T> {
    type Item = (K, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let item = match this.ready.pop_front() {
            Some(item) => Some(item),
            None => this.next_arrived().or_else(|| {
                {
                    let mut queue = lock(&this.inbox.queue);
                    if queue.done.is_empty() {
                        match &queue.waker {
                            Some(waker) if waker.will_wake(cx.waker()) => {}
                            _ => queue.waker = Some(cx.waker().clone()),
                        }
                        return None;
                    }
                    std::mem::swap(&mut queue.done, &mut this.arrived);
                }
                this.next_arrived()
            }),
        };
        match item {
            Some(item) => {
                this.remaining -= 1;
                Poll::Ready(Some(item))
            }
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, T> FusedStream for AsCompleted<K, T> {
    fn is_terminated(&self) -> bool {
        self.remaining == 0
    }
}

impl<K, T> Drop for AsCompleted<K, T> {
    fn drop(&mut self) {
        let unread = {
            let mut queue = lock(&self.inbox.queue);
            queue.closed = true;
            queue.waker = None;
            std::mem::take(&mut queue.done)
        };
        for entry in &mut self.pending {
            if let Some(setter) = entry.input.take().and_then(|input| input.setter()) {
                setter.cancel();
            }
        }
        let arrived = std::mem::take(&mut self.arrived);
        let ready = std::mem::take(&mut self.ready);
        run_guarded(
            move || drop((unread, arrived, ready)),
            "dropping unread as_completed outcomes",
        );
    }
}

impl<K, T> fmt::Debug for AsCompleted<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}
