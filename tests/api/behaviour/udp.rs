//! UDP: whole lines batched into datagrams within the payload limit, and a
//! negative gauge's two lines never split between datagrams.

use statsd_connector::testing::{CaptureServer, Listen};
use statsd_connector::{Connector, Error, ErrorKind, Line, Metrics, Protocol};
use statsd_connector_testkit::socket::set_receive_buffer;
use statsd_connector_testkit::wait::{bounded, wait_state};
use tokio::net::UdpSocket;

use super::helpers::{builder, lines};

/// A varied set of lines (12 to 73 bytes), with negative gauges (sent as a
/// `0|g` reset then the value, together at most 110 bytes) interleaved.
/// Returns the lines the server should receive.
fn emit_varied(statsd: &Connector, n: usize) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..n {
        let name = format!("v{}.{i}", "x".repeat((i * 37) % 60));
        statsd.count(&name, i as i64).unwrap();
        expected.push(format!("{name}:{i}|c"));
        if i % 7 == 3 {
            let gauge = format!("neg{}.{i}", "y".repeat((i * 13) % 40));
            statsd.gauge(&gauge, -5.0).unwrap();
            expected.push(format!("{gauge}:0|g"));
            expected.push(format!("{gauge}:-5|g"));
        }
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_batches_whole_lines_into_shared_datagrams() {
    let server = CaptureServer::builder()
        .listen(Listen::Udp)
        .start()
        .await
        .unwrap();
    let statsd = builder(server.port())
        .protocol(Protocol::Udp)
        .max_payload(200)
        .build()
        .unwrap();
    let expected = emit_varied(&statsd, 2_000);
    bounded("start", statsd.start()).await.unwrap();
    wait_state(&statsd, "udp socket ready", |s| s.is_connected()).await;
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);

    let received = lines(&server, expected.len() as u64).await;
    assert_eq!(server.malformed(), Vec::<String>::new());
    let mut sorted_received = received.clone();
    sorted_received.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(
        sorted_received, sorted_expected,
        "lines lost, cut or duplicated"
    );
    let stats = statsd.stats();
    assert_eq!(stats.sent, expected.len() as u64);
    assert_eq!(stats.datagrams, server.datagrams(), "{stats:?}");
    assert!(
        stats.datagrams * 2 < expected.len() as u64,
        "{} datagrams for {} lines: lines are not batched",
        stats.datagrams,
        expected.len()
    );
}

