//! The library's `tracing` events, delivered to Python's `logging`.
//!
//! The library logs from the thread that emits (a throttled warning when the
//! queue is full) and from the processor thread (connections, drains). Neither
//! may wait for the GIL, so the subscriber here only formats the event and
//! offers it to a bounded channel (dropped when full: logging never slows
//! metrics down). One `statsd-connector-log` thread takes the records and
//! hands them to `logging.getLogger(name).log(level, message)` through the
//! [`gate`](crate::gate), under the logger name of the library module with
//! `::` made `.` (`statsd_connector.background.processor`).
//!
//! Only events at or above [`set_level`] (default INFO) are formatted at all.

use std::fmt::{self, Write as _};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::gate;

/// Records waiting for the log thread; beyond this they are dropped.
const CHANNEL_BOUND: usize = 1024;

/// The least severe level forwarded, as a Python level number.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(20);

/// The channel to the current log thread (leaked; replaced in a forked child,
/// where the parent's log thread does not exist).
static SINK: AtomicPtr<SyncSender<LogRecord>> = AtomicPtr::new(ptr::null_mut());

/// One event, formatted on the thread that logged it.
struct LogRecord {
    logger: String,
    level: u8,
    message: String,
}

/// Python's number for a tracing level.
fn python_level(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        _ => 5,
    }
}

/// Forwards events at `level` (a Python level number) and above.
pub(crate) fn set_level(level: u8) {
    MIN_LEVEL.store(level, Ordering::Relaxed);
}

/// The subscriber: formats and offers, never waits.
struct Bridge;

/// Writes the `message` field, then the others as `key=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

impl Subscriber for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && python_level(metadata.level()) >= MIN_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let sink = SINK.load(Ordering::Acquire);
        if sink.is_null() {
            return;
        }
        let metadata = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        if !fields.rest.is_empty() {
            fields.message.push_str(" (");
            fields.message.push_str(fields.rest.trim_start());
            fields.message.push(')');
        }
        let record = LogRecord {
            logger: metadata.target().replace("::", "."),
            level: python_level(metadata.level()),
            message: fields.message,
        };
        // SAFETY: senders are leaked, never freed.
        let _ = unsafe { &*sink }.try_send(record);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs the subscriber (once per process) and starts a log thread.
pub(crate) fn install() {
    let _ = tracing::subscriber::set_global_default(Bridge);
    start_thread();
}

/// In a forked child: a log thread of its own (the parent's is not there).
pub(crate) fn reset_after_fork() {
    start_thread();
}

fn start_thread() {
    let (sender, receiver) = mpsc::sync_channel(CHANNEL_BOUND);
    let spawned = std::thread::Builder::new()
        .name("statsd-connector-log".into())
        .spawn(move || run(&receiver));
    if spawned.is_ok() {
        SINK.store(Box::into_raw(Box::new(sender)), Ordering::Release);
    }
}

/// The log thread: waits for records, hands each batch to Python at once.
fn run(receiver: &Receiver<LogRecord>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        batch.extend(receiver.try_iter());
        let delivered = gate::with_python(|py| {
            for record in &batch {
                let _ = log(py, record);
            }
        });
        if delivered.is_none() {
            return; // the interpreter is exiting
        }
    }
}

fn log(py: Python<'_>, record: &LogRecord) -> PyResult<()> {
    let logger = py
        .import("logging")?
        .call_method1("getLogger", (record.logger.as_str(),))?;
    logger.call_method1("log", (record.level, "%s", record.message.as_str()))?;
    Ok(())
}
