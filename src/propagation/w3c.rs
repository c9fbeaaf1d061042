//! W3C Trace Context (`traceparent`, `tracestate`, <https://www.w3.org/TR/trace-context/>) and
//! W3C Baggage (`baggage`, <https://www.w3.org/TR/baggage/>). Jaeger's Go client has neither;
//! this follows the specs and, where they leave room, jaeger-client-java's
//! `TraceContextCodec`.

use super::carrier::{Carrier, Injector};
use super::error::ExtractError;
use super::escape::{percent_decode_lossy, percent_encode};
use super::{baggage_only, BaggageBuilder};
use crate::span::context::SpanContext;
use crate::span::data::FLAG_SAMPLED;
use crate::span::id::TraceId;

pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";
pub(crate) const BAGGAGE: &str = "baggage";

/// Length of a version-00 `traceparent`: `vv-<32>-<16>-ff`.
const TRACEPARENT_LEN: usize = 55;

fn lower_hex(bytes: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for &b in bytes {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        n = n << 4 | u64::from(d);
    }
    Some(n)
}

/// `traceparent` to (trace id, span id, flags byte). Version 00 must be exactly 55 bytes;
/// a higher version (not `ff`) may continue after them with `-` (W3C Trace Context §3.2.4). Optional
/// whitespace around the value is HTTP's, not part of it.
pub(crate) fn parse_traceparent(value: &str) -> Result<(TraceId, u64, u8), ExtractError> {
    let corrupt = |reason| ExtractError::corrupt(TRACEPARENT, reason);
    let b = value.trim_matches([' ', '\t']).as_bytes();
    if b.len() < TRACEPARENT_LEN {
        return Err(corrupt("shorter than 55 characters"));
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(corrupt("`-` delimiters not at 2, 35, 52"));
    }
    let version = lower_hex(&b[..2]).ok_or_else(|| corrupt("version is not 2 lower-case hex digits"))?;
    match version {
        0xff => return Err(corrupt("version ff is invalid")),
        0 if b.len() != TRACEPARENT_LEN => return Err(corrupt("version 00 is exactly 55 characters")),
        _ if b.len() > TRACEPARENT_LEN && b[TRACEPARENT_LEN] != b'-' => {
            return Err(corrupt("fields after the flags must follow a `-`"))
        }
        _ => {}
    }
    let lower_hex = |range: std::ops::Range<usize>, what| lower_hex(&b[range]).ok_or_else(|| corrupt(what));
    let high = lower_hex(3..19, "trace id is not 32 lower-case hex digits")?;
    let low = lower_hex(19..35, "trace id is not 32 lower-case hex digits")?;
    let span_id = lower_hex(36..52, "parent id is not 16 lower-case hex digits")?;
    let flags = lower_hex(53..55, "flags are not 2 lower-case hex digits")?;
    let trace_id = TraceId::new(high, low);
    if !trace_id.is_valid() {
        return Err(corrupt("trace id is all zeroes"));
    }
    if span_id == 0 {
        return Err(corrupt("parent id is all zeroes"));
    }
    Ok((trace_id, span_id, flags as u8))
}

/// RFC 7230 `token` characters: what a W3C baggage key may contain.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `k=v;prop, k2 = v2`: members split on `,`, properties after `;` dropped, whitespace around
/// keys and values trimmed, values percent-decoded (bytes that are not UTF-8 become U+FFFD,
/// W3C Baggage `value`). A member without `=` or whose key is not a token is skipped, as the
/// spec allows for malformed members; an empty value is no item.
pub(crate) fn parse_baggage(value: &str, into: &mut BaggageBuilder) -> Result<(), ExtractError> {
    for member in value.split(',') {
        let kv = member.split(';').next().unwrap_or_default();
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim_matches([' ', '\t']), v.trim_matches([' ', '\t']));
        if is_token(k) {
            into.set(k.to_owned(), percent_decode_lossy(v).into_owned(), BAGGAGE)?;
        }
    }
    Ok(())
}

/// `tracestate` is passed on as received, but only if it is printable ASCII: the spec lets a
/// vendor drop an invalid one, and a control character must not reach an outgoing header.
fn keep_trace_state(value: &str) -> Option<String> {
    let ok = !value.is_empty() && value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    ok.then(|| value.to_owned())
}

pub(crate) fn has_trace_header(c: &Carrier<'_>) -> bool {
    c.has(TRACEPARENT)
}

pub(crate) fn extract(c: &Carrier<'_>) -> Result<Option<SpanContext>, ExtractError> {
    let parent = c.get(TRACEPARENT)?.map(parse_traceparent).transpose()?;
    let mut baggage = BaggageBuilder::default();
    if let Some(v) = c.get(BAGGAGE)? {
        parse_baggage(v, &mut baggage)?;
    }
    let baggage = baggage.finish();
    let Some((trace_id, span_id, flags)) = parent else {
        return Ok(baggage_only(baggage, None));
    };
    // Only the sampled bit maps to Jaeger; the parent id does not cross (jaeger-client-java
    // `TraceContextCodec`).
    let mut cx = SpanContext::new(trace_id, span_id, 0, flags & FLAG_SAMPLED).with_baggage(baggage);
    cx.trace_state = c.get(TRACESTATE)?.and_then(keep_trace_state);
    Ok(Some(cx))
}

pub(crate) fn inject(cx: &SpanContext, carrier: &mut dyn Injector) {
    if cx.is_valid() {
        let TraceId { high, low } = cx.trace_id;
        let flags = cx.flags & FLAG_SAMPLED;
        carrier.set(TRACEPARENT, format!("00-{high:016x}{low:016x}-{:016x}-{flags:02x}", cx.span_id));
        if let Some(ts) = &cx.trace_state {
            carrier.set(TRACESTATE, ts.clone());
        }
    }
    let mut members = String::new();
    for (k, v) in cx.baggage.iter().filter(|(k, _)| is_token(k)) {
        if !members.is_empty() {
            members.push(',');
        }
        members.push_str(k);
        members.push('=');
        members.push_str(&percent_encode(v));
    }
    if !members.is_empty() {
        carrier.set(BAGGAGE, members);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_baggage_members_skip_malformed_entries_and_decode_lossily() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("k=v", &[("k", "v")]),
            (" k = v ;p=1;q , k2=a%20b+c", &[("k", "v"), ("k2", "a b+c")]),
            ("a,=1,b c=2,d=%zz,,e=", &[("d", "%zz")]),
            ("k=%ff%20x, k2=a%C3%28", &[("k", "\u{fffd} x"), ("k2", "a\u{fffd}(")]),
            ("Key=%E2%9C%93", &[("Key", "✓")]),
        ];
        for (value, want) in cases {
            let mut b = BaggageBuilder::default();
            parse_baggage(value, &mut b).unwrap();
            let b = b.finish();
            let got: Vec<(&str, &str)> = b.iter().collect();
            assert_eq!(&got, want, "{value:?}");
        }
    }

    #[test]
    fn only_rfc_7230_token_characters_make_a_token() {
        assert!(is_token("abc-1.2_~!"));
        for bad in ["", "a b", "a,b", "a;b", "a=b", "é", "a\"", "a/b"] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
