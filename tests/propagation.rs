//! Propagation through the public API: round trips for every format, the conformance rules
//! of jaeger-client-go's propagators and the W3C / B3 specs, text-map vs HTTP-header carriers,
//! malformed-input tables, limits, composite precedence.
// Table-driven: the tables' element types are the tests' shape.
#![allow(clippy::type_complexity)]

use std::collections::HashMap;

use jaeger_layer::{
    extract, Baggage, ExtractErrorKind, HttpHeaders, Propagator, SpanContext, TextMap, TraceId,
};

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn extract_with(p: &Propagator, pairs: &[(&str, &str)]) -> Result<Option<SpanContext>, ExtractErrorKind> {
    p.extract(&headers(pairs)).map_err(|e| e.kind())
}

/// As `extract_with`, the carrier read as HTTP headers.
fn extract_http(p: &Propagator, pairs: &[(&str, &str)]) -> Result<Option<SpanContext>, ExtractErrorKind> {
    p.extract(&HttpHeaders(headers(pairs))).map_err(|e| e.kind())
}

/// Both carrier formats, for tables that hold in either.
fn extract_both(p: &Propagator, pairs: &[(&str, &str)]) -> Result<Option<SpanContext>, ExtractErrorKind> {
    let text = extract_with(p, pairs);
    assert_eq!(extract_http(p, pairs), text, "HTTP headers and text map differ: {pairs:?}");
    text
}

fn ids(cx: &SpanContext) -> (u64, u64, u64, u64, u8) {
    (cx.trace_id().high, cx.trace_id().low, cx.span_id(), cx.parent_id(), cx.flags())
}

/// Baggage items in key order: extraction order follows header order, which a carrier may not keep.
fn sorted(b: &Baggage) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = b.iter().collect();
    v.sort_unstable();
    v
}

/// Equality up to baggage order.
fn assert_same(got: &SpanContext, want: &SpanContext, what: &dyn std::fmt::Debug) {
    assert_eq!(ids(got), ids(want), "{what:?}");
    assert_eq!(sorted(got.baggage()), sorted(want.baggage()), "{what:?}");
    assert_eq!((got.debug_id(), got.trace_state()), (want.debug_id(), want.trace_state()), "{what:?}");
}

const HIGH: u64 = 0x0af7_6519_16cd_43dd;
const LOW: u64 = 0x8448_eb21_1c80_319c;

fn tricky_baggage() -> Baggage {
    [
        ("plain", "v"),
        ("spaces", "a b  c "),
        ("colon", "x:y:z"),
        ("slash", "/p/q"),
        ("uni", "ünï ✓ 日本"),
        ("pct", "100%+1=2&"),
    ]
    .into_iter()
    .collect()
}

// === Jaeger ===

#[test]
fn jaeger_writes_the_go_format() {
    // (trace, span, parent, flags) -> uber-trace-id as Go's writer emits it
    // (jaeger-client-go `span_context.go` String).
    let cases = [
        (TraceId::new(0, 0xabc), 1, 0, 0, "0000000000000abc:0000000000000001:0000000000000000:0"),
        (TraceId::new(1, 2), 3, 4, 1, "00000000000000010000000000000002:0000000000000003:0000000000000004:1"),
        (
            TraceId::new(HIGH, LOW),
            u64::MAX,
            1,
            3,
            "0af7651916cd43dd8448eb211c80319c:ffffffffffffffff:0000000000000001:3",
        ),
        (TraceId::new(0, 5), 6, 7, 9, "0000000000000005:0000000000000006:0000000000000007:9"),
        (TraceId::new(0, 5), 6, 7, 0xa, "0000000000000005:0000000000000006:0000000000000007:a"),
        (TraceId::new(0, 5), 6, 7, 0xff, "0000000000000005:0000000000000006:0000000000000007:ff"),
    ];
    for (trace, span, parent, flags, want) in cases {
        let cx = SpanContext::new(trace, span, parent, flags);
        let mut h = HashMap::new();
        Propagator::jaeger().inject(&cx, &mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["uber-trace-id"], want);
        // Never URL-encoded, not even into HTTP headers.
        let mut h = HashMap::new();
        Propagator::jaeger().inject(&cx, &mut HttpHeaders(&mut h));
        assert_eq!(h["uber-trace-id"], want);
        assert_eq!(cx.to_string(), want);
        assert_eq!(want.parse::<SpanContext>().unwrap(), cx);
    }
}

#[test]
fn jaeger_round_trips_ids_flags_and_baggage() {
    for trace in
        [TraceId::new(0, 1), TraceId::new(0, LOW), TraceId::new(HIGH, LOW), TraceId::new(u64::MAX, 0)]
    {
        for flags in [0u8, 1, 3, 9, 0xa] {
            let cx = SpanContext::new(trace, 0x1234, 0x5678, flags).with_baggage(tricky_baggage());
            // HTTP headers: values URL-encoded as Go's QueryEscape does, but a space as %20.
            let mut h = HashMap::new();
            Propagator::jaeger().inject(&cx, &mut HttpHeaders(&mut h));
            assert_eq!(h["uberctx-spaces"], "a%20b%20%20c%20");
            assert_eq!(h["uberctx-colon"], "x%3Ay%3Az");
            assert_eq!(h["uberctx-slash"], "%2Fp%2Fq");
            assert!(h.values().all(|v| v.bytes().all(|b| b.is_ascii_graphic())), "{h:?}");
            let back = extract(&HttpHeaders(&h)).unwrap().unwrap();
            assert_same(&back, &cx, &h);
            // A text map: verbatim both ways (jaeger-client-go's TextMap propagator).
            let mut h = HashMap::new();
            Propagator::jaeger().inject(&cx, &mut h);
            assert_eq!(h["uberctx-spaces"], "a b  c ");
            assert_eq!(h["uberctx-pct"], "100%+1=2&");
            assert_eq!(h["uberctx-uni"], "ünï ✓ 日本");
            let back = extract(&h).unwrap().unwrap();
            assert_same(&back, &cx, &h);
        }
    }
}

