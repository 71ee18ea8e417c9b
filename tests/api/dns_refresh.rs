//! `.dns_refresh(interval)`: the processor follows a server that moves, for
//! UDP, TCP and a Unix socket file replaced under it, and loses nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use statsd_connector::testing::{CaptureServer, Listen};
use statsd_connector::{Builder, Connector, Metrics, Stats};
use statsd_connector_testkit::wait::{bounded, poll_until};

/// A resolver whose answer the test changes, and how often it was asked.
#[derive(Clone)]
struct Answer {
    address: Arc<Mutex<SocketAddr>>,
    asked: Arc<Mutex<u64>>,
}

impl Answer {
    fn new(address: SocketAddr) -> Answer {
        Answer {
            address: Arc::new(Mutex::new(address)),
            asked: Arc::new(Mutex::new(0)),
        }
    }

    fn set(&self, address: SocketAddr) {
        *self.address.lock().unwrap() = address;
    }

    fn asked(&self) -> u64 {
        *self.asked.lock().unwrap()
    }

    fn install(&self, builder: Builder) -> Builder {
        let answer = self.clone();
        builder.resolver(move |host, _port| {
            assert_eq!(host, "statsd.moving");
            *answer.asked.lock().unwrap() += 1;
            Ok(vec![*answer.address.lock().unwrap()])
        })
    }
}

fn assert_identity(stats: &Stats) {
    assert_eq!(
        stats.accepted,
        stats.sent + stats.undelivered + stats.in_queue,
        "{stats:?}"
    );
}

/// Emits `count` counters named `moving.<i>` from `from`.
fn emit(statsd: &Connector, from: usize, count: usize) {
    for i in from..from + count {
        statsd.incr(&format!("moving.{i}")).unwrap();
    }
}

/// The `moving.<i>` indices in `lines`, sorted.
fn indices(lines: &[String]) -> Vec<usize> {
    let mut seen: Vec<usize> = lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("moving.")?
                .strip_suffix(":1|c")?
                .parse()
                .ok()
        })
        .collect();
    seen.sort_unstable();
    seen
}

