//! Shared oracle for the fuzz targets: the statsd grammar rules of
//! `statsd_connector`, restated independently of the library's own tables so
//! that the targets check the library against a second reading of its docs
//! (`src/validate.rs`, `src/line.rs`, `src/format.rs`).

use statsd_connector::{Line, MetricType, TagFormat, MAX_LINE_LENGTH, MAX_NAME_LENGTH};

/// Whether `issue` is listed in `STATSD_FUZZ_KNOWN` (comma-separated): a
/// known finding whose check is then skipped, so that a long run is not
/// stopped by it. See fuzz/README.md for the names (`overflow`, `dot-zero`,
/// `bare-tag-length`).
pub fn known(issue: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("STATSD_FUZZ_KNOWN")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .iter()
        .any(|k| k == issue)
}

/// Bytes no name, prefix, set member, raw value or tag key may contain.
pub const RESERVED: &[u8] = b":|@#,;= ";

/// `0x00..=0x1f` and `0x7f`.
pub fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Whether `b` may never appear in a name (or key, member, raw value).
pub fn is_reserved(b: u8) -> bool {
    is_control(b) || RESERVED.contains(&b)
}

/// Whether `b` may never appear in a tag value of `format`: DogStatsD allows
/// `:` inside a tag value, the other dialects do not.
pub fn is_reserved_in_tag_value(b: u8, format: TagFormat) -> bool {
    match format {
        TagFormat::DogStatsd => b != b':' && is_reserved(b),
        TagFormat::Influx | TagFormat::Graphite => is_reserved(b),
        // A dialect added later: assume it reserves what plain statsd does.
        _ => is_reserved(b),
    }
}

/// A metric name with `overhead` bytes of prefixes in front of it.
pub fn name_ok(name: &str, overhead: usize) -> bool {
    !name.is_empty() && name.len() + overhead <= MAX_NAME_LENGTH && !name.bytes().any(is_reserved)
}

/// A configured prefix: the name rules, shorter than the name limit, no empty
/// `.` segment.
pub fn prefix_ok(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() < MAX_NAME_LENGTH
        && !prefix.bytes().any(is_reserved)
        && !prefix.split('.').any(str::is_empty)
}

/// One tag, as the sending side checks it (an empty value is a bare key).
pub fn tag_ok(key: &str, value: &str, format: TagFormat) -> bool {
    // Influx and Graphite write a bare tag as `key=true`: that is its length.
    let written_value = match format {
        TagFormat::Influx | TagFormat::Graphite if value.is_empty() => "true".len(),
        _ => value.len(),
    };
    !key.is_empty()
        && key.len() + written_value <= MAX_NAME_LENGTH
        && !key.bytes().any(is_reserved)
        && !value.bytes().any(|b| is_reserved_in_tag_value(b, format))
}

/// A value given as text, for its type: any token without reserved bytes for
/// sets; for the others plain decimal notation, with a leading `+` only for
/// gauges and a leading `-` for anything but timings.
pub fn raw_value_ok(value: &str, kind: MetricType) -> bool {
    if value.is_empty() || value.len() > MAX_NAME_LENGTH || value.bytes().any(is_reserved) {
        return false;
    }
    if kind == MetricType::Set {
        return true;
    }
    let digits = match value.as_bytes()[0] {
        b'+' if kind == MetricType::Gauge => &value[1..],
        b'+' => return false,
        b'-' if kind == MetricType::Timing => return false,
        b'-' => &value[1..],
        _ => value,
    };
    let dots = digits.bytes().filter(|&b| b == b'.').count();
    dots <= 1
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        // Too many digits overflow an f64 (finding `overflow`, fixed).
        && (known("overflow") || digits.parse::<f64>().is_ok_and(f64::is_finite))
}

