//! What goes on the wire: prefixes, the statsd spelling of each verb, timers,
//! invalid input, relayed lines, tags and sampling.

use std::time::{Duration, Instant};

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Error, ErrorKind, Metrics};
use statsd_connector_testkit::wait::bounded;

use super::helpers::{assert_clean, builder, lines, ordered, tail, value_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_and_type_prefixes_are_on_the_wire() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port())
        .prefix("app")
        .type_prefixes(true)
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.incr("x").unwrap();
    statsd.gauge("g", 3.0).unwrap();
    statsd.timing("t", Duration::from_millis(5)).unwrap();
    statsd.set("s", "alice").unwrap();
    statsd.histogram("h", 2.5).unwrap();
    statsd.distribution("d", 7.0).unwrap();
    statsd.inject_metric("raw", "4", "c").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 7).await,
        [
            "app.counters.x:1|c",
            "app.gauges.g:3|g",
            "app.timers.t:5|ms",
            "app.sets.s:alice|s",
            "app.histograms.h:2.5|h",
            "app.distributions.d:7|d",
            "app.counters.raw:4|c",
        ]
    );

    // A prefix alone, and the application prefix of the original.
    for (builder, expected) in [
        (ordered(server.port()).prefix("app"), "app.x:1|c"),
        (
            ordered(server.port()).application_prefix("shop", "prod"),
            "applications.shop.prod.x:1|c",
        ),
        (ordered(server.port()).prefix("app").no_prefix(), "x:1|c"),
    ] {
        server.clear();
        let statsd = builder.build().unwrap();
        bounded("start", statsd.start()).await.unwrap();
        statsd.incr("x").unwrap();
        bounded("stop", statsd.stop()).await;
        assert_eq!(lines(&server, 1).await, [expected]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_gauge_is_sent_as_a_reset_then_the_value() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.gauge("g", -5.0).unwrap();
    statsd.gauge("h", -0.25).unwrap();
    statsd.gauge("z", -0.0).unwrap();
    statsd.gauge("p", 5.0).unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 6).await,
        ["g:0|g", "g:-5|g", "h:0|g", "h:-0.25|g", "z:0|g", "p:5|g"]
    );
    // The pair counts as two lines everywhere.
    assert_eq!(statsd.stats().sent, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_deltas_and_timings_have_the_statsd_spelling() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.incr("c").unwrap();
    statsd.decr("c").unwrap();
    statsd.count("c", 7).unwrap();
    statsd.decr_by("c", 3).unwrap();
    statsd.decr_by("c", -3).unwrap();
    statsd.gauge_delta("g", 3.0).unwrap();
    statsd.gauge_delta("g", -2.0).unwrap();
    statsd.gauge_delta("g", 0.5).unwrap();
    statsd.inject_metric("g", "+3", "g").unwrap();
    statsd.inject_metric("g", "-2", "g").unwrap();
    statsd.timing("t", Duration::from_micros(1500)).unwrap();
    statsd.timing("t", Duration::from_secs(2)).unwrap();
    statsd.timing("t", Duration::from_nanos(1)).unwrap();
    statsd.timing_secs("t", 0.25).unwrap();
    statsd.timing_secs("t", 1.5).unwrap();
    statsd.set("s", "bob").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 16).await,
        [
            "c:1|c",
            "c:-1|c",
            "c:7|c",
            "c:-3|c",
            "c:3|c",
            "g:+3|g",
            "g:-2|g",
            "g:+0.5|g",
            "g:+3|g",
            "g:-2|g",
            "t:1.5|ms",
            "t:2000|ms",
            "t:0.000001|ms",
            "t:250|ms",
            "t:1500|ms",
            "s:bob|s",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_guard_and_explicit_timer_send_the_measured_time() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).prefix("app").build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let mut timer = statsd.timer("explicit");
    timer.start().unwrap();
    let elapsed = timer.stop().unwrap();
    timer.send().unwrap();

    let before_guard = Instant::now();
    let guard = statsd.time("guard");
    let at_least = guard.elapsed();
    drop(guard);
    let at_most = before_guard.elapsed();

    statsd.time("cancelled").cancel();
    {
        let _scoped = statsd.time("scoped");
    }
    bounded("stop", statsd.stop()).await;

    let received = lines(&server, 3).await;
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(
        received[0].starts_with("app.explicit:") && received[0].ends_with("|ms"),
        "{received:?}"
    );
    let sent_ms = value_of(&received[0]);
    let expected_ms = elapsed.as_nanos() as f64 / 1e6;
    assert!(
        (sent_ms - expected_ms).abs() < 1e-6,
        "sent {sent_ms} ms, measured {elapsed:?}"
    );

    assert!(
        received[1].starts_with("app.guard:") && received[1].ends_with("|ms"),
        "{received:?}"
    );
    let guard_ms = value_of(&received[1]);
    assert!(
        guard_ms >= at_least.as_nanos() as f64 / 1e6,
        "{guard_ms} < {at_least:?}"
    );
    assert!(
        guard_ms <= at_most.as_nanos() as f64 / 1e6,
        "{guard_ms} > {at_most:?}"
    );
    assert!(
        received[2].starts_with("app.scoped:") && received[2].ends_with("|ms"),
        "{received:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_misuse_is_an_error_and_sends_nothing() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let misuse = |result: Result<(), Error>, what: &str| match result.map_err(Error::into_kind) {
        Err(ErrorKind::TimerMisuse(_)) => {}
        other => panic!("{what}: {other:?}"),
    };
    let mut timer = statsd.timer("misused");
    misuse(timer.stop().map(drop), "stop before start");
    misuse(timer.send(), "send before start");
    timer.start().unwrap();
    misuse(timer.start(), "start twice");
    misuse(timer.send(), "send before stop");
    timer.stop().unwrap();
    misuse(timer.stop().map(drop), "stop twice");
    timer.send().unwrap();
    misuse(timer.send(), "send twice");

    let mut never_started = statsd.timer("never");
    misuse(never_started.send(), "send of a timer never started");
    drop(never_started);

    statsd.incr("marker").unwrap();
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, 2).await;
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(
        received[0].starts_with("misused:") && received[0].ends_with("|ms"),
        "{received:?}"
    );
    assert_eq!(received[1], "marker:1|c");
    // Misuse is not an invalid metric.
    assert_eq!(statsd.stats().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_never_reaches_the_wire_and_never_affects_neighbours() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let mut expected = Vec::new();
    let mut invalid = 0u64;
    let mut valid = 0u64;
    let mut ok = |statsd: &Connector, expected: &mut Vec<String>| {
        statsd.count("ok", valid as i64).unwrap();
        expected.push(format!("ok:{valid}|c"));
        valid += 1;
    };
    macro_rules! refused {
        ($call:expr, $pattern:pat) => {{
            ok(&statsd, &mut expected);
            let result = $call.map_err(Error::into_kind);
            assert!(
                matches!(result, Err($pattern)),
                "{} gave {result:?}",
                stringify!($call)
            );
            invalid += 1;
            ok(&statsd, &mut expected);
        }};
    }

    let long = "n".repeat(2000);
    for name in [
        "a:b",
        "a|b",
        "a\nb",
        "a b",
        "a#b",
        "a@b",
        "\0",
        "",
        "a,b",
        "a\r",
        "a\tb",
        long.as_str(),
    ] {
        refused!(statsd.incr(name), ErrorKind::InvalidName { .. });
        refused!(statsd.gauge(name, 1.0), ErrorKind::InvalidName { .. });
        refused!(
            statsd.timing(name, Duration::from_millis(1)),
            ErrorKind::InvalidName { .. }
        );
        refused!(
            statsd.inject_metric(name, "1", "c"),
            ErrorKind::InvalidName { .. }
        );
    }
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        refused!(statsd.gauge("g", value), ErrorKind::InvalidValue { .. });
        refused!(
            statsd.gauge_delta("g", value),
            ErrorKind::InvalidValue { .. }
        );
        refused!(statsd.histogram("h", value), ErrorKind::InvalidValue { .. });
        refused!(
            statsd.timing_secs("t", value),
            ErrorKind::InvalidValue { .. }
        );
    }
    refused!(
        statsd.timing_secs("t", -1.0),
        ErrorKind::InvalidValue { .. }
    );
    refused!(statsd.set("s", "a|b"), ErrorKind::InvalidValue { .. });
    refused!(statsd.set("s", ""), ErrorKind::InvalidValue { .. });
    for (value, code) in [
        ("NaN", "g"),
        ("inf", "g"),
        ("1e5", "c"),
        ("+1", "c"),
        ("-1", "ms"),
        ("", "c"),
        ("1|c", "c"),
        ("1\n", "c"),
        ("1.2.3", "g"),
        ("x", "c"),
        ("1 ", "c"),
        ("a:b", "s"),
    ] {
        refused!(
            statsd.inject_metric("m", value, code),
            ErrorKind::InvalidValue { .. }
        );
    }
    for code in ["x", "", "C", "ms ", "gauge", "c\n"] {
        refused!(
            statsd.inject_metric("m", "1", code),
            ErrorKind::InvalidType(_)
        );
    }
    for line in [
        "",
        "nocolon",
        "a:1",
        "a:1|x",
        "a:1|c|bogus",
        "a:1|c|@2",
        "a:1|c|@0",
        "a:x|c",
        ":1|c",
        "a b:1|c",
        "a:1|c\nb:1|c",
        "a:1|c|#k|v",
        "a:-1|ms",
    ] {
        refused!(statsd.send_line(line), ErrorKind::MalformedLine(_));
    }
    refused!(
        statsd.with_tags(&[("a|b", "v")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    refused!(
        statsd.with_tags(&[("", "v")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    refused!(
        statsd.with_tags(&[("k", "v,w")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    refused!(
        statsd.with_tags(&[("k", "v\n")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    for rate in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        refused!(
            statsd.sampled(rate).incr("x"),
            ErrorKind::InvalidSampleRate(_)
        );
    }
    // Validation comes before the draw: a bad name fails every sampled call.
    for _ in 0..64 {
        refused!(
            statsd.sampled(0.01).incr("bad:name"),
            ErrorKind::InvalidName { .. }
        );
    }
    // Nine tags that are each valid make a line over MAX_LINE_LENGTH.
    let value = "v".repeat(1000);
    let keys: Vec<String> = (1..=9).map(|i| format!("k{i}")).collect();
    let tags: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), value.as_str())).collect();
    refused!(
        statsd.with_tags(&tags).incr("x"),
        ErrorKind::LineTooLong { .. }
    );

    let stats = statsd.stats();
    assert_eq!(stats.rejected, invalid, "{stats:?}");
    assert_eq!(stats.accepted, valid);
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, valid).await;
    assert_eq!(received, expected);
    assert_eq!(server.line_count(), valid);
    assert_clean(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_line_passes_sample_rate_and_tags_through_with_the_prefix() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).prefix("app").build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.send_line("a:1|c|@0.5|#k:v").unwrap();
    statsd.send_line("b:+2|g\n").unwrap();
    statsd.send_line("c:1.5|ms|#url:http://x,bare").unwrap();
    statsd.send_line("d:alice|s").unwrap();
    statsd.send_line("e,k=v:3|c|@0.25").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 5).await,
        [
            "app.a:1|c|@0.5|#k:v",
            "app.b:+2|g",
            "app.c:1.5|ms|#url:http://x,bare",
            "app.d:alice|s",
            "app.e:3|c|@0.25|#k:v",
        ]
    );
    assert_eq!(statsd.stats().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tags_adds_tags_after_the_global_ones() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port())
        .global_tag("env", "test")
        .build()
        .unwrap();
    let plain = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd
        .with_tags(&[("region", "eu"), ("canary", "")])
        .incr("hits")
        .unwrap();
    statsd.incr("untagged").unwrap();
    statsd
        .with_tags(&[("k", "v")])
        .sampled(1.0)
        .gauge("g", -1.0)
        .unwrap();
    bounded("stop", statsd.stop()).await;
    bounded("start", plain.start()).await.unwrap();
    plain
        .with_tags(&[("region", "eu")])
        .timing("t", Duration::from_millis(2))
        .unwrap();
    plain.with_tags(&[]).incr("no.tags").unwrap();
    bounded("stop", plain.stop()).await;
    assert_eq!(
        lines(&server, 6).await,
        [
            "hits:1|c|#env:test,region:eu,canary",
            "untagged:1|c|#env:test",
            "g:0|g|#env:test,k:v",
            "g:-1|g|#env:test,k:v",
            "t:2|ms|#region:eu",
            "no.tags:1|c",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_at_rate_one_sends_everything_unmarked() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for _ in 0..1_000 {
        statsd.sampled(1.0).incr("always").unwrap();
    }
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, 1_000).await;
    assert!(
        received.iter().all(|l| l == "always:1|c"),
        "{:?}",
        tail(&received)
    );
    assert_eq!(statsd.stats().accepted, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_at_half_sends_about_half_marked_with_the_rate() {
    const CALLS: u64 = 10_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for _ in 0..CALLS {
        statsd.sampled(0.5).incr("half").unwrap();
    }
    let kept = statsd.stats().accepted;
    // Binomial(10 000, 0.5): the standard deviation is 50; this is ten of them.
    assert!(
        (4_500..=5_500).contains(&kept),
        "{kept} of {CALLS} kept at rate 0.5"
    );
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, kept).await;
    assert_eq!(received.len() as u64, kept);
    assert!(
        received.iter().all(|l| l == "half:1|c|@0.5"),
        "{:?}",
        tail(&received)
    );
}
