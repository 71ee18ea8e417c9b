//! The configuration's rules: defaults, checks, and the environment.

use super::env::truthy;
use super::*;
use crate::error::ErrorKind;

/// An environment of these variables only, for `from_vars`-style readers
/// (the process's own is never touched).
pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

fn from_env(pairs: &[(&str, &str)]) -> Result<Config, Error> {
    Builder::from_env_with(env(pairs))?.build_config()
}

#[test]
fn defaults_match_the_original() {
    let config = Config::builder().host("h").build_config().unwrap();
    assert_eq!(config.port, 8125);
    assert_eq!(config.protocol, Protocol::Tcp);
    assert_eq!(config.reconnect_sleep, Duration::from_secs(1));
    assert_eq!(config.wait_timeout, Duration::from_millis(100));
    assert_eq!(config.max_payload, 1432);
    assert!(config.enabled);
}

#[test]
fn empty_host_is_an_error() {
    for builder in [Config::builder(), Config::builder().host("  ")] {
        let error = builder.build_config().unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::EmptyHost), "{error:?}");
    }
}

#[test]
fn bad_ports_are_named() {
    let port_error = |b: Builder| match b.host("h").build_config().map_err(Error::into_kind) {
        Err(ErrorKind::InvalidPort { value, .. }) => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(port_error(Config::builder().port(0)), "0");
    for text in ["0", "-1", "65536", "80a", "", "eighty"] {
        assert_eq!(port_error(Config::builder().port_text(text)), text);
    }
    let message = Config::builder()
        .host("h")
        .port_text("80a")
        .build_config()
        .unwrap_err()
        .to_string();
    assert_eq!(message, "invalid port \"80a\": not a number");
}

#[test]
fn protocols_parse_in_any_case_and_unknown_ones_are_named() {
    assert_eq!("UDP".parse::<Protocol>().unwrap(), Protocol::Udp);
    assert_eq!("tcp".parse::<Protocol>().unwrap(), Protocol::Tcp);
    let err = "sctp".parse::<Protocol>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown protocol \"sctp\": expected tcp, udp, unix or unixgram"
    );
}

#[test]
fn unix_addresses_choose_the_protocol_and_payload() {
    let config = Config::builder()
        .host("unix:///run/statsd.sock")
        .build_config()
        .unwrap();
    assert_eq!(
        (config.host(), config.protocol()),
        ("/run/statsd.sock", Protocol::Unix)
    );
    let config = Config::builder()
        .host("unixgram:///run/s.sock")
        .build_config()
        .unwrap();
    assert_eq!(config.protocol(), Protocol::Unixgram);
    assert_eq!(config.max_payload, DEFAULT_UNIX_MAX_PAYLOAD);
    let config = Config::builder()
        .host("unix:///run/s.sock")
        .protocol(Protocol::Udp)
        .build_config()
        .unwrap();
    assert_eq!(config.protocol(), Protocol::Unixgram);
    assert!(Config::builder().host("unix://").build_config().is_err());
}

#[test]
fn invalid_prefix_is_an_error() {
    let err = Config::builder()
        .host("h")
        .prefix("a:b")
        .build_config()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPrefix { prefix, .. } if prefix == "a:b"));
    assert!(Config::builder()
        .host("h")
        .prefix("app.")
        .build_config()
        .is_err());
}

#[test]
fn out_of_range_settings_are_errors() {
    let b = || Config::builder().host("h");
    assert!(b().queue_capacity(0).build_config().is_err());
    assert!(b().max_payload(10).build_config().is_err());
    assert!(b().max_payload(70_000).build_config().is_err());
    assert!(b().emitting_threads(0).build_config().is_err());
}

#[test]
fn environment_is_read() {
    let config = from_env(&[
        ("STATSD_HOST", "statsd.local"),
        ("STATSD_PORT", "9125"),
        ("STATSD_PREFIX", "svc"),
        ("STATSD_PROTOCOL", "udp"),
        ("STATSD_RECONNECT_SLEEP", "0.25"),
    ])
    .unwrap();
    assert_eq!(config.host(), "statsd.local");
    assert_eq!(config.port(), 9125);
    assert_eq!(config.prefix(), Some("svc"));
    assert_eq!(config.protocol(), Protocol::Udp);
    assert_eq!(config.reconnect_sleep, Duration::from_millis(250));
    assert!(config.enabled());
}

