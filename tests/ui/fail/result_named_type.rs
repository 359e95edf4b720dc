use pulsar_async::task;

/// A type of the user's own that happens to be named `Result`: not a `Result<T, E>`.
#[derive(Debug, Clone)]
pub struct Result {
    pub score: u32,
}

#[task]
fn score() -> Result {
    Result { score: 1 }
}

fn main() {}
