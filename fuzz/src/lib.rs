//! Invariants shared by the fuzz targets. Each target feeds one header (or a whole header
//! block) to the public extraction API and checks, beyond "no panic":
//! - an extracted context respects the baggage limits and, without a trace id, is a
//!   zero-id container for baggage or a debug id;
//! - a valid extracted context injected again and re-extracted keeps its ids and flags
//!   (re-encoding may only push the baggage over a limit: `TooLarge`, never `Corrupt`).

use std::collections::HashMap;

use jaeger_layer::{ExtractErrorKind, HttpHeaders, Propagator, SpanContext};

/// The fuzz input as a header value (lossy: carriers hold `String`s).
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A carrier with one header.
pub fn one_header(name: &str, value: String) -> HashMap<String, String> {
    HashMap::from([(name.to_owned(), value)])
}

/// Ids and flags.
pub fn ids(cx: &SpanContext) -> (u64, u64, u64, u64, u8) {
    (cx.trace_id().high, cx.trace_id().low, cx.span_id(), cx.parent_id(), cx.flags())
}

/// Baggage items in key order.
pub fn sorted_baggage(cx: &SpanContext) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = cx.baggage().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    v.sort_unstable();
    v
}

/// Extracts with `p` and checks the invariants of a successful extraction.
pub fn check_extract(p: &Propagator, carrier: &HashMap<String, String>) -> Option<SpanContext> {
    let cx = match p.extract(carrier) {
        Ok(Some(cx)) => cx,
        Ok(None) => return None,
        Err(e) => {
            assert!(!e.header().is_empty());
            assert!(!e.to_string().is_empty());
            return None;
        }
    };
    assert!(cx.baggage().len() <= 180, "{} baggage items", cx.baggage().len());
    let bytes: usize = cx.baggage().iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(bytes <= 8192, "{bytes} baggage bytes");
    assert!(cx.baggage().iter().all(|(k, _)| !k.is_empty()));
    if !cx.trace_id().is_valid() {
        assert_eq!(ids(&cx), (0, 0, 0, 0, 0));
        assert!(!cx.baggage().is_empty() || cx.debug_id().is_some());
    }
    Some(cx)
}

/// Injects `cx` with `p`, extracts again and checks ids and flags survived, both through a
/// text map and through HTTP headers (where the baggage must come back unchanged too).
/// Returns the text-map result.
pub fn check_round_trip(p: &Propagator, cx: &SpanContext) -> Option<SpanContext> {
    let mut http = HashMap::new();
    p.inject(cx, &mut HttpHeaders(&mut http));
    if let Ok(Some(back)) = p.extract(&HttpHeaders(&http)) {
        if cx.is_valid() {
            assert_eq!(ids(&back), ids(cx), "{http:?}");
        }
    }
    let mut out = HashMap::new();
    p.inject(cx, &mut out);
    match p.extract(&out) {
        Ok(Some(back)) => {
            if cx.is_valid() {
                assert_eq!(ids(&back), ids(cx), "{out:?}");
            }
            Some(back)
        }
        Ok(None) => {
            assert!(!cx.is_valid(), "{out:?}");
            None
        }
        Err(e) => {
            assert_eq!(e.kind(), ExtractErrorKind::TooLarge, "{e}: {out:?}");
            None
        }
    }
}
