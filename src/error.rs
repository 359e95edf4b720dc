//! The crate's one error type, [`Error`], the [`ErrorKind`] a caller matches on, and
//! [`SetError`], the error of settling a promise that is already done, which gives the
//! refused outcome back.
//!
//! [`Error`] and [`ErrorKind`] are also at the crate root.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// What went wrong, as a value a caller can `match` on.
///
/// # Examples
///
/// ```
/// use pulsar_async::{ErrorKind, Promise};
///
/// let p = Promise::<u32>::new();
/// p.cancel();
/// assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::Cancelled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The promise, call or task was cancelled before it finished.
    Cancelled,
    /// A deadline passed before the work finished.
    Timeout,
    /// An operation that the current state does not allow: setting a promise twice,
    /// reading the result of a pending one, running a loop that already runs.
    InvalidState,
    /// A bad argument: a loop name with a NUL byte, a bench concurrency limit of 0, a
    /// number of calls too large to allocate for.
    InvalidInput,
    /// The event loop that had to do the work is closed (or was dropped).
    LoopClosed,
    /// The loop that had to do the work holds as many calls as its
    /// [`queue_capacity`](crate::event_loop::Builder::queue_capacity) allows: the call
    /// was refused and never runs. [`EventLoop::reserve`](crate::EventLoop::reserve)
    /// waits for room.
    Full,
    /// The work panicked; the panic message is kept in [`Error::message`].
    Panicked,
    /// A blocking wait that could never return: on the thread of the loop that must
    /// complete the promise, or inside a tokio runtime where blocking stalls the tasks
    /// that would complete it. It fails at once instead; `.await` the promise there.
    WouldDeadlock,
    /// An operation that must run on a loop's own thread was called from another thread.
    WrongThread,
    /// The user's own error, returned by user code (a `try_*` call, a `#[task]`, a
    /// bench call): the [`Error`] says what failed ("the call failed") and its
    /// [`source`](std::error::Error::source) is the user's error itself, reachable by
    /// every `source()` walker and with [`Error::downcast_ref`] / [`Error::downcast`].
    User,
    /// The promise's value was moved out by an await (or a take) on its last reading
    /// handle: the promise stays done for ever, but its value is gone, and every later
    /// read gives this error.
    Taken,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Timeout => "timed out",
            ErrorKind::InvalidState => "invalid state",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::LoopClosed => "event loop closed",
            ErrorKind::Full => "event loop full",
            ErrorKind::Panicked => "panicked",
            ErrorKind::WouldDeadlock => "would deadlock",
            ErrorKind::WrongThread => "wrong thread",
            ErrorKind::User => "error",
            ErrorKind::Taken => "value taken",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The error of every fallible operation in this crate, and the failure a
