//! Deadlines on tokio's clock.

use std::time::Duration;

/// About thirty years: the delay that stands for "never" when a deadline overflows.
const FAR_FUTURE: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

/// The instant `delay` from now on tokio's clock; a delay too large to represent
/// gives a deadline decades away instead of a panic.
pub(crate) fn deadline_after(delay: Duration) -> tokio::time::Instant {
    deadline_from(tokio::time::Instant::now(), delay)
}

/// The instant `delay` after `now`, as [`deadline_after`].
pub(crate) fn deadline_from(now: tokio::time::Instant, delay: Duration) -> tokio::time::Instant {
    now.checked_add(delay).unwrap_or_else(|| now + FAR_FUTURE)
}
