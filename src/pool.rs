//! A pool of loops: [`LoopPool`], N event loops on N threads that share the work
//! (least busy loop, or by key), and [`PoolLocal`], state with one value per loop of a
//! pool (per-worker caches, connections).
//!
//! # Routing
//!
//! - [`run_any`](LoopPool::run_any): the least busy of two loops picked at random ("power of
//!   two choices"; every loop when there are at most two), by their queue depth, a
//!   few relaxed loads each. The random picks come from a per-thread generator: a
//!   call writes no memory shared with other callers until it queues.
//! - [`run_keyed`](LoopPool::run_keyed): the loop the key hashes to, with a hash
//!   fixed for the pool's life (a folded multiply per word, from a random seed per
//!   pool), so the calls of one key run on one loop in the order issued.
//! - [`loop_at`](LoopPool::loop_at): a loop by index.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{Error, ErrorKind};
use crate::event_loop::{Builder, Closed, Deadline, EventLoop, LoopMetrics, ShutdownReport};
use crate::local::LoopLocal;
use crate::multi::{gather_broadcast, MultiFuture};
use crate::promise::Promise;
use crate::run::{run_in_loop, run_in_loop_async, try_run_in_loop, try_run_in_loop_async};

/// N event loops, each on a thread of its own, sharing work: calls go to the least
/// busy loop ([`run_any`](LoopPool::run_any)), to the loop of a key
/// ([`run_keyed`](LoopPool::run_keyed)), or to a loop by index
/// ([`loop_at`](LoopPool::loop_at)); [`local`](LoopPool::local) keeps one value of
/// state on each loop.
///
/// The handle is cheap to clone, `Send` and `Sync`. Dropping the last handle closes
/// every loop (as dropping an [`EventLoop`]'s last handle does; handles to the loops
/// taken with [`loop_at`](LoopPool::loop_at) and cloned keep theirs open).
///
/// # Examples
///
/// ```
/// use pulsar_async::EventLoop;
///
/// let pool = EventLoop::builder().name("w").pool(2).unwrap();
/// assert_eq!(pool.len(), 2);
/// assert_eq!(pool.loop_at(1).unwrap().name(), "w-1");
///
/// // Any loop: the least busy.
/// assert_eq!(pool.run_any(|| 6 * 7).wait().unwrap(), 42);
/// // The same key, the same loop, in order.
/// let a = pool.run_keyed(&"user-7", || std::thread::current().id());
/// let b = pool.run_keyed(&"user-7", || std::thread::current().id());
/// assert_eq!(a.wait().unwrap(), b.wait().unwrap());
/// // Every loop.
/// let names = pool.broadcast(|| std::thread::current().name().unwrap().to_owned());
/// assert_eq!(names.wait().unwrap(), ["w-0", "w-1"]);
/// ```
#[derive(Clone)]
pub struct LoopPool {
    inner: Arc<Inner>,
}

struct Inner {
    loops: Vec<EventLoop>,
    /// The hash of `run_keyed`, fixed for the pool's life.
    hasher: KeyHash,
}

impl Drop for Inner {
    /// Gives up the pool's handle of every loop: a loop whose last counted handle it
    /// held begins closing (all of them together, not one after the other), then the
    /// drop waits for those, each bounded as a last drop waits. A loop that a clone of
    /// [`loop_at`](LoopPool::loop_at) still holds stays open.
    fn drop(&mut self) {
        let closing: Vec<bool> = self
            .loops
            .iter_mut()
            .map(EventLoop::release_count)
            .collect();
        for (lp, closing) in self.loops.iter().zip(closing) {
            if closing {
                lp.wait_released();
            }
        }
    }
}

impl LoopPool {
    /// A pool of one loop per available core
    /// ([`std::thread::available_parallelism`]), with the default settings.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::LoopPool::new().unwrap();
    /// assert!(pool.len() >= 1);
    /// ```
    pub fn new() -> Result<LoopPool, Error> {
        LoopPool::builder().pool(available_cores())
    }

