//! A statsd server that misbehaves on command, for the fault tests
//! (`tests/api/faults.rs`) and the soak tool (`tools/src/bin/soak.rs`).
//!
//! [`FaultServer`] listens on `127.0.0.1:0` (TCP, or UDP) and runs on its own
//! thread with its own tokio runtime, so it keeps serving whatever happens to
//! the runtime of the code under test (a test may shut that one down). It
//! reads every byte that arrives, splits lines, parses each whole line with
//! [`Line::parse_bytes`] and keeps:
//!
//! - `received`: well-formed whole lines; `corrupt`: whole lines that do not
//!   parse (with a few samples); `partial`: connections that ended with an
//!   unterminated fragment (discarded, as statsd servers do).
//! - per name: the count, the sum of the values, and, for values that are
//!   non-negative integers (the tests send a sequence number per emitter), a
//!   bitmap of the values seen, which reveals any line delivered twice.
//!
//! On command it can
//!
//! - [`close_all`](FaultServer::close_all): close every connection gracefully:
//!   send FIN, and keep reading until the client closes its side (nothing the
//!   client wrote is lost);
//! - [`kill_all`](FaultServer::kill_all): reset every connection (RST, zero
//!   linger), after reading what is readable. What arrives between that last
//!   read and the reset was acknowledged by our kernel and is lost without the
//!   client being able to know; the server measures it (`FIONREAD`, then
//!   `MSG_PEEK` to count the lines) right before closing and reports it as
//!   `unread_at_kill_bytes` / `unread_at_kill_lines`;
//!   [`kill_all_exact`](FaultServer::kill_all_exact) shuts the socket down
//!   first so that nothing more is acknowledged, which leaves no such window;
//! - [`set_mode`](FaultServer::set_mode): read normally, not at all (black
//!   hole: accept, never read), or slowly (N bytes per tick);
//! - [`refuse`](FaultServer::refuse): stop listening; the port stays reserved
//!   by a bound socket that does not listen, so connections are refused
//!   (`ECONNREFUSED`; for UDP, "port unreachable") and no other socket can take
//!   the port meanwhile; [`restart`](FaultServer::restart) listens again on the
//!   same port (`SO_REUSEADDR`).
//!
//! [`settle`](FaultServer::settle) waits until the server has read everything
//! its clients sent (after they closed): only then are the counts final.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use statsd_connector::Line;

use crate::socket::set_receive_buffer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, sleep_until, Instant};

/// What a sync marker line starts with: the server skips these lines (they
/// are not statsd lines and never counted) and notes that it saw them.
const SYNC_MARKER: &[u8] = b"#fault-server-sync ";

/// Values above this are not tracked in the per-name bitmap.
pub const MAX_TRACKED_VALUE: u64 = 1 << 28;

/// The transport the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// How connections read (TCP; a UDP server always reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Read as fast as data arrives.
    #[default]
    Normal,
    /// Accept, never read: the client's writes block once the socket buffers
    /// are full.
    BlackHole,
    /// Read at most `bytes` every `every`.
    Slow {
        /// Bytes read per tick.
        bytes: usize,
        /// The tick.
        every: Duration,
    },
}

/// Counts of what arrived and what the server did; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Well-formed whole lines.
    pub received: u64,
    /// Whole lines that do not parse.
    pub corrupt: u64,
    /// Connections that ended (EOF, error, reset) with an unterminated fragment.
    pub partial: u64,
    /// Lines whose (name, integer value) had already been received.
    pub duplicates: u64,
    /// Bytes read.
    pub bytes: u64,
    /// UDP datagrams read.
    pub datagrams: u64,
    /// TCP connections accepted (the sync connections of `settle` included).
    pub connections: u64,
    /// Connections open now.
    pub active: u64,
    /// Connections closed gracefully on command (FIN), and that the client
    /// then closed.
    pub closes: u64,
    /// Gracefully closed connections the client did not close in time: reset.
    pub close_timeouts: u64,
    /// Connections reset on command.
    pub kills: u64,
    /// Bytes in the receive queue right before a reset, after the last read:
    /// acknowledged by our kernel, never read, lost without the client knowing.
    pub unread_at_kill_bytes: u64,
    /// Lines those bytes completed (newlines in them).
    pub unread_at_kill_lines: u64,
}

