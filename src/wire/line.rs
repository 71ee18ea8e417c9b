//! Reading statsd lines: the grammar, for the receiving side.
//!
//! The CLI's `send` reads lines typed by people, the capture server and `listen`
//! read what arrives on a socket, and the property tests read back what the
//! formatter wrote. All of them use [`Line::parse`], which accepts the three tag
//! dialects of [`TagFormat`]:
//!
//! ```text
//! name:value|type[|@rate][|#k:v,k2]     DogStatsD
//! name,k=v,k2=v2:value|type[|@rate]     Influx / Telegraf
//! name;k=v;k2=v2:value|type[|@rate]     Graphite
//! ```
//!
//! It checks the same rules as the sending side, so a line that parses could
//! have been sent by this crate, and one that could not never parses.

use crate::error::{Error, ErrorKind, Reason};
use crate::wire::metric::{Cardinality, MetricType, TagFormat};
use crate::wire::validate::{self, MAX_LINE_LENGTH};

/// One statsd line, borrowed from the text it was parsed from.
///
/// ```
/// use statsd_connector::{Line, MetricType};
///
/// let line = Line::parse("api.hits:3|c|@0.5|#region:eu")?;
/// assert_eq!(line.name, "api.hits");
/// assert_eq!(line.value, "3");
/// assert_eq!(line.kind, MetricType::Counter);
/// assert_eq!(line.sample_rate, Some(0.5));
/// assert_eq!(line.tags().collect::<Vec<_>>(), [("region", "eu")]);
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Line<'a> {
    /// The metric name, without tags.
    pub name: &'a str,
    /// The value as written (`3`, `+2`, `-1.5`, `alice`).
    pub value: &'a str,
    /// The metric type.
    pub kind: MetricType,
    /// The sample rate after `|@`, when present.
    pub sample_rate: Option<f64>,
    /// The tags as written, without their leading `|#`, `,` or `;`, when present.
    pub raw_tags: Option<&'a str>,
    /// The dialect the tags were written in.
    pub tag_format: TagFormat,
    /// `|T<unix seconds>` (DogStatsD v1.3), when present.
    pub timestamp: Option<u64>,
    /// `|c:<container id>` (DogStatsD v1.2/v1.4), when present.
    pub container_id: Option<&'a str>,
    /// `|e:<external data>` (DogStatsD v1.5), when present.
    pub external_data: Option<&'a str>,
    /// `|card:<cardinality>` (DogStatsD v1.6), when present.
    pub cardinality: Option<Cardinality>,
}

impl<'a> Line<'a> {
    /// Parses one line, without its trailing newline (a single trailing `\n` or
    /// `\r\n` is tolerated and ignored).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MalformedLine`](crate::ErrorKind::MalformedLine) when the text is not a statsd metric line; its
    /// [`Reason`](crate::Reason) says what is wrong (a missing value or type, an
    /// unknown type code, a bad sample rate, an unknown field ...).
    pub fn parse(text: &'a str) -> Result<Line<'a>, Error> {
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        parse_line(text).map_err(|x| Error::from(ErrorKind::MalformedLine(x)))
    }

    /// Parses one line given as bytes, which must be UTF-8.
    ///
    /// This is the form a socket hands over:
    ///
    /// ```
    /// use statsd_connector::{Line, Reason};
    ///
    /// assert_eq!(Line::parse_bytes(b"hits:1|c")?.name, "hits");
    /// let error = Line::parse_bytes(b"hits:\xff|s").unwrap_err();
    /// assert_eq!(error.reason(), Some(Reason::NotUtf8));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MalformedLine`](crate::ErrorKind::MalformedLine): with [`Reason::NotUtf8`](crate::Reason::NotUtf8) when
    /// the bytes are not UTF-8, else as [`Line::parse`].
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Line<'a>, Error> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::from(ErrorKind::MalformedLine(Reason::NotUtf8)))?;
        Line::parse(text)
    }

