// A test function with arguments: one error, at the arguments.
#[pulsar_async::test]
async fn with_arguments(x: u8) {
    let _ = x;
}

fn main() {}