    /// A [`Builder`] whose settings every loop of the pool gets; end it with
    /// [`Builder::pool`]. The same as [`EventLoop::builder`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::LoopPool::builder().name("db").pool(3).unwrap();
    /// assert_eq!(pool.loop_at(2).unwrap().name(), "db-2");
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// How many loops the pool has.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// assert_eq!(pool.len(), 2);
    /// ```
    #[allow(clippy::len_without_is_empty)] // a pool is never empty
    pub fn len(&self) -> usize {
        self.inner.loops.len()
    }

    /// The loops, by index.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// assert!(pool.loops().iter().all(|lp| lp.owns_thread()));
    /// ```
    pub fn loops(&self) -> &[EventLoop] {
        &self.inner.loops
    }

    /// The loop at `index`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] when `index` is not below [`len`](LoopPool::len).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, ErrorKind};
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let lp = pool.loop_at(0).unwrap();
    /// assert_eq!(run_in_loop(lp, || 1).wait().unwrap(), 1);
    /// assert_eq!(pool.loop_at(2).unwrap_err().kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn loop_at(&self, index: usize) -> Result<&EventLoop, Error> {
        self.inner
            .loops
            .get(index)
            .ok_or_else(|| out_of_range(index, self.len()))
    }

    /// The index of the least busy loop now (see [routing](self#routing)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// assert!(pool.least_busy() < 2);
    /// ```
    pub fn least_busy(&self) -> usize {
        let loops = &self.inner.loops;
        match loops.len() {
            1 => 0,
            2 => usize::from(loops[1].queue_depth() < loops[0].queue_depth()),
            n => {
                let r = next_random();
                let a = (r % n as u64) as usize;
                let b = ((r >> 32) % (n as u64 - 1)) as usize;
                let b = if b >= a { b + 1 } else { b };
                if loops[b].queue_depth() < loops[a].queue_depth() {
                    b
                } else {
                    a
                }
            }
        }
    }

    /// The index of the loop of `key`: the same for equal keys, for the pool's life.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(4).unwrap();
    /// assert_eq!(pool.index_of(&"k"), pool.index_of(&"k"));
    /// ```
    pub fn index_of<K: Hash + ?Sized>(&self, key: &K) -> usize {
        let hash = self.inner.hasher.hash_one(key);
        // The high bits, multiplied down to the range: no division.
        ((u128::from(hash) * self.len() as u128) >> 64) as usize
    }

    /// Runs `f` on the least busy loop, whichever it is; returns at once a promise of
    /// its value (as [`run_in_loop`]). For work on a key's state, route by the key:
    /// [`run_keyed`](LoopPool::run_keyed).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::LoopPool::new().unwrap();
    /// assert_eq!(pool.run_any(|| "ran").wait().unwrap(), "ran");
    /// ```
    #[track_caller]
    pub fn run_any<T, F>(&self, f: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        run_in_loop(&self.inner.loops[self.least_busy()], f)
    }

    /// Runs the future `f` makes on the least busy loop (as [`run_in_loop_async`]:
    /// the future may be `!Send`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::LoopPool::new().unwrap();
    /// let p = pool.run_any_async(|| async { tokio::task::yield_now().await; 5 });
    /// assert_eq!(p.wait().unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn run_any_async<T, F, Fut>(&self, f: F) -> Promise<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        run_in_loop_async(&self.inner.loops[self.least_busy()], f)
    }

    /// Runs `f` on the loop of `key` ([`index_of`](LoopPool::index_of)): every call
    /// with an equal key runs on the same loop, and those issued from one thread in the
    /// order issued. Shards `!Send` state by key.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let here = pool.run_keyed(&42u64, || std::thread::current().name().map(String::from));
    /// let expected = pool.loop_at(pool.index_of(&42u64)).unwrap().name().to_owned();
    /// assert_eq!(here.wait().unwrap(), Some(expected));
    /// ```
    #[track_caller]
    pub fn run_keyed<K, T, F>(&self, key: &K, f: F) -> Promise<T>
    where
        K: Hash + ?Sized,
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        run_in_loop(&self.inner.loops[self.index_of(key)], f)
    }

    /// As [`run_keyed`](LoopPool::run_keyed), for a future (as [`run_in_loop_async`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let p = pool.run_keyed_async("k", || async { 1 });
    /// assert_eq!(p.wait().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn run_keyed_async<K, T, F, Fut>(&self, key: &K, f: F) -> Promise<T>
    where
        K: Hash + ?Sized,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        run_in_loop_async(&self.inner.loops[self.index_of(key)], f)
    }

    /// Runs `f` once on every loop; one promise per loop, gathered with
    /// [`multi_async`](crate::multi_async) into a `Vec` in the loops' order.
    ///
    /// # Errors
    ///
    /// The first call that fails fails the whole: its error carries a
    /// [`KeyedError<usize>`](crate::multi::KeyedError) with the loop's index
    /// (`broadcast: the call on loop 1 failed`), the call's error as its source.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(3).unwrap();
    /// let ones = pool.broadcast(|| 1);
    /// assert_eq!(ones.wait().unwrap().iter().sum::<i32>(), 3);
    /// ```
    #[track_caller]
    pub fn broadcast<T, F>(&self, f: F) -> MultiFuture<Vec<T>>
    where
        F: Fn() -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        gather_broadcast(self.inner.loops.iter().map(|lp| {
            let f = f.clone();
            run_in_loop(lp, move || f())
        }))
    }

    /// State with one value per loop, each built on its loop's thread by
    /// `init(index)`: see [`PoolLocal`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let caches = pool.local(|i| vec![i]);
    /// assert_eq!(caches.call_at(1, |v| v[0]).wait().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn local<T, F>(&self, init: F) -> PoolLocal<T>
    where
        T: 'static,
        F: Fn(usize) -> T + Send + Sync + 'static,
    {
        let init = Arc::new(init);
        let locals: Vec<LoopLocal<T>> = self
            .inner
            .loops
            .iter()
            .enumerate()
            .map(|(i, lp)| {
                let init = init.clone();
                LoopLocal::new(lp, move || init(i))
            })
            .collect();
        PoolLocal {
            pool: self.clone(),
            locals: locals.into(),
        }
    }

    /// What each loop is doing, in the loops' order (see [`LoopMetrics`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// assert_eq!(pool.metrics().len(), 2);
    /// ```
    pub fn metrics(&self) -> Vec<LoopMetrics> {
        self.inner.loops.iter().map(EventLoop::metrics).collect()
    }

    /// Closes every loop (see [`EventLoop::close`]): they close together, and this
    /// returns once all are closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// pool.close();
    /// assert!(pool.loops().iter().all(|lp| lp.is_closed()));
    /// assert!(pool.run_any(|| 1).wait().is_err());
    /// ```
    pub fn close(&self) {
        for lp in &self.inner.loops {
            lp.close_background();
        }
        for lp in &self.inner.loops {
            lp.close();
        }
    }

    /// Shuts every loop down (see [`EventLoop::shutdown`]): all stop taking work at
    /// once and drain until the one `deadline`; the report of each loop, in order.
    ///
    /// # Errors
    ///
    /// As [`EventLoop::shutdown`], with nothing done: [`ErrorKind::WouldDeadlock`] on a
    /// loop of the pool (use [`shutdown_background`](LoopPool::shutdown_background)
    /// there) or inside a tokio task (await
    /// [`shutdown_async`](LoopPool::shutdown_async) there; `spawn_blocking` and
    /// `block_in_place` may block).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let calls: Vec<_> = (0..10).map(|i| pool.run_any(move || i)).collect();
    /// let reports = pool.shutdown(Duration::from_secs(5)).unwrap();
    /// assert_eq!(reports.len(), 2);
    /// assert!(reports.iter().all(|r| r.cut == 0));
    /// assert_eq!(calls.into_iter().map(|p| p.wait().unwrap()).sum::<i32>(), 45);
    /// ```
    pub fn shutdown(&self, deadline: impl Into<Deadline>) -> Result<Vec<ShutdownReport>, Error> {
        let deadline = deadline.into();
        let loops = &self.inner.loops;
        self.refuse_own_loop()?;
        if !crate::event_loop::blocking_allowed() {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "shutdown would block this tokio runtime's thread: await shutdown_async(deadline) \
                 instead (or call shutdown inside spawn_blocking or block_in_place)",
            ));
        }
        for lp in loops {
            lp.shutdown_background(deadline);
        }
        loops.iter().map(|lp| lp.shutdown(deadline)).collect()
    }

    /// The async form of [`shutdown`](LoopPool::shutdown): begins the shutdown of
    /// every loop when first polled, and resolves with the report of each loop, in
    /// index order, once all are closed. Awaitable from any executor.
    ///
    /// # Errors
    ///
    /// The future gives [`ErrorKind::WouldDeadlock`], with nothing done, when awaited
    /// on a loop of the pool.
    ///
    /// # Cancel safety
    ///
    /// Once polled, dropping it does not stop the shutdown.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let calls: Vec<_> = (0..10).map(|i| pool.run_any(move || i)).collect();
    /// let reports = pool.shutdown_async(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(reports.len(), 2);
    /// for p in calls {
    ///     p.await.unwrap();
    /// }
    /// # }
    /// ```
    pub fn shutdown_async(&self, deadline: impl Into<Deadline>) -> PoolShutdown {
        PoolShutdown {
            pool: self.clone(),
            deadline: Some(deadline.into()),
            closed: self.closed(),
        }
    }

    /// A future that resolves, with the report of each loop in index order, once
    /// every loop of the pool has finished closing (however it was closed). It does
    /// not close anything itself. Its output is the reports, not a `Result`: closing
    /// cannot fail.
    ///
    /// # Cancel safety
    ///
    /// Dropping it changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let closed = pool.closed();
    /// pool.shutdown_background(std::time::Duration::from_secs(5));
    /// let reports = futures::executor::block_on(closed);
    /// assert_eq!(reports.len(), 2);
    /// ```
    pub fn closed(&self) -> PoolClosed {
        PoolClosed {
            closed: self.inner.loops.iter().map(EventLoop::closed).collect(),
            reports: vec![None; self.len()],
        }
    }

    /// `WouldDeadlock` on a loop of the pool.
    fn refuse_own_loop(&self) -> Result<(), Error> {
        if self.inner.loops.iter().any(EventLoop::is_current_thread) {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "a pool cannot wait for its shutdown on one of its loops: call \
                 shutdown_background(deadline) there, or shutdown / shutdown_async elsewhere",
            ));
        }
        Ok(())
    }

    /// Begins a [`shutdown`](LoopPool::shutdown) of every loop and returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// pool.shutdown_background(std::time::Duration::from_secs(1));
    /// assert!(pool.run_any(|| 1).wait().is_err());
    /// ```
    pub fn shutdown_background(&self, deadline: impl Into<Deadline>) {
        let deadline = deadline.into();
        for lp in &self.inner.loops {
            lp.shutdown_background(deadline);
        }
    }
}

