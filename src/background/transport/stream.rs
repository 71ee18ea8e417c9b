//! Stream sockets (TCP, Unix): large vectored writes, and an honest count of
//! what a failure may lose.
//!
//! TCP tells a writer that the kernel took its bytes, not that the server read
//! them. When a connection fails, the bytes still in our send queue (unsent, or
//! sent and unacknowledged) may be lost. On Linux the `SIOCOUTQ` ioctl tells how
//! many bytes those are; we ask after every write and keep, for each write still
//! partly unacknowledged, how many lines it carried. On failure, the lines of
//! those writes are counted as possibly lost. This over-counts (a write counts
//! whole if any byte of it is unacknowledged) and never under-counts what our
//! side held. What it cannot see is data the server's kernel acknowledged but the
//! server process never read before it died: no TCP client can; the README says
//! so. Elsewhere than Linux, every write of the connection's last
//! [`UNKNOWN_WINDOW`] counts as unacknowledged.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::background::batch::{Batch, MAX_SLICES};
use crate::shared::ledger::Ledger;

/// Without `SIOCOUTQ`, how many recent writes are assumed unacknowledged.
#[cfg_attr(target_os = "linux", allow(dead_code))]
const UNKNOWN_WINDOW: usize = 64;

/// A stream socket the processor can write to and ask for its send queue.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin {
    /// Bytes in the send queue not yet acknowledged (`None`: unknown here).
    fn unacknowledged_bytes(&self) -> Option<u64>;

    /// Reads without waiting: `Ok(0)` when the server has closed its side.
    /// A statsd server sends nothing, so whatever else is read is ignored.
    fn try_read(&self, scratch: &mut [u8]) -> io::Result<usize>;
}

#[derive(Debug)]
pub(crate) struct StreamConnection<S> {
    stream: S,
    in_flight: InFlight,
}

impl<S: Stream> StreamConnection<S> {
    pub(crate) fn new(stream: S) -> StreamConnection<S> {
        StreamConnection {
            stream,
            in_flight: InFlight::default(),
        }
    }

    pub(crate) async fn send(&mut self, batch: &mut Batch, ledger: &Ledger) -> io::Result<()> {
        // A busy processor never waits in `closed`, so look here: a server
        // that closed its side must not be written to until it goes away.
        if let Some(error) = self.peer_closed() {
            return Err(error);
        }
        while !batch.is_empty() {
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = batch.io_slices(&mut slices);
                self.stream.write_vectored(&slices[..n]).await?
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let lines = batch.advance(written);
            ledger.sent(lines as u64, written as u64);
            self.in_flight.wrote(written as u64, lines as u64);
            self.in_flight
                .acknowledged(self.stream.unacknowledged_bytes());
        }
        Ok(())
    }

