//! The Datadog client environment: the `DD_*` variables the official DogStatsD
//! clients read, so that a service deployed with the Datadog Agent's usual
//! settings (the Helm chart, the admission controller, the unified service
//! tags) reports to the right place with the right tags without code changes.
//!
//! The variables are read through a closure (`var`), never from the process
//! environment directly, so the rules are tested with fixed maps and a caller
//! can layer sources. The result is a plain [`DatadogEnv`]: what was set, checked
//! and typed, with no defaults applied beyond the ones noted below; combining it
//! with the builder and `STATSD_*` is the caller's job, by this rule:
//!
//! **explicit builder setting > `STATSD_*` > `DD_*` > built-in default.**
//!
//! The address is taken whole from the first source that names a server: a
//! `STATSD_HOST` is never combined with `DD_DOGSTATSD_PORT`, nor a builder host
//! with an environment port, since the two name different servers as often as
//! not. Tags add up (the builder's, then these).
//!
//! | variable | maps to | rules |
//! |---|---|---|
//! | `DD_DOGSTATSD_URL` | [`DatadogEnv::address`] | wins over `DD_AGENT_HOST`; must have a scheme: `udp://host[:port]` (port 8125 by default), `unix://`, `unixgram://`, `unixstream://` path, or our own `tcp://` |
//! | `DD_AGENT_HOST` | [`DatadogEnv::address`] | a host gives `udp://host:<DD_DOGSTATSD_PORT or 8125>`; `host:port` gives `udp://host:port` (and `DD_DOGSTATSD_PORT` is not read); an address with a scheme is taken as it is; a bare path is refused |
//! | `DD_DOGSTATSD_PORT` | the port with `DD_AGENT_HOST` | 1 to 65535; ignored (with a debug log) without `DD_AGENT_HOST`, as datadog-go does |
//! | `DD_ENTITY_ID` | tag `dd.internal.entity_id:<id>` | |
//! | `DD_ENV` | tag `env:<value>` | |
//! | `DD_SERVICE` | tag `service:<value>` | |
//! | `DD_VERSION` | tag `version:<value>` | |
//! | `DD_TAGS`, else `DATADOG_TAGS` | [`DatadogEnv::tags`] | tags separated by commas or spaces (`team:web,tier:1` or `team:web tier:1`); `key:value` or a bare `key`; `DD_TAGS` wins when both are set; a key that `DD_ENV`, `DD_SERVICE` or `DD_VERSION` also sets is left out (those win) |
//! | `DD_ORIGIN_DETECTION_ENABLED` | [`DatadogEnv::origin_detection`] | `false`, `f`, `0`, `no`, `n`, `off` / `true`, `t`, `1`, `yes`, `y`, `on`, any case; unset: enabled |
//! | `DD_EXTERNAL_ENV` | [`DatadogEnv::external_env`], the `\|e:` field (protocol v1.5) | `\|` and control characters removed |
//! | `DD_CARDINALITY`, then `DATADOG_CARDINALITY` | [`DatadogEnv::cardinality`], the `\|card:` field | `none`, `low`, `orchestrator`, `high`, any case; `DD_CARDINALITY` wins when both are set |
//!
//! Every value is trimmed, and an empty value counts as unset. Where the
//! official clients silently ignore a bad value (an unparsable
//! `DD_DOGSTATSD_URL`, an unknown cardinality, a non-boolean
//! `DD_ORIGIN_DETECTION_ENABLED`), this module returns
//! [`ErrorKind::InvalidEnvironment`] naming the variable, so a typo shows at start-up
//! rather than as metrics that quietly go elsewhere or lose their tags.
//!
//! Tag values are not checked here: the builder checks every global tag.

use super::address::{self, Address, DEFAULT_PORT};
use crate::error::{Error, ErrorKind};
use crate::wire::metric::Cardinality;

