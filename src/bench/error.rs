//! [`CallError`]: what a bench's error carries when one of its calls failed.

use std::error::Error as StdError;
use std::fmt;

use crate::error::{Context, Error};

/// What a bench's [`Error`] carries when one of its calls failed: the call's index and
/// its own error.
///
/// It prints once, in two links: `bench call 2 failed`, then (as its
/// [`source`](std::error::Error::source)) the call's error. The bench's `Error` has
/// the call's [`ErrorKind`](crate::ErrorKind), displays this context, and continues
/// its chain, so `anyhow` prints `bench call 2 failed: timed out`.
///
/// # Examples
///
/// ```
/// use pulsar_async::{bench::CallError, Bench, Error, ErrorKind};
/// use std::error::Error as _;
///
/// # futures::executor::block_on(async {
/// let err = Bench::builder(4)
///     .run(|i| async move {
///         if i == 2 { Err(Error::from(ErrorKind::Timeout)) } else { Ok(()) }
///     })
///     .await
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Timeout); // the call's kind is kept
/// let call = err.downcast_ref::<CallError>().unwrap();
/// assert_eq!(call.index(), 2);
/// assert_eq!(call.error().kind(), ErrorKind::Timeout);
/// assert_eq!(err.to_string(), "bench call 2 failed");
/// assert_eq!(err.source().unwrap().to_string(), "timed out");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct CallError {
    index: usize,
    error: Error,
}

impl CallError {
    /// The index of the call that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{bench::CallError, Bench, Error};
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(1).run(|_| async { Err::<(), _>(Error::user("x")) }).await.unwrap_err();
    /// assert_eq!(err.downcast_ref::<CallError>().unwrap().index(), 0);
    /// # });
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The call's own error.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{bench::CallError, Bench, Error, ErrorKind};
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(1).run(|_| async { Err::<(), _>(Error::user("x")) }).await.unwrap_err();
    /// assert_eq!(err.downcast_ref::<CallError>().unwrap().error().kind(), ErrorKind::User);
    /// # });
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The index of the failed call behind a bench's `error`; `None` when the error
    /// is not a failed call's.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{bench::CallError, Bench, Error, ErrorKind};
    /// # futures::executor::block_on(async {
    /// let err = Bench::builder(9).run(|i| async move {
    ///     if i == 7 { panic!("seven") }
    ///     Ok::<_, Error>(())
    /// }).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Panicked);
    /// assert_eq!(CallError::index_of(&err), Some(7));
    /// assert_eq!(CallError::index_of(&Error::user("other")), None);
    /// # });
    /// ```
    pub fn index_of(error: &Error) -> Option<usize> {
        error.downcast_ref::<CallError>().map(CallError::index)
    }

    /// The bench's error for call `index` failing with `error`.
    pub(super) fn into_error(index: usize, error: Error) -> Error {
        Error::in_context(error.kind(), CallError { index, error })
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bench call {} failed", self.index)
    }
}

impl StdError for CallError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.error.as_link())
    }
}

impl Context for CallError {
    fn inner(&self) -> &Error {
        &self.error
    }
    fn inner_mut(&mut self) -> &mut Error {
        &mut self.error
    }
}