    /// Reads until the server closes or the connection fails. A statsd server
    /// sends nothing, so anything read is ignored.
    pub(crate) async fn closed(&mut self) -> io::Error {
        let mut scratch = [0u8; 512];
        loop {
            match self.stream.read(&mut scratch).await {
                Ok(0) => {
                    // A graceful close leaves our send queue readable: learn
                    // what was acknowledged before counting what may be lost.
                    // (A reset purges it, so then the last count stands.)
                    self.refresh();
                    return io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    );
                }
                Ok(_) => continue,
                Err(error) => return error,
            }
        }
    }

    /// Whether the server has closed its side (or the connection failed), as
    /// far as is known without waiting.
    fn peer_closed(&mut self) -> Option<io::Error> {
        let mut scratch = [0u8; 512];
        loop {
            match self.stream.try_read(&mut scratch) {
                Ok(0) => {
                    self.refresh();
                    return Some(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                Ok(_) => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return None,
                Err(error) => return Some(error),
            }
        }
    }

    /// Forgets the writes the server has acknowledged since the last look.
    pub(crate) fn refresh(&mut self) {
        self.in_flight
            .acknowledged(self.stream.unacknowledged_bytes());
    }

    pub(crate) fn unacknowledged_lines(&self) -> u64 {
        self.in_flight.lines
    }

    /// Shuts our side down (FIN after the queued bytes), then waits until the
    /// server has acknowledged everything or `deadline` passes.
    pub(crate) async fn close(mut self, deadline: Instant) -> u64 {
        let shutdown = tokio::time::timeout_at(deadline, self.stream.shutdown()).await;
        if !matches!(shutdown, Ok(Ok(()))) {
            return self.in_flight.lines;
        }
        loop {
            match self.stream.unacknowledged_bytes() {
                Some(0) => return 0,
                Some(bytes) => self.in_flight.acknowledged(Some(bytes)),
                None => return self.in_flight.lines,
            }
            if Instant::now() >= deadline {
                return self.in_flight.lines;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub(crate) fn stream(&self) -> &S {
        &self.stream
    }
}

/// The writes whose bytes are not all acknowledged yet.
#[derive(Debug, Default)]
struct InFlight {
    /// `(bytes, lines)` per write, oldest first.
    writes: VecDeque<(u64, u64)>,
    /// Sum of the bytes in `writes`.
    bytes: u64,
    /// Sum of the lines in `writes`.
    lines: u64,
}

impl InFlight {
    fn wrote(&mut self, bytes: u64, lines: u64) {
        self.writes.push_back((bytes, lines));
        self.bytes += bytes;
        self.lines += lines;
    }

    /// Forgets the writes wholly acknowledged, given the bytes still in the
    /// send queue (`None`: unknown on this platform).
    fn acknowledged(&mut self, unacknowledged: Option<u64>) {
        let keep_bytes = match unacknowledged {
            Some(bytes) => bytes,
            None => {
                while self.writes.len() > UNKNOWN_WINDOW {
                    self.forget_oldest();
                }
                return;
            }
        };
        while let Some(&(bytes, _)) = self.writes.front() {
            if self.bytes - bytes < keep_bytes {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((bytes, lines)) = self.writes.pop_front() {
            self.bytes -= bytes;
            self.lines -= lines;
        }
    }
}

/// Bytes in a socket's send queue, sent or not, not yet acknowledged
/// (for a Unix stream: not yet read by the peer).
#[cfg(target_os = "linux")]
fn outq(socket: &impl std::os::fd::AsRawFd) -> Option<u64> {
    let mut bytes: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one c_int through the pointer, which
    // points to a live, aligned c_int; the fd is open for the socket's lifetime.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut bytes) };
    (result == 0).then_some(bytes.max(0) as u64)
}

/// The send queue and a non-blocking read, for each stream socket: the same
/// calls on TCP and Unix streams (for a Unix stream, `SIOCOUTQ` counts bytes
/// written and not yet read by the server).
macro_rules! impl_stream {
    ($socket:ty) => {
        impl Stream for $socket {
            #[cfg(target_os = "linux")]
            fn unacknowledged_bytes(&self) -> Option<u64> {
                outq(self)
            }

            #[cfg(not(target_os = "linux"))]
            fn unacknowledged_bytes(&self) -> Option<u64> {
                None
            }

            fn try_read(&self, scratch: &mut [u8]) -> io::Result<usize> {
                <$socket>::try_read(self, scratch)
            }
        }
    };
}

impl_stream!(tokio::net::TcpStream);
#[cfg(unix)]
impl_stream!(tokio::net::UnixStream);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_writes_are_forgotten_whole_and_partial_ones_kept() {
        let mut in_flight = InFlight::default();
        in_flight.wrote(100, 10);
        in_flight.wrote(50, 5);
        in_flight.wrote(30, 3);
        // 60 bytes unacknowledged: the last write (30) and part of the one before.
        in_flight.acknowledged(Some(60));
        assert_eq!((in_flight.bytes, in_flight.lines), (80, 8));
        in_flight.acknowledged(Some(30));
        assert_eq!((in_flight.bytes, in_flight.lines), (30, 3));
        in_flight.acknowledged(Some(0));
        assert_eq!((in_flight.bytes, in_flight.lines), (0, 0));
    }
}
