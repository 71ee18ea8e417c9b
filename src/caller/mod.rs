//! The caller's side: everything here runs on the thread that emits a
//! metric, never waits, and never touches a socket.
//!
//! - `connector`: the [`Connector`](crate::Connector) handle: build, start,
//!   stop, state, stats; the entry points that are not verbs
//!   (`send_line`, `inject_metric`).
//! - `verbs`: the [`Metrics`](crate::Metrics) trait, the verbs every handle
//!   speaks (`incr`, `gauge`, `timing` ...).
//! - `scoped`: [`Scoped`](crate::Scoped), tags and a sample rate for a few
//!   calls.
//! - `dogstatsd`: DogStatsD events and service checks
//!   ([`Connector::event`](crate::Connector::event),
//!   [`Connector::service_check`](crate::Connector::service_check)).
//! - `emit`: the pipeline every call ends in: validate, sample, aggregate or
//!   format, queue.
//! - `relay`: DogStatsD lines relayed as written (`send_line` on a
//!   DogStatsD connector).
//! - `sampling`: the per-thread random draw.
//! - `counter`, `timer`: the [`Counter`](crate::Counter) handle and the
//!   timers.
//! - `blocking`: waiting for a stop from a thread without a runtime.
//! - `build`: [`Builder::build`](crate::Builder::build), a checked
//!   configuration made into a connector.

pub(crate) mod blocking;
mod build;
pub(crate) mod connector;
pub(crate) mod counter;
pub(crate) mod dogstatsd;
pub(crate) mod emit;
pub(crate) mod relay;
pub(crate) mod sampling;
pub(crate) mod scoped;
pub(crate) mod timer;
pub(crate) mod verbs;
