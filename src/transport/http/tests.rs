//! `HttpTransport` against a real HTTP server on loopback, scripted per request
//! (`test_support::http_server`).

use std::net::TcpListener;
use std::sync::mpsc;

use super::*;
use crate::test_support::http_server::{Reply, Server};

const WAIT: Duration = Duration::from_secs(10);

// === helpers ===

fn transport(endpoint: String) -> HttpTransport {
    let mut t = HttpTransport::new(HttpConfig::new(endpoint)).unwrap();
    // Retries are the subject, not the waits between them.
    t.first_backoff = Duration::from_millis(1);
    t
}

/// A real collector body: spans through the batcher's collector format.
#[cfg(feature = "receiver")]
fn collector_payload() -> (Vec<u8>, Vec<crate::span::data::FinishedSpan>) {
    use crate::export::batch::tests::rich_span;
    use crate::export::batch::{Batcher, WireFormat};
    use crate::export::stats::Counters;
    use crate::span::data::{Process, Tag};
    use crate::test_support::fixtures::Rng;

    let process = Process { service_name: "svc".into(), tags: vec![Tag::new("hostname", "box")] };
    let mut batcher = Batcher::new(
        WireFormat::CollectorBinary,
        process,
        65_000,
        0,
        std::sync::Arc::new(Counters::default()),
    );
    let mut rng = Rng(7);
    let spans: Vec<_> = (0..3).map(|i| rich_span(i, &mut rng)).collect();
    let mut bodies = Vec::new();
    for s in &spans {
        batcher.push(s, &mut |b| {
            bodies.push(b.to_vec());
            Ok(())
        });
    }
    batcher.flush(&mut |b| {
        bodies.push(b.to_vec());
        Ok(())
    });
    assert_eq!(bodies.len(), 1);
    (bodies.pop().unwrap(), spans)
}

// === tests ===

#[cfg(feature = "receiver")]
#[test]
fn accepted_post_carries_a_decodable_batch_and_the_right_headers() {
    let server = Server::with_replies(vec![Reply::status(202, "")]);
    let (payload, spans) = collector_payload();
    transport(server.url("/api/traces")).send(&payload).unwrap();
    let requests = server.wait_requests(1);
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/api/traces"));
    assert_eq!(r.header("content-type"), Some("application/x-thrift"));
    assert_eq!(r.header("authorization"), None);
    assert!(r.header("user-agent").is_some_and(|ua| ua.starts_with("jaeger-layer/")));
    let batch = crate::receiver::decode_batch(&r.body).unwrap();
    assert_eq!(batch.process.service_name, "svc");
    assert_eq!(
        (batch.seq_no, batch.stats.is_some()),
        (None, false),
        "no seqNo/stats over HTTP (`transport/http.go`)"
    );
    assert_eq!(batch.spans.len(), spans.len());
    for (sent, got) in spans.iter().zip(&batch.spans) {
        crate::export::batch::tests::assert_same(sent, got);
    }
}

