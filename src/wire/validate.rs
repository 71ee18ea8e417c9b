//! Validation of everything a caller can put into a line.
//!
//! The rule is reject, never repair: a name, prefix, tag or raw value that could
//! break the statsd grammar is refused with an [`Error`] naming it, so that what
//! reaches the wire is always exactly the metric the caller meant, or nothing.
//!
//! A name may hold any UTF-8 except these bytes, each of which some server reads
//! as syntax: the separators `:` `|` `@` `#`, the tag separators of the three
//! dialects `,` `;` `=`, space, and every control character (`0x00`–`0x1f`,
//! `0x7f`). Names are at most [`MAX_NAME_LENGTH`] bytes, prefix included.
//!
//! The checks are a 256-entry table lookup per byte: a 20-byte name costs a few
//! nanoseconds, which is why they run on every call instead of being cached.

use crate::error::{Error, ErrorKind, Reason};
use crate::wire::metric::{MetricType, TagFormat, Value};

/// The longest metric name accepted, in bytes, prefixes included.
pub const MAX_NAME_LENGTH: usize = 1024;

/// The longest line accepted, in bytes, newline included. Datagram transports
/// lower it to their payload limit so that every line fits in one datagram.
pub const MAX_LINE_LENGTH: usize = 8192;

/// Bytes that may never appear in a name, prefix, set member, raw value or tag
/// key. The DogStatsD separators (`|`, `,`, `#`) and the Influx/Graphite ones
/// (`;`, `=`, ` `) are refused whatever the dialect, so a name that is valid for
/// one server is valid for all of them.
const RESERVED: [bool; 256] = forbidden(b":|@#,;= ");

/// DogStatsD allows `:` inside a tag value (`url:http://x`), the others do not.
const DOGSTATSD_TAG_RESERVED: [bool; 256] = forbidden(b"|@#,;= ");

const fn forbidden(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[0x7f] = true;
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// The first byte of `text` that `table` forbids. The common case, none, is
/// checked without a branch per byte (the lookups are independent, so they
/// overlap); only a name that fails is scanned again for the culprit.
#[inline]
fn first_forbidden(text: &str, table: &[bool; 256]) -> Option<u8> {
    let any = text
        .bytes()
        .fold(false, |any, b| any | table[usize::from(b)]);
    if !any {
        return None;
    }
    text.bytes().find(|&b| table[usize::from(b)])
}

/// Checks a metric name. `extra_length` is the length of the prefixes that will
/// be put in front of it.
#[inline]
pub(crate) fn name(name: &str, extra_length: usize) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Reason::Empty
    } else if name.len() + extra_length > MAX_NAME_LENGTH {
        Reason::TooLong {
            length: name.len() + extra_length,
            limit: MAX_NAME_LENGTH,
        }
    } else if let Some(b) = first_forbidden(name, &RESERVED) {
        Reason::ForbiddenByte(b)
    } else {
        return Ok(());
    };
    Err(Error::from(ErrorKind::InvalidName {
        name: name.to_owned(),
        reason,
    }))
}

/// Checks a prefix given in the configuration: the name rules, plus no empty
/// segment (a leading or trailing `.` would double the separator).
pub(crate) fn prefix(prefix: &str) -> Result<(), Error> {
    let reason = if prefix.is_empty() {
        Reason::Empty
    } else if prefix.len() >= MAX_NAME_LENGTH {
        Reason::TooLong {
            length: prefix.len(),
            limit: MAX_NAME_LENGTH - 1,
        }
    } else if let Some(b) = first_forbidden(prefix, &RESERVED) {
        Reason::ForbiddenByte(b)
    } else if prefix.starts_with('.') || prefix.ends_with('.') || prefix.contains("..") {
        Reason::EmptySegment
    } else {
        return Ok(());
    };
    Err(Error::from(ErrorKind::InvalidPrefix {
        prefix: prefix.to_owned(),
        reason,
    }))
}

/// Checks per-call tags against the dialect.
#[inline]
pub(crate) fn tags(tags: &[(&str, &str)], format: TagFormat) -> Result<(), Error> {
    if tags.is_empty() {
        return Ok(());
    }
    tags.iter()
        .try_for_each(|(key, value)| tag(key, value, format))
}

