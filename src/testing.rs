//! An in-process statsd server for tests, demos and benchmarks (feature
//! `testing`).
//!
//! [`CaptureServer`] listens on a loopback port (TCP and UDP on the same
//! number), parses every line that arrives with [`Datagram::parse`] (a metric,
//! a DogStatsD event or service check), and keeps what
//! it received, so a test can await "N lines arrived" with a deadline and read
//! them back. It can stop gracefully, be killed (connections reset), and restart
//! on the same port, which is how the tests simulate a statsd server that goes
//! away and comes back. In counting mode it only counts lines, which is what a
//! throughput benchmark needs.
//!
//! ```
//! use std::time::Duration;
//! use statsd_connector::{testing::CaptureServer, Connector, Metrics};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = CaptureServer::start().await?;
//! let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
//! statsd.start().await?;
//! statsd.incr("hits")?;
//! statsd.stop().await;
//! server.wait_for_lines(1, Duration::from_secs(5)).await?;
//! assert_eq!(server.lines(), ["hits:1|c"]);
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::{Datagram, Error, ErrorKind};

/// Which sockets a [`CaptureServer`] listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Listen {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Both, on the same port number (the default).
    #[default]
    Both,
}

impl Listen {
    /// The name [`Display`](fmt::Display) writes and [`FromStr`] reads:
    /// `tcp`, `udp` or `both`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Listen::Tcp => "tcp",
            Listen::Udp => "udp",
            Listen::Both => "both",
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Listen {
    type Err = Error;

    /// Parses `tcp`, `udp` or `both`, in any case.
    ///
    /// ```
    /// use statsd_connector::testing::Listen;
    ///
    /// assert_eq!("UDP".parse::<Listen>()?, Listen::Udp);
    /// assert_eq!(Listen::Both.to_string(), "both");
    /// assert!("sctp".parse::<Listen>().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Listen, Error> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Listen::Tcp),
            "udp" => Ok(Listen::Udp),
            "both" => Ok(Listen::Both),
            _ => Err(Error::from(ErrorKind::InvalidSetting {
                setting: "listen",
                value: s.to_owned(),
                reason: "expected tcp, udp or both",
            })),
        }
    }
}

