use pulsar_async::task;

#[derive(Clone)]
struct Plain;

impl Plain {
    #[task]
    fn ping(&self) -> bool {
        true
    }
}

fn main() {}