#[test]
fn jaeger_reads_what_peers_write() {
    // (uber-trace-id, expected (high, low, span, parent, flags)). Covers Python's unpadded
    // ids and parent `0`, Java's parent `0`, upper-case hex, 17..32-digit trace ids, hex flags.
    let cases = [
        ("abc:def:0:1", (0, 0xabc, 0xdef, 0, 1)),
        ("ABC:DEF:0:1", (0, 0xabc, 0xdef, 0, 1)),
        ("1:2:3:0", (0, 1, 2, 3, 0)),
        ("0000000000000abc:0000000000000def:0000000000000000:01", (0, 0xabc, 0xdef, 0, 1)),
        ("10000000000000002:3:4:5", (1, 2, 3, 4, 5)),
        ("0af7651916cd43dd8448eb211c80319c:1:0:3", (HIGH, LOW, 1, 0, 3)),
        ("00000000000000000000000000000001:1:0:3", (0, 1, 1, 0, 3)),
        ("1:ffffffffffffffff:ffffffffffffffff:ff", (0, 1, u64::MAX, u64::MAX, 0xff)),
        // Flags are hex: `a` is debug+firehose, `10` is 0x10 (Go would read decimal 10).
        ("1:2:0:a", (0, 1, 2, 0, 0xa)),
        ("1:2:0:10", (0, 1, 2, 0, 0x10)),
        // Leading zeros in the flags, as every Jaeger reader accepts them.
        ("1:2:0:001", (0, 1, 2, 0, 1)),
        ("1:2:0:00", (0, 1, 2, 0, 0)),
        ("1:2:0:0000000000000000000ff", (0, 1, 2, 0, 0xff)),
        ("1:2:0:000A", (0, 1, 2, 0, 0xa)),
        // Leading zeros in ids, up to Go's length limits.
        ("00000000000000000000000000000abc:0000000000000002:0000000000000000:1", (0, 0xabc, 2, 0, 1)),
        // HTTP optional whitespace around the value.
        (" \t1:2:0:1\t ", (0, 1, 2, 0, 1)),
    ];
    for (value, want) in cases {
        let cx = extract_both(&Propagator::jaeger(), &[("uber-trace-id", value)])
            .unwrap()
            .unwrap_or_else(|| panic!("{value}"));
        assert_eq!(ids(&cx), want, "{value}");
    }
    // HTTP headers: the value is URL-decoded first (jaeger-client-go `propagation.go`;
    // Python quotes it). A text map takes it verbatim.
    let quoted = [("uber-trace-id", "1%3A2%3A0%3A1")];
    assert_eq!(ids(&extract_http(&Propagator::jaeger(), &quoted).unwrap().unwrap()), (0, 1, 2, 0, 1));
    assert_eq!(extract_with(&Propagator::jaeger(), &quoted), Err(ExtractErrorKind::Corrupt));
}

#[test]
fn a_zero_span_id_is_no_context_and_the_next_format_answers() {
    // jaeger-client-go `span_context.go`: IsValid needs a non-zero trace id and span id.
    assert_eq!(extract_both(&Propagator::jaeger(), &[("uber-trace-id", "1:0:0:1")]), Ok(None));
    assert_eq!(extract_both(&Propagator::jaeger(), &[("uber-trace-id", "1:0000000000000000:5:1")]), Ok(None));
    // What else the carrier holds still crosses, in a context with zero ids.
    let cx = extract_both(&Propagator::jaeger(), &[("uber-trace-id", "1:0:0:1"), ("uberctx-k", "v")])
        .unwrap()
        .unwrap();
    assert_eq!((ids(&cx), cx.baggage().get("k")), ((0, 0, 0, 0, 0), Some("v")));
    // A composite goes on to the next format.
    let b3 = ("b3", "0000000000000003-0000000000000004-1");
    let p = Propagator::composite([Propagator::jaeger(), Propagator::b3()]);
    let cx = extract_both(&p, &[("uber-trace-id", "1:0:0:1"), b3]).unwrap().unwrap();
    assert_eq!(ids(&cx), (0, 3, 4, 0, 1));
    // The same in B3: a zero span id is no context, not an error.
    let p = Propagator::composite([Propagator::b3(), Propagator::jaeger()]);
    for pairs in [
        &[("b3", "0000000000000003-0000000000000000-1"), ("uber-trace-id", "5:6:0:1")][..],
        &[("x-b3-traceid", "3"), ("x-b3-spanid", "0"), ("uber-trace-id", "5:6:0:1")][..],
    ] {
        let cx = extract_both(&p, pairs).unwrap().unwrap();
        assert_eq!(ids(&cx), (0, 5, 6, 0, 1), "{pairs:?}");
        assert_eq!(extract_both(&Propagator::b3(), pairs), Ok(None), "{pairs:?}");
    }
}

#[test]
fn jaeger_rejects_malformed_trace_ids() {
    let too_long_trace = format!("{}:1:0:1", "1".repeat(33));
    let too_long_span = format!("1:{}:0:1", "1".repeat(17));
    let cases = [
        "",
        "1",
        "1:2",
        "1:2:3",
        "1:2:3:4:5",
        ":2:3:1",
        "1::3:1",
        "1:2::1",
        "1:2:3:",
        "+1:2:3:1",
        "-1:2:3:1",
        "0x1:2:3:1",
        "1:0x2:3:1",
        "1:2 :3:1",
        "1: 2:3:1",
        "1_0:2:3:1",
        "g:2:3:1",
        "1:2:3:g",
        "1:2:3:100",
        "1:2:3:00100",
        "1:2:3:0x1",
        "1:2:3:-1",
        "1:2:3:+1",
        "é:2:3:1",
        "1:2:3:1\n",
        "\u{a0}1:2:3:1",
        "1;2;3;1",
        "1+2:3:4:1",
        &too_long_trace,
        &too_long_span,
        "1:2:10000000000000000:1",
        // Go checks the length before parsing: leading zeros do not make a long id valid.
        "1:00000000000000002:0:1",
        "000000000000000000000000000000001:2:0:1",
        "%zz:2:3:1",
    ];
    for value in cases {
        assert_eq!(
            extract_both(&Propagator::jaeger(), &[("uber-trace-id", value)]),
            Err(ExtractErrorKind::Corrupt),
            "{value:?}"
        );
        let err = value.parse::<SpanContext>();
        assert!(err.is_err() || value.contains('%'), "{value:?}");
    }
    let err = extract(&headers(&[("uber-trace-id", "x")])).unwrap_err();
    assert_eq!(err.header(), "uber-trace-id");
    assert!(err.to_string().contains("uber-trace-id"), "{err}");
}

#[test]
fn jaeger_zero_trace_id_and_debug_only_contexts() {
    // A zero trace id alone is "not found"; with a debug id or baggage it is a container for
    // them with zero ids and flags (jaeger-client-go `propagation.go` Extract).
    assert_eq!(extract(&headers(&[("uber-trace-id", "0:0:0:0")])), Ok(None));
    assert_eq!(extract(&headers(&[("uber-trace-id", "0:5:0:1")])), Ok(None));
    assert_eq!(extract(&headers(&[])), Ok(None));
    assert_eq!(extract(&headers(&[("x-other", "1")])), Ok(None));

    let debug = [("uber-trace-id", "0:5:0:1"), ("jaeger-debug-id", " req+42\t")];
    let cx = extract_http(&Propagator::jaeger(), &debug).unwrap().unwrap();
    assert_eq!(ids(&cx), (0, 0, 0, 0, 0));
    // HTTP headers: URL-decoded, optional whitespace dropped; a text map: verbatim.
    assert_eq!(cx.debug_id(), Some("req 42"));
    let cx = extract_with(&Propagator::jaeger(), &debug).unwrap().unwrap();
    assert_eq!(cx.debug_id(), Some(" req+42\t"));

    let cx = extract(&headers(&[("Jaeger-Debug-Id", "abc")])).unwrap().unwrap();
    assert!(!cx.trace_id().is_valid() && !cx.is_valid());
    assert_eq!(cx.debug_id(), Some("abc"));

    let cx = extract(&headers(&[("uberctx-k", "v")])).unwrap().unwrap();
    assert_eq!(ids(&cx), (0, 0, 0, 0, 0));
    assert_eq!(cx.baggage().get("k"), Some("v"));
    assert_eq!(cx.debug_id(), None);

    // An empty debug id is no debug id.
    assert_eq!(extract(&headers(&[("jaeger-debug-id", "")])), Ok(None));
    // A valid context keeps the debug id it came with, but never injects it.
    let cx = extract(&headers(&[("uber-trace-id", "1:2:0:1"), ("jaeger-debug-id", "d")])).unwrap().unwrap();
    assert_eq!(cx.debug_id(), Some("d"));
    let mut h = HashMap::new();
    Propagator::composite([Propagator::jaeger(), Propagator::w3c(), Propagator::b3()]).inject(&cx, &mut h);
    assert!(h.keys().all(|k| !k.contains("debug")), "{h:?}");
    assert!(!h.values().any(|v| v == "d"), "{h:?}");
    assert!(!h.contains_key("jaeger-debug-id"));
}

