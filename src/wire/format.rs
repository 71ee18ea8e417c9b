//! Writing one metric as one statsd line, straight into a byte buffer.
//!
//! [`LineFormat`] is built once from the configuration: it holds the prefix with
//! its trailing `.`, the type-prefix switch, the tag dialect and the global tags
//! already rendered in that dialect. Writing a line is then a handful of
//! `extend_from_slice` calls and integer formatting by `itoa` (floats by `ryu`),
//! with no allocation and no `format!`.
//!
//! Callers validate first (`wire::validate`); this module trusts its input,
//! except for the length limit, which it enforces by measuring what it wrote,
//! and for floats: a value or sample rate that is NaN or infinite (which has
//! no statsd spelling) is refused here too, whatever path it came by, so no
//! line can carry `inf` or `NaN`.

use std::io::Write as _;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::wire::metric::{Cardinality, MetricType, TagFormat, Value};

/// Everything about a line that comes from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct LineFormat {
    /// The user's prefix followed by `.`, or empty.
    prefix: Box<[u8]>,
    /// Whether `counters.`, `gauges.`, `timers.` ... follow the prefix.
    type_prefixes: bool,
    /// How tags are written.
    tag_format: TagFormat,
    /// The global tags, rendered without their leading separator
    /// (`k:v,k2` for DogStatsD, `k=v,k2=true` for Influx, `k=v;k2=true` for Graphite).
    global_tags: Box<[u8]>,
    /// The longest line accepted, newline included.
    max_line: usize,
    /// The DogStatsD origin fields, rendered once (`|c:<container id>` and
    /// `|e:<external data>`, protocols v1.2 and v1.5), or empty.
    origin: Box<[u8]>,
    /// The connector-wide `|card:` value (protocol v1.6), if any.
    cardinality: Option<Cardinality>,
}

/// What one call adds to its line beyond the statsd fields (DogStatsD only).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extras {
    /// `|T<unix seconds>` (protocol v1.3; gauges and counts only).
    pub(crate) timestamp: Option<u64>,
    /// `|card:` for this call, instead of the connector's.
    pub(crate) cardinality: Option<Cardinality>,
}

impl Extras {
    /// Nothing extra.
    pub(crate) const NONE: Extras = Extras {
        timestamp: None,
        cardinality: None,
    };
}

impl LineFormat {
    /// Builds the format; `prefix` and `global_tags` must already be validated.
    pub(crate) fn new(
        prefix: Option<&str>,
        type_prefixes: bool,
        tag_format: TagFormat,
        global_tags: &[(String, String)],
        max_line: usize,
    ) -> LineFormat {
        let prefix = match prefix {
            Some(p) => [p.as_bytes(), b"."].concat().into_boxed_slice(),
            None => Box::default(),
        };
        LineFormat {
            prefix,
            type_prefixes,
            tag_format,
            global_tags: render_tags(tag_format, global_tags).into_boxed_slice(),
            max_line,
            origin: Box::default(),
            cardinality: None,
        }
    }

    /// Adds the DogStatsD origin fields written on every line: the
    /// container id (`|c:`), the external data (`|e:`) and the cardinality
    /// (`|card:`). The values come checked from the configuration.
    pub(crate) fn with_origin(
        mut self,
        container_id: Option<&str>,
        external_data: Option<&str>,
        cardinality: Option<Cardinality>,
    ) -> LineFormat {
        let mut origin = Vec::new();
        if let Some(id) = container_id {
            origin.extend_from_slice(b"|c:");
            origin.extend_from_slice(id.as_bytes());
        }
        if let Some(external) = external_data {
            origin.extend_from_slice(b"|e:");
            origin.extend_from_slice(external.as_bytes());
        }
        self.origin = origin.into_boxed_slice();
        self.cardinality = cardinality;
        self
    }

    /// The fields an event or service check line ends with (origin and
    /// cardinality), before its newline.
    pub(crate) fn origin_trailer(&self) -> Vec<u8> {
        let mut trailer = self.origin.to_vec();
        write_extras(&mut trailer, Extras::NONE, self.cardinality);
        trailer
    }

    /// How many bytes go in front of every name: checked against the name limit.
    #[inline]
    pub(crate) fn name_overhead(&self, kind: MetricType) -> usize {
        self.prefix.len()
            + if self.type_prefixes {
                kind.type_prefix().len()
            } else {
                0
            }
    }

    /// The configured tag dialect.
    pub(crate) fn tag_format(&self) -> TagFormat {
        self.tag_format
    }