/// The future of [`LoopPool::shutdown_async`]: the reports of every loop, in index
/// order, once all are closed.
///
/// # Cancel safety
///
/// Once polled, dropping it does not stop the shutdown.
///
/// # Examples
///
/// ```
/// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
/// let shutdown: pulsar_async::pool::PoolShutdown =
///     pool.shutdown_async(std::time::Duration::from_secs(5));
/// assert_eq!(futures::executor::block_on(shutdown).unwrap().len(), 2);
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct PoolShutdown {
    pool: LoopPool,
    /// Until the first poll begins the shutdown.
    deadline: Option<Deadline>,
    closed: PoolClosed,
}

impl Future for PoolShutdown {
    type Output = Result<Vec<ShutdownReport>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(deadline) = self.deadline.take() {
            self.pool.refuse_own_loop()?;
            self.pool.shutdown_background(deadline);
        }
        Pin::new(&mut self.closed).poll(cx).map(Ok)
    }
}

/// The future of [`LoopPool::closed`]: the reports of every loop, in index order,
/// once all are closed.
///
/// # Cancel safety
///
/// Dropping it changes nothing.
///
/// # Examples
///
/// ```
/// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
/// let closed: pulsar_async::pool::PoolClosed = pool.closed();
/// pool.close();
/// assert!(futures::executor::block_on(closed).iter().all(|r| r.cut == 0));
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct PoolClosed {
    closed: Vec<Closed>,
    reports: Vec<Option<ShutdownReport>>,
}

