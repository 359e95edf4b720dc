use pulsar_async::EventLoop;
use std::rc::Rc;

fn main() {
    let lp = EventLoop::new().unwrap();
    let local = Rc::new(1);
    let p = lp.spawn(async move { *local + 1 });
    drop(p);
}
