//! Delivered throughput, loss and latency of statsd clients, side by side, in
//! one run, against one counting server.
//!
//! Run it with `scripts/compare.sh` (a release build); `--help` lists the flags.
//!
//! Its last section, `instructions`, is not timed: it counts instructions per
//! call under callgrind (the `instructions` binary beside this one, run twice
//! per call shape), ours beside cadence's and metrics-exporter-dogstatsd's.
//!
//! The server is part of this program: a TCP listener with one reader thread
//! per connection and a UDP socket read with `recvmmsg` into a 64 MiB receive
//! buffer (forced past `rmem_max` where root may), both on the same port. It
//! only counts newlines (a datagram's last line may lack one), so it costs as
//! little as a server can; the "raw" rows show how fast it can count, which is
//! the ceiling for every client. Each client in turn sends N counters named
//! `bench.requests` from one producer thread; the clock starts before the first
//! call and stops when the server has counted every line (TCP) or has seen
//! nothing new for a quiet period (UDP: the time of the last line that
//! arrived). Rounds are interleaved (every client once per round) and the round
//! with the median delivered rate is reported, so that a burst of load from
//! elsewhere on the machine hurts every client alike.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, MetricSink, NopMetricSink, QueuingMetricSink, StatsdClient};
use statsd_connector::{Connector, Metrics, Protocol};
use statsd_connector_testkit::socket::set_receive_buffer;

const NAME: &str = "bench.requests";
const LINE: &[u8] = b"bench.requests:1|c\n";
/// The general path's names and tags (the emit table's second part).
const GAUGE: &str = "bench.gauge";
const TIMING: &str = "bench.timing";
const TAGS: [(&str, &str); 2] = [("region", "eu-west-1"), ("host", "web-1")];

// ------------------------------------------------------------------ options

struct Options {
    count: u64,
    rounds: usize,
    latency_calls: u64,
    emit_calls: u64,
    python: bool,
    python_count: u64,
    only: Vec<String>,
    rows: Vec<usize>,
    /// The instructions section for these shapes only (the instructions
    /// binary's names), instead of its two tables.
    shapes: Vec<String>,
}

const USAGE: &str = "\
compare [--count N] [--rounds R] [--latency-calls N] [--emit-calls N]
        [--python] [--python-count M] [--only SECTION[,SECTION...]]
        [--shapes SHAPE[,SHAPE...]]

  --count N          metrics per client in the throughput table (default 10000000)
  --rounds R         interleaved rounds; the median round is reported (default 3)
  --latency-calls N  calls in the black-hole latency section (default 1000000)
  --emit-calls N     calls per thread in the emit-cost section (default 5000000)
  --python           also run sprockets-statsd 1.0.0 (python3 scripts/python_baseline.py)
  --python-count M   metrics for the Python client (default 200000)
  --only SECTIONS    any of: throughput, latency, emit, aggregation, python, instructions
  --rows LIST        throughput rows to run, by number from 1 (default: all)
  --shapes LIST      instructions per call of these shapes only (names as
                     `instructions` lists them; implies --only instructions)

The instructions section (run by default when valgrind is on PATH) counts
instructions per call with callgrind: ours beside cadence and
metrics-exporter-dogstatsd, for the issue's calls and the criterion benches'
call shapes. It runs the `instructions` binary found beside this one, so
build both in release first:
  cargo build --release -p statsd-connector-tools --bin instructions --bin compare
  cargo run --release -p statsd-connector-tools --bin compare -- --only instructions";

fn options() -> Options {
    let mut options = Options {
        count: 10_000_000,
        rounds: 3,
        latency_calls: 1_000_000,
        emit_calls: 5_000_000,
        python: false,
        python_count: 200_000,
        only: Vec::new(),
        rows: Vec::new(),
        shapes: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> String {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        let number = |text: String| -> u64 {
            text.replace('_', "")
                .parse()
                .unwrap_or_else(|_| fail(&format!("not a number: {text}")))
        };
        match arg.as_str() {
            "--count" => options.count = number(value("--count")),
            "--rounds" => options.rounds = number(value("--rounds")).max(1) as usize,
            "--latency-calls" => options.latency_calls = number(value("--latency-calls")),
            "--emit-calls" => options.emit_calls = number(value("--emit-calls")),
            "--python" => options.python = true,
            "--python-count" => options.python_count = number(value("--python-count")),
            "--rows" => {
                options.rows = value("--rows")
                    .split(',')
                    .map(|r| number(r.to_owned()) as usize)
                    .collect();
            }
            "--only" => {
                options.only = value("--only").split(',').map(str::to_owned).collect();
            }
            "--shapes" => {
                options.shapes = value("--shapes").split(',').map(str::to_owned).collect();
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    if options.only.iter().any(|s| s == "python") {
        options.python = true;
    }
    if !options.shapes.is_empty() && options.only.is_empty() {
        options.only.push("instructions".to_owned());
    }
    options
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}\n\n{USAGE}");
    std::process::exit(2);
}

impl Options {
    fn wants(&self, section: &str) -> bool {
        if self.only.is_empty() {
            section != "python" || self.python
        } else {
            self.only.iter().any(|s| s == section)
        }
    }
}

// ------------------------------------------------------------------- server

/// What the counting server saw since the last reset.
#[derive(Default)]
struct Counts {
    tcp_lines: AtomicU64,
    tcp_bytes: AtomicU64,
    udp_lines: AtomicU64,
    udp_bytes: AtomicU64,
    datagrams: AtomicU64,
    /// In summing mode: the sum of the values of the lines named `sum_name`.
    sum: AtomicU64,
    sum_lines: AtomicU64,
}

/// A statsd server that counts lines, TCP and UDP on one port.
struct Server {
    address: SocketAddr,
    counts: Arc<Counts>,
    /// When set, UDP lines `name:value|...` with this name also add their
    /// value to `counts.sum` (to check what an aggregating client delivered).
    sum_name: Arc<Mutex<Option<Vec<u8>>>>,
    receive_buffer: usize,
}

fn newlines(bytes: &[u8]) -> u64 {
    // memchr counts at tens of GB/s; a plain `filter(..).count()` manages
    // about 2 GB/s, which would make the server the bottleneck.
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind tcp");
        let address = listener.local_addr().unwrap();
        let udp = UdpSocket::bind(address).expect("bind udp");
        let receive_buffer = set_receive_buffer(&udp, 64 << 20);
        let counts = Arc::new(Counts::default());
        let sum_name = Arc::new(Mutex::new(None));
        let tcp_counts = counts.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counts = tcp_counts.clone();
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = vec![0u8; 1 << 20];
                    while let Ok(n @ 1..) = stream.read(&mut buffer) {
                        counts.tcp_bytes.fetch_add(n as u64, Relaxed);
                        counts.tcp_lines.fetch_add(newlines(&buffer[..n]), Relaxed);
                    }
                });
            }
        });
        let (udp_counts, udp_sum_name) = (counts.clone(), sum_name.clone());
        thread::spawn(move || udp_loop(udp, &udp_counts, &udp_sum_name));
        Server {
            address,
            counts,
            sum_name,
            receive_buffer,
        }
    }

    fn reset(&self) {
        let c = &self.counts;
        for counter in [
            &c.tcp_lines,
            &c.tcp_bytes,
            &c.udp_lines,
            &c.udp_bytes,
            &c.datagrams,
            &c.sum,
            &c.sum_lines,
        ] {
            counter.store(0, Relaxed);
        }
    }

    fn lines(&self, tcp: bool) -> u64 {
        if tcp {
            self.counts.tcp_lines.load(Relaxed)
        } else {
            self.counts.udp_lines.load(Relaxed)
        }
    }

    /// Waits until `expected` lines have arrived over TCP, or (`None`) until
    /// no UDP line has arrived for `quiet`; returns the count and when the
    /// last line arrived.
    fn wait(&self, expected: Option<u64>, quiet: Duration) -> (u64, Instant) {
        let tcp = expected.is_some();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = self.lines(tcp);
        let mut changed = Instant::now();
        loop {
            thread::sleep(Duration::from_micros(500));
            let now = self.lines(tcp);
            if now != last {
                last = now;
                changed = Instant::now();
            }
            match expected {
                Some(n) if now >= n => return (now, changed),
                _ if changed.elapsed() >= quiet && expected.is_none() => return (now, changed),
                _ if Instant::now() > deadline => return (now, changed),
                _ if expected.is_some() && changed.elapsed() > Duration::from_secs(10) => {
                    return (now, changed);
                }
                _ => {}
            }
        }
    }
}

