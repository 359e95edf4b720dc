//! How much work a loop holds: the bound of [`Builder::queue_capacity`](super::Builder::queue_capacity)
//! on the calls queued on a loop and not yet started, and the line of
//! [`EventLoop::reserve`](super::EventLoop::reserve) futures waiting for room.
//!
//! The rule. Every call queued on a loop takes one place, whatever queue holds it (the
//! injector, the local queue, a caller-driven loop's owner queue), and gives it back
//! when the loop starts it (or finds it cancelled). A call from user code takes its
//! place with [`Capacity::try_take`], before anything is built: on a full loop it is
//! refused at once with [`ErrorKind::Full`](crate::ErrorKind::Full) and its closure is
//! dropped where it was made. Work the loop gives itself (a promise's callbacks, a
//! loop-local state's init and release: `Task::Own`) is never refused and holds no
//! place. An unbounded loop (the default) counts nothing: each step is one branch on
//! a constant.
//!
//! The line of waiters is first come, first served: a place given back wakes the
//! waiter at the front; a woken waiter that finds no room goes to the back; one
//! dropped after it was woken, before it took the place, passes the wake-up on, so a
//! free place never waits beside a sleeping waiter. The count is a lock-free word
//! (a compare-and-swap per call, a subtraction per start) that also holds a
//! "somebody waits" bit; the line, behind a lock, is touched only while somebody
//! waits. Both are on [`crate::loom`]: the models in `loom_tests.rs`
//! explore a refusal racing the loop and a waiter racing a give-back and a close.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::loom::{lock, AtomicUsize, Mutex, Ordering};

/// The bound of an unbounded loop.
const UNBOUNDED: usize = usize::MAX;

/// Set in [`Capacity::word`] while somebody waits for a place.
const WAITING: usize = 1 << (usize::BITS - 1);

/// The largest bound that fits beside [`WAITING`].
const MAX_LIMIT: usize = WAITING - 1;

pub(crate) struct Capacity {
    /// At most this many tasks queued and not started; [`UNBOUNDED`] for no bound.
    limit: usize,
    /// The places taken (calls queued and not started; kept only when bounded), and
    /// [`WAITING`] while the line has waiters. One word, so that a give-back (one
    /// `fetch_sub`, which also says whether anybody waits) and a waiter joining the
    /// line (one `fetch_or`, which also says whether a place is free) are ordered:
    /// either the waiter sees the place, or the give-back sees the waiter.
    word: AtomicUsize,
    line: Mutex<Line>,
    /// Calls refused because the loop was full.
    refused: std::sync::atomic::AtomicU64,
}

struct Line {
    waiters: VecDeque<(u64, Waker)>,
    next_id: u64,
}

