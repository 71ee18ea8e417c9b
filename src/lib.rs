//! A statsd client that never blocks the code that emits a metric, never loses
//! a metric it could have delivered, and accounts for every one it could not.
//!
//! # Quick start
//!
//! ```no_run
//! use statsd_connector::{Connector, Metrics};
//!
//! # #[tokio::main] async fn main() -> Result<(), statsd_connector::Error> {
//! let statsd = Connector::builder().host("127.0.0.1").port(8125).prefix("app").build()?;
//! statsd.start().await?;                 // the processor task runs from here
//! statsd.incr("requests")?;              // app.requests:1|c, queued, no .await
//! statsd.timing("db", std::time::Duration::from_millis(3))?;
//! statsd.stop().await;                   // delivers what is queued, then closes
//! # Ok(()) }
//! ```
//!
//! # The map: one metric, from `incr()` to the socket
//!
//! - [`config`]: [`Builder`] and [`Config`], checked once; `STATSD_*` environment.
//! - [`connector`]: [`Connector`], the cloneable handle; start, stop, state, stats.
//! - [`metrics`]: the [`Metrics`] verbs (`incr`, `gauge`, `timing` ...), tags and
//!   sample rates through [`Scoped`].
//! - `validate` then `format`: refuse what would break a line, then write the line
//!   into a byte buffer with `itoa`/`ryu`, no allocation.
//! - `queue`: the bounded, sharded buffers the lines wait in; full means dropped
//!   and counted, never waiting.
//! - `processor`: the background task: connect, take whole buffers, write,
//!   reconnect, drain on stop.
//! - `batch` and `transport`: what the processor holds, and the TCP and UDP
//!   sockets it writes to (vectored writes, `sendmmsg`).
//! - `aggregate`: the opt-in client-side aggregation (sums, last values,
//!   distinct members per flush interval) and the [`Counter`] handle.
//! - [`stats`], [`state`]: counters that account for every metric, and the
//!   running/connected state as a `watch` channel; `telemetry` sends those
//!   counters as metrics, when asked to.
//! - [`line`](mod@line): the statsd grammar, for reading lines back.
//! - [`integrations`]: the `metrics` facade recorder and the tower layer,
//!   behind their features.
//! - `testing` (feature `testing`): an in-process capture server for tests,
//!   demos and benchmarks.
//!
//! # Wire format
//!
//! ```text
//! <prefix.><type prefix.>name:value|type[|@rate][|#tag:value,...]\n
//! ```
//!
//! See [`MetricType`] for each type and [`TagFormat`] for the tag dialects.

#![warn(missing_docs)]

mod aggregate;
mod batch;
mod blocking;
pub mod config;
pub mod connector;
mod error;
mod format;
pub mod integrations;
pub mod line;
pub mod metric;
pub mod metrics;
mod processor;
mod queue;
pub mod state;
pub mod stats;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod throttle;
mod timer;
mod transport;
mod validate;

pub use aggregate::Counter;
pub use config::{
    Builder, Config, Protocol, Resolver, DEFAULT_MAX_PAYLOAD, DEFAULT_PORT, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_UNIX_MAX_PAYLOAD,
};
pub use connector::{Connector, StopReport};
pub use error::{Error, Reason, Result};
pub use line::Line;
pub use metric::{MetricType, TagFormat};
pub use metrics::{Metrics, Scoped};
pub use state::State;
pub use stats::Stats;
pub use timer::{Timer, TimerGuard};
pub use validate::{MAX_LINE_LENGTH, MAX_NAME_LENGTH};

/// Everything needed to emit metrics: `use statsd_connector::prelude::*;`.
pub mod prelude {
    pub use crate::{Connector, Metrics};
}
