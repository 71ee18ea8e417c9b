//! The native half of the `statsd_connector` Python package: the library's
//! public API, wrapped for CPython (abi3, 3.9 and later). No engine of its
//! own: every metric goes through `statsd_connector::Connector`.
//!
//! - `connector` — `Connector`: every builder option as a keyword, the
//!   metric calls, start and stop (blocking, and the engine of the asyncio
//!   ones), state, the fork and exit hooks.
//! - `convert` — Python values to what the library takes: names borrowed
//!   as `&str` without a copy, tags, seconds and `timedelta`.
//! - `fastcall` — the metric calls through the vectorcall protocol (no
//!   dict per call with keywords, on every CPython from 3.9).
//! - `errors` — the `ValueError` subclasses, and the mapping from the
//!   library's `ErrorKind`.
//! - `stats` — `Stats` and `StopReport` snapshots.
//! - `logs` — the library's `tracing` events to Python `logging`, through a
//!   thread of its own so that no metric call or processor ever waits for
//!   the GIL.
//! - `gate` — the one door through which a Rust thread enters Python, shut
//!   at interpreter exit.
//! - `capture` — the library's capture server, for tests.
//!
//! The Python layer (`python/statsd_connector/`) adds the asyncio `start` and
//! `stop`, timers, the `atexit` and `os.register_at_fork` hooks and the
//! sprockets-statsd drop-in.

// Every `unsafe` block (the CPython C API the fast paths call) says why it
// is sound.
#![warn(clippy::undocumented_unsafe_blocks)]

use pyo3::prelude::*;

mod capture;
mod connector;
mod convert;
mod errors;
mod fastcall;
mod gate;
mod logs;
mod stats;

/// Interpreter exit (the `atexit` hook, after connectors are stopped): from
/// here on no background thread enters Python.
#[pyfunction]
fn _close_python_gate(py: Python<'_>) {
    gate::close(py);
}

/// In a forked child (the `os.register_at_fork` hook, before connectors are
/// renewed): a fresh gate and log thread, the parent's being absent.
#[pyfunction]
fn _after_fork_in_child() {
    gate::reset_after_fork();
    logs::reset_after_fork();
}

/// Forwards the library's log events at `level` (a `logging` level number)
/// and above; the default is `logging.INFO`.
#[pyfunction]
fn set_log_level(level: u8) {
    logs::set_level(level);
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<connector::PyConnector>()?;
    fastcall::install(&module.py().get_type::<connector::PyConnector>())?;
    module.add_class::<stats::PyStats>()?;
    module.add_class::<stats::PyStopReport>()?;
    module.add_class::<capture::PyCaptureServer>()?;
    errors::register(module)?;
    module.add_function(wrap_pyfunction!(_close_python_gate, module)?)?;
    module.add_function(wrap_pyfunction!(_after_fork_in_child, module)?)?;
    module.add_function(wrap_pyfunction!(set_log_level, module)?)?;
    module.add("DEFAULT_PORT", statsd_connector::DEFAULT_PORT)?;
    module.add(
        "DEFAULT_QUEUE_CAPACITY",
        statsd_connector::DEFAULT_QUEUE_CAPACITY,
    )?;
    logs::install();
    Ok(())
}
