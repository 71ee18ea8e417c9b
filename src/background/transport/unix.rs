//! Unix domain sockets: a stream (like TCP, with the same reconnect and drain
//! behaviour) or datagrams (like UDP, but the kernel reports a full receiver
//! instead of dropping, so nothing is lost silently on one machine).
//!
//! For `unix://`, the kind of socket is found here, when connecting
//! ([`probe_unix_kind`]): it is I/O on the socket path, done anew on every
//! connection, so it belongs with the connecting, not with the configuration.

use std::fmt;
use std::io;
use std::path::Path;

use tokio::net::{UnixDatagram, UnixStream};

use super::datagram::DatagramConnection;
use super::stream::StreamConnection;
use crate::config::Framing;

pub(crate) async fn connect_stream(
    path: &Path,
    framing: Framing,
    max_payload: usize,
) -> io::Result<StreamConnection<UnixStream>> {
    Ok(StreamConnection::new(
        UnixStream::connect(path).await?,
        framing,
        max_payload,
    ))
}

pub(crate) fn connect_datagram(
    path: &Path,
    max_payload: usize,
) -> io::Result<DatagramConnection<UnixDatagram>> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    Ok(DatagramConnection::new(socket, max_payload, false))
}

/// What kind of Unix socket is listening at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum UnixKind {
    /// A datagram socket (`SOCK_DGRAM`).
    Datagram,
    /// A stream socket (`SOCK_STREAM`); a `SOCK_SEQPACKET` socket answers the
    /// probe the same way and is reported as this too.
    Stream,
}

impl fmt::Display for UnixKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnixKind::Datagram => "datagram",
            UnixKind::Stream => "stream",
        })
    }
}

/// Tells whether the Unix socket at `path` is a datagram or a stream socket.
///
/// It connects an unbound datagram socket to the path, which sends nothing
/// and creates no connection on the server: success means a datagram socket,
/// `EPROTOTYPE` ("protocol wrong type for socket") means a socket of another
/// type, that is a stream (or seqpacket) socket, listening or not. This is
/// the test datadog-go and datadogpy make for `unix://`. Any other error is
/// returned as it is; on Linux: `NotFound` (`ENOENT`) when nothing is at the
/// path, `ConnectionRefused` (`ECONNREFUSED`) for a socket file nobody holds
/// any more, a regular file or a directory, `PermissionDenied` (`EACCES`)
/// without write permission on the socket (unix(7); not tested here, the tests run as root).
pub(crate) fn probe_unix_kind(path: &Path) -> io::Result<UnixKind> {
    let socket = std::os::unix::net::UnixDatagram::unbound()?;
    match socket.connect(path) {
        Ok(()) => Ok(UnixKind::Datagram),
        Err(error) if error.raw_os_error() == Some(libc::EPROTOTYPE) => Ok(UnixKind::Stream),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_dir::TestDir;
    use std::os::unix::net::{UnixDatagram, UnixListener};

    #[test]
    fn a_datagram_socket_is_a_datagram_socket() {
        let dir = TestDir::new("probe-dgram");
        let path = dir.path().join("dgram.sock");
        let _server = UnixDatagram::bind(&path).unwrap();
        assert_eq!(probe_unix_kind(&path).unwrap(), UnixKind::Datagram);
    }

    #[test]
    fn a_listening_stream_socket_is_a_stream_socket() {
        let dir = TestDir::new("probe-stream");
        let path = dir.path().join("stream.sock");
        let server = UnixListener::bind(&path).unwrap();
        server.set_nonblocking(true).unwrap();
        assert_eq!(probe_unix_kind(&path).unwrap(), UnixKind::Stream);
        // The probe made no connection: nothing waits to be accepted.
        let pending = server.accept().unwrap_err();
        assert_eq!(pending.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_tokio_stream_listener_is_a_stream_socket() {
        let dir = TestDir::new("probe-tokio");
        let path = dir.path().join("tokio.sock");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _server = tokio::net::UnixListener::bind(&path).unwrap();
            assert_eq!(probe_unix_kind(&path).unwrap(), UnixKind::Stream);
            let _dgram = tokio::net::UnixDatagram::bind(dir.path().join("d.sock")).unwrap();
            assert_eq!(
                probe_unix_kind(&dir.path().join("d.sock")).unwrap(),
                UnixKind::Datagram
            );
        });
    }

    /// A raw socket of `kind`, bound at `path`, listening when asked.
    fn raw_socket(kind: libc::c_int, path: &Path, listen: bool) -> std::os::fd::OwnedFd {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: plain libc calls on a socket this function owns; the
        // address is zeroed and the path is shorter than sun_path.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, kind, 0);
            assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
            let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_un = std::mem::zeroed();
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            assert!(bytes.len() < addr.sun_path.len());
            for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
                *dst = *src as libc::c_char;
            }
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            let rc = libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len);
            assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
            if listen {
                assert_eq!(
                    libc::listen(fd, 1),
                    0,
                    "listen: {}",
                    io::Error::last_os_error()
                );
            }
            owned
        }
    }

    #[test]
    fn a_stream_socket_that_does_not_listen_is_still_a_stream_socket() {
        let dir = TestDir::new("probe-nolisten");
        let path = dir.path().join("bound.sock");
        let _socket = raw_socket(libc::SOCK_STREAM, &path, false);
        assert_eq!(probe_unix_kind(&path).unwrap(), UnixKind::Stream);
    }

    #[test]
    fn a_seqpacket_socket_answers_like_a_stream_socket() {
        let dir = TestDir::new("probe-seqpacket");
        let path = dir.path().join("seq.sock");
        let _socket = raw_socket(libc::SOCK_SEQPACKET, &path, true);
        assert_eq!(probe_unix_kind(&path).unwrap(), UnixKind::Stream);
    }

    #[test]
    fn other_cases_are_errors_as_the_kernel_gives_them() {
        let dir = TestDir::new("probe-errors");
        let missing = dir.path().join("missing.sock");
        assert_eq!(
            probe_unix_kind(&missing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );

        let file = dir.write("file", "not a socket");
        assert_eq!(
            probe_unix_kind(&file).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );

        let stale_dgram = dir.path().join("stale-dgram.sock");
        drop(UnixDatagram::bind(&stale_dgram).unwrap());
        assert!(stale_dgram.exists());
        assert_eq!(
            probe_unix_kind(&stale_dgram).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );

        let stale_stream = dir.path().join("stale-stream.sock");
        drop(UnixListener::bind(&stale_stream).unwrap());
        assert_eq!(
            probe_unix_kind(&stale_stream).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }
}
