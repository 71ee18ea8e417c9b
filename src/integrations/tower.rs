//! A `tower::Layer` for HTTP services (feature `tower`): every request is
//! timed and every response counted, named as the original connector's web
//! integration named them.
//!
//! For a request to route `users_by_id` answered with `200 OK`, after
//! `duration` (from the call to the response headers; the body is not
//! included), the layer sends, after the connector's prefix:
//!
//! ```text
//! users_by_id.GET.200:12.5|ms        a timing: <name>.<METHOD>.<status>
//! users_by_id.GET.200.count:1|c      a counter: the same name, then ".count"
//! ```
//!
//! The timing's name is the original's, so dashboards built on it keep
//! working. Statsd servers already derive a count from a timing (Etsy's
//! `stats.timers.<name>.count`, DogStatsD's `.count`), so the counter is
//! redundant on the server side, but it is what a dashboard of counters needs,
//! it survives servers configured to drop timer counts, and with client-side
//! aggregation on it costs one line per name per flush instead of one per
//! request. Its suffix is a separate segment (not the same name as the
//! timing) because a name with two metric types confuses DogStatsD and
//! Graphite. Change the suffix with [`StatsdLayer::count_suffix`] or turn the
//! counter off with [`StatsdLayer::count_responses`].
//!
//! The status is the response's code, `error` when the inner service fails
//! (returns `Err`, as opposed to an HTTP error response), and `cancelled` when
//! the response future is dropped before it completes (the client went away,
//! or a timeout outside this layer fired): such requests still took time, and
//! leaving them out would make latencies look better than they were.
//!
//! # Naming requests
//!
//! By default the name is the request path: `/` becomes `.`, leading and
//! trailing dots are trimmed, empty segments collapse, characters a statsd
//! name cannot hold (`:|@#,;=`, space, control characters) become `_`, the
//! route-parameter marks `{`, `}` and `*` are dropped (they are glob syntax in
//! Graphite), and an empty path is `root`: `/users/42/` makes `users.42`.
//! See [`path_to_name`].
//!
//! **A raw path makes one metric per distinct URL** (`users.41`, `users.42`,
//! ...), which no statsd server enjoys. Give the layer a name function
//! instead, with [`StatsdLayer::name_with`]: it sees the request's
//! [`Parts`] (method, URI, headers, extensions) and returns the route or
//! handler name, or `None` to leave the request out. Whatever it returns is
//! cleaned up as above, so it may return a path-like route.
//!
//! With axum, the route that matched is in the request extensions as
//! `axum::extract::MatchedPath` when the layer is added with `Router::layer`:
//!
//! ```
//! use axum::{extract::MatchedPath, routing::get, Router};
//! use statsd_connector::integrations::tower::StatsdLayer;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "alice" }))
//!     .layer(StatsdLayer::new(statsd.clone()).name_with(|parts| {
//!         // "/users/{id}" makes users.id.GET.200; unmatched requests (404s)
//!         // share one name instead of one per URL tried.
//!         let route = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
//!         Some(route.unwrap_or("unmatched").into())
//!     }));
//!
//! let request = http::Request::get("/users/42").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! // Queued: users.id.GET.200:<ms>|ms and users.id.GET.200.count:1|c
//! assert_eq!(statsd.stats().accepted, 2);
//! # Ok(()) }
//! ```
//!
//! A disabled connector (no `STATSD_HOST`, for instance) makes the layer a
//! pass-through that does not even compute names.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::request::Parts;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::Connector;
use crate::Metrics;

/// The name function's type: the request's parts in, a route or handler name
/// (or `None`: do not record) out.
type NameFn = dyn for<'a> Fn(&'a Parts) -> Option<Cow<'a, str>> + Send + Sync;

/// The suffix of the response counter by default.
const DEFAULT_COUNT_SUFFIX: &str = "count";

/// A [`tower::Layer`] that times and counts HTTP requests; see the
/// [module documentation](self) for the names.
///
/// ```
/// use statsd_connector::integrations::tower::StatsdLayer;
///
/// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// let layer = StatsdLayer::new(statsd)
///     .name_with(|parts| Some(format!("api.{}", parts.uri.path()).into()))
///     .count_suffix("responses");
/// # let _ = layer;
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Clone)]
pub struct StatsdLayer {
    settings: Arc<Settings>,
}

/// What the layer and its services share.
#[derive(Clone)]
struct Settings {
    /// Where the metrics go.
    connector: Connector,
    /// Names a request.
    name: Arc<NameFn>,
    /// The counter's last segment, already cleaned; `None`: no counter.
    count_suffix: Option<Box<str>>,
}

impl fmt::Debug for StatsdLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsdLayer")
            .field("connector", &self.settings.connector)
            .field("count_suffix", &self.settings.count_suffix)
            .finish_non_exhaustive()
    }
}