/// Asserts everything a parsed line promises. `text` is what was parsed.
pub fn check_parsed_line(text: &str, line: &Line<'_>) {
    let body = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text);
    assert!(
        body.len() < MAX_LINE_LENGTH,
        "a line of {} bytes parsed",
        body.len()
    );
    assert!(
        !body.bytes().any(is_control),
        "a line with a control byte parsed: {body:?}"
    );

    // Name: non-empty, no separator or control byte, within the limit.
    assert!(!line.name.is_empty(), "empty name parsed from {body:?}");
    assert!(
        line.name.len() <= MAX_NAME_LENGTH,
        "name of {} bytes parsed",
        line.name.len()
    );
    if let Some(b) = line.name.bytes().find(|&b| is_reserved(b)) {
        panic!("name {:?} contains {b:#04x}; line {body:?}", line.name);
    }

    // Value: non-empty and fit for the type.
    assert!(!line.value.is_empty(), "empty value parsed from {body:?}");
    assert!(
        raw_value_ok(line.value, line.kind),
        "value {:?} does not fit type {}; line {body:?}",
        line.value,
        line.kind
    );
    if line.kind != MetricType::Set {
        let number: f64 = line
            .value
            .parse()
            .unwrap_or_else(|e| panic!("value {:?} is no number ({e}); {body:?}", line.value));
        if !known("overflow") {
            assert!(
                number.is_finite(),
                "value {:?} is plain decimal but not a finite f64; line {body:?}",
                line.value
            );
        }
    }

    // Sample rate in (0, 1].
    if let Some(rate) = line.sample_rate {
        assert!(
            rate > 0.0 && rate <= 1.0,
            "sample rate {rate} parsed from {body:?}"
        );
    }

    // Tags: non-empty keys without separators; values fit the dialect.
    if let Some(raw) = line.raw_tags {
        assert!(!raw.is_empty(), "empty tag list parsed from {body:?}");
    }
    for (key, value) in line.tags() {
        assert!(!key.is_empty(), "empty tag key parsed from {body:?}");
        assert!(
            tag_ok(key, value, line.tag_format),
            "tag {key:?}={value:?} invalid for {:?}; line {body:?}",
            line.tag_format
        );
    }
    if line.raw_tags.is_none() {
        assert_eq!(line.tag_format, TagFormat::DogStatsd, "{body:?}");
    }

    // The parts are pieces of the text.
    for part in [line.name, line.value] {
        assert!(body.contains(part));
    }
}

/// Writes a parsed line back in its own dialect: canonical order (rate, then
/// DogStatsD tags), rate in shortest round-trip decimal.
pub fn render(line: &Line<'_>) -> String {
    let mut out = String::from(line.name);
    let separator = match line.tag_format {
        TagFormat::DogStatsd => None,
        TagFormat::Influx => Some(','),
        TagFormat::Graphite => Some(';'),
        other => panic!("render: the tag dialect {other} is not modelled"),
    };
    if let (Some(sep), Some(raw)) = (separator, line.raw_tags) {
        out.push(sep);
        out.push_str(raw);
    }
    out.push(':');
    out.push_str(line.value);
    out.push('|');
    out.push_str(line.kind.code());
    if let Some(rate) = line.sample_rate {
        out.push_str("|@");
        out.push_str(&plain_float(rate));
    }
    if let (None, Some(raw)) = (separator, line.raw_tags) {
        out.push_str("|#");
        out.push_str(raw);
    }
    out
}

/// A finite float in plain decimal notation (Rust's `Display` never uses an
/// exponent and prints the shortest round-trip digits); `-0` is written `0`,
/// as the library does.
pub fn plain_float(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    format!("{f}")
}

/// A duration in milliseconds with up to six decimals, trailing zeros removed.
pub fn millis(nanos: u128) -> String {
    let whole = nanos / 1_000_000;
    let fraction = nanos % 1_000_000;
    if fraction == 0 {
        whole.to_string()
    } else {
        let digits = format!("{fraction:06}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Parses `whole[.fraction]` milliseconds back into nanoseconds.
pub fn parse_millis(text: &str) -> Option<u128> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 6 || whole.is_empty() {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<6}").parse().ok()?
    };
    Some(whole * 1_000_000 + fraction)
}

/// The Unix datagram socket a target's connectors send to, bound at
/// `$TMPDIR/<prefix><pid>.sock` with a read timeout. libFuzzer ends the
/// process with `exit()`, so sockets are left behind: those of processes
/// that are gone are removed first.
pub fn capture_socket(prefix: &str) -> (std::os::unix::net::UnixDatagram, std::path::PathBuf) {
    let dir = std::env::temp_dir();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(".sock"));
        if let Some(pid) = pid.filter(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            if !std::path::Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let path = dir.join(format!("{prefix}{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind the capture socket");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("set a read timeout");
    (socket, path)
}
