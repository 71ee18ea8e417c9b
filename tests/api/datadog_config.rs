//! The Datadog configuration of issue 21: `DD_TAGS` / `DATADOG_TAGS` as
//! global tags and their precedence, and the telemetry's own address
//! (`.telemetry_address`, `DD_TELEMETRY_HOST` / `DD_TELEMETRY_PORT`).

use std::time::Duration;

use statsd_connector::testing::{CaptureServer, Listen};
use statsd_connector::{Builder, Connector, ErrorKind, Metrics};
use statsd_connector_testkit::wait::{bounded, poll_until};

fn env(pairs: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> {
    let pairs = pairs.to_vec();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dd_tags_become_global_tags_under_the_unified_ones_and_explicit_ones() {
    let server = CaptureServer::builder()
        .listen(Listen::Udp)
        .start()
        .await
        .unwrap();
    let vars = env(&[
        ("DD_AGENT_HOST", "127.0.0.1".into()),
        ("DD_DOGSTATSD_PORT", server.port().to_string()),
        (
            "DD_TAGS",
            "team:web env:staging,region:eu tier:1 canary".into(),
        ),
        ("DATADOG_TAGS", "ignored:because-dd-tags-is-set".into()),
        ("DD_ENV", "prod".into()),
        ("DD_ORIGIN_DETECTION_ENABLED", "false".into()),
    ]);
    let statsd = Builder::from_env_with(vars)
        .unwrap()
        .global_tag("region", "us")
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    statsd.incr("hits").unwrap();
    bounded(
        "the line",
        server.wait_for_lines(1, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    statsd.stop().await;
    // The explicit tag first, then DD_ENV, then DD_TAGS without the keys
    // those two set.
    assert_eq!(
        server.lines(),
        ["hits:1|c|#region:us,env:prod,team:web,tier:1,canary"]
    );
}

#[test]
fn datadog_tags_is_read_when_dd_tags_is_not_and_bad_tags_are_named() {
    let read = |pairs: &[(&'static str, String)]| {
        Builder::from_env_with(env(pairs)).and_then(Builder::build_config)
    };
    let host = ("STATSD_HOST", "h".to_owned());
    assert!(read(&[host.clone(), ("DATADOG_TAGS", "a:1,b".into())]).is_ok());
    let error = read(&[host.clone(), ("DD_TAGS", "ok:1 :nokey".into())]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid environment variable DD_TAGS=\"ok:1 :nokey\": tag \":nokey\" has no key"
    );
    // A tag the dialect cannot write is refused by the builder, named.
    let error = read(&[host, ("DATADOG_TAGS", "a|b:1".into())]).unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::InvalidTag { .. }),
        "{error}"
    );
}

/// The telemetry lines in `lines` (our names).
fn telemetry_lines(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.starts_with("statsd_connector."))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_goes_to_its_own_address_and_out_of_the_metrics_accounting() {
    let metrics = CaptureServer::start().await.unwrap();
    let monitor = CaptureServer::builder()
        .listen(Listen::Udp)
        .start()
        .await
        .unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(metrics.port())
        .telemetry(Duration::from_millis(20))
        .telemetry_address(format!("udp://127.0.0.1:{}", monitor.port()))
        .build()
        .unwrap();
    assert_eq!(
        statsd.config().telemetry_address(),
        Some(format!("udp://127.0.0.1:{}", monitor.port()))
    );
    statsd.start().await.unwrap();
    for _ in 0..100 {
        statsd.incr("hits").unwrap();
    }
    poll_until("a report counting the hits", || {
        monitor
            .lines()
            .iter()
            .any(|l| l.starts_with("statsd_connector.sent:"))
    })
    .await;
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    let stats = statsd.stats();
    // The metrics' ledger holds the application's 100 lines and nothing else.
    assert_eq!((stats.accepted, stats.sent), (100, 100), "{stats:?}");
    assert_eq!(
        stats.accepted,
        stats.sent + stats.undelivered + stats.in_queue
    );
    bounded(
        "the metrics",
        metrics.wait_for_lines(100, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(telemetry_lines(&metrics.lines()), 0);
    // Every telemetry line was written to the monitor (UDP on loopback:
    // each one arrives) and none was lost.
    assert!(stats.telemetry_sent > 0);
    assert_eq!(stats.telemetry_lost, 0);
    poll_until("every telemetry line", || {
        monitor.line_count() == stats.telemetry_sent
    })
    .await;
    let sent: i64 = monitor
        .lines()
        .iter()
        .filter_map(|l| l.strip_prefix("statsd_connector.sent:"))
        .map(|v| v.strip_suffix("|c").unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(sent, 100, "the reports add up to the lines sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_telemetry_server_delays_no_metric_and_its_lines_are_counted_lost() {
    let metrics = CaptureServer::start().await.unwrap();
    // A TCP port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(metrics.port())
        .telemetry(Duration::from_millis(10))
        .telemetry_address(format!("tcp://127.0.0.1:{port}"))
        .stop_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    for _ in 0..1000 {
        statsd.incr("hits").unwrap();
    }
    bounded(
        "the metrics",
        metrics.wait_for_lines(1000, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    statsd.stop().await;
    let stats = statsd.stats();
    assert_eq!((stats.accepted, stats.sent), (1000, 1000));
    assert_eq!(stats.telemetry_sent, 0);
    assert!(stats.telemetry_lost > 0, "{stats:?}");
    assert_eq!(telemetry_lines(&metrics.lines()), 0);
}

#[test]
fn dd_telemetry_host_and_port_are_read_as_datadogpy_reads_them() {
    let base = |extra: &[(&'static str, String)]| {
        let mut pairs = vec![
            ("DD_AGENT_HOST", "agent".to_owned()),
            ("DD_DOGSTATSD_PORT", "9125".to_owned()),
            ("STATSD_TELEMETRY_INTERVAL", "10".to_owned()),
        ];
        pairs.extend_from_slice(extra);
        Builder::from_env_with(env(&pairs)).and_then(Builder::build_config)
    };
    let config = base(&[("DD_TELEMETRY_HOST", "monitor".into())]).unwrap();
    // The port defaults to the metrics' port, the transport is UDP.
    assert_eq!(
        config.telemetry_address().as_deref(),
        Some("udp://monitor:9125")
    );
    let config = base(&[
        ("DD_TELEMETRY_HOST", "monitor".into()),
        ("DD_TELEMETRY_PORT", "8126".into()),
    ])
    .unwrap();
    assert_eq!(
        config.telemetry_address().as_deref(),
        Some("udp://monitor:8126")
    );
    let config = base(&[("DD_TELEMETRY_HOST", "unixgram:///run/t.sock".into())]).unwrap();
    assert_eq!(
        config.telemetry_address().as_deref(),
        Some("unixgram:///run/t.sock")
    );
    // A builder setting wins over the environment.
    let config = Builder::from_env_with(env(&[
        ("STATSD_HOST", "h".into()),
        ("STATSD_TELEMETRY_INTERVAL", "10".into()),
        ("DD_TELEMETRY_HOST", "monitor".into()),
    ]))
    .unwrap()
    .telemetry_address("tcp://other:1")
    .build_config()
    .unwrap();
    assert_eq!(config.telemetry_address().as_deref(), Some("tcp://other:1"));
    // Without telemetry on, DD_TELEMETRY_HOST has nothing to redirect.
    let config = Builder::from_env_with(env(&[
        ("STATSD_HOST", "h".into()),
        ("DD_TELEMETRY_HOST", "monitor".into()),
    ]))
    .unwrap()
    .build_config()
    .unwrap();
    assert_eq!(config.telemetry_address(), None);
    // Bad values are errors naming the variable.
    let error = base(&[
        ("DD_TELEMETRY_HOST", "monitor".into()),
        ("DD_TELEMETRY_PORT", "0".into()),
    ])
    .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::InvalidEnvironment {
                variable: "DD_TELEMETRY_PORT",
                ..
            }
        ),
        "{error}"
    );
    let error = base(&[("DD_TELEMETRY_HOST", "http://monitor".into())]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid environment variable DD_TELEMETRY_HOST=\"http://monitor\": unknown scheme \"http\" (expected udp, tcp, unix, unixgram or unixstream)"
    );
    // The builder's own error names the setting and value.
    let error = Connector::builder()
        .host("h")
        .telemetry_address("m")
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid configuration: telemetry_address = \"m\": telemetry is off: set .telemetry(interval) as well"
    );
}
