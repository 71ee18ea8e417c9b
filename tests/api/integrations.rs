//! The integrations against a capture server: the `metrics` facade recorder,
//! the tower layer inside an axum router (called without a network), and the
//! example axum application served and queried over real TCP.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use statsd_connector::integrations::metrics::{HistogramAs, StatsdRecorder};
use statsd_connector::integrations::tower::StatsdLayer;
use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Line};
use tower::{Layer, Service, ServiceExt};

/// The example application, whose `app` and `http_request` the last test uses.
#[path = "../../examples/axum.rs"]
#[allow(dead_code)]
mod axum_example;

/// A capture server and a started connector sending to it with `prefix`.
async fn statsd(prefix: &str) -> (CaptureServer, Connector) {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .prefix(prefix)
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    (server, statsd)
}

/// Stops the connector and returns every line the server received.
async fn stop_and_collect(server: &CaptureServer, statsd: &Connector) -> Vec<String> {
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    let stats = statsd.stats();
    assert_eq!((stats.rejected, stats.dropped), (0, 0), "{stats:?}");
    server
        .wait_for_lines(stats.sent, Duration::from_secs(5))
        .await
        .unwrap();
    server.lines()
}

/// The lines with timing values (which vary) replaced by `*`, sorted.
fn without_timings(lines: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = lines
        .iter()
        .map(|text| {
            let line = Line::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            match line.kind.code() {
                "ms" => format!("{}:*|ms", line.name),
                _ => text.clone(),
            }
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn metrics_macros_reach_statsd_with_labels_as_tags() {
    let (server, statsd) = statsd("app").await;
    let recorder = StatsdRecorder::new(statsd.clone());
    // A local recorder: no global state shared between tests.
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs", "queue" => "high").increment(3);
        metrics::counter!("jobs", "queue" => "high").increment(1);
        metrics::counter!("restarts").increment(1);
        metrics::counter!("external").absolute(10);
        metrics::counter!("external").absolute(12);
        metrics::gauge!("temperature", "room" => "lab").set(21.5);
        metrics::gauge!("temperature", "room" => "lab").increment(2.0);
        metrics::gauge!("temperature", "room" => "lab").decrement(0.5);
        metrics::gauge!("balance").set(-3.0);
        metrics::histogram!("payload", "route" => "upload", "ok" => "").record(1024.0);
    });
    let lines = stop_and_collect(&server, &statsd).await;
    assert_eq!(
        lines,
        [
            "app.jobs:3|c|#queue:high",
            "app.jobs:1|c|#queue:high",
            "app.restarts:1|c",
            "app.external:10|c",
            "app.external:2|c",
            "app.temperature:21.5|g|#room:lab",
            "app.temperature:+2|g|#room:lab",
            "app.temperature:-0.5|g|#room:lab",
            "app.balance:0|g",
            "app.balance:-3|g",
            "app.payload:1024|h|#route:upload,ok",
        ]
    );
}

#[tokio::test]
async fn histograms_can_be_sent_as_timings_or_distributions() {
    let (server, statsd) = statsd("app").await;
    let timings = StatsdRecorder::new(statsd.clone()).histogram_as(HistogramAs::Timing);
    let distributions = StatsdRecorder::new(statsd.clone()).histogram_as(HistogramAs::Distribution);
    metrics::with_local_recorder(&timings, || {
        metrics::histogram!("query").record(Duration::from_micros(12_500));
        metrics::histogram!("query").record(0.25);
        // A negative time has no statsd spelling: refused and counted.
        metrics::histogram!("query").record(-1.0);
    });
    metrics::with_local_recorder(&distributions, || {
        metrics::histogram!("size", "kind" => "image").record(3.5);
    });
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    assert_eq!(statsd.stats().rejected, 1);
    server
        .wait_for_lines(3, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        server.lines(),
        [
            "app.query:12.5|ms",
            "app.query:250|ms",
            "app.size:3.5|d|#kind:image"
        ]
    );
}

/// A router whose requests are named by the layer's default, the path.
fn router(statsd: Connector) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "alice" }))
        .route("/orders", post(|| async { StatusCode::CREATED }))
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .layer(StatsdLayer::new(statsd))
}