/// Checks a tag key and value for the dialect; an empty value means a bare key.
pub(crate) fn tag(key: &str, value: &str, format: TagFormat) -> Result<(), Error> {
    let value_table = match format {
        TagFormat::DogStatsd => &DOGSTATSD_TAG_RESERVED,
        TagFormat::Influx | TagFormat::Graphite => &RESERVED,
    };
    // Influx and Graphite have no bare tags: an empty value is written `=true`.
    let written_value_len = match format {
        TagFormat::DogStatsd => value.len(),
        TagFormat::Influx | TagFormat::Graphite if value.is_empty() => "true".len(),
        TagFormat::Influx | TagFormat::Graphite => value.len(),
    };
    let reason = if key.is_empty() {
        Reason::Empty
    } else if key.len() + written_value_len > MAX_NAME_LENGTH {
        Reason::TooLong {
            length: key.len() + written_value_len,
            limit: MAX_NAME_LENGTH,
        }
    } else if let Some(b) = first_forbidden(key, &RESERVED) {
        Reason::ForbiddenByte(b)
    } else if let Some(b) = first_forbidden(value, value_table) {
        Reason::ForbiddenByte(b)
    } else {
        return Ok(());
    };
    let tag = if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}:{value}")
    };
    Err(Error::from(ErrorKind::InvalidTag { tag, reason }))
}

/// Checks a value given as text for the metric type: a finite number for every
/// type but sets (a leading `+` or `-` only for gauges, where it means a delta;
/// no sign at all for timings, which servers refuse negative), and for sets any
/// token without reserved characters.
pub(crate) fn raw_value(value: &str, kind: MetricType) -> Result<(), Error> {
    let invalid = |reason| {
        Error::from(ErrorKind::InvalidValue {
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return Err(invalid("empty"));
    }
    if value.len() > MAX_NAME_LENGTH {
        return Err(invalid("longer than the name limit"));
    }
    if let Some(_b) = first_forbidden(value, &RESERVED) {
        return Err(invalid("contains a reserved or control character"));
    }
    if kind == MetricType::Set {
        return Ok(());
    }
    let digits = match value.as_bytes()[0] {
        b'+' if kind != MetricType::Gauge => {
            return Err(invalid("a '+' sign is only meaningful for gauges"))
        }
        b'-' if matches!(kind, MetricType::Timing) => {
            return Err(invalid("timings cannot be negative"))
        }
        b'+' | b'-' => &value[1..],
        _ => value,
    };
    // Only plain decimal notation: `parse::<f64>` also takes "inf", "NaN" and
    // "1e5", which some servers do not.
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !plain {
        return Err(invalid("not a decimal number"));
    }
    // 309 integer digits are plain decimal but overflow an f64: the server
    // would read infinity.
    if !digits.parse::<f64>().is_ok_and(f64::is_finite) {
        return Err(invalid("too large for a 64-bit float"));
    }
    Ok(())
}

/// Checks a value for its metric type: numbers finite, timings given as a
/// float (seconds that did not convert to a duration) refused, text checked by
/// [`raw_value`].
#[inline]
pub(crate) fn value(value: Value<'_>, kind: MetricType) -> Result<(), Error> {
    match value {
        Value::Int(_) | Value::Duration(_) => Ok(()),
        Value::Float(f) if kind == MetricType::Timing => {
            Err(Error::from(ErrorKind::InvalidValue {
                value: f.to_string(),
                reason: "a timing must be a finite, non-negative number of seconds",
            }))
        }
        Value::Float(f) | Value::Delta(f) => finite(f),
        Value::Text(text) => raw_value(text, kind),
    }
}

/// Checks a number: NaN and infinities have no statsd spelling.
#[inline]
pub(crate) fn finite(value: f64) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::from(ErrorKind::InvalidValue {
            value: value.to_string(),
            reason: "not a finite number",
        }))
    }
}