/// [`Promise`](crate::Promise) resolves to.
///
/// It is cheap to clone (every clone of a promise reads the same error) and carries an
/// [`ErrorKind`] to match on. An error of a kind alone (`Error::from(kind)`) allocates
/// nothing.
///
/// # How it prints: each message once, the user's error in the chain
///
/// Two rules, which every error type of this crate follows (`tests/errors.rs`
/// walks each one):
///
/// 1. **Each message once.** As the Rust API guidelines ask, an error either shows
///    its cause in its own message or returns it as its
///    [`source`](std::error::Error::source), never both, so that `anyhow`, `eyre`,
///    `tracing` and any reporter walking `source()` print every message once.
/// 2. **A user's error is a link of the chain, itself.** An `Err` returned by user
///    code (a [`try_run_in_loop`](crate::try_run_in_loop) call, a `#[task]`, a
///    [`LoopLocal::try_call`](crate::LoopLocal::try_call), a bench call, a gather's
///    input) is the `source()` of the error that carries it, as `reqwest` and
///    `hyper` carry theirs: so anyhow's [`chain()`](https://docs.rs/anyhow/1/anyhow/struct.Error.html#method.chain)
///    and `root_cause()` find it, typed, and `{:#}` prints its message once. (Shown
///    in place instead, the way [`std::io::Error`] shows a custom error, it would be
///    in no chain: an `anyhow::Error` made from it would downcast to this `Error`
///    only, never to the user's type.)
///
/// | made by | `Display` | `source()` |
/// |---|---|---|
/// | `Error::from(kind)` | the kind: `timed out` | none |
/// | [`Error::new`] | kind and message: `timed out: no answer within 5s` | none |
/// | a panic | `panicked: ` and the panic message | none |
/// | [`Error::user(e)`](Error::user), every `Err` of user code | the context: `the call failed` | `e` itself |
/// | a failure with context (a gather's [`KeyedError`](crate::multi::KeyedError), a bench's [`CallError`](crate::bench::CallError), a [`poll_until`](crate::poll_until) that timed out after an error) | the context: `multi_async: input "cake" failed`, `bench call 3 failed`, `timed out: no value within 5s (12 attempts)` | the error it happened on: the user's error itself when it was one |
///
/// [`downcast_ref`](Error::downcast_ref) and [`downcast`](Error::downcast) find the
/// user's error through this crate's wrappers as well (a gather's, a bench's, a
/// broadcast's, nested), without walking the chain by hand.
///
/// # Examples
///
/// ```
/// use pulsar_async::{Error, ErrorKind};
/// use std::error::Error as _;
///
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk on fire");
/// let err = Error::user(io);
/// assert_eq!(err.kind(), ErrorKind::User);
/// assert_eq!(err.to_string(), "the call failed");
/// assert_eq!(err.source().unwrap().to_string(), "disk on fire"); // the io error itself
/// assert!(err.downcast_ref::<std::io::Error>().is_some());
/// ```
///
/// A handler that maps the user's error to a status, after `?` into `anyhow`:
///
/// ```
/// use pulsar_async::EventLoop;
/// use std::collections::HashMap;
///
/// #[derive(Debug)]
/// enum StoreError {
///     NotFound(u32),
/// }
/// impl std::fmt::Display for StoreError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         match self {
///             StoreError::NotFound(id) => write!(f, "room {id} not found"),
///         }
///     }
/// }
/// impl std::error::Error for StoreError {}
///
/// fn room_name(rooms: &pulsar_async::LoopLocal<HashMap<u32, String>>, id: u32) -> anyhow::Result<String> {
///     let name = rooms.try_call(move |r| r.get(&id).cloned().ok_or(StoreError::NotFound(id)));
///     Ok(name.wait()?)
/// }
///
/// fn status(err: &anyhow::Error) -> u16 {
///     match err.chain().find_map(|e| e.downcast_ref::<StoreError>()) {
///         Some(StoreError::NotFound(_)) => 404,
///         None => 500,
///     }
/// }
///
/// let lp = EventLoop::new().unwrap();
/// let rooms = lp.local(|| HashMap::from([(1, "lobby".to_owned())]));
/// assert_eq!(room_name(&rooms, 1).unwrap(), "lobby");
/// let err = room_name(&rooms, 7).unwrap_err();
/// assert_eq!(status(&err), 404);
/// assert_eq!(format!("{err:#}"), "the call failed: room 7 not found"); // once
/// assert!(err.root_cause().is::<StoreError>());
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    /// The message and source, shared behind an `Arc`; none for a kind alone, which
    /// then costs no allocation. (Two words: a `Result<u64, Error>` stays two words,
    /// its tag in the kind's spare values.)
    inner: Option<Arc<Repr>>,
}

/// What an [`Error`] holds besides its kind; each variant is one row of the table in
/// `Error`'s documentation (a kind alone holds nothing: `inner` is `None`).
enum Repr {
    /// The kind with a message: displays `kind: message`; no source.
    Plain(String),
    /// A user's error: displays `context`; `source()` is the user's error itself.
    User {
        context: &'static str,
        error: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// A context of this crate carried as it is: displays it and continues its chain.
    Context(Box<dyn Context>),
    /// A message about a cause: displays `kind: message`; `source()` is the cause.
    Caused {
        message: String,
        cause: Box<dyn StdError + Send + Sync + 'static>,
    },
}

/// A context type of this crate that an [`Error`] carries as it is (it says where
/// the failure happened, its `source()` is the error it happened on): a gather's
/// [`KeyedError`](crate::multi::KeyedError), a bench's
/// [`CallError`](crate::bench::CallError). [`Error::downcast_ref`] and
/// [`Error::downcast`] look through it to the one `Error` it wraps.
pub(crate) trait Context: StdError + Send + Sync + 'static {
    /// The error it wraps.
    fn inner(&self) -> &Error;
    /// The error it wraps, to move a user's error out of it.
    fn inner_mut(&mut self) -> &mut Error;
}

/// What is left in a link whose error [`Error::downcast`] moved out (the rest of
/// the error is dropped right after).
#[derive(Debug)]
struct Vacated(Error);

impl fmt::Display for Vacated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(moved out)")
    }
}

impl StdError for Vacated {}

impl Context for Vacated {
    fn inner(&self) -> &Error {
        &self.0
    }
    fn inner_mut(&mut self) -> &mut Error {
        &mut self.0
    }
}