impl Future for PoolClosed {
    type Output = Vec<ShutdownReport>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut pending = false;
        for (closed, report) in this.closed.iter_mut().zip(this.reports.iter_mut()) {
            if report.is_none() {
                match Pin::new(closed).poll(cx) {
                    Poll::Ready(r) => *report = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(this.reports.iter().map(|r| r.unwrap_or_default()).collect())
    }
}

impl fmt::Debug for LoopPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopPool")
            .field("loops", &self.inner.loops)
            .finish()
    }
}

/// The most loops a pool may have: each is an OS thread.
const MAX_POOL_LOOPS: usize = 4096;

impl Builder {
    /// Starts a [`LoopPool`] of `loops` loops, each on a thread of its own, each with
    /// this builder's settings; loop `i` is named `{name}-{i}` (`pulsar-pool-{i}`
    /// without a name).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a pool of 0 loops or of more than 4,096 (a
    /// thread each: more than a machine can serve); otherwise as
    /// [`Builder::spawn`] (the loops already started are closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, EventLoop};
    /// let pool = EventLoop::builder().name("w").pool(2).unwrap();
    /// assert_eq!(pool.loop_at(0).unwrap().name(), "w-0");
    /// assert_eq!(EventLoop::builder().pool(0).unwrap_err().kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn pool(self, loops: usize) -> Result<LoopPool, Error> {
        if loops == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a pool needs at least one loop",
            ));
        }
        if loops > MAX_POOL_LOOPS {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a pool of {loops} loops is more threads than a machine can serve: at most {MAX_POOL_LOOPS}"
                ),
            ));
        }
        self.check()?;
        let base = self
            .name
            .clone()
            .unwrap_or_else(|| "pulsar-pool".to_owned());
        let loops = (0..loops)
            .map(|i| self.clone().name(format!("{base}-{i}")).spawn())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LoopPool {
            inner: Arc::new(Inner {
                loops,
                hasher: KeyHash::new(),
            }),
        })
    }
}

