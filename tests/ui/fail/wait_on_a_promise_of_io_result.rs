// A port of a Pulsar program: `run_in_loop` of a closure returning `io::Result`, then
// `wait()`, which clones the value out. The error names the reads that move it out and
// the `try_*` forms that flatten the `Result`.
use pulsar_async::{run_in_loop, EventLoop};

fn main() {
    let lp = EventLoop::new().unwrap();
    let bytes = run_in_loop(&lp, || std::fs::read("/etc/hostname"));
    let _ = bytes.wait();
}
