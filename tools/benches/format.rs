//! The cost of turning a call into a queued line, without the network: a
//! connector that is never started (nothing takes the queue, so the caller
//! never meets the processor), its queue emptied between samples (untimed).
//! What is measured is validate + format + the publish into the thread's
//! slot of the queue.
//!
//! Beside it, floors that show how much of that is overhead: the same line
//! written by hand into a `Vec` (the least any formatter can do), the same under
//! a `Mutex` looked up through a thread-local (the least any locked queue can
//! do), cadence formatting into its `NopMetricSink`, and the parse side
//! (`Line::parse`).
//!
//! Run: `cargo bench -p statsd-connector-tools --bench format -- --warm-up-time 1 --measurement-time 3`.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use cadence::prelude::*;
use cadence::{NopMetricSink, StatsdClient};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use statsd_connector::{Connector, Error, Line, Metrics};

const NAME: &str = "bench.requests";
const TAGS: [(&str, &str); 2] = [("region", "eu-west-1"), ("host", "web-1")];

use common::Stopwatch;

/// `iters` calls of `f`, timed.
fn looped<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let start = Stopwatch::start();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed()
}

/// A connector that queues and never sends, with room for any sample.
fn unstarted(prefix: Option<&str>, global_tag: bool) -> Connector {
    let mut builder = Connector::builder()
        .host("127.0.0.1")
        .port(9)
        .queue_capacity(1 << 26);
    if let Some(prefix) = prefix {
        builder = builder.prefix(prefix);
    }
    if global_tag {
        builder = builder.global_tag("env", "prod");
    }
    builder.build().unwrap()
}

/// Empties the queue of a connector that never started (untimed): stopping it
/// discards what is queued and keeps the buffers' capacity.
fn clear(runtime: &tokio::runtime::Runtime, statsd: &Connector) {
    runtime.block_on(statsd.stop_with_timeout(Duration::ZERO));
}

