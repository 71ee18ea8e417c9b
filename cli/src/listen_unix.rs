//! `listen` on a Unix socket: standing in for the Datadog Agent's
//! `dogstatsd_socket` (datagrams) or `dogstatsd_stream_socket` (a stream of
//! frames, each a 4-byte little-endian length and that many bytes of lines).
//!
//! A socket file left at the path by a listener that is gone (nobody holds
//! it) is replaced, as the Agent does; a file that is not a socket is not
//! touched. The socket file is removed when `listen` stops.

use std::fmt;
use std::io;
use std::path::PathBuf;

use statsd_connector::testing::Received;
use statsd_connector::Datagram;
use tokio::sync::mpsc;

/// The largest frame accepted on a stream: far above the Agent's 8 KiB
/// default buffer, small enough that a garbled length cannot exhaust memory.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// A Unix socket `listen` binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixListen {
    /// `unixgram://` and `unix://`: datagrams of newline-separated lines.
    Datagram(PathBuf),
    /// `unixstream://`: length-prefixed frames of newline-separated lines.
    LengthPrefixed(PathBuf),
}

impl fmt::Display for UnixListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixListen::Datagram(path) => write!(f, "unixgram://{}", path.display()),
            UnixListen::LengthPrefixed(path) => write!(f, "unixstream://{}", path.display()),
        }
    }
}

impl UnixListen {
    fn path(&self) -> &PathBuf {
        match self {
            UnixListen::Datagram(path) | UnixListen::LengthPrefixed(path) => path,
        }
    }

    /// Binds the socket and starts reading; every line arrives on the
    /// channel as the capture server would hand it over.
    #[cfg(unix)]
    pub fn start(&self) -> io::Result<mpsc::UnboundedReceiver<Received>> {
        remove_stale_socket(self.path())?;
        let (tx, rx) = mpsc::unbounded_channel();
        match self {
            UnixListen::Datagram(path) => {
                let socket = tokio::net::UnixDatagram::bind(path)?;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = socket.recv(&mut buf).await {
                        if !hand_over(&buf[..n], &tx) {
                            break;
                        }
                    }
                });
            }
            UnixListen::LengthPrefixed(path) => {
                let listener = tokio::net::UnixListener::bind(path)?;
                tokio::spawn(async move {
                    while let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(read_frames(stream, tx.clone()));
                    }
                });
            }
        }
        Ok(rx)
    }

    #[cfg(not(unix))]
    pub fn start(&self) -> io::Result<mpsc::UnboundedReceiver<Received>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix domain sockets are not available on this platform",
        ))
    }

    /// Removes the socket file (at exit).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(self.path());
    }
}

/// Removes a socket file nobody listens on any more; leaves anything else.
#[cfg(unix)]
fn remove_stale_socket(path: &PathBuf) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !metadata.file_type().is_socket() {
        return Ok(()); // bind reports "address in use", naming the problem
    }
    // Connecting an unbound datagram socket sends nothing and makes no
    // connection: a live socket of either kind answers (or says "wrong
    // type"), a file nobody holds any more refuses.
    let probe = std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.connect(path));
    if matches!(&probe, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused) {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// Reads frames until the client closes; a frame longer than [`MAX_FRAME`]
/// ends the connection (it cannot be a frame of the Agent's protocol).
#[cfg(unix)]
async fn read_frames(mut stream: tokio::net::UnixStream, tx: mpsc::UnboundedSender<Received>) {
    use tokio::io::AsyncReadExt;
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; 4];
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let length = u32::from_le_bytes(header) as usize;
        if length > MAX_FRAME {
            eprintln!(
                "frame of {length} bytes refused (longer than {MAX_FRAME}); connection closed"
            );
            return;
        }
        payload.resize(length, 0);
        if stream.read_exact(&mut payload).await.is_err() {
            eprintln!("connection closed in the middle of a frame");
            return;
        }
        if !hand_over(&payload, &tx) {
            return;
        }
    }
}

/// Hands each non-empty line of `bytes` over; `false` once nobody listens.
fn hand_over(bytes: &[u8], tx: &mpsc::UnboundedSender<Received>) -> bool {
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(line).into_owned();
        let event = match Datagram::parse_bytes(line) {
            Ok(_) => Received::Line(text),
            Err(error) => Received::Malformed {
                line: text,
                reason: error.to_string(),
            },
        };
        if tx.send(event).is_err() {
            return false;
        }
    }
    true
}