    /// The global tags as rendered for [`tag_format`](Self::tag_format),
    /// without a leading separator (`k:v,k2` for DogStatsD), or empty.
    pub(crate) fn global_tags(&self) -> &[u8] {
        &self.global_tags
    }

    /// Appends one line to `buf`. On error (the line would exceed the length
    /// limit) `buf` is left as it was.
    #[inline]
    pub(crate) fn write(
        &self,
        buf: &mut Vec<u8>,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        sample_rate: f64,
        tags: &[(&str, &str)],
    ) -> Result<(), Error> {
        self.write_with(buf, name, value, kind, sample_rate, tags, Extras::NONE)
    }

    /// [`LineFormat::write`] with a call's DogStatsD extras.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_with(
        &self,
        buf: &mut Vec<u8>,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        sample_rate: f64,
        tags: &[(&str, &str)],
        extras: Extras,
    ) -> Result<(), Error> {
        if let Value::Float(f) | Value::Delta(f) = value {
            if !f.is_finite() {
                return Err(not_finite(f));
            }
        }
        if !(sample_rate >= 1.0 || sample_rate > 0.0 && (1.0 / sample_rate).is_finite()) {
            return Err(Error::from(ErrorKind::InvalidSampleRate(sample_rate)));
        }
        let start = buf.len();
        buf.reserve(self.prefix.len() + name.len() + 32);
        buf.extend_from_slice(&self.prefix);
        if self.type_prefixes {
            buf.extend_from_slice(kind.type_prefix().as_bytes());
        }
        buf.extend_from_slice(name.as_bytes());
        let has_tags = !tags.is_empty() || !self.global_tags.is_empty();
        if has_tags && self.tag_format != TagFormat::DogStatsd {
            self.write_tags(buf, tags);
        }
        buf.push(b':');
        write_value(buf, value);
        buf.push(b'|');
        buf.extend_from_slice(kind.code().as_bytes());
        if sample_rate < 1.0 {
            buf.extend_from_slice(b"|@");
            write_float(buf, sample_rate);
        }
        if has_tags && self.tag_format == TagFormat::DogStatsd {
            buf.extend_from_slice(b"|#");
            self.write_tags(buf, tags);
        }
        if !self.origin.is_empty() {
            buf.extend_from_slice(&self.origin);
        }
        if extras.timestamp.is_some() || extras.cardinality.is_some() || self.cardinality.is_some()
        {
            write_extras(buf, extras, self.cardinality);
        }
        buf.push(b'\n');
        self.check_length(buf, start)
    }

    /// Appends one line of packed values (`name:v1:v2:…|type…`, DogStatsD
    /// protocol v1.1) with as many of `values` as fit the length limit, in
    /// order; returns how many it wrote (at least one). On error (not even
    /// one value fits, or a value is not finite) `buf` is left as it was.
    pub(crate) fn write_packed(
        &self,
        buf: &mut Vec<u8>,
        name: &str,
        kind: MetricType,
        values: &[f64],
        sample_rate: f64,
        tags: &[(&str, &str)],
    ) -> Result<usize, Error> {
        let Some((&first, rest)) = values.split_first() else {
            return Ok(0);
        };
        // Everything after the values, measured once: the line is then
        // filled up to the limit without writing anything twice.
        let start = buf.len();
        self.write(buf, name, Value::Float(first), kind, sample_rate, tags)?;
        let written = buf.len() - start;
        let mut tail = Vec::with_capacity(written);
        let value_end = start + memchr::memchr(b'|', &buf[start..]).unwrap_or(written);
        tail.extend_from_slice(&buf[value_end..]);
        buf.truncate(value_end);
        let mut count = 1;
        let mut scratch = Vec::with_capacity(32);
        for &value in rest {
            if !value.is_finite() {
                buf.truncate(start);
                return Err(not_finite(value));
            }
            scratch.clear();
            scratch.push(b':');
            write_float(&mut scratch, value);
            if buf.len() - start + scratch.len() + tail.len() > self.max_line {
                break;
            }
            buf.extend_from_slice(&scratch);
            count += 1;
        }
        buf.extend_from_slice(&tail);
        Ok(count)
    }

    /// How many lines a metric takes: two for a negative absolute gauge (a
    /// reset to 0, then the value, since statsd reads `-5|g` as a decrement),
    /// one for anything else.
    #[inline]
    pub(crate) fn lines_for(kind: MetricType, value: Value<'_>) -> usize {
        match (kind, value) {
            (MetricType::Gauge, Value::Float(v)) if v < 0.0 => 2,
            _ => 1,
        }
    }

    /// Appends a metric's [`lines_for`](Self::lines_for) lines to `buf`, all
    /// or none: a gauge reset and its value must fit the length limit
    /// together, as they must share one datagram.
    #[inline]
    pub(crate) fn write_metric(
        &self,
        buf: &mut Vec<u8>,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        sample_rate: f64,
        tags: &[(&str, &str)],
    ) -> Result<(), Error> {
        self.write_metric_with(buf, name, value, kind, sample_rate, tags, Extras::NONE)
    }

    /// [`LineFormat::write_metric`] with a call's DogStatsD extras.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_metric_with(
        &self,
        buf: &mut Vec<u8>,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        sample_rate: f64,
        tags: &[(&str, &str)],
        extras: Extras,
    ) -> Result<(), Error> {
        if LineFormat::lines_for(kind, value) == 1 {
            return self.write_with(buf, name, value, kind, sample_rate, tags, extras);
        }
        let start = buf.len();
        self.write_with(buf, name, Value::Int(0), kind, sample_rate, tags, extras)?;
        self.write_with(buf, name, value, kind, sample_rate, tags, extras)
            .inspect_err(|_| buf.truncate(start))?;
        self.check_length(buf, start)
    }

    /// Checks that what was written since `start` (one line, or a gauge reset
    /// and its value, which must travel together) fits the length limit;
    /// if not, removes it and says so.
    #[inline]
    fn check_length(&self, buf: &mut Vec<u8>, start: usize) -> Result<(), Error> {
        let length = buf.len() - start;
        if length > self.max_line {
            buf.truncate(start);
            return Err(Error::from(ErrorKind::LineTooLong {
                length,
                limit: self.max_line,
            }));
        }
        Ok(())
    }

    /// Writes global then per-call tags, with the dialect's leading separator for
    /// Influx and Graphite (for DogStatsD the caller has written `|#`).
    fn write_tags(&self, buf: &mut Vec<u8>, tags: &[(&str, &str)]) {
        let separator = tag_separator(self.tag_format);
        let mut first = self.tag_format == TagFormat::DogStatsd;
        if !self.global_tags.is_empty() {
            if !first {
                buf.push(separator);
            }
            buf.extend_from_slice(&self.global_tags);
            first = false;
        }
        for (key, value) in tags {
            if !first {
                buf.push(separator);
            }
            write_tag(buf, self.tag_format, key, value);
            first = false;
        }
    }
}

