//! The runtime of `#[pulsar_async::test]` (`__test`, called by the expansion): a
//! fresh caller-driven loop per test, closed when the test ends, passed or failed.

/// What the expansion of `#[pulsar_async::test]` calls; not a public API.
pub mod runtime {
    use std::future::Future;

    use crate::event_loop::Builder;
    use crate::event_loop::EventLoop;

    /// The builder of a test's loop, named `name`.
    pub fn builder(name: &str) -> Builder {
        EventLoop::builder().name(name)
    }

    /// The builder on tokio's paused clock (`start_paused = true`).
    #[cfg(feature = "test-util")]
    pub fn paused(builder: Builder) -> Builder {
        builder.start_paused(true)
    }

    /// Closes the test's loop when the test ends, however it ends (a panic
    /// included): its tasks and calls are dropped with it, nothing reaches the next
    /// test.
    struct CloseOnDrop(EventLoop);

    impl Drop for CloseOnDrop {
        fn drop(&mut self) {
            self.0.close();
        }
    }

    /// Builds a caller-driven loop on this thread and runs `body` on it to its end:
    /// `!Send` state, `spawn_local` and `EventLoop::current()` work in it.
    ///
    /// # Panics
    ///
    /// When the loop cannot be built, or `body` panics (with its message) or could
    /// not run to its end (the loop was stopped or closed).
    pub fn run<R, F: Future<Output = R>>(builder: Builder, body: F) -> R {
        let lp = match builder.build_driven() {
            Ok(lp) => lp,
            Err(error) => panic!("#[pulsar_async::test]: could not build the test's loop: {error}"),
        };
        let guard = CloseOnDrop(lp);
        match guard.0.run_until_complete(body) {
            Ok(out) => out,
            Err(error) => panic!("{error}"),
        }
    }
}

/// `start_paused = true` of `#[pulsar_async::test]`, inside the test: the builder on
/// tokio's paused clock (without the `test-util` feature, the builder as it is: the
/// error is `__pulsar_async_test_needs_test_util`'s).
#[cfg(feature = "test-util")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pulsar_async_test_start_paused {
    ($builder:expr) => {
        $crate::__test::paused($builder)
    };
}

/// `start_paused = true` of `#[pulsar_async::test]`, inside the test: the builder on
/// tokio's paused clock (without the `test-util` feature, the builder as it is: the
/// error is `__pulsar_async_test_needs_test_util`'s).
#[cfg(not(feature = "test-util"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pulsar_async_test_start_paused {
    ($builder:expr) => {
        $builder
    };
}

/// `start_paused = true` of `#[pulsar_async::test]`, beside the test (so that a build
/// without `cfg(test)` sees it too): nothing with the `test-util` feature; without
/// it, a compile error saying so, at the option.
#[cfg(feature = "test-util")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pulsar_async_test_needs_test_util {
    () => {};
}

/// `start_paused = true` of `#[pulsar_async::test]`, beside the test (so that a build
/// without `cfg(test)` sees it too): nothing with the `test-util` feature; without
/// it, a compile error saying so, at the option.
#[cfg(not(feature = "test-util"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pulsar_async_test_needs_test_util {
    () => {
        ::core::compile_error!(
            "`start_paused = true` needs the `test-util` feature of pulsar-async: \
             `pulsar-async = { version = \"0.1\", features = [\"test-util\"] }` in [dev-dependencies]"
        );
    };
}
