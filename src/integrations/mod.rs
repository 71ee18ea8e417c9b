//! Integrations with the crates around us, each behind its cargo feature so
//! that the default build pulls in none of them.
//!
//! | feature | module | what |
//! |---|---|---|
//! | `metrics` | [`metrics`] | a `metrics::Recorder`: `metrics::counter!` and friends reach statsd |
//! | `tower` | [`tower`] | a `tower::Layer` that times and counts HTTP requests |

#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "tower")]
pub mod tower;
