//! One trace across two services talking HTTP over loopback.
//!
//! `cargo run -p jaeger-layer-recipes --example http_propagation` runs, in one process, an HTTP
//! server (`user-service`, on `tiny_http`) and a client (`web-frontend`, on `ureq`), each
//! with its own `JaegerLayer` exporting to a stand-in agent. The client injects its span's
//! context into the request headers (`span.inject(&mut HttpHeaders(&mut headers))`); the server's
//! `#[instrument]` handler extracts it (`Span::current().set_parent_from(&headers)`), so
//! the server's spans join the client's trace. Baggage set by the client reaches the
//! server the same way. The example prints the trace and exits non-zero unless it is one
//! trace with the server span a child of the client span.
//!
//! Two services in one process is a demo device: each thread here has its own default
//! subscriber (`with_default`). A real service installs one global subscriber.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jaeger_layer::receiver::Receiver;
use jaeger_layer::testing::Spans;
use jaeger_layer::{
    CarrierFormat, ExporterGuard, Extractor, HttpHeaders, JaegerLayer, JaegerSpanExt, TagValue,
};
use tracing::{instrument, Dispatch, Span};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

// === server ===

/// The request headers of `tiny_http` as a carrier: how to make any header type one.
struct Headers<'a>(&'a [tiny_http::Header]);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let header = self.0.iter().find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(key))?;
        Some(header.value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|h| h.field.as_str().as_str()).collect()
    }

    // HTTP headers: baggage values arrive URL-encoded.
    fn carrier_format(&self) -> CarrierFormat {
        CarrierFormat::HttpHeaders
    }
}

#[instrument(
    skip(request),
    fields(otel.kind = "server", http.method = %request.method(), http.url = request.url(), tenant)
)]
fn serve_user(request: &tiny_http::Request) -> (u16, String) {
    // First thing in the handler, before any child span observes this span's context.
    if let Err(e) = Span::current().set_parent_from(&Headers(request.headers())) {
        tracing::warn!(error = %e, "bad trace header, starting a new trace");
    }
    let tenant = Span::current().baggage_item("tenant").unwrap_or_default();
    Span::current().record("tenant", tenant.as_str());
    match request.url().strip_prefix("/users/").and_then(|id| id.parse::<u64>().ok()) {
        Some(id) => (200, format!("{} (tenant {tenant})", db_query(id))),
        None => (404, "no such user".to_owned()),
    }
}

#[instrument]
fn db_query(id: u64) -> String {
    tracing::info!(rows = 1, "SELECT name FROM users WHERE id = ?");
    format!("user {id}")
}

/// Serves requests, each in `dispatch`'s context, until the server is unblocked.
fn serve(server: &tiny_http::Server, dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        for request in server.incoming_requests() {
            let (status, body) = serve_user(&request);
            let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    });
}

// === client ===

#[instrument(skip(url), fields(otel.kind = "client", http.url = url))]
fn fetch_user(url: &str) -> Result<String, ureq::Error> {
    let mut headers = HashMap::<String, String>::new();
    // HTTP headers kept in a HashMap: `HttpHeaders` URL-encodes the baggage values.
    Span::current().inject(&mut HttpHeaders(&mut headers));
    let mut request = ureq::get(url);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    request.call()?.body_mut().read_to_string()
}

#[instrument(skip(base))]
fn profile_page(base: &str, user_id: u64) -> Result<String, ureq::Error> {
    Span::current().set_baggage_item("tenant", "acme");
    fetch_user(&format!("{base}/users/{user_id}"))
}

// === main ===

fn layer(service: &str, agent: &Receiver) -> Result<(Dispatch, ExporterGuard), jaeger_layer::Error> {
    let (layer, guard) = JaegerLayer::builder()
        .service_name(service)
        .agent_endpoint(agent.local_addr().to_string())
        .build()?;
    Ok((Dispatch::new(tracing_subscriber::registry().with(layer)), guard))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let agent = Receiver::bind("127.0.0.1:0")?;
    let (server_dispatch, server_guard) = layer("user-service", &agent)?;
    let (client_dispatch, client_guard) = layer("web-frontend", &agent)?;

    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?);
    let addr = server.server_addr().to_ip().ok_or("server not on IP")?;
    let server_thread = std::thread::spawn({
        let server = Arc::clone(&server);
        move || serve(&server, &server_dispatch)
    });

    let page =
        tracing::dispatcher::with_default(&client_dispatch, || profile_page(&format!("http://{addr}"), 42));
    server.unblock();
    server_thread.join().map_err(|_| "server thread panicked")?;
    let page = page?;
    println!("response: {page}");

    server_guard.flush(WAIT)?;
    client_guard.flush(WAIT)?;
    let spans = Spans::new(agent.wait_for_spans(4, WAIT));
    print!("{}", spans.render());
    check(&spans)?;
    println!("ok: one trace across web-frontend and user-service");
    Ok(())
}

fn check(spans: &Spans) -> Result<(), String> {
    let expected = "profile_page\n  fetch_user\n    serve_user\n      db_query\n";
    if spans.tree() != expected {
        return Err(format!("unexpected tree:\n{}expected:\n{expected}", spans.tree()));
    }
    if spans.trace_ids().len() != 1 {
        return Err(format!("expected one trace, got {:?}", spans.trace_ids()));
    }
    let (client, server) = match (spans.by_name("fetch_user"), spans.by_name("serve_user")) {
        (Some(c), Some(s)) => (c, s),
        _ => return Err("missing the client or the server span".into()),
    };
    if server.parent_id != client.span_id || server.trace_id != client.trace_id {
        return Err("the server span is not a child of the client span".into());
    }
    let services = (client.service_name.as_str(), server.service_name.as_str());
    if services != ("web-frontend", "user-service") {
        return Err(format!("services: {services:?}"));
    }
    let kinds = (client.tag("span.kind"), server.tag("span.kind"));
    if kinds != (Some(&TagValue::from("client")), Some(&TagValue::from("server"))) {
        return Err(format!("span kinds: {kinds:?}"));
    }
    if server.tag("tenant") != Some(&TagValue::from("acme")) {
        return Err(format!("baggage did not cross: tenant = {:?}", server.tag("tenant")));
    }
    Ok(())
}
