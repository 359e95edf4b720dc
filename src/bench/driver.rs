//! The call driver of a bench: [`BenchFuture`], one future that starts every call
//! and then polls only the calls that woke it, each through a waker of its own that
//! queues its id once on the crate's one ready queue ([`crate::ready`], on
//! [`crate::loom`] primitives, with its own models). A loom model here checks that
//! calls woken from other threads are each seen once.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::panic;
use crate::ready::{ReadyQueue, Slot};

use super::error::CallError;
use super::{Bench, Latency, Repeat};

/// The future of a [`Bench`], made by [`Builder::run`](super::Builder::run). The
/// calls start on its first poll.
///
/// # Cancel safety
///
/// Not cancel safe: dropping a `BenchFuture` before it completes drops the calls still
/// running and the results and figures gathered so far (of every round, with
/// [`repeats`](super::Builder::repeats)). Nothing else is cancelled, and nothing of the
/// bench can be resumed.
///
/// # Examples
///
/// ```
/// use pulsar_async::{bench::BenchFuture, Bench, Error};
/// use std::future::Ready;
///
/// # futures::executor::block_on(async {
/// let fut: BenchFuture<_, Ready<Result<usize, Error>>, usize> =
///     Bench::builder(2).run(|i| std::future::ready(Ok(i)));
/// assert_eq!(fut.await.unwrap().results(), [0, 1]);
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct BenchFuture<F, Fut, T> {
    call: F,
    times: usize,
    concurrency: Option<usize>,
    /// Warm-up rounds, run first and counted nowhere.
    warm_up: usize,
    /// Measured rounds.
    repeats: usize,
    run: Option<Run<Fut, T>>,
    /// What the rounds finished so far leave for the bench; made on the first poll.
    rounds: Option<Rounds>,
    finished: bool,
}

// Nothing in a `BenchFuture` is ever pinned in place: the calls' futures are pinned
// in boxes of their own.
impl<F, Fut, T> Unpin for BenchFuture<F, Fut, T> {}

impl<F, Fut, T> BenchFuture<F, Fut, T> {
    /// A bench of `times` calls of `call`, at most `concurrency` at a time.
    pub(super) fn new(call: F, times: usize, concurrency: Option<usize>) -> Self {
        BenchFuture {
            call,
            times,
            concurrency,
            warm_up: 0,
            repeats: 1,
            run: None,
            rounds: None,
            finished: false,
        }
    }

    /// Runs `warm_up` uncounted rounds, then `repeats` measured ones.
    pub(super) fn rounds(mut self, warm_up: usize, repeats: usize) -> Self {
        self.warm_up = warm_up;
        self.repeats = repeats;
        self
    }
}

/// The rounds of a bench finished so far: when the next one starts, and what the
/// measured ones leave for the [`Bench`].
struct Rounds {
    /// Rounds finished, warm-up ones included.
    done: usize,
    /// When the last round finished: the next one starts then, so that rounds follow
    /// one another with no gap and their times add up to the bench's.
    next_start: Option<Instant>,
    /// When the first measured round started.
    start: Option<Instant>,
    repeats: Vec<Repeat>,
    /// Every measured call's latency, round after round.
    latencies: Vec<Duration>,
}

impl Rounds {
    /// Room for `repeats` rounds of `times` calls, or an [`ErrorKind::InvalidInput`].
    fn new(times: usize, repeats: usize) -> Result<Self, Error> {
        let too_many = || {
            Error::new(
                ErrorKind::InvalidInput,
                format!("bench: cannot allocate the figures of {repeats} rounds of {times} calls"),
            )
        };
        let mut rounds = Vec::new();
        rounds.try_reserve_exact(repeats).map_err(|_| too_many())?;
        let mut latencies = Vec::new();
        if repeats > 1 {
            // One round's latencies are moved in, not copied (see `end`).
            let all = times.checked_mul(repeats).ok_or_else(too_many)?;
            latencies.try_reserve_exact(all).map_err(|_| too_many())?;
        }
        Ok(Rounds {
            done: 0,
            next_start: None,
            start: None,
            repeats: rounds,
            latencies,
        })
    }