    /// The values: one, or several packed into one line (`t:1:2:3|ms`,
    /// DogStatsD v1.1).
    ///
    /// ```
    /// let line = statsd_connector::Line::parse("t:1:2.5:3|ms|@0.5")?;
    /// assert_eq!(line.values().collect::<Vec<_>>(), ["1", "2.5", "3"]);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &'a str> {
        self.value.split(':')
    }

    /// Whether the line carries anything beyond plain statsd: several
    /// values, or a DogStatsD field after v1.0 (timestamp, container id,
    /// external data, cardinality).
    #[must_use]
    pub fn has_dogstatsd_extensions(&self) -> bool {
        // Only the packed types parse with `:` in the value.
        self.value.contains(':')
            || self.timestamp.is_some()
            || self.container_id.is_some()
            || self.external_data.is_some()
            || self.cardinality.is_some()
    }

    /// The tags as `(key, value)` pairs; a bare key has an empty value.
    pub fn tags(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let (separator, pair) = match self.tag_format {
            TagFormat::DogStatsd => (',', ':'),
            TagFormat::Influx => (',', '='),
            TagFormat::Graphite => (';', '='),
        };
        self.raw_tags
            .into_iter()
            .flat_map(move |raw| raw.split(separator))
            .map(move |tag| tag.split_once(pair).unwrap_or((tag, "")))
    }
}

/// Sets a field seen for the first time; a field twice is not a line.
fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), Reason> {
    if slot.is_some() {
        return Err(Reason::UnknownField);
    }
    *slot = Some(value);
    Ok(())
}

fn non_empty(text: &str) -> Result<&str, Reason> {
    if text.is_empty() {
        Err(Reason::UnknownField)
    } else {
        Ok(text)
    }
}

