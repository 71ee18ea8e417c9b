//! An axum 0.8 application timed and counted by [`StatsdLayer`], each request
//! named after the route that matched it (`axum::extract::MatchedPath`).
//!
//! ```text
//! cargo run --example axum --all-features                  # serve until Ctrl-C
//! cargo run --example axum --all-features -- --self-test    # query itself, print, exit
//! cargo run --example axum --all-features -- --port 8125    # send to a local statsd
//! ```
//!
//! Without `--port`, metrics go to an embedded capture server, and the lines
//! it received are printed at the end. With `--self-test` the program sends a
//! few requests to itself over plain HTTP/1.1 (`GET /users/42`, `POST /users`,
//! `GET /fail`, `GET /nowhere`, `GET /health`), stops, prints the lines and
//! exits 0 if every response and every line is the one expected.
//!
//! The test suite (`tests/api/integrations.rs`) includes this file as a module and
//! uses [`app`] and [`http_request`] directly.

use std::borrow::Cow;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{MatchedPath, Path};
use axum::http::{request::Parts, StatusCode};
use axum::routing::get;
use axum::Router;
use statsd_connector::integrations::tower::StatsdLayer;
use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Line};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The application: three routes, a health check left out of the metrics, and
/// axum's default 404 for everything else.
pub fn app(statsd: Connector) -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/users", axum::routing::post(create_user))
        .route("/fail", get(fail))
        .route("/health", get(|| async { "ok" }))
        // `layer` (not `route_layer`) so that unmatched requests are counted
        // too; it runs after routing, so `MatchedPath` is in the extensions.
        .layer(StatsdLayer::new(statsd).name_with(route_name))
}

/// Names a request after its route: `/users/{id}` makes `users.id`, whatever
/// the id. Requests that matched no route share `unmatched`, so that URL
/// scanners cannot create one metric per URL; the health check is left out.
pub fn route_name(parts: &Parts) -> Option<Cow<'_, str>> {
    match parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some("/health") => None,
        Some(route) => Some(route.into()),
        None => Some("unmatched".into()),
    }
}

async fn user(Path(id): Path<u32>) -> String {
    format!("user {id}\n")
}

async fn create_user() -> StatusCode {
    StatusCode::CREATED
}

async fn fail() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "something broke\n")
}

/// Sends one request over a new connection with a hand-written HTTP/1.1
/// exchange and returns the response's status code.
pub async fn http_request(address: SocketAddr, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    // "HTTP/1.1 200 OK\r\n..."
    let text = String::from_utf8_lossy(&response);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP/1.1 response: {text:?}"),
            )
        })
}

/// What the self-test sends, the status it expects, and the metric name that
/// results (after the prefix; `None`: not recorded).
pub const SELF_TEST: [(&str, &str, u16, Option<&str>); 5] = [
    ("GET", "/users/42", 200, Some("users.id.GET.200")),
    ("POST", "/users", 201, Some("users.POST.201")),
    ("GET", "/fail", 500, Some("fail.GET.500")),
    ("GET", "/nowhere", 404, Some("unmatched.GET.404")),
    ("GET", "/health", 200, None),
];

/// Options from the command line.
struct Options {
    /// Query itself, print and exit.
    self_test: bool,
    /// A statsd on 127.0.0.1 at this port, instead of the embedded server.
    port: Option<u16>,
}

fn options() -> Result<Options, Box<dyn Error>> {
    let mut options = Options {
        self_test: false,
        port: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--self-test" => options.self_test = true,
            "--port" => options.port = Some(args.next().ok_or("--port needs a number")?.parse()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    // The embedded statsd server, unless a real one was named.
    let capture = match options.port {
        Some(_) => None,
        None => Some(CaptureServer::start().await?),
    };
    let port = options
        .port
        .or(capture.as_ref().map(CaptureServer::port))
        .ok_or("no port")?;
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(port)
        .prefix("example")
        .build()?;
    statsd.start().await?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    println!("listening on http://{address}");
    let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
    let serve = axum::serve(listener, app(statsd.clone())).with_graceful_shutdown(async {
        let _ = shutdown_signal.await;
    });
    let serving = tokio::spawn(async move { serve.await });

    let mut failures = Vec::new();
    if options.self_test {
        for (method, path, expected, _) in SELF_TEST {
            let status = http_request(address, method, path).await?;
            println!("{method} {path} -> {status}");
            if status != expected {
                failures.push(format!("{method} {path}: {status}, expected {expected}"));
            }
        }
    } else {
        println!("press Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    }

    // Shutdown, in order: stop serving, then deliver the metrics.
    let _ = shutdown.send(());
    serving.await??;
    let report = statsd.stop().await;
    println!(
        "statsd stopped: {} sent, {} undelivered",
        statsd.stats().sent,
        report.undelivered
    );

    if let Some(capture) = capture {
        capture
            .wait_for_lines(statsd.stats().sent, Duration::from_secs(5))
            .await?;
        let lines = capture.lines();
        println!("the embedded statsd server received:");
        for line in &lines {
            println!("  {line}");
        }
        if options.self_test {
            failures.extend(check_lines(&lines));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("self-test failed: {failures:?}").into())
    }
}

/// Checks that the lines are one timing and one count per recorded request of
/// the self-test, and nothing else.
fn check_lines(lines: &[String]) -> Vec<String> {
    let mut received: Vec<String> = lines
        .iter()
        .filter_map(|line| Line::parse(line).ok())
        .map(|line| match line.kind.code() {
            "ms" => format!("{}|ms", line.name),
            code => format!("{}:{}|{code}", line.name, line.value),
        })
        .collect();
    received.sort();
    let mut expected: Vec<String> = SELF_TEST
        .iter()
        .filter_map(|(_, _, _, name)| *name)
        .flat_map(|name| {
            [
                format!("example.{name}|ms"),
                format!("example.{name}.count:1|c"),
            ]
        })
        .collect();
    expected.sort();
    if received == expected {
        Vec::new()
    } else {
        vec![format!("lines {received:?}, expected {expected:?}")]
    }
}
