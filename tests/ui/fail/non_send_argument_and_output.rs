use pulsar_async::task;
use std::rc::Rc;

#[task]
fn count(shared: Rc<u32>) -> u32 {
    *shared
}

#[task]
fn shared() -> Rc<u32> {
    Rc::new(1)
}

fn main() {}
