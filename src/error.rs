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
    /// The work panicked; the panic message is kept in [`Error::message`].
    Panicked,
    /// A blocking wait that could never return: on the thread of the loop that must
    /// complete the promise, or inside a tokio runtime where blocking stalls the tasks
    /// that would complete it. It fails at once instead; `.await` the promise there.
    WouldDeadlock,
    /// An operation that must run on a loop's own thread was called from another thread.
    WrongThread,
    /// The user's own error, carried as [`std::io::Error`] carries a custom one:
    /// displayed, its chain continued, and reachable with
    /// [`Error::downcast_ref`].
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
/// # How it prints: each message once
///
/// As the Rust API guidelines ask, an error either shows its cause in its own message
/// or returns it as its [`source`](std::error::Error::source), never both, so that
/// `anyhow`, `eyre` and any reporter walking `source()` print every message once:
///
/// | made by | `Display` | `source()` |
/// |---|---|---|
/// | `Error::from(kind)` | the kind: `timed out` | none |
/// | [`Error::new`] | kind and message: `timed out: no answer within 5s` | none |
/// | a panic | `panicked: ` and the panic message | none |
/// | [`Error::user(e)`](Error::user) | `e` itself: `disk on fire` | `e.source()`: the rest of `e`'s chain |
/// | a failure with context (a [bench call](crate::bench::CallError), a [`poll_until`](crate::poll_until) that timed out after an error) | the context: `bench call 3 failed`, `timed out: no value within 5s (12 attempts)` | the error it happened on |
///
/// A user's error is carried the way [`std::io::Error`] carries a custom error: the
/// `Error` shows it and continues its chain, so `anyhow` prints `disk on fire`, not
/// `error: disk on fire`, nor `disk on fire: disk on fire`. It stays reachable, typed,
/// with [`downcast_ref`](Error::downcast_ref).
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
/// assert_eq!(err.to_string(), "disk on fire");
/// assert!(err.source().is_none()); // shown once: the io error has no cause of its own
/// assert!(err.downcast_ref::<std::io::Error>().is_some());
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
    /// An error carried as it is: displays it and continues its chain.
    Transparent(Box<dyn StdError + Send + Sync + 'static>),
    /// A message about a cause: displays `kind: message`; `source()` is the cause.
    Caused {
        message: String,
        cause: Box<dyn StdError + Send + Sync + 'static>,
    },
}

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

    /// Wraps a user's error: kind [`ErrorKind::User`]. The `Error` displays `err` and
    /// its `source()` is `err`'s own source (see [How it prints](Error#how-it-prints-each-message-once));
    /// [`downcast_ref`](Error::downcast_ref) gives `err` back.
    ///
    /// An [`Error`] of this crate passed in (boxed or not) is returned as it is, so
    /// its kind is not lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind};
    /// assert_eq!(Error::user("bad input").kind(), ErrorKind::User);
    /// assert_eq!(Error::user("bad input").to_string(), "bad input");
    /// let cancelled = Error::from(ErrorKind::Cancelled);
    /// assert_eq!(Error::user(cancelled).kind(), ErrorKind::Cancelled);
    /// ```
    pub fn user(err: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        let boxed = err.into();
        match boxed.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::with(ErrorKind::User, Repr::Transparent(other)),
        }
    }

    /// An error of `kind` that displays `context` and continues `context`'s chain: for
    /// a context type whose `Display` says where it happened and whose `source()` is
    /// the error it happened on (a bench's [`CallError`](crate::bench::CallError)).
    pub(crate) fn in_context(
        kind: ErrorKind,
        context: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Error::with(kind, Repr::Transparent(Box::new(context)))
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
            Repr::Transparent(_) => None,
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

    /// The error of type `E` that this error carries: the user's error of
    /// [`Error::user`], a bench's [`CallError`](crate::bench::CallError), or the
    /// cause of an error with context (looked through when it is an `Error` too).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Error;
    /// #[derive(Debug)]
    /// struct Mine;
    /// impl std::fmt::Display for Mine {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("mine") }
    /// }
    /// impl std::error::Error for Mine {}
    /// assert!(Error::user(Mine).downcast_ref::<Mine>().is_some());
    /// ```
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        let carried = match self.inner.as_deref()? {
            Repr::Plain(_) => return None,
            Repr::Transparent(carried) => carried,
            Repr::Caused { cause, .. } => cause,
        };
        match carried.downcast_ref::<E>() {
            Some(found) => Some(found),
            None => carried.downcast_ref::<Error>()?.downcast_ref::<E>(),
        }
    }
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
            Some(Repr::Transparent(carried)) => return fmt::Display::fmt(carried, f),
            None => return fmt::Display::fmt(&self.kind(), f),
            Some(Repr::Plain(message) | Repr::Caused { message, .. }) => message,
        };
        if self.kind() == ErrorKind::User {
            f.write_str(message)
        } else {
            write!(f, "{}: {message}", self.kind())
        }
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
            Some(Repr::Transparent(carried)) => {
                d.field("error", carried);
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
            Repr::Transparent(carried) => carried.source(),
            Repr::Caused { cause, .. } => Some(&**cause as &(dyn StdError + 'static)),
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
    fn context_and_cause_each_print_once() {
        let carried = Error::in_context(ErrorKind::Timeout, Error::user("cause"));
        let caused = Error::caused_by(ErrorKind::Timeout, "late", Error::user("cause"));
        assert_eq!(carried.to_string(), "cause");
        assert!(carried.source().is_none());
        assert_eq!(caused.to_string(), "timed out: late");
        assert_eq!(caused.source().map(|s| s.to_string()), Some("cause".into()));
    }
}