    /// Counts a finished round; gives the bench after the last measured one.
    fn end<T>(&mut self, round: Round<T>, bench: &Shape) -> Option<Bench<T>> {
        self.done += 1;
        self.next_start = Some(round.finish);
        if self.done <= bench.warm_up {
            return None; // a warm-up round: counted nowhere
        }
        let latency = Latency::of(&round.latencies);
        self.start.get_or_insert(round.start);
        self.repeats
            .push(Repeat::new(bench.times, round.start, round.finish, latency));
        if bench.repeats == 1 {
            self.latencies = round.latencies;
        } else {
            self.latencies.extend_from_slice(&round.latencies);
        }
        if self.repeats.len() < bench.repeats {
            return None;
        }
        let latency = if self.repeats.len() == 1 {
            latency
        } else {
            Latency::of(&self.latencies)
        };
        Some(Bench {
            times: bench.times,
            concurrency: bench.concurrency,
            start: self.start.unwrap_or(round.start),
            finish: round.finish,
            results: round.results,
            latencies: std::mem::take(&mut self.latencies),
            latency,
            warm_up: bench.warm_up,
            repeats: std::mem::take(&mut self.repeats),
        })
    }
}

/// What a bench is asked for: its calls, limit and rounds.
struct Shape {
    times: usize,
    concurrency: Option<usize>,
    warm_up: usize,
    repeats: usize,
}

/// One finished round of calls.
struct Round<T> {
    start: Instant,
    finish: Instant,
    results: Vec<T>,
    latencies: Vec<Duration>,
}

/// The calls of a bench under way.
struct Run<Fut, T> {
    start: Instant,
    /// The next call to start.
    next: usize,
    /// Calls finished.
    done: usize,
    /// Calls started and not finished.
    in_flight: usize,
    results: Vec<Option<T>>,
    latencies: Vec<Duration>,
    /// A box for the next call's future, reused while calls finish on their first poll.
    spare: Option<Pin<Box<Option<Fut>>>>,
    /// The calls that are pending, by waker id.
    calls: Vec<Option<Running<Fut>>>,
    /// One slot (a waker) per id, reused by the calls that take the id.
    slots: Vec<Slot>,
    /// Ids free for the next pending call.
    free: Vec<usize>,
    queue: ReadyQueue,
    /// The ids taken from the queue, a buffer kept to reuse its allocation.
    woken: VecDeque<usize>,
}

struct Running<Fut> {
    index: usize,
    started: Instant,
    future: Pin<Box<Option<Fut>>>,
}

/// What one poll of a call gave.
enum Step<T> {
    Done(Result<T, Error>),
    Pending,
}

/// Polls a call's future, turning its `Err` or a panic into an [`Error`]; drops the
/// future once it is done.
fn poll_call<Fut, T, E>(future: &mut Pin<Box<Option<Fut>>>, waker: &Waker) -> Step<T>
where
    Fut: Future<Output = Result<T, E>>,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    let polled = panic::catch(|| {
        let mut cx = Context::from_waker(waker);
        let step = match future.as_mut().as_pin_mut() {
            Some(f) => match f.poll(&mut cx) {
                Poll::Ready(outcome) => Step::Done(outcome.map_err(Error::user)),
                Poll::Pending => Step::Pending,
            },
            None => Step::Done(Err(Error::new(
                ErrorKind::InvalidState,
                "bench: a call was polled after it finished",
            ))),
        };
        if let Step::Done(_) = step {
            future.as_mut().set(None);
        }
        step
    });
    polled.unwrap_or_else(|error| Step::Done(Err(error)))
}

