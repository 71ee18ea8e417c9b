//! Arbitrary bytes into `Line::parse_bytes`: never panics, and every line that
//! parses keeps the grammar's promises (see `check_parsed_line`). A parsed line
//! written back in canonical form parses again to the same line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statsd_connector::{Line, MAX_LINE_LENGTH};
use statsd_connector_fuzz::{check_parsed_line, render};

fuzz_target!(|data: &[u8]| {
    let parsed = Line::parse_bytes(data);
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(parsed.is_err(), "non-UTF-8 input parsed");
        return;
    };
    // `parse` and `parse_bytes` agree.
    assert_eq!(
        Line::parse(text).ok(),
        parsed.as_ref().ok().cloned(),
        "parse and parse_bytes disagree on {text:?}"
    );
    let Ok(line) = parsed else {
        return;
    };
    check_parsed_line(text, &line);

    // Round trip: the canonical rendering parses to the same line (unless the
    // rate written in full decimal, e.g. `@1e-300`, pushed it past the limit).
    let again = render(&line);
    if again.len() >= MAX_LINE_LENGTH {
        return;
    }
    match Line::parse(&again) {
        Ok(reparsed) => {
            assert_eq!(reparsed, line, "{text:?} re-rendered as {again:?}");
            assert_eq!(
                reparsed.tags().collect::<Vec<_>>(),
                line.tags().collect::<Vec<_>>()
            );
        }
        Err(e) => panic!("{text:?} parsed, but its rendering {again:?} did not: {e}"),
    }
});