/// What an `Error` of kind `User` made by [`Error::user`] displays.
const CALL_FAILED: &str = "the call failed";

impl Error {
    /// An error of `kind` with a message saying what happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::Timeout, "no answer within 5s");
    /// assert_eq!(e.to_string(), "timed out: no answer within 5s");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::with(kind, Repr::Plain(message.into()))
    }

    /// Wraps a user's error: kind [`ErrorKind::User`]. The `Error` displays `the call
    /// failed` and its `source()` is `err` itself (see [How it
    /// prints](Error#how-it-prints-each-message-once-the-users-error-in-the-chain));
    /// [`downcast_ref`](Error::downcast_ref) and [`downcast`](Error::downcast) give
    /// `err` back. Every entry point that runs user code makes its `Err` into an
    /// `Error` this way.
    ///
    /// An [`Error`] of this crate passed in (boxed or not) is returned as it is, so
    /// its kind is not lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind};
    /// use std::error::Error as _;
    /// let err = Error::user("bad input");
    /// assert_eq!(err.kind(), ErrorKind::User);
    /// assert_eq!(err.to_string(), "the call failed");
    /// assert_eq!(err.source().unwrap().to_string(), "bad input");
    /// let cancelled = Error::from(ErrorKind::Cancelled);
    /// assert_eq!(Error::user(cancelled).kind(), ErrorKind::Cancelled);
    /// ```
    pub fn user(err: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        let boxed = err.into();
        match boxed.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(error) => Error::with(
                ErrorKind::User,
                Repr::User {
                    context: CALL_FAILED,
                    error,
                },
            ),
        }
    }

    /// An error of `kind` that displays `context` and continues `context`'s chain: for
    /// a context type of this crate whose `Display` says where it happened and whose
    /// `source()` is the error it happened on (a bench's
    /// [`CallError`](crate::bench::CallError)).
    pub(crate) fn in_context(kind: ErrorKind, context: impl Context) -> Self {
        Error::with(kind, Repr::Context(Box::new(context)))
    }

    /// An error of `kind` whose message says what happened and whose `source()` is
    /// the error that caused it.
    pub(crate) fn caused_by(
        kind: ErrorKind,
        message: impl Into<String>,
        cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Error::with(
            kind,
            Repr::Caused {
                message: message.into(),
                cause: cause.into(),
            },
        )
    }

    fn with(kind: ErrorKind, repr: Repr) -> Self {
        Error {
            kind,
            inner: Some(Arc::new(repr)),
        }
    }

    /// What a context of this crate returns as its `source()` for this error: the
    /// user's error itself when this one only carries it (its "the call failed" says
    /// nothing the context does not), else this error.
    pub(crate) fn as_link(&self) -> &(dyn StdError + 'static) {
        match self.inner.as_deref() {
            Some(Repr::User { error, .. }) => &**error,
            _ => self,
        }
    }

    /// The error every read of a promise gets once its value was moved out (the
    /// taken state): a kind alone, so making it costs nothing.
    #[inline]
    pub(crate) fn taken() -> Self {
        Error::from(ErrorKind::Taken)
    }

    /// The error of a panic, with the panic's message when it was a string. The payload
    /// is only read: [`crate::panic`] drops it, under a guard.
    pub(crate) fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-string payload".to_owned()
        };
        Error::new(ErrorKind::Panicked, message)
    }

    /// What kind of error this is.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind};
    /// assert_eq!(Error::from(ErrorKind::LoopClosed).kind(), ErrorKind::LoopClosed);
    /// ```
    #[inline]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message given when the error was made (for a panic, the panic message);
    /// `None` for a bare kind and for a user's error, which has its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::InvalidState, "already set");
    /// assert_eq!(e.message(), Some("already set"));
    /// assert_eq!(Error::user("mine").message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        match self.inner.as_deref()? {
            Repr::Plain(message) | Repr::Caused { message, .. } => Some(message),
            Repr::User { .. } | Repr::Context(_) => None,
        }
    }

    /// `true` for [`ErrorKind::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind};
    /// assert!(Error::from(ErrorKind::Cancelled).is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// The error of type `E` that this error carries, found through this crate's
    /// wrappers: the user's error of [`Error::user`] (every `Err` of user code), a
    /// gather's [`KeyedError`](crate::multi::KeyedError) and the input's error it
    /// carries, a bench's [`CallError`](crate::bench::CallError) and the call's
    /// error, a [`broadcast`](crate::LoopPool::broadcast)'s, the error a
    /// [`poll_until`](crate::poll_until) timed out after, and any nesting of these.
    /// It does not look inside the user's own error (its own `source()` chain is the
    /// user's to walk).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, Error, Promise};
    /// #[derive(Debug)]
    /// struct Mine;
    /// impl std::fmt::Display for Mine {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("mine") }
    /// }
    /// impl std::error::Error for Mine {}
    /// assert!(Error::user(Mine).downcast_ref::<Mine>().is_some());
    /// // Through a gather's error, which names the input that failed:
    /// let gathered = multi_async(vec![Promise::<u8>::resolved(1), Promise::failed(Error::user(Mine))]);
    /// assert!(gathered.try_result().unwrap_err().downcast_ref::<Mine>().is_some());
    /// ```
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        let mut err = self;
        loop {
            match err.inner.as_deref()? {
                Repr::Plain(_) => return None,
                Repr::User { error, .. } => return error.downcast_ref::<E>(),
                Repr::Context(context) => {
                    let shown: &(dyn StdError + 'static) = &**context;
                    if let Some(found) = shown.downcast_ref::<E>() {
                        return Some(found);
                    }
                    err = context.inner();
                }
                Repr::Caused { cause, .. } => {
                    if let Some(found) = cause.downcast_ref::<E>() {
                        return Some(found);
                    }
                    err = cause.downcast_ref::<Error>()?;
                }
            }
        }
    }

    /// The error of type `E` that this error carries (found as
    /// [`downcast_ref`](Error::downcast_ref) finds it), moved out, as
    /// [`std::io::Error::downcast`] does; or this error, untouched, when it carries
    /// none.
    ///
    /// Moving out needs this `Error` to be the only handle to what it carries: an
    /// `Error` is cheap to clone because its clones share it, and a promise keeps a
    /// clone of its error for every handle of it (and, until it lets go, for the
    /// loop's call that settled it). While another clone lives, the error comes back
    /// untouched too: read it in place with [`downcast_ref`](Error::downcast_ref).
    ///
    /// # Errors
    ///
    /// This error, untouched, when no `E` could be moved out.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi_async, Error, Promise};
    /// use std::num::ParseIntError;
    ///
    /// let bad = "x".parse::<u8>().unwrap_err();
    /// let all = multi_async(vec![Promise::<u8>::resolved(1), Promise::failed(Error::user(bad))]);
    /// let err = all.try_result().unwrap_err();
    /// drop(all); // the gather's promise held a clone of its error
    /// let err = err.downcast::<std::io::Error>().unwrap_err(); // none in it: given back
    /// let parse: ParseIntError = err.downcast().unwrap(); // by value, through the gather's error
    /// assert_eq!(parse.to_string(), "invalid digit found in string");
    ///
    /// let shared = Error::user("x".parse::<u8>().unwrap_err());
    /// let clone = shared.clone();
    /// assert!(shared.downcast::<ParseIntError>().is_err()); // a clone lives: untouched
    /// assert!(clone.downcast::<ParseIntError>().is_ok()); // the last one moves it out
    /// ```
    pub fn downcast<E: StdError + Send + Sync + 'static>(mut self) -> Result<E, Error> {
        if self.downcast_ref::<E>().is_none() {
            return Err(self);
        }
        match self.take_carried::<E>() {
            Some(found) => Ok(found),
            None => Err(self),
        }
    }

    /// Moves out the `E` that [`downcast_ref`](Error::downcast_ref) finds, if every
    /// link on the way to it is owned by this error alone; `None` (and nothing moved)
    /// otherwise.
    fn take_carried<E: StdError + Send + Sync + 'static>(&mut self) -> Option<E> {
        let mut err = self;
        loop {
            match Arc::get_mut(err.inner.as_mut()?)? {
                Repr::Plain(_) => return None,
                Repr::User { error, .. } => return take_boxed(error),
                Repr::Context(context) => {
                    let found = {
                        let context: &(dyn StdError + 'static) = &**context;
                        context.is::<E>()
                    };
                    if found {
                        let taken: Box<dyn Context> = std::mem::replace(
                            context,
                            Box::new(Vacated(Error::from(ErrorKind::User))),
                        );
                        let taken: Box<dyn StdError + Send + Sync> = taken;
                        return taken.downcast::<E>().ok().map(|e| *e);
                    }
                    err = context.inner_mut();
                }
                Repr::Caused { cause, .. } => {
                    if cause.is::<E>() {
                        return take_boxed(cause);
                    }
                    err = cause.downcast_mut::<Error>()?;
                }
            }
        }
    }
}

