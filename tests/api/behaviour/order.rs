//! Order: the lines of one thread arrive in the order they were emitted,
//! however the queue is split and however many threads contend.

use std::collections::BTreeMap;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Line, Metrics};
use statsd_connector_testkit::wait::bounded;

use super::helpers::{builder, lines, runs, value_of};

/// Lines emitted by one thread arrive in the order they were emitted, even
/// with a buffer per thread and the processor taking the queue concurrently: for
/// gauges, the last value wins, so a reordering changes what the server
/// records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_one_thread_arrive_in_the_order_they_were_emitted() {
    const N: u64 = 200_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).emitting_threads(4).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for i in 0..N {
        statsd.gauge("order", i as f64).unwrap();
    }
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, N).await;
    let values: Vec<u64> = received.iter().map(|l| value_of(l) as u64).collect();
    let inversions: Vec<(usize, u64, u64)> = values
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] > w[1])
        .map(|(at, w)| (at, w[0], w[1]))
        .take(10)
        .collect();
    assert!(
        inversions.is_empty(),
        "lines arrived out of order; runs of consecutive values as received: {:?}",
        runs(&values)
    );
    assert_eq!(
        values.last(),
        Some(&(N - 1)),
        "the gauge's last value is not the last one set"
    );
}

/// A bound of 8 lines for 4 emitting threads: a thread leases room one line
/// at a time (`queue_capacity / (8 × 4)`, at least 1), so every line goes
/// back to the pool for its room, and the queue fills to the bound. The
/// lines must still be sent in the order they were emitted, for each of four
/// fresh threads in turn (each claims the slot the one before gave up).
/// Deterministic: nothing runs while the lines are queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_leased_one_at_a_time_up_to_the_bound_keep_their_order() {
    let server = CaptureServer::start().await.unwrap();
    let mut reordered = Vec::new();
    for thread in 0..4 {
        server.clear();
        // 8 lines, a lease of one line each.
        let statsd = builder(server.port())
            .queue_capacity(8)
            .emitting_threads(4)
            .build()
            .unwrap();
        let emitter = statsd.clone();
        std::thread::spawn(move || {
            for i in 0..8 {
                emitter.gauge("overflow", f64::from(i)).unwrap();
            }
        })
        .join()
        .unwrap();
        assert_eq!(statsd.stats().in_queue, 8);
        bounded("start", statsd.start()).await.unwrap();
        bounded("stop", statsd.stop()).await;
        let values: Vec<u64> = lines(&server, 8)
            .await
            .iter()
            .map(|l| value_of(l) as u64)
            .collect();
        if values != (0..8).collect::<Vec<_>>() {
            reordered.push((thread, values));
        }
    }
    assert!(
        reordered.is_empty(),
        "gauge values sent out of order (thread, values): {reordered:?}"
    );
}

/// Each thread's lines keep their order when several threads emit at once
/// (here eight threads, more than the four `emitting_threads` expects).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_each_thread_keep_their_order_when_threads_contend() {
    const THREADS: usize = 8;
    const PER_THREAD: u64 = 20_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port())
        .emitting_threads(4)
        .queue_capacity(THREADS * PER_THREAD as usize)
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let statsd = statsd.clone();
            std::thread::spawn(move || {
                let name = format!("thread{t}");
                for i in 0..PER_THREAD {
                    statsd.gauge(&name, i as f64).unwrap();
                }
            })
        })
        .collect();
    bounded(
        "the emitting threads",
        tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| t.join().unwrap())),
    )
    .await
    .unwrap();
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, THREADS as u64 * PER_THREAD).await;
    let mut per_thread: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in &received {
        let parsed = Line::parse(line).unwrap();
        per_thread
            .entry(parsed.name.to_owned())
            .or_default()
            .push(parsed.value.parse().unwrap());
    }
    let reordered: Vec<(&String, Vec<(u64, u64)>)> = per_thread
        .iter()
        .filter(|(_, values)| values.windows(2).any(|w| w[0] > w[1]))
        .map(|(name, values)| (name, runs(values).into_iter().take(6).collect()))
        .collect();
    assert!(
        reordered.is_empty(),
        "{} of {THREADS} threads' lines arrived out of order (runs): {reordered:?}",
        reordered.len()
    );
    assert!(per_thread.values().all(|v| v.len() as u64 == PER_THREAD));
}
