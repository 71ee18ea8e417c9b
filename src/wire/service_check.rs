//! DogStatsD service checks: what one is, and how it is written as one line.
//!
//! A service check reports the state of a service (ok, warning, critical,
//! unknown) rather than a number, so it has its own grammar, every field
//! delimited by `|`:
//!
//! ```text
//! _sc|<name>|<status>|d:<timestamp>|h:<hostname>|#<tags>|m:<message>
//! ```
//!
//! # What is written
//!
//! As datadog-go writes it (`appendServiceCheck` in `statsd/format.go`): the
//! status as its digit, the optional fields in the order above and only when
//! set, `|#` only when there is a tag (the client's global tags first, then the
//! check's), and the message last, as Datadog's documentation asks. In the
//! message a newline is written as the two characters `\n`, and every `m:` as
//! `m\:` (datadog-go and datadogpy both do: the Agent 5 parser took the message
//! to be whatever followed the last `|m:`, so a message must never contain
//! one). The line ends with `\n`. The client's namespace is not applied to the
//! name: neither datadog-go nor datadogpy does.
//!
//! # What is refused
//!
//! The Agent (7) ends every field, the message included, at the first `|`, so a
//! `|` in a message would cut it short and let the rest pass for other fields
//! (`|#tag` would add a tag); it is refused everywhere. With
//! [`ErrorKind::InvalidField`] naming the field, or
//! [`ErrorKind::InvalidTag`]:
//!
//! | field | refused |
//! | --- | --- |
//! | name | empty; `|`; every control character, the newline included |
//! | hostname | `|`; every control character, the newline included |
//! | message | `|`; every control character but the newline; `\n` or `m\:` written out as text, which would read back as escapes |
//! | tags | as for events: an empty key, `:` in a key, `,` `|` `#` or a control character anywhere |
//! | timestamp | above `i64::MAX`, which the Agent cannot read |
//!
//! and everywhere the C1 controls U+0080 to U+009F, U+2028 and U+2029. A line
//! longer than the limit is refused with
//! [`ErrorKind::LineTooLong`] and its real length. On
//! every error the buffer is left exactly as it was.

use std::fmt;
use std::str::FromStr;

use super::event::{
    check, check_tags, check_timestamp, invalid, optional_length, push_optional, push_tags,
    tags_length, TextRule,
};
use crate::error::{Error, ErrorKind, Reason};

/// The state a service check reports, written as its code `0` to `3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceCheckStatus {
    /// `0`: the service is fine.
    Ok,
    /// `1`: the service works, but something is wrong.
    Warning,
    /// `2`: the service does not work.
    Critical,
    /// `3`: the state is not known.
    Unknown,
}

impl ServiceCheckStatus {
    /// The code on the wire: 0 ok, 1 warning, 2 critical, 3 unknown.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            ServiceCheckStatus::Ok => 0,
            ServiceCheckStatus::Warning => 1,
            ServiceCheckStatus::Critical => 2,
            ServiceCheckStatus::Unknown => 3,
        }
    }

    /// The status for a code, `None` above 3.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(ServiceCheckStatus::Ok),
            1 => Some(ServiceCheckStatus::Warning),
            2 => Some(ServiceCheckStatus::Critical),
            3 => Some(ServiceCheckStatus::Unknown),
            _ => None,
        }
    }

    /// The name: `ok`, `warning`, `critical` or `unknown`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceCheckStatus::Ok => "ok",
            ServiceCheckStatus::Warning => "warning",
            ServiceCheckStatus::Critical => "critical",
            ServiceCheckStatus::Unknown => "unknown",
        }
    }

    /// The status as the Agent reads it: exactly one digit `0` to `3`.
    pub(crate) fn from_wire(text: &str) -> Option<Self> {
        match text.as_bytes() {
            &[digit @ b'0'..=b'3'] => Self::from_code(digit - b'0'),
            _ => None,
        }
    }
}

impl fmt::Display for ServiceCheckStatus {
    /// Writes the name (`ok`, ...); [`code`](Self::code) gives the digit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceCheckStatus {
    type Err = Error;

    /// Reads a code `0` to `3` or a name `ok`, `warning`, `critical`,
    /// `unknown` in any case.
    fn from_str(text: &str) -> Result<Self, Error> {
        if let Some(status) = Self::from_wire(text) {
            return Ok(status);
        }
        [
            ServiceCheckStatus::Ok,
            ServiceCheckStatus::Warning,
            ServiceCheckStatus::Critical,
            ServiceCheckStatus::Unknown,
        ]
        .into_iter()
        .find(|status| status.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            invalid(
                "service check status",
                text,
                Reason::Expected("0, 1, 2, 3, ok, warning, critical or unknown"),
            )
        })
    }
}