impl Counts {
    /// The sum of two servers' counts.
    pub fn plus(&self, other: &Counts) -> Counts {
        Counts {
            received: self.received + other.received,
            corrupt: self.corrupt + other.corrupt,
            partial: self.partial + other.partial,
            duplicates: self.duplicates + other.duplicates,
            bytes: self.bytes + other.bytes,
            datagrams: self.datagrams + other.datagrams,
            connections: self.connections + other.connections,
            active: self.active + other.active,
            closes: self.closes + other.closes,
            close_timeouts: self.close_timeouts + other.close_timeouts,
            kills: self.kills + other.kills,
            unread_at_kill_bytes: self.unread_at_kill_bytes + other.unread_at_kill_bytes,
            unread_at_kill_lines: self.unread_at_kill_lines + other.unread_at_kill_lines,
        }
    }
}

/// What arrived for one metric name.
#[derive(Debug, Clone, Default)]
pub struct NameTally {
    /// Well-formed lines with this name.
    pub count: u64,
    /// The sum of their values (those that are numbers).
    pub sum: f64,
    /// Lines whose integer value had been seen before for this name.
    pub duplicates: u64,
    /// Distinct integer values seen (at most [`MAX_TRACKED_VALUE`]).
    pub distinct: u64,
    seen: Vec<u64>,
}

impl NameTally {
    /// Whether the integer value `value` arrived.
    pub fn contains(&self, value: u64) -> bool {
        let (word, bit) = ((value / 64) as usize, value % 64);
        self.seen.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Marks `value` seen; returns whether it had been seen before.
    fn mark(&mut self, value: u64) -> bool {
        if value >= MAX_TRACKED_VALUE {
            return false;
        }
        let (word, bit) = ((value / 64) as usize, value % 64);
        if self.seen.len() <= word {
            self.seen.resize((word + 1).next_power_of_two(), 0);
        }
        let before = self.seen[word] & (1 << bit) != 0;
        self.seen[word] |= 1 << bit;
        if !before {
            self.distinct += 1;
        }
        before
    }
}

/// Options for [`FaultServer::builder`].
#[derive(Debug, Clone)]
pub struct FaultBuilder {
    proto: Proto,
    listening: bool,
    recv_buffer: Option<u32>,
    mode: Mode,
    close_linger: Duration,
}

impl FaultBuilder {
    /// TCP (default) or UDP.
    pub fn proto(mut self, proto: Proto) -> Self {
        self.proto = proto;
        self
    }

    /// Start refusing (port reserved, nothing listening) instead of listening.
    pub fn refusing(mut self) -> Self {
        self.listening = false;
        self
    }

    /// `SO_RCVBUF` of accepted connections (TCP): small values make a black
    /// hole or a slow reader push back at once. Also turns autotuning off.
    pub fn recv_buffer(mut self, bytes: u32) -> Self {
        self.recv_buffer = Some(bytes);
        self
    }

    /// The mode connections start in.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// How long a gracefully closed connection waits for the client to close
    /// its side before it is reset (default 10 s).
    pub fn close_linger(mut self, linger: Duration) -> Self {
        self.close_linger = linger;
        self
    }

    /// Starts the server thread and binds.
    pub async fn start(self) -> io::Result<FaultServer> {
        FaultServer::start_with(self).await
    }
}

/// The fault server; see the module documentation. Dropping it stops its
/// thread and closes every socket.
pub struct FaultServer {
    inner: Arc<Inner>,
    runtime: Handle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultServer")
            .field("address", &self.address())
            .field("counts", &self.counts())
            .finish()
    }
}

/// What the server's tasks share.
struct Inner {
    proto: Proto,
    recv_buffer: Option<u32>,
    close_linger: Duration,
    address: Mutex<SocketAddr>,
    tally: Mutex<Tally>,
    /// `received`, observable.
    received: watch::Sender<u64>,
    /// Connections open, observable.
    active: watch::Sender<u64>,
    /// Sync markers seen (their numbers are increasing).
    synced: watch::Sender<u64>,
    next_sync: AtomicU64,
    mode: watch::Sender<Mode>,
    connections: Mutex<HashMap<u64, mpsc::UnboundedSender<Command>>>,
    next_id: AtomicU64,
    endpoint: Mutex<Endpoint>,
}