/// Something the server received, for [`CaptureServer::subscribe`].
///
/// ```
/// use statsd_connector::testing::{CaptureServer, Received};
/// use tokio::io::AsyncWriteExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let server = CaptureServer::start().await?;
/// let mut received = server.subscribe();
/// let mut client = tokio::net::TcpStream::connect(server.address()).await?;
/// client.write_all(b"hits:1|c\noops\n").await?;
/// assert_eq!(received.recv().await, Some(Received::Line("hits:1|c".into())));
/// assert!(matches!(received.recv().await, Some(Received::Malformed { line, .. }) if line == "oops"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A well-formed line (without its newline).
    Line(String),
    /// A line that does not parse, with the reason.
    Malformed {
        /// The line, lossily decoded.
        line: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// An in-process statsd server; see the [module documentation](self).
///
/// A server that goes away and comes back, as the reconnection tests need:
///
/// ```
/// use statsd_connector::testing::CaptureServer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let server = CaptureServer::start().await?;
/// let port = server.port();
/// server.kill().await;    // connections reset, as when the process dies
/// assert!(!server.is_running());
/// server.restart().await?; // same port: clients reconnect to it
/// assert!(server.is_running() && server.port() == port);
/// server.stop().await;    // graceful this time
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CaptureServer {
    shared: Arc<Captured>,
    address: SocketAddr,
    listen: Listen,
    running: Mutex<Option<Running>>,
}

/// What arrived, shared with the socket tasks.
#[derive(Debug, Default)]
struct Captured {
    /// Only count lines; keep and parse nothing.
    count_only: bool,
    /// Keep received lines for `lines()` / `malformed()` (subscribers and
    /// counts work either way).
    keep: bool,
    lines: Mutex<Vec<String>>,
    malformed: Mutex<Vec<String>>,
    /// Lines received (well-formed or not) since start or `clear`.
    count: watch::Sender<u64>,
    bytes: AtomicU64,
    /// TCP connections that ended with an unterminated fragment (discarded,
    /// as statsd servers do).
    partial: AtomicU64,
    connections: AtomicU64,
    datagrams: AtomicU64,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Received>>>,
}

/// The tasks of a running server.
#[derive(Debug)]
struct Running {
    tasks: JoinSet<()>,
    /// Tells connection tasks how to end: `Some(true)` reset, `Some(false)` close.
    end: watch::Sender<Option<bool>>,
}

/// Options for a [`CaptureServer`].
///
/// A benchmark's sink counts lines and keeps nothing, so it does not grow:
///
/// ```
/// use std::time::Duration;
/// use statsd_connector::testing::{CaptureServer, Listen};
/// use statsd_connector::{Connector, Metrics};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = CaptureServer::builder()
///     .address(([127, 0, 0, 1], 0).into()) // the default: an ephemeral loopback port
///     .listen(Listen::Tcp)
///     .count_only(true)
///     .start()
///     .await?;
/// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
/// statsd.start().await?;
/// for _ in 0..3 {
///     statsd.incr("hits")?;
/// }
/// statsd.stop().await;
/// server.wait_for_lines(3, Duration::from_secs(5)).await?;
/// assert_eq!((server.line_count(), server.byte_count()), (3, 27));
/// assert!(server.lines().is_empty()); // counted, not kept
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CaptureBuilder {
    address: SocketAddr,
    listen: Listen,
    count_only: bool,
    keep: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CaptureBuilder {
    /// Listens on this address (default `127.0.0.1:0`, an ephemeral port).
    #[must_use]
    pub fn address(mut self, address: SocketAddr) -> Self {
        self.address = address;
        self
    }

    /// TCP, UDP or both (default both).
    #[must_use]
    pub fn listen(mut self, listen: Listen) -> Self {
        self.listen = listen;
        self
    }

    /// Only count lines (for benchmarks): nothing is parsed or kept.
    #[must_use]
    pub fn count_only(mut self, on: bool) -> Self {
        self.count_only = on;
        self
    }

    /// Keep what arrives for [`CaptureServer::lines`] (default). Off, lines are
    /// parsed, counted and passed to subscribers only, so a long-running
    /// listener does not grow.
    ///
    /// ```
    /// use statsd_connector::testing::{CaptureServer, Received};
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::builder().keep_lines(false).start().await?;
    /// let mut received = server.subscribe();
    /// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
    /// statsd.start().await?;
    /// statsd.incr("hits")?;
    /// assert_eq!(received.recv().await, Some(Received::Line("hits:1|c".into())));
    /// assert!(server.lines().is_empty());
    /// statsd.stop().await;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn keep_lines(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Binds the sockets and starts serving.
    ///
    /// # Errors
    ///
    /// The [`io::Error`] of binding a socket, e.g. [`io::ErrorKind::AddrInUse`]
    /// when the port is taken, for TCP or (with [`Listen::Both`]) UDP.
    pub async fn start(self) -> io::Result<CaptureServer> {
        let shared = Arc::new(Captured {
            count_only: self.count_only,
            keep: self.keep,
            ..Captured::default()
        });
        let (running, address) = bind(&shared, self.address, self.listen).await?;
        Ok(CaptureServer {
            shared,
            address,
            listen: self.listen,
            running: Mutex::new(Some(running)),
        })
    }
}

impl CaptureServer {
    /// Options: address, protocols, counting mode.
    #[must_use]
    pub fn builder() -> CaptureBuilder {
        CaptureBuilder {
            address: (Ipv4Addr::LOCALHOST, 0).into(),
            listen: Listen::Both,
            count_only: false,
            keep: true,
        }
    }

    /// Starts a server for TCP and UDP on an ephemeral loopback port.
    ///
    /// # Errors
    ///
    /// As [`CaptureBuilder::start`]: the [`io::Error`] of binding a socket.
    pub async fn start() -> io::Result<CaptureServer> {
        CaptureServer::builder().start().await
    }

    /// The port (the same for TCP and UDP).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address listened on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The well-formed lines received so far, in order of arrival.
    pub fn lines(&self) -> Vec<String> {
        lock(&self.shared.lines).clone()
    }

    /// The malformed lines received so far.
    ///
    /// A test of a client that writes lines by hand checks them here:
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::testing::CaptureServer;
    /// use tokio::io::AsyncWriteExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let server = CaptureServer::start().await?;
    /// let mut client = tokio::net::TcpStream::connect(server.address()).await?;
    /// client.write_all(b"hits:1|c\nhits:1|x\n").await?;
    /// server.wait_for_lines(2, Duration::from_secs(5)).await?;
    /// assert_eq!(server.lines(), ["hits:1|c"]);
    /// assert_eq!(server.malformed(), ["hits:1|x"]);
    ///
    /// server.clear(); // the next step of the test starts from nothing
    /// assert_eq!(server.line_count(), 0);
    /// # Ok(()) }
    /// ```
    pub fn malformed(&self) -> Vec<String> {
        lock(&self.shared.malformed).clone()
    }

    /// How many lines (well-formed or not) arrived.
    pub fn line_count(&self) -> u64 {
        *self.shared.count.borrow()
    }

    /// How many bytes arrived.
    pub fn byte_count(&self) -> u64 {
        self.shared.bytes.load(Relaxed)
    }

    /// How many TCP connections ended in the middle of a line (the fragment is
    /// discarded, as statsd servers do).
    pub fn partial_lines(&self) -> u64 {
        self.shared.partial.load(Relaxed)
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Relaxed)
    }

    /// How many UDP datagrams arrived.
    pub fn datagrams(&self) -> u64 {
        self.shared.datagrams.load(Relaxed)
    }

    /// Forgets everything received so far (counts included).
    pub fn clear(&self) {
        lock(&self.shared.lines).clear();
        lock(&self.shared.malformed).clear();
        self.shared.count.send_replace(0);
        self.shared.bytes.store(0, Relaxed);
        self.shared.partial.store(0, Relaxed);
    }

    /// Waits until at least `n` lines have arrived. Returns the count then, or
    /// an error saying how many had arrived when `timeout` passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::testing::CaptureServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let server = CaptureServer::start().await?;
    /// let error = server.wait_for_lines(1, Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(error.to_string(), "0 of 1 lines arrived within 10ms");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An [`io::Error`] of kind [`io::ErrorKind::TimedOut`] when fewer than `n`
    /// lines have arrived within `timeout`; its message gives the count.
    pub async fn wait_for_lines(&self, n: u64, timeout: Duration) -> io::Result<u64> {
        let mut count = self.shared.count.subscribe();
        let reached = tokio::time::timeout(timeout, count.wait_for(|&c| c >= n))
            .await
            .map(|result| result.map(|c| *c));
        match reached {
            Ok(Ok(c)) => Ok(c),
            _ => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} of {n} lines arrived within {timeout:?}",
                    self.line_count()
                ),
            )),
        }
    }

    /// A stream of everything received from now on.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Received> {
        let (sender, receiver) = mpsc::unbounded_channel();
        lock(&self.shared.subscribers).push(sender);
        receiver
    }

    /// Whether the server is listening.
    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Stops listening and closes every connection gracefully (FIN), after
    /// reading what has already arrived.
    pub async fn stop(&self) {
        self.end(false).await;
    }

    /// Stops listening and resets every connection (RST), as when a server
    /// process is killed.
    pub async fn kill(&self) {
        self.end(true).await;
    }

    /// Listens again on the same port after [`stop`](Self::stop) or
    /// [`kill`](Self::kill).
    ///
    /// # Errors
    ///
    /// The [`io::Error`] of binding the port again, e.g.
    /// [`io::ErrorKind::AddrInUse`] when another socket took it meanwhile.
    pub async fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let (running, _) = bind(&self.shared, self.address, self.listen).await?;
        *lock(&self.running) = Some(running);
        Ok(())
    }

    async fn end(&self, reset: bool) {
        let running = lock(&self.running).take();
        if let Some(mut running) = running {
            running.end.send_replace(Some(reset));
            // Connection tasks finish on the signal; listener tasks never do.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while !running.tasks.is_empty() {
                let next = tokio::time::timeout_at(deadline, running.tasks.join_next()).await;
                if next.is_err() {
                    break;
                }
            }
            running.tasks.shutdown().await;
        }
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        if let Some(mut running) = lock(&self.running).take() {
            running.tasks.abort_all();
        }
    }
}

