//! `statsd_connector._native.Connector`: the library's [`Connector`] for
//! Python.
//!
//! Metric calls keep the GIL (they are shorter than releasing it would be)
//! and go straight to the library: validate, format into the queue, return.
//! A full queue or a stopped connector is counted and logged by the library,
//! never raised. Start and stop release the GIL; the processor always runs on
//! the library's own background thread (`start_blocking`), whether Python
//! starts it from asyncio or from a plain thread, so no Python thread ever
//! waits on the network and the processor never needs the GIL.
//!
//! The handle sits behind an [`AtomicPtr`] so that a forked child can swap in
//! a fresh connector (same configuration, empty queue) without touching the
//! parent's, whose locks a thread absent from the child may hold: the old one
//! is leaked in the child, never dropped.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyInt;
use statsd_connector::{
    AlertType, Builder, Cardinality, Connector, Error, ErrorKind, Event, EventPriority, Framing,
    Metrics, Protocol, ServiceCheck, ServiceCheckStatus, StopReport, TagFormat,
};

use crate::convert::{duration, seconds, text, Pairs, Tags};
use crate::errors::{config_error, to_py};
use crate::gate;
use crate::stats::{PyStats, PyStopReport};

/// How long an exit-time stop waits past its deadline for the processor to
/// confirm that it exited.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The native connector; `statsd_connector.Connector` subclasses it.
#[pyclass(
    frozen,
    subclass,
    module = "statsd_connector._native",
    name = "Connector"
)]
pub(crate) struct PyConnector {
    /// The library's handle: owned (a `Box`), swapped and leaked after fork.
    current: AtomicPtr<Connector>,
    /// Started and not stopped since: a forked child starts its own.
    started: AtomicBool,
    /// The deadline of the stop made at interpreter exit.
    exit_timeout: Duration,
    /// The process `current` belongs to: a forked child that drops a
    /// connector it did not renew leaks it instead (its locks may be held by
    /// threads that exist only in the parent).
    pid: AtomicU32,
}

impl Drop for PyConnector {
    fn drop(&mut self) {
        let current = *self.current.get_mut();
        if !current.is_null() && *self.pid.get_mut() == std::process::id() {
            // SAFETY: `current` came from Box::into_raw and is owned by this
            // object; nothing else frees it. Dropping the last handle asks
            // the processor to deliver what is queued and exit on its own.
            drop(unsafe { Box::from_raw(current) });
        }
    }
}

/// Applies `$f` to the connector, or to it scoped with tags and a rate.
macro_rules! emit {
    ($self:ident, $tags:ident, $rate:ident, |$m:ident| $call:expr) => {{
        let connector = $self.connector();
        let result = if $tags.is_none() && $rate.is_none() {
            let $m = connector;
            $call
        } else {
            let mut objects = Tags::default();
            objects.fill($tags)?;
            let mut pairs = Pairs::new();
            objects.pairs_into(&mut pairs)?;
            let scoped = connector.with_tags(&pairs);
            let scoped = match $rate {
                Some(rate) => scoped.sampled(rate),
                None => scoped,
            };
            let $m = &scoped;
            $call
        };
        outcome(result)
    }};
}

/// A metric call's result for Python: invalid input raises; a full queue or
/// a stopped connector was counted (and logged, throttled) by the library.
#[inline]
fn outcome(result: Result<(), Error>) -> PyResult<()> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.is_queue_full() || matches!(error.kind(), ErrorKind::Stopped) => Ok(()),
        Err(error) => Err(to_py(error)),
    }
}