/// `DD_DOGSTATSD_URL`: the server as a URL; wins over `DD_AGENT_HOST`.
pub(crate) const DD_DOGSTATSD_URL: &str = "DD_DOGSTATSD_URL";
/// `DD_AGENT_HOST`: the Agent's host (UDP).
pub(crate) const DD_AGENT_HOST: &str = "DD_AGENT_HOST";
/// `DD_DOGSTATSD_PORT`: the Agent's DogStatsD port, with `DD_AGENT_HOST`.
pub(crate) const DD_DOGSTATSD_PORT: &str = "DD_DOGSTATSD_PORT";
/// `DD_ENV`: the `env` tag.
pub(crate) const DD_ENV: &str = "DD_ENV";
/// `DD_SERVICE`: the `service` tag.
pub(crate) const DD_SERVICE: &str = "DD_SERVICE";
/// `DD_VERSION`: the `version` tag.
pub(crate) const DD_VERSION: &str = "DD_VERSION";
/// `DD_TAGS`: global tags, separated by commas or spaces.
pub(crate) const DD_TAGS: &str = "DD_TAGS";
/// `DATADOG_TAGS`: global tags (datadogpy's variable), when `DD_TAGS` is
/// unset.
pub(crate) const DATADOG_TAGS: &str = "DATADOG_TAGS";
/// `DD_ENTITY_ID`: the `dd.internal.entity_id` tag (a Kubernetes pod UID).
pub(crate) const DD_ENTITY_ID: &str = "DD_ENTITY_ID";
/// `DD_ORIGIN_DETECTION_ENABLED`: whether to send the container ID field.
pub(crate) const DD_ORIGIN_DETECTION_ENABLED: &str = "DD_ORIGIN_DETECTION_ENABLED";
/// `DD_EXTERNAL_ENV`: external data for origin detection, the `|e:` field.
pub(crate) const DD_EXTERNAL_ENV: &str = "DD_EXTERNAL_ENV";
/// `DD_CARDINALITY`: the default tag cardinality.
pub(crate) const DD_CARDINALITY: &str = "DD_CARDINALITY";
/// `DATADOG_CARDINALITY`: the default tag cardinality, when `DD_CARDINALITY`
/// is unset.
pub(crate) const DATADOG_CARDINALITY: &str = "DATADOG_CARDINALITY";

/// Every variable [`DatadogEnv::from_vars`] reads, for documentation and
/// diagnostics (a CLI that prints what it found, say).
#[allow(dead_code)]
pub(crate) const VARIABLES: &[&str] = &[
    DD_DOGSTATSD_URL,
    DD_AGENT_HOST,
    DD_DOGSTATSD_PORT,
    DD_ENTITY_ID,
    DD_ENV,
    DD_SERVICE,
    DD_VERSION,
    DD_TAGS,
    DATADOG_TAGS,
    DD_ORIGIN_DETECTION_ENABLED,
    DD_EXTERNAL_ENV,
    DD_CARDINALITY,
    DATADOG_CARDINALITY,
];

/// The tag key `DD_ENTITY_ID` is sent under.
pub(crate) const ENTITY_ID_TAG: &str = "dd.internal.entity_id";

/// What the `DD_*` environment says, checked; `None` where a variable is unset
/// or empty. See the [module documentation](self) for the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct DatadogEnv {
    /// The server, from `DD_DOGSTATSD_URL`, else `DD_AGENT_HOST` (with
    /// `DD_DOGSTATSD_PORT`). Always a complete address with a scheme.
    pub address: Option<Address>,
    /// `DD_ENTITY_ID`, sent as the tag `dd.internal.entity_id:<id>`.
    pub entity_id: Option<String>,
    /// `DD_ENV`, sent as the tag `env:<value>`.
    pub env: Option<String>,
    /// `DD_SERVICE`, sent as the tag `service:<value>`.
    pub service: Option<String>,
    /// `DD_VERSION`, sent as the tag `version:<value>`.
    pub version: Option<String>,
    /// `DD_TAGS`, else `DATADOG_TAGS`: `(key, value)` pairs in the order
    /// written (a bare tag has an empty value).
    pub tags: Vec<(String, String)>,
    /// `DD_ORIGIN_DETECTION_ENABLED`; unset means enabled (see
    /// [`origin_detection_enabled`](DatadogEnv::origin_detection_enabled)).
    pub origin_detection: Option<bool>,
    /// `DD_EXTERNAL_ENV` without `|` and control characters, for the `|e:`
    /// field.
    pub external_env: Option<String>,
    /// `DD_CARDINALITY`, else `DATADOG_CARDINALITY`, for the `|card:` field.
    pub cardinality: Option<Cardinality>,
}