#[derive(Default)]
struct Tally {
    counts: Counts,
    names: HashMap<String, NameTally>,
    corrupt_samples: Vec<String>,
}

/// The listening side, or what reserves the port while nothing listens.
enum Endpoint {
    /// An accept loop (or datagram loop) runs; send it a reply channel to stop it.
    Listening(oneshot::Sender<oneshot::Sender<()>>),
    /// A bound TCP socket that does not listen (held, never used: it keeps
    /// the port reserved until dropped).
    TcpRefusing { _reserved: TcpSocket },
    /// A bound UDP socket connected elsewhere: datagrams to the port find no
    /// socket and get "port unreachable".
    UdpRefusing { _reserved: std::net::UdpSocket },
    /// In transition (or dropped).
    Gone,
}

enum Command {
    Close(oneshot::Sender<()>),
    Kill(oneshot::Sender<()>),
    KillExact(oneshot::Sender<()>),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FaultServer {
    /// Options: protocol, start refusing, receive buffer, initial mode.
    pub fn builder() -> FaultBuilder {
        FaultBuilder {
            proto: Proto::Tcp,
            listening: true,
            recv_buffer: None,
            mode: Mode::Normal,
            close_linger: Duration::from_secs(10),
        }
    }

    /// A TCP server listening on an ephemeral loopback port.
    pub async fn start() -> io::Result<FaultServer> {
        FaultServer::builder().start().await
    }

    async fn start_with(options: FaultBuilder) -> io::Result<FaultServer> {
        let (handle_sender, handle_receiver) = oneshot::channel();
        let (shutdown, shutdown_receiver) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fault-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fault server runtime");
                let _ = handle_sender.send(runtime.handle().clone());
                runtime.block_on(async {
                    let _ = shutdown_receiver.await;
                });
                // Dropping the runtime cancels every task and closes their sockets.
            })?;
        let runtime = handle_receiver
            .await
            .map_err(|_| io::Error::other("fault server thread failed to start"))?;
        let inner = Arc::new(Inner {
            proto: options.proto,
            recv_buffer: options.recv_buffer,
            close_linger: options.close_linger,
            address: Mutex::new((Ipv4Addr::LOCALHOST, 0).into()),
            tally: Mutex::new(Tally::default()),
            received: watch::Sender::new(0),
            active: watch::Sender::new(0),
            synced: watch::Sender::new(0),
            next_sync: AtomicU64::new(1),
            mode: watch::Sender::new(options.mode),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            endpoint: Mutex::new(Endpoint::Gone),
        });
        let server = FaultServer {
            inner,
            runtime,
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        let inner = server.inner.clone();
        let listening = options.listening;
        server
            .on_server(async move {
                inner.clone().listen().await?;
                if !listening {
                    inner.refuse().await?;
                }
                Ok::<_, io::Error>(())
            })
            .await?;
        Ok(server)
    }