#[test]
fn uberctx_and_jaeger_baggage_headers_are_decoded_as_jaeger_clients_do() {
    let cx = extract(&HttpHeaders(headers(&[
        ("uber-trace-id", "1:2:0:1"),
        ("UberCtx-User-Name", "Ada+Lovelace"),
        ("uberctx-path", "%2Fa%2Fb"),
        ("uberctx-bad", "100%"),
        ("uberctx-utf", "%E2%9C%93"),
        ("uberctx-", "ignored: empty key"),
        ("jaeger-baggage", "k1=v1, k2 = v 2,bad,x=y=z,User-Name=from-jaeger-baggage"),
    ])))
    .unwrap()
    .unwrap();
    let b = cx.baggage();
    // uberctx keys are lower-cased, values URL-decoded, raw kept on a bad escape.
    assert_eq!(b.get("user-name"), Some("Ada Lovelace"));
    assert_eq!(b.get("path"), Some("/a/b"));
    assert_eq!(b.get("bad"), Some("100%"));
    assert_eq!(b.get("utf"), Some("✓"));
    // jaeger-baggage: keys kept as they are, values keep inner and leading spaces.
    assert_eq!(b.get("k1"), Some("v1"));
    assert_eq!(b.get("k2"), Some(" v 2"));
    assert_eq!(b.get("User-Name"), Some("from-jaeger-baggage"));
    assert_eq!(b.get("x"), None);
    assert_eq!(b.len(), 7, "{b:?}");
}

#[test]
fn text_maps_are_verbatim_and_http_headers_url_encoded() {
    // (header, value in the carrier, baggage key or "debug", read from a text map, read from
    // HTTP headers), as jaeger-client-go's TextMap and HTTPHeaders propagators read them.
    let cases: &[(&str, &str, &str, Option<&str>, Option<&str>)] = &[
        ("uberctx-k", "a%20b", "k", Some("a%20b"), Some("a b")),
        ("uberctx-k", "a+b", "k", Some("a+b"), Some("a b")),
        ("uberctx-k", "100%", "k", Some("100%"), Some("100%")),
        ("uberctx-k", "%2Fp", "k", Some("%2Fp"), Some("/p")),
        ("uberctx-k", " v\t", "k", Some(" v\t"), Some("v")),
        ("uberctx-k", "%20v%20", "k", Some("%20v%20"), Some(" v ")),
        ("jaeger-debug-id", "a+b%21", "debug", Some("a+b%21"), Some("a b!")),
        // jaeger-baggage is QueryUnescape'd as a whole in either (`parseCommaSeparatedMap`).
        ("jaeger-baggage", "k=a+b%2Cc", "k", Some("a b"), Some("a b")),
        ("jaeger-baggage", " k=a%20b ", "k", Some("a b"), Some("a b")),
    ];
    for &(name, value, key, text, http) in cases {
        let read = |cx: Option<SpanContext>| {
            let cx = cx.expect("a baggage or debug-id context");
            if key == "debug" {
                cx.debug_id().map(str::to_owned)
            } else {
                cx.baggage().get(key).map(str::to_owned)
            }
        };
        let got = read(extract_with(&Propagator::jaeger(), &[(name, value)]).unwrap());
        assert_eq!(got.as_deref(), text, "text map {name}: {value:?}");
        let got = read(extract_http(&Propagator::jaeger(), &[(name, value)]).unwrap());
        assert_eq!(got.as_deref(), http, "HTTP headers {name}: {value:?}");
    }
    // B3's `baggage-*` follows the carrier format in the same way.
    let pairs = [("b3", "1-2-1"), ("baggage-k", "a+b%20c")];
    let cx = extract_with(&Propagator::b3(), &pairs).unwrap().unwrap();
    assert_eq!(cx.baggage().get("k"), Some("a+b%20c"));
    let cx = extract_http(&Propagator::b3(), &pairs).unwrap().unwrap();
    assert_eq!(cx.baggage().get("k"), Some("a b c"));

    // Inject: verbatim into a text map, encoded into HTTP headers; the TextMap wrapper
    // forces verbatim, the HttpHeaders one encoding.
    let cx =
        SpanContext::new(TraceId::new(0, 1), 2, 0, 1).with_baggage([("k", "a b+c/é")].into_iter().collect());
    for p in [Propagator::jaeger(), Propagator::b3(), Propagator::b3_single()] {
        let name = if p == Propagator::jaeger() { "uberctx-k" } else { "baggage-k" };
        let mut h = HashMap::new();
        p.inject(&cx, &mut h);
        assert_eq!(h[name], "a b+c/é");
        let mut h = HashMap::new();
        p.inject(&cx, &mut TextMap(&mut h));
        assert_eq!(h[name], "a b+c/é");
        let mut h = HashMap::new();
        p.inject(&cx, &mut HttpHeaders(&mut h));
        assert_eq!(h[name], "a%20b%2Bc%2F%C3%A9");
        assert_eq!(p.extract(&HttpHeaders(&h)).unwrap().unwrap().baggage().get("k"), Some("a b+c/é"));
        // Read with the wrong format, the value is not what was sent: the format matters.
        assert_eq!(p.extract(&h).unwrap().unwrap().baggage().get("k"), Some("a%20b%2Bc%2F%C3%A9"));
    }
    // W3C `baggage` is percent-encoded by its own grammar, whatever the carrier.
    let mut h = HashMap::new();
    Propagator::w3c().inject(&cx, &mut h);
    assert_eq!(h["baggage"], "k=a%20b%2Bc%2F%C3%A9");
}