#[test]
fn no_host_in_the_environment_disables_metrics() {
    let config = from_env(&[]).unwrap();
    assert!(!config.enabled());
    assert!(!from_env(&[("STATSD_HOST", "")]).unwrap().enabled());
}

#[test]
fn enabled_follows_the_truthiness_rules() {
    for yes in ["1", "2", "-1", "0.5", "on", "T", "true", "TRUE", "Yes"] {
        assert!(truthy(yes), "{yes}");
        assert!(from_env(&[("STATSD_HOST", "h"), ("STATSD_ENABLED", yes)])
            .unwrap()
            .enabled());
    }
    for no in ["0", "0.0", "off", "false", "no", "", "nope", "f"] {
        assert!(!truthy(no), "{no}");
        assert!(!from_env(&[("STATSD_HOST", "h"), ("STATSD_ENABLED", no)])
            .unwrap()
            .enabled());
    }
}

#[test]
fn bad_environment_values_are_named() {
    let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_PORT", "x")]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPort { value, .. } if value == "x"));
    let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_PROTOCOL", "quic")]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownProtocol(p) if p == "quic"));
    let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_WAIT_TIMEOUT", "-1")]).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidEnvironment {
            variable: "STATSD_WAIT_TIMEOUT",
            ..
        }
    ));
}

// ---------------------------------------------------------------------------
// Addresses, framing, DD_* and origin detection.

fn built(builder: Builder) -> Config {
    builder.build_config().unwrap()
}

#[test]
fn every_address_form_has_one_meaning() {
    let c = built(Config::builder().host("udp://10.0.0.7:9125"));
    assert_eq!(
        (c.host(), c.port(), c.protocol()),
        ("10.0.0.7", 9125, Protocol::Udp)
    );
    assert_eq!(c.max_payload, DEFAULT_MAX_PAYLOAD);
    let c = built(
        Config::builder()
            .host("tcp://[::1]")
            .protocol(Protocol::Udp),
    );
    assert_eq!(
        (c.host(), c.port(), c.protocol()),
        ("::1", 8125, Protocol::Tcp)
    );
    assert_eq!(c.framing(), Framing::Newline);
    let c = built(Config::builder().host("unixgram:///run/dsd.sock"));
    assert_eq!(
        (c.host(), c.protocol()),
        ("/run/dsd.sock", Protocol::Unixgram)
    );
    assert_eq!(c.max_payload, DEFAULT_UNIX_MAX_PAYLOAD);
    let c = built(Config::builder().host("unixstream:///run/dsd.sock"));
    assert_eq!((c.host(), c.protocol()), ("/run/dsd.sock", Protocol::Unix));
    assert_eq!(
        (c.framing(), c.probes_unix_kind()),
        (Framing::LengthPrefixed, false)
    );
    assert_eq!((c.max_payload, c.max_line_length()), (8192, 8192));
    // unix:// probes at connect time; with a datagram protocol it means
    // datagrams, as before.
    let c = built(Config::builder().host("unix:///run/s.sock"));
    assert_eq!(
        (c.protocol(), c.framing(), c.probes_unix_kind()),
        (Protocol::Unix, Framing::Newline, true)
    );
    let c = built(
        Config::builder()
            .host("unix:///run/s.sock")
            .framing(Framing::LengthPrefixed),
    );
    assert_eq!(c.framing(), Framing::LengthPrefixed);
    for protocol in [Protocol::Udp, Protocol::Unixgram] {
        let c = built(
            Config::builder()
                .host("unix:///run/s.sock")
                .protocol(protocol),
        );
        assert_eq!(
            (c.protocol(), c.probes_unix_kind()),
            (Protocol::Unixgram, false)
        );
    }
    // Bare forms: the protocol and port settings apply.
    let c = built(
        Config::builder()
            .host("statsd:9000")
            .protocol(Protocol::Udp),
    );
    assert_eq!(
        (c.host(), c.port(), c.protocol()),
        ("statsd", 9000, Protocol::Udp)
    );
    let c = built(
        Config::builder()
            .host("/run/s.sock")
            .protocol(Protocol::Unixgram),
    );
    assert_eq!(
        (c.host(), c.protocol()),
        ("/run/s.sock", Protocol::Unixgram)
    );
    let c = built(Config::builder().host("::1").port(9));
    assert_eq!((c.host(), c.port()), ("::1", 9));
}

