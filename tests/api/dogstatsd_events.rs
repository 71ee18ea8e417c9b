//! DogStatsD events and service checks, end to end: from `Connector::event`,
//! `Connector::service_check` and `send_line` to the bytes a capture server
//! receives, and the counters that account for them.

use std::time::Duration;

use statsd_connector::testing::{CaptureServer, Listen};
use statsd_connector::{
    AlertType, Connector, Datagram, ErrorKind, Event, EventPriority, Metrics, Protocol,
    ServiceCheck, ServiceCheckStatus, Stats,
};

const DEADLINE: Duration = Duration::from_secs(10);

async fn server(listen: Listen) -> CaptureServer {
    CaptureServer::builder()
        .address(([127, 0, 0, 1], 0).into())
        .listen(listen)
        .start()
        .await
        .expect("capture server")
}

fn connector(server: &CaptureServer, protocol: Protocol) -> Connector {
    Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .protocol(protocol)
        .dogstatsd(true)
        .origin_detection(false)
        .prefix("app")
        .global_tag("env", "prod")
        .global_tag("canary", "")
        .build()
        .expect("connector")
}

/// Sends one of each and the metric between them; returns the lines expected.
fn send_all(statsd: &Connector) -> Vec<&'static str> {
    let tags = [("region", "eu")];
    statsd
        .event(
            &Event::new("Deploy | v2", "rolled out\nto 3 hosts")
                .timestamp(1_700_000_000)
                .hostname("web-1")
                .aggregation_key("deploys")
                .priority(EventPriority::Low)
                .source_type("ci")
                .alert_type(AlertType::Success)
                .tags(&tags),
        )
        .unwrap();
    statsd.incr("hits").unwrap();
    statsd
        .service_check(
            &ServiceCheck::new("db.up", ServiceCheckStatus::Warning)
                .timestamp(1_700_000_001)
                .hostname("db-1")
                .tags(&tags)
                .message("slow\nsince m: 10:02"),
        )
        .unwrap();
    statsd.event(&Event::new("plain", "")).unwrap();
    vec![
        "_e{11,22}:Deploy | v2|rolled out\\nto 3 hosts|d:1700000000|h:web-1|k:deploys|p:low|s:ci|t:success|#env:prod,canary,region:eu",
        "app.hits:1|c|#env:prod,canary",
        "_sc|db.up|1|d:1700000001|h:db-1|#env:prod,canary,region:eu|m:slow\\nsince m\\: 10:02",
        "_e{5,0}:plain||#env:prod,canary",
    ]
}

fn assert_identity(stats: &Stats) {
    assert_eq!(
        stats.accepted,
        stats.sent + stats.undelivered + stats.in_queue,
        "{stats:?}"
    );
}

async fn arrive_byte_exact(protocol: Protocol, listen: Listen) {
    let server = server(listen).await;
    let statsd = connector(&server, protocol);
    statsd.start().await.unwrap();
    let expected = send_all(&statsd);
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    server
        .wait_for_lines(expected.len() as u64, DEADLINE)
        .await
        .unwrap();
    assert_eq!(server.lines(), expected);
    assert!(server.malformed().is_empty(), "{:?}", server.malformed());
    // And each reads back as what it is.
    for line in server.lines() {
        let datagram = Datagram::parse(&line).unwrap();
        assert_eq!(
            format!("{:?}", datagram.kind()),
            match &line[..3] {
                "_e{" => "Event",
                "_sc" => "ServiceCheck",
                _ => "Metric",
            }
        );
    }
    let stats = statsd.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.sent,
            stats.events,
            stats.service_checks
        ),
        (4, 4, 2, 1)
    );
    assert_identity(&stats);
}

#[tokio::test]
async fn events_and_service_checks_arrive_byte_exact_over_tcp() {
    arrive_byte_exact(Protocol::Tcp, Listen::Tcp).await;
}

#[tokio::test]
async fn events_and_service_checks_arrive_byte_exact_over_udp() {
    arrive_byte_exact(Protocol::Udp, Listen::Udp).await;
}