fn count_datagram(datagram: &[u8], counts: &Counts, sum_name: Option<&[u8]>) {
    let mut lines = newlines(datagram);
    if datagram.last().is_some_and(|&b| b != b'\n') {
        lines += 1;
    }
    counts.datagrams.fetch_add(1, Relaxed);
    counts.udp_bytes.fetch_add(datagram.len() as u64, Relaxed);
    counts.udp_lines.fetch_add(lines, Relaxed);
    if let Some(name) = sum_name {
        for line in datagram.split(|&b| b == b'\n') {
            let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix(b":")) else {
                continue;
            };
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let value: u64 = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            counts.sum.fetch_add(value, Relaxed);
            counts.sum_lines.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(target_os = "linux")]
fn udp_loop(socket: UdpSocket, counts: &Counts, sum_name: &Mutex<Option<Vec<u8>>>) {
    use std::os::fd::AsRawFd;
    const BATCH: usize = 32;
    const SIZE: usize = 65_536;
    let mut buffers = vec![0u8; BATCH * SIZE];
    loop {
        // SAFETY: all-zero iovec and mmsghdr are valid empty values.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut messages: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, chunk) in buffers.chunks_mut(SIZE).enumerate() {
            iovecs[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: SIZE,
            };
            messages[i].msg_hdr.msg_iov = &mut iovecs[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: each message points to one iovec into `buffers`, all alive
        // for the call; recvmmsg writes into them and sets `msg_len`.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                messages.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let name = sum_name.lock().unwrap().clone();
        for (i, message) in messages[..received as usize].iter().enumerate() {
            let datagram = &buffers[i * SIZE..i * SIZE + message.msg_len as usize];
            count_datagram(datagram, counts, name.as_deref());
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn udp_loop(socket: UdpSocket, counts: &Counts, sum_name: &Mutex<Option<Vec<u8>>>) {
    let mut buffer = vec![0u8; 65_536];
    while let Ok(n) = socket.recv(&mut buffer) {
        let name = sum_name.lock().unwrap().clone();
        count_datagram(&buffer[..n], counts, name.as_deref());
    }
}

/// A TCP server that accepts connections and never reads from them.
fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}

// ------------------------------------------------------------------ helpers

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn thread_cpu() -> Duration {
    #[cfg(unix)]
    return cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID);
    #[cfg(not(unix))]
    Duration::ZERO
}

/// CPU time of every thread of this process (callers, the processor, the
/// in-process server).
fn process_cpu() -> Duration {
    #[cfg(unix)]
    return cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID);
    #[cfg(not(unix))]
    Duration::ZERO
}

#[cfg(unix)]
fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `(VmRSS, VmHWM)` in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn wait_connected(statsd: &Connector) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !statsd.is_connected() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

fn mega(rate: f64) -> String {
    if rate < 100_000.0 {
        format!("{:.1} k/s", rate / 1e3)
    } else {
        format!("{:.2} M/s", rate / 1e6)
    }
}

fn median<T: Clone>(mut items: Vec<T>, key: impl Fn(&T) -> f64) -> T {
    items.sort_by(|a, b| key(a).total_cmp(&key(b)));
    items[items.len() / 2].clone()
}

// --------------------------------------------------------- throughput table

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Tcp,
    Udp1432,
    Udp8192,
}

/// What a client run reports before the server is asked.
struct Sent {
    start: Instant,
    emitted: u64,
    emit_time: Duration,
    /// Calls the client refused or failed (not retried).
    client_lost: u64,
    note: String,
}

#[derive(Clone)]
struct Outcome {
    emitted: u64,
    counted: u64,
    emit_rate: f64,
    delivered_rate: f64,
    bytes_per_datagram: f64,
    note: String,
}

fn measure(server: &Server, kind: Kind, run: impl FnOnce(&Server) -> Sent) -> Outcome {
    thread::sleep(Duration::from_millis(100));
    server.reset();
    let sent = run(server);
    let expected = (kind == Kind::Tcp).then_some(sent.emitted - sent.client_lost);
    let (counted, last) = server.wait(expected, Duration::from_millis(300));
    let elapsed = last
        .saturating_duration_since(sent.start)
        .max(sent.emit_time);
    let datagrams = server.counts.datagrams.load(Relaxed);
    Outcome {
        emitted: sent.emitted,
        counted,
        emit_rate: sent.emitted as f64 / sent.emit_time.as_secs_f64(),
        delivered_rate: counted as f64 / elapsed.as_secs_f64(),
        bytes_per_datagram: if datagrams > 0 {
            server.counts.udp_bytes.load(Relaxed) as f64 / datagrams as f64
        } else {
            0.0
        },
        note: sent.note,
    }
}

fn ours(server: &Server, n: u64, protocol: Protocol, payload: usize) -> Sent {
    let runtime = runtime();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.address.port())
        .protocol(protocol)
        .max_payload(payload)
        .build()
        .unwrap();
    runtime.block_on(statsd.start()).unwrap();
    wait_connected(&statsd);
    let start = Instant::now();
    let mut full = 0u64;
    for _ in 0..n {
        // The default queue (100 000) fills when one thread emits flat out:
        // retry, so the row shows what can be delivered, and count the retries.
        while let Err(error) = statsd.incr(NAME) {
            assert!(error.is_queue_full(), "{error}");
            full += 1;
            back_off();
        }
    }
    let emit_time = start.elapsed();
    let report = runtime.block_on(statsd.stop());
    let stats = statsd.stats();
    assert_eq!(report.undelivered, 0);
    assert_eq!(stats.sent, n, "{stats:?}");
    let mut note = format!("queue full on {full} calls (retried)");
    if stats.datagrams > 0 {
        note += &format!(
            "; {} datagrams, {:.0} B each on average",
            stats.datagrams,
            stats.sent_bytes as f64 / stats.datagrams as f64
        );
    }
    Sent {
        start,
        emitted: n,
        emit_time,
        client_lost: 0,
        note,
    }
}

/// What a producer told "queue full" does before it retries (ours and
/// cadence's bounded queue alike): sleep briefly. Spinning on `yield_now`
/// instead would keep a third thread busy on a two-core machine, beside the
/// client's sender and the server, and measure the scheduler more than the
/// client.
fn back_off() {
    thread::sleep(Duration::from_micros(50));
}

fn cadence_udp_sink(server: &Server) -> BufferedUdpMetricSink {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    // As cadence's documentation sets it up.
    socket.set_nonblocking(true).unwrap();
    BufferedUdpMetricSink::with_capacity(server.address, socket, 1432).unwrap()
}

fn cadence_buffered(server: &Server, n: u64) -> Sent {
    let client = StatsdClient::from_sink("", cadence_udp_sink(server));
    let start = Instant::now();
    let mut errors = 0u64;
    for _ in 0..n {
        if client.count(NAME, 1).is_err() {
            errors += 1;
        }
    }
    let _ = client.flush();
    let emit_time = start.elapsed();
    drop(client);
    Sent {
        start,
        emitted: n,
        emit_time,
        client_lost: 0,
        note: format!("{errors} calls returned an error (a datagram not sent)"),
    }
}

fn cadence_queuing(server: &Server, n: u64, bound: Option<usize>) -> Sent {
    let sink = match bound {
        Some(capacity) => QueuingMetricSink::with_capacity(cadence_udp_sink(server), capacity),
        None => QueuingMetricSink::from(cadence_udp_sink(server)),
    };
    let client = StatsdClient::from_sink("", sink.clone());
    let start = Instant::now();
    let mut full = 0u64;
    for _ in 0..n {
        while client.count(NAME, 1).is_err() {
            full += 1;
            back_off();
        }
    }
    let emit_time = start.elapsed();
    let queued = sink.queued();
    drop(client);
    drop(sink); // the worker drains the queue, then the buffered sink flushes
    let mut note =
        format!("{queued} still queued when the loop ended (lost if the process exits then)");
    if bound.is_some() {
        note += &format!("; queue full on {full} calls (retried)");
    }
    Sent {
        start,
        emitted: n,
        emit_time,
        client_lost: 0,
        note,
    }
}

