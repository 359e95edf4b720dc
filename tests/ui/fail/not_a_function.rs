use pulsar_async::task;

#[task]
struct Job {
    id: u32,
}

fn main() {
    let _ = Job { id: 1 }.id;
}
