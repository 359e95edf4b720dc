//! [`Gather`]: the containers [`multi_async`](crate::multi_async) gathers, taken apart
//! into keyed entries and rebuilt, with the same keys in the same order, around other
//! values: `Vec`, `VecDeque`, arrays, `HashMap`, `BTreeMap`, and `indexmap::IndexMap`
//! with the `indexmap` feature.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, Hash};

use crate::error::{Error, ErrorKind};

/// A container that [`multi_async`](crate::multi_async) can gather: it comes apart
/// into keyed entries and is rebuilt, with the same keys in the same order, around
/// other values.
///
/// Implemented for `Vec`, `VecDeque` and arrays (keyed by index), `HashMap` (with any
/// hasher that is `Clone`, the very hasher is kept), `BTreeMap`, and `indexmap::IndexMap`
/// with the `indexmap` feature. Any iterator gathers into a `Vec` through
/// [`MultiFuture`](crate::MultiFuture)'s `FromIterator`. Implement it for a container
/// of your own to gather it the same way.
///
/// # Examples
///
/// ```
/// use pulsar_async::{gather::Gather, multi_async, Error};
///
/// /// A pair, gathered as a pair.
/// #[derive(Clone, Debug, PartialEq)]
/// struct Pair<V>(V, V);
///
/// impl<V> Gather for Pair<V> {
///     type Key = usize;
///     type Value = V;
///     type Shape = ();
///     type Entries = std::iter::Enumerate<std::array::IntoIter<V, 2>>;
///     type Output<W> = Pair<W>;
///
///     fn into_entries(self) -> ((), Self::Entries) {
///         ((), [self.0, self.1].into_iter().enumerate())
///     }
///
///     fn rebuild<W>(
///         _: (),
///         _len: usize,
///         entries: impl Iterator<Item = (usize, W)>,
///     ) -> Result<Pair<W>, Error> {
///         let mut values = entries.map(|(_, w)| w);
///         match (values.next(), values.next()) {
///             (Some(a), Some(b)) => Ok(Pair(a, b)),
///             _ => Err(Error::user("a pair needs two values")),
///         }
///     }
/// }
///
/// let pair = multi_async(Pair(Ok(1), Ok(2))).try_result().unwrap();
/// assert_eq!(pair, Pair(1, 2));
/// ```
pub trait Gather {
    /// What names an entry: its index for a sequence, its key for a map. It is what
    /// [`MultiFuture::failures`](crate::MultiFuture::failures) reports.
    type Key;
    /// The values held, each ready now or promised.
    type Value;
    /// What the container needs, besides its entries, to be rebuilt: a map's hasher,
    /// or `()`.
    type Shape;
    /// The entries, in the container's own order.
    type Entries: Iterator<Item = (Self::Key, Self::Value)>;
    /// The same kind of container holding `W`s instead.
    type Output<W>;

    /// Takes the container apart.
    fn into_entries(self) -> (Self::Shape, Self::Entries);

    /// `true` if `test` holds for every value, looked at in place. A gather whose
    /// values are all ready uses it to build its output in one pass, without a slot
    /// per entry. The default, `false`, always takes the general path.
    fn all_values(&self, test: impl FnMut(&Self::Value) -> bool) -> bool {
        let _ = test;
        false
    }

    /// Builds the output from `shape` and the `len` entries of `entries`, given back
    /// in the order [`into_entries`](Gather::into_entries) produced them.
    ///
    /// # Errors
    ///
    /// When the entries cannot make such a container (an array given the wrong
    /// number of them: [`ErrorKind::InvalidInput`]); [`multi_async`](crate::multi_async)
    /// never does that, but a gather that fails stops giving entries early.
    fn rebuild<W>(
        shape: Self::Shape,
        len: usize,
        entries: impl Iterator<Item = (Self::Key, W)>,
    ) -> Result<Self::Output<W>, Error>;
}

