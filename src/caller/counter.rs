//! The [`Counter`] handle: a counter whose name is checked once.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::shared::aggregate::CounterCell;
use crate::shared::Handle;
use crate::wire::format::PreparedInt;
use crate::wire::metric::{MetricType, Value};

use super::emit;

/// A counter whose name is checked once: the fastest way to count a hot name.
///
/// Made by [`Connector::counter`](crate::Connector::counter). With aggregation
/// on, an increment is one atomic add on the calling thread's stripe; with it
/// off, each call queues a line, like [`Metrics::count`](crate::Metrics::count)
/// minus the name check.
///
/// ```
/// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// let requests = statsd.counter("requests")?;
/// requests.incr()?;
/// requests.add(5)?;
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Clone)]
pub struct Counter {
    handle: Arc<Handle>,
    name: Arc<str>,
    cell: Option<Arc<CounterCell>>,
    /// The line with its name written once, unless aggregating (or the
    /// global tags make it too long, and the general path says so).
    line: Option<Arc<PreparedInt>>,
}

/// The name and the connector's state, never the queue's contents.
impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("name", &self.name)
            .field("aggregated", &self.cell.is_some())
            .field("connector", &*self.handle.shared)
            .finish()
    }
}

impl Counter {
    /// A handle for `name`, which the caller has checked.
    pub(crate) fn new(handle: Arc<Handle>, name: &str) -> Counter {
        let cell = (handle.shared.aggregator.as_ref()).map(|a| a.counter_cell(name));
        // A disabled connector's handle takes the general path, which says
        // `Ok` at once: the prepared path has no check for it.
        let line = match cell {
            Some(_) => None,
            None if !handle.shared.config.enabled => None,
            None => (handle.shared.format)
                .prepare_int(name, MetricType::Counter)
                .map(Arc::new),
        };
        Counter {
            cell,
            line,
            name: name.into(),
            handle,
        }
    }

    /// Adds 1.
    #[inline]
    #[doc = "\n# Errors\n\n[`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) when the queue is full, [`ErrorKind::Stopped`](crate::ErrorKind::Stopped) after a stop has completed (until the next start), both counted in [`Stats::dropped`](crate::Stats::dropped); [`ErrorKind::LineTooLong`](crate::ErrorKind::LineTooLong) (counted in [`Stats::rejected`](crate::Stats::rejected)) when global tags make the line longer than [`Config::max_line_length`](crate::Config::max_line_length). With aggregation on, only [`ErrorKind::Stopped`](crate::ErrorKind::Stopped). The name was checked when the handle was made; a disabled connector returns `Ok`."]
    pub fn incr(&self) -> Result<(), Error> {
        self.add(1)
    }

    /// Adds `n` (negative to subtract).
    #[inline(always)]
    #[doc = "\n# Errors\n\n[`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) when the queue is full, [`ErrorKind::Stopped`](crate::ErrorKind::Stopped) after a stop has completed (until the next start), both counted in [`Stats::dropped`](crate::Stats::dropped); [`ErrorKind::LineTooLong`](crate::ErrorKind::LineTooLong) (counted in [`Stats::rejected`](crate::Stats::rejected)) when global tags make the line longer than [`Config::max_line_length`](crate::Config::max_line_length). With aggregation on, only [`ErrorKind::Stopped`](crate::ErrorKind::Stopped). The name was checked when the handle was made; a disabled connector returns `Ok`."]
    pub fn add(&self, n: i64) -> Result<(), Error> {
        if let Some(line) = &self.line {
            return emit::emit_prepared(&self.handle.shared, line, n);
        }
        match &self.cell {
            Some(cell) => {
                // The cell bypasses the queue: refuse what a stop refuses.
                self.handle.shared.accepting()?;
                cell.add(n);
                Ok(())
            }
            None => emit::emit_checked(
                &self.handle.shared,
                &self.name,
                Value::Int(n),
                MetricType::Counter,
            ),
        }
    }

    /// The counter's name (without prefix).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}
