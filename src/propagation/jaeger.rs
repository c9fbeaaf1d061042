//! The Jaeger format (jaeger-client-go `propagation.go`, `constants.go`): `uber-trace-id`,
//! `uberctx-<key>`, `jaeger-baggage`, `jaeger-debug-id`, in the carrier's flavour: a text map
//! (values verbatim) or HTTP headers (values URL-decoded on extract).

use super::carrier::{Carrier, CarrierFormat, Injector};
use super::error::ExtractError;
use super::escape::{query_unescape, query_unescape_or_raw};
use super::{baggage_only, inject_prefixed_baggage, BaggageBuilder};
use crate::span::context::SpanContext;
use crate::span::id::TraceId;

pub(crate) const TRACE_ID_HEADER: &str = "uber-trace-id";
pub(crate) const BAGGAGE_PREFIX: &str = "uberctx-";
pub(crate) const BAGGAGE_HEADER: &str = "jaeger-baggage";
pub(crate) const DEBUG_ID_HEADER: &str = "jaeger-debug-id";

/// Parses 1..=`max` (≤ 16) hex digits of either case into a u64.
pub(crate) use crate::span::id::parse_hex_u64 as hex_u64;

/// A trace id of 1–32 hex digits: the last 16 are the low half, the rest the high half.
pub(crate) fn hex_trace_id(s: &str) -> Option<TraceId> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    // All bytes are ASCII, so any index is a char boundary.
    let split = s.len().saturating_sub(16);
    let high = if split == 0 { 0 } else { hex_u64(&s[..split], 16)? };
    Some(TraceId::new(high, hex_u64(&s[split..], 16)?))
}

/// `{trace}:{span}:{parent}:{flags}` (jaeger-client-go `span_context.go` ContextFromString):
/// ids of at most 32 / 16 hex digits, leading zeros included, as Go checks the length before
/// parsing. Flags are hex, as Jaeger's writers (Go, Java) emit them and Java and Python read
/// them (Go's reader alone parses decimal), with any number of leading zeros, as every reader
/// accepts them.
pub(crate) fn parse_uber_trace_id(s: &str) -> Result<SpanContext, ExtractError> {
    let corrupt = |reason| ExtractError::corrupt(TRACE_ID_HEADER, reason);
    if s.is_empty() {
        return Err(corrupt("empty value"));
    }
    let mut parts = s.split(':');
    let (Some(trace), Some(span), Some(parent), Some(flags), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt("expected four `:`-separated parts"));
    };
    let trace_id = hex_trace_id(trace).ok_or_else(|| corrupt("trace id is not 1-32 hex digits"))?;
    let span_id = hex_u64(span, 16).ok_or_else(|| corrupt("span id is not 1-16 hex digits"))?;
    let parent_id = hex_u64(parent, 16).ok_or_else(|| corrupt("parent id is not 1-16 hex digits"))?;
    let significant = flags.trim_start_matches('0');
    let flags = match (flags.is_empty(), significant.is_empty()) {
        (true, _) => None,
        (false, true) => Some(0),
        (false, false) => hex_u64(significant, 2),
    }
    .ok_or_else(|| corrupt("flags are not a hex byte"))?;
    Ok(SpanContext::new(trace_id, span_id, parent_id, flags as u8))
}

/// `jaeger-baggage: k=v, k2=v2` (jaeger-client-go `propagation.go` parseCommaSeparatedMap):
/// the whole value is URL-decoded first, in every carrier format (nothing is taken if that
/// fails), pieces are trimmed, a piece needs exactly one `=`; keys are trimmed and kept as
/// they are, values keep inner spaces. An empty value is no item.
pub(crate) fn parse_jaeger_baggage(value: &str, into: &mut BaggageBuilder) -> Result<(), ExtractError> {
    let Some(decoded) = query_unescape(value) else {
        return Ok(());
    };
    for piece in decoded.split(',') {
        let mut kv = piece.trim().split('=');
        let (Some(k), Some(v), None) = (kv.next(), kv.next(), kv.next()) else {
            continue;
        };
        let k = k.trim();
        if !k.is_empty() {
            into.set(k.to_owned(), v.to_owned(), BAGGAGE_HEADER)?;
        }
    }
    Ok(())
}