fn parse_line(text: &str) -> Result<Line<'_>, Reason> {
    if text.is_empty() {
        return Err(Reason::Empty);
    }
    // The limit counts the newline; `text` is the line without it, so the
    // room for `text` is one byte less, and the length reported is what was
    // given (terminator excluded).
    if text.len() >= MAX_LINE_LENGTH {
        return Err(Reason::TooLong {
            length: text.len(),
            limit: MAX_LINE_LENGTH - 1,
        });
    }
    if let Some(reason) = validate::first_control(text) {
        return Err(reason);
    }
    let (head, rest) = text.split_once(':').ok_or(Reason::MissingValue)?;
    let (value, rest) = rest.split_once('|').ok_or(Reason::MissingType)?;
    let mut fields = rest.split('|');
    let code = fields.next().unwrap_or_default();
    let kind = MetricType::from_code(code.as_bytes()).ok_or(Reason::BadType)?;

    // Tags after the name: Influx (`,`) or Graphite (`;`).
    let (name, mut raw_tags, mut tag_format) = match head.find([',', ';']) {
        Some(at) => {
            let format = if head.as_bytes()[at] == b',' {
                TagFormat::Influx
            } else {
                TagFormat::Graphite
            };
            (&head[..at], Some(&head[at + 1..]), format)
        }
        None => (head, None, TagFormat::DogStatsd),
    };
    validate::name(name, 0).map_err(|e| e.reason().unwrap_or(Reason::BadValue))?;
    // Several values (DogStatsD v1.1) only for the types the Agent packs.
    let packable = matches!(
        kind,
        MetricType::Timing | MetricType::Histogram | MetricType::Distribution
    );
    if packable && value.contains(':') {
        for one in value.split(':') {
            validate::raw_value(one, kind).map_err(|_| Reason::BadValue)?;
        }
    } else {
        validate::raw_value(value, kind).map_err(|_| Reason::BadValue)?;
    }

    let mut sample_rate = None;
    let (mut timestamp, mut container_id, mut external_data, mut cardinality) =
        (None, None, None, None);
    for field in fields {
        // The DogStatsD fields after v1.0, each at most once.
        if let Some(seconds) = field.strip_prefix('T') {
            let seconds = seconds.parse().map_err(|_| Reason::UnknownField)?;
            once(&mut timestamp, seconds)?;
            continue;
        }
        if let Some(id) = field.strip_prefix("c:") {
            once(&mut container_id, non_empty(id)?)?;
            continue;
        }
        if let Some(data) = field.strip_prefix("e:") {
            once(&mut external_data, non_empty(data)?)?;
            continue;
        }
        if let Some(text) = field.strip_prefix("card:") {
            let value = Cardinality::parse(text).ok_or(Reason::UnknownField)?;
            once(&mut cardinality, value)?;
            continue;
        }
        if let Some(rate) = field.strip_prefix('@') {
            let rate: f64 = rate.parse().map_err(|_| Reason::BadSampleRate)?;
            if sample_rate.is_some() || validate::sample_rate(rate).is_err() {
                return Err(Reason::BadSampleRate);
            }
            sample_rate = Some(rate);
        } else if let Some(tags) = field.strip_prefix('#') {
            if raw_tags.is_some() {
                return Err(Reason::UnknownField);
            }
            raw_tags = Some(tags);
            tag_format = TagFormat::DogStatsd;
        } else {
            return Err(Reason::UnknownField);
        }
    }
    let line = Line {
        name,
        value,
        kind,
        sample_rate,
        raw_tags,
        tag_format,
        timestamp,
        container_id,
        external_data,
        cardinality,
    };
    // `k:` (or `k=`) is not the bare tag `k`: refused rather than rewritten.
    let pair = match tag_format {
        TagFormat::DogStatsd => ':',
        TagFormat::Influx | TagFormat::Graphite => '=',
    };
    let separator = match tag_format {
        TagFormat::DogStatsd | TagFormat::Influx => ',',
        TagFormat::Graphite => ';',
    };
    if let Some(raw) = raw_tags {
        // The value is what follows the first separator (a DogStatsD value
        // may itself hold `:`): empty after it is `k:`, refused.
        let empty_value = |tag: &str| tag.split_once(pair).is_some_and(|(_, v)| v.is_empty());
        if raw.split(separator).any(empty_value) {
            return Err(Reason::EmptyTagValue);
        }
    }
    for (key, value) in line.tags() {
        validate::tag(key, value, tag_format)
            .map_err(|e| e.reason().unwrap_or(Reason::BadValue))?;
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_of_every_type() {
        for (text, kind) in [
            ("a:1|c", MetricType::Counter),
            ("a:-1.5|g", MetricType::Gauge),
            ("a:+2|g", MetricType::Gauge),
            ("a:12.5|ms", MetricType::Timing),
            ("a:bob|s", MetricType::Set),
            ("a:3|h", MetricType::Histogram),
            ("a:3|d", MetricType::Distribution),
        ] {
            let line = Line::parse(text).unwrap();
            assert_eq!((line.name, line.kind), ("a", kind), "{text}");
        }
    }

    #[test]
    fn rate_and_tags_in_three_dialects() {
        let dog = Line::parse("a:1|c|@0.1|#k:v,bare").unwrap();
        assert_eq!(dog.sample_rate, Some(0.1));
        assert_eq!(dog.tags().collect::<Vec<_>>(), [("k", "v"), ("bare", "")]);
        let influx = Line::parse("a,k=v,x=y:1|c").unwrap();
        assert_eq!((influx.name, influx.tag_format), ("a", TagFormat::Influx));
        assert_eq!(influx.tags().collect::<Vec<_>>(), [("k", "v"), ("x", "y")]);
        let graphite = Line::parse("a;k=v;x=y:1|c|@0.5").unwrap();
        assert_eq!(
            (graphite.name, graphite.tag_format),
            ("a", TagFormat::Graphite)
        );
        assert_eq!(
            graphite.tags().collect::<Vec<_>>(),
            [("k", "v"), ("x", "y")]
        );
    }

    #[test]
    fn trailing_newline_and_crlf_are_tolerated() {
        assert_eq!(Line::parse("a:1|c\n").unwrap().name, "a");
        assert_eq!(Line::parse("a:1|c\r\n").unwrap().name, "a");
    }

    #[test]
    fn malformed_lines_say_why() {
        let reason = |text| match Line::parse(text).map_err(Error::into_kind) {
            Err(ErrorKind::MalformedLine(reason)) => reason,
            other => panic!("{text:?} gave {other:?}"),
        };
        assert_eq!(reason(""), Reason::Empty);
        assert_eq!(reason("a"), Reason::MissingValue);
        assert_eq!(reason("a:1"), Reason::MissingType);
        assert_eq!(reason("a:1|x"), Reason::BadType);
        assert_eq!(reason("a:1|c|@2"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@0"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|x"), Reason::UnknownField);
        assert_eq!(reason("a:x|c"), Reason::BadValue);
        assert_eq!(reason("a:-1|ms"), Reason::BadValue);
        assert_eq!(reason(":1|c"), Reason::Empty);
        assert_eq!(reason("a b:1|c"), Reason::ForbiddenByte(b' '));
        assert_eq!(reason("a:1|c\nb:1|c"), Reason::ForbiddenByte(b'\n'));
        assert_eq!(reason("a:1|c|#k|v"), Reason::UnknownField);
        assert!(matches!(reason(&"a".repeat(9000)), Reason::TooLong { .. }));
    }

    fn reason(text: &str) -> Reason {
        match Line::parse(text).map_err(Error::into_kind) {
            Err(ErrorKind::MalformedLine(reason)) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn overlong_lines_report_their_real_length() {
        let text = format!("a:1|c|#k:{}", "v".repeat(9000));
        assert_eq!(
            reason(&text),
            Reason::TooLong {
                length: text.len(),
                limit: MAX_LINE_LENGTH - 1
            }
        );
        // With a terminator, the length is still the line's own.
        let exact = "a".repeat(MAX_LINE_LENGTH);
        assert_eq!(
            reason(&format!("{exact}\r\n")),
            Reason::TooLong {
                length: MAX_LINE_LENGTH,
                limit: MAX_LINE_LENGTH - 1
            }
        );
        // The longest line that fits: limit bytes with its newline.
        let mut fits = format!(
            "a:1|c|#{}",
            vec!["k:".to_owned() + &"v".repeat(998); 8].join(",")
        );
        let pad = MAX_LINE_LENGTH - 1 - fits.len() - ",k:".len();
        fits += &format!(",k:{}", "v".repeat(pad));
        assert_eq!(fits.len(), MAX_LINE_LENGTH - 1);
        Line::parse(&fits).unwrap();
    }

    #[test]
    fn unicode_controls_separators_and_bidi_are_refused_anywhere_in_a_line() {
        for c in [
            '\u{85}', '\u{9b}', '\u{80}', '\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}',
            '\u{61c}', '\u{200f}', '\u{feff}',
        ] {
            for text in [
                format!("a{c}b:1|c"),
                format!("a:1{c}|c"),
                format!("s:m{c}|s"),
                format!("a:1|c|#k:v{c}"),
                format!("a:1|c|#k{c}:v"),
                format!("a,k=v{c}:1|c"),
                format!("a:1|c{c}"),
                format!("a:1|c|@0.5{c}"),
            ] {
                assert_eq!(reason(&text), Reason::ForbiddenChar(c), "{text:?}");
            }
        }
        // Joiners are text, not controls.
        Line::parse("family\u{200d}name:1|c").unwrap();
        Line::parse("a:1|c|#k:\u{200c}v").unwrap();
    }

    #[test]
    fn empty_tag_values_after_a_separator_are_refused_not_made_bare() {
        assert_eq!(reason("a:1|c|#k:"), Reason::EmptyTagValue);
        assert_eq!(reason("a:1|c|#x:y,k:"), Reason::EmptyTagValue);
        assert_eq!(reason("a,k=:1|c"), Reason::EmptyTagValue);
        assert_eq!(reason("a;k=:1|c"), Reason::EmptyTagValue);
        let bare = Line::parse("a:1|c|#k").unwrap();
        assert_eq!(bare.tags().collect::<Vec<_>>(), [("k", "")]);
    }

    #[test]
    fn sample_rates_whose_inverse_is_infinite_are_refused() {
        assert_eq!(reason("a:1|c|@5e-324"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@1e-309"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@inf"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@NaN"), Reason::BadSampleRate);
        assert_eq!(
            Line::parse("a:1|c|@1e-300").unwrap().sample_rate,
            Some(1e-300)
        );
    }

    #[test]
    fn dogstatsd_fields_after_v1_0_are_read_once_each() {
        let line =
            Line::parse("t:1:2:3|ms|@0.5|#k:v|T1700000000|c:abc|e:it-false|card:low").unwrap();
        assert_eq!(line.values().collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(line.timestamp, Some(1_700_000_000));
        assert_eq!(line.container_id, Some("abc"));
        assert_eq!(line.external_data, Some("it-false"));
        assert_eq!(line.cardinality, Some(Cardinality::Low));
        assert!(line.has_dogstatsd_extensions());
        assert!(!Line::parse("a:1|c").unwrap().has_dogstatsd_extensions());
        for bad in [
            "a:1|c|T12|T13",
            "a:1|c|Tx",
            "a:1|c|c:",
            "a:1|c|card:huge",
            "a:1:2|c",
            "a:1:2|g",
            "t:1::2|ms",
        ] {
            assert!(Line::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
