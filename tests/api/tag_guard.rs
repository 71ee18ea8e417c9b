//! `.max_tag_sets(n)`: the cap on distinct tag sets per metric name. A call
//! over it is sent with its tags collapsed into the overflow tag, counted in
//! `stats()` and the telemetry, and logged, throttled.

use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Line, Metrics};
use statsd_connector_testkit::log_capture::LogCapture;
use statsd_connector_testkit::wait::{bounded, poll_until};

const OVERFLOW: &str = "statsd_connector.overflow:true";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_the_cap_are_collapsed_counted_and_logged() {
    let (capture, _log) = LogCapture::set_default();
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .global_tag("env", "prod")
        .max_tag_sets(3)
        .build()
        .unwrap();
    assert_eq!(statsd.config().max_tag_sets(), Some(3));
    statsd.start().await.unwrap();
    LogCapture::recheck();
    let users: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    for user in &users {
        statsd.with_tags(&[("user", user)]).incr("logins").unwrap();
    }
    // Seen sets stay admitted, in any order; other names have caps of
    // their own; calls without tags of their own are never over.
    statsd
        .with_tags(&[("user", "0")])
        .timing("logins.time", Duration::from_millis(3))
        .unwrap();
    statsd.with_tags(&[("user", "1")]).incr("logins").unwrap();
    statsd
        .with_tags(&[("a", "1"), ("b", "2")])
        .incr("other")
        .unwrap();
    statsd
        .with_tags(&[("b", "2"), ("a", "1")])
        .incr("other")
        .unwrap();
    statsd.incr("logins").unwrap();
    statsd.send_line("logins:1|c|#user:77").unwrap();
    statsd.stop().await;

    let stats = statsd.stats();
    assert_eq!(stats.tag_set_overflows, 8, "{stats:?}");
    assert_eq!(stats.accepted, 16);
    assert_eq!(
        stats.accepted,
        stats.sent + stats.undelivered + stats.in_queue
    );
    bounded(
        "every line",
        server.wait_for_lines(16, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let lines = server.lines();
    let logins: Vec<&String> = lines.iter().filter(|l| l.starts_with("logins:")).collect();
    assert_eq!(logins.len(), 13);
    let kept: Vec<&str> = logins
        .iter()
        .filter(|l| l.contains("user:"))
        .map(|l| l.as_str())
        .collect();
    assert_eq!(
        kept,
        [
            "logins:1|c|#env:prod,user:0",
            "logins:1|c|#env:prod,user:1",
            "logins:1|c|#env:prod,user:2",
            "logins:1|c|#env:prod,user:1",
        ]
    );
    let collapsed = logins
        .iter()
        .filter(|l| l.as_str() == format!("logins:1|c|#env:prod,{OVERFLOW}"))
        .count();
    assert_eq!(collapsed, 8, "{logins:?}");
    assert!(lines.contains(&"logins.time:3|ms|#env:prod,user:0".to_owned()));
    assert!(lines.contains(&"logins:1|c|#env:prod".to_owned()));
    assert_eq!(lines.iter().filter(|l| l.starts_with("other:")).count(), 2);
    assert!(lines.iter().all(|l| Line::parse(l).is_ok()));

    let warnings = capture.with_message(
        "statsd tag-set cap reached: metric sent with statsd_connector.overflow:true instead of its tags",
    );
    assert_eq!(warnings.len(), 8);
    assert_eq!(warnings[0].fields["metric"], "logins");
    assert_eq!(warnings[0].u64_field("limit"), Some(3));
    assert_eq!(
        warnings[7].u64_field("over_the_cap_in_this_window"),
        Some(8)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warning_is_throttled() {
    let (capture, _log) = LogCapture::set_default();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .max_tag_sets(1)
        .build()
        .unwrap();
    LogCapture::recheck();
    for i in 0..1000 {
        let value = i.to_string();
        statsd.with_tags(&[("id", &value)]).incr("ids").unwrap();
    }
    assert_eq!(statsd.stats().tag_set_overflows, 999);
    // The first 100 of the window, then one in 100.
    let warnings = capture.with_message(
        "statsd tag-set cap reached: metric sent with statsd_connector.overflow:true instead of its tags",
    );
    assert_eq!(warnings.len(), 100 + 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_aggregation_a_flush_holds_at_most_the_cap_plus_one_context_and_opens_a_new_window() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .aggregate(Duration::from_millis(200))
        .telemetry(Duration::from_millis(50))
        .max_tag_sets(2)
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    let ids: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    for id in &ids {
        statsd.with_tags(&[("id", id)]).incr("jobs").unwrap();
    }
    let has = |line: &str| server.lines().iter().any(|l| l == line);
    poll_until("the flush", || has(&format!("jobs:8|c|#{OVERFLOW}"))).await;
    assert!(has("jobs:1|c|#id:0") && has("jobs:1|c|#id:1"));
    let reported = || -> i64 {
        server
            .lines()
            .iter()
            .filter_map(|l| l.strip_prefix("statsd_connector.tag_set_overflows:"))
            .map(|v| v.strip_suffix("|c").unwrap().parse::<i64>().unwrap())
            .sum()
    };
    poll_until("the telemetry", || reported() == 8).await;
    // The flush began a new window: two new sets are admitted again.
    statsd.with_tags(&[("id", "8")]).incr("jobs").unwrap();
    poll_until("the next flush", || has("jobs:1|c|#id:8")).await;
    statsd.stop().await;
    let stats = statsd.stats();
    assert_eq!(stats.tag_set_overflows, 8);
    assert_eq!(
        stats.accepted,
        stats.sent + stats.undelivered + stats.in_queue
    );
}

#[test]
fn the_cap_reads_the_environment_and_refuses_zero() {
    let env = |value: &'static str| {
        move |name: &str| match name {
            "STATSD_HOST" => Some("h".to_owned()),
            "STATSD_MAX_TAG_SETS" => Some(value.to_owned()),
            _ => None,
        }
    };
    let read = |value| {
        statsd_connector::Builder::from_env_with(env(value))
            .and_then(statsd_connector::Builder::build_config)
    };
    assert_eq!(read("50").unwrap().max_tag_sets(), Some(50));
    assert_eq!(
        read("0").unwrap_err().to_string(),
        "invalid configuration: max_tag_sets = \"0\": must allow at least one tag set (leave it unset for no cap)"
    );
    assert!(read("lots")
        .unwrap_err()
        .to_string()
        .starts_with("invalid environment variable STATSD_MAX_TAG_SETS=\"lots\""));
    assert_eq!(
        Connector::builder()
            .host("h")
            .build()
            .unwrap()
            .config()
            .max_tag_sets(),
        None
    );
}