fn statsd_pipeline(server: &Server, n: u64) -> Sent {
    let client = statsd::Client::new(server.address, "").unwrap();
    let mut pipeline = client.pipeline();
    pipeline.set_max_udp_size(1432);
    let start = Instant::now();
    for i in 0..n {
        pipeline.incr(NAME);
        if i % 1000 == 999 {
            pipeline.send(&client);
        }
    }
    pipeline.send(&client);
    let emit_time = start.elapsed();
    Sent {
        start,
        emitted: n,
        emit_time,
        client_lost: 0,
        note: "Pipeline, max_udp_size 1432, sent every 1000 metrics".into(),
    }
}

fn statsd_plain(server: &Server, n: u64) -> Sent {
    let client = statsd::Client::new(server.address, "").unwrap();
    let start = Instant::now();
    for _ in 0..n {
        client.incr(NAME);
    }
    let emit_time = start.elapsed();
    Sent {
        start,
        emitted: n,
        emit_time,
        client_lost: 0,
        note: "Client::incr, one datagram per metric".into(),
    }
}

fn raw_tcp(address: SocketAddr, n: u64) -> Sent {
    let per_write = (64 * 1024 / LINE.len()) as u64;
    let chunk = LINE.repeat(per_write as usize);
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(per_write);
        stream.write_all(&chunk[..k as usize * LINE.len()]).unwrap();
        left -= k;
    }
    let emit_time = start.elapsed();
    drop(stream);
    Sent {
        start,
        emitted: n,
        emit_time,
        client_lost: 0,
        note: format!("pre-formatted, {} B writes", chunk.len()),
    }
}

fn raw_udp(server: &Server, n: u64, payload: usize) -> Sent {
    let per_datagram = (payload / LINE.len()) as u64;
    let datagram = LINE.repeat(per_datagram as usize);
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket.connect(server.address).unwrap();
    let start = Instant::now();
    let mut left = n;
    let mut sizes = Vec::with_capacity(64);
    while left > 0 {
        sizes.clear();
        while left > 0 && sizes.len() < 64 {
            let k = left.min(per_datagram);
            sizes.push(k as usize * LINE.len());
            left -= k;
        }
        send_many(&socket, &datagram, &sizes);
    }
    let emit_time = start.elapsed();
    Sent {
        start,
        emitted: n,
        emit_time,
        client_lost: 0,
        note: format!("pre-packed {} B datagrams, sendmmsg x64", datagram.len()),
    }
}

/// Sends the prefixes `sizes` of `datagram`, each as one datagram.
#[cfg(target_os = "linux")]
fn send_many(socket: &UdpSocket, datagram: &[u8], sizes: &[usize]) {
    use std::os::fd::AsRawFd;
    let mut sent = 0;
    while sent < sizes.len() {
        let rest = &sizes[sent..];
        // SAFETY: all-zero iovec and mmsghdr are valid empty values.
        let mut iovecs: Vec<libc::iovec> = rest
            .iter()
            .map(|&len| libc::iovec {
                iov_base: datagram.as_ptr() as *mut libc::c_void,
                iov_len: len,
            })
            .collect();
        let mut messages: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iovec| {
                let mut message: libc::mmsghdr = unsafe { std::mem::zeroed() };
                message.msg_hdr.msg_iov = iovec;
                message.msg_hdr.msg_iovlen = 1;
                message
            })
            .collect();
        // SAFETY: each message points to one iovec into `datagram`, alive for
        // the call; sendmmsg only reads them. The socket is connected.
        let result = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                messages.as_mut_ptr(),
                messages.len() as libc::c_uint,
                0,
            )
        };
        if result > 0 {
            sent += result as usize;
        } else {
            thread::yield_now();
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn send_many(socket: &UdpSocket, datagram: &[u8], sizes: &[usize]) {
    for &size in sizes {
        let _ = socket.send(&datagram[..size]);
    }
}

fn capture_server_raw(n: u64) -> Outcome {
    use statsd_connector::testing::CaptureServer;
    let runtime = runtime();
    let server = runtime
        .block_on(CaptureServer::builder().count_only(true).start())
        .unwrap();
    let sent = raw_tcp(server.address(), n);
    let counted = runtime
        .block_on(server.wait_for_lines(n, Duration::from_secs(120)))
        .unwrap_or_else(|_| server.line_count());
    let elapsed = sent.start.elapsed();
    Outcome {
        emitted: n,
        counted,
        emit_rate: n as f64 / sent.emit_time.as_secs_f64(),
        delivered_rate: counted as f64 / elapsed.as_secs_f64(),
        bytes_per_datagram: 0.0,
        note: "raw TCP into CaptureServer::builder().count_only(true)".into(),
    }
}

struct Row {
    client: &'static str,
    transport: &'static str,
    kind: Kind,
    cadence: bool,
    raw: bool,
}

fn throughput(server: &Server, options: &Options) {
    let n = options.count;
    let slow_n = n.min(1_000_000);
    let rows = [
        Row {
            client: "statsd-connector",
            transport: "TCP",
            kind: Kind::Tcp,
            cadence: false,
            raw: false,
        },
        Row {
            client: "statsd-connector",
            transport: "UDP 1432",
            kind: Kind::Udp1432,
            cadence: false,
            raw: false,
        },
        Row {
            client: "statsd-connector",
            transport: "UDP 8192",
            kind: Kind::Udp8192,
            cadence: false,
            raw: false,
        },
        Row {
            client: "cadence BufferedUdpMetricSink",
            transport: "UDP 1432",
            kind: Kind::Udp1432,
            cadence: true,
            raw: false,
        },
        Row {
            client: "cadence QueuingMetricSink(Buffered), unbounded",
            transport: "UDP 1432",
            kind: Kind::Udp1432,
            cadence: true,
            raw: false,
        },
        Row {
            client: "cadence QueuingMetricSink(Buffered), bound 100k",
            transport: "UDP 1432",
            kind: Kind::Udp1432,
            cadence: true,
            raw: false,
        },
        Row {
            client: "statsd 0.16 Pipeline",
            transport: "UDP 1432",
            kind: Kind::Udp1432,
            cadence: false,
            raw: false,
        },
        Row {
            client: "statsd 0.16 Client::incr",
            transport: "UDP",
            kind: Kind::Udp1432,
            cadence: false,
            raw: false,
        },
        Row {
            client: "raw limit: 64 KiB writes",
            transport: "TCP",
            kind: Kind::Tcp,
            cadence: false,
            raw: true,
        },
        Row {
            client: "raw limit: sendmmsg",
            transport: "UDP 1432",
            kind: Kind::Udp1432,
            cadence: false,
            raw: true,
        },
        Row {
            client: "raw limit: sendmmsg",
            transport: "UDP 8192",
            kind: Kind::Udp8192,
            cadence: false,
            raw: true,
        },
    ];
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(); rows.len()];
    for round in 0..options.rounds {
        eprintln!(
            "round {} of {} (load {})",
            round + 1,
            options.rounds,
            load_average()
        );
        for (i, row) in rows.iter().enumerate() {
            if !options.rows.is_empty() && !options.rows.contains(&(i + 1)) {
                continue;
            }
            let outcome = measure(server, row.kind, |s| match i {
                0 => ours(s, n, Protocol::Tcp, 1432),
                1 => ours(s, n, Protocol::Udp, 1432),
                2 => ours(s, n, Protocol::Udp, 8192),
                3 => cadence_buffered(s, n),
                4 => cadence_queuing(s, n, None),
                5 => cadence_queuing(s, n, Some(100_000)),
                6 => statsd_pipeline(s, n),
                7 => statsd_plain(s, slow_n),
                8 => raw_tcp(s.address, n),
                9 => raw_udp(s, n, 1432),
                _ => raw_udp(s, n, 8192),
            });
            eprintln!(
                "  {:<50} {:<9} delivered {:>12}  counted {}/{}",
                row.client,
                row.transport,
                mega(outcome.delivered_rate),
                outcome.counted,
                outcome.emitted
            );
            results[i].push(outcome);
        }
    }
    let chosen: Vec<Option<Outcome>> = results
        .into_iter()
        .map(|runs| (!runs.is_empty()).then(|| median(runs, |o| o.delivered_rate)))
        .collect();
    let ran = || {
        rows.iter()
            .zip(&chosen)
            .filter_map(|(row, o)| Some((row, o.as_ref()?)))
    };
    let cadence_best = ran()
        .filter(|(row, _)| row.cadence)
        .map(|(_, o)| o.delivered_rate)
        .fold(f64::NAN, f64::max);
    let raw: BTreeMap<Kind, f64> = ran()
        .filter(|(row, _)| row.raw)
        .map(|(row, o)| (row.kind, o.delivered_rate))
        .collect();
    let raw_of = |kind: Kind| raw.get(&kind).copied().unwrap_or(f64::NAN);

    println!(
        "\n## Delivered throughput: one producer thread, {n} counters per client (median of {} rounds)\n",
        options.rounds
    );
    println!(
        "| client | transport | emitted | server counted | lost % | emit calls/s | delivered metrics/s \
         | vs cadence fastest | vs raw limit (same transport) | B/datagram |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (row, o) in ran() {
        let lost = 100.0 * (o.emitted.saturating_sub(o.counted)) as f64 / o.emitted as f64;
        let per_datagram = if o.bytes_per_datagram > 0.0 {
            format!("{:.0}", o.bytes_per_datagram)
        } else {
            "-".into()
        };
        let ratio = |x: f64, suffix: &str, digits: usize| {
            if x.is_finite() {
                format!("{x:.digits$}{suffix}")
            } else {
                "-".into()
            }
        };
        println!(
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} |",
            row.client,
            row.transport,
            o.emitted,
            o.counted,
            lost,
            mega(o.emit_rate),
            mega(o.delivered_rate),
            ratio(o.delivered_rate / cadence_best, "x", 2),
            ratio(100.0 * o.delivered_rate / raw_of(row.kind), "%", 0),
            per_datagram,
        );
    }
    println!(
        "| statsd-connector `.aggregate()` | | | | | | *see the aggregating clients table: \
         the server sees one line per name per flush* | | | |"
    );
    println!("\nNotes, per row (median round):");
    for (row, o) in ran() {
        println!("- {} / {}: {}", row.client, row.transport, o.note);
    }
    if raw.contains_key(&Kind::Tcp) {
        let capture = capture_server_raw(n);
        println!(
            "- server check: raw TCP into the crate's CaptureServer (count_only): {} delivered, \
             counted {}/{} ({:.0}% of this program's counting server)",
            mega(capture.delivered_rate),
            capture.counted,
            capture.emitted,
            100.0 * capture.delivered_rate / raw_of(Kind::Tcp)
        );
    }
}

