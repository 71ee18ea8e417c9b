//! DogStatsD transports end to end: the Datadog Agent's length-prefixed
//! stream framing (`unixstream://`, `Framing::LengthPrefixed`), `unix://`
//! probing the socket's kind, and `DD_DOGSTATSD_URL`.
//!
//! The `agent` module is a server that reads the Agent's framing exactly (as
//! `dogstatsd_stream_socket` does): a 4-byte little-endian length, then the
//! payload; a length above its buffer size (8192 by default) makes it drop
//! the connection; a frame that is not whole newline-terminated lines counts
//! as an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use statsd_connector::{Builder, Connector, Framing, Metrics, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixDatagram, UnixListener, UnixStream};
use tokio::time::{timeout, Instant};

/// How long any wait in these tests may take before it fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// A temporary directory for socket paths, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sc-dd-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `condition` until it holds or [`DEADLINE`] passes (then panics with
/// `what`).
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

mod agent {
    //! A DogStatsD stream-socket server with the Agent's framing.

    use super::*;

    /// What the server saw, across connections.
    #[derive(Debug, Default)]
    pub struct Seen {
        /// Every line of every whole frame, in order of arrival.
        pub lines: Vec<String>,
        /// Whole frames read.
        pub frames: u64,
        /// Frames that were not whole lines (empty, or not ending in `\n`).
        pub bad_frames: u64,
        /// Frame lengths above the buffer size (the connection was dropped).
        pub oversized: u64,
        /// Connections that ended inside a frame the server did not cut itself.
        pub torn: u64,
        /// Connections accepted.
        pub connections: u64,
    }

    /// When to kill the connection: after reading this many whole frames on
    /// it, read the next frame's header and half of its payload, then drop
    /// the connection and the listener (the caller restarts it).
    #[derive(Clone, Copy)]
    pub struct Kill {
        pub after_frames: u64,
    }

    pub struct Agent {
        pub seen: Arc<Mutex<Seen>>,
        pub path: PathBuf,
        pub buffer_size: usize,
    }

    impl Agent {
        pub fn new(path: &Path) -> Agent {
            Agent {
                seen: Arc::default(),
                path: path.to_owned(),
                buffer_size: 8192,
            }
        }

        /// Binds the socket (removing a stale one) and serves connections one
        /// at a time until a kill, which returns (dropping the listener).
        /// Without a kill, serves until the task is aborted.
        pub async fn serve(&self, kill: Option<Kill>) {
            let _ = std::fs::remove_file(&self.path);
            let listener = UnixListener::bind(&self.path).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                self.seen.lock().unwrap().connections += 1;
                if self.connection(stream, kill).await {
                    return;
                }
            }
        }

        /// Reads frames until EOF (returns false) or the kill (returns true).
        async fn connection(&self, mut stream: UnixStream, kill: Option<Kill>) -> bool {
            let mut frames_here = 0u64;
            let mut payload = vec![0u8; self.buffer_size];
            loop {
                let mut header = [0u8; 4];
                match read_full(&mut stream, &mut header).await {
                    Ok(Full::Done) => {}
                    Ok(Full::Eof(0)) | Err(_) => return false,
                    Ok(Full::Eof(_)) => {
                        self.seen.lock().unwrap().torn += 1;
                        return false;
                    }
                }
                let len = u32::from_le_bytes(header) as usize;
                if len > self.buffer_size {
                    self.seen.lock().unwrap().oversized += 1;
                    return false; // dropped, as the Agent does
                }
                if kill.is_some_and(|k| frames_here == k.after_frames) {
                    let half = len / 2;
                    let _ = read_full(&mut stream, &mut payload[..half]).await;
                    return true; // the stream and then the listener drop
                }
                match read_full(&mut stream, &mut payload[..len]).await {
                    Ok(Full::Done) => {}
                    Ok(Full::Eof(_)) | Err(_) => {
                        self.seen.lock().unwrap().torn += 1;
                        return false;
                    }
                }
                frames_here += 1;
                let frame = &payload[..len];
                let mut seen = self.seen.lock().unwrap();
                seen.frames += 1;
                if frame.is_empty() || frame.last() != Some(&b'\n') {
                    seen.bad_frames += 1;
                    continue;
                }
                let text = String::from_utf8_lossy(&frame[..len - 1]).into_owned();
                seen.lines.extend(text.split('\n').map(str::to_owned));
            }
        }
    }

    pub enum Full {
        Done,
        /// EOF after this many bytes.
        Eof(usize),
    }

    /// Reads exactly `buf.len()` bytes, or reports EOF and how many came.
    pub async fn read_full(stream: &mut UnixStream, buf: &mut [u8]) -> std::io::Result<Full> {
        let mut at = 0;
        while at < buf.len() {
            match stream.read(&mut buf[at..]).await? {
                0 => return Ok(Full::Eof(at)),
                n => at += n,
            }
        }
        Ok(Full::Done)
    }
}

