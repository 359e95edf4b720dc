//! [`KeyedError`]: what the error of a failed [`multi_async`](crate::multi_async)
//! carries: the key (or index) of the input that failed, and that input's error.

use std::error::Error as StdError;
use std::fmt;

use crate::error::{Context, Error};

/// What the error of a [`multi_async`](crate::multi_async) carries when one of its
/// inputs failed: that input's key (its index for a `Vec`, `VecDeque`, array or
/// iterator; its key for a `HashMap`, `BTreeMap` or `IndexMap`) and its own error.
///
/// It prints once, in two links (see [how an `Error` prints](Error#how-it-prints-each-message-once)):
/// `multi_async: input "cake" failed` (the key's `Debug`), then, as its
/// [`source`](std::error::Error::source), the input's error. The gather's `Error` has
/// the input's [`ErrorKind`](crate::ErrorKind), displays this context and continues
/// its chain, so `anyhow` prints `multi_async: input "cake" failed: disk on fire`.
/// Get it back typed with `error.downcast_ref::<KeyedError<K>>()`, where `K` is the
/// container's key type, or the key alone with [`KeyedError::key_of`].
///
/// A [`broadcast`](crate::LoopPool::broadcast) fails with a `KeyedError<usize>` too,
/// keyed by the loop's index and named for what failed: `broadcast: the call on loop 1
/// failed`.
///
/// [`multi_async_settled`](crate::multi_async_settled) keeps each failure in its slot
/// as it is, with no context: the slot already says which input it was.
///
/// In nested gathers whose keys have the same type, the outer gather's error names
/// its own key, and its source is the innermost input's error (the error is
/// re-keyed, not wrapped once per level, so that a gather nested 100,000 deep makes
/// an error one link deep: `tests/promise_depth.rs`).
///
/// # Examples
///
/// ```
/// use pulsar_async::{multi::KeyedError, multi_async, Error, ErrorKind, Promise};
/// use std::collections::HashMap;
/// use std::error::Error as _;
///
/// let (tea, cake) = (Promise::<u8>::new(), Promise::<u8>::new());
/// let all = multi_async(HashMap::from([("tea", tea.clone()), ("cake", cake.clone())]));
/// cake.set_error(Error::user("oven broke")).unwrap();
///
/// let err = all.wait().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::User); // the input's kind is kept
/// assert_eq!(err.to_string(), r#"multi_async: input "cake" failed"#);
/// assert_eq!(err.source().unwrap().to_string(), "oven broke");
/// let keyed = err.downcast_ref::<KeyedError<&str>>().unwrap();
/// assert_eq!(*keyed.key(), "cake");
/// assert_eq!(keyed.error().source().unwrap().to_string(), "oven broke");
/// assert_eq!(KeyedError::<&str>::key_of(&err), Some(&"cake"));
/// ```
#[derive(Clone)]
pub struct KeyedError<K> {
    key: K,
    error: Error,
    /// Which gather failed: it names itself in the message.
    from: Gathered,
}

/// What made the gather whose input failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gathered {
    /// [`multi_async`](crate::multi_async) and `MultiFuture`'s `collect`.
    MultiAsync,
    /// [`LoopPool::broadcast`](crate::LoopPool::broadcast) and
    /// [`PoolLocal::broadcast`](crate::pool::PoolLocal::broadcast): the key is the loop's index.
    Broadcast,
}

impl<K> KeyedError<K> {
    /// The key (or index) of the input that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi::KeyedError, multi_async, Error, MaybeAsync};
    /// let err = multi_async(vec![MaybeAsync::ready(1), MaybeAsync::failed(Error::user("no"))])
    ///     .try_result()
    ///     .unwrap_err();
    /// assert_eq!(*err.downcast_ref::<KeyedError<usize>>().unwrap().key(), 1);
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The input's own error, as it failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi::KeyedError, multi_async, Error, ErrorKind, Promise};
    /// let err = multi_async([Promise::<u8>::failed(Error::from(ErrorKind::Timeout))])
    ///     .try_result()
    ///     .unwrap_err();
    /// let keyed = err.downcast_ref::<KeyedError<usize>>().unwrap();
    /// assert_eq!(keyed.error().kind(), ErrorKind::Timeout);
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Gives back the key and the input's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi::KeyedError, multi_async, Error, ErrorKind, Promise};
    /// use std::collections::BTreeMap;
    /// let err = multi_async(BTreeMap::from([(7u32, Promise::<u8>::failed(Error::user("x")))]))
    ///     .try_result()
    ///     .unwrap_err();
    /// let (key, error) = err.downcast_ref::<KeyedError<u32>>().unwrap().clone().into_parts();
    /// assert_eq!((key, error.kind()), (7, ErrorKind::User));
    /// ```
    pub fn into_parts(self) -> (K, Error) {
        (self.key, self.error)
    }
}

impl<K: fmt::Debug + Send + Sync + 'static> KeyedError<K> {
    /// The key of the failed input behind a gather's `error`; `None` when the error is
    /// not a failed input's, or its key is not a `K`.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{multi::KeyedError, multi_async, Error, Promise};
    /// let err = multi_async(vec![Promise::<u8>::failed(Error::user("x"))]).try_result().unwrap_err();
    /// assert_eq!(KeyedError::<usize>::key_of(&err), Some(&0));
    /// assert_eq!(KeyedError::<String>::key_of(&err), None); // keyed by index, not String
    /// assert_eq!(KeyedError::<usize>::key_of(&Error::user("other")), None);
    /// ```
    pub fn key_of(error: &Error) -> Option<&K> {
        error.downcast_ref::<KeyedError<K>>().map(KeyedError::key)
    }

    /// The gather's error for input `key` failing with `error`: it keeps `error`'s
    /// kind. An `error` that already names a key of this type (an inner gather's) is
    /// re-keyed, not wrapped again: nested gathers make an error one link deep, not
    /// one link per level (whose drop would recurse that deep).
    pub(crate) fn into_error(key: K, error: Error) -> Error {
        KeyedError::keyed(key, error, Gathered::MultiAsync)
    }

    /// The error of a broadcast whose call on loop `key` failed with `error`: as
    /// [`into_error`](KeyedError::into_error), naming the broadcast and the loop.
    pub(crate) fn into_broadcast_error(key: K, error: Error) -> Error {
        KeyedError::keyed(key, error, Gathered::Broadcast)
    }

    fn keyed(key: K, error: Error, from: Gathered) -> Error {
        let error = match error.downcast_ref::<KeyedError<K>>() {
            Some(inner) => inner.error.clone(),
            None => error,
        };
        Error::in_context(error.kind(), KeyedError { key, error, from })
    }
}

impl<K: fmt::Debug> fmt::Debug for KeyedError<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedError")
            .field("key", &self.key)
            .field("error", &self.error)
            .finish()
    }
}

impl<K: fmt::Debug> fmt::Display for KeyedError<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Gathered::MultiAsync => write!(f, "multi_async: input {:?} failed", self.key),
            Gathered::Broadcast => write!(f, "broadcast: the call on loop {:?} failed", self.key),
        }
    }
}

impl<K: fmt::Debug> StdError for KeyedError<K> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.error.as_link())
    }
}

impl<K: fmt::Debug + Send + Sync + 'static> Context for KeyedError<K> {
    fn inner(&self) -> &Error {
        &self.error
    }
    fn inner_mut(&mut self) -> &mut Error {
        &mut self.error
    }
}
