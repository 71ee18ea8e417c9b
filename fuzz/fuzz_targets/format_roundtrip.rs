//! Structured metric calls through the public API, with the formatted bytes
//! read back and checked.
//!
//! Each input is a configuration (prefix, type prefixes, tag dialect, payload
//! limit) and one call (counter, gauge, gauge delta, timing, timing in seconds,
//! set, histogram, distribution) with optional tags and sample rate. An
//! independent model (`statsd_connector_fuzz`) says what must happen: which
//! error, or exactly which line(s). The target checks
//!
//! - the call's result against the model (the right error variant, or Ok, or
//!   `LineTooLong` exactly when the modelled line exceeds the limit);
//! - `Connector::stats()`: exactly one of `rejected += 1` or `accepted += n`
//!   (n = 2 for a negative absolute gauge), or nothing at all for a call that a
//!   sample rate in (0, 1) skipped;
//! - in capture mode (the default), the bytes that reach the socket: each line
//!   parses with `Line::parse`, equals the modelled line, and carries the same
//!   name, value, type, rate and tags as the call; the two lines of a negative
//!   gauge arrive in one datagram.
//!
//! How the bytes are captured: the library has no accessor for its queue, so
//! the target starts connectors (`start_blocking`, Unix datagrams, batch delay
//! zero) that send to a `UnixDatagram` this process reads. Connectors are
//! cached per configuration (at most `CACHE` of them). Set
//! `STATSD_FUZZ_MODE=stats` for the cheaper mode: a fresh connector per input,
//! never started, checked through `stats()` and the result only.
//!
//! `STATSD_FUZZ_KNOWN` (comma-separated) tolerates known findings so that a
//! long run is not stopped by them; see fuzz/README.md.
#![no_main]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use statsd_connector::{Connector, Error, ErrorKind, Line, MetricType, Metrics, Protocol, TagFormat};
use statsd_connector_fuzz::{
    known, millis, name_ok, parse_millis, plain_float, prefix_ok, raw_value_ok, tag_ok,
};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Format {
    DogStatsd,
    Influx,
    Graphite,
}

