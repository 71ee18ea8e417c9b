//! The command-line tool, run as a process against the in-process capture
//! server: exit statuses, the summary line, and what reaches the wire.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use statsd_connector::testing::CaptureServer;

const BIN: &str = env!("CARGO_BIN_EXE_statsd-connector");

/// Runs the tool with `args`, feeding `stdin`, with no `STATSD_*` variables.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("STATSD_HOST")
        .env_remove("STATSD_PORT")
        .env_remove("STATSD_PREFIX")
        .env_remove("STATSD_PROTOCOL")
        .env_remove("RUST_LOG")
        .env("DD_ORIGIN_DETECTION_ENABLED", "false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the statsd-connector binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The summary line: the last line of stderr.
fn summary(output: &Output) -> String {
    stderr(output).lines().last().unwrap_or_default().to_owned()
}

/// A port where nothing listens.
fn dead_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_good_lines_from_arguments_exits_0_and_they_arrive() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let output = run(
        &[
            "send",
            "--port",
            &port,
            "--prefix",
            "cli",
            "a:1|c",
            "g:-5|g",
            "t:2.5|ms|#k:v",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        summary(&output),
        "3 sent, 0 invalid, 0 dropped, 0 undelivered, 0 possibly lost"
    );
    server
        .wait_for_lines(3, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        server.lines(),
        ["cli.a:1|c", "cli.g:-5|g", "cli.t:2.5|ms|#k:v"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_streams_standard_input_over_udp_too() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let input: String = (0..1000).map(|i| format!("n{i}:1|c\n")).collect();
    let output = run(
        &["send", "--port", &port, "--protocol", "udp"],
        input.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        summary(&output).starts_with("1000 sent, 0 invalid"),
        "{}",
        summary(&output)
    );
    server
        .wait_for_lines(1000, Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reports_invalid_lines_by_number_sends_the_rest_and_exits_2() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let output = run(
        &["send", "--port", &port],
        b"ok:1|c\nno value here\nok2:2|g\nbad:1|c|@7\n",
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("line 2: malformed statsd line"), "{err}");
    assert!(
        err.contains("line 4: malformed statsd line: sample rate"),
        "{err}"
    );
    assert_eq!(
        summary(&output),
        "2 sent, 2 invalid, 0 dropped, 0 undelivered, 0 possibly lost"
    );
    server
        .wait_for_lines(2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["ok:1|c", "ok2:2|g"]);
}

#[test]
fn send_to_an_unreachable_server_reports_undelivered_and_exits_1() {
    let port = dead_port();
    let started = std::time::Instant::now();
    let output = run(
        &[
            "send",
            "--port",
            &port,
            "--timeout",
            "0.5",
            "a:1|c",
            "b:1|c",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        summary(&output),
        "0 sent, 0 invalid, 0 dropped, 2 undelivered, 0 possibly lost"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_clear_errors_exit_2_and_nothing_malformed_on_the_wire() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let mut input = Vec::new();
    input.extend_from_slice(b"good.one:1|c\n");
    input.extend_from_slice(b"\x00\x01\x02binary\xff\xfe:1|c\n"); // line 2: invalid UTF-8
    input.extend_from_slice(&[b'x'; 20_000]); // line 3: overlong
    input.extend_from_slice(b":1|c\n");
    input.extend_from_slice(b"\n"); // line 4: empty, skipped
    input.extend_from_slice(b"crlf.ok:2|c\r\n"); // line 5: CRLF is accepted
    input.extend_from_slice(b"inj:1|c\x00evil:1|c\n"); // line 6: NUL
    input.extend_from_slice(b"tab\tname:1|c\n"); // line 7: control character
    input.extend_from_slice(b"last:3|c"); // line 8: no final newline
    let output = run(&["send", "--port", &port], &input);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    for expected in [
        "line 2: malformed statsd line: not valid UTF-8",
        "line 3: malformed statsd line:",
        "line 6:",
        "line 7:",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    assert_eq!(
        summary(&output),
        "3 sent, 4 invalid, 0 dropped, 0 undelivered, 0 possibly lost"
    );
    server
        .wait_for_lines(3, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["good.one:1|c", "crlf.ok:2|c", "last:3|c"]);
    assert!(server.malformed().is_empty());
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        run(&["send", "--protocol", "sctp"], b"").status.code(),
        Some(2)
    );
    assert_eq!(run(&["send", "--port", "0x50"], b"").status.code(), Some(2));
    assert_eq!(run(&["frobnicate"], b"").status.code(), Some(2));
    assert_eq!(run(&["--help"], b"").status.code(), Some(0));
}

#[test]
fn bench_prints_one_json_object() {
    for protocol in ["tcp", "udp"] {
        let output = run(
            &[
                "bench",
                "--count",
                "20000",
                "--threads",
                "2",
                "--protocol",
                protocol,
            ],
            b"",
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["metrics"], 40_000);
        let sent = json["sent"].as_u64().unwrap();
        let dropped = json["dropped"].as_u64().unwrap();
        assert_eq!(sent + dropped, 40_000, "{stdout}");
        assert!(json["emit_s"].as_f64().unwrap() <= json["total_s"].as_f64().unwrap());
    }
}

#[test]
fn demo_exits_0_and_shows_nothing_lost() {
    let output = run(&["demo"], b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        stderr(&output)
    );
    assert!(stdout.contains("nothing lost"), "{stdout}");
    assert!(stdout.contains("reconnects    1"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reads_the_statsd_environment() {
    let server = CaptureServer::start().await.unwrap();
    let output = Command::new(BIN)
        .args(["send", "env.line:1|c"])
        .env("STATSD_HOST", "127.0.0.1")
        .env("STATSD_PORT", server.port().to_string())
        .env("STATSD_PREFIX", "fromenv")
        .env("STATSD_PROTOCOL", "udp")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["fromenv.env.line:1|c"]);
}

/// A command with no statsd or Datadog variable from the test's own
/// environment.
fn clean_command() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("STATSD_") || name.starts_with("DD_") || name.starts_with("DATADOG_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    // Exact lines: no container id, whatever machine the tests run on.
    command.env("DD_ORIGIN_DETECTION_ENABLED", "false");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_follows_dd_dogstatsd_url_and_the_unified_service_tags() {
    let server = CaptureServer::start().await.unwrap();
    let output = clean_command()
        .args(["send", "dd.line:1|c"])
        .env(
            "DD_DOGSTATSD_URL",
            format!("udp://127.0.0.1:{}", server.port()),
        )
        .env("DD_ENV", "prod")
        .env("DD_SERVICE", "shop")
        .env("DD_VERSION", "1.2")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        server.lines(),
        ["dd.line:1|c|#env:prod,service:shop,version:1.2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_follows_dd_agent_host_and_port_and_host_flag_wins_over_them() {
    let server = CaptureServer::start().await.unwrap();
    let output = clean_command()
        .args(["event", "Deploy", "done"])
        .env("DD_AGENT_HOST", "127.0.0.1")
        .env("DD_DOGSTATSD_PORT", server.port().to_string())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["_e{6,4}:Deploy|done"]);

    // --host names the server whole: the DD_* address is not used.
    let other = CaptureServer::start().await.unwrap();
    let output = clean_command()
        .args([
            "send",
            "--host",
            &format!("udp://127.0.0.1:{}", other.port()),
            "x:1|c",
        ])
        .env("DD_AGENT_HOST", "127.0.0.1")
        .env("DD_DOGSTATSD_PORT", server.port().to_string())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    other
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(other.lines(), ["x:1|c"]);
}

/// Runs `listen` on a free port, sends `lines` over TCP and UDP, and returns
/// what it printed for them.
fn listen_and_send(extra: &[&str], tcp_lines: &str, udp_line: &str) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    // A port free for TCP and UDP: the listener binds it itself.
    let port = loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            break port.to_string();
        }
    };
    let mut child = Command::new(BIN)
        .args(["listen", "--port", &port])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())) {
            Ok(stream) => break stream,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(error) => panic!("listen did not come up: {error}"),
        }
    };
    stream.write_all(tcp_lines.as_bytes()).unwrap();
    drop(stream);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(
        udp_line.as_bytes(),
        ("127.0.0.1", port.parse::<u16>().unwrap()),
    )
    .unwrap();
    let expected = tcp_lines.lines().count() + 1;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    while printed.len() < expected {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "listen exited early"
        );
        printed.push(line.trim_end().to_owned());
    }
    child.kill().unwrap();
    let _ = child.wait();
    printed.sort();
    printed
}

#[test]
fn listen_prints_every_line_it_receives() {
    let printed = listen_and_send(&[], "a:1|c\nb:2|g|#k:v\n", "u:3|ms\n");
    assert_eq!(printed, ["a:1|c", "b:2|g|#k:v", "u:3|ms"]);
}

#[test]
fn listen_parsed_understands_the_three_tag_dialects() {
    let printed = listen_and_send(
        &["--parsed"],
        "a:1|c|#k:v\nb,k=v:2|g\n",
        "c;k=v:3|ms|@0.5\n",
    );
    assert_eq!(
        printed,
        [
            "name=a value=1 type=c tags=dogstatsd{k=v}",
            "name=b value=2 type=g tags=influx{k=v}",
            "name=c value=3 type=ms rate=0.5 tags=graphite{k=v}",
        ]
    );
}

#[test]
fn send_says_why_delivery_failed_in_one_line_whatever_the_log_filter() {
    let port = dead_port();
    let output = run(&["send", "--port", &port, "--timeout", "0.3", "a:1|c"], b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    let why: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("last error:"))
        .collect();
    assert_eq!(why.len(), 1, "{err}");
    assert!(why[0].contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        why[0].to_lowercase().contains("connection refused"),
        "{err}"
    );
    assert_eq!(
        summary(&output),
        "0 sent, 0 invalid, 0 dropped, 1 undelivered, 0 possibly lost"
    );
}

#[cfg(unix)]
#[test]
fn send_to_a_datagram_path_that_is_a_stream_socket_says_wrong_type_without_a_port() {
    let path = std::env::temp_dir().join(format!("statsd-cli-{}-stream.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let output = Command::new(BIN)
        .args([
            "send",
            "--protocol",
            "unixgram",
            "--timeout",
            "0.3",
            "a:1|c",
        ])
        .arg("--host")
        .arg(&path)
        .env_remove("STATSD_PORT")
        .env_remove("STATSD_PREFIX")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("last error:") && err.contains("wrong type"),
        "{err}"
    );
    assert!(err.contains("connection to statsd failed"), "{err}");
    assert!(!err.contains("port"), "a Unix path has no port: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_strips_a_byte_order_mark_at_the_start_of_standard_input() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let output = run(&["send", "--port", &port], b"\xef\xbb\xbfa:1|c\nb:2|c\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    server
        .wait_for_lines(2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["a:1|c", "b:2|c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_skips_only_empty_or_space_and_tab_lines_and_reports_control_only_lines() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let mut input = Vec::new();
    input.extend_from_slice(b"first:1|c\n"); // line 1
    input.extend_from_slice(b"\n"); // line 2: empty, skipped
    input.extend_from_slice(b" \t \n"); // line 3: spaces and tabs, skipped
    input.extend_from_slice(b"\x0b\n"); // line 4: VT
    input.extend_from_slice(b"\x0c\n"); // line 5: FF
    input.extend_from_slice("\u{85}\n".as_bytes()); // line 6: NEL
    input.extend_from_slice("\u{2028}\n".as_bytes()); // line 7: line separator
    input.extend_from_slice(b"\x1c\n"); // line 8: file separator
    input.extend_from_slice(b"last:1|c\n"); // line 9
    let output = run(&["send", "--port", &port], &input);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    for number in 4..=8 {
        assert!(
            err.contains(&format!("line {number}: ")),
            "line {number}: {err}"
        );
    }
    for number in [1, 2, 3, 9] {
        assert!(
            !err.contains(&format!("line {number}: ")),
            "line {number}: {err}"
        );
    }
    assert_eq!(
        summary(&output),
        "2 sent, 5 invalid, 0 dropped, 0 undelivered, 0 possibly lost"
    );
    server
        .wait_for_lines(2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["first:1|c", "last:1|c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reports_the_real_length_of_an_overlong_line() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let mut input = vec![b'x'; 8194];
    input.extend_from_slice(b"\nok:1|c\n");
    let output = run(&["send", "--port", &port], &input);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("line 1: malformed statsd line: 8194 bytes is longer than the limit of 8192"),
        "{err}"
    );
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["ok:1|c"]);
}

// DogStatsD events and service checks.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_with_every_flag_arrives_byte_exact_and_exits_0() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let output = run(
        &[
            "event",
            "--port",
            &port,
            "--tag",
            "env:prod",
            "--tag",
            "canary",
            "--priority",
            "low",
            "--alert-type",
            "success",
            "--aggregation-key",
            "deploys",
            "--source-type",
            "ci",
            "--hostname",
            "web-1",
            "--timestamp",
            "1700000000",
            "Deploy",
            "v2\nrolled out",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(summary(&output), "1 sent, 0 undelivered, 0 possibly lost");
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        server.lines(),
        ["_e{6,14}:Deploy|v2\\nrolled out|d:1700000000|h:web-1|k:deploys|p:low|s:ci|t:success|#env:prod,canary"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_check_by_name_or_code_over_udp_exits_0() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    for status in ["critical", "2"] {
        let output = run(
            &[
                "service-check",
                "--port",
                &port,
                "--protocol",
                "udp",
                "--tag",
                "db:main",
                "--message",
                "down since 10:02",
                "--hostname",
                "db-1",
                "--timestamp",
                "1700000001",
                "db.up",
                status,
            ],
            b"",
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    server
        .wait_for_lines(2, Duration::from_secs(5))
        .await
        .unwrap();
    let line = "_sc|db.up|2|d:1700000001|h:db-1|#db:main|m:down since 10:02";
    assert_eq!(server.lines(), [line, line]);
}

#[test]
fn invalid_events_and_service_checks_exit_2_without_sending() {
    let port = dead_port();
    for args in [
        &["event", "--port", &port, "", "empty title"][..],
        &["event", "--port", &port, "--hostname", "a|b", "t", "x"],
        &["event", "--port", &port, "--tag", "a:b|c", "t", "x"],
        &[
            "service-check",
            "--port",
            &port,
            "--message",
            "a|b",
            "n",
            "0",
        ],
        &[
            "service-check",
            "--port",
            &port,
            "n",
            "0",
            "--timestamp",
            "18446744073709551615",
        ],
    ] {
        let output = run(args, b"");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).starts_with("error: "),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // Usage errors (clap's): a bad enum value, a missing argument.
    for args in [
        &["event", "--port", &port, "--priority", "urgent", "t", "x"][..],
        &["event", "--port", &port, "--alert-type", "Error", "t", "x"],
        &["service-check", "--port", &port, "n", "4"],
        &["service-check", "--port", &port, "n"],
        &["event", "--port", &port, "title only"],
    ] {
        assert_eq!(run(args, b"").status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn event_to_an_unreachable_server_exits_1() {
    let port = dead_port();
    let output = run(
        &["event", "--port", &port, "--timeout", "0.5", "t", "x"],
        b"",
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(summary(&output), "0 sent, 1 undelivered, 0 possibly lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_accepts_event_and_service_check_lines() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    let output = run(
        &["send", "--port", &port, "--prefix", "cli"],
        b"_e{5,3}:Title|a|b|p:low\n_sc|job|1|m:slow\na:1|c\n_sc|job|7\n",
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("line 4: "), "{}", stderr(&output));
    assert_eq!(
        summary(&output),
        "3 sent, 1 invalid, 0 dropped, 0 undelivered, 0 possibly lost"
    );
    server
        .wait_for_lines(3, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        server.lines(),
        ["_e{5,3}:Title|a|b|p:low", "_sc|job|1|m:slow", "cli.a:1|c"]
    );
}

#[test]
fn listen_parsed_prints_events_and_service_checks_by_field() {
    let printed = listen_and_send(
        &["--parsed"],
        "_e{6,4}:Deploy|a\\nb|t:error|#env:prod\n",
        "_sc|db.up|2|h:db-1|m:down\n",
    );
    assert_eq!(
        printed,
        [
            "event title=\"Deploy\" text=\"a\\nb\" alert_type=error tags=dogstatsd{env=prod}",
            "service_check name=\"db.up\" status=critical hostname=\"db-1\" message=\"down\"",
        ]
    );
}