#[test]
fn optional_whitespace_around_every_header_value_is_ignored() {
    // (propagator, headers with OWS (spaces, tabs) around every value, expected ids).
    let t = "0af7651916cd43dd8448eb211c80319c";
    let b3_single = format!(" \t{t}-0000000000000002-1-0000000000000003 \t");
    let traceparent = format!("\t00-{t}-0000000000000002-01 ");
    let cases: &[(Propagator, Vec<(&str, &str)>, (u64, u64, u64, u64, u8))] = &[
        (
            Propagator::jaeger(),
            vec![
                ("uber-trace-id", " 1:2:3:1\t"),
                ("uberctx-k", "\t v "),
                ("jaeger-debug-id", " d "),
                ("jaeger-baggage", " j=w\t"),
            ],
            (0, 1, 2, 3, 1),
        ),
        (Propagator::b3_single(), vec![("b3", &b3_single), ("baggage-k", " v\t")], (HIGH, LOW, 2, 3, 1)),
        (
            Propagator::b3(),
            vec![
                ("x-b3-traceid", " 1 "),
                ("x-b3-spanid", "\t2\t"),
                ("x-b3-parentspanid", " 3"),
                ("x-b3-sampled", "1 "),
                ("baggage-k", " v"),
            ],
            (0, 1, 2, 3, 1),
        ),
        (
            Propagator::b3(),
            vec![("x-b3-traceid", "1"), ("x-b3-spanid", "2"), ("x-b3-flags", " 1 ")],
            (0, 1, 2, 0, 3),
        ),
        (
            Propagator::w3c(),
            vec![("traceparent", &traceparent), ("tracestate", " a=b,c=d\t"), ("baggage", "\tk = v ")],
            (HIGH, LOW, 2, 0, 1),
        ),
    ];
    for (p, pairs, want) in cases {
        let cx = extract_http(p, pairs).unwrap().unwrap_or_else(|| panic!("{pairs:?}"));
        assert_eq!(ids(&cx), *want, "{pairs:?}");
        if pairs.iter().any(|(k, _)| k.contains("baggage") || k.starts_with("uberctx")) {
            assert_eq!(cx.baggage().get("k"), Some("v"), "{pairs:?}");
        }
        if *p == Propagator::jaeger() {
            assert_eq!((cx.debug_id(), cx.baggage().get("j")), (Some("d"), Some("w")));
        }
        if *p == Propagator::w3c() {
            assert_eq!(cx.trace_state(), Some("a=b,c=d"));
        }
        // The structured values are read the same from a text map; free-form values
        // (baggage items, the debug id) are data there, blanks included.
        let text = extract_with(p, pairs).unwrap().unwrap();
        assert_eq!(ids(&text), *want, "{pairs:?}");
        if *p == Propagator::jaeger() {
            assert_eq!((text.debug_id(), text.baggage().get("k")), (Some(" d "), Some("\t v ")));
        }
    }
}

#[test]
fn header_names_are_case_insensitive_and_lower_case_wins() {
    let cx = extract(&headers(&[("UBER-TRACE-ID", "1:2:0:1")])).unwrap().unwrap();
    assert_eq!(ids(&cx), (0, 1, 2, 0, 1));
    // Same header in two spellings: the lower-case one is used, whatever the map's order.
    for _ in 0..20 {
        let cx = extract(&headers(&[("Uber-Trace-Id", "9:9:0:0"), ("uber-trace-id", "1:2:0:1")]))
            .unwrap()
            .unwrap();
        assert_eq!(ids(&cx), (0, 1, 2, 0, 1));
        let cx = extract(&headers(&[("UBERCTX-K", "upper"), ("uberctx-k", "lower")])).unwrap().unwrap();
        assert_eq!(cx.baggage().get("k"), Some("lower"));
    }
    let cx = extract_with(&Propagator::w3c(), &[("TraceParent", W3C_VALID)]).unwrap().unwrap();
    assert_eq!(cx.trace_id(), TraceId::new(HIGH, LOW));
    let cx = extract_with(
        &Propagator::b3(),
        &[("X-B3-TraceId", "0000000000000001"), ("X-B3-SpanId", "0000000000000002")],
    )
    .unwrap()
    .unwrap();
    assert_eq!(ids(&cx), (0, 1, 2, 0, 0));
}

// === W3C ===

