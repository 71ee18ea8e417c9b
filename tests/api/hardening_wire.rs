//! Hardening of what reaches the wire, end to end through a capture server:
//! aggregated counters never wrap, aggregated gauges never become `inf`, and
//! one thread's gauge operations arrive in the order made, whichever call
//! made them. Refused Unicode and tag forms are refused through the public
//! calls too.

use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Metrics};

const DEADLINE: Duration = Duration::from_secs(10);

/// An aggregating connector whose interval never fires during a test: only
/// `stop()` flushes.
async fn aggregating(server: &CaptureServer) -> Connector {
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .no_prefix()
        .aggregate(Duration::from_secs(3600))
        .build()
        .expect("config");
    statsd.start().await.expect("start");
    statsd
}

/// Stops (which flushes) and returns the lines once `n` have arrived.
async fn stop_and_collect(statsd: &Connector, server: &CaptureServer, n: u64) -> Vec<String> {
    statsd.stop().await;
    server
        .wait_for_lines(n, DEADLINE)
        .await
        .expect("lines arrive before the deadline");
    server.lines()
}

fn counter_total(lines: &[String], name: &str) -> i128 {
    let prefix = format!("{name}:");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|v| {
            let v = v.strip_suffix("|c").expect("a counter line");
            i128::from(v.parse::<i64>().expect("an i64"))
        })
        .sum()
}

/// The value a statsd server holds after these gauge lines, in order.
fn gauge_after(lines: &[String], name: &str) -> f64 {
    let prefix = format!("{name}:");
    let mut value = 0.0;
    for line in lines.iter().filter_map(|l| l.strip_prefix(&prefix)) {
        let v = line.strip_suffix("|g").expect("a gauge line");
        let n: f64 = v.parse().expect("a number");
        if v.starts_with(['+', '-']) {
            value += n;
        } else {
            value = n;
        }
    }
    value
}

#[tokio::test]
async fn aggregated_counter_sums_never_wrap() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = aggregating(&server).await;
    statsd.count("n", i64::MAX).unwrap();
    statsd.count("n", i64::MAX).unwrap();
    statsd.count("m", i64::MIN).unwrap();
    statsd.count("m", -1).unwrap();
    let lines = stop_and_collect(&statsd, &server, 4).await;
    assert_eq!(
        counter_total(&lines, "n"),
        2 * i128::from(i64::MAX),
        "{lines:?}"
    );
    assert_eq!(
        counter_total(&lines, "m"),
        i128::from(i64::MIN) - 1,
        "{lines:?}"
    );
}

#[tokio::test]
async fn counter_handle_sums_never_wrap() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = aggregating(&server).await;
    let up = statsd.counter("up").unwrap();
    let down = statsd.counter("down").unwrap();
    up.add(i64::MAX).unwrap();
    up.add(i64::MAX).unwrap();
    down.add(i64::MIN).unwrap();
    down.add(-1).unwrap();
    let lines = stop_and_collect(&statsd, &server, 4).await;
    assert_eq!(
        counter_total(&lines, "up"),
        2 * i128::from(i64::MAX),
        "{lines:?}"
    );
    assert_eq!(
        counter_total(&lines, "down"),
        i128::from(i64::MIN) - 1,
        "{lines:?}"
    );
}

#[tokio::test]
async fn aggregated_gauges_never_send_inf_and_the_refusal_is_counted() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = aggregating(&server).await;
    statsd.gauge_delta("d", f64::MAX).unwrap();
    assert!(statsd.gauge_delta("d", f64::MAX).is_err());
    statsd.gauge("g", f64::MAX).unwrap();
    assert!(statsd.gauge_delta("g", f64::MAX).is_err());
    statsd.incr("end").unwrap();
    let lines = stop_and_collect(&statsd, &server, 3).await;
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("inf") && !l.contains("NaN")),
        "{lines:?}"
    );
    assert_eq!(gauge_after(&lines, "g"), f64::MAX);
    assert_eq!(gauge_after(&lines, "d"), f64::MAX);
    assert_eq!(statsd.stats().rejected, 2);
    assert!(server.malformed().is_empty());
}

#[tokio::test]
async fn one_threads_gauges_arrive_in_order_whichever_call_made_them() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = aggregating(&server).await;
    statsd.gauge("g", 10.0).unwrap();
    statsd.send_line("g:+1|g").unwrap();
    statsd.inject_metric("g", "+2", "g").unwrap();
    // A sampled gauge (the server does not scale gauges) waits with the rest.
    statsd.send_line("h:5|g|@0.5").unwrap();
    statsd.gauge_delta("h", 1.0).unwrap();
    statsd.inject_metric("h", "-2", "g").unwrap();
    // Counters and sets given as text fold like typed ones.
    statsd.send_line("c:2|c").unwrap();
    statsd.count("c", 3).unwrap();
    statsd.inject_metric("s", "x", "s").unwrap();
    statsd.set("s", "x").unwrap();
    let lines = stop_and_collect(&statsd, &server, 4).await;
    assert_eq!(gauge_after(&lines, "g"), 13.0, "{lines:?}");
    assert_eq!(gauge_after(&lines, "h"), 4.0, "{lines:?}");
    assert_eq!(counter_total(&lines, "c"), 5, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("s:")).count(), 1);
}

#[tokio::test]
async fn unicode_controls_and_bidi_are_refused_by_every_call() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .no_prefix()
        .build()
        .unwrap();
    for c in [
        '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}', '\u{202e}', '\u{2067}', '\u{feff}',
    ] {
        let bad = format!("a{c}b");
        assert!(statsd.incr(&bad).is_err());
        assert!(statsd.with_tags(&[(&bad, "v")]).incr("ok").is_err());
        assert!(statsd.with_tags(&[("k", &bad)]).incr("ok").is_err());
        assert!(statsd.set("ok", &bad).is_err());
        assert!(statsd.send_line(&format!("{bad}:1|c")).is_err());
        assert!(statsd.send_line(&format!("ok:1|c|#k:{bad}")).is_err());
        assert!(statsd.inject_metric(&bad, "1", "c").is_err());
        assert!(statsd.inject_metric("ok", &bad, "s").is_err());
        assert!(statsd.counter(&bad).is_err());
    }
    // The joiner is part of real text (emoji sequences, Indic scripts).
    statsd.incr("family\u{200d}name").unwrap();
    assert_eq!(statsd.stats().accepted, 1);
}

#[tokio::test]
async fn relayed_lines_keep_their_tags_or_are_refused() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .no_prefix()
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    assert!(statsd.send_line("a:1|c|#k:").is_err());
    assert!(statsd.send_line("a:1|c|@1e-310").is_err());
    statsd.send_line("a:1|c|#k").unwrap();
    statsd.stop().await;
    server.wait_for_lines(1, DEADLINE).await.unwrap();
    assert_eq!(server.lines(), ["a:1|c|#k"]);
}