use agent::{Agent, Kill};

#[tokio::test]
async fn the_test_agent_drops_a_connection_with_an_oversized_frame() {
    let dir = TempDir::new("oversized");
    let path = dir.path("dsd.sock");
    let agent = Arc::new(Agent::new(&path));
    let server = tokio::spawn({
        let agent = agent.clone();
        async move { agent.serve(None).await }
    });
    wait_until("the socket", || path.exists()).await;
    let mut client = UnixStream::connect(&path).await.unwrap();
    client.write_all(&6u32.to_le_bytes()).await.unwrap();
    client.write_all(b"a:1|c\n").await.unwrap();
    client.write_all(&3u32.to_le_bytes()).await.unwrap();
    client.write_all(b"a:1").await.unwrap(); // not whole lines
    client.write_all(&9000u32.to_le_bytes()).await.unwrap();
    let mut rest = [0u8; 1];
    let read = timeout(DEADLINE, client.read(&mut rest)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "dropped: {read:?}");
    let seen = agent.seen.lock().unwrap();
    assert_eq!(seen.lines, ["a:1|c"]);
    assert_eq!((seen.frames, seen.bad_frames, seen.oversized), (2, 1, 1));
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_stream_never_tears_or_repeats_a_frame_and_loses_only_what_it_counts(
) {
    const LINES: usize = 30_000;
    const KILLS: usize = 4;
    let dir = TempDir::new("kill");
    let path = dir.path("dsd.sock");
    let agent = Arc::new(Agent::new(&path));
    let server = tokio::spawn({
        let agent = agent.clone();
        async move {
            for _ in 0..KILLS {
                agent.serve(Some(Kill { after_frames: 20 })).await;
                // Down for a moment: the client's connects fail meanwhile.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            agent.serve(None).await;
        }
    });
    wait_until("the socket", || path.exists()).await;

    let statsd = Connector::builder()
        .host(format!("unixstream://{}", path.display()))
        .reconnect_sleep(Duration::from_millis(5))
        .emitting_threads(1)
        .build()
        .unwrap();
    assert_eq!(statsd.config().framing(), Framing::LengthPrefixed);
    statsd.start().await.unwrap();
    // Under load: emit in small bursts while the server is killed and restarted.
    for burst in 0..LINES / 100 {
        for i in 0..100 {
            statsd.incr(&format!("load.{}", burst * 100 + i)).unwrap();
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    wait_until("every kill", || {
        agent.seen.lock().unwrap().connections > KILLS as u64
    })
    .await;
    let report = statsd.stop_with_timeout(DEADLINE).await;
    let stats = statsd.stats();
    assert_eq!(report.undelivered, 0, "{stats:?}");
    // The accounting identity, after stop.
    assert_eq!(stats.accepted, LINES as u64);
    assert_eq!(
        stats.accepted,
        stats.sent + stats.undelivered + stats.in_queue,
        "{stats:?}"
    );
    assert!(stats.reconnects >= KILLS as u64, "{stats:?}");
    eprintln!("after the kills: {stats:?}");
    let floor = stats.sent - stats.possibly_lost;
    wait_until("what was sent and not possibly lost", || {
        agent.seen.lock().unwrap().lines.len() as u64 >= floor
    })
    .await;
    server.abort();

    let seen = agent.seen.lock().unwrap();
    assert_eq!(seen.bad_frames, 0, "frames of partial lines");
    assert_eq!(seen.oversized, 0, "a frame began mid-frame or was too long");
    assert_eq!(seen.torn, 0, "a frame the client left half-written");
    assert!(seen.connections > KILLS as u64);
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for line in &seen.lines {
        *counts.entry(line.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated lines: {duplicated:?}");
    for line in &seen.lines {
        assert!(
            line.starts_with("load.") && line.ends_with(":1|c"),
            "{line}"
        );
    }
    assert!(
        seen.lines.len() as u64 >= floor,
        "{} < {floor}",
        seen.lines.len()
    );
    // Only what the kills cut can be missing, and each kill cuts at most what
    // the socket held: every other line arrived.
    let missing = LINES - seen.lines.len();
    assert!(
        missing as u64 <= stats.possibly_lost,
        "{missing} missing, {stats:?}"
    );
}

#[tokio::test]
async fn frames_hold_whole_lines_up_to_max_payload() {
    let dir = TempDir::new("payload");
    let path = dir.path("dsd.sock");
    let mut agent = Agent::new(&path);
    agent.buffer_size = 256;
    let agent = Arc::new(agent);
    let server = tokio::spawn({
        let agent = agent.clone();
        async move { agent.serve(None).await }
    });
    wait_until("the socket", || path.exists()).await;
    let statsd = Connector::builder()
        .host(format!("unix://{}", path.display()))
        .framing(Framing::LengthPrefixed)
        .max_payload(256)
        .emitting_threads(1)
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    for i in 0..1000 {
        statsd.gauge(&format!("g.{i}"), -5.0).unwrap(); // a reset pair each
    }
    statsd.stop_with_timeout(DEADLINE).await;
    wait_until("2000 lines", || {
        agent.seen.lock().unwrap().lines.len() >= 2000
    })
    .await;
    server.abort();
    let seen = agent.seen.lock().unwrap();
    assert_eq!((seen.bad_frames, seen.oversized, seen.torn), (0, 0, 0));
    assert!(seen.frames > 1);
    assert_eq!(seen.lines[..2], ["g.0:0|g", "g.0:-5|g"]);
}

#[tokio::test]
async fn unix_url_follows_the_socket_kind() {
    let dir = TempDir::new("probe");
    // A datagram socket gets datagrams.
    let dgram_path = dir.path("dgram.sock");
    let dgram = UnixDatagram::bind(&dgram_path).unwrap();
    let statsd = Connector::builder()
        .host(format!("unix://{}", dgram_path.display()))
        .build()
        .unwrap();
    assert_eq!(statsd.config().protocol(), Protocol::Unix);
    statsd.start().await.unwrap();
    statsd.incr("over.datagram").unwrap();
    let mut buf = [0u8; 8192];
    let n = timeout(DEADLINE, dgram.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"over.datagram:1|c\n");
    statsd.stop().await;

    // A stream socket gets newline framing (no Datadog semantics declared).
    let stream_path = dir.path("stream.sock");
    let listener = UnixListener::bind(&stream_path).unwrap();
    let statsd = Connector::builder()
        .host(format!("unix://{}", stream_path.display()))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    statsd.incr("over.stream").unwrap();
    let (mut stream, _) = timeout(DEADLINE, listener.accept()).await.unwrap().unwrap();
    let mut line = [0u8; 16];
    let read = timeout(DEADLINE, agent::read_full(&mut stream, &mut line)).await;
    assert!(
        matches!(read, Ok(Ok(agent::Full::Done))),
        "{:?}",
        statsd.stats()
    );
    assert_eq!(&line, b"over.stream:1|c\n");
    statsd.stop().await;
}

#[tokio::test]
async fn dd_dogstatsd_url_unix_stream_gets_the_agent_framing() {
    let dir = TempDir::new("ddurl");
    let path = dir.path("dsd.sock");
    let agent = Arc::new(Agent::new(&path));
    let server = tokio::spawn({
        let agent = agent.clone();
        async move { agent.serve(None).await }
    });
    wait_until("the socket", || path.exists()).await;
    let url = format!("unix://{}", path.display());
    let env = |name: &str| match name {
        "DD_DOGSTATSD_URL" => Some(url.clone()),
        "DD_ENV" => Some("test".to_owned()),
        "DD_ORIGIN_DETECTION_ENABLED" => Some("false".to_owned()),
        _ => None,
    };
    let config = Builder::from_env_with(env).unwrap().build_config().unwrap();
    assert!(config.is_dogstatsd());
    assert_eq!(config.framing(), Framing::LengthPrefixed);
    let statsd = Connector::new(config);
    statsd.start().await.unwrap();
    statsd.incr("from.env").unwrap();
    statsd.stop_with_timeout(DEADLINE).await;
    wait_until("the line", || !agent.seen.lock().unwrap().lines.is_empty()).await;
    server.abort();
    assert_eq!(agent.seen.lock().unwrap().lines, ["from.env:1|c|#env:test"]);
}
