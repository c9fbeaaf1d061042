//! The Jaeger format (jaeger-client-go `propagation.go`, `constants.go`): `uber-trace-id`,
//! `uberctx-<key>`, `jaeger-baggage`, `jaeger-debug-id`, in the carrier's flavour: a text map
//! (values verbatim) or HTTP headers (values URL-decoded on extract).

use super::carrier::{Carrier, CarrierFormat, Injector};
use super::error::ExtractError;
use super::escape::{query_unescape, query_unescape_or_raw};
use super::{baggage_only, inject_prefixed_baggage, BaggageBuilder};
use crate::span::context::SpanContext;
use crate::span::id::{hex16, hex_str, parse_hex_u64 as hex_u64, TraceId};

pub(crate) const TRACE_ID_HEADER: &str = "uber-trace-id";
pub(crate) const BAGGAGE_PREFIX: &str = "uberctx-";
pub(crate) const BAGGAGE_HEADER: &str = "jaeger-baggage";
pub(crate) const DEBUG_ID_HEADER: &str = "jaeger-debug-id";

// === the `uber-trace-id` value ===

/// The `uber-trace-id` form `{trace}:{span}:{parent}:{flags}`, as Jaeger's writer emits it
/// (jaeger-client-go `span_context.go` String): zero-padded lower-case hex ids (16 or 32 digits for the trace id), flags as
/// unpadded lower-case hex. Baggage and debug id are not part of it.
///
/// ```
/// use jaeger_layer::{SpanContext, TraceId};
/// let cx = SpanContext::new(TraceId::new(0, 0xabc), 0xdef, 0, 0xa);
/// assert_eq!(cx.to_string(), "0000000000000abc:0000000000000def:0000000000000000:a");
/// ```
impl std::fmt::Display for SpanContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `{trace}:{span:016x}:{parent:016x}:{flags:x}`, written without the formatting
        // machinery (this is the `uber-trace-id` value, built on every inject).
        let mut buf = [0u8; 32 + 1 + 16 + 1 + 16 + 1 + 2];
        let mut trace = [0u8; 32];
        let n = self.trace_id.write_hex(&mut trace);
        buf[..n].copy_from_slice(&trace[..n]);
        buf[n] = b':';
        hex16(self.span_id, &mut buf[n + 1..]);
        buf[n + 17] = b':';
        hex16(self.parent_id, &mut buf[n + 18..]);
        buf[n + 34] = b':';
        let mut flags = [0u8; 16];
        hex16(u64::from(self.flags), &mut flags);
        // `{:x}` of a byte: no leading zero, but "0" for zero.
        let digits = if self.flags >= 0x10 { &flags[14..] } else { &flags[15..] };
        buf[n + 35..n + 35 + digits.len()].copy_from_slice(digits);
        f.pad(hex_str(&buf[..n + 35 + digits.len()]))
    }
}

/// Parses the `uber-trace-id` form: 1–32 hex digits of trace id, 1–16 of span and parent id
/// (leading zeros count towards these lengths, as in jaeger-client-go), flags as a hex byte
/// with any number of leading zeros, either case, separated by `:`. The value is taken as it
/// is: no URL decoding, no trimming; zero ids parse (extraction treats a zero trace or span id
/// as no context).
///
/// ```
/// use jaeger_layer::{SpanContext, TraceId};
/// let cx: SpanContext = "ABC:def:1:3".parse().unwrap();
/// assert_eq!(cx, SpanContext::new(TraceId::new(0, 0xabc), 0xdef, 1, 3));
/// assert_eq!("1:2:0:001".parse::<SpanContext>().unwrap().flags(), 1);
/// assert!("abc:def:1".parse::<SpanContext>().is_err());
/// ```
impl std::str::FromStr for SpanContext {
    type Err = ExtractError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_uber_trace_id(s)
    }
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
    let trace_id = TraceId::from_hex(trace).ok_or_else(|| corrupt("trace id is not 1-32 hex digits"))?;
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