// ------------------------------------------------------------ black hole

struct Latencies {
    ok: u64,
    refused: u64,
    max: Duration,
    /// Which call (from 0) was the slowest.
    max_at: usize,
    percentiles: Vec<Duration>,
    rss_growth_kib: i64,
    note: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Clock {
    /// `Instant`: what the caller waited, preemption included.
    Wall,
    /// The thread's CPU time: the work the call did, preemption excluded.
    ThreadCpu,
}

fn timed_calls(calls: usize, clock: Clock, mut call: impl FnMut() -> bool) -> Latencies {
    // Touched before the clock starts, so that neither page faults nor the
    // samples themselves count in the memory growth.
    let mut samples = vec![u32::MAX; calls];
    let (rss_before, _) = memory_kib();
    let (mut ok, mut refused) = (0, 0);
    for slot in samples.iter_mut() {
        let nanos = match clock {
            Clock::Wall => {
                let start = Instant::now();
                let accepted = call();
                let nanos = start.elapsed().as_nanos();
                (ok, refused) = if accepted {
                    (ok + 1, refused)
                } else {
                    (ok, refused + 1)
                };
                nanos
            }
            Clock::ThreadCpu => {
                let start = thread_cpu();
                let accepted = call();
                let nanos = (thread_cpu() - start).as_nanos();
                (ok, refused) = if accepted {
                    (ok + 1, refused)
                } else {
                    (ok, refused + 1)
                };
                nanos
            }
        };
        *slot = nanos.min(u32::MAX as u128) as u32;
    }
    let (rss_after, _) = memory_kib();
    let (max_at, &max) = samples
        .iter()
        .enumerate()
        .max_by_key(|(_, &n)| n)
        .unwrap_or((0, &0));
    samples.sort_unstable();
    let at = |p: f64| {
        let index = ((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1));
        Duration::from_nanos(samples.get(index).copied().unwrap_or(0) as u64)
    };
    Latencies {
        ok,
        refused,
        max: Duration::from_nanos(max as u64),
        max_at,
        percentiles: [0.5, 0.99, 0.999, 0.9999].iter().map(|&p| at(p)).collect(),
        rss_growth_kib: rss_after as i64 - rss_before as i64,
        note: String::new(),
    }
}

/// A cadence sink over a blocking TCP stream: what a cadence user writes to
/// get TCP (cadence has no TCP sink).
struct TcpSink(Mutex<std::io::BufWriter<TcpStream>>);

impl MetricSink for TcpSink {
    fn emit(&self, metric: &str) -> std::io::Result<usize> {
        let mut writer = self.0.lock().unwrap();
        writer.write_all(metric.as_bytes())?;
        writer.write_all(b"\n")?;
        Ok(metric.len() + 1)
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.lock().unwrap().flush()
    }
}

const LATENCY_CLIENTS: [&str; 3] = [
    "statsd-connector TCP (default queue 100 000)",
    "cadence QueuingMetricSink(TCP sink), bound 100 000",
    "cadence QueuingMetricSink(TCP sink), unbounded",
];

/// The name of the latency table's row `which` (the clients, then the floor).
fn latency_row_name(which: usize) -> &'static str {
    LATENCY_CLIENTS
        .get(which)
        .copied()
        .unwrap_or("empty call (the clock's floor)")
}

/// One client of the latency section, against a fresh black hole.
fn black_hole_run(which: usize, calls: usize, clock: Clock) -> Latencies {
    let address = black_hole();
    if which == 0 {
        let runtime = runtime();
        let statsd = Connector::builder()
            .host("127.0.0.1")
            .port(address.port())
            .build()
            .unwrap();
        runtime.block_on(statsd.start()).unwrap();
        wait_connected(&statsd);
        let mut result = timed_calls(calls, clock, || statsd.incr(NAME).is_ok());
        let stats = statsd.stats();
        let capacity = statsd.config().queue_capacity();
        result.note = format!(
            "bound {capacity} lines; at the end {} lines in the queue or held by the blocked processor, \
             {} dropped (counted), {} accepted by the kernel",
            stats.in_queue, stats.dropped, stats.sent
        );
        let report = runtime.block_on(statsd.stop_with_timeout(Duration::from_millis(100)));
        result.note += &format!(
            "; stop() gave up after 100 ms with {} undelivered (counted)",
            report.undelivered
        );
        return result;
    }
    let stream = TcpStream::connect(address).unwrap();
    let sink = TcpSink(Mutex::new(std::io::BufWriter::with_capacity(1432, stream)));
    let queuing = if which == 1 {
        QueuingMetricSink::with_capacity(sink, 100_000)
    } else {
        QueuingMetricSink::from(sink)
    };
    let client = StatsdClient::from_sink("", queuing.clone());
    let mut result = timed_calls(calls, clock, || client.count(NAME, 1).is_ok());
    result.note = format!(
        "{} queued at the end; the worker thread stays blocked in write() for good",
        queuing.queued()
    );
    // Leaked on purpose: dropping cannot stop the blocked worker.
    std::mem::forget(client);
    std::mem::forget(queuing);
    result
}

