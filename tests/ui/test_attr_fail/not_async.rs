// A plain `fn` under #[pulsar_async::test]: one error, at `fn`, saying to write `async fn`.
#[pulsar_async::test]
fn not_async() {}

fn main() {}