/// State with one value of `T` on each loop of a [`LoopPool`] (per-worker caches,
/// connections), each a [`LoopLocal`]: built on its loop's thread by the pool's
/// `init(index)`, dropped there. Calls go to a loop by index, by key, or to the least
/// busy loop.
///
/// The handle is `Clone + Send + Sync`, and keeps the pool's loops open.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
/// // One cache per loop; a key's entries always in the same one.
/// let caches = pool.local(|_| HashMap::<String, u32>::new());
/// caches.call_keyed("ada", |c| c.insert("ada".into(), 36));
/// let age = caches.call_keyed("ada", |c| c.get("ada").copied());
/// assert_eq!(age.wait().unwrap(), Some(36));
/// ```
pub struct PoolLocal<T: 'static> {
    pool: LoopPool,
    locals: Arc<[LoopLocal<T>]>,
}

impl<T: 'static> PoolLocal<T> {
    /// The pool.
    pub fn pool(&self) -> &LoopPool {
        &self.pool
    }

    /// The value of loop `index`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] when `index` is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let counts = pool.local(|_| 0u32);
    /// counts.at(0).unwrap().call(|n| *n += 1);
    /// assert!(counts.at(2).is_err());
    /// ```
    pub fn at(&self, index: usize) -> Result<&LoopLocal<T>, Error> {
        self.locals
            .get(index)
            .ok_or_else(|| out_of_range(index, self.locals.len()))
    }

    /// Runs `f` on the value of loop `index` (see [`LoopLocal::call`]); a promise
    /// failed with [`ErrorKind::InvalidInput`] when `index` is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let ids = pool.local(|i| i * 10);
    /// assert_eq!(ids.call_at(1, |n| *n).wait().unwrap(), 10);
    /// ```
    #[track_caller]
    pub fn call_at<R, F>(&self, index: usize, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        match self.at(index) {
            Ok(local) => local.call(f),
            Err(e) => Promise::failed(e),
        }
    }

    /// Runs `f` on the value of the loop of `key` (the pool's
    /// [`index_of`](LoopPool::index_of)): the same value for equal keys.
    #[track_caller]
    pub fn call_keyed<K, R, F>(&self, key: &K, f: F) -> Promise<R>
    where
        K: Hash + ?Sized,
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.locals[self.pool.index_of(key)].call(f)
    }

    /// Runs `f` on the value of the least busy loop, whichever it is: for state that
    /// is the same on every loop (a per-loop cache of shared data, a connection). For
    /// a key's state, route by the key: [`call_keyed`](PoolLocal::call_keyed).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let hits = pool.local(|_| 0u32);
    /// hits.call_any(|n| *n += 1).wait().unwrap();
    /// let all = hits.broadcast(|n| *n);
    /// assert_eq!(all.wait().unwrap().iter().sum::<u32>(), 1);
    /// ```
    #[track_caller]
    pub fn call_any<R, F>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.locals[self.pool.least_busy()].call(f)
    }

    /// As [`LoopLocal::call_async`], on the value of the loop of `key`.
    #[track_caller]
    pub fn call_async_keyed<K, R, F, Fut>(&self, key: &K, f: F) -> Promise<R>
    where
        K: Hash + ?Sized,
        F: FnOnce(crate::local::LocalRef<T>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        self.locals[self.pool.index_of(key)].call_async(f)
    }

    /// Runs `f` on every loop's value; the results gathered in the loops' order.
    #[track_caller]
    pub fn broadcast<R, F>(&self, f: F) -> MultiFuture<Vec<R>>
    where
        F: Fn(&mut T) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        gather_broadcast(self.locals.iter().map(|local| {
            let f = f.clone();
            local.call(move |state| f(state))
        }))
    }
}

