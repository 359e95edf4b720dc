//! [`Setter`]: the write-only half of a promise.

use std::fmt;

use super::core::Shared;
use super::describe;
use super::waiters::{self, settle};
use crate::error::{Error, SetError};
use crate::schedule::Job;

/// The write-only half of a promise ([`Promise::setter`](crate::Promise::setter)): it can settle or cancel the
/// promise and tell whether it is done, for any `T`, but it cannot read the outcome,
/// so it is not a reader, and the reader moves a value that is not `Clone` out.
///
/// # Examples
///
/// ```
/// use pulsar_async::Promise;
/// struct NotClone(u8);
///
/// let p = Promise::new();
/// let setter = p.setter();
/// std::thread::spawn(move || setter.set_result(NotClone(7)).ok()).join().unwrap();
/// assert_eq!(p.take_blocking().unwrap().0, 7);
/// ```
pub struct Setter<T> {
    pub(super) core: Shared<T>,
}

impl<T> Setter<T> {
    pub(crate) fn core(&self) -> &Shared<T> {
        &self.core
    }

    /// `true` once the promise is done.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// let s = p.setter();
    /// p.cancel();
    /// assert!(s.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.core.snapshot().is_done()
    }

    /// `true` when the promise was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// assert!(p.setter().cancel());
    /// assert!(p.setter().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.core.snapshot().is_cancelled()
    }

    /// Settles the promise with `value`; see [`Promise::set_result`](crate::Promise::set_result).
    ///
    /// # Errors
    ///
    /// [`SetError`] holding `value` when the promise is already done.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::new();
    /// p.setter().set_result(2).unwrap();
    /// assert_eq!(p.try_result().unwrap(), 2);
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), SetError<T>> {
        self.set(Ok(value))
    }

    /// Settles the promise with `error`; see [`Promise::set_error`](crate::Promise::set_error).
    ///
    /// # Errors
    ///
    /// [`SetError`] when the promise is already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, Promise};
    /// let p = Promise::<u8>::new();
    /// p.setter().set_error(Error::user("no")).unwrap();
    /// assert!(p.try_result().is_err());
    /// ```
    pub fn set_error(&self, error: Error) -> Result<(), SetError<T>> {
        self.set(Err(error))
    }

    /// Settles the promise with an outcome; see [`Promise::set`](crate::Promise::set).
    ///
    /// # Errors
    ///
    /// [`SetError`] when the promise is already done.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::new();
    /// p.setter().set(Ok(3)).unwrap();
    /// assert_eq!(p.try_result().unwrap(), 3);
    /// ```
    #[inline]
    pub fn set(&self, outcome: Result<T, Error>) -> Result<(), SetError<T>> {
        settle(&self.core, outcome).map_err(SetError::new)
    }

    /// Cancels the promise; see [`Promise::cancel`](crate::Promise::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// assert!(p.setter().cancel());
    /// assert!(p.is_cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        waiters::cancel(&self.core, None)
    }

    /// Cancels the promise with a message; see [`Promise::cancel_with`](crate::Promise::cancel_with).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// assert!(p.setter().cancel_with("bye"));
    /// assert!(p.is_cancelled());
    /// ```
    pub fn cancel_with(&self, message: impl Into<String>) -> bool {
        waiters::cancel(&self.core, Some(message.into()))
    }

    /// Registers `hook` to run if the promise is cancelled; runs it at once if it
    /// already was.
    pub(crate) fn on_cancel(&self, hook: Job) {
        waiters::on_cancel(&self.core, hook);
    }
}

impl<T> Clone for Setter<T> {
    fn clone(&self) -> Self {
        Setter {
            core: self.core.clone(),
        }
    }
}

impl<T> fmt::Debug for Setter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setter")
            .field("state", &describe(&self.core))
            .finish()
    }
}
