//! Arbitrary text into `Connector::send_line` on a connector that was never
//! started: never panics, and the outcome is exactly what the grammar says.
//! Err (counted in `rejected`) when the line does not parse or cannot be
//! re-emitted under this connector's prefix and tag dialect, otherwise Ok with
//! `accepted` up by one; `LineTooLong` exactly when the re-emitted line would
//! exceed the limit.
//!
//! The first byte picks the connector's tag dialect and prefix; the rest is
//! the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statsd_connector::{Connector, Error, ErrorKind, Line, TagFormat, MAX_LINE_LENGTH};
use statsd_connector_fuzz::{check_parsed_line, name_ok, plain_float, tag_ok};

const PREFIXES: [Option<&str>; 3] = [None, Some("app"), Some("a.b.c")];
const FORMATS: [TagFormat; 3] = [TagFormat::DogStatsd, TagFormat::Influx, TagFormat::Graphite];

/// The line `send_line` should queue for `line`, newline included.
fn expected_line(line: &Line<'_>, prefix: Option<&str>, format: TagFormat) -> String {
    let tags: Vec<(&str, &str)> = line.tags().collect();
    let render_tags = |sep: &str| {
        tags.iter()
            .map(|(k, v)| match (format, v.is_empty()) {
                (TagFormat::DogStatsd, true) => (*k).to_owned(),
                (TagFormat::DogStatsd, false) => format!("{k}:{v}"),
                (_, true) => format!("{k}=true"),
                (_, false) => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(sep)
    };
    let mut out = String::new();
    if let Some(p) = prefix {
        out.push_str(p);
        out.push('.');
    }
    out.push_str(line.name);
    match format {
        TagFormat::Influx if !tags.is_empty() => out += &format!(",{}", render_tags(",")),
        TagFormat::Graphite if !tags.is_empty() => out += &format!(";{}", render_tags(";")),
        _ => {}
    }
    out.push(':');
    out.push_str(line.value);
    out.push('|');
    out.push_str(line.kind.code());
    let rate = line.sample_rate.unwrap_or(1.0);
    if rate < 1.0 {
        out.push_str("|@");
        out.push_str(&plain_float(rate));
    }
    if format == TagFormat::DogStatsd && !tags.is_empty() {
        out += &format!("|#{}", render_tags(","));
    }
    out.push('\n');
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let prefix = PREFIXES[(selector as usize / 3) % PREFIXES.len()];
    let format = FORMATS[selector as usize % FORMATS.len()];
    let mut builder = Connector::builder()
        .host("localhost")
        .queue_capacity(1 << 20)
        .emitting_threads(1)
        .tag_format(format);
    if let Some(p) = prefix {
        builder = builder.prefix(p);
    }
    let statsd = builder.build().expect("a valid configuration");

    let before = statsd.stats();
    let result = statsd.send_line(text);
    let after = statsd.stats();
    let rejected = after.rejected - before.rejected;
    let accepted = after.accepted - before.accepted;
    assert_eq!(after.dropped, before.dropped, "dropped with an empty queue");
    match &result {
        Ok(()) => assert_eq!((accepted, rejected), (1, 0), "Ok for {text:?}"),
        Err(_) => assert_eq!((accepted, rejected), (0, 1), "{result:?} for {text:?}"),
    }

    // What the outcome should have been.
    let line = match Line::parse(text) {
        Ok(line) => line,
        Err(_) => {
            assert!(
                matches!(result.as_ref().map_err(Error::kind), Err(ErrorKind::MalformedLine(_))),
                "{text:?} does not parse, but send_line gave {result:?}"
            );
            return;
        }
    };
    check_parsed_line(text, &line);
    let overhead = prefix.map_or(0, |p| p.len() + 1);
    if !name_ok(line.name, overhead) {
        assert!(
            matches!(result.as_ref().map_err(Error::kind), Err(ErrorKind::InvalidName { .. })),
            "{text:?}: name too long under prefix {prefix:?}, got {result:?}"
        );
        return;
    }
    if line.tags().any(|(k, v)| !tag_ok(k, v, format)) {
        assert!(
            matches!(result.as_ref().map_err(Error::kind), Err(ErrorKind::InvalidTag { .. })),
            "{text:?}: a tag does not fit {format:?}, got {result:?}"
        );
        return;
    }
    let expected = expected_line(&line, prefix, format);
    if expected.len() > MAX_LINE_LENGTH {
        match result.as_ref().map_err(Error::kind) {
            Err(ErrorKind::LineTooLong { length, limit }) => {
                assert_eq!(*limit, MAX_LINE_LENGTH);
                assert_eq!(*length, expected.len(), "{text:?} as {expected:?}");
            }
            other => panic!(
                "{text:?} re-emitted is {} bytes, got {other:?}",
                expected.len()
            ),
        }
    } else {
        assert!(
            result.is_ok(),
            "{text:?} parses and fits as {expected:?}, but send_line gave {result:?}"
        );
    }
});