fn latency(options: &Options) {
    let calls = options.latency_calls as usize;
    // What timing a call costs by itself.
    let wall_overhead = timed_calls(100_000, Clock::Wall, || true).percentiles[0];
    let cpu_overhead = timed_calls(100_000, Clock::ThreadCpu, || true).percentiles[0];
    let mut results = Vec::new();
    for clock in [Clock::Wall, Clock::ThreadCpu] {
        for which in 0..LATENCY_CLIENTS.len() {
            results.push((clock, which, black_hole_run(which, calls, clock)));
        }
        // The floor: as many empty calls, timed the same way. What this
        // row shows beyond the overhead (a timer tick, an interrupt, a
        // hypervisor's pause charged to the thread) is the machine's, and
        // lands on every client's row too.
        let mut floor = timed_calls(calls, clock, || true);
        floor.note = "no client: the clock's own floor".into();
        results.push((clock, LATENCY_CLIENTS.len(), floor));
    }
    println!("\n## Latency under trouble: the server accepts and never reads; {calls} calls from one thread\n");
    println!(
        "Wall: each call timed with `Instant` (an empty call measures {wall_overhead:?}): what the caller \
         waited, including preemption by other processes. Thread CPU: `CLOCK_THREAD_CPUTIME_ID` \
         (an empty call measures {cpu_overhead:?}): the work the call itself did. Each row is a fresh \
         client and server.\n"
    );
    println!("| client | clock | accepted | refused (dropped) | p50 | p99 | p99.9 | p99.99 | max | slowest call # | RSS growth |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (clock, which, l) in &results {
        let p = &l.percentiles;
        println!(
            "| {} | {} | {} | {} | {:?} | {:?} | {:?} | {:?} | {:?} | {} | {} KiB |",
            latency_row_name(*which),
            if *clock == Clock::Wall {
                "wall"
            } else {
                "thread CPU"
            },
            l.ok,
            l.refused,
            p[0],
            p[1],
            p[2],
            p[3],
            l.max,
            l.max_at,
            l.rss_growth_kib
        );
    }
    println!();
    for (clock, which, l) in &results {
        if *clock == Clock::Wall {
            println!("- {}: {}", latency_row_name(*which), l.note);
        }
    }
}

// ------------------------------------------------------------ emit cost

#[derive(Clone, Copy)]
struct Cost {
    wall_ns: f64,
    cpu_ns: f64,
    total_rate: f64,
    /// The whole process's CPU time over the run's wall time: the callers,
    /// the processor and the in-process server together (2.0 is every core
    /// of this machine).
    cores_busy: f64,
}

/// Runs `calls` calls on each of `threads` threads started together.
/// Generic, not `dyn`: each client's call inlines into the timed loop, as it
/// would in an application, and no row pays for an indirect call.
fn emit_threads<F: Fn() -> bool + Sync>(threads: usize, calls: u64, call: &F) -> Cost {
    let barrier = Barrier::new(threads);
    let (started, process_started) = (Instant::now(), process_cpu());
    let results: Vec<(Duration, Duration, u64)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let (wall, cpu) = (Instant::now(), thread_cpu());
                    let mut failed = 0u64;
                    for _ in 0..calls {
                        if !call() {
                            failed += 1;
                        }
                    }
                    (wall.elapsed(), thread_cpu() - cpu, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let cores_busy =
        (process_cpu() - process_started).as_secs_f64() / started.elapsed().as_secs_f64();
    assert!(
        results.iter().all(|r| r.2 == 0),
        "calls failed during an emit-cost run"
    );
    let wall = results.iter().map(|r| r.0).max().unwrap();
    let cpu: f64 = results.iter().map(|r| r.1.as_secs_f64()).sum::<f64>() / threads as f64;
    Cost {
        wall_ns: wall.as_secs_f64() * 1e9 / calls as f64,
        cpu_ns: cpu * 1e9 / calls as f64,
        total_rate: (threads as u64 * calls) as f64 / wall.as_secs_f64(),
        cores_busy,
    }
}

thread_local! {
    /// The floors' buffer: reused (cleared past 1 MiB), so that it stays in
    /// cache and costs no page faults, unlike any real queue.
    static FLOOR: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(1 << 21));
}

/// Bytes a statsd name may not hold (the grammar's separators, space,
/// controls), as the floor's table.
const FLOOR_REFUSED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20
            || b == 0x7f
            || matches!(
                b as u8,
                b':' | b'|' | b'@' | b'#' | b',' | b';' | b'=' | b' '
            );
        b += 1;
    }
    table
};

/// The floor of a metric call that checks and formats: the name checked
/// with a table, `name:value|c\n` written with `itoa` into a thread-local
/// `Vec` (the issue's stand-alone loop).
#[inline]
fn floor_format(name: &str, value: i64) -> bool {
    if name.bytes().any(|b| FLOOR_REFUSED[usize::from(b)]) {
        return false;
    }
    floor_buffer(|buffer| {
        buffer.extend_from_slice(name.as_bytes());
        buffer.push(b':');
        buffer.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        buffer.extend_from_slice(b"|c\n");
    });
    true
}

/// Runs `write` on this thread's floor buffer, emptied past 1 MiB.
#[inline]
fn floor_buffer(write: impl FnOnce(&mut Vec<u8>)) {
    FLOOR.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.len() > 1 << 20 {
            buffer.clear();
        }
        write(&mut buffer);
    });
}

/// The floor of any queue: the finished line appended to a thread-local `Vec`.
#[inline]
fn floor_append(line: &[u8]) -> bool {
    floor_buffer(|buffer| buffer.extend_from_slice(line));
    true
}

fn settle(statsd: &Connector) {
    while statsd.stats().in_queue > 0 {
        thread::sleep(Duration::from_micros(100));
    }
}

/// Each case's median round, by total calls per second.
fn median_costs(measured: Vec<Vec<Cost>>) -> Vec<Cost> {
    measured
        .into_iter()
        .map(|rounds| median(rounds, |c| c.total_rate))
        .collect()
}