impl<Fut, T> Run<Fut, T> {
    /// A round of `times` calls, starting at `start` (or now).
    fn new(times: usize, start: Option<Instant>) -> Result<Self, Error> {
        let too_many = |_| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("bench: cannot allocate the results of {times} calls"),
            )
        };
        let mut results = Vec::new();
        results.try_reserve_exact(times).map_err(too_many)?;
        results.resize_with(times, || None);
        let mut latencies = Vec::new();
        latencies.try_reserve_exact(times).map_err(too_many)?;
        latencies.resize(times, Duration::ZERO);
        Ok(Run {
            start: start.unwrap_or_else(Instant::now),
            next: 0,
            done: 0,
            in_flight: 0,
            results,
            latencies,
            spare: None,
            calls: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            queue: ReadyQueue::new(),
            woken: VecDeque::new(),
        })
    }

    fn record(&mut self, index: usize, value: T, latency: Duration) {
        if let Some(slot) = self.results.get_mut(index) {
            *slot = Some(value);
        }
        if let Some(slot) = self.latencies.get_mut(index) {
            *slot = latency;
        }
        self.done += 1;
    }

    /// An id (and its waker) for a call that may stay pending.
    fn take_id(&mut self) -> usize {
        if let Some(id) = self.free.pop() {
            return id;
        }
        let id = self.slots.len();
        self.slots.push(self.queue.slot(id));
        self.calls.push(None);
        id
    }

    /// Polls the calls that woke; gives the index and error of a failed one.
    fn poll_woken<E>(&mut self) -> Result<(), Error>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        let mut woken = std::mem::take(&mut self.woken);
        self.queue.take(&mut woken);
        for id in woken.drain(..) {
            let Some(slot) = self.slots.get(id) else {
                continue;
            };
            slot.clear();
            let Some(running) = self.calls.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            let Step::Done(outcome) = poll_call(&mut running.future, slot.waker()) else {
                continue;
            };
            let (index, started) = (running.index, running.started);
            let future = self
                .calls
                .get_mut(id)
                .and_then(Option::take)
                .map(|r| r.future);
            if self.spare.is_none() {
                self.spare = future;
            }
            self.free.push(id);
            self.in_flight -= 1;
            match outcome {
                Ok(value) => self.record(
                    index,
                    value,
                    Instant::now().saturating_duration_since(started),
                ),
                Err(error) => return Err(CallError::into_error(index, error)),
            }
        }
        self.woken = woken;
        Ok(())
    }

    /// Starts calls while there are calls left and room under `limit`.
    fn start_calls<F, E>(&mut self, call: &mut F, times: usize, limit: usize) -> Result<(), Error>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        // One timestamp per call: a call starts when the one before it was polled.
        let mut started = Instant::now();
        while self.next < times && self.in_flight < limit {
            let index = self.next;
            self.next += 1;
            let mut future = self.spare.take().unwrap_or_else(|| Box::pin(None));
            if let Err(error) = panic::catch(|| future.as_mut().set(Some(call(index)))) {
                return Err(CallError::into_error(index, error));
            }
            let id = self.take_id();
            let step = match self.slots.get(id) {
                Some(slot) => {
                    slot.clear();
                    poll_call(&mut future, slot.waker())
                }
                None => Step::Pending,
            };
            let now = Instant::now();
            match step {
                Step::Done(Ok(value)) => {
                    self.record(index, value, now.saturating_duration_since(started));
                    self.free.push(id);
                    self.spare = Some(future);
                }
                Step::Done(Err(error)) => return Err(CallError::into_error(index, error)),
                Step::Pending => {
                    if let Some(slot) = self.calls.get_mut(id) {
                        *slot = Some(Running {
                            index,
                            started,
                            future,
                        });
                    }
                    self.in_flight += 1;
                }
            }
            started = now;
        }
        Ok(())
    }

    /// The finished round: its results in call order, its latencies and times.
    fn into_round(self) -> Result<Round<T>, Error> {
        let finish = Instant::now();
        let results: Option<Vec<T>> = self.results.into_iter().collect();
        let results = results.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidState,
                "bench: a call finished without a result",
            )
        })?;
        Ok(Round {
            start: self.start,
            finish,
            results,
            latencies: self.latencies,
        })
    }
}

