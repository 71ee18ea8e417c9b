//! A loop of one call shape, for `valgrind --tool=callgrind`: run it twice
//! with two loop lengths and the difference over the difference in calls is
//! the instructions of one call, free of start-up. Ours runs on a connector
//! that is never started, so the count is the caller's whole cost
//! (validation, formatting, the publish; the queue is large enough that no
//! call is dropped, and the run fails if one was). The peers run the same
//! calls in the same loop: cadence on a `NopMetricSink` (it formats the line,
//! then drops it), and metrics-exporter-dogstatsd with its recorder,
//! aggregating as ours does with `.aggregate(..)` (its flush thread sleeps
//! through the run).
//!
//! Two families of shapes:
//! - the issue's table (`incr`, `tags2`, …, `cadence_*`, `dsd_*`): ours on a
//!   connector declared DogStatsD, as the issue measured it;
//! - the criterion benches' call shapes, named after the bench ids
//!   (`format_queue/*` from `tools/benches/format.rs`, `emit/ours/*` from
//!   `emit.rs`, `aggregate/*` from `aggregate.rs`), on a connector set up as
//!   the bench sets up its own, with the bench's names, values and tags; the
//!   peers' equivalents are `cadence_nop/*` and `dsd/*`.
//!
//! ```sh
//! cargo build --release -p statsd-connector-tools --bin instructions --bin compare
//! target/release/compare --only instructions   # both tables, ours beside the peers'
//! scripts/instructions.sh incr gauge           # some shapes only
//! ```

use std::hint::black_box;
use std::time::Duration;

use cadence::prelude::*;
use cadence::{NopMetricSink, StatsdClient};
use statsd_connector::{Connector, Metrics};

/// The call shapes measured, by name: the issue's (ours, then the peers'),
/// then the criterion benches' (ours, then the peers').
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
    // tools/benches/format.rs, group format_queue
    "format_queue/incr",
    "format_queue/count_varying",
    "format_queue/gauge_float",
    "format_queue/gauge_integral",
    "format_queue/gauge_negative_two_lines",
    "format_queue/timing",
    "format_queue/incr_2_tags",
    "format_queue/incr_sampled_0.5",
    "format_queue/counter_handle_incr",
    "format_queue/incr_38_byte_name",
    "format_queue/incr_name_outside_the_fast_check",
    "format_queue/incr_prefix_global_tag",
    "format_queue/incr_prefix_global_tag_2_tags",
    "format_queue/send_line",
    // Not a bench: a non-ASCII name, which the fast check leaves to the tables.
    "extra/incr_non_ascii_name",
    // tools/benches/emit.rs, group emit (the shapes format_queue lacks)
    "emit/ours/gauge",
    "emit/ours/gauge_2_tags",
    "emit/ours/timing_2_tags",
    // tools/benches/aggregate.rs, group aggregate (one thread)
    "aggregate/counter_handle_incr",
    "aggregate/incr_by_name",
    "aggregate/incr_2_tags",
    "aggregate/gauge",
    "aggregate/set_member",
    // cadence's equivalents of the bench shapes
    "cadence_nop/count",
    "cadence_nop/count_varying",
    "cadence_nop/gauge_float",
    "cadence_nop/gauge_integral",
    "cadence_nop/gauge_negative",
    "cadence_nop/timing",
    "cadence_nop/count_2_tags",
    "cadence_nop/count_sampled_0.5",
    "cadence_nop/count_38_byte_name",
    "cadence_nop/count_name_outside_the_fast_check",
    "cadence_nop/count_non_ascii_name",
    "cadence_nop/count_prefix_global_tag",
    "cadence_nop/count_prefix_global_tag_2_tags",
    "cadence_nop/gauge",
    "cadence_nop/gauge_2_tags",
    "cadence_nop/timing_2_tags",
    // metrics-exporter-dogstatsd's equivalents of the aggregating shapes
    "dsd/counter_handle_incr",
    "dsd/incr_by_name",
    "dsd/incr_2_tags",
    "dsd/gauge",
];

/// The issue's tags.
const TAGS: [(&str, &str); 2] = [("region", "eu"), ("host", "web-01")];