#[cold]
fn not_finite(f: f64) -> Error {
    Error::from(ErrorKind::InvalidValue {
        value: f.to_string(),
        reason: "not a finite number",
    })
}

/// Tags rendered in `format` without a leading separator (`k:v,k2` for
/// DogStatsD, `k=v,k2=true` for Influx, `k=v;k2=true` for Graphite).
pub(crate) fn render_tags(format: TagFormat, tags: &[(String, String)]) -> Vec<u8> {
    let mut rendered = Vec::new();
    for (key, value) in tags {
        if !rendered.is_empty() {
            rendered.push(tag_separator(format));
        }
        write_tag(&mut rendered, format, key, value);
    }
    rendered
}

fn tag_separator(format: TagFormat) -> u8 {
    match format {
        TagFormat::DogStatsd | TagFormat::Influx => b',',
        TagFormat::Graphite => b';',
    }
}

fn write_tag(buf: &mut Vec<u8>, format: TagFormat, key: &str, value: &str) {
    buf.extend_from_slice(key.as_bytes());
    match (format, value.is_empty()) {
        (TagFormat::DogStatsd, true) => {}
        (TagFormat::DogStatsd, false) => {
            buf.push(b':');
            buf.extend_from_slice(value.as_bytes());
        }
        (_, true) => buf.extend_from_slice(b"=true"),
        (_, false) => {
            buf.push(b'=');
            buf.extend_from_slice(value.as_bytes());
        }
    }
}

#[inline]
fn write_value(buf: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::Int(n) => buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        Value::Float(f) => write_float(buf, f),
        Value::Delta(f) => {
            if f >= 0.0 {
                buf.push(b'+');
            }
            write_float(buf, f);
        }
        Value::Duration(d) => write_millis(buf, d),
        Value::Text(text) => buf.extend_from_slice(text.as_bytes()),
    }
}