const W3C_VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[test]
fn w3c_round_trips() {
    for trace in [TraceId::new(0, 1), TraceId::new(HIGH, LOW), TraceId::new(u64::MAX, u64::MAX)] {
        for flags in [0u8, 1, 3, 9, 0xa] {
            let cx = SpanContext::new(trace, 0xb7ad_6b71_6920_3331, 0x77, flags)
                .with_baggage(tricky_baggage())
                .with_trace_state("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
            let mut h = HashMap::new();
            Propagator::w3c().inject(&cx, &mut h);
            assert_eq!(h.len(), 3, "{h:?}");
            assert_eq!(
                h["traceparent"],
                format!("00-{:016x}{:016x}-b7ad6b7169203331-0{}", trace.high, trace.low, flags & 1)
            );
            assert_eq!(h["tracestate"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
            assert!(h["baggage"].contains("spaces=a%20b%20%20c%20"), "{}", h["baggage"]);
            let back = Propagator::w3c().extract(&h).unwrap().unwrap();
            // Only trace and span id and the sampled bit cross; the parent id reads as 0.
            assert_eq!(ids(&back), (trace.high, trace.low, 0xb7ad_6b71_6920_3331, 0, flags & 1));
            assert_eq!(sorted(back.baggage()), sorted(&tricky_baggage()));
            assert_eq!(back.trace_state(), cx.trace_state());
        }
    }
}

#[test]
fn w3c_traceparent_parses_per_trace_context_level_1() {
    let t = "0af7651916cd43dd8448eb211c80319c";
    let s = "b7ad6b7169203331";
    let ok: &[(&str, u8)] = &[
        (W3C_VALID, 1),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", 0),
        // Unknown flags are ignored; only the sampled bit maps.
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff", 1),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02", 0),
        // A future version: the 00 fields, then `-` and anything.
        ("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 1),
        ("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-will-be", 1),
        ("fe-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", 1),
        // HTTP optional whitespace around the value.
        (" \t00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ", 1),
    ];
    for (value, sampled) in ok {
        let cx = extract_with(&Propagator::w3c(), &[("traceparent", value)]).unwrap().unwrap();
        assert_eq!(ids(&cx), (HIGH, LOW, 0xb7ad_6b71_6920_3331, 0, *sampled), "{value:?}");
    }
    let bad = [
        String::new(),
        "00".into(),
        format!("ff-{t}-{s}-01"),
        format!("00-{t}-{s}-01-"),
        format!("00-{t}-{s}-01-extra"),
        format!("00-{t}-{s}-1"),
        format!("00-{t}-{s}-001"),
        format!("0-{t}-{s}-01"),
        format!("000-{t}-{s}-01"),
        format!("0g-{t}-{s}-01"),
        format!("0A-{t}-{s}-01"),
        format!("01-{t}-{s}-01extra"),
        format!("00-{}-{s}-01", t.to_uppercase()),
        format!("00-{t}-{}-01", s.to_uppercase()),
        format!("00-{t}-{s}-0A"),
        format!("00-{}-{s}-01", "0".repeat(32)),
        format!("00-{t}-{}-01", "0".repeat(16)),
        format!("00-{}-{s}-01", &t[1..]),
        format!("00-{t}0-{s}-01"),
        format!("00-{t}-{}-01", &s[1..]),
        format!("00_{t}_{s}_01"),
        format!("00-{t}-{s}.01"),
        format!("00-{}g-{s}-01", &t[1..]),
        format!("00-{t}-{s}-0g"),
        format!("00-{}é-{s}-01", &t[2..]),
        format!("00-{t}-{s}-01\u{0}"),
        format!("00 -{t}-{s}-01"),
    ];
    for value in &bad {
        assert_eq!(
            extract_with(&Propagator::w3c(), &[("traceparent", value), ("tracestate", "a=b")]),
            Err(ExtractErrorKind::Corrupt),
            "{value:?}"
        );
    }
}

#[test]
fn w3c_tracestate_is_carried_verbatim_and_baggage_decoded() {
    // tracestate is carried unchanged, including odd spacing; dropped when not printable ASCII.
    let ts = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE ,x@y=1";
    let cx =
        extract_with(&Propagator::w3c(), &[("traceparent", W3C_VALID), ("tracestate", ts)]).unwrap().unwrap();
    assert_eq!(cx.trace_state(), Some(ts));
    let mut h = HashMap::new();
    Propagator::w3c().inject(&cx, &mut h);
    assert_eq!(h["tracestate"], ts);
    let cx = extract_with(&Propagator::w3c(), &[("traceparent", W3C_VALID), ("tracestate", "a=b\r\nx: y")])
        .unwrap()
        .unwrap();
    assert_eq!(cx.trace_state(), None);

    // W3C baggage: properties dropped, values percent-decoded (`+` stays), bad members skipped.
    let cx = extract_with(
        &Propagator::w3c(),
        &[
            ("traceparent", W3C_VALID),
            ("baggage", "userId=alice;ttl=5, serverNode = DF%2028 ,isProd=false,a+b=c+d,bad"),
        ],
    )
    .unwrap()
    .unwrap();
    let got: Vec<(&str, &str)> = cx.baggage().iter().collect();
    assert_eq!(got, [("userId", "alice"), ("serverNode", "DF 28"), ("isProd", "false"), ("a+b", "c+d")]);
    // Baggage alone is a container with zero ids; keys that are not tokens are not injected.
    let cx = extract_with(&Propagator::w3c(), &[("baggage", "k=v")]).unwrap().unwrap();
    assert!(!cx.trace_id().is_valid());
    let cx = cx.with_baggage([("k", "v"), ("not a token", "x")].into_iter().collect());
    let mut h = HashMap::new();
    Propagator::w3c().inject(&cx, &mut h);
    assert_eq!(h, headers(&[("baggage", "k=v")]));
}

#[test]
fn w3c_baggage_bytes_that_are_not_utf8_become_replacement_characters() {
    // W3C Baggage, `value`: percent-decoded octets that are not UTF-8 become U+FFFD.
    let cases = [
        ("k=%FF", "\u{fffd}"),
        ("k=a%C3%28b", "a\u{fffd}(b"),
        ("k=%E2%9C", "\u{fffd}"),
        ("k=%F0%9F%98%80%FF", "😀\u{fffd}"),
        ("k=%zz%20%E2%9C%93", "%zz ✓"),
        ("k=100%", "100%"),
    ];
    for (value, want) in cases {
        let cx = extract_both(&Propagator::w3c(), &[("traceparent", W3C_VALID), ("baggage", value)])
            .unwrap()
            .unwrap();
        assert_eq!(cx.baggage().get("k"), Some(want), "{value:?}");
    }
}

#[test]
fn empty_baggage_values_are_no_items() {
    // jaeger-client-go `span_context.go` WithBaggageItem: setting "" deletes the item.
    let mut b: Baggage = [("a", "1"), ("b", "2")].into_iter().collect();
    assert_eq!(b.set("a", ""), Some("1".into()));
    assert_eq!(b.get("a"), None);
    assert_eq!(b.set("b", String::new()), Some("2".into()));
    assert!(b.is_empty());
    assert_eq!(b, Baggage::default());
    let shared: Baggage = [("a", "1")].into_iter().collect();
    let mut mine = shared.clone();
    assert_eq!(mine.remove("a").as_deref(), Some("1"));
    assert_eq!(shared.get("a"), Some("1"), "copy-on-write");
    assert_eq!([("a", "")].into_iter().collect::<Baggage>(), Baggage::default());

    // Extraction: an empty value is no item, and overrides (removes) an earlier one.
    let cx = extract(&headers(&[
        ("uber-trace-id", "1:2:0:1"),
        ("jaeger-baggage", "k=v,d=,x=1"),
        ("uberctx-k", ""),
        ("uberctx-e", ""),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(cx.baggage().iter().collect::<Vec<_>>(), [("x", "1")]);
    let cx = extract_with(&Propagator::w3c(), &[("traceparent", W3C_VALID), ("baggage", "e=,k=v")]).unwrap();
    assert_eq!(cx.unwrap().baggage().iter().collect::<Vec<_>>(), [("k", "v")]);
    // A carrier with only empty items has no baggage.
    assert_eq!(extract_with(&Propagator::jaeger(), &[("uberctx-k", "")]), Ok(None));
    // And an empty item is never injected.
    let mut cx = SpanContext::new(TraceId::new(0, 1), 2, 0, 1);
    cx.baggage_mut().set("k", "v");
    cx.baggage_mut().set("k", "");
    let mut h = HashMap::new();
    Propagator::composite([Propagator::jaeger(), Propagator::w3c(), Propagator::b3()]).inject(&cx, &mut h);
    assert!(h.keys().all(|k| !k.contains("baggage") && !k.starts_with("uberctx")), "{h:?}");
}

// === B3 ===

#[test]
fn b3_round_trips_both_forms() {
    // flags -> what B3 can say: sampled, or debug (which implies sampled); firehose is lost.
    let expect = |flags: u8| if flags & 2 != 0 { 3 } else { flags & 1 };
    for p in [Propagator::b3(), Propagator::b3_single()] {
        for trace in [TraceId::new(0, 1), TraceId::new(HIGH, LOW)] {
            for parent in [0, 0x99] {
                for flags in [0u8, 1, 3, 9, 0xa] {
                    let cx = SpanContext::new(trace, 0x1234, parent, flags).with_baggage(tricky_baggage());
                    let mut h = HashMap::new();
                    p.inject(&cx, &mut h);
                    let back = p.extract(&h).unwrap().unwrap();
                    assert_eq!(ids(&back), (trace.high, trace.low, 0x1234, parent, expect(flags)), "{h:?}");
                    assert_eq!(sorted(back.baggage()), sorted(&tricky_baggage()));
                    // Either propagator reads either form.
                    let other =
                        if p == Propagator::b3() { Propagator::b3_single() } else { Propagator::b3() };
                    assert_eq!(other.extract(&h).unwrap().unwrap(), back);
                }
            }
        }
    }
}

#[test]
fn b3_injects_the_spec_headers() {
    let cx = SpanContext::new(TraceId::new(HIGH, LOW), 0x1, 0x2, 1);
    let mut h = HashMap::new();
    Propagator::b3().inject(&cx, &mut h);
    assert_eq!(
        h,
        headers(&[
            ("x-b3-traceid", "0af7651916cd43dd8448eb211c80319c"),
            ("x-b3-spanid", "0000000000000001"),
            ("x-b3-parentspanid", "0000000000000002"),
            ("x-b3-sampled", "1"),
        ])
    );
    let mut h = HashMap::new();
    Propagator::b3().inject(&SpanContext::new(TraceId::new(0, 5), 6, 0, 3), &mut h);
    assert_eq!(
        h,
        headers(&[
            ("x-b3-traceid", "0000000000000005"),
            ("x-b3-spanid", "0000000000000006"),
            ("x-b3-flags", "1")
        ])
    );
    for (flags, parent, want) in [
        (0, 0, "0000000000000005-0000000000000006-0"),
        (1, 7, "0000000000000005-0000000000000006-1-0000000000000007"),
        (3, 0, "0000000000000005-0000000000000006-d"),
    ] {
        let mut h = HashMap::new();
        Propagator::b3_single().inject(&SpanContext::new(TraceId::new(0, 5), 6, parent, flags), &mut h);
        assert_eq!(h, headers(&[("b3", want)]));
    }
}

#[test]
fn b3_multi_headers_parse_per_the_b3_spec() {
    let t = ("x-b3-traceid", "0000000000000001");
    let s = ("x-b3-spanid", "0000000000000002");
    let ok: &[(&[(&str, &str)], (u64, u64, u64, u64, u8))] = &[
        (&[t, s], (0, 1, 2, 0, 0)),
        (&[t, s, ("x-b3-sampled", "1")], (0, 1, 2, 0, 1)),
        (&[t, s, ("x-b3-sampled", "true")], (0, 1, 2, 0, 1)),
        (&[t, s, ("x-b3-sampled", "0")], (0, 1, 2, 0, 0)),
        (&[t, s, ("x-b3-sampled", "false")], (0, 1, 2, 0, 0)),
        (&[t, s, ("x-b3-flags", "1")], (0, 1, 2, 0, 3)),
        (&[t, s, ("x-b3-flags", "1"), ("x-b3-sampled", "0")], (0, 1, 2, 0, 3)),
        (&[t, s, ("x-b3-flags", "2")], (0, 1, 2, 0, 0)),
        (&[t, s, ("x-b3-parentspanid", "0000000000000003")], (0, 1, 2, 3, 0)),
        (&[("x-b3-traceid", "0AF7651916CD43DD8448EB211C80319C"), s], (HIGH, LOW, 2, 0, 0)),
        // Shorter ids are left-padded, as jaeger-client-go's Zipkin propagator reads them.
        (&[("x-b3-traceid", "1"), s], (0, 1, 2, 0, 0)),
        (&[("x-b3-traceid", "10000000000000002"), s], (1, 2, 2, 0, 0)),
        (&[("x-b3-traceid", "00000000000000001"), s], (0, 1, 2, 0, 0)),
        (&[t, ("x-b3-spanid", "2")], (0, 1, 2, 0, 0)),
        (&[t, s, ("x-b3-parentspanid", "1")], (0, 1, 2, 1, 0)),
        (
            &[("x-b3-traceid", "abc"), ("x-b3-spanid", "DEF"), ("x-b3-parentspanid", "0")],
            (0, 0xabc, 0xdef, 0, 0),
        ),
    ];
    for (pairs, want) in ok {
        let cx = extract_both(&Propagator::b3(), pairs).unwrap().unwrap();
        assert_eq!(ids(&cx), *want, "{pairs:?}");
    }
    // A zero trace id is "not found", as in Jaeger Go; decision-only headers carry no context.
    assert_eq!(extract_with(&Propagator::b3(), &[("x-b3-traceid", "0000000000000000"), s]), Ok(None));
    assert_eq!(extract_with(&Propagator::b3(), &[("x-b3-sampled", "1")]), Ok(None));
    // A zero span id is no context either (jaeger-client-go `span_context.go` IsValid).
    assert_eq!(extract_with(&Propagator::b3(), &[t, ("x-b3-spanid", "0000000000000000")]), Ok(None));
    let bad: &[&[(&str, &str)]] = &[
        &[t],
        &[("x-b3-traceid", "0x00000000000001"), s],
        &[("x-b3-traceid", ""), s],
        &[("x-b3-traceid", &"1".repeat(33)), s],
        &[t, ("x-b3-spanid", "000000000000000g")],
        &[t, ("x-b3-spanid", "00000000000000002")],
        &[t, ("x-b3-spanid", "")],
        &[t, s, ("x-b3-parentspanid", "00000000000000003")],
        &[t, s, ("x-b3-parentspanid", "-3")],
        &[t, s, ("x-b3-sampled", "yes")],
        &[t, s, ("x-b3-sampled", "d")],
        &[t, s, ("x-b3-sampled", "")],
    ];
    for pairs in bad {
        assert_eq!(extract_with(&Propagator::b3(), pairs), Err(ExtractErrorKind::Corrupt), "{pairs:?}");
    }
}

#[test]
fn b3_single_header_parses_per_the_b3_spec() {
    let t = "80f198ee56343ba864fe8b2a57d3eff7";
    let s = "e457b5a2e4d86bd1";
    let p = "05e3ac9a4f6e3b90";
    let ok: &[(String, (u64, u64, u64, u64, u8))] = &[
        (
            format!("{t}-{s}-1-{p}"),
            (0x80f1_98ee_5634_3ba8, 0x64fe_8b2a_57d3_eff7, 0xe457_b5a2_e4d8_6bd1, 0x05e3_ac9a_4f6e_3b90, 1),
        ),
        (format!("{t}-{s}"), (0x80f1_98ee_5634_3ba8, 0x64fe_8b2a_57d3_eff7, 0xe457_b5a2_e4d8_6bd1, 0, 0)),
        (format!("{t}-{s}-d"), (0x80f1_98ee_5634_3ba8, 0x64fe_8b2a_57d3_eff7, 0xe457_b5a2_e4d8_6bd1, 0, 3)),
        (format!("{}-{s}-0", &t[16..]), (0, 0x64fe_8b2a_57d3_eff7, 0xe457_b5a2_e4d8_6bd1, 0, 0)),
        // Shorter ids are left-padded, in the single header too.
        ("1-2-1-3".into(), (0, 1, 2, 3, 1)),
        ("abc-def".into(), (0, 0xabc, 0xdef, 0, 0)),
        (
            format!("{}-{}-1", &t[1..], &s[1..]),
            (0x0f1_98ee_5634_3ba8, 0x64fe_8b2a_57d3_eff7, 0x457_b5a2_e4d8_6bd1, 0, 1),
        ),
        (format!("{t}-{s}-1-1"), (0x80f1_98ee_5634_3ba8, 0x64fe_8b2a_57d3_eff7, 0xe457_b5a2_e4d8_6bd1, 1, 1)),
    ];
    for (value, want) in ok {
        let cx = extract_with(&Propagator::b3_single(), &[("b3", value)]).unwrap().unwrap();
        assert_eq!(ids(&cx), *want, "{value}");
    }
    for decision in ["0", "1", "d"] {
        assert_eq!(extract_with(&Propagator::b3_single(), &[("b3", decision)]), Ok(None));
    }
    let bad = [
        String::new(),
        "2".into(),
        "true".into(),
        t.into(),
        format!("{t}-{s}-2"),
        format!("{t}-{s}-"),
        format!("{t}-{s}-1-"),
        format!("{t}-{s}-1-{p}-x"),
        format!("{t}--1"),
        format!("-{s}-1"),
        format!("{t}1-{s}-1"),
        format!("{t}-{s}0-1"),
        format!("{t}-{s}-1-{p}0"),
        format!("{t}-{s}-D"),
        format!("{t} -{s}-1"),
    ];
    for value in &bad {
        assert_eq!(
            extract_with(&Propagator::b3_single(), &[("b3", value)]),
            Err(ExtractErrorKind::Corrupt),
            "{value:?}"
        );
    }
    // A zero span id is no context.
    assert_eq!(
        extract_with(&Propagator::b3_single(), &[("b3", &format!("{t}-0000000000000000-1"))]),
        Ok(None)
    );
    // The single header takes precedence over the multi-header form.
    let cx = extract_with(
        &Propagator::b3(),
        &[
            ("b3", &format!("{t}-{s}-1")),
            ("x-b3-traceid", "0000000000000001"),
            ("x-b3-spanid", "0000000000000002"),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(cx.span_id(), 0xe457_b5a2_e4d8_6bd1);
}

// === limits ===

#[test]
fn oversized_headers_are_rejected_before_parsing() {
    let big = "a".repeat(8193);
    let fits = "a".repeat(8192);
    let cases: &[(Propagator, &str)] = &[
        (Propagator::jaeger(), "uber-trace-id"),
        (Propagator::jaeger(), "jaeger-debug-id"),
        (Propagator::jaeger(), "jaeger-baggage"),
        (Propagator::jaeger(), "uberctx-k"),
        (Propagator::w3c(), "traceparent"),
        (Propagator::w3c(), "tracestate"),
        (Propagator::w3c(), "baggage"),
        (Propagator::b3(), "b3"),
        (Propagator::b3(), "x-b3-traceid"),
        (Propagator::b3(), "baggage-k"),
    ];
    for (p, name) in cases {
        let mut h = headers(&[("traceparent", W3C_VALID), ("x-b3-traceid", "0000000000000001")]);
        h.insert("x-b3-spanid".into(), "0000000000000002".into());
        h.insert(name.to_string(), big.clone());
        let err = p.extract(&h).unwrap_err();
        assert_eq!((err.kind(), err.header()), (ExtractErrorKind::TooLarge, *name), "{name}");
    }
    // An 8192-byte debug id is fine; an 8193-byte baggage key is not.
    let cx = extract(&headers(&[("jaeger-debug-id", &fits)])).unwrap().unwrap();
    assert_eq!(cx.debug_id().map(str::len), Some(8192));
    let err = extract(&headers(&[(&format!("uberctx-{big}"), "v")])).unwrap_err();
    assert_eq!((err.kind(), err.header()), (ExtractErrorKind::TooLarge, "uberctx-"));
}

#[test]
fn baggage_limits_count_items_and_bytes() {
    let items = |n: usize| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("uberctx-k{i}"), "v".into())).collect()
    };
    let to_map = |v: Vec<(String, String)>| -> HashMap<String, String> { v.into_iter().collect() };
    assert_eq!(extract(&to_map(items(180))).unwrap().unwrap().baggage().len(), 180);
    assert_eq!(extract(&to_map(items(181))).unwrap_err().kind(), ExtractErrorKind::TooLarge);

    // 8192 bytes of key + value in total is accepted, one more byte is not.
    let v = "x".repeat(8192 - 2 - 2);
    let cx = extract(&headers(&[("uberctx-k1", &v), ("uberctx-k", "y")])).unwrap().unwrap();
    assert_eq!(cx.baggage().len(), 2);
    let err = extract(&headers(&[("uberctx-k1", &v), ("uberctx-k", "yz")])).unwrap_err();
    assert_eq!(err.kind(), ExtractErrorKind::TooLarge);
    // An empty value is no item and costs nothing.
    let cx =
        extract(&headers(&[("uberctx-k1", &v), ("uberctx-k", "y"), ("uberctx-e", "")])).unwrap().unwrap();
    assert_eq!(cx.baggage().len(), 2);
    // The W3C header counts items the same way.
    let many: Vec<String> = (0..181).map(|i| format!("k{i}=v")).collect();
    let ok = Propagator::w3c().extract(&headers(&[("baggage", &many[..180].join(","))])).unwrap().unwrap();
    assert_eq!(ok.baggage().len(), 180);
    let err = Propagator::w3c().extract(&headers(&[("baggage", &many.join(","))])).unwrap_err();
    assert_eq!((err.kind(), err.header()), (ExtractErrorKind::TooLarge, "baggage"));
    // A value overridden by a later spelling is counted once.
    let v = "x".repeat(5000);
    let cx = extract(&headers(&[("jaeger-baggage", &format!("k={v}")), ("uberctx-k", &v)])).unwrap().unwrap();
    assert_eq!(cx.baggage().len(), 1);
}

// === composite ===

#[test]
fn composite_extracts_from_the_first_format_present() {
    let jaeger = ("uber-trace-id", "1:1:0:1");
    let w3c = ("traceparent", "00-00000000000000000000000000000002-0000000000000002-01");
    let b3 = ("b3", "0000000000000003-0000000000000003-1");
    let all = Propagator::composite([Propagator::w3c(), Propagator::b3(), Propagator::jaeger()]);
    let cases: &[(&[(&str, &str)], Option<u64>)] = &[
        (&[jaeger, w3c, b3], Some(2)),
        (&[jaeger, b3], Some(3)),
        (&[jaeger], Some(1)),
        (&[("uberctx-k", "v"), b3], Some(3)),
        (&[], None),
    ];
    for (pairs, want) in cases {
        let got = extract_with(&all, pairs).unwrap();
        assert_eq!(got.map(|cx| cx.trace_id().low), *want, "{pairs:?}");
    }
    // A present but corrupt first format is an error: no silent fallback to another trace.
    assert_eq!(extract_with(&all, &[("traceparent", "junk"), jaeger]), Err(ExtractErrorKind::Corrupt));
    // A present header without a trace lets the next format answer.
    assert_eq!(extract_with(&all, &[("b3", "0"), jaeger]).unwrap().unwrap().trace_id().low, 1);
    let zero = ("uber-trace-id", "0:0:0:0");
    let jaeger_first = Propagator::composite([Propagator::jaeger(), Propagator::b3()]);
    assert_eq!(extract_with(&jaeger_first, &[zero, b3]).unwrap().unwrap().trace_id().low, 3);
    // ... and when none has a trace, the baggage of the first present one is the answer.
    let cx =
        extract_with(&jaeger_first, &[zero, ("uberctx-a", "1"), ("b3", "1"), ("baggage-b", "2")]).unwrap();
    assert_eq!(cx.unwrap().baggage().iter().collect::<Vec<_>>(), [("a", "1")]);
    // The order given is the order tried.
    let reversed = Propagator::composite([Propagator::jaeger(), Propagator::w3c()]);
    assert_eq!(extract_with(&reversed, &[jaeger, w3c]).unwrap().unwrap().trace_id().low, 1);
    // Without any trace header, the first format that finds baggage answers.
    let cx = extract_with(&all, &[("uberctx-a", "1"), ("baggage", "b=2")]).unwrap().unwrap();
    assert_eq!(cx.baggage().iter().collect::<Vec<_>>(), [("b", "2")]);
    // Not part of the propagator: ignored.
    assert_eq!(extract_with(&Propagator::jaeger(), &[w3c, b3]), Ok(None));
}

#[test]
fn composite_injects_every_format_once() {
    let p = Propagator::composite([
        Propagator::jaeger(),
        Propagator::composite([Propagator::w3c(), Propagator::jaeger()]),
        Propagator::b3_single(),
    ]);
    let cx = SpanContext::new(TraceId::new(0, 7), 8, 0, 1).with_baggage([("k", "v w")].into_iter().collect());
    let mut h = HashMap::new();
    p.inject(&cx, &mut h);
    let mut keys: Vec<&str> = h.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["b3", "baggage", "baggage-k", "traceparent", "uber-trace-id", "uberctx-k"]);
    assert_eq!(p.extract(&h).unwrap().unwrap(), cx);
    assert_eq!(Propagator::default(), Propagator::jaeger());
    assert_eq!("jaeger , w3c,b3-single".parse::<Propagator>().unwrap(), p);
    for bad in ["", "zipkin", "jaeger,"] {
        assert!(bad.parse::<Propagator>().is_err(), "{bad:?}");
    }
    let empty = Propagator::composite([]);
    let mut h = HashMap::new();
    empty.inject(&cx, &mut h);
    assert!(h.is_empty());
    assert_eq!(empty.extract(&headers(&[("uber-trace-id", "1:1:0:1")])), Ok(None));
}

#[test]
fn invalid_contexts_inject_only_baggage() {
    let cx = SpanContext::new(TraceId::new(0, 0), 5, 0, 1).with_baggage([("k", "v")].into_iter().collect());
    let all = Propagator::composite([
        Propagator::jaeger(),
        Propagator::w3c(),
        Propagator::b3(),
        Propagator::b3_single(),
    ]);
    let mut h = HashMap::new();
    all.inject(&cx, &mut h);
    assert_eq!(h, headers(&[("uberctx-k", "v"), ("baggage", "k=v"), ("baggage-k", "v")]));
    let mut h = HashMap::new();
    all.inject(&SpanContext::new(TraceId::new(0, 1), 0, 0, 1), &mut h);
    assert!(h.is_empty(), "{h:?}");
}

// === property-style loops ===

/// splitmix64: a deterministic PRNG so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn id(&mut self) -> u64 {
        // Bias towards short ids and edge values so padding is exercised.
        match self.next() % 4 {
            0 => self.next() >> (self.next() % 64),
            1 => u64::MAX,
            _ => self.next(),
        }
    }
    fn string(&mut self) -> String {
        const ALPHABET: &[char] =
            &['a', 'Z', '0', ' ', ':', '/', '%', '+', '=', ',', ';', '-', 'é', '✓', '日', '\''];
        let n = self.next() % 12;
        (0..n).map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]).collect()
    }
}

