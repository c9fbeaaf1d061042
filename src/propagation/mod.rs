//! Context propagation: carrying a [`SpanContext`] across process boundaries in headers.
//!
//! Formats: Jaeger (`uber-trace-id`, `uberctx-*`, `jaeger-baggage`, `jaeger-debug-id`,
//! jaeger-client-go `propagation.go`), W3C Trace Context (`traceparent`, `tracestate`) with W3C
//! `baggage`, and Zipkin B3 (multi-header `x-b3-*` or the single `b3` header, jaeger-client-go
//! `zipkin/propagation.go` and the B3 spec). One concept per file: the carrier traits in
//! `carrier.rs`, one file per format, the error in `error.rs`.

mod b3;
mod carrier;
mod error;
mod escape;
mod jaeger;
mod w3c;

use std::fmt;
use std::str::FromStr;

use crate::error::BuildError;

use crate::span::context::{Baggage, SpanContext};

pub use carrier::{CarrierFormat, Extractor, HttpHeaders, Injector, TextMap};
pub use error::{ExtractError, ExtractErrorKind};

use carrier::Carrier;

/// Longest header value (and baggage header key) read, in bytes. Checked before parsing.
pub(crate) const MAX_VALUE_LEN: usize = 8192;
/// Most baggage items one extraction accepts (the limit of jaeger-client-go's binary codec,
/// `propagation.go`).
pub(crate) const MAX_BAGGAGE_ITEMS: usize = 180;
/// Most baggage bytes (keys plus decoded values) one extraction accepts (W3C baggage limit).
pub(crate) const MAX_BAGGAGE_BYTES: usize = 8192;

/// The propagation formats, in the order a [`Propagator`] tries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Jaeger,
    W3c,
    B3Multi,
    B3Single,
}

impl Format {
    /// Whether the carrier holds this format's trace-context header (not just baggage).
    fn has_trace_header(self, c: &Carrier<'_>) -> bool {
        match self {
            Format::Jaeger => jaeger::has_trace_header(c),
            Format::W3c => w3c::has_trace_header(c),
            Format::B3Multi | Format::B3Single => b3::has_trace_header(c),
        }
    }

    fn extract(self, c: &Carrier<'_>) -> Result<Option<SpanContext>, ExtractError> {
        match self {
            Format::Jaeger => jaeger::extract(c),
            Format::W3c => w3c::extract(c),
            Format::B3Multi | Format::B3Single => b3::extract(c),
        }
    }

    fn inject(self, cx: &SpanContext, carrier: &mut dyn Injector) {
        match self {
            Format::Jaeger => jaeger::inject(cx, carrier),
            Format::W3c => w3c::inject(cx, carrier),
            Format::B3Multi => b3::inject_multi(cx, carrier),
            Format::B3Single => b3::inject_single(cx, carrier),
        }
    }
}

