// `start_paused = true` without the `test-util` feature: one error, at the option,
// naming the feature.
#[pulsar_async::test(start_paused = true)]
async fn paused() {}

fn main() {}
