use pulsar_async::task;

#[task]
fn greet(name: &str, ids: Vec<&u8>, text: std::borrow::Cow<'_, str>) -> usize {
    name.len() + ids.len() + text.len()
}

fn main() {}