/// Writes a [`SpanContext`] into outgoing headers and reads one from incoming headers.
///
/// | constructor | inject | extract |
/// |---|---|---|
/// | [`jaeger`](Self::jaeger) (the default) | `uber-trace-id`, `uberctx-<key>` | those, `jaeger-baggage`, `jaeger-debug-id` |
/// | [`w3c`](Self::w3c) | `traceparent`, `tracestate`, `baggage` | the same |
/// | [`b3`](Self::b3) | `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled` or `x-b3-flags`, `baggage-<key>` | `b3` (preferred) or `x-b3-*`, `baggage-<key>` |
/// | [`b3_single`](Self::b3_single) | `b3`, `baggage-<key>` | as `b3` |
///
/// Header names are matched ignoring ASCII case. Ids are written as lower-case, zero-padded
/// hex. Ids and flags are injected only for a valid context (non-zero trace and span id);
/// baggage always. A `jaeger-debug-id` is never injected. Optional whitespace (spaces, tabs)
/// around a header value is ignored (for baggage and debug-id values: in HTTP-header
/// carriers only).
///
/// **Carriers.** How baggage values are encoded depends on the carrier's
/// [`CarrierFormat`], as in Jaeger's clients: a `HashMap` is a text map (values verbatim
/// both ways); an `http::HeaderMap`, or any carrier wrapped in [`HttpHeaders`], holds HTTP
/// headers (`uberctx-*` / `baggage-*` values URL-encoded on inject, URL-decoded on extract
/// with `+` as a space, like `jaeger-debug-id` and `uber-trace-id`; a value that does not
/// decode is kept raw). Spaces are injected as `%20` rather than Go's `+`, which
/// jaeger-client-python would read as a literal `+`. `uber-trace-id` is never encoded.
///
/// **Format notes.**
/// - Jaeger: `{trace}:{span}:{parent}:{flags}`; reads 1–32 hex digits for the trace id and
///   1–16 for span and parent (leading zeros count, as in jaeger-client-go
///   `TraceIDFromString` / `SpanIDFromString`), either case, and the flags as hex with any
///   number of leading zeros (`001` is 1) up to `ff`, as Jaeger's Go writer, Java and Python
///   do (jaeger-client-go's reader alone parses flags as decimal: `10`, `11` differ).
///   Baggage keys are lower-cased. `jaeger-baggage: k=v, k2=v2` is URL-decoded as a whole in
///   every carrier (jaeger-client-go `parseCommaSeparatedMap`) and merged first; `uberctx-*`
///   override it. A zero trace id or a zero span id without debug id or baggage reads as
///   nothing (`Ok(None)`); with them it gives a context whose ids are zero, from which the
///   layer starts a new trace carrying them.
/// - W3C: `traceparent` version `00` exactly as the spec says (future versions: the `00`
///   fields, then `-` and anything); only the sampled flag crosses, the parent id reads as 0.
///   `tracestate` is carried through unchanged when it is printable ASCII (dropped
///   otherwise). Baggage properties (`;p`) are dropped; keys that are not HTTP tokens skipped.
/// - W3C `baggage` values are percent-encoded on inject and percent-decoded on extract in
///   every carrier (the header's own grammar); decoded bytes that are not UTF-8 become
///   U+FFFD, a `%` not followed by two hex digits is kept as it is.
/// - B3: trace id of 1–32 hex digits, span ids of 1–16, either case, shorter ones
///   left-padded with zeros (jaeger-client-go's Zipkin propagator reads them so), in both
///   the `x-b3-*` and the `b3` form. `x-b3-sampled`: `1` or `true` sampled, `0` or `false`
///   not, absent reads as *not sampled* (the B3 "defer" state has no Jaeger equivalent);
///   `x-b3-flags: 1` means debug and sampled. A `b3` value that is only a sampling decision
///   (`0`, `1`, `d`) has no ids, and a zero trace or span id is no context: both read as
///   nothing (or as a baggage-only context).
///
/// **Limits** (exceeding one is an [`ExtractErrorKind::TooLarge`] error, checked before any
/// parsing): a header value or baggage header key over 8192 bytes; more than 180 baggage
/// items; more than 8192 bytes of baggage keys and decoded values in total.
///
/// ```
/// use std::collections::HashMap;
/// use jaeger_layer::{Propagator, SpanContext, TraceId};
///
/// let cx = SpanContext::new(TraceId::new(0, 0xabc), 0x1, 0, 1);
/// let propagator = Propagator::composite([Propagator::w3c(), Propagator::jaeger()]);
/// let mut headers = HashMap::new();
/// propagator.inject(&cx, &mut headers);
/// assert_eq!(headers["uber-trace-id"], "0000000000000abc:0000000000000001:0000000000000000:1");
/// assert_eq!(headers["traceparent"], "00-00000000000000000000000000000abc-0000000000000001-01");
/// assert_eq!(propagator.extract(&headers).unwrap(), Some(cx));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Propagator {
    formats: Vec<Format>,
}

/// Jaeger only.
impl Default for Propagator {
    fn default() -> Self {
        Propagator::jaeger()
    }
}

impl Propagator {
    fn one(format: Format) -> Self {
        Propagator { formats: vec![format] }
    }