#[tokio::test]
async fn refused_when_the_server_is_not_dogstatsd() {
    let server = server(Listen::Tcp).await;
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    let event = statsd.event(&Event::new("t", "x")).unwrap_err();
    assert!(
        matches!(event.kind(), ErrorKind::NotDogStatsd(_)),
        "{event}"
    );
    assert!(event.is_invalid_input());
    let check = ServiceCheck::new("a", ServiceCheckStatus::Ok);
    assert!(matches!(
        statsd.service_check(&check).unwrap_err().kind(),
        ErrorKind::NotDogStatsd(_)
    ));
    assert!(matches!(
        statsd.send_line("_e{1,1}:t|x").unwrap_err().kind(),
        ErrorKind::NotDogStatsd(_)
    ));
    statsd.incr("still.fine").unwrap();
    statsd.stop().await;
    server.wait_for_lines(1, DEADLINE).await.unwrap();
    assert_eq!(server.lines(), ["still.fine:1|c"]);
    let stats = statsd.stats();
    assert_eq!(
        (
            stats.rejected,
            stats.accepted,
            stats.events,
            stats.service_checks
        ),
        (3, 1, 0, 0)
    );
    assert_identity(&stats);
}

#[tokio::test]
async fn invalid_ones_are_rejected_typed_and_counted() {
    let server = server(Listen::Tcp).await;
    let statsd = connector(&server, Protocol::Tcp);
    let bad_tags = [("a", "b|c")];
    let results = [
        statsd.event(&Event::new("", "x")),
        statsd.event(&Event::new("t", "C:\\new")),
        statsd.event(&Event::new("t", "x").hostname("a|b")),
        statsd.event(&Event::new("t", "x").tags(&bad_tags)),
        statsd.service_check(&ServiceCheck::new("a b\n", ServiceCheckStatus::Ok)),
        statsd.service_check(&ServiceCheck::new("a", ServiceCheckStatus::Ok).message("x|y")),
        statsd.event(&Event::new("t", &"x".repeat(70_000))),
    ];
    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert!(error.is_invalid_input(), "{error}");
    }
    assert!(matches!(
        results[3].as_ref().unwrap_err().kind(),
        ErrorKind::InvalidTag { .. }
    ));
    assert!(matches!(
        results[6].as_ref().unwrap_err().kind(),
        ErrorKind::LineTooLong { .. }
    ));
    let stats = statsd.stats();
    assert_eq!(
        (stats.rejected, stats.accepted, stats.events, stats.dropped),
        (7, 0, 0, 0)
    );
}

#[tokio::test]
async fn send_line_relays_events_and_service_checks_with_the_global_tags() {
    let server = server(Listen::Tcp).await;
    let statsd = connector(&server, Protocol::Tcp);
    statsd.start().await.unwrap();
    statsd
        .send_line("_e{5,6}:Title|a\\nb|c|p:low|#k:v\n")
        .unwrap();
    statsd.send_line("_sc|job.ok|0|h:w1|m:m\\: done").unwrap();
    statsd.send_line("jobs:1|c").unwrap();
    assert!(statsd.send_line("_e{5,6}:Title|a\\nb|c|q:x").is_err());
    assert!(statsd.send_line("_sc|job.ok|9").is_err());
    statsd.stop().await;
    server.wait_for_lines(3, DEADLINE).await.unwrap();
    assert_eq!(
        server.lines(),
        [
            "_e{5,6}:Title|a\\nb|c|p:low|#env:prod,canary,k:v",
            "_sc|job.ok|0|h:w1|#env:prod,canary|m:m\\: done",
            "app.jobs:1|c|#env:prod,canary",
        ]
    );
    let stats = statsd.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.rejected,
            stats.events,
            stats.service_checks
        ),
        (3, 2, 1, 1)
    );
    assert_identity(&stats);
}

#[tokio::test]
async fn the_identity_holds_when_nothing_could_be_delivered() {
    // Never started: what was queued is undelivered, and still accounted for.
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(9)
        .dogstatsd(true)
        .origin_detection(false)
        .queue_capacity(3)
        .build()
        .unwrap();
    statsd.event(&Event::new("a", "b")).unwrap();
    statsd
        .service_check(&ServiceCheck::new("c", ServiceCheckStatus::Unknown))
        .unwrap();
    statsd.incr("d").unwrap();
    // The queue is full: dropped and counted, not in `events`.
    assert!(statsd
        .event(&Event::new("e", "f"))
        .unwrap_err()
        .is_queue_full());
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 3);
    let stats = statsd.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.undelivered,
            stats.dropped,
            stats.events,
            stats.service_checks
        ),
        (3, 3, 1, 1, 1)
    );
    assert_identity(&stats);
}

#[tokio::test]
async fn a_disabled_connector_sends_nothing() {
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .dogstatsd(true)
        .origin_detection(false)
        .enabled(false)
        .build()
        .unwrap();
    statsd.event(&Event::new("t", "x")).unwrap();
    statsd
        .service_check(&ServiceCheck::new("a", ServiceCheckStatus::Ok))
        .unwrap();
    assert_eq!(statsd.stats(), Stats::default());
}

