//! The `#[task]` and `#[test]` attributes of `pulsar-async`; use them as
//! `pulsar_async::task` and `pulsar_async::test`, where they are documented.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

use proc_macro::TokenStream;

mod place;
mod task;
mod test_attr;

/// The attribute is defined in the `pulsar-async-macros` crate and used as
/// `pulsar_async::task`, where it is documented with examples.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    let place = place::of(&item);
    task::expand(args.into(), item.into(), place).into()
}

/// The attribute is defined in the `pulsar-async-macros` crate and used as
/// `pulsar_async::test`, where it is documented with examples.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(args.into(), item.into()).into()
}
