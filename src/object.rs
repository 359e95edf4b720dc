//! [`AsyncObject`]: the interface of objects bound to an event loop, and the
//! [`Logger`] they log through.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use tracing::instrument::{Instrument, Instrumented};
use tracing::Span;

use crate::bench::Bench;
use crate::error::{Error, ErrorKind};
use crate::event_loop::EventLoop;
use crate::promise::Promise;

/// The name of the crate's own logger, used by objects with neither a logger nor a loop.
const CRATE_LOGGER: &str = "pulsar_async";

/// Where an object's log events go: a name (Pulsar's logger name) and a
/// [`tracing::Span`] that carries it.
///
/// Events emitted inside the span ([`in_scope`](Logger::in_scope),
/// [`instrument`](Logger::instrument)) are tagged with it, so a subscriber shows
/// and filters them by object (`RUST_LOG="[object{logger=cache}]=debug"`). Three
/// kinds, as [`AsyncObject::logger`] picks them:
///
/// | logger | span name | field |
/// | --- | --- | --- |
/// | an object's own, [`Logger::new`] | `object` | `logger = <its name>` |
/// | a loop's, [`Logger::for_loop`] | `event_loop` | `logger = <the loop's name>` |
/// | the crate's, [`Logger::crate_logger`] | `pulsar_async` | `logger = "pulsar_async"` |
///
/// The spans are at level `INFO` with target `pulsar_async`; bring a span of your own
/// (any level, any fields) with [`Logger::with_span`]. Clones share the span.
///
/// # Examples
///
/// ```
/// use pulsar_async::object::Logger;
///
/// let log = Logger::new("cache");
/// assert_eq!(log.name(), "cache");
/// log.in_scope(|| tracing::info!("warmed up")); // tagged `object{logger="cache"}`
/// ```
#[derive(Clone)]
pub struct Logger {
    name: Cow<'static, str>,
    span: Span,
}

impl Logger {
    /// An object's own logger called `name`: a span `object` with field
    /// `logger = name`.
    ///
    /// # Examples
    ///
    /// ```
    /// let log = pulsar_async::object::Logger::new(format!("shard-{}", 3));
    /// assert_eq!(log.name(), "shard-3");
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        let span = tracing::info_span!(target: "pulsar_async", "object", logger = %name);
        Logger { name, span }
    }

    /// A logger called `name` that logs in `span`, a span of your own.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::object::Logger;
    /// let span = tracing::debug_span!("server", port = 8080);
    /// let log = Logger::with_span("server", span);
    /// assert_eq!(log.name(), "server");
    /// ```
    pub fn with_span(name: impl Into<Cow<'static, str>>, span: Span) -> Self {
        Logger {
            name: name.into(),
            span,
        }
    }

    /// The logger of loop `lp`: named after the loop, a span `event_loop` with field
    /// `logger = <the loop's name>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{object::Logger, EventLoop};
    /// let lp = EventLoop::builder().name("io").spawn().unwrap();
    /// assert_eq!(Logger::for_loop(&lp).name(), "io");
    /// ```
    pub fn for_loop(lp: &EventLoop) -> Self {
        let name = lp.name().to_owned();
        let span = tracing::info_span!(target: "pulsar_async", "event_loop", logger = %name);
        Logger {
            name: Cow::Owned(name),
            span,
        }
    }

    /// The crate's logger, named `pulsar_async`: the last fallback of
    /// [`AsyncObject::logger`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pulsar_async::object::Logger::crate_logger().name(), "pulsar_async");
    /// ```
    pub fn crate_logger() -> Self {
        let span =
            tracing::info_span!(target: "pulsar_async", "pulsar_async", logger = CRATE_LOGGER);
        Logger {
            name: Cow::Borrowed(CRATE_LOGGER),
            span,
        }
    }

    /// The logger's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pulsar_async::object::Logger::new("db").name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The span events are logged in.
    ///
    /// # Examples
    ///
    /// ```
    /// let log = pulsar_async::object::Logger::new("db");
    /// let _entered = log.span().enter();
    /// tracing::warn!("slow query");
    /// ```
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Runs `f` inside the logger's span: the events it emits are tagged with the
    /// logger.
    ///
    /// # Examples
    ///
    /// ```
    /// let log = pulsar_async::object::Logger::new("db");
    /// let rows = log.in_scope(|| {
    ///     tracing::debug!("counting rows");
    ///     42
    /// });
    /// assert_eq!(rows, 42);
    /// ```
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.span.in_scope(f)
    }

    /// Wraps `future` so that it runs inside the logger's span each time it is
    /// polled.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `future`: dropping the wrapper drops `future`, nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// let log = pulsar_async::object::Logger::new("db");
    /// let job = log.instrument(async {
    ///     tracing::info!("inside the db logger");
    ///     7
    /// });
    /// assert_eq!(futures::executor::block_on(job), 7);
    /// ```
    pub fn instrument<F: Future>(&self, future: F) -> Instrumented<F> {
        future.instrument(self.span.clone())
    }
}

