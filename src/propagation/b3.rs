//! Zipkin B3 (<https://github.com/openzipkin/b3-propagation>; jaeger-client-go's opt-in codec,
//! `zipkin/propagation.go`): the `x-b3-*` headers or the single `b3` header, plus Jaeger's
//! `baggage-<key>` (values encoded as the carrier format wants, like `uberctx-*`).

use super::carrier::{Carrier, Injector};
use super::error::ExtractError;
use super::{baggage_only, inject_prefixed_baggage, BaggageBuilder};
use crate::span::context::SpanContext;
use crate::span::data::{FLAG_DEBUG, FLAG_SAMPLED};
use crate::span::id::{parse_hex_u64 as hex_u64, TraceId};

pub(crate) const SINGLE: &str = "b3";
pub(crate) const TRACE_ID: &str = "x-b3-traceid";
pub(crate) const SPAN_ID: &str = "x-b3-spanid";
pub(crate) const PARENT_ID: &str = "x-b3-parentspanid";
pub(crate) const SAMPLED: &str = "x-b3-sampled";
pub(crate) const FLAGS: &str = "x-b3-flags";
/// Jaeger Go's default B3 baggage prefix (`zipkin.BaggagePrefix`).
pub(crate) const BAGGAGE_PREFIX: &str = "baggage-";

const DEBUG: u8 = FLAG_DEBUG | FLAG_SAMPLED;

/// A B3 trace id: 1 to 32 hex digits, either case, left-padded with zeros. The spec writes 16
/// or 32 lower-case digits; jaeger-client-go's Zipkin propagator reads shorter ids too
/// (`TraceIDFromString`), and so do we.
fn parse_trace_id(s: &str) -> Option<TraceId> {
    TraceId::from_hex(s)
}

/// A B3 span or parent id: 1 to 16 hex digits, left-padded (jaeger-client-go
/// `SpanIDFromString`, used by its Zipkin propagator).
fn parse_span_id(s: &str) -> Option<u64> {
    hex_u64(s, 16)
}

