//! Unit tests that look at the state word itself.

use super::*;

#[test]
fn cancel_on_a_failed_promise_marks_its_error_retrieved_and_nothing_else_does_until_read() {
    let p = Promise::<u8>::failed(Error::user("boom"));
    assert!(
        !p.core().snapshot().is_retrieved(),
        "not read yet: debug mode would report it"
    );
    assert!(!p.cancel());
    assert!(
        p.core().snapshot().is_retrieved(),
        "a refused cancel marks it read (asyncio)"
    );
    let q = Promise::<u8>::failed(Error::user("boom"));
    assert!(q.try_result().is_err());
    assert!(
        q.core().snapshot().is_retrieved(),
        "reading it marks it read"
    );
}

#[test]
fn a_refused_cancel_of_a_value_or_a_cancellation_marks_nothing() {
    let p = Promise::resolved(1u8);
    assert!(!p.cancel());
    assert!(!p.core().snapshot().is_retrieved());
}

#[test]
fn readers_are_counted_by_handles_and_consumers_not_by_setters() {
    let p = Promise::<u8>::new();
    assert_eq!(p.core().snapshot().readers(), 1);
    let s = p.setter();
    assert_eq!(p.core().snapshot().readers(), 1);
    let q = p.clone();
    assert_eq!(p.core().snapshot().readers(), 2);
    assert!(p.core().snapshot().has_cloner());
    drop(q);
    assert_eq!(p.core().snapshot().readers(), 1);
    drop(s);
}

#[test]
fn a_queued_callback_holds_the_value_until_it_ran() {
    let p = Promise::<u8>::new();
    p.add_done_callback(|_| {});
    assert!(p.core().snapshot().is_held(), "queued on a pending promise");
    p.set_result(1).unwrap();
    assert!(!p.core().snapshot().is_held(), "ran inline: released");
}

#[test]
fn an_untouched_core_of_a_word_sized_value_is_nine_words() {
    // State, weak count, outcome (two words), waiters' lock and pointer (two),
    // scheduler (two), where it was made: the waiters' contents come in a box of
    // their own, only when something waits.
    assert_eq!(std::mem::size_of::<super::core::Core<u64, ()>>(), 72);
    assert_eq!(std::mem::size_of::<Result<u64, Error>>(), 16);
}
