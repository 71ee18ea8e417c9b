//! Client-side aggregation: what a data point costs when it is summed in
//! memory instead of queued as a line.
//!
//! The connector is never started: with aggregation on, a counter call only
//! touches the aggregation tables, so no server is needed and no flush runs
//! while a sample is measured (the interval is an hour). `tests/api/aggregation.rs`
//! and the Etsy interop tests check that the totals arrive exactly.
//!
//! Run: `cargo bench -p statsd-connector-tools --bench aggregate -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use statsd_connector::{Connector, Metrics};

const NAME: &str = "bench.requests";

fn aggregating() -> Connector {
    Connector::builder()
        .host("127.0.0.1")
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// `iters` calls split over `threads` threads; the time until all are done.
fn on_threads(threads: u64, iters: u64, call: impl Fn() + Sync) -> Duration {
    let per_thread = iters.div_ceil(threads);
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    call();
                }
            });
        }
    });
    start.elapsed()
}

fn aggregate(c: &mut Criterion) {
    let statsd = aggregating();
    let handle = statsd.counter(NAME).unwrap();
    let mut group = c.benchmark_group("aggregate");
    group.throughput(Throughput::Elements(1));
    for threads in [1, 2] {
        group.bench_function(format!("counter_handle_incr/{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, || {
                    let _ = black_box(&handle).incr();
                })
            })
        });
        group.bench_function(format!("incr_by_name/{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, || {
                    let _ = black_box(&statsd).incr(black_box(NAME));
                })
            })
        });
    }
    group.bench_function("incr_2_tags", |b| {
        let tags = [("region", "eu-west-1"), ("host", "web-1")];
        b.iter(|| statsd.with_tags(&tags).incr(black_box(NAME)))
    });
    group.bench_function("gauge", |b| {
        b.iter(|| statsd.gauge(black_box("bench.gauge"), black_box(21.5)))
    });
    group.bench_function("set_member", |b| {
        b.iter(|| statsd.set(black_box("bench.users"), black_box("alice")))
    });
    group.finish();
}

criterion_group!(benches, aggregate);
criterion_main!(benches);
