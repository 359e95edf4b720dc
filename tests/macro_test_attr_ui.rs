//! `#[pulsar_async::test]` at compile time: each case under `tests/ui/test_attr_fail/`
//! is one mistake, and its `.stderr` holds the error, at the mistake, saying what to
//! do (a plain `fn`, arguments, an unknown option, an option's value of the wrong
//! type, `start_paused = true` without the `test-util` feature).
//!
//! Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test macro_test_attr_ui` after a compiler
//! upgrade, and review them. Built without `test-util` only: with it,
//! `start_paused = true` compiles.

#[cfg(not(feature = "test-util"))]
#[test]
fn each_mistake_in_a_test_attribute_is_one_spanned_error_saying_what_to_do() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/test_attr_fail/*.rs");
}
