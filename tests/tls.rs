//! `https://` round trips: a loopback rustls server presents a certificate for 127.0.0.1 and
//! localhost signed by a test CA (`tests/tls/`, see its README); the layer trusts that CA
//! through `Builder::tls_ca_certificates`, or, without it, refuses the server and counts the
//! spans as failed. Bad CA files fail `build()` with typed errors.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

mod support;
use support::collector::{read_request, Request};

use jaeger_layer::{BuildError, BuildErrorKind, ExporterGuard, JaegerLayer, RemoteSampler, Sampler};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{info_span, Dispatch};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

fn tls_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls").join(name)
}

// === the https server ===

/// What the server saw on one connection.
#[derive(Debug)]
enum Event {
    /// A request read in full over an established TLS session.
    Request { method: String, path: String, body: Vec<u8> },
    /// The TLS handshake failed (e.g. the client refused the certificate and hung up).
    HandshakeFailed,
}

/// A loopback HTTPS/1.1 server with the test certificate that answers every request with
/// `status` and `body` and reports what it saw.
struct HttpsServer {
    addr: SocketAddr,
    events: Receiver<Event>,
}

impl HttpsServer {
    fn start(status: &'static str, body: &'static [u8]) -> HttpsServer {
        let certs = CertificateDer::pem_file_iter(tls_file("server.pem"))
            .expect("server.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("server.pem certificates");
        let key = PrivateKeyDer::from_pem_file(tls_file("server.key")).expect("server.key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate and key");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, events) = mpsc::channel();
        thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let (config, tx) = (config.clone(), tx.clone());
                thread::spawn(move || serve(tcp, config, &tx, status, body));
            }
        });
        HttpsServer { addr, events }
    }

    /// The next event, or a panic after [`WAIT`] (never reached when the layer behaves).
    fn next(&self) -> Event {
        self.events.recv_timeout(WAIT).expect("the server saw nothing")
    }

    /// Every event so far, without waiting.
    fn drain(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }
}

fn serve(
    mut tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    tx: &Sender<Event>,
    status: &str,
    body: &[u8],
) {
    let _ = tcp.set_read_timeout(Some(WAIT));
    let mut conn = rustls::ServerConnection::new(config).expect("server connection");
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            let _ = tx.send(Event::HandshakeFailed);
            return;
        }
    }
    let mut stream = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    // Keep-alive: the client reuses the connection for later requests.
    while let Some(Request { method, path, body: request_body, .. }) = read_request(&mut stream) {
        let _ = tx.send(Event::Request { method, path, body: request_body });
        let head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n", body.len());
        let out = stream.get_mut();
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(body))
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

// === helpers ===

/// Finishes one span each named `a`, `b`, `c`, then flushes.
fn spans_abc(builder: jaeger_layer::Builder) -> ExporterGuard {
    let (layer, guard) =
        builder.service_name("tls-test").flush_interval(Duration::from_secs(3600)).build().expect("build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        info_span!("a").in_scope(|| {});
        info_span!("b").in_scope(|| {});
        info_span!("c").in_scope(|| {});
    });
    guard.flush(WAIT).expect("flush returns");
    guard
}

/// The span names of an OTLP request body, decoded with the official generated types.
fn otlp_span_names(body: &[u8]) -> Vec<String> {
    let request = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
    let mut names: Vec<String> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect();
    names.sort();
    names
}

fn build_err(builder: jaeger_layer::Builder) -> BuildError {
    builder.service_name("tls-test").build().map(|_| ()).expect_err("build should fail")
}

// === round trips ===

#[test]
fn otlp_over_https_with_the_test_ca_delivers_the_spans() {
    let server = HttpsServer::start("200 OK", b"");
    let guard = spans_abc(
        JaegerLayer::builder()
            .otlp_endpoint(format!("https://localhost:{}", server.addr.port()))
            .tls_ca_certificates(tls_file("ca.pem")),
    );
    let Event::Request { method, path, body } = server.next() else { panic!("no request") };
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/traces"));
    assert_eq!(otlp_span_names(&body), ["a", "b", "c"]);
    let s = guard.stats();
    assert_eq!((s.spans_exported, s.spans_failed), (3, 0), "{s:#?}");
    assert!(s.is_consistent() && s.is_settled(), "{s:#?}");
}

#[test]
fn otlp_over_https_to_the_ip_address_verifies_its_san() {
    let server = HttpsServer::start("200 OK", b"");
    let guard = spans_abc(
        JaegerLayer::builder()
            .otlp_traces_endpoint(format!("https://{}/v1/traces", server.addr))
            .tls_ca_certificates(tls_file("ca.pem")),
    );
    let Event::Request { body, .. } = server.next() else { panic!("no request") };
    assert_eq!(otlp_span_names(&body).len(), 3);
    assert_eq!(guard.stats().spans_exported, 3);
}

#[test]
fn without_the_ca_the_server_is_refused_and_the_spans_count_as_failed() {
    let server = HttpsServer::start("200 OK", b"");
    let guard = spans_abc(
        JaegerLayer::builder()
            .otlp_endpoint(format!("https://localhost:{}", server.addr.port()))
            // Bounds the retries of a failing connection; the flush returns within it.
            .otlp_timeout(Duration::from_secs(2)),
    );
    let s = guard.stats();
    assert_eq!((s.spans_exported, s.spans_failed), (0, 3), "{s:#?}");
    assert!(s.is_consistent() && s.is_settled(), "{s:#?}");
    assert_eq!(s.packets_failed, 1, "{s:#?}");
    // The client gave up in the handshake (the test CA is not among the webpki roots), and
    // did not try again: a certificate that does not verify would not verify on a retry.
    assert!(matches!(server.next(), Event::HandshakeFailed));
    let later = server.drain();
    assert!(later.is_empty(), "retried after a failed handshake: {later:?}");
}