impl Format {
    fn tag_format(self) -> TagFormat {
        match self {
            Format::DogStatsd => TagFormat::DogStatsd,
            Format::Influx => TagFormat::Influx,
            Format::Graphite => TagFormat::Graphite,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Counter(i64),
    Gauge(f64),
    GaugeDelta(f64),
    Timing(u64),
    TimingSecs(f64),
    Set(#[arbitrary(with = text)] String),
    Histogram(f64),
    Distribution(f64),
}

impl Kind {
    fn metric_type(&self) -> MetricType {
        match self {
            Kind::Counter(_) => MetricType::Counter,
            Kind::Gauge(_) | Kind::GaugeDelta(_) => MetricType::Gauge,
            Kind::Timing(_) | Kind::TimingSecs(_) => MetricType::Timing,
            Kind::Set(_) => MetricType::Set,
            Kind::Histogram(_) => MetricType::Histogram,
            Kind::Distribution(_) => MetricType::Distribution,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    #[arbitrary(with = optional_text)]
    prefix: Option<String>,
    type_prefixes: bool,
    /// The UDP default payload limit (1432) instead of 8192.
    small_payload: bool,
    format: Format,
    #[arbitrary(with = text)]
    name: String,
    kind: Kind,
    rate: Option<f64>,
    #[arbitrary(with = optional_tags)]
    tags: Option<Vec<(String, String)>>,
}

/// A string, sometimes grown to a length at or near one of the limits (the
/// 1024-byte name and tag limits, the 1432- and 8192-byte line limits): blind
/// mutation rarely grows a string that far, and the limits are where
/// off-by-one errors live. A byte after the string picks the length (a quarter
/// of its values do; an exhausted input never does).
fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    const LENGTHS: [usize; 16] = [
        1015, 1016, 1019, 1020, 1021, 1022, 1023, 1024, 1025, 1400, 1420, 1431, 4096, 8180, 8191,
        8192,
    ];
    let base = String::arbitrary(u)?;
    let pick = u8::arbitrary(u)?;
    if base.is_empty() || pick < 0xC0 {
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

fn optional_text(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<String>> {
    Ok(if bool::arbitrary(u)? {
        Some(text(u)?)
    } else {
        None
    })
}

fn optional_tags(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Vec<(String, String)>>> {
    if !bool::arbitrary(u)? {
        return Ok(None);
    }
    let mut tags = Vec::new();
    u.arbitrary_loop(None, Some(64), |u| {
        tags.push((text(u)?, text(u)?));
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    Ok(Some(tags))
}

/// What the model says a call must do.
#[derive(Debug)]
enum Expected {
    InvalidName,
    InvalidValue,
    InvalidSampleRate,
    InvalidTag,
    /// The line that exceeds the limit, with its length.
    TooLong(usize),
    /// These lines (newline included), queued in one push.
    Lines(Vec<String>),
}

const SMALL_PAYLOAD: usize = 1432;
const LARGE_PAYLOAD: usize = 8192;
const CACHE: usize = 16;

type Key = (Option<String>, Format, bool, bool);

fn model(input: &Input) -> Expected {
    let format = input.format.tag_format();
    let kind = input.kind.metric_type();
    let overhead = input.prefix.as_ref().map_or(0, |p| p.len() + 1)
        + if input.type_prefixes {
            kind.type_prefix().len()
        } else {
            0
        };
    let rate = input.rate.unwrap_or(1.0);
    let tags: &[(String, String)] = input.tags.as_deref().unwrap_or(&[]);

    // The order of the library's checks: name, value, rate, tags.
    if !name_ok(&input.name, overhead) {
        return Expected::InvalidName;
    }
    let value = match &input.kind {
        Kind::Counter(n) => n.to_string(),
        Kind::Gauge(f) | Kind::Histogram(f) | Kind::Distribution(f) if f.is_finite() => {
            value_float(*f)
        }
        Kind::GaugeDelta(f) if f.is_finite() => {
            let sign = if *f >= 0.0 { "+" } else { "" };
            format!("{sign}{}", value_float(*f))
        }
        Kind::Timing(nanos) => millis(u128::from(*nanos)),
        Kind::TimingSecs(secs) => match Duration::try_from_secs_f64(*secs) {
            Ok(d) => millis(d.as_nanos()),
            Err(_) => return Expected::InvalidValue,
        },
        Kind::Set(member) if raw_value_ok(member, MetricType::Set) => member.clone(),
        _ => return Expected::InvalidValue,
    };
    if rate != 1.0 && !(rate > 0.0 && rate <= 1.0) {
        return Expected::InvalidSampleRate;
    }
    if tags.iter().any(|(k, v)| !tag_ok(k, v, format)) {
        return Expected::InvalidTag;
    }

    let rendered_tags = |sep: &str| {
        tags.iter()
            .map(|(k, v)| match (format, v.is_empty()) {
                (TagFormat::DogStatsd, true) => k.clone(),
                (TagFormat::DogStatsd, false) => format!("{k}:{v}"),
                (_, true) => format!("{k}=true"),
                (_, false) => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(sep)
    };
    let line = |value: &str| {
        let mut out = String::new();
        if let Some(p) = &input.prefix {
            out.push_str(p);
            out.push('.');
        }
        if input.type_prefixes {
            out.push_str(kind.type_prefix());
        }
        out.push_str(&input.name);
        match format {
            TagFormat::Influx if !tags.is_empty() => out += &format!(",{}", rendered_tags(",")),
            TagFormat::Graphite if !tags.is_empty() => out += &format!(";{}", rendered_tags(";")),
            _ => {}
        }
        out.push(':');
        out.push_str(value);
        out.push('|');
        out.push_str(kind.code());
        if rate < 1.0 {
            out.push_str("|@");
            out.push_str(&plain_float(rate));
        }
        if format == TagFormat::DogStatsd && !tags.is_empty() {
            out += &format!("|#{}", rendered_tags(","));
        }
        out.push('\n');
        out
    };
    let lines = match input.kind {
        // A negative absolute gauge is a reset to 0, then the value.
        Kind::Gauge(f) if f < 0.0 => vec![line("0"), line(&value)],
        _ => vec![line(&value)],
    };
    // Each line must fit the limit, and so must a gauge reset pair as a
    // whole: the pair must travel in one datagram (checked after each line).
    let limit = max_line(input);
    if let Some(long) = lines.iter().find(|l| l.len() > limit) {
        return Expected::TooLong(long.len());
    }
    let total: usize = lines.iter().map(String::len).sum();
    if total > limit {
        return Expected::TooLong(total);
    }
    Expected::Lines(lines)
}

/// A metric value as the library documents it (`format::write_float`:
/// integral values as integers, others in shortest round-trip decimal).
/// With `STATSD_FUZZ_KNOWN=dot-zero`, the known deviation: an integral value
/// with 9e15 <= |f| < 1e16 is written by `ryu` as `9825235905806334.0`.
fn value_float(f: f64) -> String {
    let text = plain_float(f);
    if known("dot-zero") && f.fract() == 0.0 && f.abs() >= 9.0e15 && f.abs() < 1.0e16 {
        return text + ".0";
    }
    text
}

fn max_line(input: &Input) -> usize {
    if input.small_payload {
        SMALL_PAYLOAD
    } else {
        LARGE_PAYLOAD
    }
}

fn call<M: Metrics>(m: &M, input: &Input) -> Result<(), Error> {
    let name = input.name.as_str();
    match &input.kind {
        Kind::Counter(n) => m.count(name, *n),
        Kind::Gauge(f) => m.gauge(name, *f),
        Kind::GaugeDelta(f) => m.gauge_delta(name, *f),
        Kind::Timing(nanos) => m.timing(name, Duration::from_nanos(*nanos)),
        Kind::TimingSecs(secs) => m.timing_secs(name, *secs),
        Kind::Set(member) => m.set(name, member),
        Kind::Histogram(f) => m.histogram(name, *f),
        Kind::Distribution(f) => m.distribution(name, *f),
    }
}

/// The receiving socket and the started connectors, one per configuration.
struct Capture {
    socket: UnixDatagram,
    path: PathBuf,
    connectors: HashMap<Key, Connector>,
    order: VecDeque<Key>,
}

impl Capture {
    fn new() -> Capture {
        let (socket, path) = statsd_connector_fuzz::capture_socket("statsd-fuzz-");
        Capture {
            socket,
            path,
            connectors: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn connector(&mut self, key: Key, input: &Input) -> Connector {
        if let Some(connector) = self.connectors.get(&key) {
            return connector.clone();
        }
        if self.order.len() >= CACHE {
            if let Some(old) = self.order.pop_front() {
                if let Some(connector) = self.connectors.remove(&old) {
                    let report = connector.stop_blocking().expect("stop outside a runtime");
                    assert_eq!(report.undelivered, 0, "an idle connector had lines left");
                }
            }
        }
        let connector = builder(input)
            .host(self.path.to_str().expect("a UTF-8 temp path"))
            .protocol(Protocol::Unixgram)
            .max_payload(max_line(input))
            .batch_delay(Duration::ZERO)
            .reconnect_sleep(Duration::from_millis(5))
            .build()
            .expect("a configuration that build_config accepted");
        connector.start_blocking().expect("start the processor");
        self.connectors.insert(key.clone(), connector.clone());
        self.order.push_back(key);
        connector
    }

    /// Receives datagrams until `lines` lines have arrived.
    fn receive(&self, lines: usize) -> Vec<Vec<u8>> {
        let mut datagrams = Vec::new();
        let mut got = 0;
        let mut buf = vec![0u8; 1 << 16];
        while got < lines {
            let n = self
                .socket
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("queued lines never arrived ({got} of {lines}): {e}"));
            let datagram = buf[..n].to_vec();
            assert!(
                datagram.ends_with(b"\n"),
                "a datagram that does not end a line: {:?}",
                String::from_utf8_lossy(&datagram)
            );
            got += datagram.iter().filter(|&&b| b == b'\n').count();
            datagrams.push(datagram);
        }
        assert_eq!(got, lines, "more lines than were queued arrived");
        datagrams
    }
}

thread_local! {
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

fn builder(input: &Input) -> statsd_connector::Builder {
    let mut builder = Connector::builder()
        .host("localhost")
        .queue_capacity(1 << 20)
        .emitting_threads(1)
        .type_prefixes(input.type_prefixes)
        .tag_format(input.format.tag_format());
    if let Some(prefix) = &input.prefix {
        builder = builder.prefix(prefix.clone());
    }
    builder
}

fn capture_mode() -> bool {
    static MODE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| std::env::var("STATSD_FUZZ_MODE").map_or(true, |m| m != "stats"))
}

/// Checks one received line against the call, independently of the model's
/// text: the same name, value, type, rate and tags.
fn check_line(input: &Input, text: &str, reset: bool) {
    let line = Line::parse(text)
        .unwrap_or_else(|e| panic!("the library wrote {text:?}, which does not parse: {e}"));
    let kind = input.kind.metric_type();
    let mut name = String::new();
    if let Some(p) = &input.prefix {
        name += p;
        name.push('.');
    }
    if input.type_prefixes {
        name += kind.type_prefix();
    }
    name += &input.name;
    assert_eq!(line.name, name);
    assert_eq!(line.kind, kind);
    let rate = input.rate.unwrap_or(1.0);
    assert_eq!(line.sample_rate, (rate < 1.0).then_some(rate), "{text:?}");
    let format = input.format.tag_format();
    let tags: Vec<(String, String)> = line
        .tags()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let expected: Vec<(String, String)> = input
        .tags
        .iter()
        .flatten()
        .map(|(k, v)| {
            let v = if v.is_empty() && format != TagFormat::DogStatsd {
                "true".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    assert_eq!(tags, expected, "{text:?}");
    if !expected.is_empty() {
        assert_eq!(line.tag_format, format);
    }
    let number = |v: &str| -> f64 {
        v.parse()
            .unwrap_or_else(|e| panic!("value {v:?} of {text:?}: {e}"))
    };
    match &input.kind {
        _ if reset => assert_eq!(line.value, "0"),
        Kind::Counter(n) => assert_eq!(line.value, n.to_string()),
        Kind::Gauge(f) => {
            // An absolute gauge never starts with `+`, and with `-` only
            // after its reset line.
            assert!(!line.value.starts_with('+'), "{text:?}");
            assert_eq!(line.value.starts_with('-'), *f < 0.0, "{text:?}");
            assert_eq!(number(line.value), *f, "{text:?}");
        }
        Kind::GaugeDelta(f) => {
            let sign = if *f >= 0.0 { '+' } else { '-' };
            assert!(line.value.starts_with(sign), "{text:?}");
            assert_eq!(number(line.value), *f, "{text:?}");
        }
        Kind::Timing(nanos) => {
            assert_eq!(
                parse_millis(line.value),
                Some(u128::from(*nanos)),
                "{text:?}"
            )
        }
        Kind::TimingSecs(secs) => {
            let d = Duration::try_from_secs_f64(*secs).expect("accepted");
            assert_eq!(parse_millis(line.value), Some(d.as_nanos()), "{text:?}")
        }
        Kind::Set(member) => assert_eq!(line.value, member),
        Kind::Histogram(f) | Kind::Distribution(f) => {
            assert_eq!(number(line.value), *f, "{text:?}")
        }
    }
}

/// Known finding `bare-tag-length`: in Influx and Graphite a bare tag is
/// written `key=true`, which `Line::parse` refuses when `key` is over 1020
/// bytes (key + value > 1024), although the sending side accepted the key.
fn bare_tag_too_long(input: &Input) -> bool {
    input.format != Format::DogStatsd
        && input.tags.iter().flatten().any(|(k, v)| {
            v.is_empty() && k.len() + "true".len() > statsd_connector::MAX_NAME_LENGTH
        })
}

/// The line written equals the modelled one. Floats (values and rates) are
/// compared as numbers: the library writes them with `ryu` and the model with
/// `Display`; both print the shortest digits that round-trip, but may break a
/// tie differently in the last digit (`…422.562` vs `…422.563` for the same
/// f64), so only the length and the number must agree.
fn same_line(got: &str, want: &str) {
    if got == want {
        return;
    }
    assert_eq!(
        got.len(),
        want.len(),
        "the line written\n got {got:?}\nwant {want:?}"
    );
    let g = Line::parse(got).expect("checked by check_line");
    let w = Line::parse(want).expect("the modelled line parses");
    assert_eq!(
        (g.name, g.kind, g.raw_tags, g.tag_format, g.sample_rate),
        (w.name, w.kind, w.raw_tags, w.tag_format, w.sample_rate),
        "the line written\n got {got:?}\nwant {want:?}"
    );
    match g.kind {
        MetricType::Counter | MetricType::Timing | MetricType::Set => {
            assert_eq!(g.value, w.value, "\n got {got:?}\nwant {want:?}")
        }
        _ => {
            let number = |v: &str| v.parse::<f64>().expect("a decimal value");
            assert_eq!(
                number(g.value),
                number(w.value),
                "\n got {got:?}\nwant {want:?}"
            );
            assert_eq!(g.value.starts_with('+'), w.value.starts_with('+'));
        }
    }
}

fuzz_target!(|input: Input| {
    // The builder accepts exactly the valid prefixes.
    let config = builder(&input).build_config();
    if let Some(prefix) = &input.prefix {
        assert_eq!(
            config.is_ok(),
            prefix_ok(prefix),
            "prefix {prefix:?}: {config:?}"
        );
    }
    if config.is_err() {
        return;
    }
    let expected = model(&input);
    if std::env::var_os("STATSD_FUZZ_TRACE").is_some() {
        // One word per input, for measuring what a corpus reaches:
        // `STATSD_FUZZ_TRACE=1 cargo fuzz run ... -- -runs=0 2>&1 | grep ^outcome`.
        let word = match &expected {
            Expected::Lines(lines) => ["outcome lines1", "outcome lines2"][lines.len() - 1],
            other => match other {
                Expected::InvalidName => "outcome invalid-name",
                Expected::InvalidValue => "outcome invalid-value",
                Expected::InvalidSampleRate => "outcome invalid-rate",
                Expected::InvalidTag => "outcome invalid-tag",
                _ => "outcome too-long",
            },
        };
        eprintln!("{word}");
    }
    let rate = input.rate.unwrap_or(1.0);
    let may_skip = rate > 0.0 && rate < 1.0;

    let capture = capture_mode();
    let statsd = if capture {
        let key = (
            input.prefix.clone(),
            input.format,
            input.type_prefixes,
            input.small_payload,
        );
        CAPTURE.with(|c| {
            c.borrow_mut()
                .get_or_insert_with(Capture::new)
                .connector(key, &input)
        })
    } else {
        builder(&input)
            .max_payload(max_line(&input))
            .protocol(Protocol::Udp)
            .build()
            .expect("a valid configuration")
    };

    let tags: Vec<(&str, &str)> = input
        .tags
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let before = statsd.stats();
    let result = if input.tags.is_none() && input.rate.is_none() {
        call(&statsd, &input)
    } else {
        call(&statsd.with_tags(&tags).sampled(rate), &input)
    };
    let after = statsd.stats();
    let accepted = after.accepted - before.accepted;
    let rejected = after.rejected - before.rejected;
    assert_eq!(after.dropped, before.dropped, "a line was dropped");

    // A sampled call may be skipped: Ok, and nothing counted.
    if may_skip && result.is_ok() && accepted == 0 && rejected == 0 {
        return;
    }
    let result = result.map_err(Error::into_kind);
    match (&expected, &result) {
        (Expected::InvalidName, Err(ErrorKind::InvalidName { .. }))
        | (Expected::InvalidValue, Err(ErrorKind::InvalidValue { .. }))
        | (Expected::InvalidSampleRate, Err(ErrorKind::InvalidSampleRate(_)))
        | (Expected::InvalidTag, Err(ErrorKind::InvalidTag { .. })) => {
            assert_eq!((accepted, rejected), (0, 1), "{result:?}");
        }
        (Expected::TooLong(length), Err(ErrorKind::LineTooLong { length: got, limit })) => {
            assert_eq!(*limit, max_line(&input));
            assert_eq!(got, length, "the length of the line that is too long");
            assert_eq!((accepted, rejected), (0, 1), "{result:?}");
        }
        (Expected::Lines(lines), Ok(())) => {
            assert_eq!(accepted, lines.len() as u64, "lines accepted");
            assert_eq!(rejected, 0);
            if capture {
                let datagrams =
                    CAPTURE.with(|c| c.borrow().as_ref().expect("capture").receive(lines.len()));
                if known("bare-tag-length") && bare_tag_too_long(&input) {
                    return;
                }
                if lines.len() == 2 {
                    assert_eq!(
                        datagrams.len(),
                        1,
                        "a gauge reset and its value arrived in separate datagrams: {datagrams:?}"
                    );
                }
                let bytes = datagrams.concat();
                let text = std::str::from_utf8(&bytes).expect("the library wrote UTF-8");
                let got: Vec<&str> = text.split_inclusive('\n').collect();
                for (i, line) in got.iter().enumerate() {
                    assert!(line.len() <= max_line(&input), "a line over the limit");
                    check_line(&input, line, lines.len() == 2 && i == 0);
                }
                assert_eq!(got.len(), lines.len());
                for (got, want) in got.iter().zip(lines) {
                    same_line(got, want);
                }
            }
        }
        _ => panic!("expected {expected:?}, got {result:?} for {input:?}"),
    }
});
