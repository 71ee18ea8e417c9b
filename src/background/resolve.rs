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
//! The look runs on the processor's task, between two batches, never on a
//! caller's thread. When the server moved, the processor connects to the new
//! address first; only once that succeeded does it give up the old
//! connection (shut down, given up to a second to be acknowledged), so a new
//! address that does not answer costs nothing.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::shared::throttle::should_log;

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

/// Where the server is now, when it is no longer where the connection goes.
#[derive(Debug)]
pub(crate) enum Moved {
    /// The host resolves to these addresses, none of them the current one.
    Inet(Vec<SocketAddr>),
    /// The socket file at the path is another one.
    #[cfg(unix)]
    File,
}

/// The schedule of the looks, and what the connection goes to.
#[derive(Debug)]
pub(crate) struct AddressWatch {
    interval: Duration,
    next: Instant,
    identity: Option<Identity>,
    /// Looks in a row that could not tell (lookup failed), for the log.
    failures: u64,
}

impl AddressWatch {
    /// The watch for this configuration; `None` when the refresh is off.
    pub(crate) fn new(config: &Config) -> Option<AddressWatch> {
        let interval = config.ops.dns_refresh?;
        Some(AddressWatch {
            interval,
            next: Instant::now() + interval,
            identity: None,
            failures: 0,
        })
    }

    /// A connection was made: remember what it goes to, and look again one
    /// interval from now.
    pub(crate) fn connected(&mut self, config: &Config, connection: &Connection) {
        self.identity = identity_of(config, connection);
        self.next = Instant::now() + self.interval;
    }

    /// Whether a look is due (never while nothing is connected: the next
    /// connection resolves anyway).
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.identity.is_some() && now >= self.next
    }

    /// Looks again and schedules the next look; `Some` when the server is
    /// no longer where the connection goes.
    pub(crate) async fn look(&mut self, config: &Config) -> Option<Moved> {
        self.next = Instant::now() + self.interval;
        match self.identity? {
            Identity::Inet(current) => {
                let lookup =
                    tokio::time::timeout(config.connect_timeout, transport::resolve(config)).await;
                let answer = match lookup {
                    Ok(Ok(addresses)) if !addresses.is_empty() => addresses,
                    Ok(Ok(_)) => return self.could_not_tell(config, "no address"),
                    Ok(Err(error)) => return self.could_not_tell(config, &error.to_string()),
                    Err(_) => return self.could_not_tell(config, "the lookup timed out"),
                };
                self.failures = 0;
                if answer.contains(&current) {
                    None
                } else {
                    tracing::info!(
                        host = %config.host,
                        from = %current,
                        to = ?answer,
                        "statsd server resolves elsewhere now; moving"
                    );
                    Some(Moved::Inet(answer))
                }
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
                    Some(Moved::File)
                }
                _ => None,
            },
        }
    }

    #[cold]
    fn could_not_tell(&mut self, config: &Config, why: &str) -> Option<Moved> {
        self.failures += 1;
        if should_log(self.failures) {
            tracing::warn!(
                host = %config.host,
                port = config.port,
                error = why,
                in_a_row = self.failures,
                "statsd address refresh: lookup failed; keeping the current address"
            );
        }
        None
    }
}

/// Opens a connection to where the server moved (bounded by the connect
/// timeout).
pub(crate) async fn open_moved(config: &Config, moved: Moved) -> std::io::Result<Connection> {
    let timeout = config.connect_timeout;
    match moved {
        Moved::Inet(addresses) => {
            match tokio::time::timeout(timeout, Connection::open_to(config, addresses)).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connection attempt took longer than {timeout:?}"),
                )),
            }
        }
        #[cfg(unix)]
        Moved::File => transport::open_with_timeout(config, timeout).await,
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
