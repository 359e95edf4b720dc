// An option that does not exist (tokio's `flavor`): one error naming the options.
#[pulsar_async::test(flavor = "multi_thread")]
async fn unknown_option() {}

fn main() {}
