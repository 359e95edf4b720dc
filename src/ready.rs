//! The ready queue: which of a consumer's entries woke since it last looked, each
//! queued once, and the consumer's own waker. One piece, used by every consumer that
//! polls many futures inside one task and must poll only those that woke: the bench
//! driver (`bench/driver.rs`), [`as_completed`](crate::multi::as_completed) and the
//! promise set (`multi/as_completed.rs`'s `Unordered`, `multi/set.rs`).
//!
//! The model is futures-util's `FuturesUnordered` ready-to-run queue: each entry has a
//! waker of its own, which marks the entry queued and pushes its index, once until
//! the consumer polls the entry again, then wakes the consumer; the consumer takes
//! the indexes and polls only those. Nothing is scanned: `n` entries cost `O(n)` in
//! all, whatever order they wake in. Where futures-util keeps an intrusive lock-free
//! list of its task nodes, this queue is a `Vec` of indexes under one short lock (no
//! `unsafe`, and the indexes leave with one swap), and the consumer's waker sits
//! under the same lock.
//!
//! # The protocol
//!
//! | who | does | so that |
//! |---|---|---|
//! | an entry's waker ([`Slot::waker`]) | `queued.swap(true)`; if it was `false`: push the index and take the consumer's waker under the lock, wake it outside the lock | an entry woken many times is queued once; the consumer is woken |
//! | the consumer, before polling an entry | [`Slot::clear`]: `queued = false` | a wake during or after that poll queues the entry again |
//! | the consumer, with nothing to poll | [`ReadyQueue::take_or_register`]: under the lock, take every index, or leave its waker when there is none | a wake after the look finds the waker: none is lost |
//! | the consumer, when dropped | [`ReadyQueue::close`] (the queue's drop) | wakes that come later (wakers outlive the consumer) queue nothing |
//!
//! A wake that races a `clear` is seen by the entry's own synchronisation: the entry
//! (a promise, a call's future) publishes its progress before it wakes, and the
//! consumer's poll after the `clear` reads it or registers the slot's waker where the
//! next wake finds it. A stale index (an entry woken after it was finished, whose
//! slot was given to another) costs one extra poll, never a lost wake.
//!
//! Everything other threads touch is on [`crate::loom`]; the models at the end check
//! that indexes woken from two threads are each taken once and no wake is lost.

use std::collections::VecDeque;
use std::fmt;
use std::task::{Wake, Waker};

use crate::loom::{lock, Arc, AtomicBool, Mutex, Ordering};

/// The queue of a consumer: shared with every [`Slot`] it made.
pub(crate) struct ReadyQueue {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Indexes woken and not yet taken, in the order they woke.
    ready: VecDeque<usize>,
    /// The consumer's waker, taken by the first wake after it was left.
    consumer: Option<Waker>,
    /// The consumer is gone: wakes queue nothing.
    closed: bool,
}

/// One entry's place in the queue: its index and its waker.
pub(crate) struct Slot {
    node: std::sync::Arc<Node>,
    waker: Waker,
}

/// What an entry's [`Waker`] is (a waker needs a `std` `Arc`; what it shares with
/// the consumer is on loom).
struct Node {
    index: usize,
    /// Set while the index is queued (or the consumer has yet to poll the entry), so
    /// that an entry woken many times is queued once.
    queued: AtomicBool,
    shared: Arc<Shared>,
}

impl ReadyQueue {
    pub(crate) fn new() -> Self {
        ReadyQueue {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    ready: VecDeque::new(),
                    consumer: None,
                    closed: false,
                }),
            }),
        }
    }

    /// A slot for the entry at `index`, marked queued: the consumer polls a new
    /// entry once before its waker can queue it (the consumer queues the index
    /// itself, in its own list).
    pub(crate) fn slot(&self, index: usize) -> Slot {
        let node = std::sync::Arc::new(Node {
            index,
            queued: AtomicBool::new(true),
            shared: self.shared.clone(),
        });
        Slot {
            waker: Waker::from(node.clone()),
            node,
        }
    }

    /// Leaves the consumer's `waker` for the next wake (unless the one there wakes
    /// the same task).
    pub(crate) fn register(&self, waker: &Waker) {
        let mut inner = lock(&self.shared.inner);
        set_waker(&mut inner.consumer, waker);
    }

    /// Moves every queued index into `into`, after what it holds, in the order they
    /// woke.
    pub(crate) fn take(&self, into: &mut VecDeque<usize>) {
        let mut inner = lock(&self.shared.inner);
        take_all(&mut inner.ready, into);
    }

    /// Moves every queued index into `into` and gives `true`; when none is queued,
    /// leaves `waker` for the next wake, under the same lock, and gives `false`.
    pub(crate) fn take_or_register(&self, into: &mut VecDeque<usize>, waker: &Waker) -> bool {
        let mut inner = lock(&self.shared.inner);
        if inner.ready.is_empty() {
            set_waker(&mut inner.consumer, waker);
            return false;
        }
        take_all(&mut inner.ready, into);
        true
    }

    /// `true` when some index is queued.
    pub(crate) fn has_ready(&self) -> bool {
        !lock(&self.shared.inner).ready.is_empty()
    }

    /// The consumer is gone: drops its waker and what is queued; later wakes queue
    /// nothing.
    pub(crate) fn close(&self) {
        let (ready, consumer) = {
            let mut inner = lock(&self.shared.inner);
            inner.closed = true;
            (std::mem::take(&mut inner.ready), inner.consumer.take())
        };
        // The waker is dropped outside the lock (its drop is the executor's code).
        drop((ready, consumer));
    }
}

