//! Following a server that moves ([`Builder::dns_refresh`](crate::Builder::dns_refresh)).
//!
//! A connection resolves its host once, when it is made. A TCP connection
//! to a server that went away fails sooner or later and the reconnect
//! resolves again; a UDP socket never fails if no "port unreachable" comes
//! back (a dead host, ICMP filtered), and a Unix datagram socket keeps
//! sending to a socket file that was unlinked and replaced if the old server
//! still holds it. So, on an interval, the processor looks again:
//!
//! - for TCP and UDP, it resolves the host through the configured
//!   [`Resolver`](crate::Resolver) (or the system's, on tokio's blocking
//!   pool), bounded by the connect timeout. The connection moves only when
//!   the address it is connected to is no longer among the answers, so a
//!   round-robin answer that merely changes order moves nothing. A failed or
//!   empty lookup keeps the connection as it is (logged, throttled).
//! - for Unix sockets, it reads the device and inode of the socket file: a
//!   different file at the path (the Agent restarted and bound a new socket)
//!   means a new server. A missing file keeps the connection (the server may
//!   be restarting; the next look will tell).
//!
//! The look runs on a task the processor starts and owns (never on a
//! caller's thread, and never making the processor wait): the lookup, then,
//! when the server moved, a connection to the new address, each bounded by
//! the connect timeout. The processor hands over between two batches, once
//! the new connection is made, and only then gives up the old one (shut
//! down, given up to a second to be acknowledged), so a new address that
//! does not answer costs nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::shared::throttle::should_log;
use crate::shared::Shared;

use super::transport::{self, Connection};

/// What a connection is connected to, as far as a later look can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    /// The network address connected to.
    Inet(SocketAddr),
    /// The socket file's device and inode when the connection was made.
    #[cfg(unix)]
    File { device: u64, inode: u64 },
}

/// The schedule of the looks, and what the connection goes to.
#[derive(Debug)]
pub(crate) struct AddressWatch {
    interval: Duration,
    next: Instant,
    identity: Option<Identity>,
    /// The look under way, on a task of its own: the processor never waits
    /// for a lookup or for the new connection.
    pending: Option<JoinHandle<Looked>>,
    /// Looks in a row that could not tell (lookup failed), for the log.
    failures: u64,
}

/// What a look found.
#[derive(Debug)]
enum Looked {
    /// The server is where the connection goes.
    Same,
    /// The lookup failed or found nothing: keep the connection.
    Unknown(String),
    /// The server moved; the connection to where it is now, or why none.
    Moved(std::io::Result<Box<Connection>>),
}

impl Drop for AddressWatch {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
    }
}

impl AddressWatch {
    /// The watch for this configuration; `None` when the refresh is off.
    pub(crate) fn new(config: &Config) -> Option<AddressWatch> {
        let interval = config.ops.dns_refresh?;
        Some(AddressWatch {
            interval,
            next: Instant::now() + interval,
            identity: None,
            pending: None,
            failures: 0,
        })
    }

    /// A connection was made: remember what it goes to, forget a look made
    /// for the one before, and look again one interval from now.
    pub(crate) fn connected(&mut self, config: &Config, connection: &Connection) {
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
        self.identity = identity_of(config, connection);
        self.next = Instant::now() + self.interval;
    }

    /// Starts a look when one is due, and hands over the connection a
    /// finished look made to where the server moved. Never waits: the look
    /// (the lookup, then the new connection, each bounded by the connect
    /// timeout) runs on a task of its own.
    pub(crate) async fn poll(&mut self, shared: &Arc<Shared>) -> Option<Connection> {
        if self.pending.as_ref().is_some_and(JoinHandle::is_finished) {
            let looked = self.pending.take()?.await.ok()?;
            return self.found(&shared.config, looked);
        }
        let now = Instant::now();
        if self.pending.is_none() && now >= self.next {
            if let Some(identity) = self.identity {
                self.next = now + self.interval;
                self.pending = Some(tokio::spawn(look(shared.clone(), identity)));
            }
        }
        None
    }

    fn found(&mut self, config: &Config, looked: Looked) -> Option<Connection> {
        match looked {
            Looked::Same => {
                self.failures = 0;
                None
            }
            Looked::Unknown(why) => {
                self.failures += 1;
                if should_log(self.failures) {
                    tracing::warn!(
                        host = %config.host,
                        port = config.port,
                        error = %why,
                        in_a_row = self.failures,
                        "statsd address refresh: lookup failed; keeping the current address"
                    );
                }
                None
            }
            Looked::Moved(Ok(connection)) => {
                self.failures = 0;
                Some(*connection)
            }
            Looked::Moved(Err(error)) => {
                self.failures += 1;
                if should_log(self.failures) {
                    tracing::warn!(
                        host = %config.host,
                        %error,
                        in_a_row = self.failures,
                        "statsd server moved, but its new address does not answer; staying"
                    );
                }
                None
            }
        }
    }
}

/// One look, on its own task: where the server is now and, if it moved, a
/// connection there.
async fn look(shared: Arc<Shared>, identity: Identity) -> Looked {
    let config = &shared.config;
    let timeout = config.connect_timeout;
    match identity {
        Identity::Inet(current) => {
            let lookup = tokio::time::timeout(timeout, transport::resolve(config)).await;
            let answer = match lookup {
                Ok(Ok(addresses)) if !addresses.is_empty() => addresses,
                Ok(Ok(_)) => return Looked::Unknown("no address".into()),
                Ok(Err(error)) => return Looked::Unknown(error.to_string()),
                Err(_) => return Looked::Unknown("the lookup timed out".into()),
            };
            if answer.contains(&current) {
                return Looked::Same;
            }
            tracing::info!(
                host = %config.host,
                from = %current,
                to = ?answer,
                "statsd server resolves elsewhere now; moving"
            );
            let opened = tokio::time::timeout(timeout, Connection::open_to(config, answer)).await;
            let opened = opened.unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connection attempt took longer than {timeout:?}"),
                ))
            });
            Looked::Moved(opened.map(Box::new))
        }
        #[cfg(unix)]
        Identity::File { device, inode } => match file_identity(config) {
            Some(Identity::File {
                device: d,
                inode: i,
            }) if (d, i) != (device, inode) => {
                tracing::info!(
                    path = %config.host,
                    "statsd socket file was replaced; moving to the new one"
                );
                let opened = transport::open_with_timeout(config, timeout).await;
                Looked::Moved(opened.map(Box::new))
            }
            _ => Looked::Same,
        },
    }
}

/// How long a connection given up for a new address may take to have what
/// was written acknowledged.
pub(crate) fn close_grace(config: &Config) -> Duration {
    config.connect_timeout.min(Duration::from_secs(1))
}

fn identity_of(config: &Config, connection: &Connection) -> Option<Identity> {
    if config.protocol.is_unix() {
        #[cfg(unix)]
        return file_identity(config);
    }
    connection.peer_address().map(Identity::Inet)
}

/// The device and inode of the socket file at the configured path.
#[cfg(unix)]
fn file_identity(config: &Config) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(&config.host).ok()?;
    Some(Identity::File {
        device: metadata.dev(),
        inode: metadata.ino(),
    })
}