#[test]
fn bad_addresses_name_the_bad_part() {
    let error = Config::builder()
        .host("udp://:8125")
        .build_config()
        .unwrap_err();
    assert!(error.is_config());
    assert!(
        matches!(error.kind(), ErrorKind::InvalidAddress { reason, .. } if reason == "empty host")
    );
    assert!(Config::builder().host("http://x").build_config().is_err());
    let error = Config::builder()
        .host("unixstream:///s")
        .framing(Framing::Newline)
        .build_config()
        .unwrap_err();
    assert!(matches!(
        error.kind(),
        ErrorKind::InvalidSetting {
            setting: "framing",
            ..
        }
    ));
}

#[test]
fn statsd_host_takes_the_same_forms() {
    let c = from_env(&[("STATSD_HOST", "udp://127.0.0.1:9999")]).unwrap();
    assert_eq!((c.port(), c.protocol()), (9999, Protocol::Udp));
    assert!(!c.is_dogstatsd());
    let c = from_env(&[("STATSD_HOST", "unix:///s.sock")]).unwrap();
    assert_eq!(
        (c.framing(), c.probes_unix_kind()),
        (Framing::Newline, true)
    );
}

#[test]
fn dd_address_declares_dogstatsd_and_datadog_semantics() {
    let c = from_env(&[("DD_AGENT_HOST", "agent"), ("DD_DOGSTATSD_PORT", "8200")]).unwrap();
    assert_eq!(
        (c.host(), c.port(), c.protocol()),
        ("agent", 8200, Protocol::Udp)
    );
    assert!(c.enabled() && c.is_dogstatsd());
    let c = from_env(&[
        ("DD_DOGSTATSD_URL", "unix:///var/run/datadog/dsd.socket"),
        ("DD_AGENT_HOST", "ignored"),
    ])
    .unwrap();
    assert_eq!(c.host(), "/var/run/datadog/dsd.socket");
    // A unix:// stream socket gets the Agent's framing under DD_*.
    assert_eq!(
        (c.framing(), c.probes_unix_kind()),
        (Framing::LengthPrefixed, true)
    );
    assert!(from_env(&[("DD_DOGSTATSD_URL", "agent:8125")]).is_err());
    assert!(from_env(&[("DD_CARDINALITY", "medium")]).is_err());
}

#[test]
fn precedence_is_builder_then_statsd_then_dd() {
    let vars = [
        ("STATSD_HOST", "statsd.internal"),
        ("DD_AGENT_HOST", "agent"),
        ("DD_ENV", "prod"),
        ("DD_SERVICE", "shop"),
        ("DD_VERSION", "1.2"),
        ("DD_ENTITY_ID", "pod-uid"),
    ];
    // STATSD_HOST wins the address whole, and does not declare DogStatsD.
    let c = from_env(&vars).unwrap();
    assert_eq!((c.host(), c.protocol()), ("statsd.internal", Protocol::Tcp));
    assert!(!c.is_dogstatsd());
    let tags: Vec<(&str, &str)> = c
        .global_tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        tags,
        [
            ("dd.internal.entity_id", "pod-uid"),
            ("env", "prod"),
            ("service", "shop"),
            ("version", "1.2")
        ]
    );
    // An explicit builder setting wins over both.
    let c = Builder::from_env_with(env(&vars))
        .unwrap()
        .host("udp://explicit:1")
        .global_tag("env", "staging")
        .build_config()
        .unwrap();
    assert_eq!((c.host(), c.port()), ("explicit", 1));
    assert_eq!(c.global_tags.iter().filter(|(k, _)| k == "env").count(), 1);
    assert!(c.global_tags.contains(&("env".into(), "staging".into())));
    // With STATSD_HOST, the DD_* address is not read, so a bad one is no error.
    let c = from_env(&[("STATSD_HOST", "h"), ("DD_DOGSTATSD_URL", "nonsense")]).unwrap();
    assert_eq!(c.host(), "h");
    // Every STATSD_* rule still holds next to DD_*.
    let c = from_env(&[("DD_AGENT_HOST", "agent"), ("STATSD_ENABLED", "no")]).unwrap();
    assert!(!c.enabled());
    assert!(!from_env(&[("DD_DOGSTATSD_PORT", "9")]).unwrap().enabled());
}