impl Capacity {
    /// A bound of `limit` tasks (`None`: no bound).
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Capacity {
            limit: limit.map_or(UNBOUNDED, |n| n.min(MAX_LIMIT)),
            word: AtomicUsize::new(0),
            line: Mutex::new(Line {
                waiters: VecDeque::new(),
                next_id: 0,
            }),
            refused: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The bound, if there is one.
    pub(crate) fn limit(&self) -> Option<usize> {
        (self.limit != UNBOUNDED).then_some(self.limit)
    }

    /// Takes a place if there is one: `false` on a full loop.
    #[inline]
    pub(crate) fn try_take(&self) -> bool {
        if self.limit == UNBOUNDED {
            return true;
        }
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & !WAITING >= self.limit {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// Gives back one place: a task the loop starts (or finds cancelled), a place
    /// taken for a push the loop refused, an unused permit. Wakes the waiter at the
    /// front of the line, if any.
    #[inline]
    pub(crate) fn give_back(&self) {
        if self.limit == UNBOUNDED {
            return;
        }
        if self.word.fetch_sub(1, Ordering::AcqRel) & WAITING != 0 {
            self.wake_front();
        }
    }

    /// Counts a call refused on a full loop.
    pub(crate) fn count_refusal(&self) {
        self.refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Calls refused so far because the loop was full.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn wake_front(&self) {
        let waker = {
            let mut line = lock(&self.line);
            let waker = line.waiters.pop_front().map(|(_, w)| w);
            if line.waiters.is_empty() {
                self.word.fetch_and(!WAITING, Ordering::AcqRel);
            }
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes every waiter, to look at the loop again: called on each transition of
    /// its lifecycle, so that a loop that stops taking work fails them.
    pub(crate) fn wake_all(&self) {
        // Always under the lock (no look at the `WAITING` bit first): a waiter reads `open`
        // under it, so either it saw the transition or it is in the line now. The
        // transitions are few, and an unbounded loop has no line.
        if self.limit == UNBOUNDED {
            return;
        }
        let woken: Vec<Waker> = {
            let mut line = lock(&self.line);
            self.word.fetch_and(!WAITING, Ordering::AcqRel);
            line.waiters.drain(..).map(|(_, w)| w).collect()
        };
        for waker in woken {
            waker.wake();
        }
    }

    /// One poll of a waiter (`ticket`: its place in the line, if it has one): `Ready`
    /// with `Ok` once it took a place, `Err` once `open()` says the loop takes no
    /// work; otherwise it waits in the line. `open` is read under the line's lock, so
    /// a transition of the lifecycle, which ends with [`wake_all`](Capacity::wake_all),
    /// is never missed.
    pub(crate) fn poll_take(
        &self,
        ticket: &mut Option<u64>,
        cx: &mut Context<'_>,
        open: impl Fn() -> bool,
    ) -> Poll<Result<(), ()>> {
        if !open() {
            self.leave(ticket);
            return Poll::Ready(Err(()));
        }
        if self.try_take() {
            self.leave_taken(ticket);
            return Poll::Ready(Ok(()));
        }
        {
            let mut line = lock(&self.line);
            if !open() {
                drop(line);
                self.leave(ticket);
                return Poll::Ready(Err(()));
            }
            let waiting = ticket.and_then(|id| line.waiters.iter_mut().find(|(i, _)| *i == id));
            match waiting {
                Some((_, waker)) => {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                }
                None => {
                    // New, or woken and finding no room: to the back of the line.
                    let id = line.next_id;
                    line.next_id += 1;
                    line.waiters.push_back((id, cx.waker().clone()));
                    *ticket = Some(id);
                }
            }
            // Joining the line and reading the count are one step: a place given
            // back before it is seen here; one given back after it sees the line.
            let word = self.word.fetch_or(WAITING, Ordering::AcqRel);
            if word & !WAITING >= self.limit {
                return Poll::Pending;
            }
        }
        // A place given back between the first try and the wait: nobody was in the
        // line to be woken for it, so look again.
        if self.try_take() {
            self.leave_taken(ticket);
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }

    /// A waiter that took a place leaves the line (if it is still in it; if it was
    /// woken, the place it took is the one it was woken for).
    fn leave_taken(&self, ticket: &mut Option<u64>) {
        if let Some(id) = ticket.take() {
            let mut line = lock(&self.line);
            line.waiters.retain(|(i, _)| *i != id);
            if line.waiters.is_empty() {
                self.word.fetch_and(!WAITING, Ordering::AcqRel);
            }
        }
    }

    /// A waiter that goes without a place (dropped, or the loop closed) leaves the
    /// line; if it had been woken for a place it did not take, it wakes the next.
    pub(crate) fn leave(&self, ticket: &mut Option<u64>) {
        let Some(id) = ticket.take() else {
            return;
        };
        let mut line = lock(&self.line);
        let before = line.waiters.len();
        line.waiters.retain(|(i, _)| *i != id);
        let was_woken = line.waiters.len() == before;
        let next = match was_woken {
            true => line.waiters.pop_front().map(|(_, w)| w),
            false => None,
        };
        if line.waiters.is_empty() {
            self.word.fetch_and(!WAITING, Ordering::AcqRel);
        }
        drop(line);
        if let Some(waker) = next {
            waker.wake();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(Default::default()));
        (c.clone(), Waker::from(c))
    }
    /// One poll of a waiter on an open loop.
    fn poll(c: &Capacity, ticket: &mut Option<u64>, waker: &Waker) -> Poll<Result<(), ()>> {
        c.poll_take(ticket, &mut Context::from_waker(waker), || true)
    }
    fn wakes(c: &Count) -> usize {
        c.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn an_unbounded_capacity_never_refuses_and_counts_nothing() {
        let c = Capacity::new(None);
        for _ in 0..1000 {
            assert!(c.try_take());
        }
        assert_eq!((c.word.load(Ordering::SeqCst) & !WAITING), 0);
        assert_eq!(c.limit(), None);
    }

    #[test]
    fn a_bound_refuses_the_call_past_it_and_a_give_back_makes_room() {
        let c = Capacity::new(Some(2));
        assert!(c.try_take() && c.try_take());
        assert!(!c.try_take(), "the third place");
        c.give_back();
        assert!(c.try_take());
        assert!(!c.try_take());
        c.give_back();
        assert!(c.try_take());
        assert!(!c.try_take());
    }

    #[test]
    fn a_give_back_wakes_only_the_waiter_at_the_front() {
        let c = Capacity::new(Some(1));
        assert!(c.try_take());
        let (a, wa) = counting();
        let (b, wb) = counting();
        let (mut ta, mut tb) = (None, None);
        assert!(poll(&c, &mut ta, &wa).is_pending());
        assert!(poll(&c, &mut tb, &wb).is_pending());
        c.give_back();
        assert_eq!((wakes(&a), wakes(&b)), (1, 0), "first come, first served");
        assert_eq!(poll(&c, &mut ta, &wa), Poll::Ready(Ok(())));
        assert!(!c.try_take(), "the waiter took the place");
        assert_eq!(wakes(&b), 0);
    }

    #[test]
    fn a_woken_waiter_dropped_before_it_took_the_place_wakes_the_next() {
        let c = Capacity::new(Some(1));
        assert!(c.try_take());
        let (_a, wa) = counting();
        let (b, wb) = counting();
        let (mut ta, mut tb) = (None, None);
        let _ = poll(&c, &mut ta, &wa);
        let _ = poll(&c, &mut tb, &wb);
        c.give_back(); // wakes a
        c.leave(&mut ta); // a goes without taking it
        assert_eq!(wakes(&b), 1, "the wake-up passed on");
        assert_eq!(poll(&c, &mut tb, &wb), Poll::Ready(Ok(())));
    }

    #[test]
    fn a_waiter_dropped_before_it_was_woken_wakes_nobody() {
        let c = Capacity::new(Some(1));
        assert!(c.try_take());
        let (_a, wa) = counting();
        let (b, wb) = counting();
        let (mut ta, mut tb) = (None, None);
        let _ = poll(&c, &mut ta, &wa);
        let _ = poll(&c, &mut tb, &wb);
        c.leave(&mut ta);
        assert_eq!(wakes(&b), 0);
        c.give_back();
        assert_eq!(wakes(&b), 1);
    }

    #[test]
    fn a_closed_loop_fails_every_waiter() {
        let c = Capacity::new(Some(1));
        assert!(c.try_take());
        let (a, wa) = counting();
        let mut ta = None;
        let _ = poll(&c, &mut ta, &wa);
        c.wake_all();
        assert_eq!(wakes(&a), 1);
        assert_eq!(
            c.poll_take(&mut ta, &mut Context::from_waker(&wa), || false),
            Poll::Ready(Err(()))
        );
        assert_eq!(c.word.load(Ordering::SeqCst) & WAITING, 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::{Arc, AtomicBool};
    use ::loom::thread;

    /// Waits, as a `Reserve` future does, until a place is taken (`Ok`) or `open`
    /// says the loop takes no work (`Err`).
    fn reserve(c: &Capacity, open: impl Fn() -> bool) -> Result<(), ()> {
        let mut ticket = None;
        ::loom::future::block_on(std::future::poll_fn(|cx| {
            c.poll_take(&mut ticket, cx, &open)
        }))
    }

    #[test]
    fn two_callers_racing_the_loop_on_a_full_loop_are_accepted_or_refused_and_the_bound_holds() {
        ::loom::model(|| {
            let c = Arc::new(Capacity::new(Some(1)));
            assert!(c.try_take(), "the loop holds one call");
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let c = c.clone();
                    thread::spawn(move || {
                        let accepted = c.try_take();
                        assert!(
                            (c.word.load(Ordering::SeqCst) & !WAITING) <= 1,
                            "past the bound"
                        );
                        accepted
                    })
                })
                .collect();
            // The loop starts the call it holds: its place is free.
            c.give_back();
            let accepted = callers
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|a| *a)
                .count();
            assert!(accepted <= 1, "one place, {accepted} accepted");
            assert_eq!((c.word.load(Ordering::SeqCst) & !WAITING), accepted);
        });
    }

    #[test]
    fn a_waiter_racing_a_give_back_is_never_left_waiting_beside_a_free_place() {
        ::loom::model(|| {
            let c = Arc::new(Capacity::new(Some(1)));
            assert!(c.try_take());
            let waiter = {
                let c = c.clone();
                thread::spawn(move || reserve(&c, || true))
            };
            // Loom reports a deadlock if the wake-up is lost.
            c.give_back();
            assert_eq!(waiter.join().unwrap(), Ok(()));
            assert_eq!((c.word.load(Ordering::SeqCst) & !WAITING), 1);
        });
    }

    #[test]
    fn a_waiter_racing_a_close_ends_with_a_place_or_loop_closed() {
        ::loom::model(|| {
            let c = Arc::new(Capacity::new(Some(1)));
            let open = Arc::new(AtomicBool::new(true));
            assert!(c.try_take());
            let waiter = {
                let (c, open) = (c.clone(), open.clone());
                thread::spawn(move || reserve(&c, || open.load(Ordering::SeqCst)))
            };
            // The transition of the lifecycle, then the wake-up every transition ends with.
            open.store(false, Ordering::SeqCst);
            c.wake_all();
            assert_eq!(waiter.join().unwrap(), Err(()));
        });
    }

    #[test]
    fn a_waiter_dropped_after_it_was_woken_passes_the_place_to_the_next() {
        ::loom::model(|| {
            let c = Arc::new(Capacity::new(Some(1)));
            assert!(c.try_take());
            // The first waiter stands in the line, then goes (a dropped `Reserve`).
            let mut first = None;
            let noop = Waker::noop().clone();
            let _ = c.poll_take(&mut first, &mut Context::from_waker(&noop), || true);
            let second = {
                let c = c.clone();
                thread::spawn(move || reserve(&c, || true))
            };
            let giver = {
                let c = c.clone();
                thread::spawn(move || c.give_back())
            };
            c.leave(&mut first);
            giver.join().unwrap();
            // Loom reports a deadlock if the place is lost with the first waiter.
            assert_eq!(second.join().unwrap(), Ok(()));
        });
    }
}
