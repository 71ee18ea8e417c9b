//! Threads and dropping: metric calls from plain threads, and dropping every
//! handle without `stop`, inside a runtime or outside one.

use std::collections::BTreeMap;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Metrics, State};
use statsd_connector_testkit::wait::bounded;

use super::helpers::{assert_clean, builder, lines, value_of, DeadPort};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_calls_work_from_plain_threads_while_the_processor_runs() {
    const PER_THREAD: u64 = 10_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let threads: Vec<_> = (1..=4u64)
        .map(|t| {
            let statsd = statsd.clone();
            std::thread::spawn(move || {
                assert!(
                    tokio::runtime::Handle::try_current().is_err(),
                    "a plain thread has no runtime"
                );
                for _ in 0..PER_THREAD {
                    statsd.count("threads", t as i64).unwrap();
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

    let received = lines(&server, 4 * PER_THREAD).await;
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);
    assert_eq!(server.line_count(), 4 * PER_THREAD);
    let mut per_value = BTreeMap::new();
    for line in &received {
        *per_value.entry(value_of(line) as u64).or_insert(0u64) += 1;
    }
    assert_eq!(
        per_value,
        (1..=4).map(|t| (t, PER_THREAD)).collect::<BTreeMap<_, _>>()
    );
    let sum: u64 = per_value.iter().map(|(v, n)| v * n).sum();
    assert_eq!(sum, PER_THREAD * (1 + 2 + 3 + 4));
    assert_clean(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_without_stop_delivers_what_was_queued() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    let mut state = statsd.watch_state();
    let clone = statsd.clone();
    for i in 0..1_000 {
        clone.count("dropped.handle", i).unwrap();
    }
    drop(statsd);
    // One handle left: the processor keeps running.
    assert!(state.borrow().is_running());
    drop(clone);
    let received = lines(&server, 1_000).await;
    assert_eq!(received.len(), 1_000);
    bounded(
        "the processor exiting on its own",
        state.wait_for(State::is_stopped),
    )
    .await
    .expect("the processor reports stopped before it goes");
    assert_clean(&server);
}

#[test]
fn dropping_connectors_outside_a_runtime_does_not_panic() {
    let statsd = Connector::builder().host("127.0.0.1").build().unwrap();
    statsd.incr("never.started").unwrap();
    let clone = statsd.clone();
    std::thread::spawn(move || drop(clone)).join().unwrap();
    drop(statsd);

    // Started on a runtime that is then shut down, used and dropped after.
    let dead = DeadPort::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statsd = builder(dead.port()).build().unwrap();
    runtime.block_on(statsd.start()).unwrap();
    assert!(statsd.is_running());
    statsd.incr("stranded").unwrap();
    drop(runtime);
    assert!(
        statsd.is_stopped(),
        "a processor dropped with its runtime must report stopped"
    );
    let stats = statsd.stats();
    assert_eq!(stats.undelivered + stats.in_queue, 1, "{stats:?}");
    statsd.incr("after.runtime").unwrap();
    drop(statsd);
}