async fn call(app: &Router, method: &str, path: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn tower_layer_times_and_counts_each_response_by_path_method_and_status() {
    let (server, statsd) = statsd("web").await;
    let app = router(statsd.clone());
    assert_eq!(call(&app, "GET", "/users/7").await, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/users/7").await, StatusCode::OK);
    assert_eq!(call(&app, "POST", "/orders").await, StatusCode::CREATED);
    assert_eq!(
        call(&app, "GET", "/broken").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(call(&app, "GET", "/missing").await, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&app, "DELETE", "/orders").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(call(&app, "GET", "/").await, StatusCode::NOT_FOUND);
    let lines = stop_and_collect(&server, &statsd).await;
    assert_eq!(
        without_timings(&lines),
        [
            "web.broken.GET.500.count:1|c",
            "web.broken.GET.500:*|ms",
            "web.missing.GET.404.count:1|c",
            "web.missing.GET.404:*|ms",
            "web.orders.DELETE.405.count:1|c",
            "web.orders.DELETE.405:*|ms",
            "web.orders.POST.201.count:1|c",
            "web.orders.POST.201:*|ms",
            "web.root.GET.404.count:1|c",
            "web.root.GET.404:*|ms",
            "web.users.7.GET.200.count:1|c",
            "web.users.7.GET.200.count:1|c",
            "web.users.7.GET.200:*|ms",
            "web.users.7.GET.200:*|ms",
        ]
    );
}

#[tokio::test]
async fn tower_layer_names_service_errors_and_cancelled_requests() {
    let (server, statsd) = statsd("svc").await;
    let layer = StatsdLayer::new(statsd.clone())
        .name_with(|_| Some("backend".into()))
        .count_suffix("responses");

    // The inner service fails (an Err, not an HTTP error response).
    let failing = layer.layer(tower::service_fn(|_: Request<()>| async {
        Err::<Response<()>, _>(std::io::Error::other("backend down"))
    }));
    let request = Request::put("/anything").body(()).unwrap();
    assert!(failing.oneshot(request).await.is_err());

    // The response future is dropped before it completes.
    let mut hanging = layer.layer(tower::service_fn(|_: Request<()>| {
        std::future::pending::<Result<Response<()>, Infallible>>()
    }));
    let future = hanging
        .ready()
        .await
        .unwrap()
        .call(Request::get("/slow").body(()).unwrap());
    drop(future);

    let lines = stop_and_collect(&server, &statsd).await;
    assert_eq!(
        without_timings(&lines),
        [
            "svc.backend.GET.cancelled.responses:1|c",
            "svc.backend.GET.cancelled:*|ms",
            "svc.backend.PUT.error.responses:1|c",
            "svc.backend.PUT.error:*|ms",
        ]
    );
}

#[tokio::test]
async fn tower_layer_can_time_without_counting_and_skip_requests() {
    let (server, statsd) = statsd("svc").await;
    let layer = StatsdLayer::new(statsd.clone())
        .count_responses(false)
        .name_with(|parts| match parts.uri.path() {
            "/health" => None,
            path => Some(path.into()),
        });
    let service = layer.layer(tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    for path in ["/health", "/api/v1/items", "/health"] {
        let request = Request::get(path).body(()).unwrap();
        service.clone().oneshot(request).await.unwrap();
    }
    let lines = stop_and_collect(&server, &statsd).await;
    assert_eq!(without_timings(&lines), ["svc.api.v1.items.GET.200:*|ms"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_axum_application_is_timed_and_counted_over_http() {
    let (server, statsd) = statsd("example").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
    let serve =
        axum::serve(listener, axum_example::app(statsd.clone())).with_graceful_shutdown(async {
            let _ = shutdown_signal.await;
        });
    let serving = tokio::spawn(async move { serve.await });

    for (method, path, expected, _) in axum_example::SELF_TEST {
        let status = axum_example::http_request(address, method, path)
            .await
            .unwrap();
        assert_eq!(status, expected, "{method} {path}");
    }
    let _ = shutdown.send(());
    serving.await.unwrap().unwrap();

    let lines = stop_and_collect(&server, &statsd).await;
    assert_eq!(
        without_timings(&lines),
        [
            "example.fail.GET.500.count:1|c",
            "example.fail.GET.500:*|ms",
            "example.unmatched.GET.404.count:1|c",
            "example.unmatched.GET.404:*|ms",
            "example.users.POST.201.count:1|c",
            "example.users.POST.201:*|ms",
            "example.users.id.GET.200.count:1|c",
            "example.users.id.GET.200:*|ms",
        ]
    );
}

#[tokio::test]
async fn a_disabled_connector_makes_both_integrations_silent() {
    let statsd = Connector::builder().enabled(false).build().unwrap();
    let recorder = StatsdRecorder::new(statsd.clone());
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs").increment(1);
        metrics::gauge!("depth", "k" => "v").set(1.0);
    });
    let app = router(statsd.clone());
    assert_eq!(call(&app, "GET", "/users/1").await, StatusCode::OK);
    assert_eq!(statsd.stats().accepted, 0);
}