pub(crate) fn has_trace_header(c: &Carrier<'_>) -> bool {
    c.has(TRACE_ID_HEADER)
}

pub(crate) fn extract(c: &Carrier<'_>) -> Result<Option<SpanContext>, ExtractError> {
    // HTTP headers: `uber-trace-id`, `jaeger-debug-id` and `uberctx-*` values are
    // URL-decoded, the raw value kept on failure (jaeger-client-go `propagation.go`,
    // HTTPHeadersPropagator); a text map's are used verbatim.
    let cx = match c.get(TRACE_ID_HEADER)? {
        Some(v) if c.format() == CarrierFormat::HttpHeaders => {
            Some(parse_uber_trace_id(&query_unescape_or_raw(v))?)
        }
        Some(v) => Some(parse_uber_trace_id(v)?),
        None => None,
    };
    let debug_id = c.get_text(DEBUG_ID_HEADER)?.map(|v| v.into_owned()).filter(|d| !d.is_empty());

    let mut baggage = BaggageBuilder::default();
    if let Some(v) = c.get(BAGGAGE_HEADER)? {
        parse_jaeger_baggage(v, &mut baggage)?;
    }
    baggage.extend_prefixed(c, BAGGAGE_PREFIX)?;
    let baggage = baggage.finish();

    // A zero trace id or span id is no parent (jaeger-client-go `span_context.go` IsValid):
    // the carrier then holds at most baggage and a debug id.
    match cx {
        Some(cx) if cx.is_valid() => Ok(Some(SpanContext { baggage, debug_id, ..cx })),
        _ => Ok(baggage_only(baggage, debug_id)),
    }
}

/// `uber-trace-id` is written as it is, never URL-encoded (jaeger-client-go `propagation.go`);
/// baggage as the carrier format wants it.
pub(crate) fn inject(cx: &SpanContext, carrier: &mut dyn Injector) {
    if cx.is_valid() {
        carrier.set(TRACE_ID_HEADER, cx.to_string());
    }
    inject_prefixed_baggage(cx, BAGGAGE_PREFIX, carrier);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_accept_only_plain_hex_digits_up_to_their_width() {
        assert_eq!(hex_u64("0", 16), Some(0));
        assert_eq!(hex_u64("FfFf", 16), Some(0xffff));
        assert_eq!(hex_u64("ffffffffffffffff", 16), Some(u64::MAX));
        for bad in ["", "+1", "-1", "0x1", " 1", "1 ", "1_0", "g", "10000000000000000", "é"] {
            assert_eq!(hex_u64(bad, 16), None, "{bad:?}");
        }
        assert_eq!(hex_trace_id("1"), Some(TraceId::new(0, 1)));
        assert_eq!(hex_trace_id("10000000000000002"), Some(TraceId::new(1, 2)));
        assert_eq!(hex_trace_id(&"f".repeat(32)), Some(TraceId::new(u64::MAX, u64::MAX)));
        assert_eq!(hex_trace_id(&"f".repeat(33)), None);
        assert_eq!(hex_trace_id("ééééééééé"), None);
    }

    #[test]
    fn jaeger_baggage_headers_split_like_go_parse_comma_separated_map() {
        // (header value, expected items), as jaeger-client-go's parseCommaSeparatedMap.
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("k=v", &[("k", "v")]),
            (" k = v , k2=v2 ", &[("k", " v"), ("k2", "v2")]),
            ("a=1,b,c=2=3,=4,d=", &[("a", "1")]),
            ("k=a+b%2Cc", &[("k", "a b")]),
            ("K=v", &[("K", "v")]),
            ("k=%zz", &[]),
            ("", &[]),
        ];
        for (value, want) in cases {
            let mut b = BaggageBuilder::default();
            parse_jaeger_baggage(value, &mut b).unwrap();
            let got: Vec<(&str, &str)> = b.baggage.iter().collect();
            assert_eq!(&got, want, "{value:?}");
        }
    }
}