impl DatadogEnv {
    /// Reads the `DD_*` variables through `var` (`|name| std::env::var(name).ok()`
    /// in production, a fixed map in tests).
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<DatadogEnv, Error> {
        let get = |name: &str| {
            var(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        Ok(DatadogEnv {
            address: server_address(&get)?,
            entity_id: get(DD_ENTITY_ID),
            env: get(DD_ENV),
            service: get(DD_SERVICE),
            version: get(DD_VERSION),
            tags: tag_list(&get)?,
            origin_detection: get(DD_ORIGIN_DETECTION_ENABLED)
                .map(|value| boolean(DD_ORIGIN_DETECTION_ENABLED, &value))
                .transpose()?,
            external_env: get(DD_EXTERNAL_ENV)
                .map(|value| sanitize_external_env(&value))
                .filter(|value| !value.is_empty()),
            cardinality: cardinality(&get)?,
        })
    }

    /// Whether origin detection is on: unless `DD_ORIGIN_DETECTION_ENABLED`
    /// said false, it is.
    #[allow(dead_code)]
    pub(crate) fn origin_detection_enabled(&self) -> bool {
        self.origin_detection.unwrap_or(true)
    }

    /// The global tags these variables add, as `(key, value)`, in the order
    /// the official clients add them: entity ID, env, service, version, then
    /// `DD_TAGS` (or `DATADOG_TAGS`) without the keys the three before set.
    pub(crate) fn global_tags(&self) -> Vec<(&str, &str)> {
        let unified = [
            (ENTITY_ID_TAG, &self.entity_id),
            ("env", &self.env),
            ("service", &self.service),
            ("version", &self.version),
        ];
        let mut tags: Vec<(&str, &str)> = unified
            .into_iter()
            .filter_map(|(key, value)| value.as_deref().map(|value| (key, value)))
            .collect();
        let set = tags.len();
        for (key, value) in &self.tags {
            // DD_ENV, DD_SERVICE and DD_VERSION win over the same key in
            // DD_TAGS, as Datadog's unified service tagging says they do.
            if !tags[..set].iter().any(|(k, _)| k == key) {
                tags.push((key, value));
            }
        }
        tags
    }
}

fn invalid(variable: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::from(ErrorKind::InvalidEnvironment {
        variable,
        value: value.to_owned(),
        reason: reason.into(),
    })
}

fn server_address(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Address>, Error> {
    if let Some(url) = get(DD_DOGSTATSD_URL) {
        if !url.contains("://") {
            return Err(invalid(
                DD_DOGSTATSD_URL,
                &url,
                "expected a URL with a scheme: udp://host:port, unix:///path, unixgram:///path or unixstream:///path",
            ));
        }
        return address::parse(&url)
            .map(Some)
            .map_err(|reason| invalid(DD_DOGSTATSD_URL, &url, reason));
    }
    let port_text = get(DD_DOGSTATSD_PORT);
    let Some(host) = get(DD_AGENT_HOST) else {
        if let Some(port) = port_text {
            tracing::debug!(
                port = %port,
                "DD_DOGSTATSD_PORT is set without DD_AGENT_HOST: ignored"
            );
        }
        return Ok(None);
    };
    let parsed = address::parse(&host).map_err(|reason| invalid(DD_AGENT_HOST, &host, reason))?;
    match parsed {
        Address::Host(host) => {
            let port = match port_text {
                Some(text) => address::parse_port(&text)
                    .map_err(|reason| invalid(DD_DOGSTATSD_PORT, &text, reason))?,
                None => DEFAULT_PORT,
            };
            Ok(Some(Address::Udp { host, port }))
        }
        Address::HostPort { host, port } => {
            if let Some(text) = port_text {
                tracing::debug!(
                    port = %text,
                    "DD_AGENT_HOST has a port: DD_DOGSTATSD_PORT is not read"
                );
            }
            Ok(Some(Address::Udp { host, port }))
        }
        Address::Path(_) => Err(invalid(
            DD_AGENT_HOST,
            &host,
            "a socket path needs a scheme: unix://, unixgram:// or unixstream://",
        )),
        other => Ok(Some(other)),
    }
}

/// `DD_TAGS`, else `DATADOG_TAGS`: tags separated by commas or spaces (or
/// both), each `key:value` or a bare `key`; the value is everything after
/// the first `:`. An empty key (`:value`) or a key ending in `:` with no
/// value is an error naming the variable; the builder checks the rest of
/// each tag against the tag format.
fn tag_list(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, Error> {
    for variable in [DD_TAGS, DATADOG_TAGS] {
        let Some(text) = get(variable) else {
            continue;
        };
        let mut tags = Vec::new();
        for tag in text.split([',', ' ']).filter(|tag| !tag.is_empty()) {
            let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
            if key.is_empty() {
                return Err(invalid(variable, &text, format!("tag {tag:?} has no key")));
            }
            if value.is_empty() && tag.ends_with(':') {
                return Err(invalid(
                    variable,
                    &text,
                    format!("tag {tag:?} has an empty value (write the bare tag {key:?})"),
                ));
            }
            tags.push((key.to_owned(), value.to_owned()));
        }
        return Ok(tags);
    }
    Ok(Vec::new())
}

/// The boolean spellings of both official clients, in any case.
fn boolean(variable: &'static str, text: &str) -> Result<bool, Error> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" | "on" => Ok(true),
        "0" | "f" | "false" | "n" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            variable,
            text,
            "expected true or false (also 1/0, t/f, yes/no, y/n, on/off)",
        )),
    }
}

/// Drops what would break the line: `|` and control characters (newlines
/// among them) and whitespace other than the plain space.
fn sanitize_external_env(text: &str) -> String {
    text.chars()
        .filter(|&c| c != '|' && !c.is_control() && (c == ' ' || !c.is_whitespace()))
        .collect()
}

fn cardinality(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Cardinality>, Error> {
    for variable in [DD_CARDINALITY, DATADOG_CARDINALITY] {
        if let Some(text) = get(variable) {
            return match text.parse::<Cardinality>().ok() {
                Some(cardinality) => Ok(Some(cardinality)),
                None => Err(invalid(variable, &text, Cardinality::EXPECTED)),
            };
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env as vars;

    fn read(pairs: &[(&str, &str)]) -> Result<DatadogEnv, Error> {
        DatadogEnv::from_vars(vars(pairs))
    }

    fn address(pairs: &[(&str, &str)]) -> Option<String> {
        read(pairs).unwrap().address.map(|a| a.to_string())
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        read(pairs).unwrap_err().to_string()
    }

    #[test]
    fn nothing_set_is_all_none() {
        let env = read(&[]).unwrap();
        assert_eq!(env, DatadogEnv::default());
        assert!(env.origin_detection_enabled());
        assert!(env.global_tags().is_empty());
    }

    #[test]
    fn the_address_follows_datadog_go() {
        // The cases of datadog-go's TestResolveAddressFromEnvironment
        // (statsd/statsd_test.go) that apply to the environment.
        let h = DD_AGENT_HOST;
        let p = DD_DOGSTATSD_PORT;
        let u = DD_DOGSTATSD_URL;
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars, Option<&str>)] = &[
            (
                &[(h, "10.12.16.9"), (p, "1234")],
                Some("udp://10.12.16.9:1234"),
            ),
            (&[(h, "10.12.16.9")], Some("udp://10.12.16.9:8125")),
            (
                &[(h, "unix://test/path.socket")],
                Some("unix://test/path.socket"),
            ),
            (
                &[(h, "unix://test/path.socket"), (p, "8125")],
                Some("unix://test/path.socket"),
            ),
            (&[(u, "udp://localhost:1234")], Some("udp://localhost:1234")),
            (&[(u, "udp://localhost")], Some("udp://localhost:8125")),
            (
                &[(u, "unix://test/path.socket")],
                Some("unix://test/path.socket"),
            ),
            (
                &[(p, "1234"), (u, "udp://198.51.100.123:4321")],
                Some("udp://198.51.100.123:4321"),
            ),
            (
                &[(h, "localhost"), (u, "udp://198.51.100.123:4321")],
                Some("udp://198.51.100.123:4321"),
            ),
            (&[], None),
            // datadog-go: with only DD_DOGSTATSD_PORT there is no address.
            (&[(p, "1234")], None),
            // A port in DD_AGENT_HOST wins; DD_DOGSTATSD_PORT is not read.
            (&[(h, "agent:9125"), (p, "1234")], Some("udp://agent:9125")),
            (&[(h, "[::1]:9125")], Some("udp://[::1]:9125")),
            (&[(h, "::1")], Some("udp://[::1]:8125")),
            // Beyond datadog-go, as datadogpy reads them.
            (
                &[(u, "unixgram:///var/run/datadog/dsd.socket")],
                Some("unixgram:///var/run/datadog/dsd.socket"),
            ),
            (
                &[(u, "unixstream:///var/run/datadog/dsd.socket")],
                Some("unixstream:///var/run/datadog/dsd.socket"),
            ),
            (
                &[(h, "unixgram:///run/dsd.socket")],
                Some("unixgram:///run/dsd.socket"),
            ),
            // Ours: a TCP statsd server (the Agent takes DogStatsD over UDP and Unix sockets only).
            (&[(u, "tcp://statsd:8125")], Some("tcp://statsd:8125")),
            (&[(h, "tcp://statsd")], Some("tcp://statsd:8125")),
            // Empty counts as unset.
            (&[(u, ""), (h, " agent ")], Some("udp://agent:8125")),
            (&[(h, ""), (p, "1")], None),
        ];
        for (pairs, expected) in cases {
            assert_eq!(address(pairs).as_deref(), *expected, "{pairs:?}");
        }
    }

    #[test]
    fn bad_addresses_are_errors_naming_the_variable() {
        assert_eq!(
            error(&[(DD_DOGSTATSD_URL, "localhost:1234")]),
            "invalid environment variable DD_DOGSTATSD_URL=\"localhost:1234\": expected a URL with a scheme: udp://host:port, unix:///path, unixgram:///path or unixstream:///path"
        );
        assert_eq!(
            error(&[(DD_DOGSTATSD_URL, "udp://:8125")]),
            "invalid environment variable DD_DOGSTATSD_URL=\"udp://:8125\": empty host"
        );
        assert_eq!(
            error(&[(DD_DOGSTATSD_URL, "http://agent")]),
            "invalid environment variable DD_DOGSTATSD_URL=\"http://agent\": unknown scheme \"http\" (expected udp, tcp, unix, unixgram or unixstream)"
        );
        assert_eq!(
            error(&[(DD_AGENT_HOST, "agent"), (DD_DOGSTATSD_PORT, "0")]),
            "invalid environment variable DD_DOGSTATSD_PORT=\"0\": port 0 is out of range (1 to 65535)"
        );
        assert_eq!(
            error(&[(DD_AGENT_HOST, "agent"), (DD_DOGSTATSD_PORT, "eighty")]),
            "invalid environment variable DD_DOGSTATSD_PORT=\"eighty\": port \"eighty\" is not a number"
        );
        assert_eq!(
            error(&[(DD_AGENT_HOST, "/var/run/datadog/dsd.socket")]),
            "invalid environment variable DD_AGENT_HOST=\"/var/run/datadog/dsd.socket\": a socket path needs a scheme: unix://, unixgram:// or unixstream://"
        );
        assert!(matches!(
            read(&[(DD_AGENT_HOST, "a b")]).unwrap_err().kind(),
            ErrorKind::InvalidEnvironment {
                variable: "DD_AGENT_HOST",
                ..
            }
        ));
        // An unused bad port is not read, so not an error.
        assert!(read(&[(DD_DOGSTATSD_PORT, "x")]).unwrap().address.is_none());
        // A URL wins even over a bad DD_AGENT_HOST, which is then not read.
        assert!(read(&[(DD_DOGSTATSD_URL, "udp://a:1"), (DD_AGENT_HOST, "a b")]).is_ok());
    }

    #[test]
    fn unified_service_tags_and_the_entity_id_become_global_tags() {
        let env = read(&[
            (DD_ENV, "prod"),
            (DD_SERVICE, "checkout"),
            (DD_VERSION, " 1.2.3 "),
            (DD_ENTITY_ID, "a9f3c1d2-pod-uid"),
        ])
        .unwrap();
        assert_eq!(
            env.global_tags(),
            [
                ("dd.internal.entity_id", "a9f3c1d2-pod-uid"),
                ("env", "prod"),
                ("service", "checkout"),
                ("version", "1.2.3"),
            ]
        );
        let env = read(&[(DD_SERVICE, "checkout"), (DD_ENV, "")]).unwrap();
        assert_eq!(env.global_tags(), [("service", "checkout")]);
        assert_eq!(env.env, None);
    }

    #[test]
    fn dd_tags_are_split_on_commas_and_spaces_and_lose_to_unified_service_tags() {
        let env = read(&[
            (DD_TAGS, " team:web, tier:1  canary,url:http://x:80 "),
            (DATADOG_TAGS, "ignored:yes"),
            (DD_ENV, "prod"),
        ])
        .unwrap();
        assert_eq!(
            env.tags,
            [
                ("team".to_owned(), "web".to_owned()),
                ("tier".to_owned(), "1".to_owned()),
                ("canary".to_owned(), String::new()),
                ("url".to_owned(), "http://x:80".to_owned()),
            ]
        );
        let env = read(&[(DD_TAGS, "env:staging,team:web"), (DD_ENV, "prod")]).unwrap();
        assert_eq!(env.global_tags(), [("env", "prod"), ("team", "web")]);
        // DATADOG_TAGS when DD_TAGS is unset or empty.
        let env = read(&[(DD_TAGS, " "), (DATADOG_TAGS, "a:1,b")]).unwrap();
        assert_eq!(env.global_tags(), [("a", "1"), ("b", "")]);
        assert_eq!(
            error(&[(DD_TAGS, "a:1,:2")]),
            "invalid environment variable DD_TAGS=\"a:1,:2\": tag \":2\" has no key"
        );
        assert!(matches!(
            read(&[(DATADOG_TAGS, "k:")]).unwrap_err().kind(),
            ErrorKind::InvalidEnvironment {
                variable: "DATADOG_TAGS",
                ..
            }
        ));
    }

    #[test]
    fn origin_detection_reads_both_clients_spellings() {
        let on = |v: &str| {
            read(&[(DD_ORIGIN_DETECTION_ENABLED, v)])
                .unwrap()
                .origin_detection
        };
        for no in [
            "false", "FALSE", "False", "f", "F", "0", "no", "n", "off", "Off",
        ] {
            assert_eq!(on(no), Some(false), "{no}");
        }
        for yes in ["true", "TRUE", "t", "1", "yes", "y", "on"] {
            assert_eq!(on(yes), Some(true), "{yes}");
        }
        assert_eq!(on(""), None);
        assert!(read(&[(DD_ORIGIN_DETECTION_ENABLED, "0")])
            .map(|e| !e.origin_detection_enabled())
            .unwrap());
        // datadog-go treats an unknown value as enabled; we refuse it.
        assert_eq!(
            error(&[(DD_ORIGIN_DETECTION_ENABLED, "disabled")]),
            "invalid environment variable DD_ORIGIN_DETECTION_ENABLED=\"disabled\": expected true or false (also 1/0, t/f, yes/no, y/n, on/off)"
        );
    }

    #[test]
    fn external_env_loses_what_would_break_the_line() {
        let ext = |v: &str| read(&[(DD_EXTERNAL_ENV, v)]).unwrap().external_env;
        assert_eq!(
            ext("it-false,cn-app,pu-4b3f8a2e").as_deref(),
            Some("it-false,cn-app,pu-4b3f8a2e")
        );
        assert_eq!(
            ext("a|b\nc\td\u{7f}e\u{a0}f g").as_deref(),
            Some("abcdef g")
        );
        assert_eq!(ext("|\n|"), None);
    }

    #[test]
    fn cardinality_prefers_dd_cardinality_and_refuses_unknown_values() {
        let card = |pairs: &[(&str, &str)]| read(pairs).unwrap().cardinality;
        // After datadog-go's TestEnvTagCardinality (statsd/tag_cardinality_test.go).
        assert_eq!(
            card(&[
                (DD_CARDINALITY, "low"),
                (DATADOG_CARDINALITY, "orchestrator")
            ]),
            Some(Cardinality::Low)
        );
        assert_eq!(
            card(&[(DATADOG_CARDINALITY, "orchestrator")]),
            Some(Cardinality::Orchestrator)
        );
        assert_eq!(
            card(&[(DD_CARDINALITY, ""), (DATADOG_CARDINALITY, "High")]),
            Some(Cardinality::High)
        );
        assert_eq!(card(&[]), None);
        // datadog-go ignores an invalid value (and falls back to
        // DATADOG_CARDINALITY); we refuse it.
        assert_eq!(
            error(&[(DD_CARDINALITY, "invalid"), (DATADOG_CARDINALITY, "orchestrator")]),
            "invalid environment variable DD_CARDINALITY=\"invalid\": expected none, low, orchestrator or high"
        );
        assert!(matches!(
            read(&[(DATADOG_CARDINALITY, "medium")]).unwrap_err().kind(),
            ErrorKind::InvalidEnvironment {
                variable: "DATADOG_CARDINALITY",
                ..
            }
        ));
    }

    #[test]
    fn cardinality_round_trips_and_names_a_bad_value() {
        for c in [
            Cardinality::None,
            Cardinality::Low,
            Cardinality::Orchestrator,
            Cardinality::High,
        ] {
            assert_eq!(c.to_string().parse::<Cardinality>().unwrap(), c);
            assert_eq!(
                c.to_string().to_uppercase().parse::<Cardinality>().unwrap(),
                c
            );
        }
        assert_eq!(
            "medium".parse::<Cardinality>().unwrap_err().to_string(),
            "invalid configuration: cardinality = \"medium\": expected none, low, orchestrator or high"
        );
    }

    #[test]
    fn variables_lists_every_variable_read() {
        use std::cell::RefCell;
        let seen = RefCell::new(Vec::new());
        let _ = DatadogEnv::from_vars(|name| {
            seen.borrow_mut().push(name.to_owned());
            None
        });
        let mut seen = seen.into_inner();
        seen.sort();
        seen.dedup();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| v.to_string()).collect();
        listed.sort();
        assert_eq!(seen, listed);
    }
}
