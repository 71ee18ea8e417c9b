//! Datagram sockets (UDP, Unix): datagrams of whole lines, several per system
//! call.
//!
//! Each datagram carries as many whole lines as fit in the payload limit. On
//! Linux, up to 64 datagrams go out in one `sendmmsg` call; elsewhere, one
//! `send` each. A UDP sender cannot see what the receiver drops, so nothing is
//! counted as possibly lost here; a "port unreachable" reported on a later send
//! (`ECONNREFUSED`) is returned as an error, the processor opens a new socket
//! (resolving the host again) and resends the datagram that was refused.

use std::io;

use tokio::io::Interest;

use crate::batch::Batch;
use crate::stats::Counters;

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

#[derive(Debug)]
pub(crate) struct DatagramConnection<S> {
    socket: S,
    max_payload: usize,
    /// Scratch: the datagrams of the next call, as ranges of the batch's front.
    datagrams: Vec<(usize, usize)>,
}

impl<S: Datagrams> DatagramConnection<S> {
    pub(crate) fn new(socket: S, max_payload: usize) -> DatagramConnection<S> {
        DatagramConnection {
            socket,
            max_payload,
            datagrams: Vec::with_capacity(crate::batch::MAX_SLICES),
        }
    }

    pub(crate) async fn send(&mut self, batch: &mut Batch, counters: &Counters) -> io::Result<()> {
        while !batch.is_empty() {
            batch.datagrams(self.max_payload, &mut self.datagrams);
            let bytes = batch.front_bytes();
            let sent = loop {
                self.socket.writable().await?;
                match self
                    .socket
                    .try_io(|| send_many(&self.socket, bytes, &self.datagrams))
                {
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                    other => break other?,
                }
            };
            let written: usize = self.datagrams[..sent].iter().map(|(s, e)| e - s).sum();
            let lines = batch.advance(written);
            Counters::add(&counters.sent, lines as u64);
            Counters::add(&counters.sent_bytes, written as u64);
            Counters::add(&counters.datagrams, sent as u64);
            Counters::sub(&counters.held, lines as u64);
        }
        Ok(())
    }

    pub(crate) fn socket(&self) -> &S {
        &self.socket
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
    const MAX: usize = crate::batch::MAX_SLICES;
    let count = ranges.len().min(MAX);
    // SAFETY: iovec and mmsghdr are plain C structs for which all-zero bytes is
    // a valid (empty) value.
    let mut iovecs: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
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
