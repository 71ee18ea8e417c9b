//! What the behaviour tests share: builders aimed at loopback, waiting for
//! lines, a port where nothing listens, a counting resolver, a fake
//! environment, and the checks every file makes of what arrived.

use std::net::SocketAddr;
use std::time::Duration;

use statsd_connector::testing::{CaptureServer, Listen};
use statsd_connector::{Builder, Connector, Line};
use statsd_connector_testkit::wait::WAIT;
use tokio::net::TcpSocket;

/// A builder aimed at `port` on loopback, with short sleeps so tests are quick.
pub(super) fn builder(port: u16) -> Builder {
    Connector::builder()
        .host("127.0.0.1")
        .port(port)
        .reconnect_sleep(Duration::from_millis(50))
        .connect_timeout(Duration::from_secs(2))
}

/// Like [`builder`], with one queue buffer for every thread
/// (`emitting_threads(1)`), so that lines keep the order
/// they were emitted in even while the processor takes the queue. Tests that
/// assert the exact order of lines emitted while the connector runs use it, so
/// that each pins its own behaviour; the order with a buffer per thread is pinned
/// separately (in `order.rs`).
pub(super) fn ordered(port: u16) -> Builder {
    builder(port).emitting_threads(1)
}

/// Waits until `server` has received `n` lines.
pub(super) async fn lines(server: &CaptureServer, n: u64) -> Vec<String> {
    server.wait_for_lines(n, WAIT).await.unwrap_or_else(|e| {
        panic!(
            "waiting for {n} lines: {e}; got {:?}",
            tail(&server.lines())
        )
    });
    server.lines()
}

pub(super) fn tail(lines: &[String]) -> &[String] {
    &lines[lines.len().saturating_sub(20)..]
}

/// A loopback TCP port where nothing listens: a socket is bound to it but does
/// not listen, so connections are refused, no other test can take the port,
/// and no connection attempt can ever pick it as its own source port (which
/// would connect the client to itself).
pub(super) struct DeadPort {
    socket: TcpSocket,
    address: SocketAddr,
}

impl DeadPort {
    pub(super) fn new() -> DeadPort {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let address = socket.local_addr().unwrap();
        DeadPort { socket, address }
    }

    pub(super) fn port(&self) -> u16 {
        self.address.port()
    }

    /// Frees the port and starts a capture server (TCP) on it.
    pub(super) async fn bring_up_server(self) -> CaptureServer {
        let address = self.address;
        drop(self.socket);
        CaptureServer::builder()
            .address(address)
            .listen(Listen::Tcp)
            .start()
            .await
            .expect("binding the capture server on the freed port")
    }
}

/// A resolver for 127.0.0.1 that counts the connection attempts it serves:
/// every attempt resolves the host anew, so this tells whether a connector
/// tried to connect at all (a server's connection count would also count
/// strangers reaching its port).
pub(super) fn counting_resolver(
    attempts: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static {
    let attempts = attempts.clone();
    move |_host, port| {
        attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }
}

/// An environment for `Builder::from_env_with`, without touching the process's.
pub(super) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The value of a statsd line (between `:` and `|`), parsed.
pub(super) fn value_of(line: &str) -> f64 {
    let parsed = Line::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    parsed
        .value
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// Fails unless every line is well formed and none arrived cut.
pub(super) fn assert_clean(server: &CaptureServer) {
    assert_eq!(
        server.malformed(),
        Vec::<String>::new(),
        "malformed lines arrived"
    );
    assert_eq!(
        server.partial_lines(),
        0,
        "a connection ended in the middle of a line"
    );
    for line in server.lines() {
        Line::parse(&line).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
    }
}

/// The runs of consecutive values in `values` (at most 20), to show a reordering.
pub(super) fn runs(values: &[u64]) -> Vec<(u64, u64)> {
    let mut runs = Vec::new();
    let Some(&first) = values.first() else {
        return runs;
    };
    let mut start = first;
    for w in values.windows(2) {
        if w[1] != w[0] + 1 {
            runs.push((start, w[0]));
            start = w[1];
        }
    }
    runs.push((start, values[values.len() - 1]));
    runs.truncate(20);
    runs
}