    /// The Jaeger format: `uber-trace-id`, `uberctx-*`, `jaeger-baggage`, `jaeger-debug-id`.
    pub fn jaeger() -> Self {
        Propagator::one(Format::Jaeger)
    }

    /// W3C Trace Context (`traceparent`, `tracestate`) and W3C `baggage`.
    pub fn w3c() -> Self {
        Propagator::one(Format::W3c)
    }

    /// Zipkin B3, injecting the multi-header form (`x-b3-*`); extracts either form.
    pub fn b3() -> Self {
        Propagator::one(Format::B3Multi)
    }

    /// Zipkin B3, injecting the single `b3` header; extracts either form.
    pub fn b3_single() -> Self {
        Propagator::one(Format::B3Single)
    }

    /// Several formats at once: inject writes all of them; extract answers from the first
    /// format (in the given order) whose trace header (`uber-trace-id`, `traceparent`, `b3` or
    /// `x-b3-traceid`) is present and yields a valid context, or an error: a malformed header
    /// is reported, never silently replaced by another format's trace. A present header
    /// without a valid context (a zero trace or span id, a bare `b3: 0`) lets the next format
    /// answer. When no format
    /// has a trace, the first one that finds baggage or a debug id answers. Repeated formats
    /// count once; an empty composite injects nothing and extracts `Ok(None)`.
    pub fn composite(formats: impl IntoIterator<Item = Propagator>) -> Self {
        let mut all: Vec<Format> = Vec::new();
        for f in formats.into_iter().flat_map(|p| p.formats) {
            if !all.contains(&f) {
                all.push(f);
            }
        }
        Propagator { formats: all }
    }

    /// Writes `cx` into `carrier` in every format of this propagator.
    pub fn inject(&self, cx: &SpanContext, carrier: &mut dyn Injector) {
        for f in &self.formats {
            f.inject(cx, carrier);
        }
    }

    /// Reads a context from `carrier`: `Ok(None)` when there is none, an error when the
    /// headers are there but malformed or over the limits.
    ///
    /// # Errors
    ///
    /// [`ExtractErrorKind::Corrupt`] for a value that breaks its format's rules,
    /// [`ExtractErrorKind::TooLarge`] for one over the limits above.
    pub fn extract(&self, carrier: &dyn Extractor) -> Result<Option<SpanContext>, ExtractError> {
        let c = Carrier::new(carrier);
        // First pass: formats whose trace header is present, in order. A present header that
        // carries no valid context (`0:0:0:0`, `1:0:0:1`, a bare `b3: 0`) must not hide the
        // next format's trace.
        let mut fallback = None;
        for f in self.formats.iter().filter(|f| f.has_trace_header(&c)) {
            match f.extract(&c)? {
                Some(cx) if cx.is_valid() => return Ok(Some(cx)),
                other => fallback = fallback.or(other),
            }
        }
        if fallback.is_some() {
            return Ok(fallback);
        }
        // Second pass: no trace anywhere; the first format that finds baggage or a debug id.
        for f in &self.formats {
            if let Some(cx) = f.extract(&c)? {
                return Ok(Some(cx));
            }
        }
        Ok(None)
    }
}

/// Parses a comma-separated list of format names, as Jaeger's `JAEGER_PROPAGATION`
/// (jaeger-client-java `Configuration`): `jaeger`, `w3c`, `b3` (multi-header), `b3-single`; blanks around names ignored.
///
/// ```
/// let p: jaeger_layer::Propagator = "w3c, jaeger".parse().unwrap();
/// assert!("zipkin".parse::<jaeger_layer::Propagator>().is_err());
/// ```
impl FromStr for Propagator {
    type Err = BuildError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = Vec::new();
        for name in s.split(',').map(str::trim) {
            parts.push(match name {
                "jaeger" => Propagator::jaeger(),
                "w3c" => Propagator::w3c(),
                "b3" => Propagator::b3(),
                "b3-single" => Propagator::b3_single(),
                _ => {
                    return Err(BuildError::invalid(
                        "propagation",
                        s,
                        "expected a comma-separated list of jaeger, w3c, b3, b3-single",
                    ))
                }
            });
        }
        Ok(Propagator::composite(parts))
    }
}