/// `Gather` for a sequence: entries keyed by index, rebuilt in order by `$rebuild`
/// from the number of entries and an iterator of the values.
macro_rules! gather_sequence {
    (
        impl<V $(, const $n:ident: usize)?> for $seq:ty, $into_iter:ty => $out:ty,
        |$len:pat_param, $values:ident| $rebuild:block
    ) => {
        impl<V $(, const $n: usize)?> Gather for $seq {
            type Key = usize;
            type Value = V;
            type Shape = ();
            type Entries = std::iter::Enumerate<$into_iter>;
            type Output<W> = $out;

            fn into_entries(self) -> ((), Self::Entries) {
                ((), self.into_iter().enumerate())
            }

            fn all_values(&self, test: impl FnMut(&V) -> bool) -> bool {
                self.iter().all(test)
            }

            fn rebuild<W>(
                _: (),
                $len: usize,
                entries: impl Iterator<Item = (usize, W)>,
            ) -> Result<$out, Error> {
                let $values = entries.map(|(_, w)| w);
                $rebuild
            }
        }
    };
}

// `collect`, not `extend` into a new `Vec`: the values are then written in place of
// the entries, in the input's own allocation, when they fit (std's in-place collect).
gather_sequence!(impl<V> for Vec<V>, std::vec::IntoIter<V> => Vec<W>, |_, values| {
    Ok(values.collect())
});
gather_sequence!(
    impl<V> for VecDeque<V>, std::collections::vec_deque::IntoIter<V> => VecDeque<W>,
    |len, values| {
        let mut out = VecDeque::with_capacity(len);
        out.extend(values);
        Ok(out)
    }
);
gather_sequence!(
    impl<V, const N: usize> for [V; N], std::array::IntoIter<V, N> => [W; N],
    |_, values| {
        let values: Vec<W> = values.collect();
        values.try_into().map_err(|values: Vec<W>| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("an array of {N} cannot be rebuilt from {} values", values.len()),
            )
        })
    }
);

/// `Gather` for a map with a hasher: entries keyed by key, rebuilt with a clone of
/// the very hasher it had.
macro_rules! gather_hashed_map {
    ($(#[$attr:meta])* $map:ident in $($path:ident)::*, $into_iter:ty) => {
        $(#[$attr])*
        impl<K, V, S> Gather for $($path::)*$map<K, V, S>
        where
            K: Eq + Hash,
            S: BuildHasher + Clone,
        {
            type Key = K;
            type Value = V;
            type Shape = S;
            type Entries = $into_iter;
            type Output<W> = $($path::)*$map<K, W, S>;

            fn into_entries(self) -> (S, Self::Entries) {
                (self.hasher().clone(), self.into_iter())
            }

            fn all_values(&self, test: impl FnMut(&V) -> bool) -> bool {
                self.values().all(test)
            }

            fn rebuild<W>(
                hasher: S,
                len: usize,
                entries: impl Iterator<Item = (K, W)>,
            ) -> Result<Self::Output<W>, Error> {
                let mut out = $($path::)*$map::with_capacity_and_hasher(len, hasher);
                out.extend(entries);
                Ok(out)
            }
        }
    };
}

gather_hashed_map!(HashMap in std::collections, std::collections::hash_map::IntoIter<K, V>);
gather_hashed_map!(
    #[cfg(feature = "indexmap")]
    IndexMap in indexmap, indexmap::map::IntoIter<K, V>
);

impl<K: Ord, V> Gather for BTreeMap<K, V> {
    type Key = K;
    type Value = V;
    type Shape = ();
    type Entries = std::collections::btree_map::IntoIter<K, V>;
    type Output<W> = BTreeMap<K, W>;

    fn into_entries(self) -> ((), Self::Entries) {
        ((), self.into_iter())
    }

    fn all_values(&self, test: impl FnMut(&V) -> bool) -> bool {
        self.values().all(test)
    }

    fn rebuild<W>(
        _: (),
        _len: usize,
        entries: impl Iterator<Item = (K, W)>,
    ) -> Result<BTreeMap<K, W>, Error> {
        Ok(entries.collect())
    }
}

/// Any iterator, gathered into a `Vec` (see `MultiFuture`'s `FromIterator`).
pub(crate) struct Seq<I>(pub(crate) I);

impl<I: Iterator> Gather for Seq<I> {
    type Key = usize;
    type Value = I::Item;
    type Shape = ();
    type Entries = std::iter::Enumerate<I>;
    type Output<W> = Vec<W>;

    fn into_entries(self) -> ((), Self::Entries) {
        ((), self.0.enumerate())
    }

    fn rebuild<W>(
        shape: (),
        len: usize,
        entries: impl Iterator<Item = (usize, W)>,
    ) -> Result<Vec<W>, Error> {
        <Vec<W> as Gather>::rebuild(shape, len, entries)
    }
}
