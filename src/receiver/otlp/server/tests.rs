//! The server through a raw HTTP/1.1 client on a `TcpStream`, so that every header and
//! status is what the test wrote and read.

use std::io::{Read, Write};
use std::net::TcpStream;

use flate2::write::GzEncoder;
use prost::Message as _;

use super::*;
use crate::receiver::otlp::tests::{body, span};

/// A response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn rpc_status(&self) -> RpcStatus {
        assert_eq!(self.header("content-type"), Some(PROTOBUF));
        RpcStatus::decode(&self.body[..]).unwrap()
    }
}

fn post_raw(receiver: &OtlpReceiver, head: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(receiver.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{head}Host: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply { status, headers, body: raw[split + 4..].to_vec() }
}

fn post(receiver: &OtlpReceiver, headers: &str, body: &[u8]) -> Reply {
    post_raw(receiver, &format!("POST /v1/traces HTTP/1.1\r\n{headers}"), body)
}

const PB: &str = "Content-Type: application/x-protobuf\r\n";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn accepts_protobuf_plain_and_gzipped_and_answers_an_empty_response() {
    let receiver = OtlpReceiver::bind("127.0.0.1:0").unwrap();
    assert_eq!(receiver.endpoint(), format!("http://127.0.0.1:{}", receiver.local_addr().port()));
    let reply = post(&receiver, PB, &body("svc", vec![span("a", 1, 0, 10, 5)]));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some(PROTOBUF));
    assert_eq!(ExportTraceServiceResponse::decode(&reply.body[..]).unwrap(), Default::default());

    let gz = gzip(&body("svc", vec![span("b", 2, 1, 11, 1), span("c", 3, 1, 12, 1)]));
    let headers = "Content-Type: application/x-protobuf; charset=binary\r\nContent-Encoding: gzip\r\n";
    assert_eq!(post(&receiver, headers, &gz).status, 200);
    let identity = format!("{PB}Content-Encoding: identity\r\n");
    assert_eq!(post(&receiver, &identity, &body("other", vec![span("d", 4, 0, 1, 1)])).status, 200);

    let spans = receiver.wait_for_spans(4, Duration::from_secs(5));
    assert_eq!(spans.iter().map(|s| s.operation_name.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert_eq!(spans[3].service_name, "other");
    assert_eq!(receiver.batches().len(), 3);
    assert_eq!(receiver.spans(), spans);
    assert_eq!((receiver.requests(), receiver.decode_errors()), (3, 0));

    let taken = receiver.take_batches();
    assert_eq!(taken.iter().map(|b| b.spans.len()).collect::<Vec<_>>(), [1, 2, 1]);
    assert!(receiver.spans().is_empty() && receiver.batches().is_empty());
    assert_eq!(post(&receiver, PB, &body("svc", vec![span("e", 5, 0, 1, 1)])).status, 200);
    assert_eq!(receiver.wait_for_spans(1, Duration::from_secs(5))[0].operation_name, "e");
    assert_eq!(receiver.requests(), 4, "counters are kept");
}

#[test]
fn an_empty_request_succeeds() {
    let receiver = OtlpReceiver::bind("127.0.0.1:0").unwrap();
    assert_eq!(post(&receiver, PB, &[]).status, 200);
    assert!(receiver.batches().is_empty());
}

#[test]
fn errors_have_their_status_and_a_google_rpc_status_body() {
    let receiver = OtlpReceiver::bind("127.0.0.1:0").unwrap();
    let ok = body("svc", vec![span("a", 1, 0, 10, 5)]);
    let cases: [(&str, &str, &[u8], u16, &str); 8] = [
        ("POST /v1/metrics HTTP/1.1\r\n", PB, &ok, 404, "no such path \"/v1/metrics\""),
        ("POST / HTTP/1.1\r\n", PB, &ok, 404, "no such path"),
        ("GET /v1/traces HTTP/1.1\r\n", "", b"", 405, "method GET not allowed"),
        (
            "POST /v1/traces HTTP/1.1\r\n",
            "Content-Type: application/json\r\n",
            b"{}",
            415,
            "application/json",
        ),
        ("POST /v1/traces HTTP/1.1\r\n", "", &ok, 415, "unsupported Content-Type \"\""),
        (
            "POST /v1/traces HTTP/1.1\r\n",
            "Content-Type: application/x-protobuf\r\nContent-Encoding: br\r\n",
            &ok,
            415,
            "\"br\"",
        ),
        ("POST /v1/traces HTTP/1.1\r\n", PB, b"\x0a\x05\x01", 400, "not an ExportTraceServiceRequest"),
        (
            "POST /v1/traces HTTP/1.1\r\n",
            "Content-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\n",
            &ok,
            400,
            "cannot gunzip",
        ),
    ];
    for (line, headers, body, status, message) in cases {
        let reply = post_raw(&receiver, &format!("{line}{headers}"), body);
        assert_eq!(reply.status, status, "{line}{headers}");
        let rpc = reply.rpc_status();
        assert!(rpc.message.contains(message), "{:?} does not contain {message:?}", rpc.message);
        assert_ne!(rpc.code, 0);
        if status == 405 {
            assert_eq!(reply.header("allow"), Some("POST"));
        }
    }
    assert_eq!(receiver.requests(), 8);
    assert_eq!(receiver.decode_errors(), 2, "the two undecodable bodies");
    assert!(receiver.spans().is_empty());
    // An invalid id is undecodable too.
    let mut bad = span("a", 1, 0, 10, 5);
    bad.trace_id.truncate(3);
    let reply = post(&receiver, PB, &crate::receiver::otlp::tests::body("svc", vec![bad]));
    assert_eq!(reply.status, 400);
    assert!(reply.rpc_status().message.contains("Span.trace_id has 3 bytes"));
    assert_eq!(receiver.decode_errors(), 3);
}

#[test]
fn bodies_over_the_limit_are_413_before_and_after_gunzip() {
    let receiver = OtlpReceiver::bind_with("127.0.0.1:0", 1000, None).unwrap();
    // Declared too large: refused from the Content-Length, the body still read (drained).
    assert_eq!(post(&receiver, PB, &vec![0; 1001]).status, 413);
    // Chunked, so only reading finds out.
    let mut s = TcpStream::connect(receiver.local_addr()).unwrap();
    write!(
        s,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\n{PB}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for _ in 0..3 {
        write!(s, "190\r\n{}\r\n", "\0".repeat(400)).unwrap();
    }
    write!(s, "0\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(parse(&raw).status, 413);
    // Small on the wire, too large once gunzipped.
    let bomb = gzip(&vec![0; 1001]);
    assert!(bomb.len() < 100);
    let reply = post(&receiver, &format!("{PB}Content-Encoding: gzip\r\n"), &bomb);
    assert_eq!(reply.status, 413);
    assert!(reply.rpc_status().message.contains("over 1000 bytes"));
    // At the limit: accepted (as protobuf, 1000 bytes of an unknown field 15 are skipped).
    let mut exactly = vec![0x7a, 0xe5, 0x07];
    exactly.resize(1000, b'x');
    assert_eq!(post(&receiver, PB, &exactly).status, 200);
    assert_eq!(receiver.decode_errors(), 0);
}

#[test]
fn the_real_limit_is_64_mib_after_gunzip() {
    let receiver = OtlpReceiver::bind("127.0.0.1:0").unwrap();
    let bomb = gzip(&vec![0; MAX_BODY + 1]);
    let reply = post(&receiver, &format!("{PB}Content-Encoding: gzip\r\n"), &bomb);
    assert_eq!(reply.status, 413);
}

#[test]
fn a_stalled_client_blocks_neither_other_requests_nor_drop() {
    let receiver = OtlpReceiver::bind("127.0.0.1:0").unwrap();
    let mut stalled = TcpStream::connect(receiver.local_addr()).unwrap();
    write!(stalled, "POST /v1/traces HTTP/1.1\r\nHost: x\r\n{PB}Content-Length: 5000\r\n\r\n0123456789")
        .unwrap();
    assert_eq!(post(&receiver, PB, &body("svc", vec![span("a", 1, 0, 10, 5)])).status, 200);
    assert_eq!(receiver.wait_for_spans(1, Duration::from_secs(5)).len(), 1);
    let started = std::time::Instant::now();
    drop(receiver);
    assert!(started.elapsed() < POLL_INTERVAL, "{:?}", started.elapsed());
    drop(stalled);
}

#[test]
fn dropping_the_receiver_joins_its_thread_at_once() {
    let receiver = OtlpReceiver::bind("127.0.0.1:0").unwrap();
    assert_eq!(post(&receiver, PB, &[]).status, 200);
    let started = std::time::Instant::now();
    drop(receiver);
    // Woken by `unblock`, not by its poll interval.
    assert!(started.elapsed() < POLL_INTERVAL, "{:?}", started.elapsed());
}