    /// Runs `future` on the server's runtime and awaits it (from any runtime).
    async fn on_server<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime
            .spawn(future)
            .await
            .expect("fault server task panicked")
    }

    /// The address (the port stays the same across refuse and restart).
    pub fn address(&self) -> SocketAddr {
        *lock(&self.inner.address)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.address().port()
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        let mut counts = lock(&self.inner.tally).counts;
        counts.active = *self.inner.active.borrow();
        counts
    }

    /// Well-formed lines received so far.
    pub fn received(&self) -> u64 {
        *self.inner.received.borrow()
    }

    /// Up to 20 corrupt lines, with the reason each does not parse.
    pub fn corrupt_samples(&self) -> Vec<String> {
        lock(&self.inner.tally).corrupt_samples.clone()
    }

    /// What arrived per metric name.
    pub fn names(&self) -> BTreeMap<String, NameTally> {
        lock(&self.inner.tally)
            .names
            .iter()
            .map(|(name, tally)| (name.clone(), tally.clone()))
            .collect()
    }

    /// What arrived for one name.
    pub fn name(&self, name: &str) -> NameTally {
        lock(&self.inner.tally)
            .names
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// Connections open now.
    pub fn active(&self) -> u64 {
        *self.inner.active.borrow()
    }

    /// Sets how connections read, now and from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.inner.mode.borrow()
    }

    /// Whether the server listens (rather than refuses).
    pub fn is_listening(&self) -> bool {
        matches!(*lock(&self.inner.endpoint), Endpoint::Listening(_))
    }

    /// Closes every open connection gracefully: FIN now, then the connection
    /// is read until the client closes its side (or, after the close linger,
    /// reset). Returns once each has sent its FIN, with how many there were.
    pub async fn close_all(&self) -> usize {
        let replies = self.command_all(Command::Close);
        let n = replies.len();
        for reply in replies {
            let _ = tokio::time::timeout(Duration::from_secs(10), reply).await;
        }
        n
    }

    /// Resets every open connection (RST) after reading what is readable.
    /// Returns once each is closed, with how many there were.
    pub async fn kill_all(&self) -> usize {
        let replies = self.command_all(Command::Kill);
        let n = replies.len();
        for reply in replies {
            let _ = tokio::time::timeout(Duration::from_secs(10), reply).await;
        }
        n
    }

    /// Resets every open connection without the window of
    /// [`kill_all`](Self::kill_all): `shutdown(SHUT_RDWR)` first, after which
    /// the kernel answers any further data with RST instead of acknowledging
    /// it, then reads what was acknowledged, then resets. The client sees a
    /// FIN, then a reset; nothing it believes acknowledged goes unread.
    pub async fn kill_all_exact(&self) -> usize {
        let replies = self.command_all(Command::KillExact);
        let n = replies.len();
        for reply in replies {
            let _ = tokio::time::timeout(Duration::from_secs(10), reply).await;
        }
        n
    }

    fn command_all(
        &self,
        command: fn(oneshot::Sender<()>) -> Command,
    ) -> Vec<oneshot::Receiver<()>> {
        let connections = lock(&self.inner.connections);
        connections
            .values()
            .filter_map(|sender| {
                let (reply, done) = oneshot::channel();
                sender.send(command(reply)).ok().map(|()| done)
            })
            .collect()
    }

    /// Stops listening: connections are refused from now on (open ones are
    /// left alone; kill or close them too for a server that went away).
    pub async fn refuse(&self) -> io::Result<()> {
        let inner = self.inner.clone();
        self.on_server(async move { inner.refuse().await }).await
    }

    /// Listens again on the same port.
    pub async fn restart(&self) -> io::Result<()> {
        let inner = self.inner.clone();
        self.on_server(async move { inner.listen().await }).await
    }

    /// Waits until at least `n` well-formed lines have arrived; returns the
    /// count then, or `Err(count)` at the timeout.
    pub async fn wait_for(&self, n: u64, timeout: Duration) -> Result<u64, u64> {
        let mut received = self.inner.received.subscribe();
        let reached = tokio::time::timeout(timeout, received.wait_for(|&r| r >= n))
            .await
            .map(|result| result.map(|r| *r));
        match reached {
            Ok(Ok(r)) => Ok(r),
            _ => Err(self.received()),
        }
    }

    /// Waits until the server has read everything its clients sent, the
    /// clients having closed their side: reading resumes (mode `Normal`), then
    /// for TCP every connection must end; a sync connection made after the
    /// clients closed theirs goes through the accept queue last, so once it is
    /// accepted no earlier connection can still be waiting there. For UDP a
    /// sync datagram is sent and awaited (one socket, one queue, in order).
    /// Returns whether that happened within `timeout`.
    pub async fn settle(&self, timeout: Duration) -> bool {
        self.set_mode(Mode::Normal);
        let deadline = Instant::now() + timeout;
        let listening = self.is_listening();
        if listening && !self.sync(deadline).await {
            return false;
        }
        if self.inner.proto == Proto::Udp {
            return true;
        }
        let mut active = self.inner.active.subscribe();
        tokio::time::timeout_at(deadline, active.wait_for(|&a| a == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Sends a sync marker and waits until the server has read it.
    async fn sync(&self, deadline: Instant) -> bool {
        let number = self.inner.next_sync.fetch_add(1, Relaxed);
        let marker = [SYNC_MARKER, format!("{number}\n").as_bytes()].concat();
        let address = self.address();
        let sent = match self.inner.proto {
            Proto::Tcp => {
                let connect = async move {
                    let mut stream = TcpStream::connect(address).await?;
                    stream.write_all(&marker).await?;
                    stream.shutdown().await?;
                    // Wait for the server to close its side, then close ours.
                    let mut scratch = [0u8; 64];
                    while stream.read(&mut scratch).await? > 0 {}
                    Ok::<_, io::Error>(())
                };
                // The server closes the sync connection once it has read it;
                // that is not awaited here beyond the marker being seen.
                drop(self.runtime.spawn(connect));
                true
            }
            Proto::Udp => std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|socket| socket.send_to(&marker, address))
                .is_ok(),
        };
        if !sent {
            return false;
        }
        let mut synced = self.inner.synced.subscribe();
        tokio::time::timeout_at(deadline, synced.wait_for(|&s| s >= number))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Inner {
    /// Listens on the address (port 0 the first time), replacing what
    /// reserved the port. Runs on the server's runtime.
    async fn listen(self: Arc<Self>) -> io::Result<()> {
        let previous = std::mem::replace(&mut *lock(&self.endpoint), Endpoint::Gone);
        if let Endpoint::Listening(stop) = previous {
            *lock(&self.endpoint) = Endpoint::Listening(stop);
            return Ok(());
        }
        let address = *lock(&self.address);
        let (stop, stopped) = oneshot::channel();
        let bound = match self.proto {
            Proto::Tcp => {
                let listener = match self.tcp_listener(address) {
                    Ok(listener) => listener,
                    Err(_) => {
                        // The reserving socket conflicts: give the port up for
                        // the instant it takes to bind again.
                        drop(previous);
                        self.tcp_listener(address)?
                    }
                };
                let bound = listener.local_addr()?;
                tokio::spawn(accept_loop(self.clone(), listener, stopped));
                bound
            }
            Proto::Udp => {
                let socket = udp_socket(address)?;
                let bound = socket.local_addr()?;
                let socket = UdpSocket::from_std(socket)?;
                tokio::spawn(datagram_loop(self.clone(), socket, stopped));
                bound
            }
        };
        *lock(&self.address) = bound;
        *lock(&self.endpoint) = Endpoint::Listening(stop);
        Ok(())
    }

    fn tcp_listener(&self, address: SocketAddr) -> io::Result<TcpListener> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        if let Some(bytes) = self.recv_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        socket.bind(address)?;
        socket.listen(1024)
    }

    /// Stops listening and reserves the port with a socket that refuses.
    async fn refuse(&self) -> io::Result<()> {
        let previous = std::mem::replace(&mut *lock(&self.endpoint), Endpoint::Gone);
        let address = *lock(&self.address);
        let reserved = match self.proto {
            Proto::Tcp => {
                if let Endpoint::Listening(stop) = previous {
                    let (reply, done) = oneshot::channel();
                    if stop.send(reply).is_ok() {
                        let _ = done.await;
                    }
                } else {
                    drop(previous);
                }
                let socket = TcpSocket::new_v4()?;
                socket.set_reuseaddr(true)?;
                socket.bind(address)?;
                Endpoint::TcpRefusing { _reserved: socket }
            }
            Proto::Udp => {
                // Reserve first (both sockets have SO_REUSEADDR), then stop
                // the receiver: the port is never free.
                let socket = udp_socket(address)?;
                socket.connect((Ipv4Addr::LOCALHOST, 9))?;
                if let Endpoint::Listening(stop) = previous {
                    let (reply, done) = oneshot::channel();
                    if stop.send(reply).is_ok() {
                        let _ = done.await;
                    }
                }
                Endpoint::UdpRefusing { _reserved: socket }
            }
        };
        *lock(&self.endpoint) = reserved;
        Ok(())
    }

    /// Records the lines of one chunk: `pending` holds the connection's
    /// unterminated fragment across calls.
    fn consume(&self, pending: &mut Vec<u8>, chunk: &[u8]) {
        let mut tally = lock(&self.tally);
        tally.counts.bytes += chunk.len() as u64;
        let mut start = 0;
        for (at, &byte) in chunk.iter().enumerate() {
            if byte != b'\n' {
                continue;
            }
            if pending.is_empty() {
                self.line(&mut tally, &chunk[start..at]);
            } else {
                pending.extend_from_slice(&chunk[start..at]);
                self.line(&mut tally, pending);
                pending.clear();
            }
            start = at + 1;
        }
        pending.extend_from_slice(&chunk[start..]);
        self.received.send_replace(tally.counts.received);
    }

    /// Records one whole line (without its newline).
    fn line(&self, tally: &mut Tally, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(number) = bytes.strip_prefix(SYNC_MARKER) {
            let number = std::str::from_utf8(number)
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            self.synced.send_modify(|s| *s = (*s).max(number));
            return;
        }
        match Line::parse_bytes(bytes) {
            Ok(line) => {
                tally.counts.received += 1;
                if !tally.names.contains_key(line.name) {
                    tally
                        .names
                        .insert(line.name.to_owned(), NameTally::default());
                }
                let Some(name) = tally.names.get_mut(line.name) else {
                    return;
                };
                name.count += 1;
                let mut duplicate = false;
                if let Ok(value) = line.value.parse::<u64>() {
                    duplicate = name.mark(value);
                    name.sum += value as f64;
                } else if let Ok(value) = line.value.parse::<f64>() {
                    name.sum += value;
                }
                if duplicate {
                    name.duplicates += 1;
                    tally.counts.duplicates += 1;
                }
            }
            Err(error) => {
                tally.counts.corrupt += 1;
                if tally.corrupt_samples.len() < 20 {
                    let text = String::from_utf8_lossy(bytes);
                    tally.corrupt_samples.push(format!("{text:?}: {error}"));
                }
            }
        }
    }

    fn add(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut lock(&self.tally).counts);
    }
}

async fn accept_loop(
    inner: Arc<Inner>,
    listener: TcpListener,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    spawn_connection(&inner, stream);
                }
            }
            reply = &mut stop => {
                // Take every connection that completed its handshake before
                // the listener goes: closing the listener would reset them,
                // losing what the client wrote and our kernel acknowledged.
                if let Ok(listener) = listener.into_std() {
                    if listener.set_nonblocking(true).is_ok() {
                        while let Ok((stream, _)) = listener.accept() {
                            let stream = stream
                                .set_nonblocking(true)
                                .and_then(|()| TcpStream::from_std(stream));
                            if let Ok(stream) = stream {
                                spawn_connection(&inner, stream);
                            }
                        }
                    }
                }
                if let Ok(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }
}