/// Extracts a context in the Jaeger format: the same as `Propagator::jaeger().extract`.
///
/// ```
/// use std::collections::HashMap;
/// use jaeger_layer::HttpHeaders;
/// let mut headers = HashMap::new();
/// headers.insert("Uber-Trace-Id".to_string(), "abc:def:0:1".to_string());
/// headers.insert("uberctx-User".to_string(), "ada+lovelace".to_string());
/// // HTTP headers: URL-decoded.
/// let cx = jaeger_layer::extract(&HttpHeaders(&headers)).unwrap().unwrap();
/// assert_eq!((cx.trace_id().low, cx.span_id(), cx.flags()), (0xabc, 0xdef, 1));
/// assert_eq!(cx.baggage().get("user"), Some("ada lovelace"));
/// // A text map: verbatim.
/// let cx = jaeger_layer::extract(&headers).unwrap().unwrap();
/// assert_eq!(cx.baggage().get("user"), Some("ada+lovelace"));
/// ```
///
/// # Errors
///
/// As [`Propagator::extract`].
pub fn extract(carrier: &dyn Extractor) -> Result<Option<SpanContext>, ExtractError> {
    jaeger::extract(&Carrier::new(carrier))
}

// === impl BaggageBuilder ===

/// Baggage being extracted, enforcing the item and byte limits as it grows.
#[derive(Default)]
pub(crate) struct BaggageBuilder {
    baggage: Baggage,
    bytes: usize,
}

impl BaggageBuilder {
    /// Sets an item; an empty value removes it, as [`Baggage::set`] does.
    pub(crate) fn set(&mut self, key: String, value: String, header: &str) -> Result<(), ExtractError> {
        let added = if value.is_empty() { 0 } else { key.len() + value.len() };
        let key_len = key.len();
        if let Some(old) = self.baggage.set(key, value) {
            self.bytes -= key_len + old.len();
        }
        self.bytes += added;
        if self.baggage.len() > MAX_BAGGAGE_ITEMS {
            return Err(ExtractError::too_large(header.to_owned(), "more than 180 baggage items"));
        }
        if self.bytes > MAX_BAGGAGE_BYTES {
            return Err(ExtractError::too_large(header.to_owned(), "more than 8192 bytes of baggage"));
        }
        Ok(())
    }

    /// Adds the items of `<prefix><key>` headers (`uberctx-`, B3's `baggage-`): keys
    /// lower-cased (jaeger-client-go `propagation.go`), values as the carrier format reads
    /// them (verbatim, or URL-decoded from HTTP headers, see [`Carrier::value`]).
    pub(crate) fn extend_prefixed(
        &mut self,
        c: &Carrier<'_>,
        prefix: &'static str,
    ) -> Result<(), ExtractError> {
        for item in c.with_prefix(prefix) {
            let (key, value) = item?;
            let header = format!("{prefix}{}", key.to_ascii_lowercase());
            self.set(key.to_lowercase(), c.value(value).into_owned(), &header)?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Baggage {
        self.baggage
    }
}

impl fmt::Debug for BaggageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaggageBuilder")
            .field("items", &self.baggage.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// Writes each baggage item as `<prefix><key>` (the key as the application set it), the value
/// as the carrier format wants it (verbatim, or URL-encoded into HTTP headers).
pub(crate) fn inject_prefixed_baggage(cx: &SpanContext, prefix: &str, carrier: &mut dyn Injector) {
    for (k, v) in cx.baggage.iter() {
        let v = carrier::encode_value(carrier, v).into_owned();
        carrier.set(&format!("{prefix}{k}"), v);
    }
}

/// A context for a carrier that has no valid trace context but has baggage or a debug id
/// (jaeger-client-go `propagation.go` Extract): ids and flags zero; `None` when there is
/// nothing at all.
pub(crate) fn baggage_only(baggage: Baggage, debug_id: Option<String>) -> Option<SpanContext> {
    if baggage.is_empty() && debug_id.is_none() {
        return None;
    }
    Some(SpanContext { baggage, debug_id, ..SpanContext::default() })
}