/// Binds the sockets (TCP first: its port decides the number for UDP) and
/// spawns their tasks.
async fn bind(
    shared: &Arc<Captured>,
    address: SocketAddr,
    listen: Listen,
) -> io::Result<(Running, SocketAddr)> {
    let mut last_error = None;
    // With an ephemeral port, the number TCP got may be taken for UDP: retry.
    for _ in 0..20 {
        match try_bind(shared, address, listen).await {
            Ok(bound) => return Ok(bound),
            Err(error) if address.port() == 0 => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("could not bind")))
}

async fn try_bind(
    shared: &Arc<Captured>,
    address: SocketAddr,
    listen: Listen,
) -> io::Result<(Running, SocketAddr)> {
    let (end, _) = watch::channel(None);
    let mut tasks = JoinSet::new();
    let mut bound = address;
    if listen != Listen::Udp {
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // Rebinding after a stop must not wait for TIME_WAIT to pass.
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        let listener = socket.listen(1024)?;
        bound = listener.local_addr()?;
        tasks.spawn(accept_loop(listener, shared.clone(), end.clone()));
    }
    if listen != Listen::Tcp {
        let socket = UdpSocket::bind(bound).await?;
        enlarge_receive_buffer(&socket);
        bound = socket.local_addr()?;
        tasks.spawn(datagram_loop(socket, shared.clone(), end.subscribe()));
    }
    Ok((Running { tasks, end }, bound))
}