/// The fallible forms of the pool's calls, and the old names. Each `try_*` form runs a
/// closure (or future) returning a `Result`: an `Err` fails the promise with that
/// error (the crate's [one rule for `Result`](crate#one-rule-for-result): kind
/// [`ErrorKind::User`], the error the promise error's `source()`, found by
/// [`Error::downcast_ref`]); the promise is of the `Ok` value.
impl LoopPool {
    /// As [`run_keyed`](LoopPool::run_keyed), for a closure returning a `Result`
    /// (see [one rule for `Result`](crate#one-rule-for-result)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let port = pool.try_run_keyed(&"cfg", || "8080".parse::<u16>());
    /// assert_eq!(port.wait().unwrap(), 8080);
    /// ```
    #[track_caller]
    pub fn try_run_keyed<K, T, E, F>(&self, key: &K, f: F) -> Promise<T>
    where
        K: Hash + ?Sized,
        F: FnOnce() -> Result<T, E> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        T: Send + 'static,
    {
        try_run_in_loop(&self.inner.loops[self.index_of(key)], f)
    }

    /// As [`run_any`](LoopPool::run_any), for a closure returning a `Result`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let err = pool.try_run_any(|| "x".parse::<u16>()).wait().unwrap_err();
    /// assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
    /// ```
    #[track_caller]
    pub fn try_run_any<T, E, F>(&self, f: F) -> Promise<T>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        T: Send + 'static,
    {
        try_run_in_loop(&self.inner.loops[self.least_busy()], f)
    }

    /// As [`run_keyed_async`](LoopPool::run_keyed_async), for a future whose output
    /// is a `Result`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let p = pool.try_run_keyed_async(&7u32, || async { "7".parse::<u8>() });
    /// assert_eq!(p.wait().unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn try_run_keyed_async<K, T, E, F, Fut>(&self, key: &K, f: F) -> Promise<T>
    where
        K: Hash + ?Sized,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        T: Send + 'static,
    {
        try_run_in_loop_async(&self.inner.loops[self.index_of(key)], f)
    }