/// The receive buffer the tests that read datagrams themselves ask for, so
/// that a burst is not dropped by the kernel before the test reads it.
const RECEIVE_BUFFER: usize = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_never_exceed_the_payload_limit_nor_split_a_line_or_a_gauge_reset() {
    const MAX: usize = 200;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    set_receive_buffer(&socket, RECEIVE_BUFFER);
    let port = socket.local_addr().unwrap().port();
    let statsd = builder(port)
        .protocol(Protocol::Udp)
        .max_payload(MAX)
        .build()
        .unwrap();

    let mut expected = emit_varied(&statsd, 2_000);
    // The longest line that fits (newline included) is accepted, one more byte is not.
    let fits = "f".repeat(MAX - ":1|c\n".len());
    statsd.incr(&fits).unwrap();
    expected.push(format!("{fits}:1|c"));
    let too_long = "f".repeat(MAX - ":1|c\n".len() + 1);
    assert!(matches!(
        statsd.incr(&too_long).map_err(Error::into_kind),
        Err(ErrorKind::LineTooLong {
            length: 201,
            limit: 200
        })
    ));

    bounded("start", statsd.start()).await.unwrap();
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);

    let mut datagrams = Vec::new();
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 65_536];
    while received.len() < expected.len() {
        let n = bounded("datagrams", socket.recv(&mut buffer))
            .await
            .unwrap();
        let datagram = String::from_utf8(buffer[..n].to_vec()).expect("UTF-8 datagram");
        assert!(n <= MAX, "datagram of {n} bytes: {datagram:?}");
        assert!(
            datagram.ends_with('\n'),
            "datagram does not end with a newline: {datagram:?}"
        );
        let in_datagram: Vec<String> = datagram.lines().map(str::to_owned).collect();
        for (i, line) in in_datagram.iter().enumerate() {
            Line::parse(line).unwrap_or_else(|e| panic!("{line:?} in {datagram:?}: {e}"));
            if line.starts_with("neg") && line.ends_with(":0|g") {
                let name = &line[..line.len() - ":0|g".len()];
                assert_eq!(
                    in_datagram.get(i + 1).map(String::as_str),
                    Some(format!("{name}:-5|g").as_str()),
                    "gauge reset separated from its value: {datagram:?}"
                );
            }
        }
        received.extend(in_datagram);
        datagrams.push(datagram);
    }
    assert_eq!(received.len(), expected.len());
    let mut sorted_received = received.clone();
    sorted_received.sort();
    expected.sort();
    assert_eq!(sorted_received, expected, "lines lost, cut or duplicated");
    let stats = statsd.stats();
    assert_eq!(stats.datagrams, datagrams.len() as u64);
    assert!(
        datagrams.len() * 2 < received.len(),
        "{} datagrams for {} lines",
        datagrams.len(),
        received.len()
    );
    // Packed: everything was queued from one thread before start, so it
    // travels as one buffer, and a datagram ends only where the next line
    // would not fit, or where it would separate a gauge reset from its value.
    for pair in datagrams.windows(2) {
        let (this, next) = (&pair[0], &pair[1]);
        let mut next_lines = next.split_inclusive('\n');
        let first = next_lines.next().unwrap();
        let held_back = first.starts_with("neg") && first.ends_with(":0|g\n");
        let needed = if held_back {
            first.len() + next_lines.next().unwrap().len()
        } else {
            first.len()
        };
        assert!(this.len() + needed > MAX, "{this:?} had room for {first:?}");
    }
}

/// A negative gauge is two lines that must share a datagram: when the pair
/// cannot fit in one, it must be refused, not split (a lone `-5|g` is a
/// decrement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_negative_gauge_too_long_for_one_datagram_is_refused_not_split() {
    const MAX: usize = 200;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    set_receive_buffer(&socket, RECEIVE_BUFFER);
    let port = socket.local_addr().unwrap().port();
    let statsd = builder(port)
        .protocol(Protocol::Udp)
        .max_payload(MAX)
        .build()
        .unwrap();

    // "n…:0|g\n" + "n…:-5|g\n" is 2 × name + 11 bytes: a 94-byte name makes
    // a pair of 199 bytes, which fits; 95 makes 201, which does not.
    let fits = "n".repeat((MAX - 11) / 2);
    let fits = fits.as_str();
    statsd.gauge(fits, -5.0).unwrap();
    let too_long = "n".repeat((MAX - 11) / 2 + 1);
    assert_eq!(2 * too_long.len() + 11, MAX + 1);
    assert!(
        too_long.len() + ":-5|g\n".len() <= MAX,
        "each line alone fits"
    );
    let refused = statsd.gauge(&too_long, -5.0);
    statsd.incr("after").unwrap();

    bounded("start", statsd.start()).await.unwrap();
    bounded("stop", statsd.stop()).await;
    let mut buffer = vec![0u8; 65_536];
    let mut received = Vec::new();
    while !received.iter().any(|d: &String| d.contains("after:1|c")) {
        let n = bounded("datagrams", socket.recv(&mut buffer))
            .await
            .unwrap();
        received.push(String::from_utf8(buffer[..n].to_vec()).unwrap());
    }
    assert!(
        received[0].starts_with(&format!("{fits}:0|g\n{fits}:-5|g\n")),
        "the pair that fits was split: {received:?}"
    );
    for datagram in &received {
        if let Some(at) = datagram.find(&format!("{too_long}:0|g\n")) {
            assert!(
                datagram[at..].contains(&format!("{too_long}:-5|g\n")),
                "a gauge reset was sent apart from its value: {received:?}"
            );
        }
    }
    assert!(
        matches!(
            refused.as_ref().map_err(Error::kind),
            Err(ErrorKind::LineTooLong { .. })
        ),
        "a negative gauge whose two lines exceed max_payload was accepted ({refused:?}), \
         so it must travel split: {received:?}"
    );
}
