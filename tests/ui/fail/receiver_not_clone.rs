use pulsar_async::{task, AsyncObject, EventLoop};

struct Service {
    lp: EventLoop,
}

impl AsyncObject for Service {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Service {
    #[task]
    fn ping(&self) -> bool {
        true
    }
}

fn main() {}
