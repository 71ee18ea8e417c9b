//! Datagram sockets (UDP, Unix): datagrams of whole lines, several per system
//! call.
//!
//! Each datagram carries as many whole lines as fit in the payload limit. On
//! Linux, up to 64 datagrams go out in one `sendmmsg` call; elsewhere, one
//! `send` each.
//!
//! A UDP sender cannot see what a live receiver drops. What it can see is
//! "port unreachable": the kernel reports the ICMP error for an earlier
//! datagram as `ECONNREFUSED` on a later send, without saying which datagram
//! it was. All the datagrams refused were sent in the round trip before the
//! error arrived, so when one is reported, every line sent in the
//! [`REFUSAL_WINDOW`] before the last successful send counts as possibly lost
//! (an over-count, never an under-count, for round trips shorter than the
//! window), and the processor opens a new socket (resolving the host again)
//! and sends the datagrams that had not gone out.
//!
//! `sendmmsg` drops an error that happens after its first datagram: on
//! loopback, where the refusal arrives within the call, a port with no
//! listener makes every call stop short after one datagram and never report
//! why. So for UDP, two short counts in a row that a full send buffer
//! (`EAGAIN`) does not explain are treated as a refusal too.

use std::io;
use std::time::Duration;

use tokio::io::Interest;
use tokio::time::Instant;

use crate::background::batch::Batch;
use crate::shared::ledger::Ledger;

/// A connected datagram socket: what tokio's `UdpSocket` and `UnixDatagram`
/// have in common that the sending loop needs.
pub(crate) trait Datagrams {
    /// Waits until the socket may be writable.
    async fn writable(&self) -> io::Result<()>;
    /// Runs `send` if the socket is writable, clearing readiness on `WouldBlock`.
    fn try_io<R>(&self, send: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
    /// Sends one datagram (where `sendmmsg` is not available).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    fn try_send(&self, datagram: &[u8]) -> io::Result<usize>;
    /// The raw descriptor, for `sendmmsg`.
    #[cfg(unix)]
    fn fd(&self) -> std::os::fd::RawFd;
}

/// How far back from the last successful send a reported "port
/// unreachable" may point: longer than any round trip to a statsd server.
pub(crate) const REFUSAL_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct DatagramConnection<S> {
    socket: S,
    max_payload: usize,
    /// Scratch: the datagrams of the next call, as ranges of the batch's front.
    datagrams: Vec<(usize, usize)>,
    /// Lines sent recently, for counting what a refusal may have lost.
    recent: RecentSends,
    /// Unexplained short counts in a row (UDP only; see the module docs).
    short_counts: u8,
    /// Whether a refusal can be dropped by `sendmmsg` (UDP: the error is
    /// reported once; a Unix datagram socket repeats it on every send).
    refusals_can_vanish: bool,
}

impl<S: Datagrams> DatagramConnection<S> {
    pub(crate) fn new(
        socket: S,
        max_payload: usize,
        refusals_can_vanish: bool,
    ) -> DatagramConnection<S> {
        DatagramConnection {
            socket,
            max_payload,
            datagrams: Vec::with_capacity(crate::background::batch::MAX_SLICES),
            recent: RecentSends::new(Instant::now()),
            short_counts: 0,
            refusals_can_vanish,
        }
    }

    pub(crate) async fn send(&mut self, batch: &mut Batch, ledger: &Ledger) -> io::Result<()> {
        while !batch.is_empty() {
            batch.datagrams(self.max_payload, &mut self.datagrams);
            let bytes = batch.front_bytes();
            let sent = loop {
                self.socket.writable().await?;
                match self
                    .socket
                    .try_io(|| send_many(&self.socket, bytes, &self.datagrams))
                {
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        // A full send buffer explains the short counts.
                        self.short_counts = 0;
                        continue;
                    }
                    other => break other?,
                }
            };
            let written: usize = self.datagrams[..sent].iter().map(|(s, e)| e - s).sum();
            let lines = batch.advance(written);
            self.recent.add(Instant::now(), lines as u64);
            ledger.sent(lines as u64, written as u64);
            ledger.datagrams(sent as u64);
            if sent < self.datagrams.len() && self.refusals_can_vanish {
                self.short_counts += 1;
                if self.short_counts == 2 {
                    self.short_counts = 0;
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        "datagrams refused (the error was dropped by sendmmsg)",
                    ));
                }
            } else {
                self.short_counts = 0;
            }
        }
        Ok(())
    }

    /// Lines that a reported refusal may have lost: those sent within
    /// [`REFUSAL_WINDOW`] of the last successful send.
    pub(crate) fn possibly_refused(&self) -> u64 {
        self.recent.within_window()
    }

    pub(crate) fn socket(&self) -> &S {
        &self.socket
    }
}

