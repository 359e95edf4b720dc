//! [`WeakPromise`]: a handle that does not keep its promise alive.

use std::fmt;

use super::core::{Reader, WeakShared};
use super::{Promise, Setter};

/// A handle that does not keep its promise alive ([`Promise::downgrade`]).
///
/// # Examples
///
/// ```
/// use pulsar_async::Promise;
/// let p = Promise::<u8>::new();
/// let weak = p.downgrade();
/// // A callback that needs its own promise captures the weak handle: no cycle.
/// p.add_done_callback(move |_| assert!(weak.setter().is_some()));
/// p.set_result(1).unwrap();
/// ```
pub struct WeakPromise<T> {
    pub(super) core: WeakShared<T>,
}

impl<T> WeakPromise<T> {
    /// A reading handle, while the promise is alive (a second reader, so `T: Clone`).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::resolved(5);
    /// assert_eq!(p.downgrade().upgrade().unwrap().try_result().unwrap(), 5);
    /// ```
    pub fn upgrade(&self) -> Option<Promise<T>>
    where
        T: Clone,
    {
        let core = self.core.upgrade()?;
        Some(Promise::from_reader(Reader::adopt(core)))
    }

    /// A write-only handle, while the promise is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// p.downgrade().setter().unwrap().set_result(1).unwrap();
    /// assert_eq!(p.try_result().unwrap(), 1);
    /// ```
    pub fn setter(&self) -> Option<Setter<T>> {
        self.core.upgrade().map(|core| Setter { core })
    }
}

impl<T> Clone for WeakPromise<T> {
    fn clone(&self) -> Self {
        WeakPromise {
            core: self.core.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakPromise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakPromise")
    }
}