fn spawn_connection(inner: &Arc<Inner>, stream: TcpStream) {
    let id = inner.next_id.fetch_add(1, Relaxed);
    let (commands, receiver) = mpsc::unbounded_channel();
    lock(&inner.connections).insert(id, commands);
    inner.add(|c| c.connections += 1);
    inner.active.send_modify(|a| *a += 1);
    tokio::spawn(connection(inner.clone(), stream, id, receiver));
}

/// What ended a wait in a connection's loop.
enum Step {
    Read(io::Result<usize>),
    Tick,
    Command(Option<Command>),
    ModeChanged(bool),
    LingerExpired,
}

async fn connection(
    inner: Arc<Inner>,
    mut stream: TcpStream,
    id: u64,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut mode = inner.mode.subscribe();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut pending = Vec::new();
    // Set once our FIN is out: read until the client closes, or reset then.
    let mut closing: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(86_400);
    let mut killed = false;
    loop {
        let current = if closing.is_some() {
            Mode::Normal
        } else {
            *mode.borrow_and_update()
        };
        let linger = closing.unwrap_or(far);
        let step = match current {
            Mode::Normal => tokio::select! {
                read = stream.read(&mut buffer) => Step::Read(read),
                command = commands.recv() => Step::Command(command),
                changed = mode.changed(), if closing.is_none() => Step::ModeChanged(changed.is_ok()),
                () = sleep_until(linger) => Step::LingerExpired,
            },
            Mode::BlackHole => tokio::select! {
                command = commands.recv() => Step::Command(command),
                changed = mode.changed() => Step::ModeChanged(changed.is_ok()),
            },
            Mode::Slow { every, .. } => tokio::select! {
                command = commands.recv() => Step::Command(command),
                changed = mode.changed() => Step::ModeChanged(changed.is_ok()),
                () = sleep(every) => Step::Tick,
            },
        };
        match step {
            Step::Read(Ok(0)) | Step::Read(Err(_)) => break,
            Step::Read(Ok(n)) => {
                inner.consume(&mut pending, &buffer[..n]);
                // One chunk per turn: a connection that always has data must
                // not keep the accept loop and the others waiting (tokio's
                // budget would let it read 128 chunks first).
                tokio::task::yield_now().await;
            }
            Step::Tick => {
                let Mode::Slow { bytes, .. } = current else {
                    continue;
                };
                let limit = bytes.clamp(1, buffer.len());
                match recv_now(stream.as_raw_fd(), &mut buffer[..limit], 0) {
                    Ok(0) => break,
                    Ok(n) => inner.consume(&mut pending, &buffer[..n]),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            Step::ModeChanged(true) => {}
            Step::ModeChanged(false) | Step::Command(None) => break,
            Step::Command(Some(Command::Close(reply))) => {
                if closing.is_none() {
                    // FIN now; reading goes on until the client closes.
                    let _ = stream.shutdown().await;
                    closing = Some(Instant::now() + inner.close_linger);
                }
                // The FIN is out: the caller may go on.
                let _ = reply.send(());
            }
            Step::Command(Some(Command::KillExact(reply))) => {
                // SAFETY: shutdown(2) on the stream's open descriptor.
                unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR) };
                kill(&inner, stream, &mut buffer, &mut pending);
                lock(&inner.connections).remove(&id);
                inner.active.send_modify(|a| *a -= 1);
                let _ = reply.send(());
                return;
            }
            Step::Command(Some(Command::Kill(reply))) => {
                kill(&inner, stream, &mut buffer, &mut pending);
                lock(&inner.connections).remove(&id);
                inner.active.send_modify(|a| *a -= 1);
                let _ = reply.send(());
                return;
            }
            Step::LingerExpired => {
                inner.add(|c| c.close_timeouts += 1);
                killed = true;
                break;
            }
        }
    }
    if killed {
        kill(&inner, stream, &mut buffer, &mut pending);
    } else {
        // The client closed (or the connection failed).
        if closing.is_some() {
            inner.add(|c| c.closes += 1);
        }
        if !pending.is_empty() {
            inner.add(|c| c.partial += 1);
        }
        drop(stream);
    }
    lock(&inner.connections).remove(&id);
    inner.active.send_modify(|a| *a -= 1);
}