fn emit_cost(server: &Server, options: &Options) {
    let calls = options.emit_calls;
    server.reset();
    let runtime = runtime();
    let running = Connector::builder()
        .host("127.0.0.1")
        .port(server.address.port())
        .queue_capacity(1 << 25)
        .build()
        .unwrap();
    runtime.block_on(running.start()).unwrap();
    wait_connected(&running);
    let idle = Connector::builder()
        .host("127.0.0.1")
        .port(9)
        .queue_capacity(1 << 25)
        .build()
        .unwrap();
    let nop = StatsdClient::from_sink("", NopMetricSink);
    let handle = running.counter(NAME).unwrap();

    // Each client at one thread, then two.
    let clients = [
        "statsd-connector incr, processor running (TCP)",
        "statsd-connector Counter handle incr, processor running (TCP)",
        "statsd-connector incr, no processor (queue only)",
        "cadence count, NopMetricSink",
        "floor: table-checked name + itoa into a thread-local Vec (no queue)",
        "floor: the pre-formatted line appended to a thread-local Vec",
    ];
    let cases: Vec<(&str, usize)> = clients
        .iter()
        .flat_map(|&label| [(label, 1), (label, 2)])
        .collect();
    let run = |client: usize, threads: usize| match client {
        0 => emit_threads(threads, calls, &|| running.incr(NAME).is_ok()),
        1 => emit_threads(threads, calls, &|| handle.incr().is_ok()),
        2 => emit_threads(threads, calls, &|| idle.incr(NAME).is_ok()),
        3 => emit_threads(threads, calls, &|| nop.count(NAME, 1).is_ok()),
        4 => emit_threads(threads, calls, &|| floor_format(NAME, 1)),
        _ => emit_threads(threads, calls, &|| floor_append(LINE)),
    };
    // The general path (a float, a duration, per-call tags), one thread,
    // each beside cadence's call for the same line.
    let general = [
        ("gauge 21.53", "gauge 21.53"),
        ("timing 1.53 ms", "time 1.53 ms"),
        ("incr with 2 tags", "count 1 with 2 tags"),
    ];
    let elapsed = Duration::from_micros(1530);
    let run_general = |row: usize| match row {
        0 => emit_threads(1, calls, &|| running.gauge(GAUGE, black_box(21.53)).is_ok()),
        1 => emit_threads(1, calls, &|| nop.gauge(GAUGE, black_box(21.53)).is_ok()),
        2 => emit_threads(1, calls, &|| {
            running.timing(TIMING, black_box(elapsed)).is_ok()
        }),
        3 => emit_threads(1, calls, &|| nop.time(TIMING, black_box(elapsed)).is_ok()),
        4 => emit_threads(1, calls, &|| running.with_tags(&TAGS).incr(NAME).is_ok()),
        _ => emit_threads(1, calls, &|| {
            let [(k1, v1), (k2, v2)] = TAGS;
            nop.count_with_tags(NAME, 1)
                .with_tag(k1, v1)
                .with_tag(k2, v2)
                .try_send()
                .is_ok()
        }),
    };
    let mut measured: Vec<Vec<Cost>> = vec![Vec::new(); cases.len()];
    let mut measured_general: Vec<Vec<Cost>> = vec![Vec::new(); general.len() * 2];
    for _ in 0..options.rounds {
        for (i, (_, threads)) in cases.iter().enumerate() {
            settle(&running);
            runtime.block_on(idle.stop_with_timeout(Duration::ZERO));
            measured[i].push(run(i / 2, *threads));
        }
        for (row, costs) in measured_general.iter_mut().enumerate() {
            settle(&running);
            costs.push(run_general(row));
        }
    }
    settle(&running);
    let stats = running.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    runtime.block_on(running.stop());
    let (counted, _) = server.wait(Some(stats.sent), Duration::ZERO);

    println!(
        "\n## Emit cost: {calls} calls per thread (median of {} rounds)\n",
        options.rounds
    );
    println!("| client | threads | wall ns/call (per thread) | thread-CPU ns/call | total calls/s | total vs 1 thread | cores busy (process CPU / wall) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let chosen = median_costs(measured);
    for (i, ((label, threads), cost)) in cases.iter().zip(&chosen).enumerate() {
        let single = if *threads == 1 { cost } else { &chosen[i - 1] };
        println!(
            "| {label} | {threads} | {:.1} | {:.1} | {} | {:.2}x | {:.2} |",
            cost.wall_ns,
            cost.cpu_ns,
            mega(cost.total_rate),
            cost.total_rate / single.total_rate,
            cost.cores_busy
        );
    }
    println!(
        "\n(cores busy: this machine has {}; a row near that is bound by the machine, not by the call)",
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "\n(no call was refused; the server counted {counted} of the {} lines the running connector sent)",
        stats.sent
    );

    println!("\n## The general path, 1 thread: statsd-connector (processor running, TCP) and cadence (NopMetricSink)\n");
    println!("| call | statsd-connector wall ns/call | thread-CPU | cadence wall ns/call | thread-CPU | cadence / statsd-connector (wall) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let chosen = median_costs(measured_general);
    for ((ours, theirs), pair) in general.iter().zip(chosen.chunks(2)) {
        println!(
            "| {ours} / {theirs} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}x |",
            pair[0].wall_ns,
            pair[0].cpu_ns,
            pair[1].wall_ns,
            pair[1].cpu_ns,
            pair[1].wall_ns / pair[0].wall_ns
        );
    }
}

// ------------------------------------------------------------ aggregation

/// Runs `body` on `threads` threads (each times its own loop after the
/// barrier), then waits until the server's sum for `name` reaches the total.
/// Prints one table row.
fn aggregated_row(
    server: &Server,
    label: &str,
    name: &str,
    threads: usize,
    n: u64,
    body: &(dyn Fn(&Barrier) -> Duration + Sync),
) {
    *server.sum_name.lock().unwrap() = Some(name.as_bytes().to_vec());
    thread::sleep(Duration::from_millis(250));
    server.reset();
    let barrier = Barrier::new(threads);
    let walls: Vec<Duration> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| body(&barrier)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wall = walls.into_iter().max().unwrap();
    let expected = n * threads as u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.counts.sum.load(Relaxed) < expected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let sum = server.counts.sum.load(Relaxed);
    println!(
        "| {label} | {threads} | {} | {} | {sum} | {} |",
        mega(expected as f64 / wall.as_secs_f64()),
        server.counts.sum_lines.load(Relaxed),
        if sum == expected { "yes" } else { "NO" }
    );
}

fn timed_loop(barrier: &Barrier, n: u64, mut call: impl FnMut()) -> Duration {
    barrier.wait();
    let start = Instant::now();
    for _ in 0..n {
        call();
    }
    start.elapsed()
}

fn aggregation(server: &Server, options: &Options) {
    use metrics_exporter_dogstatsd::DogStatsDBuilder;
    let n = options.count;
    let recorder = DogStatsDBuilder::default()
        .with_remote_address(server.address.to_string())
        .unwrap()
        .with_telemetry(false)
        .with_flush_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let recorder = &recorder;
    println!(
        "\n## Aggregating clients: {n} counter increments per thread, flushed every 100 ms over UDP\n"
    );
    println!("| client, call | threads | data points accepted/s | server lines | server sum | sum == emitted |");
    println!("|---|---:|---:|---:|---:|---|");
    for threads in [1, 2] {
        let name = if threads == 1 {
            "dsd.macro.1t"
        } else {
            "dsd.macro.2t"
        };
        aggregated_row(
            server,
            "metrics-exporter-dogstatsd 0.9: `counter!(name).increment(1)`",
            name,
            threads,
            n,
            &|barrier| {
                metrics::with_local_recorder(recorder, || {
                    timed_loop(barrier, n, || metrics::counter!(name).increment(1))
                })
            },
        );
        let name = if threads == 1 {
            "dsd.cached.1t"
        } else {
            "dsd.cached.2t"
        };
        aggregated_row(
            server,
            "metrics-exporter-dogstatsd 0.9: cached `Counter` handle",
            name,
            threads,
            n,
            &|barrier| {
                metrics::with_local_recorder(recorder, || {
                    let counter = metrics::counter!(name);
                    timed_loop(barrier, n, || counter.increment(1))
                })
            },
        );
    }
    // The library's own aggregation mode, where this build has it.
    let runtime = runtime();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.address.port())
        .protocol(Protocol::Udp)
        .aggregate(Duration::from_millis(100))
        .build()
        .unwrap();
    runtime.block_on(statsd.start()).unwrap();
    let statsd = &statsd;
    for threads in [1, 2] {
        let name = if threads == 1 {
            "ours.incr.1t"
        } else {
            "ours.incr.2t"
        };
        aggregated_row(
            server,
            "statsd-connector `.aggregate(100 ms)`: `incr(name)`",
            name,
            threads,
            n,
            &|barrier| {
                timed_loop(barrier, n, || {
                    let _ = statsd.incr(name);
                })
            },
        );
        let name = if threads == 1 {
            "ours.handle.1t"
        } else {
            "ours.handle.2t"
        };
        aggregated_row(
            server,
            "statsd-connector `.aggregate(100 ms)`: `counter(name)` handle",
            name,
            threads,
            n,
            &|barrier| {
                let counter = statsd.counter(name).unwrap();
                timed_loop(barrier, n, || {
                    let _ = counter.incr();
                })
            },
        );
    }
    runtime.block_on(statsd.stop());
    *server.sum_name.lock().unwrap() = None;
    println!(
        "\n(`counter!` with a `&'static str` name looks the key up in the recorder's registry on every \
         call; a cached handle is an atomic add. The server sees about one line per name per flush.)"
    );
}

// ------------------------------------------------------------ python

fn python(server: &Server, options: &Options) {
    let m = options.python_count;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/python_baseline.py");
    server.reset();
    let output = std::process::Command::new("python3")
        .arg(script)
        .args([
            "--port",
            &server.address.port().to_string(),
            "--count",
            &m.to_string(),
        ])
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            println!(
                "\n(python baseline failed: {})",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return;
        }
        Err(error) => {
            println!("\n(python baseline not run: {error})");
            return;
        }
    };
    let (counted, _) = server.wait(Some(m), Duration::ZERO);
    let done = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let report: serde_json::Value = match serde_json::from_slice(&output.stdout) {
        Ok(report) => report,
        Err(error) => {
            println!("\n(python baseline printed no report: {error})");
            return;
        }
    };
    let start = report["start_epoch"].as_f64().unwrap_or(done);
    let emit = report["emit_seconds"].as_f64().unwrap_or(f64::NAN);
    let delivered =
        counted as f64 / (done - start).max(report["total_seconds"].as_f64().unwrap_or(0.0));
    println!(
        "\n## The original: sprockets-statsd {} (Python {}), TCP, {m} counters\n",
        report["version"].as_str().unwrap_or("?"),
        report["python"].as_str().unwrap_or("?")
    );
    println!("| client | emitted | server counted | emit calls/s | delivered metrics/s |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| sprockets-statsd Connector (max_queue_size {m}) | {m} | {counted} | {} | {} |",
        mega(m as f64 / emit),
        mega(delivered)
    );
    println!(
        "\n(compare with the statsd-connector TCP row above for the ratio \"vs the original\")"
    );
}