impl Default for Logger {
    /// The crate's logger, as [`Logger::crate_logger`].
    fn default() -> Self {
        Logger::crate_logger()
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("name", &self.name)
            .field("span", &self.span)
            .finish()
    }
}

/// The interface of objects bound to an event loop: Pulsar's `AsyncObject`.
///
/// Implement [`event_loop`](AsyncObject::event_loop) (Pulsar's `_loop`), and
/// optionally [`own_logger`](AsyncObject::own_logger) (Pulsar's `_logger`); the rest
/// comes with the trait:
/// - [`logger`](AsyncObject::logger): the object's own logger, else its loop's, else
///   the crate's;
/// - [`debug`](AsyncObject::debug): the loop's debug flag, `false` without a loop.
///
/// Methods marked [`#[task]`](crate::task) run on the object's loop, whichever thread
/// calls them.
///
/// The loop is an `Option` because, as in Pulsar, an object may not be bound to a
/// loop (yet): a `#[task]` method of such an object runs on the caller's current
/// loop.
///
/// # Examples
///
/// ```
/// use pulsar_async::{object::Logger, AsyncObject, EventLoop};
///
/// struct Cache {
///     lp: EventLoop,
///     log: Logger,
/// }
///
/// impl AsyncObject for Cache {
///     fn event_loop(&self) -> Option<&EventLoop> {
///         Some(&self.lp)
///     }
///     fn own_logger(&self) -> Option<&Logger> {
///         Some(&self.log)
///     }
/// }
///
/// let lp = EventLoop::builder().name("cache-loop").debug(true).spawn().unwrap();
/// let cache = Cache { lp, log: Logger::new("cache") };
/// assert_eq!(cache.logger().name(), "cache");
/// assert!(cache.debug());
/// cache.logger().in_scope(|| tracing::info!("ready"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `AsyncObject`",
    label = "this type is not bound to an event loop",
    note = "implement `pulsar_async::AsyncObject` for `{Self}`: its `event_loop()` says where its `#[task]` methods run"
)]
pub trait AsyncObject {
    /// The loop this object is bound to (Pulsar's `_loop`), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{AsyncObject, EventLoop};
    /// struct Unbound;
    /// impl AsyncObject for Unbound {
    ///     fn event_loop(&self) -> Option<&EventLoop> {
    ///         None
    ///     }
    /// }
    /// assert!(Unbound.event_loop().is_none());
    /// ```
    fn event_loop(&self) -> Option<&EventLoop>;