/// Asks for a 32 MiB receive buffer, so that a burst of datagrams waits in the
/// kernel instead of being dropped while the server parses (forced past
/// `rmem_max` where the process may, as root can).
#[cfg(target_os = "linux")]
fn enlarge_receive_buffer(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 32 << 20;
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt reads one c_int from a valid pointer of the size
        // given; the fd is open for the socket's lifetime.
        let result = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result == 0 {
            return;
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn enlarge_receive_buffer(_socket: &UdpSocket) {}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Captured>,
    end: watch::Sender<Option<bool>>,
) {
    let mut connections = JoinSet::new();
    let mut ending = end.subscribe();
    // Connections hear the end only after the listener is gone, so a client
    // that reconnects at once is refused instead of landing in a backlog
    // that is about to be reset.
    let (connections_end, _) = watch::channel(None);
    let how = loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    shared.connections.fetch_add(1, Relaxed);
                    connections.spawn(read_stream(stream, shared.clone(), connections_end.subscribe()));
                }
            }
            how = ending.wait_for(Option::is_some) => break how.map(|h| *h).unwrap_or(Some(false)),
        }
    };
    drop(listener);
    connections_end.send_replace(how);
    while connections.join_next().await.is_some() {}
}

async fn read_stream(
    mut stream: TcpStream,
    shared: Arc<Captured>,
    mut end: watch::Receiver<Option<bool>>,
) {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            // A "line" longer than the buffer: count it malformed and move on.
            shared.line(&buffer[..filled], false);
            filled = 0;
        }
        let read = tokio::select! {
            read = stream.read(&mut buffer[filled..]) => read,
            ending = end.wait_for(Option::is_some) => {
                let reset = ending.map(|e| e.unwrap_or(false)).unwrap_or(false);
                // Take what has already arrived (a bounded amount: a client
                // that keeps sending must not keep us here), then close as
                // asked. What is still unread makes the close a reset.
                for _ in 0..64 {
                    match stream.try_read(&mut buffer[filled..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => filled = shared.consume(&mut buffer, filled, n),
                    }
                    if filled == buffer.len() {
                        break;
                    }
                }
                if reset {
                    // Zero linger: close() sends RST and discards what is unsent.
                    let _ = stream.set_zero_linger();
                }
                break;
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => filled = shared.consume(&mut buffer, filled, n),
        }
    }
    if filled > 0 {
        shared.partial.fetch_add(1, Relaxed);
    }
}

async fn datagram_loop(
    socket: UdpSocket,
    shared: Arc<Captured>,
    mut end: watch::Receiver<Option<bool>>,
) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let received = tokio::select! {
            received = socket.recv(&mut buffer) => received,
            _ = end.wait_for(Option::is_some) => break,
        };
        if let Ok(n) = received {
            shared.datagrams.fetch_add(1, Relaxed);
            shared.bytes.fetch_add(n as u64, Relaxed);
            let mut rest = &buffer[..n];
            // A datagram's last line may lack its newline.
            while !rest.is_empty() {
                let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                shared.line(&rest[..end], true);
                rest = rest.get(end + 1..).unwrap_or_default();
            }
        }
    }
}

impl Captured {
    /// Handles `n` new bytes at `buffer[filled..]`: every whole line is
    /// recorded, and the unterminated rest moved to the front. Returns the new
    /// fill level.
    fn consume(&self, buffer: &mut [u8], filled: usize, n: usize) -> usize {
        self.bytes.fetch_add(n as u64, Relaxed);
        let end = filled + n;
        let Some(last) = memchr::memrchr(b'\n', &buffer[filled..end]).map(|at| filled + at) else {
            return end;
        };
        if self.count_only {
            let lines = memchr::memchr_iter(b'\n', &buffer[filled..=last]).count() as u64;
            self.count.send_modify(|c| *c += lines);
        } else {
            for line in buffer[..last].split(|&b| b == b'\n') {
                self.line(line, true);
            }
        }
        buffer.copy_within(last + 1..end, 0);
        end - last - 1
    }

    /// Records one line (without its newline).
    fn line(&self, bytes: &[u8], may_be_valid: bool) {
        if bytes.is_empty() {
            // Servers skip empty lines; so do we.
            return;
        }
        if self.count_only {
            self.count.send_modify(|c| *c += 1);
            return;
        }
        let parsed = if may_be_valid {
            Datagram::parse_bytes(bytes)
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            Err("line longer than the receive buffer".to_owned())
        };
        let event = match parsed {
            Ok(_) => {
                // Valid lines are UTF-8 by construction.
                let line = String::from_utf8_lossy(bytes).into_owned();
                if self.keep {
                    lock(&self.lines).push(line.clone());
                }
                Received::Line(line)
            }
            Err(reason) => {
                let line = String::from_utf8_lossy(bytes).into_owned();
                if self.keep {
                    lock(&self.malformed).push(line.clone());
                }
                Received::Malformed { line, reason }
            }
        };
        self.count.send_modify(|c| *c += 1);
        let mut subscribers = lock(&self.subscribers);
        if !subscribers.is_empty() {
            subscribers.retain(|s| s.send(event.clone()).is_ok());
        }
    }
}
