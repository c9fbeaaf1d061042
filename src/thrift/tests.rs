//! Interop with an implementation we did not write (PyPI `jaeger-client` 4.8.0): datagrams and bodies made by
//! our `Batcher` are decoded by jaeger-client-python's generated Thrift code on Apache
//! Thrift's Python protocols (`tests/interop/decode_agent.py`), and every decoded field is
//! compared with what was encoded.
//!
//! Needs the venv made by `tests/interop/setup-venv.sh`; without it the test prints a note
//! and passes, unless `JAEGER_LAYER_REQUIRE_INTEROP=1` is set (then it fails).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::export::batch::tests::rich_span;
use crate::export::batch::{Batcher, WireFormat};
use crate::export::stats::Counters;
use crate::span::data::{FinishedSpan, Process, Tag, TagValue};
use crate::test_support::fixtures::Rng;
use crate::test_support::python::interop_python;
use crate::thrift::reference::expanded;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tag_json(t: &Tag) -> Value {
    let mut v = json!({ "key": t.key, "vType": t.value.thrift_type() });
    let (name, value) = match &t.value {
        TagValue::String(s) => ("vStr", json!(s)),
        TagValue::Double(d) => ("vDouble", json!(d.to_bits() as i64)),
        TagValue::Bool(b) => ("vBool", json!(b)),
        TagValue::Long(l) => ("vLong", json!(l)),
        TagValue::Binary(b) => ("vBinary", json!(hex(b))),
    };
    v[name] = value;
    v
}

fn span_json(s: &FinishedSpan) -> Value {
    json!({
        "traceIdLow": s.trace_id.low as i64,
        "traceIdHigh": s.trace_id.high as i64,
        "spanId": s.span_id as i64,
        "parentSpanId": s.parent_id as i64,
        "operationName": s.operation,
        "references": s.references.iter().map(|r| json!({
            "refType": match r.ref_type { crate::RefType::ChildOf => 0, crate::RefType::FollowsFrom => 1 },
            "traceIdLow": r.trace_id.low as i64,
            "traceIdHigh": r.trace_id.high as i64,
            "spanId": r.span_id as i64,
        })).collect::<Vec<_>>(),
        "flags": s.flags,
        "startTime": s.start_us,
        "duration": s.duration_us,
        "tags": s.tags.iter().map(tag_json).collect::<Vec<_>>(),
        "logs": s.logs.iter().map(|l| json!({
            "timestamp": l.timestamp_us,
            "fields": l.fields.iter().map(tag_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Runs the Python decoder over `lines` (`<kind> <hex>`), one JSON value per line back.
fn python_decode(python: &PathBuf, lines: String) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/decode_agent.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the interop python");
    let mut stdin = child.stdin.take().unwrap();
    // Written from another thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(lines.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "decode_agent.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn jaeger_client_python_decodes_our_batches() {
    let Some(python) = interop_python() else { return };
    let process = Process {
        service_name: "interop-ü".into(),
        tags: vec![Tag::new("hostname", "box"), Tag::new("ip", "10.0.0.1"), Tag::new("client-uuid", "abc")],
    };
    let mut rng = Rng(42);
    let spans: Vec<FinishedSpan> = (0..60).map(|i| rich_span(i, &mut rng)).collect();
    let formats = [
        (WireFormat::AgentCompact, "compact"),
        (WireFormat::AgentBinary, "binary"),
        (WireFormat::CollectorBinary, "collector"),
    ];
    let mut lines = String::new();
    // (kind, packet index within its format) of every line sent to Python.
    let mut sent: Vec<(&str, usize)> = Vec::new();
    for (format, kind) in formats {
        let counters = Arc::new(Counters::default());
        counters.spans_dropped_queue_full.store(11, std::sync::atomic::Ordering::Relaxed);
        // Small enough to need several packets, some with more than 14 spans (the compact
        // list header grows a varint there).
        let mut b = Batcher::new(format, process.clone(), 9_216, 0, Arc::clone(&counters));
        let mut packets = Vec::new();
        let mut send = |bytes: &[u8]| {
            packets.push(bytes.to_vec());
            Ok(())
        };
        for s in &spans {
            b.push(s, &mut send);
        }
        b.flush(&mut send);
        assert!(packets.len() >= 2, "{kind}: expected several packets");
        for (i, p) in packets.iter().enumerate() {
            lines.push_str(&format!("{kind} {}\n", hex(p)));
            sent.push((kind, i));
        }
    }
    let decoded = python_decode(&python, lines);
    assert_eq!(decoded.len(), sent.len());

    let mut by_kind: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    let mut longest_list = 0;
    for ((kind, i), got) in sent.iter().zip(&decoded) {
        assert_eq!(got["trailing"], 0, "{kind} #{i}: bytes left over");
        assert_eq!(got["sameSpansInBoth"], true, "{kind} #{i}");
        assert_eq!(got["process"]["serviceName"], "interop-ü");
        assert_eq!(got["process"]["tags"], json!(process.tags.iter().map(tag_json).collect::<Vec<_>>()));
        if *kind == "collector" {
            assert_eq!((&got["seqNo"], &got["stats"]), (&Value::Null, &Value::Null), "{kind}");
        } else {
            assert_eq!(got["name"], "emitBatch");
            assert_eq!(got["type"], "CALL");
            assert_eq!(got["seqid"], json!(i + 1), "{kind}");
            assert_eq!(got["seqNo"], json!(i + 1), "{kind}");
            assert_eq!(got["stats"], json!([11, 0, 0]), "{kind}");
        }
        longest_list = longest_list.max(got["spans"].as_array().unwrap().len());
        by_kind.entry(kind).or_default().extend(got["spans"].as_array().unwrap().iter().cloned());
    }
    assert!(longest_list > 14, "no packet exercised the long list header");
    // The encoder adds the implied tags and CHILD_OF reference: compare with them.
    let want: Vec<Value> = spans.iter().map(|s| span_json(&expanded(s))).collect();
    for (kind, got) in by_kind {
        assert_eq!(got.len(), want.len(), "{kind}: span count");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{kind}");
        }
    }
}
