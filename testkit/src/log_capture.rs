//! A structured capture of `tracing` events, so that a test can assert which
//! warnings were logged and with which fields.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One event as it was logged: level, target, message and the other fields
/// (each rendered as text).
#[derive(Debug, Clone)]
pub struct Captured {
    /// The event's level.
    pub level: Level,
    /// The event's target (the module that logged it, unless set).
    pub target: String,
    /// The `message` field.
    pub message: String,
    /// Every other field, by name, rendered as text.
    pub fields: BTreeMap<String, String>,
}

impl Captured {
    /// A field parsed as an unsigned number.
    pub fn u64_field(&self, name: &str) -> Option<u64> {
        self.fields.get(name)?.parse().ok()
    }
}

/// The events captured so far, shared with the layer.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    events: Arc<Mutex<Vec<Captured>>>,
}

impl LogCapture {
    /// A capture and a subscriber (a registry with the capture layer) that
    /// records every event of every level into it.
    pub fn new() -> (LogCapture, impl Subscriber + Send + Sync + 'static) {
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::registry().with(CaptureLayer {
            events: capture.events.clone(),
        });
        (capture, subscriber)
    }

    /// A capture installed as this thread's default subscriber until the
    /// guard drops: what a test wants (then [`LogCapture::recheck`] before
    /// the action whose events it asserts).
    pub fn set_default() -> (LogCapture, tracing::subscriber::DefaultGuard) {
        let (capture, subscriber) = LogCapture::new();
        let guard = tracing::subscriber::set_default(subscriber);
        LogCapture::recheck();
        (capture, guard)
    }

    /// Computes every callsite's cached interest again, now that this
    /// capture is registered. Tracing caches, per callsite, whether any
    /// subscriber listens, from the subscribers registered when the
    /// callsite was first hit; a callsite that another test's thread was
    /// registering while this capture was being installed can keep "nobody
    /// listens", and its events are then lost to this test (seen: about one
    /// full run in eight lost an info event). A registration that began
    /// before this capture existed has finished by the time a test calls
    /// this again, just before the action it asserts on.
    pub fn recheck() {
        tracing::callsite::rebuild_interest_cache();
    }

    /// Every event captured so far.
    pub fn events(&self) -> Vec<Captured> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The events whose message is exactly `message`.
    pub fn with_message(&self, message: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.message == message)
            .collect()
    }

    /// Forgets what was captured.
    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

struct CaptureLayer {
    events: Arc<Mutex<Vec<Captured>>>,
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let captured = Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: visitor.message,
            fields: visitor.fields,
        };
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(captured);
    }
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Visit for FieldVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.insert(field.name().to_owned(), text);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), value.to_string());
    }
}
