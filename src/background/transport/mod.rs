//! The sockets the processor writes to: the logic once per kind of socket,
//! the connecting once per protocol.
//!
//! - `stream`: vectored writes and the in-flight accounting, for TCP and Unix
//!   streams; `tcp`, `unix` connect them.
//! - `datagram`: packing and `sendmmsg`, for UDP and Unix datagrams; `udp`,
//!   `unix` connect them.
//!
//! [`Connection`] is an enum rather than a trait object: the processor calls
//! the same operations on each (connect, send a batch, notice the peer going
//! away, close), and a `match` keeps them visible and inlinable.

mod datagram;
mod stream;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::background::batch::Batch;
use crate::config::{Config, Protocol};
use crate::shared::ledger::Ledger;

use datagram::DatagramConnection;
use stream::StreamConnection;

/// An open connection to the statsd server.
#[derive(Debug)]
pub(crate) enum Connection {
    Tcp(StreamConnection<TcpStream>),
    Udp(DatagramConnection<UdpSocket>),
    #[cfg(unix)]
    Unix(StreamConnection<tokio::net::UnixStream>),
    #[cfg(unix)]
    Unixgram(DatagramConnection<tokio::net::UnixDatagram>),
}

impl Connection {
    /// Connects: for TCP and UDP, resolves the host anew and uses the first
    /// address that answers; for Unix sockets, the host is the socket's path.
    pub(crate) async fn open(config: &Config) -> io::Result<Connection> {
        match config.protocol {
            Protocol::Tcp | Protocol::Udp => Connection::open_inet(config).await,
            #[cfg(unix)]
            Protocol::Unix if config.unix_probe => {
                // `unix://`: the socket says which kind it is, anew on every
                // connection (the server may have been replaced).
                let path: &std::path::Path = config.host.as_ref();
                match unix::probe_unix_kind(path)? {
                    unix::UnixKind::Datagram => Ok(Connection::Unixgram(unix::connect_datagram(
                        path,
                        config.max_payload,
                    )?)),
                    unix::UnixKind::Stream => Ok(Connection::Unix(
                        unix::connect_stream(path, config.framing, config.max_payload).await?,
                    )),
                }
            }
            #[cfg(unix)]
            Protocol::Unix => Ok(Connection::Unix(
                unix::connect_stream(config.host.as_ref(), config.framing, config.max_payload)
                    .await?,
            )),
            #[cfg(unix)]
            Protocol::Unixgram => Ok(Connection::Unixgram(unix::connect_datagram(
                config.host.as_ref(),
                config.max_payload,
            )?)),
            #[cfg(not(unix))]
            Protocol::Unix | Protocol::Unixgram => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Unix domain sockets are not available on this platform",
            )),
        }
    }

    async fn open_inet(config: &Config) -> io::Result<Connection> {
        let addresses = resolve(config).await?;
        Connection::open_to(config, addresses).await
    }

    /// Connects to the first of `addresses` (already resolved) that answers,
    /// with the configured protocol.
    pub(crate) async fn open_to(
        config: &Config,
        addresses: Vec<SocketAddr>,
    ) -> io::Result<Connection> {
        let mut last_error = None;
        for address in addresses {
            let attempt = match config.protocol {
                Protocol::Udp => udp::connect(address, config.max_payload)
                    .await
                    .map(Connection::Udp),
                _ => tcp::connect(address, config.framing, config.max_payload)
                    .await
                    .map(Connection::Tcp),
            };
            match attempt {
                Ok(connection) => return Ok(connection),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "host resolved to no address")
        }))
    }

    /// Writes the batch until it is empty. On error, what was not written is
    /// still in the batch, whole lines only.
    pub(crate) async fn send(&mut self, batch: &mut Batch, ledger: &Ledger) -> io::Result<()> {
        match self {
            Connection::Tcp(tcp) => tcp.send(batch, ledger).await,
            Connection::Udp(udp) => udp.send(batch, ledger).await,
            #[cfg(unix)]
            Connection::Unix(unix) => unix.send(batch, ledger).await,
            #[cfg(unix)]
            Connection::Unixgram(unix) => unix.send(batch, ledger).await,
        }
    }

    /// Completes when the server has closed the connection or it has failed
    /// (never, for datagrams, where nothing tells).
    pub(crate) async fn closed(&mut self) -> io::Error {
        match self {
            Connection::Tcp(tcp) => tcp.closed().await,
            #[cfg(unix)]
            Connection::Unix(unix) => unix.closed().await,
            _ => std::future::pending().await,
        }
    }

    /// Updates what the server has acknowledged (streams), so that a later
    /// failure counts only what is really in flight.
    pub(crate) fn refresh(&mut self) {
        match self {
            Connection::Tcp(tcp) => tcp.refresh(),
            #[cfg(unix)]
            Connection::Unix(unix) => unix.refresh(),
            _ => {}
        }
    }

    /// Lines written that may not have reached the server, now that the
    /// connection has failed (for UDP: has reported a refused datagram).
    pub(crate) fn possibly_lost(&self) -> u64 {
        match self {
            Connection::Tcp(tcp) => tcp.unacknowledged_lines(),
            #[cfg(unix)]
            Connection::Unix(unix) => unix.unacknowledged_lines(),
            Connection::Udp(udp) => udp.possibly_refused(),
            #[cfg(unix)]
            Connection::Unixgram(unix) => unix.possibly_refused(),
        }
    }

    /// Closes the connection in order, waiting until `deadline` for what was
    /// written to be acknowledged. Returns the lines still unacknowledged.
    pub(crate) async fn close(self, deadline: Instant) -> u64 {
        match self {
            Connection::Tcp(tcp) => tcp.close(deadline).await,
            #[cfg(unix)]
            Connection::Unix(unix) => unix.close(deadline).await,
            _ => 0,
        }
    }

    /// The network address connected to (TCP, UDP).
    pub(crate) fn peer_address(&self) -> Option<SocketAddr> {
        match self {
            Connection::Tcp(tcp) => tcp.stream().peer_addr().ok(),
            Connection::Udp(udp) => udp.socket().peer_addr().ok(),
            #[cfg(unix)]
            _ => None,
        }
    }

    /// The peer, for logs.
    pub(crate) fn peer(&self) -> String {
        let address = match self {
            Connection::Tcp(tcp) => tcp.stream().peer_addr(),
            Connection::Udp(udp) => udp.socket().peer_addr(),
            #[cfg(unix)]
            Connection::Unix(unix) => return format!("{:?}", unix.stream().peer_addr().ok()),
            #[cfg(unix)]
            Connection::Unixgram(unix) => return format!("{:?}", unix.socket().peer_addr().ok()),
        };
        address.map_or_else(|e| e.to_string(), |a| a.to_string())
    }
}

/// Looks the host up with the configured resolver, or the system's.
pub(crate) async fn resolve(config: &Config) -> io::Result<Vec<SocketAddr>> {
    match &config.resolver {
        Some(resolver) => resolver(&config.host, config.port),
        None => Ok(tokio::net::lookup_host((config.host.as_str(), config.port))
            .await?
            .collect()),
    }
}

/// Bounds one connection attempt.
pub(crate) async fn open_with_timeout(
    config: &Config,
    timeout: Duration,
) -> io::Result<Connection> {
    match tokio::time::timeout(timeout, Connection::open(config)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connection attempt took longer than {timeout:?}"),
        )),
    }
}
