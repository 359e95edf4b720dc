//! `#[task]` at compile time: what it wraps, and the errors for what it cannot; and
//! the other compile errors of the crate's entry points. Each case under
//! `tests/ui/fail/` is one mistake, and its `.stderr` holds one error saying what to
//! do; rustc reports one of them twice, at the return type and
//! at the attribute (`result_named_type`: a type of the user's own named `Result`).
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test task_macro_ui`
//! after a compiler upgrade, and review them.

#[test]
fn task_wraps_methods_and_functions_and_each_mistake_is_one_error_saying_what_to_do() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