impl StatsdLayer {
    /// A layer that sends through `connector` (which the application starts
    /// and stops), naming requests by their path ([`request_path`]) and
    /// counting responses under `<name>.<METHOD>.<status>.count`.
    pub fn new(connector: Connector) -> StatsdLayer {
        StatsdLayer {
            settings: Arc::new(Settings {
                connector,
                name: Arc::new(request_path),
                count_suffix: Some(DEFAULT_COUNT_SUFFIX.into()),
            }),
        }
    }

    /// Names requests with `name`: it returns the route or handler name
    /// (cleaned up as [`path_to_name`] does) or `None` to leave the request
    /// out of the metrics (health checks, say).
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use statsd_connector::integrations::tower::StatsdLayer;
    ///
    /// fn route(parts: &http::request::Parts) -> Option<Cow<'_, str>> {
    ///     match parts.uri.path() {
    ///         "/health" => None,
    ///         path if path.starts_with("/users/") => Some("users_by_id".into()),
    ///         path => Some(path.into()),
    ///     }
    /// }
    /// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// let layer = StatsdLayer::new(statsd).name_with(route);
    /// # let _ = layer;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn name_with<F>(mut self, name: F) -> StatsdLayer
    where
        F: for<'a> Fn(&'a Parts) -> Option<Cow<'a, str>> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.settings).name = Arc::new(name);
        self
    }

    /// The last segment of the response counter's name (default `count`),
    /// cleaned up as [`path_to_name`] does. Turns the counter on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::{integrations::tower::StatsdLayer, testing::CaptureServer, Connector};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
    /// statsd.start().await?;
    /// let service = StatsdLayer::new(statsd.clone())
    ///     .count_suffix("responses")
    ///     .layer(tower::service_fn(|_: http::Request<()>| async {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(()))
    ///     }));
    /// service.oneshot(http::Request::get("/orders").body(())?).await?;
    /// statsd.stop().await;
    /// server.wait_for_lines(2, Duration::from_secs(5)).await?;
    /// assert_eq!(server.lines()[1], "orders.GET.200.responses:1|c"); // after the timing
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn count_suffix(mut self, suffix: &str) -> StatsdLayer {
        let mut cleaned = String::new();
        push_route(&mut cleaned, suffix);
        Arc::make_mut(&mut self.settings).count_suffix = Some(cleaned.into());
        self
    }

    /// Whether responses are counted as well as timed (default true).
    ///
    /// Off, each request sends its timing only; servers derive a count from
    /// timings anyway:
    ///
    /// ```
    /// use statsd_connector::{integrations::tower::StatsdLayer, Connector};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let statsd = Connector::builder().host("localhost").build()?;
    /// let service = StatsdLayer::new(statsd.clone())
    ///     .count_responses(false)
    ///     .layer(tower::service_fn(|_: http::Request<()>| async {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(()))
    ///     }));
    /// service.oneshot(http::Request::get("/orders").body(())?).await?;
    /// assert_eq!(statsd.stats().accepted, 1); // orders.GET.200:<ms>|ms, and no counter
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn count_responses(mut self, on: bool) -> StatsdLayer {
        let settings = Arc::make_mut(&mut self.settings);
        settings.count_suffix = match on {
            true => settings
                .count_suffix
                .take()
                .or_else(|| Some(DEFAULT_COUNT_SUFFIX.into())),
            false => None,
        };
        self
    }
}

impl<S> Layer<S> for StatsdLayer {
    type Service = StatsdService<S>;

    fn layer(&self, inner: S) -> StatsdService<S> {
        StatsdService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service [`StatsdLayer`] wraps around another: it times each call and
/// counts its response.
#[derive(Clone)]
pub struct StatsdService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S: fmt::Debug> fmt::Debug for StatsdService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsdService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> StatsdService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, RequestBody, ResponseBody> Service<Request<RequestBody>> for StatsdService<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let settings = &self.settings;
        if !settings.connector.config().enabled() {
            return ResponseFuture {
                inner: self.inner.call(request),
                pending: None,
            };
        }
        // Parts and body are moved apart and back: no copy, and the name
        // function works for every body type.
        let (parts, body) = request.into_parts();
        let pending = (settings.name)(&parts).map(|route| {
            let method = parts.method.as_str();
            // Room for ".<status>" or ".cancelled", and the counter's suffix.
            let suffix = settings.count_suffix.as_deref().map_or(0, str::len);
            let mut name = String::with_capacity(route.len() + method.len() + 12 + suffix);
            push_route(&mut name, &route);
            name.push('.');
            push_method(&mut name, method);
            name.push('.');
            Pending {
                settings: settings.clone(),
                name,
                start: Instant::now(),
            }
        });
        let request = Request::from_parts(parts, body);
        ResponseFuture {
            inner: self.inner.call(request),
            pending,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`StatsdService`]: the inner service's, which
    /// sends the request's metrics when it completes (or is dropped).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("name", &self.pending.as_ref().map(|p| &p.name))
            .finish_non_exhaustive()
    }
}

