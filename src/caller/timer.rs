//! Timing a block of code: an explicit [`Timer`] and a [`TimerGuard`].
//!
//! The original connector's timer had `start`, `stop` and `send`, and raised
//! on misuse. Here misuse is an error of kind [`ErrorKind::TimerMisuse`](crate::ErrorKind::TimerMisuse) and nothing is sent, so
//! a mistake never turns into a wrong number on a dashboard.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::shared::Handle;
use crate::wire::metric::{MetricType, Value};

use super::emit::{self, Sampling};

/// Queues a timing for `name` through the handle's connector.
fn send_timing(handle: &Handle, name: &str, elapsed: Duration) -> Result<(), Error> {
    emit::emit(
        &handle.shared,
        name,
        Value::Duration(elapsed),
        MetricType::Timing,
        Sampling::Every,
        &[],
    )
}

/// A timer with explicit steps: [`start`](Timer::start), [`stop`](Timer::stop),
/// [`send`](Timer::send).
///
/// ```
/// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// let mut timer = statsd.timer("import.batch");
/// assert!(timer.stop().is_err());        // not started
/// timer.start()?;
/// // ... work ...
/// let elapsed = timer.stop()?;
/// timer.send()?;                         // import.batch:<elapsed ms>|ms
/// assert!(timer.send().is_err());        // sent already
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[must_use = "a timer measures nothing until it is started, stopped and sent"]
pub struct Timer {
    handle: Arc<Handle>,
    name: String,
    started: Option<Instant>,
    elapsed: Option<Duration>,
    sent: bool,
}

impl Timer {
    pub(crate) fn new(handle: Arc<Handle>, name: &str) -> Timer {
        Timer {
            handle,
            name: name.to_owned(),
            started: None,
            elapsed: None,
            sent: false,
        }
    }

    /// Starts timing. Starting twice is an error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimerMisuse`](crate::ErrorKind::TimerMisuse) when the timer was started already.
    pub fn start(&mut self) -> Result<(), Error> {
        if self.started.is_some() {
            return Err(Error::from(ErrorKind::TimerMisuse("start() called twice")));
        }
        self.started = Some(Instant::now());
        Ok(())
    }

    /// Stops timing and returns the elapsed time. Stopping before starting, or
    /// twice, is an error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimerMisuse`](crate::ErrorKind::TimerMisuse) when the timer was not started, or was stopped already.
    pub fn stop(&mut self) -> Result<Duration, Error> {
        let started = self.started.ok_or(Error::from(ErrorKind::TimerMisuse(
            "stop() called before start()",
        )))?;
        if self.elapsed.is_some() {
            return Err(Error::from(ErrorKind::TimerMisuse("stop() called twice")));
        }
        let elapsed = started.elapsed();
        self.elapsed = Some(elapsed);
        Ok(elapsed)
    }

    /// Sends the measured time. Sending before stopping, or twice, is an error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimerMisuse`](crate::ErrorKind::TimerMisuse) when the timer was not stopped, or was sent already.
    /// Otherwise as [`Metrics::timing`](crate::Metrics::timing): [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName)
    /// (the name is checked here, not when the timer was made) or
    /// [`ErrorKind::LineTooLong`](crate::ErrorKind::LineTooLong), counted in [`Stats::rejected`](crate::Stats::rejected);
    /// [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) or [`ErrorKind::Stopped`](crate::ErrorKind::Stopped), counted in
    /// [`Stats::dropped`](crate::Stats::dropped).
    pub fn send(&mut self) -> Result<(), Error> {
        let elapsed = self.elapsed.ok_or(Error::from(ErrorKind::TimerMisuse(
            "send() called before stop()",
        )))?;
        if self.sent {
            return Err(Error::from(ErrorKind::TimerMisuse("send() called twice")));
        }
        self.sent = true;
        send_timing(&self.handle, &self.name, elapsed)
    }
}

/// Times from its creation to its drop, and sends the timing on drop.
/// Made by [`Connector::time`](crate::Connector::time).
///
/// ```
/// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// let timing = statsd.time("upload");
/// // ... the upload fails half-way: its duration would only mislead ...
/// assert!(timing.elapsed() < std::time::Duration::from_secs(60));
/// timing.cancel(); // nothing is sent
/// assert_eq!(statsd.stats().accepted, 0);
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[must_use = "the timing is sent when the guard is dropped; bind it to a variable"]
pub struct TimerGuard {
    handle: Arc<Handle>,
    name: String,
    started: Instant,
    armed: bool,
}

impl TimerGuard {
    pub(crate) fn new(handle: Arc<Handle>, name: &str) -> TimerGuard {
        TimerGuard {
            handle,
            name: name.to_owned(),
            started: Instant::now(),
            armed: true,
        }
    }

    /// The time since the guard was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Drops the guard without sending anything.
    pub fn cancel(mut self) {
        self.armed = false;
    }
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        if self.armed {
            // A drop cannot report an error; a bad name is counted as rejected.
            let _ = send_timing(&self.handle, &self.name, self.started.elapsed());
        }
    }
}

/// The name and the measurement, never the connector's queue.
impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("name", &self.name)
            .field("started", &self.started.is_some())
            .field("elapsed", &self.elapsed)
            .field("sent", &self.sent)
            .finish()
    }
}

/// The name and the time so far, never the connector's queue.
impl fmt::Debug for TimerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerGuard")
            .field("name", &self.name)
            .field("elapsed", &self.started.elapsed())
            .field("armed", &self.armed)
            .finish()
    }
}