/// How long a kill may spend reading what keeps arriving before it resets: a
/// client that pushes faster than we parse would otherwise keep us reading.
const DRAIN_BUDGET: Duration = Duration::from_secs(1);

/// Reads what is readable, without waiting (real system calls, whatever
/// tokio's readiness says), until nothing is (or `DRAIN_BUDGET` has passed).
fn drain(inner: &Inner, stream: &impl AsRawFd, buffer: &mut [u8], pending: &mut Vec<u8>) {
    let deadline = std::time::Instant::now() + DRAIN_BUDGET;
    while std::time::Instant::now() < deadline {
        match recv_now(stream.as_raw_fd(), buffer, 0) {
            Ok(0) => return,
            Ok(n) => inner.consume(pending, &buffer[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Resets the connection after reading what is readable, measuring what
/// arrived after that last read (lost without the client knowing).
fn kill(inner: &Inner, stream: TcpStream, buffer: &mut [u8], pending: &mut Vec<u8>) {
    let _ = stream.set_zero_linger();
    // Leave tokio first (deregistering takes a while): from the last read to
    // the reset, nothing but the measurement happens.
    let Ok(stream) = stream.into_std() else {
        return;
    };
    drain(inner, &stream, buffer, pending);
    let fd = stream.as_raw_fd();
    // What arrived since that last read, peeked (not consumed) as the very
    // last thing before the reset: its newlines end lines the client counts
    // as delivered and the server never reads.
    let waiting = fionread(fd).unwrap_or(0);
    let mut peeked = vec![0u8; 2 * waiting + 256 * 1024];
    let unread = recv_now(fd, &mut peeked, libc::MSG_PEEK).unwrap_or(0);
    let unread_lines = peeked[..unread].iter().filter(|&&b| b == b'\n').count() as u64;
    drop(stream);
    let fragment = !pending.is_empty() as u64;
    pending.clear();
    inner.add(|c| {
        c.kills += 1;
        c.partial += fragment;
        c.unread_at_kill_bytes += unread as u64;
        c.unread_at_kill_lines += unread_lines;
    });
}

async fn datagram_loop(
    inner: Arc<Inner>,
    socket: UdpSocket,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        tokio::select! {
            received = socket.recv(&mut buffer) => {
                if let Ok(n) = received {
                    datagram(&inner, &buffer[..n]);
                }
            }
            reply = &mut stop => {
                // Read what is queued before the socket goes.
                while let Ok(n) = recv_now(socket.as_raw_fd(), &mut buffer, 0) {
                    datagram(&inner, &buffer[..n]);
                }
                if let Ok(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }
}

fn datagram(inner: &Inner, bytes: &[u8]) {
    let mut tally = lock(&inner.tally);
    tally.counts.datagrams += 1;
    tally.counts.bytes += bytes.len() as u64;
    // A datagram's last line may lack its newline: it is whole all the same.
    for line in bytes.split(|&b| b == b'\n') {
        inner.line(&mut tally, line);
    }
    inner.received.send_replace(tally.counts.received);
}

/// `recv(2)` with `MSG_DONTWAIT`.
fn recv_now(fd: RawFd, buffer: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the buffer is valid for writes of its length; the fd is open (its
    // owner is borrowed by the caller for the duration of the call).
    let n = unsafe {
        libc::recv(
            fd,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            flags | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Bytes waiting in a socket's receive queue.
fn fionread(fd: RawFd) -> io::Result<usize> {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points to a
    // live c_int; the fd is open.
    let result = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut bytes) };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(bytes.max(0) as usize)
    }
}

/// A nonblocking UDP socket bound to `address` with `SO_REUSEADDR` (so that a
/// reserving socket and a receiving one can share the port for an instant).
fn udp_socket(address: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let SocketAddr::V4(v4) = address else {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "IPv4 only"));
    };
    // SAFETY: plain socket calls on a descriptor we own; `socket` takes
    // ownership of it right after creation so it is closed on every path.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = std::net::UdpSocket::from_raw_fd(fd);
        let on: libc::c_int = 1;
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
        set_receive_buffer(&socket, 8 << 20);
        let sockaddr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        if libc::bind(
            fd,
            (&sockaddr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

/// A TCP port on loopback where a connection attempt hangs: a listener that
/// never accepts, with its accept queue full, so the kernel drops every
/// further SYN (the client retransmits and waits for its connect timeout).
pub struct Unanswered {
    listener: std::net::TcpListener,
    fillers: Vec<std::net::TcpStream>,
}

impl Unanswered {
    /// Binds, listens with a backlog of 0 and fills the queue.
    pub fn new() -> io::Result<Unanswered> {
        // SAFETY: plain socket calls on a descriptor we own, wrapped at once.
        let listener = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let listener = std::net::TcpListener::from_raw_fd(fd);
            let sockaddr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
                },
                sin_zero: [0; 8],
            };
            if libc::bind(
                fd,
                (&sockaddr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ) < 0
                || libc::listen(fd, 0) < 0
            {
                return Err(io::Error::last_os_error());
            }
            listener
        };
        let address = listener.local_addr()?;
        let mut fillers = Vec::new();
        // Connect until an attempt is not answered: the queue is then full.
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
                Ok(stream) => fillers.push(stream),
                Err(_) => return Ok(Unanswered { listener, fillers }),
            }
        }
        Err(io::Error::other("the accept queue never filled"))
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// How many connections fill the queue.
    pub fn fillers(&self) -> usize {
        self.fillers.len()
    }
}
