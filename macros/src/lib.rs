//! The `#[task]` attribute of `pulsar-async`; use it as `pulsar_async::task`, where
//! it is documented.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

use proc_macro::TokenStream;

mod place;
mod task;

/// The attribute is defined in the `pulsar-async-macros` crate and used as
/// `pulsar_async::task`, where it is documented with examples.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    let place = place::of(&item);
    task::expand(args.into(), item.into(), place).into()
}
