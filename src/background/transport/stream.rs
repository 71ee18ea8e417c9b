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
//!
//! With [`Framing::LengthPrefixed`] (the Datadog Agent's stream socket), the
//! batch is cut into frames of whole lines at most `max_payload` bytes each
//! (the batch's datagram ranges, gauge-pair rule included), each written as a
//! 4-byte little-endian length and the payload. The batch advances only by
//! whole frames, so it always stands at the start of the frame being written:
//! when a write fails in the middle of a frame, the next connection begins
//! with that frame, whole. A frame's lines count as sent when its last byte is
//! written; the write that completed it carries them in the in-flight
//! accounting (the frame's earlier bytes went in earlier writes, which are
//! acknowledged first, so this over-counts, never under-counts). A send that
//! is cancelled (a stop) keeps its place in the frames under way, and the next
//! send on the same connection resumes at that byte.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::background::batch::{Batch, MAX_SLICES};
use crate::config::Framing;
use crate::shared::ledger::Ledger;

/// The most frames one vectored write carries (a header and a payload each).
const MAX_FRAMES: usize = MAX_SLICES / 2;

/// The length prefix of a frame.
const HEADER: usize = 4;

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
    framing: Framing,
    frames: Frames,
}

/// The length-prefixed frames under way: ranges of the batch's first buffer,
/// and how many bytes of them (headers included) are written.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    max_payload: usize,
    ranges: Vec<(usize, usize)>,
    headers: [[u8; HEADER]; MAX_FRAMES],
    /// Frames of `ranges` wholly written (and advanced past in the batch).
    done: usize,
    /// Bytes of the frame `ranges[done]` written, header included.
    partial: usize,
}

impl Frames {
    fn new(max_payload: usize) -> Frames {
        Frames {
            max_payload,
            ranges: Vec::with_capacity(MAX_SLICES),
            ..Frames::default()
        }
    }

    fn under_way(&self) -> bool {
        self.done < self.ranges.len()
    }

    /// Cuts the next frames from the batch (which stands at a frame start).
    fn plan(&mut self, batch: &Batch) {
        batch.datagrams(self.max_payload, &mut self.ranges);
        self.ranges.truncate(MAX_FRAMES);
        for (header, &(start, end)) in self.headers.iter_mut().zip(&self.ranges) {
            *header = ((end - start) as u32).to_le_bytes();
        }
        self.done = 0;
        self.partial = 0;
    }

    /// The unwritten bytes of the frames under way, in order.
    fn io_slices<'a>(&'a self, bytes: &'a [u8], slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let mut n = 0;
        for (i, &(start, end)) in self.ranges.iter().enumerate().skip(self.done) {
            let skip = if i == self.done { self.partial } else { 0 };
            if skip < HEADER {
                slices[n] = IoSlice::new(&self.headers[i][skip..]);
                n += 1;
            }
            let from = start + skip.saturating_sub(HEADER);
            slices[n] = IoSlice::new(&bytes[from..end]);
            n += 1;
        }
        n
    }

    /// Records `written` more bytes; returns the payload bytes of the frames
    /// they completed and how many frames that was.
    fn wrote(&mut self, mut written: usize) -> (usize, usize) {
        let (mut payload, mut frames) = (0, 0);
        while written > 0 && self.under_way() {
            let (start, end) = self.ranges[self.done];
            let left = HEADER + (end - start) - self.partial;
            if written >= left {
                written -= left;
                payload += end - start;
                frames += 1;
                self.done += 1;
                self.partial = 0;
            } else {
                self.partial += written;
                written = 0;
            }
        }
        (payload, frames)
    }
}

impl<S: Stream> StreamConnection<S> {
    pub(crate) fn new(stream: S, framing: Framing, max_payload: usize) -> StreamConnection<S> {
        StreamConnection {
            stream,
            in_flight: InFlight::default(),
            framing,
            frames: Frames::new(max_payload),
        }
    }

