//! The integration tests of statsd-connector, in one binary: each module
//! pins one area of the public API against a server on loopback (the
//! in-process capture server, the test kit's fault server, or a socket of the
//! test's own). Rules followed throughout: no fixed ports, no sleeping in the
//! hope that something happened, every await bounded.
//!
//! Two kinds of test live apart: `tests/properties.rs` (property tests) and
//! `tests/no_alloc.rs`, which installs a counting global allocator that must
//! not count what other tests allocate.

mod aggregation;
mod behaviour;
mod blocking;
mod datadog_config;
mod dns_refresh;
mod dogstatsd_events;
#[cfg(unix)]
mod dogstatsd_transport;
mod faults;
mod hardening_lifecycle;
mod hardening_wire;
#[cfg(all(feature = "metrics", feature = "tower"))]
mod integrations;
mod relay;
mod smoke;
mod tag_guard;
mod telemetry;
#[cfg(unix)]
mod unix;
