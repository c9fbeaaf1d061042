use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::config::otlp::{OtlpEndpoint, OtlpSettings};
use crate::test_support::http_server::{Reply, Server};

fn transport(server: &Server, timeout: Duration) -> OtlpTransport {
    let settings = OtlpSettings {
        endpoint: Some(OtlpEndpoint::Base(server.url(""))),
        headers: vec![("authorization".into(), "Bearer t".into())],
        timeout,
        ..OtlpSettings::default()
    };
    OtlpTransport::new(&settings, &TrustRoots::default()).unwrap()
}

#[test]
fn a_partial_success_is_read_and_the_request_carries_its_headers() {
    // ExportTraceServiceResponse { partial_success { rejected_spans: 3, error_message: "bad" } }
    let server = Server::with_replies(vec![Reply::status(200, "\x0a\x07\x08\x03\x12\x03bad")]);
    let mut t = transport(&server, Duration::from_secs(5));
    match t.export(b"body", &|| false) {
        Export::Accepted { rejected, message } => {
            assert_eq!((rejected, message.as_deref()), (3, Some("bad")))
        }
        other => panic!("{other:?}"),
    }
    let r = &server.wait_requests(1)[0];
    assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/v1/traces"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("authorization"), Some("Bearer t"));
    assert!(r.header("user-agent").is_some_and(|u| u.starts_with("OTel-OTLP-Exporter-Rust")));
    assert_eq!(r.body, b"body");
}

#[test]
fn a_garbage_or_empty_2xx_body_is_a_full_success() {
    let server = Server::with_replies(vec![Reply::status(200, "<html>"), Reply::status(200, "")]);
    let mut t = transport(&server, Duration::from_secs(5));
    for _ in 0..2 {
        assert!(matches!(t.export(b"x", &|| false), Export::Accepted { rejected: 0, message: None }));
    }
}

#[test]
fn statuses_outside_429_502_503_504_are_not_retried() {
    for status in [400u16, 401, 404, 413, 500] {
        let server = Server::with_replies(vec![Reply::status(status, "\x12\x04nope")]);
        server.fallback(200, "");
        let mut t = transport(&server, Duration::from_secs(5));
        match t.export(b"x", &|| false) {
            Export::Failed(e) => {
                let e = e.to_string();
                assert!(e.contains(&status.to_string()) && e.contains("nope"), "{e}");
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(server.wait_requests(1).len(), 1, "{status}");
    }
}

#[test]
fn retryable_statuses_and_a_hang_up_are_retried_until_accepted() {
    let server = Server::with_replies(vec![
        Reply::status(429, ""),
        Reply::status(502, ""),
        Reply::HangUp,
        Reply::status(504, ""),
        Reply::status(200, ""),
    ]);
    let mut t = transport(&server, Duration::from_secs(20));
    assert!(matches!(t.export(b"x", &|| false), Export::Accepted { rejected: 0, .. }));
    assert_eq!(server.wait_requests(5).len(), 5);
}

#[test]
fn retries_stop_at_the_timeout_and_a_refused_connection_fails() {
    let server = Server::start(); // 503 forever
    let mut t = transport(&server, Duration::from_millis(400));
    assert!(matches!(t.export(b"x", &|| false), Export::Failed(_)));
    assert!(server.wait_requests(2).len() >= 2);
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let settings = OtlpSettings {
        endpoint: Some(OtlpEndpoint::Base(format!("http://{addr}"))),
        timeout: Duration::from_millis(300),
        ..OtlpSettings::default()
    };
    let mut t = OtlpTransport::new(&settings, &TrustRoots::default()).unwrap();
    assert!(matches!(t.export(b"x", &|| false), Export::Failed(_)));
}

#[test]
fn giving_up_stops_before_another_attempt() {
    let server = Server::start();
    let mut t = transport(&server, Duration::from_secs(3600));
    let calls = std::cell::Cell::new(0);
    let give_up = || {
        calls.set(calls.get() + 1);
        calls.get() > 1
    };
    assert!(matches!(t.export(b"x", &give_up), Export::GaveUp));
    assert_eq!(server.wait_requests(1).len(), 1);
}

#[test]
fn bad_urls_headers_and_compression_are_build_errors() {
    let bad = |s: OtlpSettings| OtlpTransport::new(&s, &TrustRoots::default()).unwrap_err().to_string();
    let with =
        |url: &str| OtlpSettings { endpoint: Some(OtlpEndpoint::Traces(url.into())), ..Default::default() };
    assert!(bad(with("ftp://x")).contains("otlp_traces_endpoint"));
    let mut s = with("http://127.0.0.1:4318");
    s.headers.push(("bad name".into(), "v".into()));
    assert!(bad(s).contains("otlp_header"));
    #[cfg(not(feature = "gzip"))]
    {
        let s = OtlpSettings { compression: Compression::Gzip, ..with("http://127.0.0.1:4318") };
        assert!(bad(s).contains("gzip"));
    }
}

#[cfg(feature = "gzip")]
#[test]
fn a_gzipped_body_inflates_to_the_request() {
    use std::io::Read;
    let server = Server::with_replies(vec![Reply::status(200, "")]);
    let settings = OtlpSettings {
        endpoint: Some(OtlpEndpoint::Base(server.url(""))),
        compression: Compression::Gzip,
        ..OtlpSettings::default()
    };
    let mut t = OtlpTransport::new(&settings, &TrustRoots::default()).unwrap();
    let body = b"span bytes ".repeat(100);
    assert!(matches!(t.export(&body, &|| false), Export::Accepted { .. }));
    let r = &server.wait_requests(1)[0];
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).unwrap();
    assert_eq!(out, body);
}

#[test]
fn retry_after_reads_seconds_and_imf_fixdates() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
    assert_eq!(
        parse_retry_after("Wed, 29 Feb 2040 00:00:00 GMT", SystemTime::UNIX_EPOCH),
        Some(Duration::from_secs(2_214_086_400))
    );
    for garbage in [
        "",
        "soon",
        "-1",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun, 32 Foo 1994 25:00:00 GMT",
    ] {
        assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
    }
}

#[test]
fn malformed_responses_never_panic() {
    let mut rng = crate::test_support::fixtures::Rng(11);
    for _ in 0..2000 {
        let n = rng.below(40) as usize;
        let b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let _ = partial_success(&b);
        let _ = rpc_status_message(&b);
    }
}
