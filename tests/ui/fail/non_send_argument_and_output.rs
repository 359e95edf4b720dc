use pulsar_async::task;
use std::cell::Cell;
use std::rc::Rc;

#[task]
fn count(shared: Rc<u32>) -> u32 {
    *shared
}

#[task]
fn cell() -> Cell<u32> {
    Cell::new(1)
}

fn main() {}