/// A DogStatsD service check: a name and a status, plus optional fields,
/// borrowed from the caller. Nothing is checked until it is written.
///
/// An empty hostname or message leaves the field unset, as in datadog-go. Tags
/// are `(key, value)` pairs; an empty value makes a bare tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCheck<'a> {
    name: &'a str,
    status: ServiceCheckStatus,
    timestamp: Option<u64>,
    hostname: Option<&'a str>,
    tags: &'a [(&'a str, &'a str)],
    message: Option<&'a str>,
}

impl<'a> ServiceCheck<'a> {
    /// A check of this name reporting this status, and nothing else.
    #[must_use]
    pub const fn new(name: &'a str, status: ServiceCheckStatus) -> Self {
        ServiceCheck {
            name,
            status,
            timestamp: None,
            hostname: None,
            tags: &[],
            message: None,
        }
    }

    /// When the check ran, in seconds since the Unix epoch (`d:`); without it
    /// the Agent uses the time it received the check.
    #[must_use]
    pub const fn timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// The host it is about (`h:`); empty means none.
    #[must_use]
    pub const fn hostname(mut self, hostname: &'a str) -> Self {
        self.hostname = if hostname.is_empty() {
            None
        } else {
            Some(hostname)
        };
        self
    }

    /// Its own tags, written after the client's global tags.
    #[must_use]
    pub const fn tags(mut self, tags: &'a [(&'a str, &'a str)]) -> Self {
        self.tags = tags;
        self
    }

    /// A message describing the state (`m:`, written last); empty means none.
    #[must_use]
    pub const fn message(mut self, message: &'a str) -> Self {
        self.message = if message.is_empty() {
            None
        } else {
            Some(message)
        };
        self
    }

    /// Checks every field against the table of the module documentation.
    fn validate(&self) -> Result<(), Error> {
        if self.name.is_empty() {
            return Err(invalid("service check name", self.name, Reason::Empty));
        }
        check(self.name, "service check name", TextRule::Field)?;
        if let Some(hostname) = self.hostname {
            check(hostname, "service check hostname", TextRule::Field)?;
        }
        if let Some(message) = self.message {
            check(message, "service check message", TextRule::Message)?;
        }
        if let Some(timestamp) = self.timestamp {
            check_timestamp(timestamp, "service check timestamp")?;
        }
        check_tags(self.tags)
    }
}

/// Appends `check` to `buf` as one line ending in `\n`.
///
/// `global_tags` is the client's tag list, already rendered in the DogStatsD
/// dialect (`env:prod,team`) and checked, or empty; it is written before the
/// check's own tags. The line, newline included, must fit in `max_line` bytes.
/// On any error `buf` is left exactly as it was.
pub(crate) fn write_service_check(
    buf: &mut Vec<u8>,
    check: &ServiceCheck<'_>,
    global_tags: &[u8],
    max_line: usize,
) -> Result<(), Error> {
    let length = check_service_check(check, global_tags, max_line)?;

    let mut timestamp_digits = itoa::Buffer::new();
    let timestamp = check.timestamp.map(|t| timestamp_digits.format(t));
    buf.reserve(length);
    let start = buf.len();
    buf.extend_from_slice(b"_sc|");
    buf.extend_from_slice(check.name.as_bytes());
    buf.push(b'|');
    buf.push(b'0' + check.status.code());
    push_optional(buf, b"|d:", timestamp);
    push_optional(buf, b"|h:", check.hostname);
    push_tags(buf, global_tags, check.tags);
    if let Some(message) = check.message {
        buf.extend_from_slice(b"|m:");
        push_escaped_message(buf, message);
    }
    buf.push(b'\n');
    debug_assert_eq!(buf.len() - start, length);
    Ok(())
}

/// Checks `check` as [`write_service_check`] would, without writing it: its
/// fields, and that its line (with `global_tags`, newline included) fits in
/// `max_line` bytes. Returns that length.
pub(crate) fn check_service_check(
    check: &ServiceCheck<'_>,
    global_tags: &[u8],
    max_line: usize,
) -> Result<usize, Error> {
    debug_assert!(
        memchr::memchr2(b'\n', b'|', global_tags).is_none(),
        "global tags must be rendered and checked"
    );
    check.validate()?;

    let timestamp_length = check
        .timestamp
        .map_or(0, |t| 3 + itoa::Buffer::new().format(t).len());
    // `_sc|` name `|` digit
    let length = 4
        + check.name.len()
        + 2
        + timestamp_length
        + optional_length(check.hostname)
        + tags_length(global_tags, check.tags)
        + check.message.map_or(0, |m| 3 + escaped_message_length(m))
        + 1;
    if length > max_line {
        return Err(Error::from(ErrorKind::LineTooLong {
            length,
            limit: max_line,
        }));
    }
    Ok(length)
}