#[test]
fn random_contexts_round_trip_in_every_format() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let trace = TraceId::new(if rng.next() % 2 == 0 { 0 } else { rng.id() }, rng.id().max(1));
        let (span, parent, flags) = (rng.id().max(1), rng.id(), rng.next() as u8);
        let baggage: Baggage =
            (0..rng.next() % 4).map(|i| (format!("key{i}-{}", rng.next() % 100), rng.string())).collect();
        let cx = SpanContext::new(trace, span, parent, flags).with_baggage(baggage.clone());

        let mut h = HashMap::new();
        Propagator::jaeger().inject(&cx, &mut h);
        assert_same(&extract(&h).unwrap().unwrap(), &cx, &h);
        let mut h = HashMap::new();
        Propagator::jaeger().inject(&cx, &mut HttpHeaders(&mut h));
        assert!(h.values().all(|v| v.bytes().all(|b| b.is_ascii_graphic())), "{h:?}");
        assert_same(&extract(&HttpHeaders(&h)).unwrap().unwrap(), &cx, &h);

        let mut h = HashMap::new();
        Propagator::w3c().inject(&cx, &mut h);
        let back = Propagator::w3c().extract(&h).unwrap().unwrap();
        assert_eq!(
            (ids(&back), back.baggage()),
            ((trace.high, trace.low, span, 0, flags & 1), &baggage),
            "{h:?}"
        );

        for p in [Propagator::b3(), Propagator::b3_single()] {
            let mut h = HashMap::new();
            p.inject(&cx, &mut h);
            let back = p.extract(&h).unwrap().unwrap();
            let want_flags = if flags & 2 != 0 { 3 } else { flags & 1 };
            assert_eq!(
                (ids(&back), back.baggage()),
                ((trace.high, trace.low, span, parent, want_flags), &baggage)
            );
        }
    }
}

