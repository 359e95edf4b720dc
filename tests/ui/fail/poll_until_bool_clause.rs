use pulsar_async::poll_until;
use std::time::Duration;

fn main() {
    // A `bool` says "ready" but carries no value: poll_until wants an Option or a Result.
    let _ = poll_until(Duration::from_secs(1), || true);
}
