//! Jaeger-format propagation against an implementation we did not write: jaeger-client-python's
//! `TextCodec`, in HTTP-headers mode (`url_encoding=True`, against our [`HttpHeaders`]
//! carriers) and in text-map mode (`url_encoding=False`, against plain `HashMap`s), driven
//! through `tests/interop/codec.py`.
//!
//! Needs `<repo>/.venv` (`sh tests/interop/setup-venv.sh`). Without it each test prints a skip
//! note and passes, unless `JAEGER_LAYER_REQUIRE_INTEROP=1`, which makes it fail.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use jaeger_layer::{extract, Baggage, HttpHeaders, Propagator, SpanContext, TraceId};
use serde_json::{json, Value};

use crate::python as interop;

const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
const CODEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/codec.py");

/// Whether the Python peer is installed; panics when it is required but missing.
fn peer_available(test: &str) -> bool {
    let found = interop::interop_python().is_some();
    if !found {
        eprintln!("  (in {test})");
    }
    found
}

/// One request to codec.py, one JSON answer back.
fn python(request: &Value) -> Value {
    let mut child = Command::new(PYTHON)
        .arg(CODEC)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start codec.py");
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "codec.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("codec.py prints JSON")
}

fn hex_trace(t: TraceId) -> String {
    format!("{:x}", t.to_u128())
}

fn as_map(v: &Value) -> HashMap<String, String> {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect()
}

/// Contexts that cover 64/128-bit ids, parent 0 or not, flags 0/1/3/9/a and baggage with
/// spaces, `:`, `/`, `+`, `%`, `,`, `=` and non-ASCII text.
fn contexts() -> Vec<SpanContext> {
    let baggage: Baggage = [
        ("plain", "v"),
        ("spaces", " a b  c "),
        ("colon", "x:y"),
        ("slash", "/p/q"),
        ("plus", "1+1=2"),
        ("pct", "100%"),
        ("comma", "a,b;c"),
        ("uni", "ünï ✓ 日本"),
        ("empty", ""),
    ]
    .into_iter()
    .collect();
    let mut out = Vec::new();
    for (i, trace) in
        [TraceId::new(0, 0xabc), TraceId::new(0, u64::MAX), TraceId::new(1, 2), TraceId::new(u64::MAX, 7)]
            .into_iter()
            .enumerate()
    {
        for (j, flags) in [0u8, 1, 3, 9, 0xa].into_iter().enumerate() {
            let parent = if j % 2 == 0 { 0 } else { 0x1234_5678_9abc_def0 };
            let cx = SpanContext::new(trace, 0x10 + i as u64, parent, flags);
            out.push(if j == 1 { cx } else { cx.with_baggage(baggage.clone()) });
        }
    }
    out
}

fn sorted(b: &Baggage) -> Vec<(String, String)> {
    let mut v: Vec<_> = b.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    v.sort();
    v
}

#[test]
fn python_injects_we_extract() {
    if !peer_available("python_injects_we_extract") {
        return;
    }
    for cx in contexts() {
        let baggage: HashMap<&str, &str> = cx.baggage().iter().collect();
        let req = json!({"inject": {
            "trace_id": hex_trace(cx.trace_id()),
            "span_id": format!("{:x}", cx.span_id()),
            "parent_id": format!("{:x}", cx.parent_id()),
            "flags": cx.flags(),
            "baggage": baggage,
        }});
        let headers = as_map(&python(&req)["injected"]);
        // Python's quirks: unpadded ids, parent `0`, hex flags.
        let want =
            format!("{:x}:{:x}:{:x}:{:x}", cx.trace_id().to_u128(), cx.span_id(), cx.parent_id(), cx.flags());
        assert_eq!(headers["uber-trace-id"], want);
        let got = extract(&HttpHeaders(&headers)).unwrap().expect("a context");
        assert_eq!(
            (got.trace_id(), got.span_id(), got.parent_id(), got.flags()),
            (cx.trace_id(), cx.span_id(), cx.parent_id(), cx.flags()),
            "{headers:?}"
        );
        assert_eq!(sorted(got.baggage()), sorted(cx.baggage()), "{headers:?}");
    }
}

#[test]
fn we_inject_python_extracts() {
    if !peer_available("we_inject_python_extracts") {
        return;
    }
    for cx in contexts() {
        let cx = cx.with_debug_id("never-sent");
        let mut headers = HashMap::new();
        Propagator::jaeger().inject(&cx, &mut HttpHeaders(&mut headers));
        let answer = python(&json!({ "extract": headers }));
        assert_eq!(answer["extract_error"], Value::Null, "{headers:?}");
        let got = &answer["extracted"];
        assert_eq!(got["trace_id"], hex_trace(cx.trace_id()), "{headers:?}");
        assert_eq!(got["span_id"], format!("{:x}", cx.span_id()));
        assert_eq!(got["parent_id"], format!("{:x}", cx.parent_id()));
        assert_eq!(got["flags"], cx.flags());
        // Every value, spaces included, reads back as sent: this is why spaces go out as %20.
        let baggage: Baggage = as_map(&got["baggage"]).into_iter().collect();
        assert_eq!(sorted(&baggage), sorted(cx.baggage()), "{headers:?}");
        // The debug id is never injected (jaeger-client-go `propagation.go`).
        assert_eq!(got["debug_id"], Value::Null);
    }
}

