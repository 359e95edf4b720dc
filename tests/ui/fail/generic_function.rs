use pulsar_async::task;

#[task]
fn show<T: std::fmt::Display + Send + 'static>(value: T) -> String {
    value.to_string()
}

#[task]
fn show_impl(value: impl std::fmt::Display) -> String {
    value.to_string()
}

fn main() {}
