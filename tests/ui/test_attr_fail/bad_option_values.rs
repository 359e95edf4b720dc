// `start_paused` takes a bool and `name` a string: one error each, at the value.
#[pulsar_async::test(start_paused = "yes")]
async fn start_paused_not_a_bool() {}

#[pulsar_async::test(name = 7)]
async fn name_not_a_string() {}

fn main() {}