// ------------------------------------------------------------ instructions

/// The two loop lengths of each callgrind run: their difference, 100 000
/// calls, divides the difference of the two counts, which leaves start-up out.
const SHORT_RUN: u64 = 1_000;
const LONG_RUN: u64 = 101_000;

/// A row of the issue's table: ours, the peer, the peer's shape, the call.
const ISSUE_ROWS: [(&str, &str, &str, &str); 7] = [
    (
        "incr",
        CADENCE,
        "cadence_incr",
        "`incr(\"bench.requests\")`",
    ),
    (
        "tags2",
        CADENCE,
        "cadence_tags2",
        "`with_tags(&[(\"region\",\"eu\"),(\"host\",\"web-01\")]).incr(..)`",
    ),
    (
        "gauge",
        CADENCE,
        "cadence_gauge",
        "`gauge(\"bench.gauge\", 21.53)`",
    ),
    (
        "timing",
        CADENCE,
        "cadence_timing",
        "`timing(\"bench.timing\", 1.53 ms)`",
    ),
    (
        "hist_tags2",
        CADENCE,
        "cadence_hist_tags2",
        "`with_tags(2 tags).histogram(\"bench.hist\", 42.0)`",
    ),
    (
        "agg_incr",
        DOGSTATSD_EXPORTER,
        "dsd_incr",
        "aggregating: `incr(name)` / `counter!(name).increment(1)`",
    ),
    (
        "agg_tags2",
        DOGSTATSD_EXPORTER,
        "dsd_tags2",
        "aggregating: `incr` / `counter!` with the same 2 tags",
    ),
];
const CADENCE: &str = "cadence 1";
const DOGSTATSD_EXPORTER: &str = "metrics-exporter-dogstatsd 0.9";

/// A row of the bench table: the criterion bench ids, the call, ours, and
/// the peer with its shape where it has an equivalent.
struct BenchRow {
    benches: &'static str,
    call: &'static str,
    ours: &'static str,
    peer: Option<(&'static str, &'static str)>,
}

const fn bench_row(
    benches: &'static str,
    call: &'static str,
    ours: &'static str,
    peer: Option<(&'static str, &'static str)>,
) -> BenchRow {
    BenchRow {
        benches,
        call,
        ours,
        peer,
    }
}

/// The criterion benches' call shapes (tools/benches/{format,emit,aggregate}.rs),
/// one row per distinct call: a shape two benches share is one row.
const BENCH_ROWS: [BenchRow; 23] = [
    bench_row(
        "`format_queue/incr`, `emit/ours/incr`",
        "`incr(\"bench.requests\")`",
        "format_queue/incr",
        Some((CADENCE, "cadence_nop/count")),
    ),
    bench_row(
        "`format_queue/count_varying`",
        "`count(name, n & 0xffff)`, n += 7919 a call",
        "format_queue/count_varying",
        Some((CADENCE, "cadence_nop/count_varying")),
    ),
    bench_row(
        "`format_queue/gauge_float`",
        "`gauge(\"bench.gauge\", 21.53)`",
        "format_queue/gauge_float",
        Some((CADENCE, "cadence_nop/gauge_float")),
    ),
    bench_row(
        "`emit/ours/gauge`",
        "`gauge(\"bench.gauge\", 21.5)`",
        "emit/ours/gauge",
        Some((CADENCE, "cadence_nop/gauge")),
    ),
    bench_row(
        "`format_queue/gauge_integral`",
        "`gauge(\"bench.gauge\", 21.0)`",
        "format_queue/gauge_integral",
        Some((CADENCE, "cadence_nop/gauge_integral")),
    ),
    bench_row(
        "`format_queue/gauge_negative_two_lines`",
        "`gauge(\"bench.gauge\", -3.5)` (ours: `0\\|g` then `-3.5\\|g`)¹",
        "format_queue/gauge_negative_two_lines",
        Some((CADENCE, "cadence_nop/gauge_negative")),
    ),
    bench_row(
        "`format_queue/timing`, `emit/ours/timing`",
        "`timing(\"bench.timing\", 1.5 ms)`²",
        "format_queue/timing",
        Some((CADENCE, "cadence_nop/timing")),
    ),
    bench_row(
        "`format_queue/incr_2_tags`, `emit/ours/incr_2_tags`",
        "`with_tags(&[(\"region\",\"eu-west-1\"),(\"host\",\"web-1\")]).incr(..)`",
        "format_queue/incr_2_tags",
        Some((CADENCE, "cadence_nop/count_2_tags")),
    ),
    bench_row(
        "`emit/ours/gauge_2_tags`",
        "`with_tags(2 tags).gauge(\"bench.gauge\", 21.5)`",
        "emit/ours/gauge_2_tags",
        Some((CADENCE, "cadence_nop/gauge_2_tags")),
    ),
    bench_row(
        "`emit/ours/timing_2_tags`",
        "`with_tags(2 tags).timing(\"bench.timing\", 1.5 ms)`²",
        "emit/ours/timing_2_tags",
        Some((CADENCE, "cadence_nop/timing_2_tags")),
    ),
    bench_row(
        "`format_queue/incr_sampled_0.5`",
        "`sampled(0.5).incr(..)` (kept or not)³",
        "format_queue/incr_sampled_0.5",
        Some((CADENCE, "cadence_nop/count_sampled_0.5")),
    ),
    bench_row(
        "`format_queue/counter_handle_incr`, `emit/ours/counter_handle_incr`",
        "`Counter::incr` (a handle)",
        "format_queue/counter_handle_incr",
        None,
    ),
    bench_row(
        "`format_queue/incr_38_byte_name`",
        "`incr(\"service.frontend.requests.completed.ok\")`",
        "format_queue/incr_38_byte_name",
        Some((CADENCE, "cadence_nop/count_38_byte_name")),
    ),
    bench_row(
        "`format_queue/incr_name_outside_the_fast_check`",
        "`incr(\"bench.requests!\")`",
        "format_queue/incr_name_outside_the_fast_check",
        Some((CADENCE, "cadence_nop/count_name_outside_the_fast_check")),
    ),
    bench_row(
        "(none: a non-ASCII name)",
        "`incr(\"bench.requêtes\")`",
        "extra/incr_non_ascii_name",
        Some((CADENCE, "cadence_nop/count_non_ascii_name")),
    ),
    bench_row(
        "`format_queue/incr_prefix_global_tag`",
        "prefix `app.web` + global tag `env:prod`: `incr(..)`",
        "format_queue/incr_prefix_global_tag",
        Some((CADENCE, "cadence_nop/count_prefix_global_tag")),
    ),
    bench_row(
        "`format_queue/incr_prefix_global_tag_2_tags`",
        "prefix + global tag: `with_tags(2 tags).incr(..)`",
        "format_queue/incr_prefix_global_tag_2_tags",
        Some((CADENCE, "cadence_nop/count_prefix_global_tag_2_tags")),
    ),
    bench_row(
        "`format_queue/send_line`",
        "`send_line(\"bench.requests:1\\|c\\|#region:eu\")` (a relayed line)",
        "format_queue/send_line",
        None,
    ),
    bench_row(
        "`aggregate/counter_handle_incr/1_threads`",
        "aggregating: `Counter::incr` / a `metrics::Counter` handle's `increment(1)`",
        "aggregate/counter_handle_incr",
        Some((DOGSTATSD_EXPORTER, "dsd/counter_handle_incr")),
    ),
    bench_row(
        "`aggregate/incr_by_name/1_threads`",
        "aggregating: `incr(name)` / `counter!(name).increment(1)`",
        "aggregate/incr_by_name",
        Some((DOGSTATSD_EXPORTER, "dsd/incr_by_name")),
    ),
    bench_row(
        "`aggregate/incr_2_tags`",
        "aggregating: `incr` / `counter!` with 2 tags",
        "aggregate/incr_2_tags",
        Some((DOGSTATSD_EXPORTER, "dsd/incr_2_tags")),
    ),
    bench_row(
        "`aggregate/gauge`",
        "aggregating: `gauge(\"bench.gauge\", 21.5)` / `gauge!(..).set(21.5)`",
        "aggregate/gauge",
        Some((DOGSTATSD_EXPORTER, "dsd/gauge")),
    ),
    bench_row(
        "`aggregate/set_member`",
        "aggregating: `set(\"bench.users\", \"alice\")`",
        "aggregate/set_member",
        None,
    ),
];

