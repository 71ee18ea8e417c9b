//! Client-side aggregation against the capture server: exact totals, one line
//! per name and tag set per interval, flushed on stop.

use std::collections::BTreeMap;
use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, ErrorKind, Line, Metrics};

fn sums(lines: &[String]) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for line in lines {
        let parsed = Line::parse(line).unwrap();
        if parsed.kind == statsd_connector::MetricType::Counter {
            *sums.entry(parsed.name.to_owned()).or_default() +=
                parsed.value.parse::<i64>().unwrap();
        }
    }
    sums
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_from_many_threads_arrive_as_exact_sums_flushed_on_stop() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let statsd = statsd.clone();
            std::thread::spawn(move || {
                let handle = statsd.counter("handle.hits").unwrap();
                for i in 0..100_000 {
                    statsd.incr("hot").unwrap();
                    handle.incr().unwrap();
                    statsd.count(&format!("per.thread.{t}"), 2).unwrap();
                    if i % 1000 == 0 {
                        statsd.with_tags(&[("t", "x")]).incr("hot").unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // The interval is an hour: only the flush on stop can deliver these.
    assert_eq!(statsd.stats().accepted, 0);
    statsd.stop().await;
    let lines_expected = 1 + 1 + 1 + 4;
    server
        .wait_for_lines(lines_expected, Duration::from_secs(5))
        .await
        .unwrap();
    let lines = server.lines();
    assert_eq!(lines.len() as u64, lines_expected, "{lines:?}");
    assert!(lines.contains(&"hot:400|c|#t:x".to_owned()), "{lines:?}");
    let sums = sums(&lines);
    assert_eq!(sums["hot"], 400_400);
    assert_eq!(sums["handle.hits"], 400_000);
    for t in 0..4 {
        assert_eq!(sums[&format!("per.thread.{t}")], 200_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_sets_and_timings_in_aggregating_mode() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .prefix("agg")
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    statsd.gauge("g", 10.0).unwrap();
    statsd.gauge("g", -3.0).unwrap();
    statsd.gauge_delta("g", 1.0).unwrap();
    statsd.gauge_delta("d", 5.0).unwrap();
    for user in ["ann", "bob", "ann"] {
        statsd.set("users", user).unwrap();
    }
    statsd.timing("t", Duration::from_millis(5)).unwrap();
    statsd.timing("t", Duration::from_millis(7)).unwrap();
    statsd.stop().await;
    server
        .wait_for_lines(7, Duration::from_secs(5))
        .await
        .unwrap();
    let mut lines = server.lines();
    // Timings pass straight through, in the order of the thread that emitted
    // them. Their order relative to the final flush (the processor's thread)
    // is not promised: the queue orders lines per thread, not across threads.
    let position = |line: &str| lines.iter().position(|l| l == line).expect(line);
    assert!(position("agg.t:5|ms") < position("agg.t:7|ms"), "{lines:?}");
    let gauge_reset = lines
        .iter()
        .position(|l| l == "agg.g:0|g")
        .expect("reset line");
    assert_eq!(lines[gauge_reset + 1], "agg.g:-2|g");
    lines.sort();
    assert_eq!(
        lines,
        [
            "agg.d:+5|g",
            "agg.g:-2|g",
            "agg.g:0|g",
            "agg.t:5|ms",
            "agg.t:7|ms",
            "agg.users:ann|s",
            "agg.users:bob|s"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_are_flushed_every_interval() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .aggregate(Duration::from_millis(50))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    statsd.count("tick", 3).unwrap();
    // Without a stop, only the periodic flush can deliver it.
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["tick:3|c"]);
    statsd.count("tick", 4).unwrap();
    server
        .wait_for_lines(2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["tick:3|c", "tick:4|c"]);
    statsd.stop().await;
}

#[test]
fn a_zero_flush_interval_is_refused() {
    let err = Connector::builder()
        .host("h")
        .aggregate(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("aggregate"), "{err}");
}

/// The cached path for counters (a context seen before on this thread skips
/// validation) keeps the general path's answers: a bad call is rejected each
/// time, a stop refuses a cached context, and a start takes it again.
#[tokio::test(flavor = "current_thread")]
async fn cached_counter_contexts_keep_every_refusal_of_the_general_path() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .dogstatsd(true)
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap();
    let kind = statsd_connector::Error::into_kind;
    statsd.start().await.unwrap();
    let tags = [("region", "eu")];
    for _ in 0..3 {
        statsd.incr("hits").unwrap();
        statsd.with_tags(&tags).incr("hits").unwrap();
        // Invalid every time: never cached.
        assert!(matches!(
            statsd.incr("bad|name").map_err(kind),
            Err(ErrorKind::InvalidName { .. })
        ));
        assert!(matches!(
            statsd.with_tags(&[("k", "a|b")]).incr("hits").map_err(kind),
            Err(ErrorKind::InvalidTag { .. })
        ));
    }
    assert_eq!(statsd.stats().rejected, 6);
    statsd.stop().await;
    server
        .wait_for_lines(2, Duration::from_secs(5))
        .await
        .unwrap();
    let mut lines = server.lines();
    lines.sort();
    assert_eq!(lines, ["hits:3|c", "hits:3|c|#region:eu"]);

    // After the stop, the cached contexts are refused and counted.
    for _ in 0..2 {
        assert!(matches!(
            statsd.incr("hits").map_err(kind),
            Err(ErrorKind::Stopped)
        ));
        assert!(matches!(
            statsd.with_tags(&tags).incr("hits").map_err(kind),
            Err(ErrorKind::Stopped)
        ));
    }
    let stats = statsd.stats();
    assert_eq!(
        (stats.dropped, stats.accepted, stats.sent),
        (4, 2, 2),
        "{stats:?}"
    );

    // A new start takes them again.
    statsd.start().await.unwrap();
    statsd.count("hits", 5).unwrap();
    statsd.stop().await;
    server
        .wait_for_lines(3, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines().last().unwrap(), "hits:5|c");
}

/// A context idle for a whole interval is retired from the tables, and
/// counted again from its next call: nothing is lost in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_idle_for_intervals_is_counted_again_when_it_returns() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .aggregate(Duration::from_millis(20))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    let mut expected = 0;
    for round in 1..=3 {
        for _ in 0..round {
            statsd.with_tags(&[("k", "v")]).count("back", 2).unwrap();
            expected += 2;
        }
        // Several intervals pass: the cell is flushed, then retired.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    statsd.stop().await;
    // One line per interval that saw calls (how many intervals that was
    // depends on the machine's timing; the total does not).
    let sent = statsd.stats().accepted;
    server
        .wait_for_lines(sent, Duration::from_secs(5))
        .await
        .unwrap();
    let lines = server.lines();
    let total: i64 = lines
        .iter()
        .map(|l| {
            let parsed = Line::parse(l).unwrap();
            assert_eq!(parsed.name, "back", "{lines:?}");
            parsed.value.parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(total, expected, "{lines:?}");
    let stats = statsd.stats();
    assert_eq!(stats.accepted, lines.len() as u64, "{stats:?}");
}
