//! `statsd_connector.testing.CaptureServer`: the library's in-process statsd
//! listener, for tests and benchmarks, on a small tokio runtime of its own.

use std::mem::ManuallyDrop;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyTimeoutError};
use pyo3::prelude::*;
use statsd_connector::testing::{CaptureServer, Listen};

use crate::convert::text;
use crate::errors::config_error;

/// A statsd server on 127.0.0.1 (an ephemeral port) that keeps what it
/// receives: `lines()`, `line_count`, `wait_for_lines(n, timeout)`.
#[pyclass(frozen, module = "statsd_connector._native", name = "CaptureServer")]
pub(crate) struct PyCaptureServer {
    /// Runs the server's socket tasks (one worker thread).
    runtime: ManuallyDrop<tokio::runtime::Runtime>,
    server: ManuallyDrop<CaptureServer>,
    /// The process that made it: a forked child has none of its threads.
    pid: u32,
}

impl Drop for PyCaptureServer {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // A forked child (a multiprocessing worker, say) dropping its
            // copy: the runtime's threads exist only in the parent, and
            // shutting it down would wait for them forever. Leak it.
            return;
        }
        // SAFETY: dropped once, here, and never used again.
        unsafe {
            ManuallyDrop::drop(&mut self.server);
            ManuallyDrop::drop(&mut self.runtime);
        }
    }
}

#[pymethods]
impl PyCaptureServer {
    /// Starts listening: `protocol` is `"tcp"`, `"udp"` or `"both"` (one port
    /// number); `count_only` counts lines without keeping or parsing them.
    #[new]
    #[pyo3(signature = (*, protocol=None, count_only=false))]
    fn new(
        py: Python<'_>,
        protocol: Option<&Bound<'_, PyAny>>,
        count_only: bool,
    ) -> PyResult<PyCaptureServer> {
        let listen = match protocol.map(text).transpose()? {
            None | Some("both") => Listen::Both,
            Some("tcp") => Listen::Tcp,
            Some("udp") => Listen::Udp,
            Some(other) => {
                return Err(config_error(
                    "protocol",
                    other,
                    "expected \"tcp\", \"udp\" or \"both\"",
                ))
            }
        };
        py.detach(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("statsd-capture")
                .enable_all()
                .build()?;
            let server = runtime.block_on(
                CaptureServer::builder()
                    .listen(listen)
                    .count_only(count_only)
                    .start(),
            )?;
            Ok::<_, std::io::Error>(PyCaptureServer {
                runtime: ManuallyDrop::new(runtime),
                server: ManuallyDrop::new(server),
                pid: std::process::id(),
            })
        })
        .map_err(|error| PyOSError::new_err(error.to_string()))
    }

    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.server.port()
    }

    /// Well-formed lines received so far, without their newline.
    fn lines(&self) -> Vec<String> {
        self.server.lines()
    }

    /// Lines that did not parse.
    fn malformed(&self) -> Vec<String> {
        self.server.malformed()
    }

    /// Lines received (well-formed or not) since start or `clear()`.
    #[getter]
    fn line_count(&self) -> u64 {
        self.server.line_count()
    }

    /// Bytes received.
    #[getter]
    fn byte_count(&self) -> u64 {
        self.server.byte_count()
    }

    /// TCP connections accepted.
    #[getter]
    fn connections(&self) -> u64 {
        self.server.connections()
    }

    /// Forgets what was received.
    fn clear(&self) {
        self.server.clear();
    }

    /// Waits (GIL released) until `n` lines arrived; returns the count.
    /// Raises `TimeoutError` with the count when `timeout` seconds pass.
    #[pyo3(signature = (n, timeout=10.0))]
    fn wait_for_lines(&self, py: Python<'_>, n: u64, timeout: f64) -> PyResult<u64> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|_| config_error("timeout", &timeout.to_string(), "expected seconds"))?;
        py.detach(|| {
            self.runtime
                .block_on(self.server.wait_for_lines(n, timeout))
        })
        .map_err(|error| PyTimeoutError::new_err(error.to_string()))
    }

    /// Stops listening (connections closed gracefully).
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.runtime.block_on(self.server.stop()));
    }

    /// Stops abruptly: connections are reset, as when a server dies.
    fn kill(&self, py: Python<'_>) {
        py.detach(|| self.runtime.block_on(self.server.kill()));
    }

    /// Listens again on the same port.
    fn restart(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.runtime.block_on(self.server.restart()))
            .map_err(|error| PyOSError::new_err(error.to_string()))
    }

    fn __repr__(&self) -> String {
        format!("<CaptureServer 127.0.0.1:{}>", self.server.port())
    }
}
