//! The CLI as a DogStatsD debugging tool (issue 21): `send` relays DogStatsD
//! lines unchanged, `listen` takes the address URLs of `--host` (the Agent's
//! stream framing on `unixstream://` among them), and `send` follows a Unix
//! socket file replaced under it.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_statsd-connector");
const WAIT: Duration = Duration::from_secs(10);

/// The tool with `args`, without the environment that would choose another
/// server or add fields.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("STATSD_") || name.starts_with("DD_") || name.starts_with("DATADOG_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env("DD_ORIGIN_DETECTION_ENABLED", "false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(args: &[&str]) -> Output {
    let mut child = command(args).spawn().unwrap();
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn summary(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    stderr.lines().last().unwrap_or_default().to_owned()
}

/// A fresh directory of this test's own for socket files.
fn socket_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statsd-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `condition` until it holds, failing after [`WAIT`].
fn poll_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads connections of `listener` in the Agent's stream framing until
/// `lines` lines have arrived: the frames' payloads, each checked to hold
/// whole lines. (A stop that races the first connection attempt may leave
/// the server an empty connection: the sender connects again.)
fn read_frames(listener: &UnixListener, lines: usize) -> Vec<String> {
    let mut frames: Vec<String> = Vec::new();
    while frames.iter().map(|f| f.lines().count()).sum::<usize>() < lines {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        loop {
            let mut header = [0u8; 4];
            match stream.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("reading a frame header: {e}"),
            }
            let length = u32::from_le_bytes(header) as usize;
            assert!((1..=8192).contains(&length), "frame of {length} bytes");
            let mut payload = vec![0u8; length];
            stream.read_exact(&mut payload).unwrap();
            let payload = String::from_utf8(payload).unwrap();
            assert!(
                payload.ends_with('\n'),
                "a frame of whole lines: {payload:?}"
            );
            frames.push(payload);
        }
    }
    frames
}

