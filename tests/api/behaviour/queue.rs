//! The bounded queue: it holds exactly its capacity, and what it refuses is
//! dropped, counted and warned about (throttled), as are reconnect failures.

use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Metrics};
use statsd_connector_testkit::log_capture::LogCapture;
use statsd_connector_testkit::wait::{bounded, poll_until, wait_state};

use super::helpers::{builder, DeadPort};

/// The configured bound is the bound, however many emitting threads the
/// queue is sized for.
#[test]
fn full_queue_holds_exactly_the_configured_capacity() {
    let mut results = Vec::new();
    for threads in [None, Some(1), Some(2), Some(3), Some(4), Some(7)] {
        let mut b = Connector::builder().host("127.0.0.1").queue_capacity(10);
        if let Some(threads) = threads {
            b = b.emitting_threads(threads);
        }
        let statsd = b.build().unwrap();
        let accepted = (0..1000).filter(|_| statsd.incr("full").is_ok()).count();
        let stats = statsd.stats();
        results.push((
            threads,
            accepted,
            stats.accepted,
            stats.in_queue,
            stats.dropped,
        ));
    }
    let wrong: Vec<_> = results
        .iter()
        .filter(|r| (r.1, r.2, r.3, r.4) != (10, 10, 10, 990))
        .collect();
    assert!(
        wrong.is_empty(),
        "queue_capacity(10) held more (emitting_threads, Ok calls, accepted, in_queue, dropped): {wrong:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn full_queue_drops_counts_and_throttles_the_warning() {
    let (capture, _log) = LogCapture::set_default();
    let server = CaptureServer::start().await.unwrap();
    // One buffer: the bound is exact (see full_queue_holds_exactly_the_configured_capacity).
    let statsd = builder(server.port())
        .queue_capacity(10)
        .emitting_threads(1)
        .build()
        .unwrap();

    LogCapture::recheck();
    let mut dropped = 0;
    for i in 0..1000 {
        match statsd.count("full", i) {
            Ok(()) => assert!(i < 10, "metric {i} accepted into a full queue"),
            Err(error) if error.is_queue_full() => dropped += 1,
            Err(other) => panic!("metric {i}: {other:?}"),
        }
    }
    assert_eq!(dropped, 990);
    let stats = statsd.stats();
    assert_eq!(
        (stats.accepted, stats.in_queue, stats.dropped),
        (10, 10, 990)
    );

    let warnings = capture.with_message("statsd queue full: metric dropped");
    let numbers: Vec<u64> = warnings
        .iter()
        .map(|w| {
            assert_eq!(w.level, tracing::Level::WARN);
            w.u64_field("dropped_in_a_row")
                .expect("the warning carries dropped_in_a_row")
        })
        .collect();
    let expected: Vec<u64> = (1..=100).chain((200..=900).step_by(100)).collect();
    assert_eq!(numbers.len(), 100 + 8);
    assert_eq!(numbers, expected);

    // The queue accepts again once emptied: the streak starts over. (The
    // connector was never started, so this stop discards what was queued and
    // calls are still accepted; after the stop of a started connector they
    // would be refused as `Stopped` until the next start.)
    let report = bounded("stop", statsd.stop_with_timeout(Duration::ZERO)).await;
    assert_eq!(report.undelivered, 10);
    capture.clear();
    for i in 0..10 {
        statsd.count("refill", i).unwrap();
    }
    assert!(statsd.incr("overflow").unwrap_err().is_queue_full());
    let warnings = capture.with_message("statsd queue full: metric dropped");
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].u64_field("dropped_in_a_row"),
        Some(1),
        "the streak did not reset"
    );
    assert_eq!(statsd.stats().dropped, 991);
}

#[tokio::test(flavor = "current_thread")]
async fn reconnect_failures_are_logged_with_attempt_counts_and_success_with_attempts() {
    let (capture, _log) = LogCapture::set_default();
    let dead = DeadPort::new();
    let port = dead.port();
    let statsd = builder(port)
        .reconnect_sleep(Duration::from_millis(10))
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    poll_until("three failed attempts", || {
        statsd.stats().connect_failures >= 3
    })
    .await;

    // The connection's info event: its callsite's interest is rechecked
    // now that every test that started with this one has registered.
    LogCapture::recheck();
    let server = dead.bring_up_server().await;
    wait_state(&statsd, "connected", |s| s.is_connected()).await;
    let failures = statsd.stats().connect_failures;

    let warnings = capture.with_message("connection to statsd failed");
    let attempts: Vec<u64> = warnings
        .iter()
        .map(|w| {
            assert_eq!(w.level, tracing::Level::WARN);
            assert_eq!(w.u64_field("port"), Some(u64::from(port)), "{w:?}");
            assert!(w.fields.contains_key("error"), "{w:?}");
            w.u64_field("attempt").expect("the warning carries attempt")
        })
        .collect();
    let logged = failures.min(100);
    assert_eq!(attempts, (1..=logged).collect::<Vec<_>>());

    let connected = capture.with_message("connected to statsd");
    assert_eq!(connected.len(), 1, "{connected:?}");
    assert_eq!(connected[0].level, tracing::Level::INFO);
    let n = connected[0]
        .u64_field("attempts")
        .expect("the info carries attempts");
    assert!(n > 1);
    assert_eq!(n, failures + 1);

    // After a success the count starts over: a later outage logs attempt 1.
    capture.clear();
    bounded("server stop", server.stop()).await;
    poll_until("a failed attempt after the outage", || {
        statsd.stats().connect_failures > failures
    })
    .await;
    let warnings = capture.with_message("connection to statsd failed");
    assert_eq!(warnings[0].u64_field("attempt"), Some(1));
    bounded("stop", statsd.stop()).await;
}

/// A full queue refuses good calls as drops, but a bad one still as bad:
/// every kind of call, the in-place ones (tags checked as they are written)
/// included, whose check would have run after the queue's answer.
#[test]
fn a_full_queue_still_refuses_bad_input_as_bad() {
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .dogstatsd(true)
        .queue_capacity(1)
        .emitting_threads(1)
        .build()
        .unwrap();
    statsd.incr("fill").unwrap();
    let bad_tags: [&[(&str, &str)]; 4] = [
        &[("re:gion", "eu")],
        &[("region", "e|u")],
        &[("region", "eu"), ("host", "web,01")],
        &[("", "eu")],
    ];
    for tags in bad_tags {
        let scoped = statsd.with_tags(tags);
        for result in [
            scoped.incr("tagged"),
            scoped.gauge("tagged", 21.53),
            scoped.timing("tagged", Duration::from_micros(1530)),
        ] {
            let error = result.unwrap_err();
            assert!(!error.is_queue_full(), "{tags:?}: {error}");
        }
    }
    // Good ones, in place or not (a `:` in a DogStatsD value is allowed, but
    // not by the in-place check), are dropped.
    let good_tags: [&[(&str, &str)]; 3] = [
        &[("region", "eu")],
        &[("url", "http://x")],
        &[("région", "eu")],
    ];
    for tags in good_tags {
        let error = statsd.with_tags(tags).incr("tagged").unwrap_err();
        assert!(error.is_queue_full(), "{tags:?}: {error}");
    }
    let stats = statsd.stats();
    assert_eq!((stats.rejected, stats.dropped), (12, 3));
}