#[test]
fn basic_auth_bearer_token_and_extra_headers_are_sent() {
    let server = Server::with_replies(vec![Reply::status(200, ""), Reply::status(202, "")]);
    // Go's doc comment shows the legacy `?format=jaeger.thrift` query: it is kept.
    let mut config = HttpConfig::new(format!("{}?format=jaeger.thrift", server.url("/api/traces")));
    // RFC 7617's example credentials.
    config.auth = Some(Auth::Basic { user: "Aladdin".into(), password: "open sesame".into() });
    config.headers = vec![("X-Tenant".into(), "blue".into()), ("x-scope".into(), "a b".into())];
    HttpTransport::new(config.clone()).unwrap().send(b"one").unwrap();
    config.auth = Some(Auth::Bearer("tok.en-1".into()));
    HttpTransport::new(config).unwrap().send(b"two").unwrap();

    let r = server.wait_requests(2);
    assert_eq!(r[0].header("authorization"), Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
    assert_eq!(r[1].header("authorization"), Some("Bearer tok.en-1"));
    for r in &r {
        assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/api/traces?format=jaeger.thrift"));
        assert_eq!(r.header("x-tenant"), Some("blue"));
        assert_eq!(r.header("x-scope"), Some("a b"));
        assert_eq!(r.header("content-type"), Some("application/x-thrift"));
    }
    assert_eq!((r[0].body.as_slice(), r[1].body.as_slice()), (&b"one"[..], &b"two"[..]));
}

#[test]
fn server_errors_are_retried_until_success() {
    let server = Server::with_replies(vec![
        Reply::status(500, "boom"),
        Reply::status(503, ""),
        Reply::status(202, ""),
    ]);
    transport(server.url("/api/traces")).send(b"payload").unwrap();
    let r = server.wait_requests(3);
    assert_eq!(r.len(), 3);
    assert!(r.iter().all(|r| r.body == b"payload"), "every attempt sends the whole body");
}

#[test]
fn persistent_server_errors_fail_after_three_attempts() {
    let replies = (0..5).map(|_| Reply::status(500, "collector is sad")).collect();
    let server = Server::with_replies(replies);
    let err = transport(server.url("/api/traces")).send(b"x").unwrap_err();
    assert_eq!(server.wait_requests(3).len(), 3, "exactly MAX_ATTEMPTS requests");
    let msg = err.to_string();
    assert!(msg.contains("error from collector: 500") && msg.contains("collector is sad"), "{msg}");
    assert!(msg.contains("(3 attempts)"), "{msg}");
}

#[test]
fn client_errors_are_not_retried() {
    for status in [400, 401, 404, 413, 301] {
        let server = Server::with_replies(vec![Reply::status(status, "bad batch"), Reply::status(202, "")]);
        let err = transport(server.url("/api/traces")).send(b"x").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("error from collector: {status}")), "{msg}");
        assert!(msg.contains("(1 attempt)"), "{msg}");
        assert_eq!(server.wait_requests(1).len(), 1, "{status} must not be retried");
    }
}

#[test]
fn closed_connections_are_retried() {
    let server = Server::with_replies(vec![Reply::HangUp, Reply::HangUp, Reply::status(202, "")]);
    transport(server.url("/api/traces")).send(b"x").unwrap();
    assert_eq!(server.wait_requests(3).len(), 3);

    let server =
        Server::with_replies(vec![Reply::HangUp, Reply::HangUp, Reply::HangUp, Reply::status(202, "")]);
    let err = transport(server.url("/api/traces")).send(b"x").unwrap_err();
    assert!(err.to_string().contains("(3 attempts)"), "{err}");
    assert_eq!(server.wait_requests(3).len(), 3, "no fourth attempt");
}

#[test]
fn connection_refused_is_an_error_within_the_timeout() {
    // A port that was just free: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut t = transport(format!("http://{addr}/api/traces"));
    t.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = t.send(b"x").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2) + Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("(3 attempts)"), "{err}");
}

#[test]
fn a_slow_collector_times_out_without_retry() {
    let (release, hold) = mpsc::channel();
    let server = Server::with_replies(vec![Reply::Hold(hold, 202, String::new()), Reply::status(202, "")]);
    let mut t = transport(server.url("/api/traces"));
    t.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = t.send(b"x").unwrap_err();
    let elapsed = started.elapsed();
    drop(release);
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(elapsed >= Duration::from_millis(300), "returned before the timeout: {elapsed:?}");
    // Bounded by the timeout; the margin is generous for a loaded machine.
    assert!(elapsed < Duration::from_millis(300) + Duration::from_secs(2), "took {elapsed:?}");
    assert_eq!(server.wait_requests(1).len(), 1, "the budget is spent: no retry");
}

#[test]
fn backoff_never_outlasts_the_timeout() {
    // With a 100 ms first backoff and a 50 ms budget there is no time to wait: one attempt.
    let server = Server::with_replies(vec![Reply::status(500, ""), Reply::status(202, "")]);
    let mut t = HttpTransport::new(HttpConfig {
        timeout: Duration::from_millis(50),
        ..HttpConfig::new(server.url("/api/traces"))
    })
    .unwrap();
    let err = t.send(b"x").unwrap_err();
    assert!(err.to_string().contains("(1 attempt)"), "{err}");
    assert_eq!(server.wait_requests(1).len(), 1);
}