#[test]
fn another_ca_does_not_verify_the_server() {
    // The server's own certificate is no CA: trusting it alone verifies nothing.
    let server = HttpsServer::start("200 OK", b"");
    let guard = spans_abc(
        JaegerLayer::builder()
            .otlp_endpoint(format!("https://localhost:{}", server.addr.port()))
            .otlp_timeout(Duration::from_secs(2))
            .tls_ca_certificates(tls_file("server.pem")),
    );
    assert_eq!((guard.stats().spans_exported, guard.stats().spans_failed), (0, 3));
    assert!(matches!(server.next(), Event::HandshakeFailed));
}

#[test]
fn the_thrift_collector_over_https_with_the_test_ca_delivers_the_spans() {
    let server = HttpsServer::start("202 Accepted", b"");
    let guard = spans_abc(
        JaegerLayer::builder()
            .collector_endpoint(format!("https://localhost:{}/api/traces", server.addr.port()))
            .tls_ca_certificates(tls_file("ca.pem")),
    );
    let Event::Request { method, path, body } = server.next() else { panic!("no request") };
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/api/traces"));
    let batch = jaeger_layer::receiver::decode_batch(&body).expect("a Thrift Batch");
    let mut names: Vec<&str> = batch.spans.iter().map(|s| s.operation_name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(batch.process.service_name, "tls-test");
    let s = guard.stats();
    assert_eq!((s.spans_exported, s.spans_failed), (3, 0), "{s:#?}");
}

#[test]
fn the_remote_sampler_polls_over_https_with_the_test_ca() {
    const STRATEGY: &[u8] = br#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}"#;
    let sampling = HttpsServer::start("200 OK", STRATEGY);
    let collector = HttpsServer::start("200 OK", b"");
    let sampler = Sampler::remote(
        RemoteSampler::new().endpoint(format!("https://localhost:{}/sampling", sampling.addr.port())),
    );
    let (_layer, guard) = JaegerLayer::builder()
        .service_name("tls-test")
        .otlp_endpoint(format!("https://localhost:{}", collector.addr.port()))
        .sampler(sampler)
        .tls_ca_certificates(tls_file("ca.pem"))
        .build()
        .expect("build");
    // The poller asks at once; its request arrives only over a verified session.
    let Event::Request { method, path, .. } = sampling.next() else {
        panic!("the poller's handshake failed")
    };
    assert_eq!(method, "GET");
    assert!(path.starts_with("/sampling?service=tls-test"), "{path}");
    drop(guard);
}

// === bad CA files ===

#[test]
fn a_missing_ca_file_is_a_typed_error_with_the_io_source() {
    let missing = tls_file("no-such-ca.pem");
    let e = build_err(JaegerLayer::builder().tls_ca_certificates(&missing));
    assert_eq!(e.kind(), BuildErrorKind::TlsCertificates, "{e}");
    assert_eq!(e.setting(), Some("tls_ca_certificates"));
    assert_eq!(e.value(), Some(format!("{missing:?}").as_str()));
    let io =
        std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>()).expect("io source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert!(e.to_string().contains("cannot read it"), "{e}");
}

#[test]
fn an_unreadable_ca_file_is_a_typed_error() {
    // A directory cannot be read as a file, also for root (unlike a file without permissions).
    let e = build_err(JaegerLayer::builder().tls_ca_certificates(tls_file("")));
    assert_eq!(e.kind(), BuildErrorKind::TlsCertificates, "{e}");
    assert!(e.to_string().contains("cannot read it"), "{e}");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn a_ca_file_without_a_certificate_is_a_typed_error() {
    let dir = std::env::temp_dir().join(format!("jaeger-layer-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("empty.pem", &b""[..], "no PEM certificate"),
        ("text.pem", b"not a certificate\n", "no PEM certificate"),
        // A key alone: keys are skipped, so no certificate is left.
        ("key.pem", &std::fs::read(tls_file("server.key")).unwrap(), "no PEM certificate"),
        // The DER form of a certificate is no PEM.
        ("ca.der", &CertificateDer::from_pem_file(tls_file("ca.pem")).unwrap(), "no PEM certificate"),
        ("bad.pem", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "not valid PEM"),
        (
            "short.pem",
            b"-----BEGIN CERTIFICATE-----\nMAM=\n-----END CERTIFICATE-----\n",
            "certificate 1 is not",
        ),
    ];
    for (name, content, why) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let e = build_err(JaegerLayer::builder().tls_ca_certificates(&path));
        assert_eq!(e.kind(), BuildErrorKind::TlsCertificates, "{name}: {e}");
        assert!(e.to_string().contains(why), "{name}: {e}");
        assert!(std::error::Error::source(&e).is_none(), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_good_ca_file_builds_for_every_transport() {
    for b in [
        JaegerLayer::builder(),
        JaegerLayer::builder().collector_endpoint("https://localhost:1/api/traces"),
        JaegerLayer::builder().otlp_endpoint("https://localhost:1"),
    ] {
        let built = b.service_name("tls-test").tls_ca_certificates(tls_file("ca.pem")).build();
        assert!(built.is_ok(), "{:?}", built.err());
    }
}
