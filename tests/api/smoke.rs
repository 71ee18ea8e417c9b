use statsd_connector::{testing::CaptureServer, Connector, Metrics, Protocol};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_udp_round_trip() {
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        let server = CaptureServer::start().await.unwrap();
        let statsd = Connector::builder()
            .host("127.0.0.1")
            .port(server.port())
            .protocol(protocol)
            .prefix("app")
            .build()
            .unwrap();
        statsd.start().await.unwrap();
        assert!(statsd.is_running());
        statsd.incr("hits").unwrap();
        statsd.gauge("temp", -5.0).unwrap();
        statsd.timing("t", Duration::from_micros(1500)).unwrap();
        for i in 0..10_000 {
            statsd.count("bulk", i).unwrap();
        }
        let report = statsd.stop().await;
        assert_eq!(report.undelivered, 0);
        assert!(statsd.is_stopped());
        server
            .wait_for_lines(10_004, Duration::from_secs(5))
            .await
            .unwrap();
        let lines = server.lines();
        assert_eq!(
            &lines[..4],
            [
                "app.hits:1|c",
                "app.temp:0|g",
                "app.temp:-5|g",
                "app.t:1.5|ms"
            ]
        );
        let s = statsd.stats();
        println!("{protocol}: {s:?}");
        assert_eq!(s.sent, 10_004);
        assert!(server.malformed().is_empty());
    }
}