/// Writes a call's timestamp and the cardinality (the call's, else the
/// connector's): `|T<seconds>|card:<value>`, each when present.
fn write_extras(buf: &mut Vec<u8>, extras: Extras, connector: Option<Cardinality>) {
    if let Some(seconds) = extras.timestamp {
        buf.extend_from_slice(b"|T");
        buf.extend_from_slice(itoa::Buffer::new().format(seconds).as_bytes());
    }
    if let Some(cardinality) = extras.cardinality.or(connector) {
        buf.extend_from_slice(b"|card:");
        buf.extend_from_slice(cardinality.as_str().as_bytes());
    }
}

/// Writes a finite float in plain decimal notation: integral values as integers
/// (`3`, not `3.0`), others shortest round-trip by `ryu`, and the rare value
/// that `ryu` would write with an exponent through `Display`, which never does.
#[inline]
pub(crate) fn write_float(buf: &mut Vec<u8>, f: f64) {
    debug_assert!(f.is_finite(), "write_float({f})");
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        // Every integral f64 below 2^63 converts to i64 exactly; -0.0
        // becomes 0, so no stray sign can make a delta.
        buf.extend_from_slice(itoa::Buffer::new().format(f as i64).as_bytes());
        return;
    }
    let mut ryu = ryu::Buffer::new();
    let text = ryu.format_finite(f);
    if text.contains('e') {
        // Writing into a Vec cannot fail.
        let _ = write!(buf, "{f}");
    } else {
        buf.extend_from_slice(text.as_bytes());
    }
}