    /// As [`run_any_async`](LoopPool::run_any_async), for a future whose output is a
    /// `Result`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let p = pool.try_run_any_async(|| async { "x".parse::<u8>() });
    /// assert!(p.wait().is_err());
    /// ```
    #[track_caller]
    pub fn try_run_any_async<T, E, F, Fut>(&self, f: F) -> Promise<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        T: Send + 'static,
    {
        try_run_in_loop_async(&self.inner.loops[self.least_busy()], f)
    }

    /// The old name of [`run_any`](LoopPool::run_any), which says the routing.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(1).unwrap();
    /// #[allow(deprecated)]
    /// let p = pool.run(|| 1);
    /// assert_eq!(p.wait().unwrap(), 1);
    /// ```
    #[deprecated(note = "use `run_any` (any loop), or `run_keyed` for a key's loop")]
    #[track_caller]
    pub fn run<T, F>(&self, f: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.run_any(f)
    }

    /// The old name of [`run_any_async`](LoopPool::run_any_async).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(1).unwrap();
    /// #[allow(deprecated)]
    /// let p = pool.run_async(|| async { 1 });
    /// assert_eq!(p.wait().unwrap(), 1);
    /// ```
    #[deprecated(note = "use `run_any_async` (any loop), or `run_keyed_async` for a key's loop")]
    #[track_caller]
    pub fn run_async<T, F, Fut>(&self, f: F) -> Promise<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        self.run_any_async(f)
    }
}

impl<T: 'static> PoolLocal<T> {
    /// As [`call_keyed`](PoolLocal::call_keyed), for a call returning a `Result`
    /// (see [one rule for `Result`](crate#one-rule-for-result)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let rooms = pool.local(|_| HashMap::<u32, String>::new());
    /// let name = rooms.try_call_keyed(&7u32, |r| r.get(&7).cloned().ok_or("room 7 not found"));
    /// assert_eq!(std::error::Error::source(&name.wait().unwrap_err()).unwrap().to_string(), "room 7 not found");
    /// ```
    #[track_caller]
    pub fn try_call_keyed<K, R, E, F>(&self, key: &K, f: F) -> Promise<R>
    where
        K: Hash + ?Sized,
        F: FnOnce(&mut T) -> Result<R, E> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        self.locals[self.pool.index_of(key)].try_call(f)
    }

    /// As [`call_any`](PoolLocal::call_any), for a call returning a `Result`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let limits = pool.local(|_| 10u32);
    /// assert_eq!(limits.try_call_any(|n| n.checked_sub(3).ok_or("below zero")).wait().unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn try_call_any<R, E, F>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> Result<R, E> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        self.locals[self.pool.least_busy()].try_call(f)
    }

    /// As [`call_at`](PoolLocal::call_at), for a call returning a `Result`; a promise
    /// failed with [`ErrorKind::InvalidInput`] when `index` is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let ids = pool.local(|i| i);
    /// assert_eq!(ids.try_call_at(1, |n| Ok::<_, std::io::Error>(*n)).wait().unwrap(), 1);
    /// assert!(ids.try_call_at(5, |n| Ok::<_, std::io::Error>(*n)).wait().is_err());
    /// ```
    #[track_caller]
    pub fn try_call_at<R, E, F>(&self, index: usize, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> Result<R, E> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        match self.at(index) {
            Ok(local) => local.try_call(f),
            Err(e) => Promise::failed(e),
        }
    }

    /// As [`LoopLocal::call_async`], on the value of the least busy loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let hits = pool.local(|_| 1u32);
    /// let p = hits.call_async_any(|state| async move { *state.borrow() });
    /// assert_eq!(p.wait().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn call_async_any<R, F, Fut>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(crate::local::LocalRef<T>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        self.locals[self.pool.least_busy()].call_async(f)
    }

    /// As [`LoopLocal::try_call_async`], on the value of the loop of `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let ports = pool.local(|_| vec![8080u16]);
    /// let p = ports.try_call_async_keyed("cfg", |s| async move { s.borrow().first().copied().ok_or("none") });
    /// assert_eq!(p.wait().unwrap(), 8080);
    /// ```
    #[track_caller]
    pub fn try_call_async_keyed<K, R, E, F, Fut>(&self, key: &K, f: F) -> Promise<R>
    where
        K: Hash + ?Sized,
        F: FnOnce(crate::local::LocalRef<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        self.locals[self.pool.index_of(key)].try_call_async(f)
    }

    /// As [`LoopLocal::try_call_async`], on the value of the least busy loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let ports = pool.local(|_| Vec::<u16>::new());
    /// let p = ports.try_call_async_any(|s| async move { s.borrow().first().copied().ok_or("none") });
    /// assert!(p.wait().is_err());
    /// ```
    #[track_caller]
    pub fn try_call_async_any<R, E, F, Fut>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(crate::local::LocalRef<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        self.locals[self.pool.least_busy()].try_call_async(f)
    }

    /// As [`broadcast`](PoolLocal::broadcast), for a call returning a `Result`: the
    /// first `Err` fails the whole, its error naming the loop
    /// ([`KeyedError<usize>`](crate::multi::KeyedError)), the user's error its source.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(2).unwrap();
    /// let ids = pool.local(|i| i);
    /// let all = ids.try_broadcast(|i| if *i == 1 { Err("loop 1 is full") } else { Ok(*i) });
    /// assert_eq!(all.wait().unwrap_err().to_string(), "broadcast: the call on loop 1 failed");
    /// ```
    #[track_caller]
    pub fn try_broadcast<R, E, F>(&self, f: F) -> MultiFuture<Vec<R>>
    where
        F: Fn(&mut T) -> Result<R, E> + Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        gather_broadcast(self.locals.iter().map(|local| {
            let f = f.clone();
            local.try_call(move |state| f(state))
        }))
    }

    /// The old name of [`call_any`](PoolLocal::call_any), which says the routing.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pulsar_async::EventLoop::builder().pool(1).unwrap();
    /// let hits = pool.local(|_| 0u32);
    /// #[allow(deprecated)]
    /// let p = hits.call(|n| *n + 1);
    /// assert_eq!(p.wait().unwrap(), 1);
    /// ```
    #[deprecated(note = "use `call_any` (any loop's value), or `call_keyed` for a key's value")]
    #[track_caller]
    pub fn call<R, F>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.call_any(f)
    }
}