/// Moves the `E` out of `slot`, leaving a placeholder; `None` (untouched) if it holds
/// another type.
fn take_boxed<E: StdError + Send + Sync + 'static>(
    slot: &mut Box<dyn StdError + Send + Sync + 'static>,
) -> Option<E> {
    if !slot.is::<E>() {
        return None;
    }
    let taken = std::mem::replace(slot, Box::new(Vacated(Error::from(ErrorKind::User))));
    taken.downcast::<E>().ok().map(|e| *e)
}

impl From<ErrorKind> for Error {
    #[inline]
    fn from(kind: ErrorKind) -> Self {
        Error { kind, inner: None }
    }
}

impl PartialEq<ErrorKind> for Error {
    fn eq(&self, other: &ErrorKind) -> bool {
        self.kind() == *other
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self.inner.as_deref() {
            None => return fmt::Display::fmt(&self.kind(), f),
            Some(Repr::User { context, .. }) => return f.write_str(context),
            Some(Repr::Context(context)) => return fmt::Display::fmt(context, f),
            Some(Repr::Plain(message) | Repr::Caused { message, .. }) => message,
        };
        write!(f, "{}: {message}", self.kind())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind());
        match self.inner.as_deref() {
            None => {}
            Some(Repr::Plain(message)) => {
                d.field("message", message);
            }
            Some(Repr::User { context, error }) => {
                d.field("context", context).field("error", error);
            }
            Some(Repr::Context(context)) => {
                d.field("context", context);
            }
            Some(Repr::Caused { message, cause }) => {
                d.field("message", message).field("cause", cause);
            }
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self.inner.as_deref()? {
            Repr::Plain(_) => None,
            Repr::User { error, .. } => Some(&**error as &(dyn StdError + 'static)),
            Repr::Context(context) => context.source(),
            Repr::Caused { cause, .. } => Some(match cause.downcast_ref::<Error>() {
                Some(ours) => ours.as_link(),
                None => &**cause as &(dyn StdError + 'static),
            }),
        }
    }
}

/// The error returned when a promise could not be settled; it gives the outcome back.
///
/// # Examples
///
/// ```
/// use pulsar_async::{error::SetError, ErrorKind, Promise};
///
/// let p = Promise::new();
/// p.cancel();
/// let err: SetError<&str> = p.set_result("late").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidState);
/// assert_eq!(err.into_inner().unwrap(), "late");
/// ```
pub struct SetError<T> {
    outcome: Result<T, Error>,
}

impl<T> SetError<T> {
    /// The error of refusing `outcome`.
    pub(crate) fn new(outcome: Result<T, Error>) -> Self {
        SetError { outcome }
    }

    /// Always [`ErrorKind::InvalidState`]: the promise was already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, Promise};
    /// let p = Promise::resolved(1);
    /// assert_eq!(p.set_result(2).unwrap_err().kind(), ErrorKind::InvalidState);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidState
    }

    /// The outcome that could not be stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::resolved("first");
    /// let refused = p.set_result("second").unwrap_err();
    /// assert_eq!(refused.into_inner().unwrap(), "second");
    /// ```
    pub fn into_inner(self) -> Result<T, Error> {
        self.outcome
    }
}

impl<T> fmt::Debug for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid state: the promise is already done")
    }
}

