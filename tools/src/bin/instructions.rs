//! A loop of one call shape, for `valgrind --tool=callgrind`: run it twice
//! with two loop lengths and the difference over the difference in calls is
//! the instructions of one call, free of start-up. The connector is never
//! started, so the count is the caller's whole cost (validation, formatting,
//! the publish); the queue is large enough that no call is dropped.
//!
//! ```sh
//! scripts/instructions.sh            # every shape, a table of instructions per call
//! ```

use std::hint::black_box;
use std::time::Duration;

use statsd_connector::{Connector, Metrics};

/// The call shapes measured, by name.
const SHAPES: &[&str] = &["incr", "counter", "gauge", "timing", "tags2", "hist_tags2"];

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| usage());
    let calls: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| usage());
    if !SHAPES.contains(&shape.as_str()) {
        usage();
    }
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(8125)
        .dogstatsd(true)
        .queue_capacity(10_000_000)
        .build()
        .expect("a valid configuration");
    let counter = statsd.counter("bench.requests").expect("a valid name");
    let tags = [("region", "eu"), ("host", "web-01")];
    let millis = Duration::from_micros(1530);
    for _ in 0..calls {
        let sent = match shape.as_str() {
            "incr" => statsd.incr(black_box("bench.requests")),
            "counter" => counter.incr(),
            "gauge" => statsd.gauge(black_box("bench.gauge"), black_box(21.53)),
            "timing" => statsd.timing(black_box("bench.timing"), black_box(millis)),
            "tags2" => statsd.with_tags(black_box(&tags)).incr("bench.requests"),
            _ => statsd
                .with_tags(black_box(&tags))
                .histogram("bench.hist", black_box(42.0)),
        };
        sent.expect("a call the queue accepts");
    }
}

fn usage() -> ! {
    eprintln!("usage: instructions {{{}}} CALLS", SHAPES.join("|"));
    std::process::exit(2)
}