impl<F, ResponseBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResponseBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        if let Some(mut pending) = this.pending.take() {
            match &output {
                Ok(response) => {
                    let mut code = itoa::Buffer::new();
                    pending.finish(code.format(response.status().as_u16()));
                }
                Err(_) => pending.finish("error"),
            }
        }
        Poll::Ready(output)
    }
}

/// A request on its way: its name so far (`<route>.<METHOD>.`) and when it
/// started. Dropped unfinished, it records the request as `cancelled`.
struct Pending {
    /// Connector and counter suffix.
    settings: Arc<Settings>,
    /// `<route>.<METHOD>.`; emptied once the metrics are sent.
    name: String,
    /// When the call began.
    start: Instant,
}

impl Pending {
    /// Sends the timing `<route>.<METHOD>.<status>` and the counter after it.
    fn finish(&mut self, status: &str) {
        let elapsed = self.start.elapsed();
        let mut name = std::mem::take(&mut self.name);
        name.push_str(status);
        let statsd = &self.settings.connector;
        // Refusals and a full queue are counted in the connector's stats.
        let _ = statsd.timing(&name, elapsed);
        if let Some(suffix) = &self.settings.count_suffix {
            name.push('.');
            name.push_str(suffix);
            let _ = statsd.incr(&name);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            self.finish("cancelled");
        }
    }
}

/// The default name function: the request's path, as it came.
///
/// ```
/// let request = http::Request::get("/users/42?full=1").body(())?;
/// let (parts, _) = request.into_parts();
/// let name = statsd_connector::integrations::tower::request_path(&parts);
/// assert_eq!(name.as_deref(), Some("/users/42"));
/// # Ok::<(), http::Error>(())
/// ```
pub fn request_path(parts: &Parts) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(parts.uri.path()))
}

/// Turns a path or route into a metric name, as the layer does with whatever
/// the name function returns: `/` becomes `.`, empty segments collapse and
/// leading and trailing dots go, `{`, `}` and `*` are dropped, characters no
/// statsd name may hold become `_`, and nothing at all is `root`.
///
/// ```
/// use statsd_connector::integrations::tower::path_to_name;
///
/// assert_eq!(path_to_name("/users/{id}"), "users.id");
/// assert_eq!(path_to_name("//api/v2//items/"), "api.v2.items");
/// assert_eq!(path_to_name("/files/{*path}"), "files.path");
/// assert_eq!(path_to_name("/a:b|c d"), "a_b_c_d");
/// assert_eq!(path_to_name("users_by_id"), "users_by_id");
/// assert_eq!(path_to_name("/"), "root");
/// ```
#[must_use]
pub fn path_to_name(path: &str) -> String {
    let mut name = String::with_capacity(path.len());
    push_route(&mut name, path);
    name
}

/// Appends `route`, cleaned up as [`path_to_name`] describes, to `name`.
fn push_route(name: &mut String, route: &str) {
    let start = name.len();
    // A dot waits until something follows it: no leading, trailing or double dots.
    let mut dot = false;
    for c in route.chars() {
        match c {
            '/' | '.' => dot = name.len() > start,
            '{' | '}' | '*' => {}
            c => {
                if dot {
                    name.push('.');
                    dot = false;
                }
                name.push(match c {
                    ':' | '|' | '@' | '#' | ',' | ';' | '=' | ' ' => '_',
                    c if c.is_ascii_control() => '_',
                    c => c,
                });
            }
        }
    }
    if name.len() == start {
        name.push_str("root");
    }
}

/// Appends an HTTP method: the standard ones as they are, anything else an
/// extension method may hold (dots included) as `_`.
fn push_method(name: &mut String, method: &str) {
    name.extend(method.chars().map(|c| match c {
        c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => c,
        _ => '_',
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_dotted_names() {
        for (path, name) in [
            ("/", "root"),
            ("", "root"),
            ("/users", "users"),
            ("/users/42/", "users.42"),
            ("/users/{id}/posts", "users.id.posts"),
            ("/a/./b", "a.b"),
            ("/x=1,y;z@w#v", "x_1_y_z_w_v"),
            ("/tab\there", "tab_here"),
            ("/ünï", "ünï"),
        ] {
            assert_eq!(path_to_name(path), name, "{path:?}");
        }
    }

    #[test]
    fn extension_methods_cannot_add_segments() {
        let mut name = String::new();
        push_method(&mut name, "M.SEARCH|#");
        assert_eq!(name, "M_SEARCH__");
    }
}
