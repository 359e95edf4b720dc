//! `#[task]` at compile time: what it wraps, and the errors for what it cannot.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test task_macro`
//! after a compiler upgrade, and review them.

#[test]
fn task_wraps_methods_and_functions_and_explains_what_it_cannot_wrap() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