/// Counts instructions with callgrind: the `instructions` binary run twice
/// per shape, as `valgrind --tool=callgrind`.
struct Callgrind {
    binary: PathBuf,
    /// What failed, printed after the tables.
    failures: Vec<String>,
    /// Numbers the callgrind output files of this process.
    runs: u64,
}

impl Callgrind {
    /// Instructions per call of `shape`, or `None` (noted in `failures`).
    fn per_call(&mut self, shape: &str) -> Option<u64> {
        eprintln!("callgrind: {shape}");
        let short = self.count(shape, SHORT_RUN)?;
        let long = self.count(shape, LONG_RUN)?;
        Some(long.saturating_sub(short) / (LONG_RUN - SHORT_RUN))
    }

    /// The instructions of one whole run (callgrind's `summary:` line).
    fn count(&mut self, shape: &str, calls: u64) -> Option<u64> {
        self.runs += 1;
        let out = std::env::temp_dir().join(format!(
            "compare-callgrind-{}-{}.out",
            std::process::id(),
            self.runs
        ));
        let run = std::process::Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&self.binary)
            .arg(shape)
            .arg(calls.to_string())
            .output();
        let summary = std::fs::read_to_string(&out).ok();
        let _ = std::fs::remove_file(&out);
        let failure = match run {
            Ok(run) if run.status.success() => {
                let total = summary.as_deref().and_then(|text| {
                    text.lines()
                        .find_map(|line| line.strip_prefix("summary:"))
                        .and_then(|n| n.trim().parse().ok())
                });
                match total {
                    Some(total) => return Some(total),
                    None => "no `summary:` line in callgrind's output".to_owned(),
                }
            }
            Ok(run) => {
                let stderr = String::from_utf8_lossy(&run.stderr);
                // The program's own complaint (its first lines: a panic's
                // message, or the usage), without valgrind's banner.
                let said: Vec<&str> = stderr
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("=="))
                    .collect();
                let more = if said.len() > 3 { " / …" } else { "" };
                format!(
                    "{}: {}{more}",
                    run.status,
                    said[..said.len().min(3)].join(" / ")
                )
            }
            Err(error) => format!("valgrind did not run: {error}"),
        };
        self.failures
            .push(format!("{shape} ({calls} calls): {failure}"));
        None
    }
}

fn valgrind_on_path() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The `instructions` binary: next to this one (same target directory and
/// profile), so `cargo build --release -p statsd-connector-tools` builds both.
fn instructions_binary() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("no path to this program: {e}"))?;
    let binary = me.with_file_name(format!("instructions{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "{} not found: build it beside compare with \
             `cargo build --release -p statsd-connector-tools --bin instructions --bin compare`",
            binary.display()
        ))
    }
}

/// `b / a` as "1.23×", or nothing without both.
fn ratio(ours: Option<u64>, peer: Option<u64>) -> String {
    match (ours, peer) {
        (Some(a), Some(b)) if a > 0 => format!("{:.2}×", b as f64 / a as f64),
        _ => String::new(),
    }
}

fn cell(count: Option<u64>) -> String {
    count.map_or_else(|| "failed".to_owned(), |n| n.to_string())
}

fn instructions(options: &Options) {
    if !valgrind_on_path() {
        println!(
            "\n(instructions section skipped: valgrind is not on PATH; it counts instructions with callgrind)"
        );
        return;
    }
    let binary = match instructions_binary() {
        Ok(binary) => binary,
        Err(message) => {
            println!("\n(instructions section skipped: {message})");
            return;
        }
    };
    let mut callgrind = Callgrind {
        binary,
        failures: Vec::new(),
        runs: 0,
    };
    println!(
        "\n## Instructions per call (callgrind: each shape run with {SHORT_RUN} and {LONG_RUN} calls, \
         the difference divided by {})\n",
        LONG_RUN - SHORT_RUN
    );
    if cfg!(debug_assertions) {
        println!("(this compare is a debug build, and so, likely, is the instructions binary beside it: build both with --release)\n");
    }
    if !options.shapes.is_empty() {
        println!("| shape | instructions per call |");
        println!("|---|---:|");
        for shape in &options.shapes {
            println!("| {shape} | {} |", cell(callgrind.per_call(shape)));
        }
        failures(&callgrind);
        return;
    }
    println!(
        "Ours on a connector that is never started (validation, formatting, the publish into the queue), \
         cadence on a `NopMetricSink` (it formats, then drops), metrics-exporter-dogstatsd aggregating \
         (its flush thread sleeps through the run).\n"
    );
    println!("| call | ours | peer | peer's | peer ÷ ours |");
    println!("|---|---:|---|---:|---:|");
    for (ours, peer, peer_shape, call) in ISSUE_ROWS {
        let a = callgrind.per_call(ours);
        let b = callgrind.per_call(peer_shape);
        println!(
            "| {call} | {} | {peer} | {} | {} |",
            cell(a),
            cell(b),
            ratio(a, b)
        );
    }
    println!(
        "| `Counter::incr` (a handle) | {} | | | |",
        cell(callgrind.per_call("counter"))
    );

    println!(
        "\n### criterion bench shapes\n\n\
         Each call as the benches make it (their names, values, tags and connector setup; \
         `emit/*` without its running processor, which callgrind would count on another thread).\n"
    );
    println!("| criterion bench | call | ours | peer | peer's | peer ÷ ours |");
    println!("|---|---|---:|---|---:|---:|");
    for row in &BENCH_ROWS {
        let a = callgrind.per_call(row.ours);
        let (peer, b) = match row.peer {
            Some((peer, shape)) => (peer, Some(callgrind.per_call(shape))),
            None => ("", None),
        };
        println!(
            "| {} | {} | {} | {peer} | {} | {} |",
            row.benches,
            row.call,
            cell(a),
            b.map_or_else(String::new, cell),
            ratio(a, b.flatten())
        );
    }
    println!(
        "\n¹ cadence writes one line, `bench.gauge:-3.5|g`, which a statsd server reads as a decrement; \
         ours sets the gauge to 0 first.\n\n\
         ² cadence writes whole milliseconds (`1|ms`), ours `1.5|ms`.\n\n\
         ³ cadence leaves sampling to its caller: its row flips a coin (xorshift64) and sends the kept \
         half `with_sampling_rate(0.5)`.\n\n\
         No peer: cadence has no handles, no relay of a text line and no aggregation; \
         metrics-exporter-dogstatsd has no sets."
    );
    failures(&callgrind);
}

fn failures(callgrind: &Callgrind) {
    if !callgrind.failures.is_empty() {
        println!("\nfailed runs:");
        for failure in &callgrind.failures {
            println!("- {failure}");
        }
    }
}

// ------------------------------------------------------------------- main

fn main() {
    let options = options();
    let server = Server::start();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!("# statsd client comparison\n");
    println!(
        "cores: {cores}; load average at start: {}; counting server on {} (UDP receive buffer {} KiB)",
        load_average(),
        server.address,
        server.receive_buffer / 1024
    );
    // The latency section first, so that its memory figures are not hidden by
    // what the throughput runs left in the allocator.
    if options.wants("latency") {
        latency(&options);
    }
    if options.wants("throughput") {
        throughput(&server, &options);
    }
    if options.wants("emit") {
        emit_cost(&server, &options);
    }
    if options.wants("aggregation") {
        aggregation(&server, &options);
    }
    if options.wants("python") {
        python(&server, &options);
    }
    if options.wants("instructions") {
        instructions(&options);
    }
    println!("\nload average at the end: {}", load_average());
    // Threads blocked on black-hole servers never end: exit without joining.
    std::process::exit(0);
}