/// Ids from B3, each with the header it came from: `Ok(None)` for a zero trace id (Jaeger Go
/// reads it as "not found", `zipkin/propagation.go`) or a zero span id (no valid parent,
/// jaeger-client-go `span_context.go` IsValid), an error for a malformed id.
fn ids(
    (trace_header, trace): (&'static str, &str),
    (span_header, span): (&'static str, &str),
    parent: Option<(&'static str, &str)>,
) -> Result<Option<(TraceId, u64, u64)>, ExtractError> {
    let trace_id = parse_trace_id(trace)
        .ok_or_else(|| ExtractError::corrupt(trace_header, "trace id is not 1-32 hex digits"))?;
    let span_id = parse_span_id(span)
        .ok_or_else(|| ExtractError::corrupt(span_header, "span id is not 1-16 hex digits"))?;
    let parent_id = match parent {
        Some((header, p)) => parse_span_id(p)
            .ok_or_else(|| ExtractError::corrupt(header, "parent span id is not 1-16 hex digits"))?,
        None => 0,
    };
    if !trace_id.is_valid() || span_id == 0 {
        return Ok(None);
    }
    Ok(Some((trace_id, span_id, parent_id)))
}

/// The single header: `{trace}-{span}[-{sampling}[-{parent}]]`, or only `{sampling}`.
/// `Ok(None)` when there are no (non-zero) ids.
pub(crate) fn parse_single(value: &str) -> Result<Option<SpanContext>, ExtractError> {
    let corrupt = |reason| ExtractError::corrupt(SINGLE, reason);
    let sampling = |s: &str| match s {
        "0" => Ok(0),
        "1" => Ok(FLAG_SAMPLED),
        "d" => Ok(DEBUG),
        _ => Err(corrupt("sampling state is not 0, 1 or d")),
    };
    let mut parts = value.split('-');
    let fields = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
    let (trace, span, flags, parent) = match fields {
        (Some(only), None, ..) => return sampling(only).map(|_| None),
        (Some(t), Some(s), None, ..) => (t, s, 0, None),
        (Some(t), Some(s), Some(f), None, _) => (t, s, sampling(f)?, None),
        (Some(t), Some(s), Some(f), Some(p), None) => (t, s, sampling(f)?, Some((SINGLE, p))),
        _ => return Err(corrupt("expected 1 to 4 `-`-separated parts")),
    };
    let ids = ids((SINGLE, trace), (SINGLE, span), parent)?;
    Ok(ids.map(|(t, s, p)| SpanContext::new(t, s, p, flags)))
}

fn parse_multi(c: &Carrier<'_>) -> Result<Option<SpanContext>, ExtractError> {
    let Some(trace) = c.get(TRACE_ID)? else {
        return Ok(None);
    };
    let span = c.get(SPAN_ID)?.ok_or_else(|| ExtractError::corrupt(SPAN_ID, "missing"))?;
    let parent = c.get(PARENT_ID)?.map(|p| (PARENT_ID, p));
    let mut flags = match c.get(SAMPLED)? {
        Some("1" | "true") => FLAG_SAMPLED,
        // Absent is B3's "defer": Jaeger has no such state, read as not sampled.
        Some("0" | "false") | None => 0,
        Some(_) => return Err(ExtractError::corrupt(SAMPLED, "not 1, 0, true or false")),
    };
    // The spec: `1` is debug; absent or any other value is ignored.
    if c.get(FLAGS)? == Some("1") {
        flags = DEBUG;
    }
    let ids = ids((TRACE_ID, trace), (SPAN_ID, span), parent)?;
    Ok(ids.map(|(t, s, p)| SpanContext::new(t, s, p, flags)))
}

pub(crate) fn has_trace_header(c: &Carrier<'_>) -> bool {
    c.has(SINGLE) || c.has(TRACE_ID)
}

/// The single header wins over the multi-header form when both are present.
pub(crate) fn extract(c: &Carrier<'_>) -> Result<Option<SpanContext>, ExtractError> {
    let cx = match c.get(SINGLE)? {
        Some(v) => parse_single(v)?,
        None => parse_multi(c)?,
    };
    let mut baggage = BaggageBuilder::default();
    baggage.extend_prefixed(c, BAGGAGE_PREFIX)?;
    let baggage = baggage.finish();
    Ok(match cx {
        Some(cx) => Some(cx.with_baggage(baggage)),
        None => baggage_only(baggage, None),
    })
}

pub(crate) fn inject_multi(cx: &SpanContext, carrier: &mut dyn Injector) {
    if cx.is_valid() {
        carrier.set(TRACE_ID, cx.trace_id.to_string());
        carrier.set(SPAN_ID, format!("{:016x}", cx.span_id));
        if cx.parent_id != 0 {
            carrier.set(PARENT_ID, format!("{:016x}", cx.parent_id));
        }
        // Debug implies sampled: the spec says not to send both.
        if cx.is_debug() {
            carrier.set(FLAGS, "1".to_owned());
        } else {
            carrier.set(SAMPLED, if cx.is_sampled() { "1" } else { "0" }.to_owned());
        }
    }
    inject_prefixed_baggage(cx, BAGGAGE_PREFIX, carrier);
}

pub(crate) fn inject_single(cx: &SpanContext, carrier: &mut dyn Injector) {
    if cx.is_valid() {
        let sampling = if cx.is_debug() {
            "d"
        } else if cx.is_sampled() {
            "1"
        } else {
            "0"
        };
        let mut v = format!("{}-{:016x}-{sampling}", cx.trace_id, cx.span_id);
        if cx.parent_id != 0 {
            v.push_str(&format!("-{:016x}", cx.parent_id));
        }
        carrier.set(SINGLE, v);
    }
    inject_prefixed_baggage(cx, BAGGAGE_PREFIX, carrier);
}
