//! DogStatsD events and service checks through the public API, with the line
//! that reaches the socket read back and checked.
//!
//! Each input is, first, raw bytes for `Datagram::parse_bytes` (which must
//! never panic, and whose accessors must not either), then, decoded with
//! `arbitrary`, a connector configuration (DogStatsD declared or not, tag
//! dialect, payload limit, global tags, container id, cardinality) and one
//! call: `Connector::event` with an arbitrary title, text, hostname,
//! aggregation key, source type, priority, alert type, timestamp and tags, or
//! `Connector::service_check` with an arbitrary name, status, hostname,
//! message, timestamp and tags. The target checks that
//!
//! - the builder either refuses the configuration or builds it;
//! - the call either fails with a clear, typed error (`NotDogStatsd`,
//!   `InvalidField`, `InvalidTag`, or `LineTooLong` with a length over the
//!   limit) counted in `Stats::rejected`, or succeeds, counted in
//!   `Stats::events` / `Stats::service_checks` and not in `rejected`;
//! - a success puts exactly one line on the wire: one datagram, one `\n`, at
//!   its end; no other control character, no C1 control (U+0080..U+009F), no
//!   U+2028 / U+2029; at most `Config::max_line_length()` bytes;
//! - `Datagram::parse` reads that line back as the same kind with equal
//!   fields: title, text and message unescaped, hostname, aggregation key,
//!   source type, timestamp, priority, alert type, status, and the tags
//!   (the global tags, then the call's); the only fields it skips are the
//!   origin fields the connector adds (`|c:` for a container id, `|card:`).
//!
//! How the line is read back: the writers (`write_event`,
//! `write_service_check`) are crate-private and the library has no accessor
//! for its queue, so, as `format_roundtrip` does, the target starts connectors
//! (`start_blocking`, `Protocol::Unixgram`, `batch_delay(0)`) that send to a
//! `UnixDatagram` this process reads synchronously
//! (`$TMPDIR/statsd-fuzz-dd-<pid>.sock`). No tokio runtime or capture server
//! is needed in the target. Connectors are cached per configuration (at most
//! `CACHE`); origin detection is off, so a build reads no files.
//!
//! `STATSD_FUZZ_KNOWN=container-id` tolerates the known finding that an
//! explicit container id is not checked (see fuzz/README.md): configurations
//! whose container id would break the line are skipped.
#![no_main]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use statsd_connector::{
    AlertType, Cardinality, Connector, Datagram, ErrorKind, Event, EventPriority, Protocol,
    ServiceCheck, ServiceCheckStatus, TagFormat,
};
use statsd_connector_fuzz::known;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Format {
    DogStatsd,
    Influx,
    Graphite,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Card {
    None,
    Low,
    Orchestrator,
    High,
}

impl Card {
    fn get(self) -> Cardinality {
        match self {
            Card::None => Cardinality::None,
            Card::Low => Cardinality::Low,
            Card::Orchestrator => Cardinality::Orchestrator,
            Card::High => Cardinality::High,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Normal,
    Low,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Alert {
    Error,
    Warning,
    Info,
    Success,
}

#[derive(Arbitrary, Debug, Clone, PartialEq, Eq, Hash)]
struct Setup {
    /// Off: every call must be refused with `NotDogStatsd`.
    dogstatsd: bool,
    format: Format,
    /// The UDP payload limit (1432) instead of 8192.
    small_payload: bool,
    #[arbitrary(with = tags)]
    global_tags: Vec<(String, String)>,
    container_id: Option<String>,
    cardinality: Option<Card>,
}

#[derive(Arbitrary, Debug)]
enum Call {
    Event {
        #[arbitrary(with = text)]
        title: String,
        #[arbitrary(with = text)]
        text: String,
        hostname: String,
        aggregation_key: String,
        source_type: String,
        timestamp: Option<u64>,
        priority: Option<Priority>,
        alert_type: Option<Alert>,
        #[arbitrary(with = tags)]
        tags: Vec<(String, String)>,
    },
    ServiceCheck {
        name: String,
        /// 0..=3 after `% 4`.
        status: u8,
        hostname: String,
        #[arbitrary(with = text)]
        message: String,
        timestamp: Option<u64>,
        #[arbitrary(with = tags)]
        tags: Vec<(String, String)>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    call: Call,
}

/// A string, sometimes grown to a length near the line limits (1432, 8192),
/// which blind mutation rarely reaches; and sometimes given a `\n` or a `\`
/// followed by `n`, the escapes the writers must handle.
fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    const LENGTHS: [usize; 8] = [1380, 1400, 1420, 1431, 4096, 8150, 8180, 8191];
    let mut base = String::arbitrary(u)?;
    let pick = u8::arbitrary(u)?;
    match pick {
        0xE0..=0xEF => base.push('\n'),
        0xF0..=0xF3 => base.push_str("\\n"),
        0xF4..=0xF7 => base.push_str("m:"),
        _ => {}
    }
    if base.is_empty() || pick < 0xF8 {
        return Ok(base);
    }
    let length = LENGTHS[usize::from(pick) % LENGTHS.len()];
    let mut grown = base.repeat(length / base.len() + 1);
    let mut cut = length;
    while !grown.is_char_boundary(cut) {
        cut -= 1;
    }
    grown.truncate(cut);
    Ok(grown)
}

fn tags(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<(String, String)>> {
    let mut tags = Vec::new();
    u.arbitrary_loop(None, Some(8), |u| {
        tags.push((String::arbitrary(u)?, String::arbitrary(u)?));
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    Ok(tags)
}

const CACHE: usize = 16;

/// The receiving socket and the started connectors, one per setup.
struct Capture {
    socket: UnixDatagram,
    path: PathBuf,
    connectors: HashMap<Setup, Connector>,
    order: VecDeque<Setup>,
}

impl Capture {
    fn new() -> Capture {
        let (socket, path) = statsd_connector_fuzz::capture_socket("statsd-fuzz-dd-");
        Capture {
            socket,
            path,
            connectors: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The started connector for `setup`, or the builder's error.
    fn connector(&mut self, setup: &Setup) -> Result<Connector, statsd_connector::Error> {
        if let Some(connector) = self.connectors.get(setup) {
            return Ok(connector.clone());
        }
        let connector = builder(setup, self.path.to_str().expect("a UTF-8 temp path")).build()?;
        if self.order.len() >= CACHE {
            if let Some(old) = self.order.pop_front() {
                if let Some(old) = self.connectors.remove(&old) {
                    let report = old.stop_blocking().expect("stop outside a runtime");
                    assert_eq!(report.undelivered, 0, "an idle connector had lines left");
                }
            }
        }
        connector.start_blocking().expect("start the processor");
        self.connectors.insert(setup.clone(), connector.clone());
        self.order.push_back(setup.clone());
        Ok(connector)
    }

    /// One datagram, which must hold the one line sent.
    fn receive(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 1 << 17];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("the line never arrived: {e}"));
        buf.truncate(n);
        buf
    }
}

thread_local! {
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

fn builder(setup: &Setup, path: &str) -> statsd_connector::Builder {
    let mut builder = Connector::builder()
        .host(path)
        .protocol(Protocol::Unixgram)
        .max_payload(if setup.small_payload { 1432 } else { 8192 })
        .batch_delay(Duration::ZERO)
        .reconnect_sleep(Duration::from_millis(5))
        .queue_capacity(1 << 16)
        .emitting_threads(1)
        .dogstatsd(setup.dogstatsd)
        .origin_detection(false)
        .tag_format(match setup.format {
            Format::DogStatsd => TagFormat::DogStatsd,
            Format::Influx => TagFormat::Influx,
            Format::Graphite => TagFormat::Graphite,
        });
    for (key, value) in &setup.global_tags {
        builder = builder.global_tag(key.clone(), value.clone());
    }
    if let Some(id) = &setup.container_id {
        builder = builder.container_id(id.clone());
    }
    if let Some(card) = setup.cardinality {
        builder = builder.cardinality(card.get());
    }
    builder
}

/// The container id as the configuration keeps it (trimmed; blank is none),
/// in DogStatsD mode only.
fn effective_container_id(setup: &Setup) -> Option<&str> {
    setup
        .container_id
        .as_deref()
        .map(str::trim)
        .filter(|id| setup.dogstatsd && !id.is_empty())
}

/// What may never appear inside a line: every control character (the final
/// `\n` aside), the C1 controls, U+2028 and U+2029.
fn forbidden(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

fn tag_pairs(global: &[(String, String)], own: &[(&str, &str)]) -> Vec<(String, String)> {
    global
        .iter()
        .cloned()
        .chain(own.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        .collect()
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fuzz_target!(|data: &[u8]| {
    // 1. The raw bytes, as a server would read them: never a panic.
    if let Ok(parsed) = Datagram::parse_bytes(data) {
        match parsed {
            Datagram::Event(e) => {
                let _ = (e.unescaped_title(), e.unescaped_text());
                let _ = (e.effective_priority(), e.effective_alert_type());
                let _ = (e.tags().count(), e.tag_pairs().count());
            }
            Datagram::ServiceCheck(c) => {
                let _ = c.unescaped_message();
                let _ = (c.tags().count(), c.tag_pairs().count());
            }
            Datagram::Metric(line) => {
                let _ = line.tags().count();
            }
            _ => {}
        }
    }

    // 2. The same bytes as a setup and a call.
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let setup = &input.setup;
    if known("container-id")
        && effective_container_id(setup)
            .is_some_and(|id| id.chars().any(|c| forbidden(c) || "|,#".contains(c)))
    {
        return;
    }
    let built = CAPTURE.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(Capture::new)
            .connector(setup)
    });
    let statsd = match built {
        Ok(statsd) => statsd,
        Err(error) => {
            // A global tag, or a container id that could break a line
            // (refused since finding 6), are the only refusals.
            assert!(
                matches!(
                    error.kind(),
                    ErrorKind::InvalidTag { .. }
                        | ErrorKind::InvalidSetting {
                            setting: "container_id",
                            ..
                        }
                ),
                "the builder refused {setup:?} with {error:?}"
            );
            return;
        }
    };
    let limit = statsd.config().max_line_length();

    let before = statsd.stats();
    let (result, is_event) = match &input.call {
        Call::Event {
            title,
            text,
            hostname,
            aggregation_key,
            source_type,
            timestamp,
            priority,
            alert_type,
            tags,
        } => {
            let tags: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut event = Event::new(title, text)
                .hostname(hostname)
                .aggregation_key(aggregation_key)
                .source_type(source_type)
                .tags(&tags);
            if let Some(t) = timestamp {
                event = event.timestamp(*t);
            }
            if let Some(p) = priority {
                event = event.priority(match p {
                    Priority::Normal => EventPriority::Normal,
                    Priority::Low => EventPriority::Low,
                });
            }
            if let Some(a) = alert_type {
                event = event.alert_type(match a {
                    Alert::Error => AlertType::Error,
                    Alert::Warning => AlertType::Warning,
                    Alert::Info => AlertType::Info,
                    Alert::Success => AlertType::Success,
                });
            }
            (statsd.event(&event), true)
        }
        Call::ServiceCheck {
            name,
            status,
            hostname,
            message,
            timestamp,
            tags,
        } => {
            let tags: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let status = ServiceCheckStatus::from_code(status % 4).expect("0..=3");
            let mut check = ServiceCheck::new(name, status)
                .hostname(hostname)
                .message(message)
                .tags(&tags);
            if let Some(t) = timestamp {
                check = check.timestamp(*t);
            }
            (statsd.service_check(&check), false)
        }
    };
    let after = statsd.stats();
    let rejected = after.rejected - before.rejected;
    let counted = if is_event {
        after.events - before.events
    } else {
        after.service_checks - before.service_checks
    };
    assert_eq!(after.dropped, before.dropped, "dropped with an idle queue");

    let result = match result {
        Err(error) => {
            assert_eq!(
                (rejected, counted),
                (1, 0),
                "{error:?} not counted as rejected"
            );
            match error.kind() {
                ErrorKind::NotDogStatsd(_) => assert!(!setup.dogstatsd, "{error:?}"),
                ErrorKind::InvalidField { .. } | ErrorKind::InvalidTag { .. } => {}
                ErrorKind::LineTooLong { length, limit: l } => {
                    assert!(*length > *l, "{error:?}");
                    assert!(*l <= limit, "{error:?}: limit above {limit}");
                }
                _ => panic!("unexpected error {error:?} for {input:?}"),
            }
            assert!(error.is_invalid_input(), "{error:?} is not an input error");
            return;
        }
        Ok(()) => result,
    };
    assert!(result.is_ok());
    assert!(setup.dogstatsd, "accepted without DogStatsD declared");
    assert_eq!((rejected, counted), (0, 1), "an accepted call not counted");

    // 3. Exactly one line arrived, clean, within the limit.
    let datagram = CAPTURE.with(|c| c.borrow().as_ref().expect("capture").receive());
    let text = std::str::from_utf8(&datagram).expect("the library wrote UTF-8");
    let Some(line) = text.strip_suffix('\n') else {
        panic!("a datagram that does not end a line: {text:?}");
    };
    assert!(
        !line.contains('\n'),
        "more than one line for one call: {text:?} from {input:?}"
    );
    assert!(
        !line.chars().any(forbidden),
        "a control or line-break character in {line:?} from {input:?}"
    );
    assert!(
        datagram.len() <= limit,
        "{} bytes over the limit {limit}",
        datagram.len()
    );

    // 4. Read back, field by field.
    let origin_fields = usize::from(effective_container_id(setup).is_some())
        + usize::from(setup.dogstatsd && setup.cardinality.is_some());
    let parsed = Datagram::parse(line)
        .unwrap_or_else(|e| panic!("the library wrote {line:?}, which does not parse: {e}"));
    match (&input.call, parsed) {
        (
            Call::Event {
                title,
                text,
                hostname,
                aggregation_key,
                source_type,
                timestamp,
                priority,
                alert_type,
                tags,
            },
            Datagram::Event(e),
        ) => {
            assert_eq!(e.unescaped_title(), title.as_str(), "title of {line:?}");
            assert_eq!(e.unescaped_text(), text.as_str(), "text of {line:?}");
            assert_eq!(e.hostname, non_empty(hostname), "hostname of {line:?}");
            assert_eq!(e.aggregation_key, non_empty(aggregation_key));
            assert_eq!(e.source_type, non_empty(source_type));
            assert_eq!(e.timestamp, timestamp.map(|t| t as i64));
            assert_eq!(
                e.priority.map(|p| p.as_str()),
                priority.map(|p| match p {
                    Priority::Normal => "normal",
                    Priority::Low => "low",
                })
            );
            assert_eq!(
                e.alert_type.map(|a| a.as_str()),
                alert_type.map(|a| match a {
                    Alert::Error => "error",
                    Alert::Warning => "warning",
                    Alert::Info => "info",
                    Alert::Success => "success",
                })
            );
            let own: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let got: Vec<(String, String)> = e
                .tag_pairs()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(got, tag_pairs(&setup.global_tags, &own), "tags of {line:?}");
            assert_eq!(
                e.ignored_fields, origin_fields,
                "skipped fields in {line:?}"
            );
        }
        (
            Call::ServiceCheck {
                name,
                status,
                hostname,
                message,
                timestamp,
                tags,
            },
            Datagram::ServiceCheck(c),
        ) => {
            assert_eq!(c.name, name.as_str(), "name of {line:?}");
            assert_eq!(c.status.code(), status % 4);
            assert_eq!(c.hostname, non_empty(hostname), "hostname of {line:?}");
            assert_eq!(
                c.unescaped_message().as_deref(),
                non_empty(message),
                "message of {line:?}"
            );
            assert_eq!(c.timestamp, timestamp.map(|t| t as i64));
            let own: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let got: Vec<(String, String)> = c
                .tag_pairs()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(got, tag_pairs(&setup.global_tags, &own), "tags of {line:?}");
            assert_eq!(
                c.ignored_fields, origin_fields,
                "skipped fields in {line:?}"
            );
        }
        (call, other) => panic!("{call:?} was written as {line:?}, read as {other:?}"),
    }
});
