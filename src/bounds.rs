//! Bounds that explain themselves: traits implemented for every type that meets a
//! bound, whose `#[diagnostic::on_unimplemented]` says what to do when a type does not
//! (rustc honours it when the type is not an `async` block, whose errors it writes
//! itself). `#[diagnostic::do_not_recommend]` on each blanket impl keeps rustc from
//! reporting the bound behind it instead.
//!
//! `#[task]`'s expansion checks its arguments and its result through these, so one
//! mistake is one error, on the type that is wrong.

/// What a `#[task]` function can take: it moves to the loop's thread.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a `#[task]`: the arguments move to the loop's thread",
    label = "not `Send + 'static`",
    note = "take an owned, thread-safe type: `Arc<T>` for `Rc<T>`, `Arc<Mutex<T>>` for `Rc<RefCell<T>>`; or keep the value on the loop, in a `thread_local!`"
)]
pub trait TaskArgument: Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T: Send + 'static> TaskArgument for T {}

/// What a `#[task]` function can return: its value moves, through a promise, to the
/// thread that reads it (`Clone` is not needed: the last reader moves it out).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a `#[task]`: its value moves to the thread that reads the promise",
    label = "not `Send + 'static`",
    note = "return an owned, thread-safe type: `Arc<T>` for `Rc<T>`, `Arc<Mutex<T>>` for `Rc<RefCell<T>>`; or keep the value on the loop and return what the caller needs of it"
)]
pub trait TaskOutput: Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T: Send + 'static> TaskOutput for T {}
