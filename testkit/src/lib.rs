//! The test kit of statsd-connector: what its integration tests (`tests/`),
//! its interop and tool crates share, in a crate of its own that is never
//! published.
//!
//! - [`fault_server`]: a statsd server that misbehaves on command (closes,
//!   resets, stops reading, reads slowly, refuses) and counts every line;
//! - [`log_capture`]: a structured capture of `tracing` events, so that a test
//!   can assert which warnings were logged and with which fields;
//! - [`wait`]: waiting with a deadline (no test sleeps and hopes);
//! - [`socket`]: socket options, such as a receive buffer large enough for a
//!   burst of datagrams.
//!
//! Depending on this crate switches the library's `testing` feature on (the
//! in-process capture server, `statsd_connector::testing`).

#![warn(missing_docs)]

pub mod fault_server;
pub mod log_capture;
pub mod socket;
pub mod wait;