#[test]
fn send_relays_dogstatsd_lines_unchanged_through_the_agents_stream_framing() {
    let dir = socket_dir("relay");
    let path = dir.join("dsd.socket");
    let listener = UnixListener::bind(&path).unwrap();
    let url = format!("unixstream://{}", path.display());
    let lines = [
        "page.views:1|c|#env:prod|T1700000000|c:abc123|card:low",
        "db.query:1:2.5:3|ms|@0.5|#db:users|e:it-false,cn-app,pu-4b3f",
        "queue.depth:-5|g|T1700000001|c:in-4242",
        "upload.size:7|d|card:orchestrator|#url:http://x:80",
        "_sc|db.up|0|#env:prod",
    ];
    let reader = std::thread::spawn(move || read_frames(&listener, 5));
    let mut args = vec!["send", "--host", url.as_str()];
    args.extend(lines);
    let output = run(&args);
    assert_eq!(
        summary(&output),
        "5 sent, 0 invalid, 0 dropped, 0 undelivered, 0 possibly lost",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success());
    let frames = reader.join().unwrap();
    let received: Vec<&str> = frames.iter().flat_map(|f| f.lines()).collect();
    assert_eq!(received, lines);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn send_refuses_a_malformed_dogstatsd_field_with_its_line_number() {
    let dir = socket_dir("relay-bad");
    let path = dir.join("dsd.socket");
    let _socket = UnixDatagram::bind(&path).unwrap();
    let url = format!("unixgram://{}", path.display());
    let output = run(&[
        "send",
        "--host",
        &url,
        "a:1|c|T1",
        "t:1|ms|T1",
        "a:1|c|card:huge",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2: invalid timestamp"), "{stderr}");
    assert!(stderr.contains("line 3: "), "{stderr}");
    assert_eq!(output.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A running `listen`, killed when dropped.
struct Listening(Child, BufReader<std::process::ChildStdout>);

impl Listening {
    fn start(args: &[&str], ready: impl FnMut() -> bool) -> Listening {
        let mut child = command(args).spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        poll_until("listen to come up", ready);
        Listening(child, stdout)
    }

    fn lines(&mut self, n: usize) -> Vec<String> {
        let mut printed = Vec::new();
        while printed.len() < n {
            let mut line = String::new();
            assert!(
                self.1.read_line(&mut line).unwrap() > 0,
                "listen exited early"
            );
            printed.push(line.trim_end().to_owned());
        }
        printed
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exists(path: &Path) -> impl FnMut() -> bool + '_ {
    move || path.exists()
}

#[test]
fn listen_on_unixstream_reads_the_agents_length_prefixed_frames() {
    let dir = socket_dir("listen-stream");
    let path = dir.join("dsd.socket");
    let url = format!("unixstream://{}", path.display());
    let mut listen = Listening::start(&["listen", "--host", &url], exists(&path));
    let mut client = UnixStream::connect(&path).unwrap();
    for payload in ["a:1|c\nb:2|g|#k:v\n", "t:1:2|ms|T5|c:abc\n", "oops\n"] {
        client
            .write_all(&(payload.len() as u32).to_le_bytes())
            .unwrap();
        client.write_all(payload.as_bytes()).unwrap();
    }
    drop(client);
    assert_eq!(
        listen.lines(3),
        ["a:1|c", "b:2|g|#k:v", "t:1:2|ms|T5|c:abc"]
    );
    drop(listen);
}

#[test]
fn listen_stands_in_for_the_agent_on_a_unix_datagram_socket() {
    let dir = socket_dir("listen-dgram");
    let path = dir.join("dsd.socket");
    // A socket file nobody holds (an Agent that died) is replaced.
    drop(UnixDatagram::bind(&path).unwrap());
    for scheme in ["unixgram", "unix"] {
        let url = format!("{scheme}://{}", path.display());
        let live = || UnixDatagram::unbound().unwrap().connect(&path).is_ok();
        let mut listen = Listening::start(&["listen", "--host", &url, "--parsed"], live);
        let output = run(&["send", "--host", &url, "hits:1|c|#k:v|card:high"]);
        assert!(output.status.success(), "{}", summary(&output));
        assert_eq!(
            listen.lines(1),
            ["name=hits value=1 type=c tags=dogstatsd{k=v}"]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listen_takes_udp_and_tcp_urls() {
    let port = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let url = format!("udp://127.0.0.1:{port}");
    let mut listen = Listening::start(&["listen", "--host", &url], || true);
    // Until it is bound, a datagram goes nowhere: send one every few
    // milliseconds until one is printed.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sending = {
        let done = done.clone();
        std::thread::spawn(move || {
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let deadline = Instant::now() + WAIT;
            while !done.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let _ = sender.send_to(b"u:3|ms\n", ("127.0.0.1", port));
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    assert_eq!(listen.lines(1), ["u:3|ms"]);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sending.join().unwrap();
    drop(listen);

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("tcp://127.0.0.1:{port}");
    let mut connected = None;
    let mut listen = Listening::start(&["listen", "--host", &url], || {
        connected = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
        connected.is_some()
    });
    let mut stream = connected.unwrap();
    stream.write_all(b"c:1|c\n").unwrap();
    drop(stream);
    assert_eq!(listen.lines(1), ["c:1|c"]);
    drop(listen);

    let output = run(&["listen", "--host", "http://127.0.0.1:1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown scheme \"http\""));

    let output = run(&["send", "--dns-refresh=-1", "a:1|c"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("dns_refresh = \"-1\""),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn send_follows_a_replaced_socket_file_and_loses_nothing() {
    let dir = socket_dir("send-moves");
    let path = dir.join("dsd.socket");
    let old = UnixDatagram::bind(&path).unwrap();
    old.set_read_timeout(Some(WAIT)).unwrap();
    let url = format!("unixgram://{}", path.display());
    let mut child = command(&["send", "--host", &url, "--dns-refresh", "0.01"])
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut buf = [0u8; 8192];
    let mut received = Vec::new();
    let mut read = |socket: &UnixDatagram, into: &mut Vec<String>| {
        let n = socket.recv(&mut buf).unwrap();
        into.extend(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_owned),
        );
    };
    writeln!(stdin, "moving:0|c").unwrap();
    read(&old, &mut received);
    assert_eq!(received, ["moving:0|c"]);

    // The Agent restarts: a new socket renamed over the path.
    let beside = dir.join("dsd.socket.new");
    let new = UnixDatagram::bind(&beside).unwrap();
    new.set_nonblocking(true).unwrap();
    old.set_nonblocking(true).unwrap();
    std::fs::rename(&beside, &path).unwrap();
    // Lines keep coming, one every few milliseconds, until they arrive at the
    // new socket; the old one still reads what was sent before the move.
    let mut at_new = Vec::new();
    let mut written = 1;
    let deadline = Instant::now() + WAIT;
    while at_new.is_empty() {
        assert!(
            Instant::now() < deadline,
            "send never moved to the new socket"
        );
        writeln!(stdin, "moving:{written}|c").unwrap();
        written += 1;
        std::thread::sleep(Duration::from_millis(5));
        while let Ok(n) = old.recv(&mut buf) {
            received.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            );
        }
        while let Ok(n) = new.recv(&mut buf) {
            at_new.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", summary(&output));
    assert_eq!(
        summary(&output),
        format!("{written} sent, 0 invalid, 0 dropped, 0 undelivered, 0 possibly lost")
    );
    new.set_nonblocking(false).unwrap();
    new.set_read_timeout(Some(WAIT)).unwrap();
    old.set_read_timeout(Some(Duration::from_millis(1))).ok();
    while let Ok(n) = old.recv(&mut buf) {
        received.extend(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_owned),
        );
    }
    received.extend(at_new);
    while received.len() < written {
        let n = new.recv(&mut buf).unwrap();
        received.extend(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_owned),
        );
    }
    // Every line exactly once, in order: the old socket's, then the new one's.
    let expected: Vec<String> = (0..written).map(|i| format!("moving:{i}|c")).collect();
    assert_eq!(received, expected);
    let _ = std::fs::remove_dir_all(&dir);
}
