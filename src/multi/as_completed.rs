//! [`as_completed`] and [`AsCompleted`]: a gather's inputs as a stream of
//! `(key, outcome)`, in the order they finish (asyncio's `as_completed`, futures'
//! `FuturesUnordered`).
//!
//! As in `FuturesUnordered`, each pending input is polled with a waker of its own,
//! which queues the input's index on one shared inbox (once until it is polled
//! again) and wakes the stream; the stream swaps the whole inbox out under one lock
//! and polls only the inputs it names, yielding each with its key, taken by index.
//! Nothing is scanned: `n` inputs cost `O(n)` in all, whatever order they finish in.
//! (Plain `std` sync here: a waker must be an `std::sync::Arc`.)

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::{FusedStream, Stream};

use super::Item;
use crate::error::Error;
use crate::gather::Gather;
use crate::maybe::IntoMaybeAsync;
use crate::panic::run_guarded;
use crate::promise::Promise;

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
    let inbox = Arc::new(Inbox {
        queue: Mutex::new(Queue {
            woken: VecDeque::new(),
            waker: None,
            closed: false,
        }),
    });
    let mut ready = VecDeque::new();
    let mut pending = Vec::new();
    for (key, value) in entries {
        let input = match value.into_maybe_async().into_ready() {
            Ok(outcome) => {
                ready.push_back((key, outcome));
                continue;
            }
            Err(input) => input.into_promise(),
        };
        // Queued from the start, as `FuturesUnordered` queues what it is given: the
        // first poll (in `poll_next`) registers the input's waker, or finds it done.
        let node = Arc::new(Node {
            index: pending.len(),
            queued: AtomicBool::new(true),
            inbox: inbox.clone(),
        });
        pending.push(Entry {
            key: Some(key),
            input: Some(input),
            waker: Waker::from(node.clone()),
            node,
        });
    }
    AsCompleted {
        remaining: ready.len() + pending.len(),
        ready,
        arrived: (0..pending.len()).collect(),
        pending,
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
    /// Items still to yield.
    remaining: usize,
    /// Inputs ready at the start, with their keys, in input order.
    ready: VecDeque<(K, Result<T, Error>)>,
    /// Inputs pending at the start, by index.
    pending: Vec<Entry<K, T>>,
    /// Indexes to poll: every pending input at the start, then those taken off the
    /// inbox.
    arrived: VecDeque<usize>,
    inbox: Arc<Inbox>,
}

/// An input pending at the start: its key and promise until it is yielded, and its
/// waker, which queues its index on the inbox.
struct Entry<K, T> {
    key: Option<K>,
    input: Option<Promise<T>>,
    node: Arc<Node>,
    waker: Waker,
}

/// Where the inputs' wakers queue their indexes; shared by the stream and every
/// pending input's waker.
struct Inbox {
    queue: Mutex<Queue>,
}

struct Queue {
    /// Indexes of inputs woken and not yet taken by the stream, in the order woken.
    woken: VecDeque<usize>,
    /// The task waiting on the stream.
    waker: Option<Waker>,
    /// The stream was dropped: wakes queue nothing.
    closed: bool,
}

/// The waker of one pending input: queues its index once until the stream polls
/// it again.
struct Node {
    index: usize,
    /// Set by a wake, cleared by the stream before it polls the input: an input
    /// woken many times is queued once.
    queued: AtomicBool,
    inbox: Arc<Inbox>,
}

/// Locks the inbox; its state stays whole if a holder panicked (none can: no user
/// code runs under it).
fn lock(inbox: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Wake for Node {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut queue = lock(&self.inbox.queue);
        if queue.closed {
            return;
        }
        queue.woken.push_back(self.index);
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
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

    /// The next woken index: from those taken already, else from the inbox (all of
    /// them, under one lock); `None`, with the task's waker left there, when no
    /// input was woken.
    fn next_woken(&mut self, cx: &Context<'_>) -> Option<usize> {
        if let Some(index) = self.arrived.pop_front() {
            return Some(index);
        }
        let mut queue = lock(&self.inbox.queue);
        if queue.woken.is_empty() {
            match &queue.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => queue.waker = Some(cx.waker().clone()),
            }
            return None;
        }
        std::mem::swap(&mut queue.woken, &mut self.arrived);
        drop(queue);
        self.arrived.pop_front()
    }
}

// Nothing in the stream is pinned: keys and outcomes are only moved in and out, and
// promises are `Unpin`.
impl<K, T> Unpin for AsCompleted<K, T> {}

impl<K, T> Stream for AsCompleted<K, T> {
    type Item = (K, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        if let Some(item) = this.ready.pop_front() {
            this.remaining -= 1;
            return Poll::Ready(Some(item));
        }
        while let Some(index) = this.next_woken(cx) {
            let Some(entry) = this.pending.get_mut(index) else {
                continue;
            };
            let Some(input) = entry.input.as_mut() else {
                continue;
            };
            entry.node.queued.store(false, Ordering::Release);
            if let Poll::Ready(outcome) =
                Pin::new(input).poll(&mut Context::from_waker(&entry.waker))
            {
                entry.input = None;
                if let Some(key) = entry.key.take() {
                    this.remaining -= 1;
                    return Poll::Ready(Some((key, outcome)));
                }
            }
        }
        Poll::Pending
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
        {
            let mut queue = lock(&self.inbox.queue);
            queue.closed = true;
            queue.waker = None;
        }
        for entry in &self.pending {
            if let Some(input) = &entry.input {
                input.cancel();
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let ready = std::mem::take(&mut self.ready);
        run_guarded(
            move || drop((pending, ready)),
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
