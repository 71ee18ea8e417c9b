//! [`Builder::build`]: a checked configuration, made into a [`Connector`].
//!
//! It lives on the caller's side, not beside the builder, so that the
//! dependency goes one way: `caller` uses `config`, and `config` knows nothing
//! of the connector that runs it. Rustdoc shows the method on [`Builder`]
//! with the others.

use crate::config::Builder;
use crate::error::Error;

use super::connector::Connector;

impl Builder {
    /// Checks every setting and returns a connector (not yet started).
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// assert!(statsd.is_stopped()); // nothing runs, nor connects, until start()
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Builder::build_config`]: [`ErrorKind::EmptyHost`](crate::ErrorKind::EmptyHost) when the host is empty (unless disabled);
    /// [`ErrorKind::InvalidPort`](crate::ErrorKind::InvalidPort) for port 0 or a port text that is not a number from 1
    /// to 65535; [`ErrorKind::InvalidAddress`](crate::ErrorKind::InvalidAddress) for a host that cannot be read as an address
    /// (a bad scheme, an empty host, a bad port after the `:` ...);
    /// [`ErrorKind::InvalidPrefix`](crate::ErrorKind::InvalidPrefix) for a prefix that cannot start a metric name;
    /// [`ErrorKind::InvalidTag`](crate::ErrorKind::InvalidTag) for a global tag that cannot be written in the tag format;
    /// [`ErrorKind::InvalidSetting`](crate::ErrorKind::InvalidSetting) for a zero `queue_capacity`, `emitting_threads`,
    /// `max_samples_per_context`, `aggregate` or `telemetry` interval, a
    /// `max_payload` outside 64..=65507, or newline framing asked of a
    /// `unixstream://` address.
    pub fn build(self) -> Result<Connector, Error> {
        Ok(Connector::new(self.build_config()?))
    }
}