impl<F, Fut, T, E> BenchFuture<F, Fut, T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bench<T>, Error>> {
        let limit = match self.concurrency {
            Some(0) => {
                return Poll::Ready(Err(Error::new(
                    ErrorKind::InvalidInput,
                    "bench: a concurrency limit must be at least 1",
                )))
            }
            Some(limit) => limit,
            None => usize::MAX,
        };
        if self.repeats == 0 {
            return Poll::Ready(Err(Error::new(
                ErrorKind::InvalidInput,
                "bench: the number of repeats must be at least 1",
            )));
        }
        let rounds = match &mut self.rounds {
            Some(rounds) => rounds,
            None => match Rounds::new(self.times, self.repeats) {
                Ok(rounds) => self.rounds.insert(rounds),
                Err(error) => return Poll::Ready(Err(error)),
            },
        };
        let shape = Shape {
            times: self.times,
            concurrency: self.concurrency,
            warm_up: self.warm_up,
            repeats: self.repeats,
        };
        // One round after another in this poll, until one waits for its calls.
        loop {
            let run = match &mut self.run {
                Some(run) => run,
                None => match Run::new(self.times, rounds.next_start) {
                    Ok(run) => self.run.insert(run),
                    Err(error) => return Poll::Ready(Err(error)),
                },
            };
            run.queue.register(cx.waker());
            if let Err(error) = run.poll_woken() {
                return Poll::Ready(Err(error));
            }
            if let Err(error) = run.start_calls(&mut self.call, self.times, limit) {
                return Poll::Ready(Err(error));
            }
            if run.done < self.times {
                if run.queue.has_ready() {
                    // Calls woke while this poll ran: come back for them, after
                    // letting others run.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            let round = match self.run.take().map(Run::into_round) {
                Some(Ok(round)) => round,
                Some(Err(error)) => return Poll::Ready(Err(error)),
                None => {
                    return Poll::Ready(Err(Error::new(ErrorKind::InvalidState, "bench: no run")))
                }
            };
            if let Some(bench) = rounds.end(round, &shape) {
                return Poll::Ready(Ok(bench));
            }
        }
    }
}

impl<F, Fut, T, E> Future for BenchFuture<F, Fut, T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    type Output = Result<Bench<T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(Error::new(
                ErrorKind::InvalidState,
                "the bench was polled after it completed",
            )));
        }
        // All the calls are polled inside this one task: tokio's cooperative budget
        // (made to stop one task starving others) would throttle them after a few
        // polls and have them polled again and again, so the bench opts out of it.
        let out = {
            let drive = std::future::poll_fn(|cx| this.drive(cx));
            let mut drive = std::pin::pin!(tokio::task::coop::unconstrained(drive));
            drive.as_mut().poll(cx)
        };
        if out.is_ready() {
            this.finished = true;
            // Calls still running when a call failed are dropped here.
            this.run = None;
            this.rounds = None;
        }
        out
    }
}

impl<F, Fut, T> fmt::Debug for BenchFuture<F, Fut, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (started, done) = self.run.as_ref().map_or((0, 0), |r| (r.next, r.done));
        let rounds_done = self.rounds.as_ref().map_or(0, |r| r.done);
        f.debug_struct("BenchFuture")
            .field("times", &self.times)
            .field("concurrency", &self.concurrency)
            .field("warm_up", &self.warm_up)
            .field("repeats", &self.repeats)
            .field("rounds_done", &rounds_done)
            .field("started", &started)
            .field("done", &done)
            .field("finished", &self.finished)
            .finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::promise::Promise;
    use ::loom::thread;

    #[test]
    fn calls_woken_from_two_threads_are_each_seen_once_and_none_is_lost() {
        crate::loom::model_composite(|| {
            let (a, b) = (Promise::<usize>::new(), Promise::<usize>::new());
            let (sa, sb) = (a.setter(), b.setter());
            let ta = thread::spawn(move || sa.set_result(1).unwrap());
            let tb = thread::spawn(move || sb.set_result(2).unwrap());
            // Each call moves its promise out (no clone: fewer steps for loom).
            let mut calls = [Some(a), Some(b)];
            // Would hang (and loom report a deadlock) if a wake-up were lost.
            let bench = ::loom::future::block_on(BenchFuture::new(
                move |i: usize| calls[i].take().unwrap(),
                2,
                None,
            ))
            .unwrap();
            ta.join().unwrap();
            tb.join().unwrap();
            assert_eq!(bench.results(), [1, 2]);
        });
    }
}
