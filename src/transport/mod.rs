//! The sockets the processor writes to, one file per protocol.
//!
//! [`Connection`] is an enum rather than a trait object: the processor calls
//! the same four operations on each (connect, send a batch, notice the peer
//! going away, close), and a `match` keeps them visible and inlinable.

mod tcp;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::batch::Batch;
use crate::config::{Config, Protocol};
use crate::stats::Counters;

pub(crate) use tcp::TcpConnection;
pub(crate) use udp::UdpConnection;

/// An open connection to the statsd server.
#[derive(Debug)]
pub(crate) enum Connection {
    Tcp(TcpConnection),
    Udp(UdpConnection),
}

impl Connection {
    /// Resolves the host anew and connects to the first address that answers.
    pub(crate) async fn open(config: &Config) -> io::Result<Connection> {
        let addresses = resolve(config).await?;
        let mut last_error = None;
        for address in addresses {
            let attempt = match config.protocol {
                Protocol::Tcp => TcpConnection::connect(address).await.map(Connection::Tcp),
                Protocol::Udp => UdpConnection::connect(address, config.max_payload)
                    .await
                    .map(Connection::Udp),
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
    pub(crate) async fn send(&mut self, batch: &mut Batch, counters: &Counters) -> io::Result<()> {
        match self {
            Connection::Tcp(tcp) => tcp.send(batch, counters).await,
            Connection::Udp(udp) => udp.send(batch, counters).await,
        }
    }

    /// Completes when the server has closed the connection or it has failed
    /// (never, for UDP, where nothing tells).
    pub(crate) async fn closed(&mut self) -> io::Error {
        match self {
            Connection::Tcp(tcp) => tcp.closed().await,
            Connection::Udp(_) => std::future::pending().await,
        }
    }

    /// Updates what the server has acknowledged (TCP), so that a later failure
    /// counts only what is really in flight.
    pub(crate) fn refresh(&mut self) {
        if let Connection::Tcp(tcp) = self {
            tcp.refresh();
        }
    }

    /// Lines written that may not have reached the server, now that the
    /// connection has failed.
    pub(crate) fn possibly_lost(&self) -> u64 {
        match self {
            Connection::Tcp(tcp) => tcp.unacknowledged_lines(),
            Connection::Udp(_) => 0,
        }
    }

    /// Closes the connection in order, waiting until `deadline` for what was
    /// written to be acknowledged. Returns the lines still unacknowledged.
    pub(crate) async fn close(self, deadline: Instant) -> u64 {
        match self {
            Connection::Tcp(tcp) => tcp.close(deadline).await,
            Connection::Udp(_) => 0,
        }
    }

    /// The peer's address, for logs.
    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        match self {
            Connection::Tcp(tcp) => tcp.peer(),
            Connection::Udp(udp) => udp.peer(),
        }
    }
}

/// Looks the host up with the configured resolver, or the system's.
async fn resolve(config: &Config) -> io::Result<Vec<SocketAddr>> {
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