// ------------------------------------------------ protocol fields beyond v1.0

/// A connector declared DogStatsD with an explicit origin and cardinality.
fn with_origin(server: &CaptureServer) -> Connector {
    Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .protocol(Protocol::Udp)
        .dogstatsd(true)
        .origin_detection(false)
        .container_id("83c0a99c0a54")
        .cardinality(statsd_connector::Cardinality::Low)
        .global_tag("env", "prod")
        .build()
        .expect("connector")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_and_cardinality_end_every_line_metrics_events_and_service_checks() {
    let server = server(Listen::Udp).await;
    let statsd = with_origin(&server);
    statsd.start().await.unwrap();
    statsd.incr("hits").unwrap();
    statsd.event(&Event::new("Deploy", "done")).unwrap();
    statsd
        .service_check(&ServiceCheck::new("db.up", ServiceCheckStatus::Ok).message("fine"))
        .unwrap();
    statsd.stop().await;
    server.wait_for_lines(3, DEADLINE).await.unwrap();
    let mut lines = server.lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            "_e{6,4}:Deploy|done|#env:prod|c:83c0a99c0a54|card:low",
            "_sc|db.up|0|#env:prod|m:fine|c:83c0a99c0a54|card:low",
            "hits:1|c|#env:prod|c:83c0a99c0a54|card:low",
        ]
    );
    for line in &lines {
        Datagram::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_go_on_gauges_and_counts_and_a_call_cardinality_wins() {
    use std::time::SystemTime;
    let server = server(Listen::Udp).await;
    let statsd = with_origin(&server);
    statsd.start().await.unwrap();
    let measured = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    statsd.at(measured).gauge("backlog", 12.0).unwrap();
    statsd.at(measured).count("jobs", 3).unwrap();
    statsd
        .with_cardinality(statsd_connector::Cardinality::High)
        .incr("requests")
        .unwrap();
    let refused = statsd.at(measured).histogram("h", 1.0).unwrap_err();
    assert!(matches!(
        refused.kind(),
        ErrorKind::InvalidField {
            field: "timestamp",
            ..
        }
    ));
    let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
    assert!(statsd.at(before_epoch).gauge("g", 1.0).is_err());
    statsd.stop().await;
    server.wait_for_lines(3, DEADLINE).await.unwrap();
    let mut lines = server.lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            "backlog:12|g|#env:prod|c:83c0a99c0a54|T1700000000|card:low",
            "jobs:3|c|#env:prod|c:83c0a99c0a54|T1700000000|card:low",
            "requests:1|c|#env:prod|c:83c0a99c0a54|card:high",
        ]
    );
    assert_eq!(statsd.stats().rejected, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_fields_never_go_to_a_plain_statsd_server() {
    use std::time::SystemTime;
    let server = server(Listen::Udp).await;
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .protocol(Protocol::Udp)
        .container_id("83c0a99c0a54")
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(statsd.config().container_id(), None, "not DogStatsD");
    statsd.start().await.unwrap();
    let refused = statsd.at(SystemTime::now()).gauge("g", 1.0).unwrap_err();
    assert!(matches!(refused.kind(), ErrorKind::NotDogStatsd(_)));
    for ms in [1, 2] {
        statsd.timing("t", Duration::from_millis(ms)).unwrap();
    }
    statsd.stop().await;
    server.wait_for_lines(2, DEADLINE).await.unwrap();
    // No packing for a plain statsd server: one line per timing.
    let mut lines = server.lines();
    lines.sort();
    assert_eq!(lines, ["t:1|ms", "t:2|ms"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dogstatsd_server_gets_timings_packed_per_flush() {
    let server = server(Listen::Udp).await;
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .protocol(Protocol::Udp)
        .dogstatsd(true)
        .origin_detection(false)
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    for ms in [1, 2, 3] {
        statsd.timing("t", Duration::from_millis(ms)).unwrap();
    }
    statsd.distribution("d", 0.5).unwrap();
    statsd.stop().await;
    server.wait_for_lines(2, DEADLINE).await.unwrap();
    let mut lines = server.lines();
    lines.sort();
    assert_eq!(lines, ["d:0.5|d", "t:1:2:3|ms"]);
    let stats = statsd.stats();
    assert_eq!((stats.sent, stats.undelivered, stats.in_queue), (2, 0, 0));
}
