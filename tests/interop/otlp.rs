//! Interop for OTLP: requests built by the official Python classes (PyPI
//! opentelemetry-proto, `tests/interop/otlp.py build`) decoded by our
//! [`decode_otlp`], and `otlp.py decode` checked on them, since it will read what our
//! exporter sends.
//!
//! [`decode_otlp`]: jaeger_layer::receiver::decode_otlp

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use jaeger_layer::receiver::decode_otlp;
use jaeger_layer::{RefType, SpanRef, Tag, TagValue, TraceId};
use serde_json::{json, Value};

use crate::python::interop_python;

/// Runs `otlp.py <command> --hex-ids` with `input` on stdin, returns stdout.
fn otlp_py(python: &PathBuf, command: &str, input: &[u8]) -> Vec<u8> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/otlp.py");
    let mut child = Command::new(python)
        .arg(script)
        .args([command, "--hex-ids"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "otlp.py {command} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn kv(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

const TRACE_128: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_64: &str = "0000000000000000a3ce929d0e0e4736";
const OTHER_TRACE: &str = "00000000000000010000000000000002";

/// One request with every attribute type, kind and status, events, links, trace_state and
/// 64- and 128-bit trace ids, in the protobuf JSON mapping (ids in hex).
fn request() -> Value {
    let span = |name: &str, trace: &str, id: &str, kind: &str| {
        json!({
            "trace_id": trace, "span_id": id, "name": name, "kind": kind,
            "start_time_unix_nano": "1700000000000001000", "end_time_unix_nano": "1700000000002501999",
        })
    };
    let mut root = span("root", TRACE_128, "00f067aa0ba902b7", "SPAN_KIND_SERVER");
    root["flags"] = json!(0x301);
    root["trace_state"] = json!("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    root["status"] = json!({ "code": "STATUS_CODE_OK" });
    root["attributes"] = json!([
        kv("http.method", json!({ "string_value": "GET" })),
        kv("http.status_code", json!({ "int_value": "200" })),
        kv("cache.hit", json!({ "bool_value": true })),
        kv("ratio", json!({ "double_value": 0.25 })),
        kv("raw", json!({ "bytes_value": "AAH/" })), // 00 01 ff
        kv(
            "tags",
            json!({ "array_value": { "values": [
            { "string_value": "a" }, { "int_value": "1" }, { "bool_value": false }, { "double_value": 1.5 },
        ] } })
        ),
        kv(
            "user",
            json!({ "kvlist_value": { "values": [
            kv("name", json!({ "string_value": "ada" })), kv("id", json!({ "int_value": "7" })),
        ] } })
        ),
        json!({ "key": "nothing" }),
    ]);
    root["events"] = json!([
        { "time_unix_nano": "1700000000001000000", "name": "cache miss",
          "attributes": [kv("key", json!({ "string_value": "u:7" }))] },
        { "time_unix_nano": "1700000000002000000", "name": "exception",
          "attributes": [kv("event", json!({ "string_value": "overridden" }))] },
    ]);
    let mut child = span("child", TRACE_128, "0000000000000002", "SPAN_KIND_CLIENT");
    child["parent_span_id"] = json!("00f067aa0ba902b7");
    child["flags"] = json!(1);
    child["status"] = json!({ "code": "STATUS_CODE_ERROR", "message": "connection refused" });
    child["links"] = json!([
        { "trace_id": OTHER_TRACE, "span_id": "0000000000000003" },
        { "trace_id": OTHER_TRACE, "span_id": "0000000000000004",
          "attributes": [kv("opentracing.ref_type", json!({ "string_value": "child_of" }))] },
    ]);
    let kinds = [
        ("internal", "SPAN_KIND_INTERNAL"),
        ("producer", "SPAN_KIND_PRODUCER"),
        ("consumer", "SPAN_KIND_CONSUMER"),
        ("unspecified", "SPAN_KIND_UNSPECIFIED"),
    ];
    let narrow: Vec<Value> = kinds
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| span(name, TRACE_64, &format!("{:016x}", 0x10 + i), kind))
        .collect();
    json!({ "resource_spans": [
        {
            "resource": { "attributes": [
                kv("host.name", json!({ "string_value": "box" })),
                kv("service.name", json!({ "string_value": "py-otlp" })),
                kv("process.pid", json!({ "int_value": "42" })),
            ] },
            "scope_spans": [
                { "scope": { "name": "py.scope", "version": "1.0" }, "spans": [root, child] },
                { "spans": narrow },
            ],
        },
        { "resource": { "attributes": [kv("service.name", json!({ "string_value": "second" }))] } },
    ] })
}

#[test]
fn decode_otlp_reads_what_opentelemetry_proto_python_builds() {
    let Some(python) = interop_python() else { return };
    let body = otlp_py(&python, "build", request().to_string().as_bytes());
    let batches = decode_otlp(&body).unwrap();
    assert_eq!(batches.len(), 2, "one per ResourceSpans, the empty one included (it has attributes)");
    assert_eq!(batches[1].process.service_name, "second");
    assert!(batches[1].spans.is_empty());
    let batch = &batches[0];
    assert_eq!(batch.process.service_name, "py-otlp");
    assert_eq!(batch.process.tags, [Tag::new("host.name", "box"), Tag::new("process.pid", 42i64)]);
    assert_eq!(batch.spans.len(), 6);

    let trace = TraceId::new(0x4bf9_2f35_77b3_4da6, 0xa3ce_929d_0e0e_4736);
    let root = &batch.spans[0];
    assert_eq!((root.operation_name.as_str(), root.service_name.as_str()), ("root", "py-otlp"));
    assert_eq!((root.trace_id, root.span_id, root.parent_id), (trace, 0x00f0_67aa_0ba9_02b7, 0));
    assert!(root.references.is_empty());
    assert_eq!(root.flags, 1, "0x301: sampled, the is-remote bits dropped");
    assert_eq!((root.start_time_us, root.duration_us), (1_700_000_000_000_001, 2_500));
    assert_eq!(
        root.tags,
        [
            Tag::new("otel.scope.name", "py.scope"),
            Tag::new("otel.scope.version", "1.0"),
            Tag::new("http.method", "GET"),
            Tag::new("http.status_code", 200i64),
            Tag::new("cache.hit", true),
            Tag::new("ratio", 0.25),
            Tag { key: "raw".into(), value: TagValue::Binary(vec![0, 1, 0xff]) },
            Tag::new("tags", r#"["a",1,false,1.5]"#),
            Tag::new("user", r#"{"id":7,"name":"ada"}"#),
            Tag::new("nothing", ""),
            Tag::new("span.kind", "server"),
            Tag::new("otel.status_code", "OK"),
            Tag::new("w3c.tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ]
    );
    assert_eq!(root.logs.len(), 2);
    assert_eq!(root.logs[0].timestamp_us, 1_700_000_000_001_000);
    assert_eq!(root.logs[0].fields, [Tag::new("event", "cache miss"), Tag::new("key", "u:7")]);
    assert_eq!(root.logs[1].fields, [Tag::new("event", "overridden")], "the attribute wins");

    let child = &batch.spans[1];
    assert_eq!((child.trace_id, child.span_id, child.parent_id), (trace, 2, root.span_id));
    let other = TraceId::new(1, 2);
    assert_eq!(
        child.references,
        [
            SpanRef { ref_type: RefType::ChildOf, trace_id: trace, span_id: root.span_id },
            SpanRef { ref_type: RefType::FollowsFrom, trace_id: other, span_id: 3 },
            SpanRef { ref_type: RefType::ChildOf, trace_id: other, span_id: 4 },
        ]
    );
    assert_eq!(
        child.tags[2..],
        [
            Tag::new("span.kind", "client"),
            Tag::new("otel.status_code", "ERROR"),
            Tag::new("error", true),
            Tag::new("otel.status_description", "connection refused"),
        ]
    );

    for (span, kind) in batch.spans[2..].iter().zip(["internal", "producer", "consumer"]) {
        assert_eq!(span.trace_id, TraceId::new(0, 0xa3ce_929d_0e0e_4736), "64-bit: high half zero");
        assert_eq!(span.tags, [Tag::new("span.kind", kind)], "no scope in this ScopeSpans");
        assert_eq!(span.flags, 0);
    }
    let unspecified = &batch.spans[5];
    assert_eq!((unspecified.operation_name.as_str(), unspecified.span_id), ("unspecified", 0x13));
    assert!(unspecified.tags.is_empty(), "UNSPECIFIED: no span.kind");
}

#[test]
fn otlp_py_decode_prints_the_proto_json_mapping() {
    let Some(python) = interop_python() else { return };
    let body = otlp_py(&python, "build", request().to_string().as_bytes());
    let out: Value = serde_json::from_slice(&otlp_py(&python, "decode", &body)).unwrap();
    let span = &out["resource_spans"][0]["scope_spans"][0]["spans"][1];
    assert_eq!(span["trace_id"], TRACE_128);
    assert_eq!(span["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(span["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(span["status"]["code"], "STATUS_CODE_ERROR");
    assert_eq!(span["start_time_unix_nano"], "1700000000000001000", "fixed64 as a decimal string");
    assert_eq!(span["flags"], 1, "fixed32 as a number");
    assert_eq!(span["links"][1]["span_id"], "0000000000000004");
    let root = &out["resource_spans"][0]["scope_spans"][0]["spans"][0];
    assert!(root.get("parent_span_id").is_none(), "default values are left out");
    assert_eq!(root["attributes"][4]["value"]["bytes_value"], "AAH/", "bytes_value stays base64");
    // Without --hex-ids the ids are base64, and gzip input is accepted.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/otlp.py");
    let mut child = Command::new(&python)
        .arg(script)
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out: Value = serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(out["resource_spans"][0]["scope_spans"][0]["spans"][1]["span_id"], "AAAAAAAAAAI=");
}

/// Accepts one HTTP request on a loopback port, answers 200 and hands back its body.
#[cfg(feature = "otlp")]
fn capture_one() -> (String, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        body
    });
    (url, handle)
}

#[cfg(feature = "otlp")]
#[test]
fn opentelemetry_proto_python_decodes_what_the_exporter_sends() {
    use tracing_subscriber::prelude::*;
    let Some(python) = interop_python() else { return };
    let (url, body) = capture_one();
    let (layer, guard) = jaeger_layer::JaegerLayer::builder()
        .service_name("py-check")
        .otlp_endpoint(url)
        .trace_id_128bit(false)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let root = tracing::info_span!("root", n = 7i64, ok = true, r = 0.5, otel.kind = "client");
        root.in_scope(|| {
            tracing::info_span!("child", otel.status_code = "Error").in_scope(|| tracing::warn!("careful"));
        });
    });
    guard.flush(std::time::Duration::from_secs(10)).unwrap();
    let body = body.join().unwrap();
    let decoded: Value = serde_json::from_slice(&otlp_py(&python, "decode", &body)).unwrap();
    let rs = &decoded["resource_spans"][0];
    let attrs = rs["resource"]["attributes"].as_array().unwrap();
    assert!(attrs.contains(&kv("service.name", json!({ "string_value": "py-check" }))), "{attrs:?}");
    assert!(attrs.contains(&kv("telemetry.sdk.language", json!({ "string_value": "rust" }))));
    assert_eq!(rs["scope_spans"][0]["scope"]["name"], "jaeger-layer");
    let spans = rs["scope_spans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let (child, root) = (&spans[0], &spans[1]);
    assert_eq!((root["name"].as_str(), child["name"].as_str()), (Some("root"), Some("child")));
    let trace = root["trace_id"].as_str().unwrap();
    assert!(trace.starts_with("0000000000000000") && trace.len() == 32, "64-bit id in the low half: {trace}");
    assert_eq!(child["trace_id"], root["trace_id"]);
    assert_eq!(child["parent_span_id"], root["span_id"]);
    assert_eq!(root["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(root["flags"], 1);
    let rattrs = root["attributes"].as_array().unwrap();
    assert!(rattrs.contains(&kv("n", json!({ "int_value": "7" }))));
    assert!(rattrs.contains(&kv("ok", json!({ "bool_value": true }))));
    assert!(rattrs.contains(&kv("r", json!({ "double_value": 0.5 }))));
    assert_eq!(child["status"]["code"], "STATUS_CODE_ERROR");
    assert_eq!(child["events"][0]["name"], "careful");
    let start: u64 = root["start_time_unix_nano"].as_str().unwrap().parse().unwrap();
    let end: u64 = root["end_time_unix_nano"].as_str().unwrap().parse().unwrap();
    assert!(start > 1_600_000_000_000_000_000 && end >= start);
}
