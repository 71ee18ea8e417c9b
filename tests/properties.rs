//! Property tests: whatever a caller passes, the result is a typed error or
//! exactly one well-formed line that reads back as the metric that was meant.
//!
//! Lines are captured by a connector that is never started: its queue holds
//! them, and a capture server would only add sockets to the loop. The public
//! way to read a queue back is to deliver it, so each case starts a connector
//! against an in-process capture server once, at the end, for the cases it
//! collected; the per-case checks use `Stats` (accepted vs rejected).

use std::time::Duration;

use proptest::prelude::*;
use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Line, MetricType, Metrics, TagFormat};

/// Names from every corner: plain ones, and ones laced with separators,
/// control characters and non-ASCII text.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_.-]{0,30}",
        any::<String>(),
        "[a-z]{1,5}[:|@#,;= \n\r\t\u{0}\u{7f}][a-z]{0,5}",
        "\\PC{1,40}",
    ]
}

fn tag_part() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,10}",
        "[a-z]{0,3}[:|@#,;= \n=][a-z]{0,3}",
        any::<String>(),
        Just(String::new()),
    ]
}

fn tag_format() -> impl Strategy<Value = TagFormat> {
    prop_oneof![
        Just(TagFormat::DogStatsd),
        Just(TagFormat::Influx),
        Just(TagFormat::Graphite)
    ]
}

#[derive(Debug, Clone)]
enum Call {
    Count(i64),
    Gauge(f64),
    Delta(f64),
    TimingSecs(f64),
    Set(String),
    Histogram(f64),
    Raw(String, String),
}

fn call() -> impl Strategy<Value = Call> {
    let float = prop_oneof![
        any::<f64>(),
        -1e6..1e6f64,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-0.0)
    ];
    prop_oneof![
        any::<i64>().prop_map(Call::Count),
        float.clone().prop_map(Call::Gauge),
        float.clone().prop_map(Call::Delta),
        float.clone().prop_map(Call::TimingSecs),
        name().prop_map(Call::Set),
        float.prop_map(Call::Histogram),
        (any::<String>(), "c|g|ms|s|h|d|x|").prop_map(|(v, t)| Call::Raw(v, t)),
    ]
}

/// Emits one call; returns whether it was accepted and how many lines it makes.
fn emit(
    statsd: &Connector,
    name: &str,
    call: &Call,
    tags: &[(&str, &str)],
    rate: f64,
) -> Option<usize> {
    let scoped = statsd.with_tags(tags).sampled(rate);
    let result = match call {
        Call::Count(n) => scoped.count(name, *n),
        Call::Gauge(v) => scoped.gauge(name, *v),
        Call::Delta(v) => scoped.gauge_delta(name, *v),
        Call::TimingSecs(s) => scoped.timing_secs(name, *s),
        Call::Set(member) => scoped.set(name, member),
        Call::Histogram(v) => scoped.histogram(name, *v),
        Call::Raw(value, code) if tags.is_empty() && rate == 1.0 => {
            statsd.inject_metric(name, value, code)
        }
        Call::Raw(..) => return None,
    };
    match result {
        Ok(()) => Some(if matches!(call, Call::Gauge(v) if *v < 0.0) {
            2
        } else {
            1
        }),
        Err(_) => None,
    }
}