#[test]
fn python_reads_go_style_plus_literally() {
    // The evidence for encoding a space as %20: Go's QueryEscape writes `+`, which
    // jaeger-client-python's `unquote` keeps as a `+`, while we (like Go) read it as a space.
    if !peer_available("python_reads_go_style_plus_literally") {
        return;
    }
    let headers = HashMap::from([
        ("uber-trace-id".to_owned(), "1:2:0:1".to_owned()),
        ("uberctx-k".to_owned(), "a+b%20c".to_owned()),
    ]);
    let answer = python(&json!({ "extract": headers }));
    assert_eq!(answer["extracted"]["baggage"]["k"], "a+b c");
    assert_eq!(extract(&HttpHeaders(&headers)).unwrap().unwrap().baggage().get("k"), Some("a b c"));
}

#[test]
fn text_map_mode_is_verbatim_on_both_sides() {
    // TextCodec(url_encoding=False) against our plain HashMap carriers: every baggage value
    // (`%`, `+`, spaces, non-ASCII) crosses unchanged, in both directions.
    if !peer_available("text_map_mode_is_verbatim_on_both_sides") {
        return;
    }
    for cx in contexts() {
        let baggage: Baggage =
            cx.baggage().iter().chain([("quoted", "a%20b+c"), ("blanks", " x ")]).collect();
        let cx = cx.with_baggage(baggage);
        let mut headers = HashMap::new();
        Propagator::jaeger().inject(&cx, &mut headers);
        assert_eq!(headers["uberctx-quoted"], "a%20b+c");
        let answer = python(&json!({ "url_encoding": false, "extract": headers }));
        assert_eq!(answer["extract_error"], Value::Null, "{headers:?}");
        let theirs: Baggage = as_map(&answer["extracted"]["baggage"]).into_iter().collect();
        assert_eq!(sorted(&theirs), sorted(cx.baggage()), "{headers:?}");

        let baggage: HashMap<&str, &str> = cx.baggage().iter().collect();
        let req = json!({"url_encoding": false, "inject": {
            "trace_id": hex_trace(cx.trace_id()),
            "span_id": format!("{:x}", cx.span_id()),
            "parent_id": format!("{:x}", cx.parent_id()),
            "flags": cx.flags(),
            "baggage": baggage,
        }});
        let injected = as_map(&python(&req)["injected"]);
        assert_eq!(injected["uberctx-quoted"], "a%20b+c");
        let ours = extract(&injected).unwrap().expect("a context");
        assert_eq!((ours.trace_id(), ours.span_id()), (cx.trace_id(), cx.span_id()));
        assert_eq!(sorted(ours.baggage()), sorted(cx.baggage()), "{injected:?}");
    }
}

#[test]
fn both_sides_agree_on_uber_trace_id_values() {
    if !peer_available("both_sides_agree_on_uber_trace_id_values") {
        return;
    }
    // (value, whether we accept it). Python accepts all well-formed values too; the second
    // table lists what its `int(x, 16)` also lets through and we reject as corrupt.
    let agreed = [
        "abc:def:0:1",
        "0000000000000abc:0000000000000def:0000000000000000:1",
        "ABC:DEF:1:3",
        "10000000000000002:3:4:a",
        "ffffffffffffffffffffffffffffffff:1:0:ff",
        "1%3A2%3A0%3A1",
        // Leading zeros in the flags, optional whitespace around the value.
        "1:2:0:001",
        " 1:2:0:1",
        "1:2:0:1\t",
    ];
    for value in agreed {
        let headers = HashMap::from([("uber-trace-id".to_owned(), value.to_owned())]);
        let ours = extract(&HttpHeaders(&headers)).unwrap().unwrap();
        let theirs = &python(&json!({ "extract": headers }))["extracted"];
        assert_eq!(theirs["trace_id"], hex_trace(ours.trace_id()), "{value}");
        assert_eq!(theirs["span_id"], format!("{:x}", ours.span_id()), "{value}");
        assert_eq!(theirs["parent_id"], format!("{:x}", ours.parent_id()), "{value}");
        assert_eq!(theirs["flags"], ours.flags(), "{value}");
    }
    for lax in [
        "0x1:2:0:1",
        "1_0:2:0:1",
        "1: 2:0:1",
        "1:2:0:0x1",
        "100000000000000000000000000000000:1:0:1",
        // Go checks id lengths before parsing; Python's int() does not.
        "1:00000000000000002:0:1",
    ] {
        let headers = HashMap::from([("uber-trace-id".to_owned(), lax.to_owned())]);
        assert!(extract(&headers).is_err(), "{lax}");
        let theirs = python(&json!({ "extract": headers }));
        assert_eq!(theirs["extract_error"], Value::Null, "{lax}: Python is expected to be lax");
        assert!(theirs["extracted"].is_object(), "{lax}");
    }
    // Both reject a wrong part count.
    let headers = HashMap::from([("uber-trace-id".to_owned(), "1:2:3".to_owned())]);
    assert!(extract(&headers).is_err());
    assert!(python(&json!({ "extract": headers }))["extract_error"].as_str().unwrap().contains("Corrupted"));
}

#[test]
fn python_and_we_agree_on_debug_id_only_and_baggage_only_carriers() {
    if !peer_available("python_and_we_agree_on_debug_id_only_and_baggage_only_carriers") {
        return;
    }
    for pairs in [&[("jaeger-debug-id", "req%2042")][..], &[("uberctx-k", "v%20w")][..]] {
        let headers: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ours = extract(&HttpHeaders(&headers)).unwrap().unwrap();
        let theirs = &python(&json!({ "extract": headers }))["extracted"];
        assert!(!ours.trace_id().is_valid());
        assert_eq!(theirs["trace_id"], "0");
        assert_eq!(theirs["debug_id"].as_str(), ours.debug_id());
        let baggage: Baggage = as_map(&theirs["baggage"]).into_iter().collect();
        assert_eq!(sorted(&baggage), sorted(ours.baggage()));
    }
}