/// Checks a sample rate: in (0, 1].
#[inline]
pub(crate) fn sample_rate(rate: f64) -> Result<(), Error> {
    if rate > 0.0 && rate <= 1.0 {
        Ok(())
    } else {
        Err(Error::from(ErrorKind::InvalidSampleRate(rate)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_reason(text: &str) -> Reason {
        match name(text, 0).map_err(Error::into_kind) {
            Err(ErrorKind::InvalidName { reason, .. }) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for ok in [
            "requests",
            "api.v2.latency",
            "with-dash_and_underscore",
            "ünïcödé.name",
            "a",
        ] {
            name(ok, 0).unwrap();
        }
    }

    #[test]
    fn every_separator_and_control_byte_is_refused_in_names() {
        for bad in [
            ":", "|", "@", "#", ",", ";", "=", " ", "\n", "\r", "\0", "\t", "\x7f",
        ] {
            let text = format!("a{bad}b");
            assert_eq!(
                name_reason(&text),
                Reason::ForbiddenByte(bad.as_bytes()[0]),
                "{text:?}"
            );
        }
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert_eq!(name_reason(""), Reason::Empty);
        let long = "x".repeat(MAX_NAME_LENGTH + 1);
        assert!(matches!(name_reason(&long), Reason::TooLong { .. }));
        // The prefix counts against the limit.
        assert!(name("x".repeat(1000).as_str(), 30).is_err());
        assert!(name("x".repeat(1000).as_str(), 24).is_ok());
    }

    #[test]
    fn prefix_refuses_empty_segments_and_separators() {
        prefix("app.web").unwrap();
        for bad in [".app", "app.", "a..b", "a:b", "a b", ""] {
            assert!(
                matches!(
                    prefix(bad).map_err(Error::into_kind),
                    Err(ErrorKind::InvalidPrefix { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn raw_values_must_fit_their_type() {
        for (value, kind) in [
            ("1", MetricType::Counter),
            ("-3", MetricType::Counter),
            ("2.5", MetricType::Counter),
            ("+3", MetricType::Gauge),
            ("-3.5", MetricType::Gauge),
            ("12.25", MetricType::Timing),
            ("alice", MetricType::Set),
            (".5", MetricType::Histogram),
        ] {
            raw_value(value, kind).unwrap_or_else(|e| panic!("{value} {kind}: {e}"));
        }
        for (value, kind) in [
            ("", MetricType::Counter),
            ("NaN", MetricType::Gauge),
            ("inf", MetricType::Gauge),
            ("1e5", MetricType::Counter),
            (&*format!("1{}", "0".repeat(309)), MetricType::Gauge),
            ("+1", MetricType::Counter),
            ("-1", MetricType::Timing),
            ("1.2.3", MetricType::Gauge),
            ("1|c", MetricType::Counter),
            ("a:b", MetricType::Set),
            ("-", MetricType::Gauge),
            (".", MetricType::Gauge),
        ] {
            assert!(raw_value(value, kind).is_err(), "{value:?} {kind} passed");
        }
    }

    #[test]
    fn tags_follow_the_dialect() {
        tag("region", "eu", TagFormat::DogStatsd).unwrap();
        tag("url", "http://x", TagFormat::DogStatsd).unwrap();
        assert!(tag("url", "http://x", TagFormat::Influx).is_err());
        assert!(tag("a,b", "x", TagFormat::DogStatsd).is_err());
        assert!(tag("k", "v|c", TagFormat::DogStatsd).is_err());
        assert!(tag("k", "a;b", TagFormat::Graphite).is_err());
        assert!(tag("k", "a=b", TagFormat::Influx).is_err());
        assert!(tag("", "v", TagFormat::DogStatsd).is_err());
        // A bare tag is written `key=true` in Influx and Graphite.
        let key = "k".repeat(MAX_NAME_LENGTH - 2);
        assert!(tag(&key, "", TagFormat::DogStatsd).is_ok());
        assert!(tag(&key, "", TagFormat::Influx).is_err());
        assert!(tag(&key, "", TagFormat::Graphite).is_err());
    }

    #[test]
    fn nan_infinity_and_bad_rates_are_refused() {
        assert!(finite(f64::NAN).is_err());
        assert!(finite(f64::INFINITY).is_err());
        assert!(finite(-1.5).is_ok());
        assert!(sample_rate(0.0).is_err());
        assert!(sample_rate(1.5).is_err());
        assert!(sample_rate(f64::NAN).is_err());
        assert!(sample_rate(0.25).is_ok());
    }
}
