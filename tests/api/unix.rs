//! Unix domain sockets: the stream behaves as TCP (reconnects, drains), the
//! datagrams as UDP with the larger default payload.

use std::path::PathBuf;
use std::time::Duration;

use statsd_connector::{Connector, Line, Metrics, Protocol};
use tokio::io::AsyncReadExt;
use tokio::net::{UnixDatagram, UnixListener};
use tokio::time::timeout;

/// A fresh socket path in a directory of this test's own.
fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statsd-connector-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("statsd.sock")
}

/// Reads lines from the next connection of `listener` until `n` have arrived.
async fn read_lines(listener: &UnixListener, n: usize) -> Vec<String> {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut text = String::new();
    let mut buf = vec![0u8; 64 * 1024];
    while text.matches('\n').count() < n {
        let read = stream.read(&mut buf).await.unwrap();
        assert!(
            read > 0,
            "connection closed after {} lines",
            text.matches('\n').count()
        );
        text.push_str(std::str::from_utf8(&buf[..read]).unwrap());
    }
    text.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_stream_delivers_and_reconnects_after_the_server_comes_back() {
    let path = socket_path("stream");
    let listener = UnixListener::bind(&path).unwrap();
    let statsd = Connector::builder()
        .host(format!("unix://{}", path.display()))
        .reconnect_sleep(Duration::from_millis(20))
        .build()
        .unwrap();
    assert_eq!(statsd.config().protocol(), Protocol::Unix);
    statsd.start().await.unwrap();
    for i in 0..1000 {
        statsd.count("uds.hits", i).unwrap();
    }
    let lines = timeout(Duration::from_secs(5), read_lines(&listener, 1000))
        .await
        .unwrap();
    assert_eq!(lines.len(), 1000);
    assert_eq!(lines[999], "uds.hits:999|c");

    // The server goes away (its socket file too) and comes back.
    drop(listener);
    std::fs::remove_file(&path).unwrap();
    let mut state = statsd.watch_state();
    timeout(
        Duration::from_secs(5),
        state.wait_for(|s| !s.is_connected()),
    )
    .await
    .unwrap()
    .unwrap();
    statsd.incr("uds.after").unwrap();
    let listener = UnixListener::bind(&path).unwrap();
    let lines = timeout(Duration::from_secs(5), read_lines(&listener, 1))
        .await
        .unwrap();
    assert_eq!(lines, ["uds.after:1|c"]);
    assert!(statsd.stats().reconnects >= 1);
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_datagrams_pack_whole_lines_up_to_8_kib() {
    let path = socket_path("datagram");
    let server = UnixDatagram::bind(&path).unwrap();
    let statsd = Connector::builder()
        .host(path.display().to_string())
        .protocol(Protocol::Unixgram)
        .build()
        .unwrap();
    // Queued before the start, all 5000 lines go in one batch: the packing
    // is then exact, whatever the machine's load.
    for i in 0..5000 {
        statsd.gauge("uds.gauge", i as f64).unwrap();
    }
    statsd.start().await.unwrap();
    // The kernel holds only a few datagrams for a Unix receiver and then
    // pushes back on the sender, so the server reads while we emit.
    let reader = tokio::spawn(async move {
        let (mut received, mut datagrams) = (0, 0u64);
        let mut buf = vec![0u8; 65_536];
        while received < 5000 {
            let n = timeout(Duration::from_secs(5), server.recv(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n <= 8192, "datagram of {n} bytes");
            let text = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                Line::parse(line).unwrap();
                received += 1;
            }
            datagrams += 1;
        }
        (received, datagrams)
    });
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    let (received, datagrams) = reader.await.unwrap();
    assert_eq!(received, 5000);
    // About 75 KB of lines in 8 KiB datagrams.
    assert!(datagrams <= 11, "{datagrams} datagrams for 5000 lines");
    assert_eq!(statsd.stats().datagrams, datagrams);
}

/// A server that never reads until the stop has returned (its buffers fill):
/// whatever the stop's deadline, short or long, it then gets every line the
/// connector counted sent, and the accounting identity holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_reads_only_after_the_stop_gets_what_was_not_counted_lost() {
    for deadline in [Duration::from_millis(300), Duration::from_secs(3)] {
        let path = socket_path(&format!("late-reader-{}", deadline.as_millis()));
        let listener = UnixListener::bind(&path).unwrap();
        let statsd = Connector::builder()
            .host(format!("unix://{}", path.display()))
            .build()
            .unwrap();
        statsd.start().await.unwrap();
        let (mut stream, _) = timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap()
            .unwrap();
        // Far more than the socket's buffers hold.
        for i in 0..200_000 {
            let _ = statsd.count("late.hits", i % 7);
        }
        let report = statsd.stop_with_timeout(deadline).await;
        let stats = statsd.stats();
        let mut received = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => received += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
                Ok(Err(error)) => panic!("read failed: {error}"),
                Err(_) => panic!("the connection was left open after the stop"),
            }
        }
        // A Unix stream keeps what was written in the server's queue: all
        // of it arrives, though the stop could only count it possibly lost
        // (not read, so not acknowledged, when the deadline came).
        assert_eq!(
            received, stats.sent,
            "deadline {deadline:?}: {stats:?}, {report:?}"
        );
        assert!(stats.possibly_lost <= stats.sent, "{stats:?}");
        assert_eq!(
            stats.accepted,
            stats.sent + stats.undelivered + stats.in_queue,
            "{stats:?}"
        );
    }
}
