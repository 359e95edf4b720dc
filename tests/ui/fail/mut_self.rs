use pulsar_async::{task, AsyncObject, EventLoop};

#[derive(Clone)]
struct Counter {
    lp: EventLoop,
    n: u32,
}

impl AsyncObject for Counter {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Counter {
    #[task]
    fn bump(&mut self) -> u32 {
        self.n += 1;
        self.n
    }
}

fn main() {}