#[test]
fn random_garbage_never_panics() {
    // Mutations of valid headers: every outcome is fine except a panic or an unbounded result.
    let seeds = [
        ("uber-trace-id", "0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331:0:1"),
        ("jaeger-baggage", "k=v, k2=a+b%20c"),
        ("uberctx-k", "a%2Fb+c"),
        ("traceparent", W3C_VALID),
        ("baggage", "k=v;p, k2=%E2%9C%93"),
        ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"),
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
    ];
    let all = Propagator::composite([Propagator::jaeger(), Propagator::w3c(), Propagator::b3()]);
    let mut rng = Rng(7);
    let bytes = b"0123456789abcdefABCDEFxg:-%+=,; \t\x00";
    for _ in 0..20_000 {
        let (name, seed) = seeds[(rng.next() % seeds.len() as u64) as usize];
        let mut v: Vec<u8> = seed.as_bytes().to_vec();
        for _ in 0..=rng.next() % 4 {
            let i = (rng.next() % (v.len() as u64 + 1)) as usize;
            let b = bytes[(rng.next() % bytes.len() as u64) as usize];
            match rng.next() % 3 {
                0 if i < v.len() => v[i] = b,
                1 if i < v.len() => {
                    v.remove(i);
                }
                _ => v.insert(i, b),
            }
        }
        let v = String::from_utf8_lossy(&v).into_owned();
        let h = headers(&[(name, &v), ("x-b3-spanid", "e457b5a2e4d86bd1")]);
        if let Ok(Some(cx)) = all.extract(&h) {
            assert!(cx.baggage().len() <= 180);
            // Whatever was accepted can be sent on and read back with the same ids.
            let mut out = HashMap::new();
            all.inject(&cx, &mut out);
            if cx.is_valid() {
                let again = all.extract(&out).unwrap().unwrap();
                assert_eq!(again.trace_id(), cx.trace_id(), "{name}: {v:?}");
                assert_eq!(again.span_id(), cx.span_id(), "{name}: {v:?}");
            }
        }
    }
}

