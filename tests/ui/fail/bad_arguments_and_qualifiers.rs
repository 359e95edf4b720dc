use pulsar_async::task;

#[task(loop = main_loop)]
fn unknown() {}

#[task]
const fn constant() -> u8 {
    1
}

#[task]
unsafe fn dangerous() -> u8 {
    1
}

struct Thing;

impl Thing {
    #[task]
    fn typed(self: Box<Self>) {}
}

fn main() {}
