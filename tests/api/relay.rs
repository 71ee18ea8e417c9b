//! `send_line` on a DogStatsD connector relays packed values and the
//! DogStatsD fields (`|T`, `|c:`, `|e:`, `|card:`) as written.

use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Builder, Cardinality, Connector, ErrorKind};
use statsd_connector_testkit::wait::bounded;

fn agent(server: &CaptureServer) -> Builder {
    Connector::builder()
        .host(format!("tcp://127.0.0.1:{}", server.port()))
        .dogstatsd(true)
        .origin_detection(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dogstatsd_fields_are_relayed_unchanged() {
    let server = CaptureServer::start().await.unwrap();
    let lines = [
        "page.views:1|c|#env:prod|T1700000000|c:abc123|card:low",
        "t:1:2.5:3|ms|@0.5|#k:v,bare|e:it-false,cn-app",
        "g:-5|g|T1700000001|c:in-4242",
        "d:7|d|card:orchestrator|#url:http://x:80",
        "plain:1|c",
    ];
    let statsd = agent(&server).build().unwrap();
    statsd.start().await.unwrap();
    for line in lines {
        statsd.send_line(line).unwrap();
    }
    statsd.stop().await;
    bounded(
        "the lines",
        server.wait_for_lines(5, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(server.lines(), lines);
    let stats = statsd.stats();
    assert_eq!((stats.accepted, stats.sent, stats.rejected), (5, 5, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_adds_only_its_prefix_global_tags_and_missing_origin_fields() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = agent(&server)
        .prefix("relay")
        .global_tag("via", "cli")
        .container_id("own")
        .cardinality(Cardinality::High)
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    // The line's own origin wins whole; a line without one gets the
    // connector's; a cardinality given is kept.
    statsd.send_line("a:1|c|T5|c:theirs").unwrap();
    statsd.send_line("b:1|c|@0.5|T6").unwrap();
    statsd.send_line("c:1|g|#k:v|e:ext|card:none").unwrap();
    statsd.stop().await;
    bounded(
        "the lines",
        server.wait_for_lines(3, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(
        server.lines(),
        [
            "relay.a:1|c|#via:cli|T5|c:theirs|card:high",
            "relay.b:1|c|@0.5|#via:cli|T6|c:own|card:high",
            "relay.c:1|g|#via:cli,k:v|e:ext|card:none",
        ]
    );
}

#[test]
fn relayed_fields_are_validated_and_plain_servers_still_refuse_them() {
    let statsd = Connector::builder()
        .host("udp://127.0.0.1:8125")
        .dogstatsd(true)
        .origin_detection(false)
        .build()
        .unwrap();
    let kind = |line: &str| statsd.send_line(line).unwrap_err().into_kind();
    assert!(matches!(
        kind("t:1|ms|T1700000000"),
        ErrorKind::InvalidField {
            field: "timestamp",
            ..
        }
    ));
    assert!(matches!(
        kind("a:1|c|c:a,b"),
        ErrorKind::InvalidField {
            field: "container id",
            ..
        }
    ));
    assert!(matches!(kind("a:1|c|T1|T2"), ErrorKind::MalformedLine(_)));
    assert!(matches!(
        kind("a:1|c|card:huge"),
        ErrorKind::MalformedLine(_)
    ));
    assert_eq!(statsd.stats().rejected, 4);
    assert_eq!(statsd.stats().accepted, 0);

    let plain = Connector::builder().host("127.0.0.1").build().unwrap();
    assert!(matches!(
        plain.send_line("a:1|c|T5").unwrap_err().into_kind(),
        ErrorKind::MalformedLine(_)
    ));
}