/// The benches' name and tags.
const NAME: &str = "bench.requests";
const BENCH_TAGS: [(&str, &str); 2] = [("region", "eu-west-1"), ("host", "web-1")];
/// `format_queue/incr_38_byte_name`'s name: past one 16-byte block.
const LONG_NAME: &str = "service.frontend.requests.completed.ok";
/// `format_queue/incr_name_outside_the_fast_check`'s name: `!` is not among
/// the fast check's plain bytes, so the 256-entry table decides.
const ODD_NAME: &str = "bench.requests!";
/// A name with a non-ASCII letter (two UTF-8 bytes), also decided by the table.
const NON_ASCII_NAME: &str = "bench.requêtes";
/// `format_queue/send_line`'s relayed line.
const RELAYED_LINE: &str = "bench.requests:1|c|#region:eu";

/// Room for every line of the longest run (101 000 calls, two lines each
/// for a negative gauge), so that no call is refused as full.
const QUEUE_CAPACITY: usize = 10_000_000;

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
    match shape.as_str() {
        s if s.starts_with("cadence") => cadence(s, calls),
        s if s.starts_with("dsd") => dogstatsd_exporter(s, calls),
        s => ours(s, calls),
    }
}

/// Ours, set up for `shape`: the issue's shapes on a DogStatsD connector; the
/// benches' on a connector like theirs (aggregating for `aggregate/*`, a
/// prefix and a global tag for `*_prefix_global_tag*`).
fn connector(shape: &str) -> Connector {
    let issue = !shape.contains('/');
    let mut builder = Connector::builder()
        .host("127.0.0.1")
        .port(8125)
        .dogstatsd(issue)
        .queue_capacity(QUEUE_CAPACITY);
    if shape.starts_with("agg_") || shape.starts_with("aggregate/") {
        // Longer than the run: every call folds into the tables.
        builder = builder.aggregate(Duration::from_secs(3600));
    }
    if shape.contains("prefix_global_tag") {
        builder = builder.prefix("app.web").global_tag("env", "prod");
    }
    builder.build().expect("a valid configuration")
}