async fn moves_when_the_answer_changes(listen: Listen, url: &str) {
    let old = CaptureServer::builder()
        .listen(listen)
        .start()
        .await
        .unwrap();
    let new = CaptureServer::builder()
        .listen(listen)
        .start()
        .await
        .unwrap();
    let answer = Answer::new(old.address());
    let statsd = answer
        .install(Connector::builder().host(format!("{url}statsd.moving:8125")))
        .dns_refresh(Duration::from_millis(20))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    emit(&statsd, 0, 100);
    bounded(
        "the first server's lines",
        old.wait_for_lines(100, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    // The same answer again and again moves nothing.
    let before = answer.asked();
    poll_until("two more lookups", || answer.asked() >= before + 2).await;
    assert_eq!(statsd.stats().address_changes, 0);

    answer.set(new.address());
    poll_until("the move", || statsd.stats().address_changes == 1).await;
    emit(&statsd, 100, 100);
    bounded(
        "the new server's lines",
        new.wait_for_lines(100, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    let stats = statsd.stats();
    assert_identity(&stats);
    assert_eq!((stats.sent, stats.possibly_lost), (200, 0), "{stats:?}");
    assert_eq!(stats.address_changes, 1);
    // Every line arrived exactly once, the first hundred at the old address
    // and the rest at the new one.
    assert_eq!(indices(&old.lines()), (0..100).collect::<Vec<_>>());
    assert_eq!(indices(&new.lines()), (100..200).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_follows_the_resolver_to_a_new_address() {
    moves_when_the_answer_changes(Listen::Udp, "udp://").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_moves_gracefully_and_loses_nothing() {
    moves_when_the_answer_changes(Listen::Tcp, "tcp://").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_tcp_sender_moves_between_batches_and_loses_nothing() {
    let old = CaptureServer::builder()
        .listen(Listen::Tcp)
        .start()
        .await
        .unwrap();
    let new = CaptureServer::builder()
        .listen(Listen::Tcp)
        .start()
        .await
        .unwrap();
    let answer = Answer::new(old.address());
    let statsd = answer
        .install(Connector::builder().host("tcp://statsd.moving"))
        .dns_refresh(Duration::from_millis(5))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    // Emit in chunks while the answer flips, until the move, and a chunk
    // after it: every line must arrive once, somewhere.
    let mut total = 0;
    let deadline = std::time::Instant::now() + statsd_connector_testkit::wait::WAIT;
    while statsd.stats().address_changes == 0 {
        assert!(std::time::Instant::now() < deadline, "no move");
        emit(&statsd, total, 1000);
        total += 1000;
        if total == 10_000 {
            answer.set(new.address());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    emit(&statsd, total, 1000);
    total += 1000;
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    let stats = statsd.stats();
    assert_identity(&stats);
    assert_eq!((stats.sent, stats.possibly_lost), (total as u64, 0));
    poll_until("every line at one server or the other", || {
        old.line_count() + new.line_count() >= total as u64
    })
    .await;
    let mut all = old.lines();
    all.extend(new.lines());
    assert_eq!(indices(&all), (0..total).collect::<Vec<_>>());
    assert!(new.line_count() > 0);
    assert_eq!(old.partial_lines() + new.partial_lines(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_fails_keeps_the_connection() {
    let server = CaptureServer::builder()
        .listen(Listen::Udp)
        .start()
        .await
        .unwrap();
    let address = server.address();
    let calls = Arc::new(Mutex::new(0u64));
    let counted = calls.clone();
    let statsd = Connector::builder()
        .host("udp://statsd.flaky")
        .resolver(move |_, _| {
            let mut calls = counted.lock().unwrap();
            *calls += 1;
            if *calls == 1 {
                Ok(vec![address])
            } else {
                Err(std::io::Error::other("SERVFAIL"))
            }
        })
        .dns_refresh(Duration::from_millis(10))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    poll_until("failed lookups", || *calls.lock().unwrap() >= 4).await;
    emit(&statsd, 0, 10);
    bounded(
        "the lines",
        server.wait_for_lines(10, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    statsd.stop().await;
    assert_eq!(statsd.stats().address_changes, 0);
}

#[test]
fn the_refresh_has_a_default_and_reads_the_environment() {
    let config = Connector::builder().host("h").build().unwrap();
    assert_eq!(
        config.config().dns_refresh(),
        Some(statsd_connector::DEFAULT_DNS_REFRESH)
    );
    assert_eq!(
        statsd_connector::DEFAULT_DNS_REFRESH,
        Duration::from_secs(30)
    );
    let env = |value: &'static str| {
        move |name: &str| match name {
            "STATSD_HOST" => Some("h".to_owned()),
            "STATSD_DNS_REFRESH" => Some(value.to_owned()),
            _ => None,
        }
    };
    let read = |value| Builder::from_env_with(env(value)).and_then(Builder::build_config);
    assert_eq!(
        read("2.5").unwrap().dns_refresh(),
        Some(Duration::from_millis(2500))
    );
    assert_eq!(read("0").unwrap().dns_refresh(), None);
    assert_eq!(
        read("soon").unwrap_err().to_string(),
        "invalid environment variable STATSD_DNS_REFRESH=\"soon\": expected a non-negative number of seconds"
    );
}

#[cfg(unix)]
mod unix {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixListener;

    /// Reads every connection of `listener` to its end, appending the text
    /// to `into`.
    fn serve(listener: UnixListener, into: Arc<Mutex<String>>) {
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let into = into.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        into.lock()
                            .unwrap()
                            .push_str(std::str::from_utf8(&buf[..n]).unwrap());
                    }
                });
            }
        });
    }

    fn lines(text: &Arc<Mutex<String>>) -> Vec<String> {
        text.lock().unwrap().lines().map(str::to_owned).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replaced_socket_file_is_followed_and_nothing_is_lost() {
        let dir =
            std::env::temp_dir().join(format!("statsd-connector-{}-replaced", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dsd.sock");
        let (old_text, new_text) = (Arc::default(), Arc::default());
        serve(UnixListener::bind(&path).unwrap(), Arc::clone(&old_text));

        let statsd = Connector::builder()
            .host(format!("unix://{}", path.display()))
            .dns_refresh(Duration::from_millis(10))
            .build()
            .unwrap();
        statsd.start().await.unwrap();
        emit(&statsd, 0, 500);
        poll_until("the old server's lines", || lines(&old_text).len() == 500).await;

        // The Agent restarts: a new socket is bound beside the path and
        // renamed over it (the old server still runs, and still reads).
        let beside = dir.join("dsd.sock.new");
        let listener = UnixListener::bind(&beside).unwrap();
        std::fs::rename(&beside, &path).unwrap();
        serve(listener, Arc::clone(&new_text));
        poll_until("the move", || statsd.stats().address_changes == 1).await;
        emit(&statsd, 500, 500);
        poll_until("the new server's lines", || lines(&new_text).len() == 500).await;

        let report = statsd.stop().await;
        assert_eq!(report.undelivered, 0);
        let stats = statsd.stats();
        assert_identity(&stats);
        assert_eq!((stats.sent, stats.possibly_lost), (1000, 0), "{stats:?}");
        assert_eq!(indices(&lines(&old_text)), (0..500).collect::<Vec<_>>());
        assert_eq!(indices(&lines(&new_text)), (500..1000).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replaced_datagram_socket_file_is_followed() {
        let dir = std::env::temp_dir().join(format!(
            "statsd-connector-{}-replaced-dgram",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dsd.sock");
        let old = tokio::net::UnixDatagram::bind(&path).unwrap();
        let statsd = Connector::builder()
            .host(format!("unixgram://{}", path.display()))
            .dns_refresh(Duration::from_millis(10))
            .build()
            .unwrap();
        statsd.start().await.unwrap();
        statsd.incr("moving.0").unwrap();
        let mut buf = vec![0u8; 8192];
        let n = bounded("the old socket's datagram", old.recv(&mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"moving.0:1|c\n");

        let beside = dir.join("dsd.sock.new");
        let new = tokio::net::UnixDatagram::bind(&beside).unwrap();
        std::fs::rename(&beside, &path).unwrap();
        poll_until("the move", || statsd.stats().address_changes == 1).await;
        statsd.incr("moving.1").unwrap();
        let n = bounded("the new socket's datagram", new.recv(&mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"moving.1:1|c\n");
        statsd.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
