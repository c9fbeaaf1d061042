//! The Jaeger span context: what crosses process boundaries and what children inherit.

use std::sync::Arc;

use crate::span::data::{FLAG_DEBUG, FLAG_SAMPLED};
use crate::span::id::TraceId;

/// Baggage: key/value pairs that travel with a trace to every span below the one that set
/// them, and across process boundaries.
///
/// Cloning is cheap (a reference count); a child shares its parent's items until one of
/// them changes (copy-on-write). An item's value is never empty: setting the empty string
/// removes the item, as jaeger-client-go's `SpanContext.WithBaggageItem` does.
///
/// ```
/// use jaeger_layer::Baggage;
/// let mut b = Baggage::default();
/// b.set("user", "ada");
/// let child = b.clone();
/// b.set("user", "grace");
/// assert_eq!(child.get("user"), Some("ada"));
/// assert_eq!(b.get("user"), Some("grace"));
/// b.set("user", "");
/// assert_eq!(b.get("user"), None);
/// assert!(b.is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage(Option<Arc<Vec<(String, String)>>>);

impl Baggage {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.as_ref()?.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, returning the previous value. An empty `value` removes the
    /// item (jaeger-client-go `span_context.go` WithBaggageItem), as
    /// [`remove`](Self::remove). Copies the items only when they are shared with another span.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let value = value.into();
        if value.is_empty() {
            return self.remove(&key);
        }
        let items = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        match items.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                items.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value. Copies the items only when they are shared with
    /// another span and `key` is among them.
    ///
    /// ```
    /// use jaeger_layer::Baggage;
    /// let mut b: Baggage = [("a", "1"), ("b", "2")].into_iter().collect();
    /// assert_eq!(b.remove("a").as_deref(), Some("1"));
    /// assert_eq!(b.remove("a"), None);
    /// assert_eq!(b.iter().collect::<Vec<_>>(), [("b", "2")]);
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let shared = self.0.as_mut()?;
        let i = shared.iter().position(|(k, _)| k == key)?;
        let (_, value) = Arc::make_mut(shared).remove(i);
        if shared.is_empty() {
            // Equal to a baggage that never had items.
            self.0 = None;
        }
        Some(value)
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|v| v.is_empty())
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |v| v.len())
    }

    /// The items, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().flat_map(|v| v.iter()).map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl std::fmt::Debug for Baggage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Baggage {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut b = Baggage::default();
        for (k, v) in iter {
            b.set(k, v);
        }
        b
    }
}

/// A span's Jaeger context: trace id, span id, parent id, sampling flags, baggage, and the
/// debug id of a `jaeger-debug-id` request.
///
/// A context extracted from a carrier that holds only a `jaeger-debug-id` or only baggage has
/// an invalid (zero) trace id; a span parented to it starts a new trace that carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: u64,
    pub(crate) parent_id: u64,
    pub(crate) flags: u8,
    pub(crate) baggage: Baggage,
    pub(crate) debug_id: Option<String>,
    /// W3C `tracestate`, carried through unchanged from extract to inject.
    pub(crate) trace_state: Option<String>,
}

impl SpanContext {
    /// A context from its ids and flags byte, with no baggage.
    ///
    /// ```
    /// use jaeger_layer::{SpanContext, TraceId};
    /// let cx = SpanContext::new(TraceId::new(0, 1), 2, 0, 1);
    /// assert!(cx.is_sampled() && !cx.is_debug());
    /// ```
    pub fn new(trace_id: TraceId, span_id: u64, parent_id: u64, flags: u8) -> Self {
        SpanContext { trace_id, span_id, parent_id, flags, ..Default::default() }
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// The span id.
    pub fn span_id(&self) -> u64 {
        self.span_id
    }
    /// The parent span id, 0 for a root.
    pub fn parent_id(&self) -> u64 {
        self.parent_id
    }
    /// The sampling-state byte: 0x01 sampled, 0x02 debug, 0x08 firehose.
    pub fn flags(&self) -> u8 {
        self.flags
    }
    /// Whether the trace is sampled.
    pub fn is_sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }
    /// Whether the trace is debug (force-sampled).
    pub fn is_debug(&self) -> bool {
        self.flags & FLAG_DEBUG != 0
    }
    /// Whether trace id and span id are both non-zero.
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id != 0
    }
    /// The baggage.
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }
    /// The baggage, mutable.
    pub fn baggage_mut(&mut self) -> &mut Baggage {
        &mut self.baggage
    }
    /// The `jaeger-debug-id` this context carries, if any.
    pub fn debug_id(&self) -> Option<&str> {
        self.debug_id.as_deref()
    }
    /// Returns the context with `baggage` replaced.
    pub fn with_baggage(mut self, baggage: Baggage) -> Self {
        self.baggage = baggage;
        self
    }
    /// Returns the context with a `jaeger-debug-id`.
    pub fn with_debug_id(mut self, debug_id: impl Into<String>) -> Self {
        self.debug_id = Some(debug_id.into());
        self
    }
    /// The W3C `tracestate` received with this context, passed on unchanged by the W3C
    /// propagator when it injects the context (or one of its children).
    pub fn trace_state(&self) -> Option<&str> {
        self.trace_state.as_deref()
    }
    /// Returns the context with a W3C `tracestate` to pass on.
    pub fn with_trace_state(mut self, trace_state: impl Into<String>) -> Self {
        self.trace_state = Some(trace_state.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::id::random_u64;

    #[test]
    fn display_is_the_uber_trace_id_form_and_parses_back() {
        for i in 0..2_000u64 {
            let high = if i % 2 == 0 { 0 } else { random_u64() };
            let cx = SpanContext::new(
                TraceId::new(high, random_u64()),
                random_u64(),
                random_u64() >> (i % 64),
                i as u8,
            );
            let trace = if high == 0 {
                format!("{:016x}", cx.trace_id.low)
            } else {
                format!("{high:016x}{:016x}", cx.trace_id.low)
            };
            let want = format!("{trace}:{:016x}:{:016x}:{:x}", cx.span_id, cx.parent_id, cx.flags);
            assert_eq!(cx.to_string(), want);
            assert_eq!(want.parse::<SpanContext>().unwrap(), cx);
        }
    }
}