impl<T: 'static> Clone for PoolLocal<T> {
    fn clone(&self) -> Self {
        PoolLocal {
            pool: self.pool.clone(),
            locals: self.locals.clone(),
        }
    }
}

impl<T: 'static> fmt::Debug for PoolLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolLocal")
            .field("type", &std::any::type_name::<T>())
            .field("loops", &self.locals.len())
            .finish()
    }
}

/// The hash that routes keys to loops: a folded multiply per word (as foldhash's), from
/// a random seed per pool. A few nanoseconds for an integer key, where SipHash takes
/// about twenty; the seed keeps a key's loop unpredictable from outside the process.
#[derive(Clone, Copy)]
struct KeyHash {
    seed: u64,
}

impl KeyHash {
    fn new() -> Self {
        let seed = std::hash::RandomState::new().hash_one(0u64);
        KeyHash { seed: seed | 1 }
    }
}

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.seed)
    }
}

struct KeyHasher(u64);

/// An odd constant with well-mixed bits (the fractional part of pi).
const MIX: u64 = 0x243f_6a88_85a3_08d3;

impl KeyHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        let m = u128::from(self.0 ^ word) * u128::from(MIX);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let m = u128::from(self.0) * u128::from(MIX ^ 0x9e37_79b9_7f4a_7c15);
        (m as u64) ^ ((m >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

fn out_of_range(index: usize, len: usize) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "loop index {index} out of range: the pool has {len} loop{}",
            if len == 1 { "" } else { "s" }
        ),
    )
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A per-thread xorshift generator for the pool's random picks.
fn next_random() -> u64 {
    thread_local!(static STATE: Cell<u64> = const { Cell::new(0) });
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            // Seeded from the thread's id, through randomly keyed SipHash.
            let seed = std::hash::RandomState::new().hash_one(std::thread::current().id());
            x = seed | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}
