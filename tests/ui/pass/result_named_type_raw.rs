use pulsar_async::{task, EventLoop, Promise};

/// A type of the user's own that happens to be named `Result`: `raw` keeps it whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Result {
    pub score: u32,
}

#[task(raw)]
fn score() -> Result {
    Result { score: 1 }
}

fn main() {
    let lp = EventLoop::new().unwrap();
    let p: Promise<Promise<Result>> = pulsar_async::run_in_loop(&lp, score);
    let inner = p.wait_timeout(std::time::Duration::from_secs(10)).unwrap();
    let out = inner.wait_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(out, Result { score: 1 });
}
