use pulsar_async::{task, AsyncObject, EventLoop, Promise};
use std::sync::Arc;

#[derive(Clone)]
struct Store {
    lp: EventLoop,
    data: Arc<Vec<u32>>,
}

impl AsyncObject for Store {
    fn event_loop(&self) -> Option<&EventLoop> {
        Some(&self.lp)
    }
}

impl Store {
    /// Docs stay on the method.
    #[task]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    #[task]
    async fn get(&self, index: usize, default: &'static str) -> Result<u32, String> {
        let value = self.data.get(index).copied();
        tokio::task::yield_now().await;
        value.ok_or_else(|| default.to_owned())
    }

    #[task]
    fn nothing(&self) {}

    #[task]
    fn consume(self, (a, b): (u32, u32), mut extra: Vec<u32>) -> u32 {
        extra.push(a + b);
        extra.iter().sum::<u32>() + self.data.len() as u32
    }

    #[task]
    #[allow(clippy::needless_return)]
    fn early(&self, stop: bool) -> u8 {
        if stop {
            return 1;
        }
        2
    }

    #[task]
    fn with_callback(&self, f: fn(&str) -> usize, g: Box<dyn Fn(&u8) -> u8 + Send>) -> usize {
        f("abc") + g(&1) as usize
    }
}

#[task]
fn free(x: u8) -> u8 {
    x + 1
}

#[task]
async fn free_async(s: String) -> usize {
    s.len()
}

mod renamed {
    pub use pulsar_async as pa;
}

#[task(crate = renamed::pa)]
fn with_renamed_crate() -> bool {
    true
}

fn main() {
    let lp = EventLoop::new().unwrap();
    let store = Store {
        lp: lp.clone(),
        data: Arc::new(vec![1, 2, 3]),
    };
    let len: Promise<usize> = store.len();
    assert_eq!(len.wait().unwrap(), 3);
    // A `Result` return type: a `Promise<u32>` that the `Err` fails.
    let got: Promise<u32> = store.get(1, "none");
    assert_eq!(got.wait().unwrap(), 2);
    let none = store.get(9, "none").wait().unwrap_err();
    assert_eq!(std::error::Error::source(&none).unwrap().to_string(), "none");
    store.nothing().wait().unwrap();
    assert_eq!(store.early(true).wait().unwrap(), 1);
    assert_eq!(
        store
            .with_callback(str::len, Box::new(|x| *x))
            .wait()
            .unwrap(),
        4
    );
    assert_eq!(store.clone().consume((1, 2), vec![4]).wait().unwrap(), 10);
    let on_loop = pulsar_async::run_in_loop(&lp, || {
        (free(1), free_async("four".into()), with_renamed_crate())
    });
    let (a, b, c) = on_loop.wait().unwrap();
    assert_eq!(a.wait().unwrap(), 2);
    assert_eq!(b.wait().unwrap(), 4);
    assert!(c.wait().unwrap());
}
