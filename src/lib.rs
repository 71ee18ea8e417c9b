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
//! The folders say which side of the queue code runs on.
//!
//! - `caller/` — on the thread that emits, never waiting:
//!   `connector` ([`Connector`]: build, start, stop, state, stats),
//!   `verbs` (the [`Metrics`] trait: `incr`, `gauge`, `timing` ...),
//!   `scoped` ([`Scoped`]: tags, a sample rate, a timestamp, a
//!   cardinality), `emit` (the pipeline every call ends in), `dogstatsd`
//!   (events and service checks), `relay` (DogStatsD lines relayed as
//!   written by [`Connector::send_line`]), `sampling`, `counter` ([`Counter`]),
//!   `timer` ([`Timer`], [`TimerGuard`]), `blocking`.
//! - `wire/` — pure code, no I/O: `metric` ([`MetricType`], [`TagFormat`],
//!   [`Cardinality`]), `validate` (refuse what would break a line), `format`
//!   (write one line into a byte buffer with `itoa`/`zmij`, no allocation),
//!   `line` ([`Line`], reading a metric line back), `event` and
//!   `service_check` ([`Event`], [`ServiceCheck`]: checked and written),
//!   `dogstatsd_parse` and `datagram` ([`Datagram`]: reading any line back),
//!   `conformance` (Datadog's own test cases, as tables).
//! - `shared/` — what both sides share, depending on neither: `queue` (the
//!   bounded per-thread buffers; full means dropped and counted, never
//!   waiting), `slot` (one thread's buffer: the lock-free hand-off, its
//!   unsafe code behind the `SlotOwner` token), `loom` (the model
//!   checker's one switch), `ledger` ([`Stats`]: every metric accounted for), `state`
//!   ([`State`]), `stop` (the stop request and its deadline), `aggregate`
//!   (opt-in client-side aggregation and DogStatsD value packing),
//!   `cardinality` (the cap on tag sets per name), `random`, `throttle`.
//! - `background/` — on the processor task: `processor` (serve, drain,
//!   close, account), `batch` (what it took from the queue), `transport/`
//!   (`stream` and `datagram` write, `tcp`, `udp`, `unix` connect),
//!   `resolve` (following a server that moves: re-resolution, the Unix
//!   socket file's inode), `telemetry` (its own stats as metrics) and
//!   `telemetry_sink` (their own server, when they have one).
//! - `config/` — [`Builder`] and [`Config`], checked once; `address` (the
//!   address URLs), `env` and `datadog_env` (the `STATSD_*` and `DD_*`
//!   environment), `origin` (container detection for DogStatsD),
//!   `operations` (address refresh, telemetry address, tag-set cap).
//! - [`integrations`] — the `metrics` facade recorder and the tower layer,
//!   behind their features.
//! - `testing` (feature `testing`) — an in-process capture server for tests,
//!   demos and benchmarks.
//!
//! # Wire format
//!
//! ```text
//! <prefix.><type prefix.>name:value|type[|@rate][|#tag:value,...]\n
//! ```
//!
//! See [`MetricType`] for each type and [`TagFormat`] for the tag dialects.

#![warn(missing_docs, unreachable_pub)]
#![warn(
    clippy::must_use_candidate,
    clippy::missing_errors_doc,
    clippy::missing_panics_doc,
    clippy::return_self_not_must_use,
    // Every `unsafe` block says why it is sound, for a reviewer to check
    // against the loom model of the queue (`shared/slot.rs`).
    clippy::undocumented_unsafe_blocks
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod background;
mod caller;
mod config;
mod error;
pub mod integrations;
mod shared;
#[cfg(feature = "testing")]
pub mod testing;
mod wire;

pub use caller::connector::{Connector, StopReport};
pub use caller::counter::Counter;
pub use caller::scoped::Scoped;
pub use caller::timer::{Timer, TimerGuard};
pub use caller::verbs::Metrics;
pub use config::{
    Builder, Config, Framing, Protocol, Resolver, DEFAULT_DNS_REFRESH, DEFAULT_MAX_PAYLOAD,
    DEFAULT_PORT, DEFAULT_QUEUE_CAPACITY, DEFAULT_TAG_SET_WINDOW, DEFAULT_UNIX_MAX_PAYLOAD,
};
pub use error::{Error, ErrorKind, Reason, Result};
pub use shared::ledger::Stats;
pub use shared::state::State;
pub use wire::datagram::Datagram;
pub use wire::dogstatsd_parse::{DatagramKind, ParsedEvent, ParsedServiceCheck};
pub use wire::event::{AlertType, Event, EventPriority};
pub use wire::line::Line;
pub use wire::metric::{Cardinality, MetricType, TagFormat};
pub use wire::service_check::{ServiceCheck, ServiceCheckStatus};
pub use wire::validate::{MAX_LINE_LENGTH, MAX_NAME_LENGTH};