impl<T> StdError for SetError<T> {}

impl<T> From<SetError<T>> for Error {
    fn from(_: SetError<T>) -> Error {
        Error::new(ErrorKind::InvalidState, "the promise is already done")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_of_both_string_types_keep_their_message() {
        let a = Error::from_panic(&"static");
        let b = Error::from_panic(&String::from("owned"));
        assert_eq!(a.message(), Some("static"));
        assert_eq!(b.message(), Some("owned"));
        assert_eq!(a.kind(), ErrorKind::Panicked);
    }

    #[test]
    fn an_error_of_a_kind_alone_keeps_its_kind_and_displays_it() {
        let e = Error::from(ErrorKind::Taken);
        assert!(e.inner.is_none(), "no allocation");
        assert_eq!(e.kind(), ErrorKind::Taken);
        assert_eq!((e.message(), e.to_string().as_str()), (None, "value taken"));
        assert!(StdError::source(&e).is_none());
    }

    #[test]
    fn a_cause_prints_once_and_a_users_cause_is_its_source_itself() {
        let caused = Error::caused_by(ErrorKind::Timeout, "late", Error::user("cause"));
        assert_eq!(caused.to_string(), "timed out: late");
        assert_eq!(caused.source().map(|s| s.to_string()), Some("cause".into()));
    }
}