/// Writes a duration in milliseconds, exactly, from its integer nanoseconds:
/// `1500µs` is `1.5`, `2s` is `2000`.
fn write_millis(buf: &mut Vec<u8>, d: Duration) {
    let nanos = d.as_nanos();
    let whole = nanos / 1_000_000;
    let fraction = (nanos % 1_000_000) as u32;
    buf.extend_from_slice(itoa::Buffer::new().format(whole).as_bytes());
    if fraction != 0 {
        let mut digits = [b'0'; 6];
        let mut rest = fraction;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let used = 6 - digits.iter().rev().take_while(|&&b| b == b'0').count();
        buf.push(b'.');
        buf.extend_from_slice(&digits[..used]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(format: &LineFormat, name: &str, value: Value<'_>, kind: MetricType) -> String {
        line_with(format, name, value, kind, 1.0, &[])
    }

    fn line_with(
        format: &LineFormat,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        rate: f64,
        tags: &[(&str, &str)],
    ) -> String {
        let mut buf = Vec::new();
        format
            .write(&mut buf, name, value, kind, rate, tags)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn plain() -> LineFormat {
        LineFormat::new(None, false, TagFormat::DogStatsd, &[], 8192)
    }

    #[test]
    fn counter_gauge_timing_set_lines() {
        let f = plain();
        assert_eq!(
            line(&f, "hits", Value::Int(1), MetricType::Counter),
            "hits:1|c\n"
        );
        assert_eq!(
            line(&f, "hits", Value::Int(-3), MetricType::Counter),
            "hits:-3|c\n"
        );
        assert_eq!(
            line(&f, "temp", Value::Float(21.5), MetricType::Gauge),
            "temp:21.5|g\n"
        );
        assert_eq!(
            line(&f, "temp", Value::Float(20.0), MetricType::Gauge),
            "temp:20|g\n"
        );
        assert_eq!(
            line(&f, "temp", Value::Float(-0.0), MetricType::Gauge),
            "temp:0|g\n"
        );
        assert_eq!(
            line(&f, "users", Value::Text("alice"), MetricType::Set),
            "users:alice|s\n"
        );
    }

    #[test]
    fn deltas_always_carry_a_sign() {
        let f = plain();
        assert_eq!(
            line(&f, "q", Value::Delta(3.0), MetricType::Gauge),
            "q:+3|g\n"
        );
        assert_eq!(
            line(&f, "q", Value::Delta(-2.0), MetricType::Gauge),
            "q:-2|g\n"
        );
        assert_eq!(
            line(&f, "q", Value::Delta(0.0), MetricType::Gauge),
            "q:+0|g\n"
        );
        assert_eq!(
            line(&f, "q", Value::Delta(0.25), MetricType::Gauge),
            "q:+0.25|g\n"
        );
    }

    #[test]
    fn durations_are_exact_milliseconds() {
        let f = plain();
        let ms = |d| line(&f, "t", Value::Duration(d), MetricType::Timing);
        assert_eq!(ms(Duration::from_secs(2)), "t:2000|ms\n");
        assert_eq!(ms(Duration::from_micros(1500)), "t:1.5|ms\n");
        assert_eq!(ms(Duration::from_nanos(1)), "t:0.000001|ms\n");
        assert_eq!(ms(Duration::from_nanos(12_345_678)), "t:12.345678|ms\n");
        assert_eq!(ms(Duration::ZERO), "t:0|ms\n");
    }

    #[test]
    fn floats_never_use_exponents() {
        let f = plain();
        let g = |v| line(&f, "g", Value::Float(v), MetricType::Gauge);
        assert_eq!(g(1e-7), "g:0.0000001|g\n");
        assert_eq!(g(1.5e20), "g:150000000000000000000|g\n");
        assert_eq!(g(0.1), "g:0.1|g\n");
        // Integral floats are written as integers up to 2^63, never as `N.0`.
        assert_eq!(g(9_435_134_604_641_412.0), "g:9435134604641412|g\n");
        assert_eq!(g(-9.0e18), "g:-9000000000000000000|g\n");
    }

    #[test]
    fn prefix_and_type_prefixes_come_in_order() {
        let f = LineFormat::new(Some("app.web"), true, TagFormat::DogStatsd, &[], 8192);
        assert_eq!(
            line(&f, "hits", Value::Int(1), MetricType::Counter),
            "app.web.counters.hits:1|c\n"
        );
        assert_eq!(
            line(&f, "t", Value::Int(5), MetricType::Timing),
            "app.web.timers.t:5|ms\n"
        );
        assert_eq!(
            line(&f, "g", Value::Int(5), MetricType::Gauge),
            "app.web.gauges.g:5|g\n"
        );
        let f = LineFormat::new(Some("app"), false, TagFormat::DogStatsd, &[], 8192);
        assert_eq!(
            line(&f, "hits", Value::Int(1), MetricType::Counter),
            "app.hits:1|c\n"
        );
    }

    #[test]
    fn sample_rate_and_tags_in_each_dialect() {
        let global = [("env".to_owned(), "prod".to_owned())];
        let dog = LineFormat::new(None, false, TagFormat::DogStatsd, &global, 8192);
        assert_eq!(
            line_with(
                &dog,
                "h",
                Value::Int(1),
                MetricType::Counter,
                0.5,
                &[("a", "b"), ("bare", "")]
            ),
            "h:1|c|@0.5|#env:prod,a:b,bare\n"
        );
        let influx = LineFormat::new(None, false, TagFormat::Influx, &global, 8192);
        assert_eq!(
            line_with(
                &influx,
                "h",
                Value::Int(1),
                MetricType::Counter,
                1.0,
                &[("a", "b"), ("bare", "")]
            ),
            "h,env=prod,a=b,bare=true:1|c\n"
        );
        let graphite = LineFormat::new(None, false, TagFormat::Graphite, &[], 8192);
        assert_eq!(
            line_with(
                &graphite,
                "h",
                Value::Int(1),
                MetricType::Counter,
                0.25,
                &[("a", "b"), ("c", "d")]
            ),
            "h;a=b;c=d:1|c|@0.25\n"
        );
    }

    #[test]
    fn the_formatter_refuses_non_finite_floats_and_leaves_the_buffer_untouched() {
        let f = plain();
        let mut buf = b"before\n".to_vec();
        for value in [
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(f64::NAN),
            Value::Delta(f64::INFINITY),
            Value::Delta(f64::NAN),
        ] {
            for kind in [MetricType::Gauge, MetricType::Histogram] {
                let err = f
                    .write_metric(&mut buf, "g", value, kind, 1.0, &[])
                    .unwrap_err();
                assert!(err.is_invalid_input(), "{value:?}");
            }
        }
        for rate in [f64::NAN, 0.0, -1.0, 5e-324] {
            assert!(f
                .write(&mut buf, "c", Value::Int(1), MetricType::Counter, rate, &[])
                .is_err());
        }
        assert_eq!(buf, b"before\n");
    }

    #[test]
    fn overlong_lines_are_refused_and_leave_the_buffer_untouched() {
        let f = LineFormat::new(None, false, TagFormat::DogStatsd, &[], 16);
        let mut buf = b"before\n".to_vec();
        let err = f
            .write(
                &mut buf,
                "a-rather-long-name",
                Value::Int(1),
                MetricType::Counter,
                1.0,
                &[],
            )
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::LineTooLong { limit: 16, .. }
        ));
        assert_eq!(buf, b"before\n");
    }
}