fn timed<F>(
    runtime: &tokio::runtime::Runtime,
    statsd: &Connector,
    iters: u64,
    mut call: F,
) -> Duration
where
    F: FnMut(&Connector) -> Result<(), Error>,
{
    clear(runtime, statsd);
    let mut refused = 0u64;
    let start = Stopwatch::start();
    for _ in 0..iters {
        if call(black_box(statsd)).is_err() {
            refused += 1;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(refused, 0, "calls were refused during a sample");
    elapsed
}

fn format_and_queue(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = &runtime;
    let mut group = c.benchmark_group("format_queue");
    group.throughput(Throughput::Elements(1));
    group.sampling_mode(SamplingMode::Flat);

    let plain = unstarted(None, false);
    group.bench_function("incr", |b| {
        b.iter_custom(|iters| timed(rt, &plain, iters, |s| s.incr(NAME)))
    });
    group.bench_function("count_varying", |b| {
        let mut n = 0i64;
        b.iter_custom(|iters| {
            timed(rt, &plain, iters, |s| {
                n = n.wrapping_add(7919);
                s.count(NAME, n & 0xffff)
            })
        })
    });
    group.bench_function("gauge_float", |b| {
        b.iter_custom(|iters| {
            timed(rt, &plain, iters, |s| {
                s.gauge("bench.gauge", black_box(21.53))
            })
        })
    });
    group.bench_function("gauge_integral", |b| {
        b.iter_custom(|iters| {
            timed(rt, &plain, iters, |s| {
                s.gauge("bench.gauge", black_box(21.0))
            })
        })
    });
    group.bench_function("gauge_negative_two_lines", |b| {
        b.iter_custom(|iters| {
            timed(rt, &plain, iters, |s| {
                s.gauge("bench.gauge", black_box(-3.5))
            })
        })
    });
    group.bench_function("timing", |b| {
        let elapsed = Duration::from_micros(1500);
        b.iter_custom(|iters| {
            timed(rt, &plain, iters, |s| {
                s.timing("bench.timing", black_box(elapsed))
            })
        })
    });
    group.bench_function("incr_2_tags", |b| {
        b.iter_custom(|iters| timed(rt, &plain, iters, |s| s.with_tags(&TAGS).incr(NAME)))
    });
    group.bench_function("incr_sampled_0.5", |b| {
        b.iter_custom(|iters| timed(rt, &plain, iters, |s| s.sampled(0.5).incr(NAME)))
    });
    // The in-place path's other shapes: a counter handle (its line
    // prepared once), a name past one SSE2 block, a name the fast check
    // does not know (the tables decide), and frames around the name
    // (prefix, global tag).
    let handle = plain.counter(NAME).unwrap();
    group.bench_function("counter_handle_incr", |b| {
        b.iter_custom(|iters| timed(rt, &plain, iters, |_| handle.incr()))
    });
    let long_name = "service.frontend.requests.completed.ok";
    group.bench_function("incr_38_byte_name", |b| {
        b.iter_custom(|iters| timed(rt, &plain, iters, |s| s.incr(long_name)))
    });
    group.bench_function("incr_name_outside_the_fast_check", |b| {
        b.iter_custom(|iters| timed(rt, &plain, iters, |s| s.incr("bench.requests!")))
    });
    let dressed = unstarted(Some("app.web"), true);
    group.bench_function("incr_prefix_global_tag", |b| {
        b.iter_custom(|iters| timed(rt, &dressed, iters, |s| s.incr(NAME)))
    });
    group.bench_function("incr_prefix_global_tag_2_tags", |b| {
        b.iter_custom(|iters| timed(rt, &dressed, iters, |s| s.with_tags(&TAGS).incr(NAME)))
    });
    group.bench_function("send_line", |b| {
        b.iter_custom(|iters| {
            timed(rt, &plain, iters, |s| {
                s.send_line("bench.requests:1|c|#region:eu")
            })
        })
    });
    group.finish();
}

thread_local! {
    static HOME: Cell<usize> = const { Cell::new(0) };
}

fn floors(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(1));
    group.sampling_mode(SamplingMode::Flat);

    // The least a formatter can do for `bench.requests:1|c\n`.
    let write = |buf: &mut Vec<u8>, n: i64| {
        buf.extend_from_slice(NAME.as_bytes());
        buf.push(b':');
        buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        buf.extend_from_slice(b"|c\n");
    };
    group.bench_function("handwritten_line", |b| {
        let mut buf = Vec::with_capacity(1 << 26);
        b.iter_custom(|iters| {
            buf.clear();
            looped(iters, || write(black_box(&mut buf), black_box(1)))
        })
    });
    // ... under an uncontended lock found through a thread-local: the least
    // a queue of locked buffers (one per home index) can do.
    group.bench_function("handwritten_line_under_mutex", |b| {
        let buffers: Vec<Mutex<Vec<u8>>> = (0..4)
            .map(|_| Mutex::new(Vec::with_capacity(1 << 26)))
            .collect();
        b.iter_custom(|iters| {
            for buffer in &buffers {
                buffer.lock().unwrap().clear();
            }
            looped(iters, || {
                let home = HOME.with(Cell::get) % buffers.len();
                let mut guard = black_box(&buffers[home]).lock().unwrap();
                write(&mut guard, black_box(1));
            })
        })
    });
    let cadence = StatsdClient::from_sink("", NopMetricSink);
    group.bench_function("cadence_nop_count", |b| {
        b.iter_custom(|iters| looped(iters, || black_box(&cadence).count(NAME, 1).is_ok()))
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (label, line) in [
        ("counter", "bench.requests:1|c"),
        ("timing_sampled", "bench.timing:1.5|ms|@0.5"),
        (
            "dogstatsd_2_tags",
            "bench.requests:1|c|#region:eu-west-1,host:web-1",
        ),
        (
            "influx_2_tags",
            "bench.requests,region=eu-west-1,host=web-1:1|c",
        ),
    ] {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| looped(iters, || Line::parse(black_box(line)).is_ok()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = format_and_queue, floors, parse
}
criterion_main!(benches);