    /// The object's own logger (Pulsar's `_logger`); `None` (the default) to use the
    /// loop's.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{object::Logger, AsyncObject, EventLoop};
    /// struct Named(Logger);
    /// impl AsyncObject for Named {
    ///     fn event_loop(&self) -> Option<&EventLoop> {
    ///         None
    ///     }
    ///     fn own_logger(&self) -> Option<&Logger> {
    ///         Some(&self.0)
    ///     }
    /// }
    /// assert_eq!(Named(Logger::new("mine")).own_logger().unwrap().name(), "mine");
    /// ```
    fn own_logger(&self) -> Option<&Logger> {
        None
    }

    /// The logger of this object: its [own](AsyncObject::own_logger), else its
    /// loop's ([`Logger::for_loop`]), else the crate's ([`Logger::crate_logger`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{AsyncObject, EventLoop};
    /// struct Worker(Option<EventLoop>);
    /// impl AsyncObject for Worker {
    ///     fn event_loop(&self) -> Option<&EventLoop> {
    ///         self.0.as_ref()
    ///     }
    /// }
    /// let lp = EventLoop::builder().name("w1").spawn().unwrap();
    /// assert_eq!(Worker(Some(lp)).logger().name(), "w1");
    /// assert_eq!(Worker(None).logger().name(), "pulsar_async");
    /// ```
    fn logger(&self) -> Logger {
        if let Some(own) = self.own_logger() {
            return own.clone();
        }
        match self.event_loop() {
            Some(lp) => Logger::for_loop(lp),
            None => Logger::crate_logger(),
        }
    }

    /// `true` when the object's loop is in debug mode; `false` without a loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{AsyncObject, EventLoop};
    /// struct Worker(Option<EventLoop>);
    /// impl AsyncObject for Worker {
    ///     fn event_loop(&self) -> Option<&EventLoop> {
    ///         self.0.as_ref()
    ///     }
    /// }
    /// let lp = EventLoop::builder().debug(true).spawn().unwrap();
    /// assert!(Worker(Some(lp)).debug());
    /// assert!(!Worker(None).debug());
    /// ```
    fn debug(&self) -> bool {
        self.event_loop().is_some_and(EventLoop::is_debug)
    }

    /// Benchmarks one of the object's asynchronous methods: `call(&object)` is made
    /// `times` times, all started before any is awaited, on the object's loop (or the
    /// current loop when the object has none), and the returned promise resolves to
    /// the [`Bench`]: time taken, latency percentiles, throughput and every result.
    ///
    /// One failing call fails the bench, with that call's index (see
    /// [`CallError`](crate::bench::CallError)). `times == 0` gives an empty bench.
    /// With no loop at all the promise fails at once with
    /// [`ErrorKind::WrongThread`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{task, AsyncObject, EventLoop};
    ///
    /// #[derive(Clone)]
    /// struct Cache { lp: EventLoop }
    ///
    /// impl AsyncObject for Cache {
    ///     fn event_loop(&self) -> Option<&EventLoop> { Some(&self.lp) }
    /// }
    ///
    /// impl Cache {
    ///     #[task]
    ///     async fn get(&self, key: u32) -> u32 {
    ///         tokio::task::yield_now().await;
    ///         key * 2
    ///     }
    /// }
    ///
    /// let cache = Cache { lp: EventLoop::new().unwrap() };
    /// let bench = cache.timeit(100, |c| c.get(21)).wait().unwrap();
    /// assert_eq!(bench.results().len(), 100);
    /// assert!(bench.results().iter().all(|v| *v == 42));
    /// println!("{bench}");
    /// ```
    fn timeit<F, Fut, T, E>(&self, times: usize, mut call: F) -> Promise<Bench<T>>
    where
        Self: Clone + Send + Sized + 'static,
        F: FnMut(&Self) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>> + 'static,
    {
        let Some(lp) = self.event_loop().cloned().or_else(EventLoop::current) else {
            return Promise::failed(Error::new(
                ErrorKind::WrongThread,
                "timeit: the object has no loop and this thread runs none",
            ));
        };
        let object = self.clone();
        Bench::builder(times).spawn(&lp, move |_| call(&object))
    }
}
