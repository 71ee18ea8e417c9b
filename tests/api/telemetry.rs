//! Self-telemetry: the connector's own stats arrive as metrics, and add up to
//! what `stats()` says.

use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Line, MetricType, Metrics};
use tokio::time::{timeout, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn telemetry_sum(lines: &[String], name: &str) -> i64 {
    lines
        .iter()
        .map(|l| Line::parse(l).unwrap())
        .filter(|l| l.name == name && l.kind == MetricType::Counter)
        .map(|l| l.value.parse::<i64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_stats_arrive_every_interval_and_add_up() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .prefix("app")
        .telemetry(Duration::from_millis(50))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    for _ in 0..1000 {
        statsd.incr("hits").unwrap();
    }
    assert!(statsd.incr("bad|name").is_err());

    // Reports come every interval, so one soon counts the refused call.
    let deadline = Instant::now() + WAIT;
    while !server
        .lines()
        .iter()
        .any(|l| l == "app.statsd_connector.rejected:1|c")
    {
        assert!(
            Instant::now() < deadline,
            "no telemetry: {:?}",
            statsd.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    timeout(WAIT, statsd.stop()).await.unwrap();

    let stats = statsd.stats();
    let lines = server.lines();
    assert_eq!(lines.len() as u64, stats.sent, "{stats:?}");
    assert_eq!(telemetry_sum(&lines, "app.statsd_connector.rejected"), 1);
    assert_eq!(telemetry_sum(&lines, "app.statsd_connector.dropped"), 0);
    assert_eq!(
        lines.iter().filter(|l| *l == "app.hits:1|c").count(),
        1000,
        "every metric arrives beside the telemetry"
    );
    // Reported `sent` never runs ahead of what was really sent, and covers at
    // least the application's lines (the last report comes before the drain).
    let reported = telemetry_sum(&lines, "app.statsd_connector.sent") as u64;
    assert!(
        (1000..=stats.sent).contains(&reported),
        "{reported} reported sent, {stats:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("app.statsd_connector.queue_depth:") && l.ends_with("|g")));
}

#[test]
fn a_zero_interval_is_refused() {
    let error = Connector::builder()
        .host("localhost")
        .telemetry(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("telemetry"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dogstatsd_server_gets_the_datadog_client_telemetry_names() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .prefix("app")
        .dogstatsd(true)
        .origin_detection(false)
        .global_tag("env", "prod")
        .telemetry(Duration::from_secs(3600))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    for _ in 0..10 {
        statsd.incr("hits").unwrap();
    }
    statsd.gauge("load", 0.5).unwrap();
    // Two lines (`0|g`, then the value): counted as two gauges.
    statsd.gauge("level", -2.0).unwrap();
    statsd.timing("took", Duration::from_millis(3)).unwrap();
    statsd
        .event(&statsd_connector::Event::new("Deploy", "done"))
        .unwrap();
    // The last report goes out on stop.
    timeout(WAIT, statsd.stop()).await.unwrap();
    let lines = server.lines();
    let tags = format!(
        "|c|#env:prod,client:rust,client_version:{},client_transport:tcp",
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in [("metrics", 14), ("events", 1)] {
        let expected = format!("datadog.dogstatsd.client.{name}:{value}{tags}");
        assert!(lines.contains(&expected), "{expected} not in {lines:?}");
    }
    // The breakdown by type, tagged as datadog-go tags it; a type with
    // nothing to report is not sent.
    for (kind, value) in [("count", 10), ("gauge", 3), ("timing", 1)] {
        let expected =
            format!("datadog.dogstatsd.client.metrics_by_type:{value}{tags},metrics_type:{kind}");
        assert!(lines.contains(&expected), "{expected} not in {lines:?}");
    }
    let by_type = lines.iter().filter(|l| l.contains(".metrics_by_type:"));
    assert_eq!(by_type.count(), 3, "{lines:?}");
    // (bytes_sent is in the report only when something was written before
    // the stop's report: timing, not asserted.)
    assert!(
        !lines.iter().any(|l| l.contains("statsd_connector.")),
        "{lines:?}"
    );
}