fn ours(shape: &str, calls: u64) {
    let statsd = connector(shape);
    let counter = statsd.counter(NAME).expect("a valid name");
    let elapsed = Duration::from_micros(1530);
    let bench_elapsed = Duration::from_micros(1500);
    let mut n = 0i64;
    match shape {
        // The issue's table.
        "incr" | "agg_incr" => repeat(calls, || statsd.incr(black_box(NAME)).is_ok()),
        "counter" => repeat(calls, || counter.incr().is_ok()),
        "tags2" | "agg_tags2" => repeat(calls, || {
            statsd.with_tags(black_box(&TAGS)).incr(NAME).is_ok()
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
        // The criterion benches' shapes.
        "format_queue/incr" | "aggregate/incr_by_name" => {
            repeat(calls, || statsd.incr(black_box(NAME)).is_ok())
        }
        "format_queue/count_varying" => repeat(calls, || {
            n = n.wrapping_add(7919);
            statsd.count(black_box(NAME), n & 0xffff).is_ok()
        }),
        "format_queue/gauge_float" => repeat(calls, || {
            statsd
                .gauge(black_box("bench.gauge"), black_box(21.53))
                .is_ok()
        }),
        "format_queue/gauge_integral" => repeat(calls, || {
            statsd
                .gauge(black_box("bench.gauge"), black_box(21.0))
                .is_ok()
        }),
        "format_queue/gauge_negative_two_lines" => repeat(calls, || {
            statsd
                .gauge(black_box("bench.gauge"), black_box(-3.5))
                .is_ok()
        }),
        "emit/ours/gauge" | "aggregate/gauge" => repeat(calls, || {
            statsd
                .gauge(black_box("bench.gauge"), black_box(21.5))
                .is_ok()
        }),
        "format_queue/timing" => repeat(calls, || {
            statsd
                .timing(black_box("bench.timing"), black_box(bench_elapsed))
                .is_ok()
        }),
        "format_queue/incr_2_tags" | "aggregate/incr_2_tags" => repeat(calls, || {
            statsd
                .with_tags(black_box(&BENCH_TAGS))
                .incr(black_box(NAME))
                .is_ok()
        }),
        "emit/ours/gauge_2_tags" => repeat(calls, || {
            statsd
                .with_tags(black_box(&BENCH_TAGS))
                .gauge("bench.gauge", black_box(21.5))
                .is_ok()
        }),
        "emit/ours/timing_2_tags" => repeat(calls, || {
            statsd
                .with_tags(black_box(&BENCH_TAGS))
                .timing("bench.timing", black_box(bench_elapsed))
                .is_ok()
        }),
        // Kept or sampled out, the call returns `Ok`.
        "format_queue/incr_sampled_0.5" => repeat(calls, || {
            statsd.sampled(black_box(0.5)).incr(black_box(NAME)).is_ok()
        }),
        "format_queue/counter_handle_incr" | "aggregate/counter_handle_incr" => {
            repeat(calls, || black_box(&counter).incr().is_ok())
        }
        "format_queue/incr_38_byte_name" => {
            repeat(calls, || statsd.incr(black_box(LONG_NAME)).is_ok())
        }
        "format_queue/incr_name_outside_the_fast_check" => {
            repeat(calls, || statsd.incr(black_box(ODD_NAME)).is_ok())
        }
        "extra/incr_non_ascii_name" => {
            repeat(calls, || statsd.incr(black_box(NON_ASCII_NAME)).is_ok())
        }
        "format_queue/incr_prefix_global_tag" => {
            repeat(calls, || statsd.incr(black_box(NAME)).is_ok())
        }
        "format_queue/incr_prefix_global_tag_2_tags" => repeat(calls, || {
            statsd
                .with_tags(black_box(&BENCH_TAGS))
                .incr(black_box(NAME))
                .is_ok()
        }),
        "format_queue/send_line" => {
            repeat(calls, || statsd.send_line(black_box(RELAYED_LINE)).is_ok())
        }
        "aggregate/set_member" => repeat(calls, || {
            statsd
                .set(black_box("bench.users"), black_box("alice"))
                .is_ok()
        }),
        _ => usage(),
    }
    let stats = statsd.stats();
    assert_eq!(
        (stats.dropped, stats.rejected),
        (0, 0),
        "calls were dropped or refused: {stats:?}"
    );
}

/// Runs `call` `calls` times; every call must succeed. Generic, so that the
/// call inlines into the loop as it would in an application; never inlined
/// itself, so that each shape's loop is a function of its own, compiled
/// alone (inlined into one `match` of every shape, a call's register
/// allocation moved with the shapes beside it: `incr` measured 146 or 211
/// instructions by the number of shapes in the binary).
#[inline(never)]
fn repeat(calls: u64, mut call: impl FnMut() -> bool) {
    for _ in 0..calls {
        assert!(call(), "a call was refused");
    }
}

fn cadence(shape: &str, calls: u64) {
    let client = if shape.contains("prefix_global_tag") {
        // The bench's `.prefix("app.web").global_tag("env", "prod")`.
        StatsdClient::builder("app.web", NopMetricSink)
            .with_tag("env", "prod")
            .build()
    } else {
        StatsdClient::from_sink("", NopMetricSink)
    };
    let elapsed = Duration::from_micros(1530);
    let bench_elapsed = Duration::from_micros(1500);
    let mut n = 0i64;
    let mut coin = Coin(0x9e37_79b9_7f4a_7c15);
    match shape {
        // The issue's table.
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
        // The criterion benches' shapes.
        "cadence_nop/count" | "cadence_nop/count_prefix_global_tag" => {
            repeat(calls, || client.count(black_box(NAME), 1).is_ok())
        }
        "cadence_nop/count_varying" => repeat(calls, || {
            n = n.wrapping_add(7919);
            client.count(black_box(NAME), n & 0xffff).is_ok()
        }),
        "cadence_nop/gauge_float" => repeat(calls, || {
            client
                .gauge(black_box("bench.gauge"), black_box(21.53))
                .is_ok()
        }),
        "cadence_nop/gauge_integral" => repeat(calls, || {
            client
                .gauge(black_box("bench.gauge"), black_box(21.0))
                .is_ok()
        }),
        "cadence_nop/gauge_negative" => repeat(calls, || {
            client
                .gauge(black_box("bench.gauge"), black_box(-3.5))
                .is_ok()
        }),
        "cadence_nop/gauge" => repeat(calls, || {
            client
                .gauge(black_box("bench.gauge"), black_box(21.5))
                .is_ok()
        }),
        "cadence_nop/timing" => repeat(calls, || {
            client
                .time(black_box("bench.timing"), black_box(bench_elapsed))
                .is_ok()
        }),
        "cadence_nop/count_2_tags" | "cadence_nop/count_prefix_global_tag_2_tags" => {
            repeat(calls, || {
                client
                    .count_with_tags(black_box(NAME), 1)
                    .with_tag(BENCH_TAGS[0].0, BENCH_TAGS[0].1)
                    .with_tag(BENCH_TAGS[1].0, BENCH_TAGS[1].1)
                    .try_send()
                    .is_ok()
            })
        }
        "cadence_nop/gauge_2_tags" => repeat(calls, || {
            client
                .gauge_with_tags(black_box("bench.gauge"), black_box(21.5))
                .with_tag(BENCH_TAGS[0].0, BENCH_TAGS[0].1)
                .with_tag(BENCH_TAGS[1].0, BENCH_TAGS[1].1)
                .try_send()
                .is_ok()
        }),
        "cadence_nop/timing_2_tags" => repeat(calls, || {
            client
                .time_with_tags(black_box("bench.timing"), black_box(bench_elapsed))
                .with_tag(BENCH_TAGS[0].0, BENCH_TAGS[0].1)
                .with_tag(BENCH_TAGS[1].0, BENCH_TAGS[1].1)
                .try_send()
                .is_ok()
        }),
        // cadence only writes the rate: its caller draws whether to send.
        "cadence_nop/count_sampled_0.5" => repeat(calls, || {
            !coin.heads(black_box(0.5))
                || client
                    .count_with_tags(black_box(NAME), 1)
                    .with_sampling_rate(0.5)
                    .try_send()
                    .is_ok()
        }),
        "cadence_nop/count_38_byte_name" => {
            repeat(calls, || client.count(black_box(LONG_NAME), 1).is_ok())
        }
        "cadence_nop/count_name_outside_the_fast_check" => {
            repeat(calls, || client.count(black_box(ODD_NAME), 1).is_ok())
        }
        "cadence_nop/count_non_ascii_name" => {
            repeat(calls, || client.count(black_box(NON_ASCII_NAME), 1).is_ok())
        }
        _ => usage(),
    }
}

/// The coin a cadence caller flips to sample: a xorshift64 generator, about
/// as cheap as a generator gets (ours draws from a per-thread one too).
struct Coin(u64);

impl Coin {
    /// True with probability `rate`.
    fn heads(&mut self, rate: f64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // The top 53 bits as a fraction in [0, 1).
        ((self.0 >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) < rate
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
        // The issue's table.
        "dsd_incr" => repeat(calls, || {
            metrics::counter!(black_box("bench.requests")).increment(1);
            true
        }),
        "dsd_tags2" => repeat(calls, || {
            metrics::counter!(black_box("bench.requests"), "region" => "eu", "host" => "web-01")
                .increment(1);
            true
        }),
        // The aggregate bench's shapes.
        "dsd/counter_handle_incr" => {
            // Registered once, as ours is: each call is the handle's add.
            let counter = metrics::counter!(NAME);
            repeat(calls, || {
                black_box(&counter).increment(1);
                true
            })
        }
        "dsd/incr_by_name" => repeat(calls, || {
            metrics::counter!(black_box(NAME)).increment(1);
            true
        }),
        "dsd/incr_2_tags" => repeat(calls, || {
            metrics::counter!(black_box(NAME), "region" => "eu-west-1", "host" => "web-1")
                .increment(1);
            true
        }),
        "dsd/gauge" => repeat(calls, || {
            metrics::gauge!(black_box("bench.gauge")).set(black_box(21.5));
            true
        }),
        _ => usage(),
    });
}

fn usage() -> ! {
    eprintln!(
        "usage: instructions SHAPE CALLS\n\nSHAPE is one of:\n  {}",
        SHAPES.join("\n  ")
    );
    std::process::exit(2)
}