/// Stops `connector` within `timeout` (its own stop timeout when `None`),
/// waiting on this thread (no GIL held by the caller of this function).
fn stop_now(connector: &Connector, timeout: Option<Duration>) -> Result<StopReport, Error> {
    let Some(timeout) = timeout else {
        return connector.stop_blocking();
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    runtime
        .block_on(async {
            tokio::time::timeout(timeout + STOP_GRACE, connector.stop_with_timeout(timeout)).await
        })
        .map_err(|_| Error::from(ErrorKind::StopTimedOut))
}

fn parse<T: std::str::FromStr<Err = Error>>(setting: &str, value: &str) -> PyResult<T> {
    value.parse::<T>().map_err(|error| {
        let mut err = to_py(error);
        // Name the keyword the Python caller used.
        Python::attach(|py| {
            if err.is_instance_of::<crate::errors::ConfigurationError>(py) {
                let _ = err.value(py).setattr("setting", setting);
            } else {
                err = config_error(setting, value, "not a known value");
            }
        });
        err
    })
}

#[pymethods]
impl PyConnector {
    /// See `statsd_connector.Connector` for the keywords.
    #[new]
    #[pyo3(signature = (
        host=None, port=None, protocol=None, prefix=None, tags=None, *,
        from_env=false, enabled=None, type_prefixes=None, application_prefix=None,
        dogstatsd=None, tag_format=None, queue_capacity=None, emitting_threads=None,
        reconnect_sleep=None, wait_timeout=None, batch_delay=None, connect_timeout=None,
        stop_timeout=None, max_payload=None, aggregate=None, telemetry=None,
        max_samples_per_context=None, framing=None, origin_detection=None,
        container_id=None, cardinality=None, exit_timeout=None, dns_refresh=None,
        telemetry_address=None, max_tag_sets=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        host: Option<&Bound<'_, PyAny>>,
        port: Option<&Bound<'_, PyAny>>,
        protocol: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
        from_env: bool,
        enabled: Option<bool>,
        type_prefixes: Option<bool>,
        application_prefix: Option<(String, String)>,
        dogstatsd: Option<bool>,
        tag_format: Option<&Bound<'_, PyAny>>,
        queue_capacity: Option<usize>,
        emitting_threads: Option<usize>,
        reconnect_sleep: Option<&Bound<'_, PyAny>>,
        wait_timeout: Option<&Bound<'_, PyAny>>,
        batch_delay: Option<&Bound<'_, PyAny>>,
        connect_timeout: Option<&Bound<'_, PyAny>>,
        stop_timeout: Option<&Bound<'_, PyAny>>,
        max_payload: Option<usize>,
        aggregate: Option<&Bound<'_, PyAny>>,
        telemetry: Option<&Bound<'_, PyAny>>,
        max_samples_per_context: Option<usize>,
        framing: Option<&Bound<'_, PyAny>>,
        origin_detection: Option<bool>,
        container_id: Option<&Bound<'_, PyAny>>,
        cardinality: Option<&Bound<'_, PyAny>>,
        exit_timeout: Option<&Bound<'_, PyAny>>,
        dns_refresh: Option<&Bound<'_, PyAny>>,
        telemetry_address: Option<&Bound<'_, PyAny>>,
        max_tag_sets: Option<usize>,
    ) -> PyResult<PyConnector> {
        let mut builder = if from_env {
            Builder::from_env_with(|name| std::env::var(name).ok()).map_err(to_py)?
        } else {
            Builder::default()
        };
        if let Some(host) = host.filter(|h| !h.is_none()) {
            builder = builder.host(text(host)?);
        }
        if let Some(port) = port.filter(|p| !p.is_none()) {
            builder = if port.is_instance_of::<PyInt>() {
                match port.extract::<u16>() {
                    Ok(number) => builder.port(number),
                    // Negative or too large: the library names the value.
                    Err(_) => builder.port_text(port.str()?.to_string()),
                }
            } else {
                builder.port_text(text(port)?)
            };
        }
        if let Some(protocol) = protocol.filter(|p| !p.is_none()) {
            builder = builder.protocol(parse::<Protocol>("protocol", text(protocol)?)?);
        }
        if let Some(prefix) = prefix {
            builder = if prefix.is_none() {
                builder.no_prefix()
            } else {
                builder.prefix(text(prefix)?)
            };
        }
        if let Some((service, environment)) = &application_prefix {
            builder = builder.application_prefix(service, environment);
        }
        let global = Tags::collect(tags)?;
        for (key, value) in global.pairs()? {
            builder = builder.global_tag(key, value);
        }
        if let Some(on) = enabled {
            builder = builder.enabled(on);
        }
        if let Some(on) = type_prefixes {
            builder = builder.type_prefixes(on);
        }
        if let Some(on) = dogstatsd {
            builder = builder.dogstatsd(on);
        }
        if let Some(format) = tag_format {
            builder = builder.tag_format(parse::<TagFormat>("tag_format", text(format)?)?);
        }
        if let Some(capacity) = queue_capacity {
            builder = builder.queue_capacity(capacity);
        }
        if let Some(threads) = emitting_threads {
            builder = builder.emitting_threads(threads);
        }
        if let Some(value) = reconnect_sleep {
            builder = builder.reconnect_sleep(duration("reconnect_sleep", value)?);
        }
        if let Some(value) = wait_timeout {
            builder = builder.wait_timeout(duration("wait_timeout", value)?);
        }
        if let Some(value) = batch_delay {
            builder = builder.batch_delay(duration("batch_delay", value)?);
        }
        if let Some(value) = connect_timeout {
            builder = builder.connect_timeout(duration("connect_timeout", value)?);
        }
        if let Some(value) = stop_timeout {
            builder = builder.stop_timeout(duration("stop_timeout", value)?);
        }
        if let Some(bytes) = max_payload {
            builder = builder.max_payload(bytes);
        }
        if let Some(value) = aggregate {
            builder = builder.aggregate(duration("aggregate", value)?);
        }
        if let Some(value) = telemetry {
            builder = builder.telemetry(duration("telemetry", value)?);
        }
        if let Some(samples) = max_samples_per_context {
            builder = builder.max_samples_per_context(samples);
        }
        if let Some(framing) = framing {
            let framing = match text(framing)? {
                "newline" => Framing::Newline,
                "length-prefixed" | "length_prefixed" => Framing::LengthPrefixed,
                other => {
                    return Err(config_error(
                        "framing",
                        other,
                        "expected \"newline\" or \"length-prefixed\"",
                    ))
                }
            };
            builder = builder.framing(framing);
        }
        if let Some(on) = origin_detection {
            builder = builder.origin_detection(on);
        }
        if let Some(id) = container_id {
            builder = builder.container_id(text(id)?);
        }
        if let Some(value) = cardinality {
            builder = builder.cardinality(parse::<Cardinality>("cardinality", text(value)?)?);
        }
        if let Some(value) = dns_refresh {
            builder = builder.dns_refresh(duration("dns_refresh", value)?);
        }
        if let Some(address) = telemetry_address {
            builder = builder.telemetry_address(text(address)?);
        }
        if let Some(limit) = max_tag_sets {
            builder = builder.max_tag_sets(limit);
        }
        let exit_timeout = match exit_timeout {
            Some(value) => duration("exit_timeout", value)?,
            None => Duration::from_secs(2),
        };
        let connector = builder.build().map_err(to_py)?;
        Ok(PyConnector {
            current: AtomicPtr::new(Box::into_raw(Box::new(connector))),
            started: AtomicBool::new(false),
            exit_timeout,
            pid: AtomicU32::new(std::process::id()),
        })
    }

    // ----- metric calls -------------------------------------------------

    /// Adds `value` (default 1) to a counter: `name:value|c`.
    #[pyo3(signature = (name, value=1, *, tags=None, sample_rate=None))]
    pub(crate) fn incr(
        &self,
        name: &Bound<'_, PyAny>,
        value: i64,
        tags: Option<&Bound<'_, PyAny>>,
        sample_rate: Option<f64>,
    ) -> PyResult<()> {
        let name = text(name)?;
        if value == 1 {
            emit!(self, tags, sample_rate, |m| m.incr(name))
        } else {
            emit!(self, tags, sample_rate, |m| m.count(name, value))
        }
    }

    /// Subtracts `value` (default 1) from a counter: `name:-value|c`.
    #[pyo3(signature = (name, value=1, *, tags=None, sample_rate=None))]
    pub(crate) fn decr(
        &self,
        name: &Bound<'_, PyAny>,
        value: i64,
        tags: Option<&Bound<'_, PyAny>>,
        sample_rate: Option<f64>,
    ) -> PyResult<()> {
        let name = text(name)?;
        emit!(self, tags, sample_rate, |m| m.decr_by(name, value))
    }

    /// Sets a gauge (`name:value|g`; a negative value is sent as `0` then the
    /// value), or with `delta=True` adjusts it (`name:+value|g`).
    #[pyo3(signature = (name, value, *, delta=false, tags=None, sample_rate=None))]
    pub(crate) fn gauge(
        &self,
        name: &Bound<'_, PyAny>,
        value: f64,
        delta: bool,
        tags: Option<&Bound<'_, PyAny>>,
        sample_rate: Option<f64>,
    ) -> PyResult<()> {
        let name = text(name)?;
        if delta {
            emit!(self, tags, sample_rate, |m| m.gauge_delta(name, value))
        } else {
            emit!(self, tags, sample_rate, |m| m.gauge(name, value))
        }
    }

    /// Records a duration given in seconds (float) or as a `timedelta`, sent
    /// in milliseconds: `name:ms|ms`.
    #[pyo3(signature = (name, seconds, *, tags=None, sample_rate=None))]
    pub(crate) fn timing(
        &self,
        name: &Bound<'_, PyAny>,
        seconds: &Bound<'_, PyAny>,
        tags: Option<&Bound<'_, PyAny>>,
        sample_rate: Option<f64>,
    ) -> PyResult<()> {
        let name = text(name)?;
        let secs = self::seconds(seconds)?;
        emit!(self, tags, sample_rate, |m| m.timing_secs(name, secs))
    }

    /// Records a histogram value: `name:value|h`.
    #[pyo3(signature = (name, value, *, tags=None, sample_rate=None))]
    pub(crate) fn histogram(
        &self,
        name: &Bound<'_, PyAny>,
        value: f64,
        tags: Option<&Bound<'_, PyAny>>,
        sample_rate: Option<f64>,
    ) -> PyResult<()> {
        let name = text(name)?;
        emit!(self, tags, sample_rate, |m| m.histogram(name, value))
    }

    /// Records a distribution value: `name:value|d`.
    #[pyo3(signature = (name, value, *, tags=None, sample_rate=None))]
    pub(crate) fn distribution(
        &self,
        name: &Bound<'_, PyAny>,
        value: f64,
        tags: Option<&Bound<'_, PyAny>>,
        sample_rate: Option<f64>,
    ) -> PyResult<()> {
        let name = text(name)?;
        emit!(self, tags, sample_rate, |m| m.distribution(name, value))
    }

    /// Adds a member to a set: `name:member|s` (a non-str member is sent as
    /// `str(member)`).
    #[pyo3(signature = (name, member, *, tags=None, sample_rate=None))]
    pub(crate) fn set(
        &self,
        name: &Bound<'_, PyAny>,
        member: &Bound<'_, PyAny>,
        tags: Option<&Bound<'_, PyAny>>,
        sample_rate: Option<f64>,
    ) -> PyResult<()> {
        let name = text(name)?;
        let converted;
        let member = if member.is_instance_of::<pyo3::types::PyString>() {
            text(member)?
        } else {
            converted = member.str()?.into_any();
            text(&converted)?
        };
        emit!(self, tags, sample_rate, |m| m.set(name, member))
    }

    /// Sends a DogStatsD event (the server must be declared `dogstatsd=True`).
    #[pyo3(signature = (
        title, text, *, timestamp=None, hostname=None, aggregation_key=None,
        priority=None, source_type=None, alert_type=None, tags=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        title: &Bound<'_, PyAny>,
        text: &Bound<'_, PyAny>,
        timestamp: Option<u64>,
        hostname: Option<&Bound<'_, PyAny>>,
        aggregation_key: Option<&Bound<'_, PyAny>>,
        priority: Option<&Bound<'_, PyAny>>,
        source_type: Option<&Bound<'_, PyAny>>,
        alert_type: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let objects = Tags::collect(tags)?;
        let pairs = objects.pairs()?;
        let mut event = Event::new(self::text(title)?, self::text(text)?).tags(&pairs);
        if let Some(timestamp) = timestamp {
            event = event.timestamp(timestamp);
        }
        if let Some(hostname) = hostname {
            event = event.hostname(self::text(hostname)?);
        }
        if let Some(key) = aggregation_key {
            event = event.aggregation_key(self::text(key)?);
        }
        if let Some(priority) = priority {
            event = event.priority(
                self::text(priority)?
                    .parse::<EventPriority>()
                    .map_err(to_py)?,
            );
        }
        if let Some(source_type) = source_type {
            event = event.source_type(self::text(source_type)?);
        }
        if let Some(alert_type) = alert_type {
            event = event.alert_type(
                self::text(alert_type)?
                    .parse::<AlertType>()
                    .map_err(to_py)?,
            );
        }
        outcome(self.connector().event(&event))
    }

    /// Sends a DogStatsD service check; `status` is 0-3 or `"ok"`,
    /// `"warning"`, `"critical"`, `"unknown"`.
    #[pyo3(signature = (name, status, *, timestamp=None, hostname=None, tags=None, message=None))]
    fn service_check(
        &self,
        name: &Bound<'_, PyAny>,
        status: &Bound<'_, PyAny>,
        timestamp: Option<u64>,
        hostname: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
        message: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let status = if status.is_instance_of::<PyInt>() {
            status.str()?.to_string()
        } else {
            text(status)?.to_string()
        };
        let status = status
            .parse::<ServiceCheckStatus>()
            .map_err(|error| crate::errors::InvalidFieldError::new_err(error.to_string()))?;
        let objects = Tags::collect(tags)?;
        let pairs = objects.pairs()?;
        let mut check = ServiceCheck::new(text(name)?, status).tags(&pairs);
        if let Some(timestamp) = timestamp {
            check = check.timestamp(timestamp);
        }
        if let Some(hostname) = hostname {
            check = check.hostname(text(hostname)?);
        }
        if let Some(message) = message {
            check = check.message(text(message)?);
        }
        outcome(self.connector().service_check(&check))
    }

    /// The original's raw call: `path:value|type_code`, validated.
    fn inject_metric(
        &self,
        path: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        type_code: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let converted;
        let value = if value.is_instance_of::<pyo3::types::PyString>() {
            text(value)?
        } else {
            converted = value.str()?.into_any();
            text(&converted)?
        };
        outcome(
            self.connector()
                .inject_metric(text(path)?, value, text(type_code)?),
        )
    }

    /// A statsd line as text (any tag dialect, or a DogStatsD event or
    /// service check), validated; the prefix and global tags are applied.
    fn send_line(&self, line: &Bound<'_, PyAny>) -> PyResult<()> {
        outcome(self.connector().send_line(text(line)?))
    }

    // ----- life -------------------------------------------------------------

    /// Starts the processor on its own background thread and returns once it
    /// runs (it does not wait for a connection). Starting a running connector
    /// does nothing.
    fn start_blocking(&self, py: Python<'_>) -> PyResult<()> {
        let connector = self.connector().clone();
        py.detach(|| connector.start_blocking()).map_err(to_py)?;
        self.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Delivers what is queued (within `timeout` seconds, else the
    /// connector's `stop_timeout`), closes the connection, and returns a
    /// `StopReport`. Stopping twice, or before start, is harmless.
    #[pyo3(signature = (timeout=None))]
    fn stop_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyStopReport> {
        let timeout = timeout.map(|t| duration("timeout", t)).transpose()?;
        let connector = self.connector().clone();
        self.started.store(false, Ordering::Release);
        let report = py.detach(|| stop_now(&connector, timeout)).map_err(to_py)?;
        Ok(PyStopReport::from(report))
    }

    /// The asyncio `stop()`'s engine: stops on a thread of its own, then
    /// calls `callback(report, error)` with the GIL (unless the interpreter
    /// is exiting by then).
    #[pyo3(signature = (callback, timeout=None))]
    fn _stop_in_background(
        &self,
        callback: Py<PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let timeout = timeout.map(|t| duration("timeout", t)).transpose()?;
        let connector = self.connector().clone();
        self.started.store(false, Ordering::Release);
        std::thread::Builder::new()
            .name("statsd-connector-stop".into())
            .spawn(move || {
                let result = stop_now(&connector, timeout);
                let mut callback = Some(callback);
                let _ = gate::with_python(|py| {
                    let Some(callback) = callback.take() else {
                        return;
                    };
                    let outcome = match result {
                        Ok(report) => Py::new(py, PyStopReport::from(report))
                            .and_then(|report| callback.call1(py, (report, py.None()))),
                        Err(error) => callback.call1(py, (py.None(), to_py(error).into_value(py))),
                    };
                    if let Err(error) = outcome {
                        error.write_unraisable(py, None);
                    }
                });
                // Still here: the interpreter is exiting, and no Python
                // object may be touched, not even to release it.
                std::mem::forget(callback);
            })
            .map_err(|error| to_py(Error::from(ErrorKind::Io(error))))?;
        Ok(())
    }

    /// At interpreter exit: stops a running connector within its
    /// `exit_timeout`. Never raises and never waits past the deadline (plus
    /// a one-second grace).
    fn _stop_at_exit(&self, py: Python<'_>) {
        if !self.started.swap(false, Ordering::AcqRel) {
            return;
        }
        let connector = self.connector().clone();
        let timeout = self.exit_timeout;
        let _ = py.detach(|| stop_now(&connector, Some(timeout)));
    }

    /// In a forked child (called by the `os.register_at_fork` hook): a fresh
    /// connector with the same configuration and an empty queue replaces the
    /// parent's, which is left untouched (and leaked); it is started if the
    /// parent's was.
    fn _after_fork_in_child(&self, py: Python<'_>) -> PyResult<()> {
        let old = self.current.load(Ordering::Acquire);
        // SAFETY: handles are only freed by Drop, which cannot run while
        // `self` is borrowed.
        let config = unsafe { &*old }.config().clone();
        let fresh = Box::into_raw(Box::new(Connector::new(config)));
        self.current.store(fresh, Ordering::Release);
        self.pid.store(std::process::id(), Ordering::Release);
        if self.started.load(Ordering::Acquire) {
            self.started.store(false, Ordering::Release);
            self.start_blocking(py)?;
        }
        Ok(())
    }

    // ----- state ------------------------------------------------------------

    /// The library's counters, as a `Stats` snapshot.
    fn stats(&self) -> PyStats {
        PyStats::from(self.connector().stats())
    }

    /// Is the processor running?
    #[getter]
    fn is_running(&self) -> bool {
        self.connector().is_running()
    }

    /// Is the processor stopped (never started, or stopped)?
    #[getter]
    fn is_stopped(&self) -> bool {
        self.connector().is_stopped()
    }

    /// Is the processor connected to the server?
    #[getter]
    fn is_connected(&self) -> bool {
        self.connector().is_connected()
    }

    /// Why the last connection or write failed, if one did.
    #[getter]
    fn last_error(&self) -> Option<String> {
        self.connector().last_error()
    }

    /// The configured host (or address).
    #[getter]
    fn host(&self) -> String {
        self.connector().config().host().to_string()
    }

    /// The configured port.
    #[getter]
    fn port(&self) -> u16 {
        self.connector().config().port()
    }

    /// The configured prefix, if any.
    #[getter]
    fn prefix(&self) -> Option<String> {
        self.connector().config().prefix().map(str::to_string)
    }

    /// The configured protocol: `"tcp"`, `"udp"`, `"unix"` or `"unixgram"`.
    #[getter]
    fn protocol(&self) -> &'static str {
        match self.connector().config().protocol() {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Unix => "unix",
            Protocol::Unixgram => "unixgram",
            _ => "other",
        }
    }

    /// Does this connector send anything at all?
    #[getter]
    fn enabled(&self) -> bool {
        self.connector().config().enabled()
    }

    /// Is the server declared DogStatsD?
    #[getter]
    fn dogstatsd(&self) -> bool {
        self.connector().config().is_dogstatsd()
    }

    /// The bound of the queue, in metrics.
    #[getter]
    fn queue_capacity(&self) -> usize {
        self.connector().config().queue_capacity()
    }

    fn __repr__(&self) -> String {
        let connector = self.connector();
        let config = connector.config();
        format!(
            "<statsd_connector.Connector {}:{} prefix={:?} running={}>",
            config.host(),
            config.port(),
            config.prefix().unwrap_or(""),
            if connector.is_running() {
                "True"
            } else {
                "False"
            },
        )
    }
}

impl PyConnector {
    #[inline]
    fn connector(&self) -> &Connector {
        let current = self.current.load(Ordering::Acquire);
        debug_assert!(!current.is_null());
        // SAFETY: always a live Box (set in `new`, replaced only by a new live
        // Box in a forked child with the old one leaked, freed only by Drop).
        unsafe { &*current }
    }
}
