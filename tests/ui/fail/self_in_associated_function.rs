use pulsar_async::task;

struct Thing(u32);

impl Thing {
    #[task]
    fn make(id: u32) -> u32 {
        Self(id).0
    }
}

fn main() {}
