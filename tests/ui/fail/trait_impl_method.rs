use pulsar_async::{task, AsyncObject, EventLoop};

#[derive(Clone)]
struct Store {
    lp: EventLoop,
}

impl AsyncObject for Store {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

trait Lookup {
    fn get(&self, key: u32) -> u32;
}

impl Lookup for Store {
    #[task]
    fn get(&self, key: u32) -> u32 {
        key * 2
    }
}

fn main() {}
