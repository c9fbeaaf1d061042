//! An axum service: incoming trace headers continue the caller's trace, outgoing reqwest
//! calls carry it on.
//!
//! `cargo run -p jaeger-layer-recipes --example axum_server` starts the service on a free
//! loopback port and calls itself: `GET /page/{id}` calls `GET /users/{id}` over HTTP. The
//! request span of each incoming request is made by tower-http's `TraceLayer`, whose
//! `make_span_with` extracts the context from the request's `http::HeaderMap`; outgoing
//! requests get the current span injected into their `HeaderMap`. The example prints the
//! trace its stand-in agent received and exits non-zero unless it is one trace, each server
//! span a child of the client span that called it.
//!
//! The HeaderMap carriers need the crate's `http` feature.

use std::time::Duration;

use axum::extract::{MatchedPath, Path, State};
use axum::http::{HeaderMap, Request};
use axum::routing::get;
use axum::Router;
use jaeger_layer::receiver::Receiver;
use jaeger_layer::testing::Spans;
use jaeger_layer::{JaegerLayer, JaegerSpanExt};
use tower_http::trace::TraceLayer;
use tracing::{instrument, Instrument, Level, Span};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

/// The span of an incoming request, parented to the caller's span when the headers carry one.
fn request_span<B>(request: &Request<B>) -> Span {
    let route = request.extensions().get::<MatchedPath>().map_or(request.uri().path(), MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server",
        http.method = %request.method(),
        http.route = route,
    );
    if let Err(e) = span.set_parent_from(request.headers()) {
        tracing::warn!(parent: &span, error = %e, "bad trace header, starting a new trace");
    }
    span
}

/// An outgoing GET carrying the current span's context.
#[instrument(skip(client), fields(otel.kind = "client"))]
async fn call(client: &reqwest::Client, url: String) -> Result<String, reqwest::Error> {
    let mut headers = HeaderMap::new();
    Span::current().inject(&mut headers);
    client.get(url).headers(headers).send().await?.error_for_status()?.text().await
}

#[derive(Clone)]
struct App {
    client: reqwest::Client,
    base: String,
}

#[instrument(skip(app))]
async fn page(State(app): State<App>, Path(id): Path<u64>) -> String {
    match call(&app.client, format!("{}/users/{id}", app.base)).await {
        Ok(user) => format!("<h1>{user}</h1>"),
        Err(e) => {
            tracing::error!(error = &e as &(dyn std::error::Error + 'static), "user lookup failed");
            "<h1>unknown</h1>".to_owned()
        }
    }
}

#[instrument]
async fn user(Path(id): Path<u64>) -> String {
    tokio::time::sleep(Duration::from_millis(2)).await;
    format!("user {id}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let agent = Receiver::bind("127.0.0.1:0")?;
    let (layer, guard) = JaegerLayer::builder()
        .service_name("axum-server")
        .agent_endpoint(agent.local_addr().to_string())
        .build()?;
    // hyper and reqwest log every connection step at DEBUG/TRACE; keep tower-http's DEBUG
    // request events, drop theirs.
    let filter = Targets::new()
        .with_default(Level::DEBUG)
        .with_target("hyper_util", Level::INFO)
        .with_target("reqwest", Level::INFO);
    tracing_subscriber::registry().with(layer.with_filter(filter)).init();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let client = reqwest::Client::new();
    let app = Router::new()
        .route("/page/{id}", get(page))
        .route("/users/{id}", get(user))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(App { client: client.clone(), base: base.clone() });
    // Spawned outside any span: a server span's parent can only come from the headers.
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The "user" whose click starts the trace.
    let body = call(&client, format!("{base}/page/7")).instrument(tracing::info_span!("browser")).await?;
    println!("response: {body}");

    guard.flush(WAIT)?;
    let spans = Spans::new(agent.wait_for_spans(7, WAIT));
    print!("{}", spans.render());
    check(&spans)?;
    println!("ok: one trace through both requests");
    Ok(())
}

fn check(spans: &Spans) -> Result<(), String> {
    let expected = "browser\n  call\n    GET /page/{id}\n      page\n        call\n          GET /users/{id}\n            user\n";
    if spans.tree() != expected {
        return Err(format!("unexpected tree:\n{}expected:\n{expected}", spans.tree()));
    }
    if spans.trace_ids().len() != 1 {
        return Err(format!("expected one trace, got {:?}", spans.trace_ids()));
    }
    // Each server span's parent is a client span: the link came through the headers.
    for server in ["GET /page/{id}", "GET /users/{id}"] {
        let span = spans.by_name(server).ok_or(format!("no span {server}"))?;
        let parent = spans.parent_of(span).ok_or(format!("{server} has no parent"))?;
        if parent.tag("span.kind") != Some(&"client".into())
            || span.tag("span.kind") != Some(&"server".into())
        {
            return Err(format!("{server}: expected a server span under a client span"));
        }
    }
    Ok(())
}