/// Checks one received line against the grammar: one line, a name with no
/// separator or control byte, a value that fits the type.
fn assert_well_formed(line: &str, format: TagFormat) {
    assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
    let parsed = Line::parse(line).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
    assert!(
        !parsed
            .name
            .bytes()
            .any(|b| b":|@#,;= ".contains(&b) || b < 0x20 || b == 0x7f),
        "{line:?}"
    );
    if parsed.raw_tags.is_some() {
        assert_eq!(parsed.tag_format, format, "{line:?}");
    }
    if parsed.kind != MetricType::Set {
        let digits = parsed.value.trim_start_matches(['+', '-']);
        assert!(
            digits.parse::<f64>().map(f64::is_finite).unwrap_or(false),
            "{line:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Each case: a prefix, a tag dialect, and a batch of arbitrary calls. The
    /// server must receive exactly the accepted lines, all well formed, and
    /// the rejected calls must be counted.
    #[test]
    fn every_call_is_an_error_or_exactly_its_lines(
        prefix in proptest::option::of(name()),
        format in tag_format(),
        calls in proptest::collection::vec(
            (name(), call(), proptest::collection::vec((tag_part(), tag_part()), 0..3), prop_oneof![Just(1.0), Just(0.5), any::<f64>()]),
            1..40,
        ),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let server = CaptureServer::start().await.unwrap();
            let mut builder = Connector::builder().host("127.0.0.1").port(server.port()).tag_format(format).emitting_threads(1);
            if let Some(prefix) = &prefix {
                builder = builder.prefix(prefix.clone());
            }
            let Ok(statsd) = builder.build() else {
                // An invalid prefix is refused at construction: nothing to send.
                return Ok(());
            };
            for (name, call, tags, rate) in &calls {
                let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let (accepted_before, rejected) = (statsd.stats().accepted, statsd.stats().rejected);
                let accepted = emit(&statsd, name, call, &tags, *rate);
                let stats = statsd.stats();
                match accepted {
                    // Queued exactly its lines, unless sampled out (rate < 1).
                    Some(lines) if *rate == 1.0 => prop_assert_eq!(stats.accepted - accepted_before, lines as u64),
                    Some(lines) => prop_assert!(stats.accepted - accepted_before == lines as u64 || stats.accepted == accepted_before),
                    // Refused: counted, nothing queued.
                    None => {
                        prop_assert_eq!(stats.accepted, accepted_before);
                        if !matches!(call, Call::Raw(..)) || (tags.is_empty() && *rate == 1.0) {
                            prop_assert_eq!(stats.rejected - rejected, 1);
                        }
                    }
                }
            }
            let expected_lines = statsd.stats().accepted;
            statsd.start().await.unwrap();
            statsd.stop().await;
            server.wait_for_lines(expected_lines, Duration::from_secs(5)).await.unwrap();
            prop_assert!(server.malformed().is_empty(), "malformed: {:?}", server.malformed());
            prop_assert_eq!(server.line_count(), expected_lines);
            for line in server.lines() {
                assert_well_formed(&line, format);
                if let Some(prefix) = &prefix {
                    prop_assert!(line.starts_with(&format!("{prefix}.")), "{}", line);
                }
            }
            Ok(())
        })?;
    }

    /// A valid name and value come back exactly as given.
    #[test]
    fn valid_metrics_read_back_unchanged(
        name in "[a-z][a-z0-9_.-]{0,30}",
        count in any::<i64>(),
        gauge in -1e9..1e9f64,
        tags in proptest::collection::vec(("[a-z][a-z0-9_]{0,8}", "[a-z0-9_]{0,8}"), 0..3),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let server = CaptureServer::start().await.unwrap();
            let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build().unwrap();
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            statsd.with_tags(&tags).count(&name, count).unwrap();
            statsd.with_tags(&tags).gauge_delta(&name, gauge).unwrap();
            statsd.start().await.unwrap();
            statsd.stop().await;
            server.wait_for_lines(2, Duration::from_secs(5)).await.unwrap();
            let lines = server.lines();
            let counter = Line::parse(&lines[0]).unwrap();
            prop_assert_eq!(counter.name, name.as_str());
            prop_assert_eq!(counter.value.parse::<i64>().unwrap(), count);
            prop_assert_eq!(counter.tags().collect::<Vec<_>>(), tags.clone());
            let delta = Line::parse(&lines[1]).unwrap();
            prop_assert_eq!(delta.value.parse::<f64>().unwrap(), gauge);
            prop_assert!(delta.value.starts_with(['+', '-']));
            Ok(())
        })?;
    }

    /// Any text given to `send_line` is refused or queued as exactly one line.
    #[test]
    fn send_line_never_produces_more_than_one_line(text in prop_oneof![any::<String>(), "[a-z]{1,8}:[0-9]{1,4}\\|(c|g|ms|s)(\\|@0\\.5)?(\\|#[a-z]{1,3}:[a-z]{1,3})?[\n|:@#]?[a-z:|]{0,6}"]) {
        let statsd = Connector::builder().host("127.0.0.1").build().unwrap();
        let before = statsd.stats();
        let result = statsd.send_line(&text);
        let after = statsd.stats();
        match result {
            Ok(()) => prop_assert_eq!(after.accepted - before.accepted, 1),
            Err(_) => {
                prop_assert_eq!(after.accepted, before.accepted);
                prop_assert_eq!(after.rejected - before.rejected, 1);
            }
        }
    }
}
