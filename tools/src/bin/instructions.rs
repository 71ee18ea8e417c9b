//! A loop of one call shape, for `valgrind --tool=callgrind`: run it twice
//! with two loop lengths and the difference over the difference in calls is
//! the instructions of one call, free of start-up. Ours runs on a connector
//! that is never started, so the count is the caller's whole cost
//! (validation, formatting, the publish; the queue is large enough that no
//! call is dropped). The peers run the same calls in the same loop: cadence
//! on a `NopMetricSink` (it formats the line, then drops it), and
//! metrics-exporter-dogstatsd with its recorder, aggregating as ours does
//! with `.aggregate(..)` (its flush thread sleeps through the run).
//!
//! ```sh
//! scripts/instructions.sh            # every shape, ours beside the peers'
//! ```

use std::hint::black_box;
use std::time::Duration;

use cadence::prelude::*;
use cadence::{NopMetricSink, StatsdClient};
use statsd_connector::{Connector, Metrics};

/// The call shapes measured, by name: ours, then the peers'.
const SHAPES: &[&str] = &[
    "incr",
    "counter",
    "tags2",
    "gauge",
    "timing",
    "hist_tags2",
    "agg_incr",
    "agg_tags2",
    "cadence_incr",
    "cadence_tags2",
    "cadence_gauge",
    "cadence_timing",
    "cadence_hist_tags2",
    "dsd_incr",
    "dsd_tags2",
];

const TAGS: [(&str, &str); 2] = [("region", "eu"), ("host", "web-01")];

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| usage());
    let calls: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| usage());
    match shape.as_str() {
        s if s.starts_with("cadence_") => cadence(s, calls),
        s if s.starts_with("dsd_") => dogstatsd_exporter(s, calls),
        s if SHAPES.contains(&s) => ours(s, calls),
        _ => usage(),
    }
}

fn ours(shape: &str, calls: u64) {
    let mut builder = Connector::builder()
        .host("127.0.0.1")
        .port(8125)
        .dogstatsd(true)
        .queue_capacity(10_000_000);
    if shape.starts_with("agg_") {
        // Longer than the run: every call folds into the tables.
        builder = builder.aggregate(Duration::from_secs(3600));
    }
    let statsd = builder.build().expect("a valid configuration");
    let counter = statsd.counter("bench.requests").expect("a valid name");
    let elapsed = Duration::from_micros(1530);
    match shape {
        "incr" | "agg_incr" => repeat(calls, || statsd.incr(black_box("bench.requests")).is_ok()),
        "counter" => repeat(calls, || counter.incr().is_ok()),
        "tags2" | "agg_tags2" => repeat(calls, || {
            statsd
                .with_tags(black_box(&TAGS))
                .incr("bench.requests")
                .is_ok()
        }),
        "gauge" => repeat(calls, || {
            statsd
                .gauge(black_box("bench.gauge"), black_box(21.53))
                .is_ok()
        }),
        "timing" => repeat(calls, || {
            statsd
                .timing(black_box("bench.timing"), black_box(elapsed))
                .is_ok()
        }),
        "hist_tags2" => repeat(calls, || {
            statsd
                .with_tags(black_box(&TAGS))
                .histogram("bench.hist", black_box(42.0))
                .is_ok()
        }),
        _ => usage(),
    }
}

/// Runs `call` `calls` times; every call must succeed. Generic, so that the
/// call inlines into the loop as it would in an application.
#[inline(always)]
fn repeat(calls: u64, call: impl Fn() -> bool) {
    for _ in 0..calls {
        assert!(call(), "a call was refused");
    }
}

fn cadence(shape: &str, calls: u64) {
    let client = StatsdClient::from_sink("", NopMetricSink);
    let elapsed = Duration::from_micros(1530);
    match shape {
        "cadence_incr" => repeat(calls, || {
            client.count(black_box("bench.requests"), 1).is_ok()
        }),
        "cadence_tags2" => repeat(calls, || {
            client
                .count_with_tags(black_box("bench.requests"), 1)
                .with_tag(TAGS[0].0, TAGS[0].1)
                .with_tag(TAGS[1].0, TAGS[1].1)
                .try_send()
                .is_ok()
        }),
        "cadence_gauge" => repeat(calls, || {
            client
                .gauge(black_box("bench.gauge"), black_box(21.53))
                .is_ok()
        }),
        "cadence_timing" => repeat(calls, || {
            client
                .time(black_box("bench.timing"), black_box(elapsed))
                .is_ok()
        }),
        "cadence_hist_tags2" => repeat(calls, || {
            client
                .histogram_with_tags(black_box("bench.hist"), black_box(42.0))
                .with_tag(TAGS[0].0, TAGS[0].1)
                .with_tag(TAGS[1].0, TAGS[1].1)
                .try_send()
                .is_ok()
        }),
        _ => usage(),
    }
}

fn dogstatsd_exporter(shape: &str, calls: u64) {
    use metrics_exporter_dogstatsd::DogStatsDBuilder;
    let recorder = DogStatsDBuilder::default()
        .with_remote_address("127.0.0.1:8125")
        .expect("an address")
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .build()
        .expect("a recorder");
    metrics::with_local_recorder(&recorder, || match shape {
        "dsd_incr" => repeat(calls, || {
            metrics::counter!(black_box("bench.requests")).increment(1);
            true
        }),
        "dsd_tags2" => repeat(calls, || {
            metrics::counter!(black_box("bench.requests"), "region" => "eu", "host" => "web-01")
                .increment(1);
            true
        }),
        _ => usage(),
    });
}

fn usage() -> ! {
    eprintln!("usage: instructions {{{}}} CALLS", SHAPES.join("|"));
    std::process::exit(2)
}