    pub(crate) async fn send(&mut self, batch: &mut Batch, ledger: &Ledger) -> io::Result<()> {
        // A busy processor never waits in `closed`, so look here: a server
        // that closed its side must not be written to until it goes away.
        if let Some(error) = self.peer_closed() {
            return Err(error);
        }
        if self.framing == Framing::LengthPrefixed {
            return self.send_frames(batch, ledger).await;
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

    /// [`Framing::LengthPrefixed`]: whole frames of whole lines.
    async fn send_frames(&mut self, batch: &mut Batch, ledger: &Ledger) -> io::Result<()> {
        loop {
            if !self.frames.under_way() {
                if batch.is_empty() {
                    return Ok(());
                }
                self.frames.plan(batch);
            } else if batch.is_empty()
                || batch.front_offset() != self.frames.ranges[self.frames.done].0
            {
                // The batch was discarded or moved under us: what was written
                // of a frame cannot be completed, so this connection must go.
                self.frames.ranges.clear();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a length-prefixed frame was left incomplete",
                ));
            }
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = self.frames.io_slices(batch.front_bytes(), &mut slices);
                self.stream.write_vectored(&slices[..n]).await?
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let (payload, frames) = self.frames.wrote(written);
            let lines = batch.advance(payload);
            ledger.sent(lines as u64, (payload + frames * HEADER) as u64);
            self.in_flight.wrote(written as u64, lines as u64);
            self.in_flight
                .acknowledged(self.stream.unacknowledged_bytes());
        }
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
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A stream that takes at most `per_write` bytes a call and fails once
    /// `budget` bytes have been taken.
    struct Fake {
        out: Vec<u8>,
        per_write: usize,
        budget: usize,
    }

    impl Fake {
        fn new(per_write: usize, budget: usize) -> Fake {
            Fake {
                out: Vec::new(),
                per_write,
                budget,
            }
        }
    }

    impl AsyncRead for Fake {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Fake {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            slices: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if self.budget == 0 {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            let mut room = self.per_write.min(self.budget);
            let mut taken = 0;
            for slice in slices {
                let n = slice.len().min(room);
                self.out.extend_from_slice(&slice[..n]);
                room -= n;
                taken += n;
            }
            self.budget -= taken;
            Poll::Ready(Ok(taken))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Stream for Fake {
        fn unacknowledged_bytes(&self) -> Option<u64> {
            Some(0)
        }

        fn try_read(&self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    /// [`batch::tests::batch_of`](crate::background::batch::tests::batch_of),
    /// with a ledger that has counted its lines as taken.
    fn batch_of(lines: &[&str]) -> (Batch, Ledger) {
        let batch = crate::background::batch::tests::batch_of(lines);
        let ledger = Ledger::default();
        ledger.taken(batch.lines() as u64);
        (batch, ledger)
    }

    /// Splits length-prefixed bytes into frames; panics on a torn frame.
    fn frames_of(mut bytes: &[u8]) -> Vec<String> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
            frames.push(String::from_utf8(bytes[4..4 + len].to_vec()).unwrap());
            bytes = &bytes[4 + len..];
        }
        frames
    }

    fn run<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn frames_are_whole_lines_up_to_max_payload_with_a_little_endian_length() {
        let (mut batch, ledger) = batch_of(&["a:1|c\n", "b:1|c\n", "c:1|c\n"]);
        let mut connection = StreamConnection::new(
            Fake::new(usize::MAX, usize::MAX),
            Framing::LengthPrefixed,
            64,
        );
        connection.frames.max_payload = 12;
        run(connection.send(&mut batch, &ledger)).unwrap();
        let out = &connection.stream.out;
        assert_eq!(&out[..4], &12u32.to_le_bytes());
        assert_eq!(frames_of(out), ["a:1|c\nb:1|c\n", "c:1|c\n"]);
        let stats = ledger.snapshot((3, 0));
        assert_eq!((stats.sent, stats.sent_bytes, stats.in_queue), (3, 26, 0));
    }

    #[test]
    fn frames_keep_a_gauge_reset_with_its_value() {
        let (mut batch, ledger) = batch_of(&["a:1|c\n", "g:0|g\n", "g:-5|g\n", "z:1|c\n"]);
        let mut connection = StreamConnection::new(
            Fake::new(usize::MAX, usize::MAX),
            Framing::LengthPrefixed,
            64,
        );
        connection.frames.max_payload = 13;
        run(connection.send(&mut batch, &ledger)).unwrap();
        assert_eq!(
            frames_of(&connection.stream.out),
            ["a:1|c\n", "g:0|g\ng:-5|g\n", "z:1|c\n"]
        );
    }

    #[test]
    fn small_writes_still_make_whole_frames() {
        let lines: Vec<String> = (0..500).map(|i| format!("metric.{i}:{i}|c\n")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (mut batch, ledger) = batch_of(&refs);
        // 3 bytes a write cuts headers and payloads everywhere.
        let mut connection =
            StreamConnection::new(Fake::new(3, usize::MAX), Framing::LengthPrefixed, 100);
        run(connection.send(&mut batch, &ledger)).unwrap();
        let frames = frames_of(&connection.stream.out);
        assert!(frames.iter().all(|f| f.len() <= 100 && f.ends_with('\n')));
        assert_eq!(frames.concat(), lines.concat());
        assert_eq!(ledger.snapshot((500, 0)).sent, 500);
    }

    #[test]
    fn a_frame_cut_by_a_failed_write_is_resent_whole_on_the_next_connection() {
        let lines: Vec<String> = (0..50).map(|i| format!("m{i:02}:1|c\n")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (mut batch, ledger) = batch_of(&refs);
        // The first connection fails 10 bytes into its second frame.
        let first_budget = 4 + 64 + 10;
        let mut first =
            StreamConnection::new(Fake::new(7, first_budget), Framing::LengthPrefixed, 64);
        assert!(run(first.send(&mut batch, &ledger)).is_err());
        // 64 bytes = 8 lines of 8 bytes in the first frame: those count as sent.
        assert_eq!(ledger.snapshot((50, 0)).sent, 8);
        assert_eq!(batch.lines(), 42);
        batch.rewind_partial_line(); // what the processor does; a no-op here
        let mut second =
            StreamConnection::new(Fake::new(5, usize::MAX), Framing::LengthPrefixed, 64);
        run(second.send(&mut batch, &ledger)).unwrap();
        let resent = frames_of(&second.stream.out);
        assert_eq!(resent.concat(), lines[8..].concat());
        // What the first connection wrote of the cut frame is only a prefix of
        // the frame the second one sent whole.
        let cut = &first.stream.out[4 + 64..];
        assert_eq!(cut.len(), 10);
        assert_eq!(&cut[..4], &64u32.to_le_bytes());
        assert!(resent[0].as_bytes().starts_with(&cut[4..]));
        let stats = ledger.snapshot((50, 0));
        assert_eq!((stats.sent, stats.in_queue), (50, 0));
    }

    #[test]
    fn a_cancelled_send_resumes_inside_its_frame() {
        let (mut batch, ledger) = batch_of(&["aaaa:1|c\n", "bbbb:1|c\n"]);
        let mut connection =
            StreamConnection::new(Fake::new(3, usize::MAX), Framing::LengthPrefixed, 64);
        // Write part of the frame by hand, as a cancelled send would leave it.
        connection.frames.plan(&batch);
        assert_eq!(connection.frames.wrote(6), (0, 0));
        connection
            .stream
            .out
            .extend_from_slice(&18u32.to_le_bytes());
        connection.stream.out.extend_from_slice(b"aa");
        run(connection.send(&mut batch, &ledger)).unwrap();
        assert_eq!(frames_of(&connection.stream.out), ["aaaa:1|c\nbbbb:1|c\n"]);
    }

    #[test]
    fn newline_framing_is_unchanged() {
        let (mut batch, ledger) = batch_of(&["a:1|c\n", "b:1|c\n"]);
        let mut connection =
            StreamConnection::new(Fake::new(4, usize::MAX), Framing::Newline, 8192);
        run(connection.send(&mut batch, &ledger)).unwrap();
        assert_eq!(connection.stream.out, b"a:1|c\nb:1|c\n");
    }

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
