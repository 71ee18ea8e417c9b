//! The background side: the processor task and what only it touches.
//!
//! Everything here runs on the tokio task that `Connector::start` spawns
//! (or on the small runtime of `start_blocking`). It depends on the shared
//! state (`crate::shared`), never on the handle that started it.
//!
//! - `processor`: the task's life cycle, top to bottom: serve, drain,
//!   close, account.
//! - `batch`: the lines taken from the queue and not yet written.
//! - `transport`: the sockets it writes to, one file per kind of socket and
//!   one per protocol.
//! - `telemetry`: the connector's own stats, queued as metrics;
//!   `telemetry_sink`: their own server, when they have one.
//! - `resolve`: following a server that moves (re-resolution, the Unix
//!   socket file's inode).

pub(crate) mod batch;
pub(crate) mod processor;
pub(crate) mod resolve;
pub(crate) mod telemetry;
pub(crate) mod telemetry_sink;
pub(crate) mod transport;
