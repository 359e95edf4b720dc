use pulsar_async::task;
use std::rc::Rc;

#[task]
fn shared() -> Rc<u32> {
    Rc::new(1)
}

fn main() {}