#[test]
fn dogstatsd_fields_are_read_and_only_kept_in_dogstatsd_mode() {
    let vars = [
        ("DD_AGENT_HOST", "agent"),
        ("DD_EXTERNAL_ENV", "it-false,cn-app,pu-1234"),
        ("DATADOG_CARDINALITY", "orchestrator"),
        ("DD_ORIGIN_DETECTION_ENABLED", "false"),
    ];
    let c = from_env(&vars).unwrap();
    assert_eq!(c.cardinality(), Some(Cardinality::Orchestrator));
    // Detection off: no container ID, and (as datadog-go) no |e: either.
    assert_eq!((c.container_id(), c.external_env()), (None, None));
    let c = from_env(&vars[..3]).unwrap();
    assert_eq!(c.external_env(), Some("it-false,cn-app,pu-1234"));
    let c = Builder::from_env_with(env(&vars))
        .unwrap()
        .container_id("explicit-id")
        .build_config()
        .unwrap();
    assert_eq!(c.container_id(), Some("explicit-id"));
    // Not DogStatsD: none of them.
    let c = built(
        Config::builder()
            .host("h")
            .container_id("x")
            .cardinality(Cardinality::Low),
    );
    assert_eq!(
        (c.container_id(), c.cardinality(), c.external_env()),
        (None, None, None)
    );
}

#[test]
fn origin_detection_reads_the_root_it_is_given() {
    let id = "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860";
    let root = super::test_dir::TestDir::new("origin-builder");
    root.write("proc/self/cgroup", &format!("12:memory:/docker/{id}\n"));
    let c = built(
        Config::builder()
            .host("h")
            .dogstatsd(true)
            .origin_root(root.path()),
    );
    assert_eq!(c.container_id(), Some(id));
    let c = built(
        Config::builder()
            .host("h")
            .dogstatsd(true)
            .origin_detection(false)
            .origin_root(root.path()),
    );
    assert_eq!(c.container_id(), None);
    let c = built(Config::builder().host("h").origin_root(root.path()));
    assert_eq!(c.container_id(), None, "DogStatsD mode only");
    let empty = super::test_dir::TestDir::new("origin-empty");
    let c = built(
        Config::builder()
            .host("h")
            .dogstatsd(true)
            .origin_root(empty.path()),
    );
    assert_eq!(c.container_id(), None);
}

#[test]
fn a_container_id_that_could_break_or_add_a_field_is_refused() {
    // Found by the dogstatsd fuzz target: `|h:web` would have become the
    // hostname of every event.
    for bad in [
        "b1700000000|h:web",
        "a\nb",
        "a,b",
        "a#b",
        "a b",
        "a\u{2028}b",
    ] {
        let error = Config::builder()
            .host("localhost")
            .dogstatsd(true)
            .container_id(bad)
            .build_config()
            .unwrap_err();
        assert!(
            matches!(
                error.kind(),
                ErrorKind::InvalidSetting {
                    setting: "container_id",
                    ..
                }
            ),
            "{bad:?}: {error}"
        );
    }
    let ok = Config::builder()
        .host("localhost")
        .dogstatsd(true)
        .container_id("in-4026531835")
        .build_config()
        .unwrap();
    assert_eq!(ok.container_id(), Some("in-4026531835"));
}