impl Drop for ReadyQueue {
    fn drop(&mut self) {
        self.close();
    }
}

fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

fn take_all(ready: &mut VecDeque<usize>, into: &mut VecDeque<usize>) {
    if into.is_empty() {
        std::mem::swap(ready, into);
    } else {
        into.append(ready);
    }
}

impl Slot {
    /// The entry's waker: poll the entry with it.
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Called by the consumer before it polls the entry: the entry's next wake
    /// queues it again.
    pub(crate) fn clear(&self) {
        self.node.queued.store(false, Ordering::Release);
    }

    /// Marks the entry queued, as a new slot is: for a slot given to a new entry,
    /// whose index the consumer queues itself.
    pub(crate) fn mark_queued(&self) {
        self.node.queued.store(true, Ordering::Release);
    }
}

impl Wake for Node {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let consumer = {
            let mut inner = lock(&self.shared.inner);
            if inner.closed {
                return;
            }
            inner.ready.push_back(self.index);
            inner.consumer.take()
        };
        if let Some(consumer) = consumer {
            consumer.wake();
        }
    }
}

impl fmt::Debug for ReadyQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyQueue").finish_non_exhaustive()
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("index", &self.node.index)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_entry_woken_many_times_before_the_consumer_looks_is_queued_once() {
        let queue = ReadyQueue::new();
        let slot = queue.slot(3);
        slot.clear();
        for _ in 0..3 {
            slot.waker().wake_by_ref();
        }
        let mut taken = VecDeque::new();
        queue.take(&mut taken);
        assert_eq!(taken, [3]);
        // Cleared again: the next wake queues it again.
        slot.clear();
        slot.waker().wake_by_ref();
        queue.take(&mut taken);
        assert_eq!(taken, [3, 3]);
    }

    #[test]
    fn a_wake_wakes_the_consumer_that_found_nothing_and_a_closed_queue_takes_nothing() {
        let queue = ReadyQueue::new();
        let (a, b) = (queue.slot(0), queue.slot(1));
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let consumer = Waker::from(std::sync::Arc::new(Count(woken.clone())));
        let mut taken = VecDeque::new();
        assert!(!queue.take_or_register(&mut taken, &consumer));
        a.clear();
        a.waker().wake_by_ref();
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(queue.has_ready());
        queue.close();
        b.clear();
        b.waker().wake_by_ref();
        assert!(!queue.take_or_register(&mut taken, &consumer));
        assert!(taken.is_empty());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use ::loom::thread;
    use std::future::poll_fn;
    use std::task::Poll;

    /// A one-shot entry with its own synchronisation, as a promise has: `done` and
    /// the waiting waker under one lock; the setter wakes outside it.
    #[derive(Default)]
    struct Oneshot {
        state: Mutex<(bool, Option<Waker>)>,
    }

    impl Oneshot {
        fn set(&self) {
            let waker = {
                let mut state = lock(&self.state);
                state.0 = true;
                state.1.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }

        fn poll(&self, waker: &Waker) -> bool {
            let mut state = lock(&self.state);
            if !state.0 {
                state.1 = Some(waker.clone());
            }
            state.0
        }
    }

    /// Drives `entries` to the end through one ready queue, as a consumer does;
    /// gives how many times each was seen done. Hangs (loom reports a deadlock) if a
    /// wake is lost.
    fn consume(entries: &[Arc<Oneshot>]) -> Vec<usize> {
        let queue = ReadyQueue::new();
        let slots: Vec<Slot> = (0..entries.len()).map(|i| queue.slot(i)).collect();
        let mut seen = vec![0; entries.len()];
        let mut left = entries.len();
        let mut taken: VecDeque<usize> = (0..entries.len()).collect();
        ::loom::future::block_on(poll_fn(|cx| loop {
            while let Some(i) = taken.pop_front() {
                if seen[i] > 0 {
                    continue;
                }
                slots[i].clear();
                if entries[i].poll(slots[i].waker()) {
                    seen[i] += 1;
                    left -= 1;
                }
            }
            if left == 0 {
                return Poll::Ready(());
            }
            if !queue.take_or_register(&mut taken, cx.waker()) {
                return Poll::Pending;
            }
        }));
        queue.close();
        seen
    }

    #[test]
    fn entries_woken_from_two_threads_are_each_seen_once_and_no_wake_is_lost() {
        ::loom::model(|| {
            let entries = [Arc::new(Oneshot::default()), Arc::new(Oneshot::default())];
            let (a, b) = (entries[0].clone(), entries[1].clone());
            let ta = thread::spawn(move || a.set());
            let tb = thread::spawn(move || b.set());
            assert_eq!(consume(&entries), [1, 1]);
            ta.join().unwrap();
            tb.join().unwrap();
        });
    }

    #[test]
    fn an_entry_woken_while_the_consumer_clears_and_polls_it_is_not_lost() {
        ::loom::model(|| {
            let entries = [Arc::new(Oneshot::default())];
            let entry = entries[0].clone();
            // The first wake is spurious (a wake before the entry is done), the
            // second comes with the value.
            let setter = thread::spawn(move || {
                let waker = lock(&entry.state).1.clone();
                if let Some(waker) = waker {
                    waker.wake();
                }
                entry.set();
            });
            assert_eq!(consume(&entries), [1]);
            setter.join().unwrap();
        });
    }
}