/// The length of a message once a newline is written `\n` and `m:` `m\:`.
fn escaped_message_length(message: &str) -> usize {
    let bytes = message.as_bytes();
    message.len()
        + memchr::memchr_iter(b'\n', bytes).count()
        + memchr::memmem::find_iter(bytes, b"m:").count()
}

/// Appends a message with a newline written `\n` and every `m:` `m\:`, as
/// datadog-go's `appendEscapedServiceCheckText` does.
fn push_escaped_message(buf: &mut Vec<u8>, message: &str) {
    let bytes = message.as_bytes();
    let mut start = 0;
    for i in memchr::memchr2_iter(b'\n', b':', bytes) {
        let escape: &[u8] = match bytes[i] {
            b'\n' => b"\\n",
            _ if i > 0 && bytes[i - 1] == b'm' => b"\\:",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escape);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::super::dogstatsd_parse::parse_service_check;
    use super::*;

    fn write(check: &ServiceCheck<'_>, global: &[u8]) -> Result<String, Error> {
        let mut buf = Vec::new();
        write_service_check(&mut buf, check, global, usize::MAX)?;
        Ok(String::from_utf8(buf).unwrap())
    }

    fn field_reason(check: &ServiceCheck<'_>) -> (&'static str, Reason) {
        match write(check, b"").map_err(Error::into_kind) {
            Err(ErrorKind::InvalidField { field, reason, .. }) => (field, reason),
            other => panic!("{check:?} gave {other:?}"),
        }
    }

    #[test]
    fn every_field_in_datadog_go_order() {
        let tags = [("db", "main"), ("primary", "")];
        let check = ServiceCheck::new("db.up", ServiceCheckStatus::Critical)
            .message("down\nsince 10:02")
            .tags(&tags)
            .hostname("db-1")
            .timestamp(1_700_000_000);
        assert_eq!(
            write(&check, b"env:prod").unwrap(),
            "_sc|db.up|2|d:1700000000|h:db-1|#env:prod,db:main,primary|m:down\\nsince 10:02\n"
        );
    }

    #[test]
    fn message_escapes_every_m_colon() {
        let check = ServiceCheck::new("c", ServiceCheckStatus::Ok).message("mm:m::em:m");
        assert_eq!(write(&check, b"").unwrap(), "_sc|c|0|m:mm\\:m\\::em\\:m\n");
    }

    #[test]
    fn statuses_by_code_and_name() {
        for (text, status) in [
            ("0", ServiceCheckStatus::Ok),
            ("1", ServiceCheckStatus::Warning),
            ("2", ServiceCheckStatus::Critical),
            ("3", ServiceCheckStatus::Unknown),
            ("ok", ServiceCheckStatus::Ok),
            ("WARNING", ServiceCheckStatus::Warning),
            ("Critical", ServiceCheckStatus::Critical),
            ("unKnown", ServiceCheckStatus::Unknown),
        ] {
            assert_eq!(
                text.parse::<ServiceCheckStatus>().unwrap(),
                status,
                "{text}"
            );
            assert_eq!(
                status.to_string().parse::<ServiceCheckStatus>().unwrap(),
                status
            );
            assert_eq!(ServiceCheckStatus::from_code(status.code()), Some(status));
        }
        for bad in ["4", "-1", "00", "", "warn", "OK!"] {
            assert!(bad.parse::<ServiceCheckStatus>().is_err(), "{bad}");
        }
        assert_eq!(ServiceCheckStatus::from_code(4), None);
    }

    #[test]
    fn each_field_names_itself() {
        let ok = ServiceCheckStatus::Ok;
        assert_eq!(
            field_reason(&ServiceCheck::new("", ok)),
            ("service check name", Reason::Empty)
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("a|b", ok)),
            ("service check name", Reason::ForbiddenByte(b'|'))
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("a\nb", ok)),
            ("service check name", Reason::ForbiddenByte(b'\n'))
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("c", ok).hostname("h\u{2028}")),
            ("service check hostname", Reason::ForbiddenChar('\u{2028}'))
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("c", ok).message("a|#evil")),
            ("service check message", Reason::ForbiddenByte(b'|'))
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("c", ok).message("a\r\nb")),
            ("service check message", Reason::ForbiddenByte(b'\r'))
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("c", ok).message("see C:\\new")),
            ("service check message", Reason::AmbiguousEscape("\\n"))
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("c", ok).message("item\\: x")),
            ("service check message", Reason::AmbiguousEscape("m\\:"))
        );
        assert_eq!(
            field_reason(&ServiceCheck::new("c", ok).timestamp(1 << 63)),
            ("service check timestamp", Reason::OutOfRange)
        );
        assert!(matches!(
            write(&ServiceCheck::new("c", ok).tags(&[("k", "a\nb")]), b"")
                .map_err(Error::into_kind),
            Err(ErrorKind::InvalidTag {
                reason: Reason::ForbiddenByte(b'\n'),
                ..
            })
        ));
    }

    #[test]
    fn too_long_reports_the_real_length_and_leaves_the_buffer() {
        let check = ServiceCheck::new("c", ServiceCheckStatus::Warning).message("m:\n");
        let full = write(&check, b"").unwrap();
        assert_eq!(full, "_sc|c|1|m:m\\:\\n\n");
        let mut buf = b"kept".to_vec();
        assert!(matches!(
            write_service_check(&mut buf, &check, b"", full.len() - 1).map_err(Error::into_kind),
            Err(ErrorKind::LineTooLong { length, .. }) if length == full.len()
        ));
        assert_eq!(buf, b"kept");
    }

    mod properties {
        use super::super::super::event::tests_support::{
            any_text, clean_global, clean_text, expected_tags,
        };
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        struct Input {
            name: String,
            status: ServiceCheckStatus,
            timestamp: Option<u64>,
            hostname: String,
            tags: Vec<(String, String)>,
            message: String,
        }

        fn input(text: fn(usize) -> BoxedStrategy<String>) -> impl Strategy<Value = Input> {
            (
                text(10),
                (0u8..4).prop_map(|c| ServiceCheckStatus::from_code(c).unwrap()),
                proptest::option::of(0u64..=u64::MAX),
                text(8),
                proptest::collection::vec((text(6), text(6)), 0..3),
                text(24),
            )
                .prop_map(|(name, status, timestamp, hostname, tags, message)| Input {
                    name,
                    status,
                    timestamp,
                    hostname,
                    tags,
                    message,
                })
        }

        fn check_round_trip(input: &Input, global: &str, max_line: usize) -> bool {
            let tags: Vec<(&str, &str)> = input
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let mut check = ServiceCheck::new(&input.name, input.status)
                .hostname(&input.hostname)
                .tags(&tags)
                .message(&input.message);
            if let Some(t) = input.timestamp {
                check = check.timestamp(t);
            }
            let before = b"_e{1,1}:a|b\n".to_vec();
            let mut buf = before.clone();
            if let Err(error) = write_service_check(&mut buf, &check, global.as_bytes(), max_line) {
                assert_eq!(buf, before, "{error}");
                if let ErrorKind::LineTooLong { length, .. } = *error.kind() {
                    let mut full = Vec::new();
                    write_service_check(&mut full, &check, global.as_bytes(), usize::MAX).unwrap();
                    assert_eq!(full.len(), length);
                }
                return false;
            }
            let line = &buf[before.len()..];
            assert!(line.len() <= max_line);
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(memchr::memchr_iter(b'\n', line).count(), 1);
            assert!(line[..line.len() - 1]
                .iter()
                .all(|&b| b >= 0x20 && b != 0x7f));
            let line = std::str::from_utf8(line).unwrap();
            assert!(!line
                .chars()
                .any(|c| ('\u{80}'..='\u{9f}').contains(&c) || c == '\u{2028}' || c == '\u{2029}'));

            let parsed = parse_service_check(line).unwrap();
            assert_eq!(parsed.name, input.name);
            assert_eq!(parsed.status, input.status);
            assert_eq!(parsed.timestamp, input.timestamp.map(|t| t as i64));
            assert_eq!(parsed.hostname, check.hostname);
            assert_eq!(parsed.unescaped_message().as_deref(), check.message);
            assert_eq!(
                parsed.tag_pairs().collect::<Vec<_>>(),
                expected_tags(global, &tags)
            );
            assert_eq!(parsed.ignored_fields, 0);
            true
        }

        proptest! {
            #[test]
            fn anything_either_fails_cleanly_or_reads_back(
                input in input(|n| any_text(n).boxed()),
                global in prop_oneof![Just(String::new()), clean_global()],
                max_line in prop_oneof![16usize..160, Just(usize::MAX)],
            ) {
                check_round_trip(&input, &global, max_line);
            }

            #[test]
            fn clean_input_always_reads_back(
                input in input(|n| clean_text(n).boxed()),
                global in clean_global(),
            ) {
                let mut input = input;
                if input.name.is_empty() {
                    input.name.push('c');
                }
                input.tags.retain(|(k, _)| !k.is_empty());
                input.timestamp = input.timestamp.map(|t| t >> 1);
                prop_assert!(check_round_trip(&input, &global, usize::MAX));
            }
        }
    }
}