/// Lines sent per time slot over the last [`REFUSAL_WINDOW`] and a bit: a
/// fixed ring, so counting costs no allocation however high the rate.
#[derive(Debug)]
struct RecentSends {
    opened: Instant,
    /// `(slot number, lines)`, indexed by slot number modulo the ring size.
    slots: [(u64, u64); RecentSends::RING],
    /// The slot of the last successful send.
    last: u64,
}

impl RecentSends {
    const SLOT: Duration = Duration::from_millis(50);
    /// Slots in the window, plus the one in progress at either end.
    const RING: usize = (REFUSAL_WINDOW.as_millis() / Self::SLOT.as_millis()) as usize + 2;

    fn new(opened: Instant) -> RecentSends {
        RecentSends {
            opened,
            slots: [(u64::MAX, 0); RecentSends::RING],
            last: 0,
        }
    }

    fn add(&mut self, now: Instant, lines: u64) {
        let slot = (now.saturating_duration_since(self.opened).as_millis() / Self::SLOT.as_millis())
            as u64;
        let entry = &mut self.slots[slot as usize % Self::RING];
        if entry.0 != slot {
            *entry = (slot, 0);
        }
        entry.1 += lines;
        self.last = slot;
    }

    fn within_window(&self) -> u64 {
        let oldest = self.last.saturating_sub(Self::RING as u64 - 1);
        self.slots
            .iter()
            .filter(|(slot, _)| (oldest..=self.last).contains(slot))
            .map(|(_, lines)| lines)
            .sum()
    }
}

/// Sends the datagrams `ranges` of `bytes`; returns how many were sent (at
/// least one, or an error).
#[cfg(target_os = "linux")]
fn send_many(
    socket: &impl Datagrams,
    bytes: &[u8],
    ranges: &[(usize, usize)],
) -> io::Result<usize> {
    const MAX: usize = crate::background::batch::MAX_SLICES;
    let count = ranges.len().min(MAX);
    // SAFETY: iovec and mmsghdr are plain C structs for which all-zero bytes is
    // a valid (empty) value.
    let mut iovecs: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut messages: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
    for (i, &(start, end)) in ranges[..count].iter().enumerate() {
        iovecs[i] = libc::iovec {
            iov_base: bytes[start..end].as_ptr() as *mut libc::c_void,
            iov_len: end - start,
        };
        messages[i].msg_hdr.msg_iov = &mut iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `messages[..count]` each point to one iovec that points into
    // `bytes`, all of which outlive the call; sendmmsg only reads them (and
    // writes `msg_len`). The socket is connected, so no address is needed.
    let sent = unsafe { libc::sendmmsg(socket.fd(), messages.as_mut_ptr(), count as _, 0) };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

#[cfg(not(target_os = "linux"))]
fn send_many(
    socket: &impl Datagrams,
    bytes: &[u8],
    ranges: &[(usize, usize)],
) -> io::Result<usize> {
    let mut sent = 0;
    for &(start, end) in ranges {
        match socket.try_send(&bytes[start..end]) {
            Ok(_) => sent += 1,
            Err(error) if sent == 0 => return Err(error),
            Err(_) => break,
        }
    }
    Ok(sent)
}

macro_rules! impl_datagrams {
    ($socket:ty) => {
        impl Datagrams for $socket {
            async fn writable(&self) -> io::Result<()> {
                <$socket>::writable(self).await
            }

            fn try_io<R>(&self, send: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
                <$socket>::try_io(self, Interest::WRITABLE, send)
            }

            fn try_send(&self, datagram: &[u8]) -> io::Result<usize> {
                <$socket>::try_send(self, datagram)
            }

            #[cfg(unix)]
            fn fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self)
            }
        }
    };
}

impl_datagrams!(tokio::net::UdpSocket);
#[cfg(unix)]
impl_datagrams!(tokio::net::UnixDatagram);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_sends_count_the_window_before_the_last_send() {
        let opened = Instant::now();
        let mut recent = RecentSends::new(opened);
        assert_eq!(recent.within_window(), 0);
        recent.add(opened, 5);
        recent.add(opened + Duration::from_millis(120), 7);
        assert_eq!(recent.within_window(), 12);
        // Long after: only what is within the window of the last send counts.
        recent.add(opened + Duration::from_secs(10), 1);
        assert_eq!(recent.within_window(), 1);
        recent.add(opened + Duration::from_millis(10_900), 2);
        assert_eq!(recent.within_window(), 3);
        recent.add(opened + Duration::from_millis(12_100), 4);
        assert_eq!(recent.within_window(), 4);
    }
}