#[test]
fn bad_endpoints_headers_and_credentials_are_refused_without_leaking_secrets() {
    let ok = "http://collector:14268/api/traces";
    assert!(HttpTransport::new(HttpConfig::new(ok)).is_ok());
    for bad in ["", "collector:14268", "/api/traces", "ftp://c/", "http://", "http://u:p@c/x"] {
        let err = HttpTransport::new(HttpConfig::new(bad)).unwrap_err();
        assert!(err.kind() == crate::error::BuildErrorKind::InvalidSetting, "{bad}: {err}");
        assert!(!err.to_string().contains(":p@"), "credentials leaked: {err}");
    }
    let https = HttpTransport::new(HttpConfig::new("https://c/"));
    #[cfg(feature = "tls")]
    assert!(https.is_ok(), "{https:?}");
    #[cfg(not(feature = "tls"))]
    assert!(https.unwrap_err().to_string().contains("https needs the `tls` feature"));

    let with = |f: &dyn Fn(&mut HttpConfig)| {
        let mut c = HttpConfig::new(ok);
        f(&mut c);
        HttpTransport::new(c)
    };
    assert!(with(&|c| c.timeout = Duration::ZERO).is_err());
    assert!(with(&|c| c.headers = vec![("bad name".into(), "v".into())]).is_err());
    assert!(with(&|c| c.headers = vec![("x-ok".into(), "line\nbreak".into())]).is_err());
    assert!(with(&|c| c.headers = vec![("Content-Type".into(), "text/plain".into())]).is_err());
    assert!(with(&|c| c.headers = vec![("authorization".into(), "Bearer x".into())]).is_ok());
    let both = with(&|c| {
        c.auth = Some(Auth::Bearer("t".into()));
        c.headers = vec![("Authorization".into(), "Bearer x".into())];
    });
    assert!(both.is_err());
    let secret = with(&|c| c.auth = Some(Auth::Bearer("s3cret\n".into()))).unwrap_err().to_string();
    assert!(!secret.contains("s3cret"), "{secret}");
    let colon = with(&|c| c.auth = Some(Auth::Basic { user: "a:b".into(), password: "p".into() }));
    assert!(colon.is_err());
}

#[test]
fn debug_output_redacts_credentials() {
    let basic = Auth::Basic { user: "ada".into(), password: "hunter2".into() };
    let shown = format!("{basic:?} {:?}", Auth::Bearer("tok3n".into()));
    assert!(shown.contains("ada") && !shown.contains("hunter2") && !shown.contains("tok3n"), "{shown}");
    let mut c = HttpConfig::new("http://c:1/");
    c.auth = Some(basic);
    let t = HttpTransport::new(c).unwrap();
    assert!(!format!("{t:?}").contains("hunter2") && !format!("{t:?}").contains("YWRh"));
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    let cases = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (plain, encoded) in cases {
        assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
    }
    assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
}

#[test]
fn a_timeout_of_duration_max_means_no_deadline() {
    let server = Server::with_replies(vec![Reply::status(500, ""), Reply::status(202, "")]);
    let mut t = transport(server.url("/api/traces"));
    t.timeout = Duration::MAX;
    t.send(b"x").unwrap();
    assert_eq!(server.wait_requests(2).len(), 2, "retried: no deadline to run out");
}

#[test]
fn the_exporter_sends_with_a_collector_timeout_of_duration_max() {
    use tracing_subscriber::prelude::*;
    let server = Server::with_replies(vec![Reply::status(202, "")]);
    let (layer, guard) = crate::JaegerLayer::builder()
        .service_name("svc")
        .collector_endpoint(server.url("/api/traces"))
        .collector_timeout(Duration::MAX)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("patient").in_scope(|| {});
    });
    guard.flush(WAIT).unwrap();
    assert_eq!(server.wait_requests(1).len(), 1);
    let stats = guard.stats();
    assert_eq!((stats.spans_exported, stats.spans_failed), (1, 0));
}