// === http::HeaderMap ===

#[cfg(feature = "http")]
#[test]
fn http_header_maps_skip_invalid_headers_and_extract_what_was_injected() {
    use http::{HeaderMap, HeaderValue};
    let cx = SpanContext::new(TraceId::new(HIGH, LOW), 2, 1, 1)
        .with_baggage([("User", "ada lovelace"), ("bad key", "dropped")].into_iter().collect())
        .with_trace_state("a=b\n");
    let all = Propagator::composite([Propagator::jaeger(), Propagator::w3c(), Propagator::b3()]);
    let mut h = HeaderMap::new();
    all.inject(&cx, &mut h);
    // Names are normalised to lower case by `http`; invalid names and values are skipped.
    assert_eq!(h.get("uberctx-user").unwrap(), "ada%20lovelace");
    assert!(h.get("tracestate").is_none());
    assert!(h.keys().all(|k| !k.as_str().contains(' ')));
    let back = Propagator::jaeger().extract(&h).unwrap().unwrap();
    assert_eq!(ids(&back), (HIGH, LOW, 2, 1, 1));
    assert_eq!(back.baggage().iter().collect::<Vec<_>>(), [("user", "ada lovelace")]);
    assert_eq!(jaeger_layer::extract(&h).unwrap().unwrap(), back);
    // A value that is not visible ASCII reads as absent.
    let mut h = HeaderMap::new();
    h.insert("uber-trace-id", HeaderValue::from_bytes(b"1:2:0:\xff").unwrap());
    assert_eq!(extract(&h), Ok(None));
}
