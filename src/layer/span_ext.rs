//! `JaegerSpanExt`: the Jaeger context of any `tracing::Span`, from application code.

use std::borrow::Cow;
use std::fmt;

use tracing::Span;

use super::state::{SpanState, WithContext};
use super::Inner;
use crate::export::stats::{incr, Origin};
use crate::propagation::{ExtractError, Extractor, Injector};
use crate::span::context::SpanContext;
use crate::span::data::{Log, Tag, FLAG_DEBUG, FLAG_SAMPLED};

/// Why [`JaegerSpanExt::set_parent`] refused to re-parent a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetParentError {
    _priv: (),
}

impl SetParentError {
    pub(crate) fn already_observed() -> Self {
        SetParentError { _priv: () }
    }
}

impl fmt::Display for SetParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the span's context was already observed (a child span, an inject or context() saw it); \
             re-parenting it now would split the trace",
        )
    }
}

impl std::error::Error for SetParentError {}

/// Jaeger operations on a `tracing::Span`: read its context, parent it under a remote
/// context, and read or set baggage.
///
/// Every method is inert (returns `None` or does nothing) when the span is disabled or no
/// [`JaegerLayer`](crate::JaegerLayer) is installed.
pub trait JaegerSpanExt {
    /// The span's Jaeger context, `None` when the span is disabled or not ours. Reading it
    /// freezes the context: a later [`set_parent`](Self::set_parent) is refused.
    ///
    /// ```
    /// use jaeger_layer::JaegerSpanExt;
    /// let span = tracing::info_span!("no subscriber here");
    /// assert!(span.context().is_none());
    /// ```
    fn context(&self) -> Option<SpanContext>;

    /// Makes `parent` (usually extracted from an incoming request) the span's parent: the
    /// trace id, parent id and sampling decision then follow it. Works after the span was
    /// entered — inside an `#[instrument]` function — as long as its context was not yet
    /// observed (no child span created, no inject, no `context()`).
    ///
    /// A context holding only a `jaeger-debug-id` makes the span's trace sampled and debug;
    /// one holding only baggage adds the baggage. If the span was unsampled and the parent is
    /// sampled, the span is recorded from now on; fields given at its creation are not.
    ///
    /// # Errors
    /// [`SetParentError`] when the span's context was already observed.
    ///
    /// ```
    /// use jaeger_layer::{JaegerSpanExt, SpanContext, TraceId};
    /// let remote = SpanContext::new(TraceId::new(0, 7), 8, 0, 1);
    /// let span = tracing::info_span!("handler");
    /// span.set_parent(remote).unwrap(); // inert without a JaegerLayer
    /// ```
    fn set_parent(&self, parent: SpanContext) -> Result<(), SetParentError>;

    /// The baggage item `key` visible from this span (set here or on an ancestor, local or
    /// remote).
    ///
    /// ```
    /// use jaeger_layer::JaegerSpanExt;
    /// assert_eq!(tracing::Span::none().baggage_item("user"), None);
    /// ```
    fn baggage_item(&self, key: &str) -> Option<String>;

    /// Sets a baggage item on this span: children created afterwards inherit it and inject
    /// sends it downstream. An empty `value` removes the item (jaeger-client-go
    /// `span_context.go` WithBaggageItem): it is then neither read nor injected, here and in
    /// children created afterwards. A sampled span logs `event=baggage, key, value` (the
    /// value empty for a removal), plus `override=true` when the key had a value and
    /// `truncated=true` when the value was cut at 2048 bytes (jaeger-client-go
    /// `baggage_setter.go`).
    ///
    /// ```
    /// use jaeger_layer::JaegerSpanExt;
    /// let span = tracing::Span::none();
    /// span.set_baggage_item("user", "ada"); // inert without a layer
    /// span.set_baggage_item("user", ""); // removes `user`
    /// ```
    fn set_baggage_item(&self, key: &str, value: &str);

    /// Writes the span's context (and baggage) into `carrier` with the layer's
    /// [`Propagator`](crate::Propagator), e.g. into the headers of an outgoing request.
    /// Baggage values are encoded as the carrier's [`CarrierFormat`](crate::CarrierFormat)
    /// says: wrap a `HashMap` of HTTP headers in [`HttpHeaders`](crate::HttpHeaders).
    /// Freezes the context (see [`set_parent`](Self::set_parent)). Writes nothing when the
    /// span is disabled or no layer is installed.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use jaeger_layer::{HttpHeaders, JaegerSpanExt};
    /// let mut headers = HashMap::new();
    /// tracing::Span::current().inject(&mut HttpHeaders(&mut headers));
    /// assert!(headers.is_empty()); // no JaegerLayer here
    /// ```
    fn inject(&self, carrier: &mut dyn Injector);

    /// Reads a remote context from `carrier` with the layer's propagator (Jaeger's format
    /// when no layer is installed). `Ok(None)` when the carrier has none; a malformed or
    /// oversized header is an error and is counted in
    /// [`Stats::span_context_decoding_errors`](crate::Stats::span_context_decoding_errors).
    ///
    /// # Errors
    /// [`ExtractError`] for a corrupt or oversized header.
    fn extract(&self, carrier: &dyn Extractor) -> Result<Option<SpanContext>, ExtractError>;

    /// [`extract`](Self::extract)s a context from `carrier` and makes it the span's parent:
    /// the one call a server handler makes. With no context in the carrier the span stays
    /// a root; with a malformed one it stays a root and the error is returned.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use jaeger_layer::JaegerSpanExt;
    ///
    /// #[tracing::instrument(skip(headers))]
    /// fn handle(headers: &HashMap<String, String>) {
    ///     if let Err(e) = tracing::Span::current().set_parent_from(headers) {
    ///         tracing::warn!(error = %e, "starting a new trace");
    ///     }
    /// }
    /// # handle(&HashMap::new());
    /// ```
    ///
    /// # Errors
    /// [`SetParentFromError`] when the header is malformed or the span's context was already
    /// observed.
    fn set_parent_from(&self, carrier: &dyn Extractor) -> Result<(), SetParentFromError>;
}

/// Why [`JaegerSpanExt::set_parent_from`] left the span a root.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetParentFromError {
    /// The carrier's context header was malformed or too large.
    Extract(ExtractError),
    /// The span's context was already observed.
    SetParent(SetParentError),
}

impl fmt::Display for SetParentFromError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetParentFromError::Extract(e) => e.fmt(f),
            SetParentFromError::SetParent(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SetParentFromError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetParentFromError::Extract(e) => Some(e),
            SetParentFromError::SetParent(e) => Some(e),
        }
    }
}

/// Runs `f` on the span's state, if the span is enabled and reaches our layer.
fn with_state<R>(span: &Span, f: impl FnOnce(&mut SpanState, &crate::layer::Inner) -> R) -> Option<R> {
    let mut f = Some(f);
    let mut out = None;
    span.with_subscriber(|(id, dispatch)| {
        if let Some(wc) = dispatch.downcast_ref::<WithContext>() {
            wc.with_state(dispatch, id, &mut |state, inner| {
                if let Some(f) = f.take() {
                    out = Some(f(state, inner));
                }
            });
        }
    });
    out
}

impl JaegerSpanExt for Span {
    fn context(&self) -> Option<SpanContext> {
        with_state(self, |state, _| {
            state.frozen = true;
            state.cx.clone()
        })
    }

    fn set_parent(&self, parent: SpanContext) -> Result<(), SetParentError> {
        // The name of a recording started late; read from the span, not kept in its state.
        let name = self.metadata().map_or("", |m| m.name());
        with_state(self, |state, inner| state.set_parent(parent, name, inner)).unwrap_or(Ok(()))
    }

    fn baggage_item(&self, key: &str) -> Option<String> {
        with_state(self, |state, _| state.cx.baggage.get(key).map(str::to_owned)).flatten()
    }

    fn set_baggage_item(&self, key: &str, value: &str) {
        with_state(self, |state, inner| {
            let now = inner.shared.clock.now_us();
            state.set_baggage_item(key, value, now, inner)
        });
    }

    fn inject(&self, carrier: &mut dyn Injector) {
        // Copy the context out under the lock; the carrier (user code) runs after it.
        let Some((cx, propagator)) = with_state(self, |state, inner| {
            state.frozen = true;
            (state.cx.clone(), inner.propagator.clone())
        }) else {
            return;
        };
        propagator.inject(&cx, carrier);
    }

    fn extract(&self, carrier: &dyn Extractor) -> Result<Option<SpanContext>, ExtractError> {
        let layer = with_state(self, |_, inner| (inner.propagator.clone(), inner.shared.counters.clone()));
        match layer {
            Some((propagator, counters)) => propagator.extract(carrier).inspect_err(|_| {
                crate::export::stats::incr(&counters.span_context_decoding_errors);
            }),
            None => crate::propagation::extract(carrier),
        }
    }

    fn set_parent_from(&self, carrier: &dyn Extractor) -> Result<(), SetParentFromError> {
        match self.extract(carrier).map_err(SetParentFromError::Extract)? {
            Some(cx) => self.set_parent(cx).map_err(SetParentFromError::SetParent),
            None => Ok(()),
        }
    }
}

// === impl SpanState: the operations behind JaegerSpanExt ===

/// Baggage values longer than this are cut (Jaeger's default restriction: jaeger-client-go
/// `internal/baggage/restriction_manager.go`).
pub(crate) const MAX_BAGGAGE_VALUE_LENGTH: usize = 2048;

impl SpanState {
    /// Re-parents the span under a remote context (or starts a debug/baggage-carrying trace
    /// from a context with no trace id). Refused once the context was observed. `name` is the
    /// span's name, the operation of a recording that starts here.
    pub(crate) fn set_parent(
        &mut self,
        remote: SpanContext,
        name: &'static str,
        inner: &Inner,
    ) -> Result<(), SetParentError> {
        if self.frozen {
            return Err(SetParentError::already_observed());
        }
        let counters = &inner.shared.counters;
        let was = (self.origin, self.rec.is_some());
        let mut baggage = remote.baggage.clone();
        for (k, v) in self.cx.baggage.iter() {
            if baggage.get(k).is_none() {
                baggage.set(k, v);
            }
        }
        self.cx.baggage = baggage;
        if remote.trace_id.is_valid() && remote.span_id != 0 {
            // Upstream decides: the trace id, parent and flags all follow the remote parent.
            self.cx.trace_id = remote.trace_id;
            self.cx.parent_id = remote.span_id;
            self.cx.flags = remote.flags;
            self.origin = Origin::Joined;
            if let Some(rec) = &mut self.rec {
                rec.span.sampler = None;
            }
        } else if let Some(debug_id) = remote.debug_id {
            // A bare `jaeger-debug-id`: this trace is force-sampled and tagged (jaeger-client-go
            // `tracer.go`, the debug-id container).
            self.cx.flags |= FLAG_SAMPLED | FLAG_DEBUG;
            self.cx.debug_id = Some(debug_id);
        }
        self.cx.trace_state = remote.trace_state;
        let now_sampled = self.cx.flags & FLAG_SAMPLED != 0;
        match (was.1, now_sampled) {
            // Fields given at creation were not recorded (the span was unsampled then);
            // everything from now on is.
            (false, true) => {
                let mut rec = inner.shared.pool.take();
                rec.span.operation = Cow::Borrowed(name);
                self.rec = Some(rec);
            }
            (true, false) => self.rec = None,
            _ => {}
        }
        let now = (self.origin, now_sampled);
        if was != now {
            // Move the span from the counter it was started under to the one it is now in.
            counters.started(was.0, was.1).fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            incr(counters.started(now.0, now.1));
        }
        Ok(())
    }

    /// Sets a baggage item; a sampled span logs it as Jaeger's clients do (jaeger-client-go
    /// `baggage_setter.go`), the logged key and value cut at `max_tag_value_length` like every
    /// log field.
    pub(crate) fn set_baggage_item(&mut self, key: &str, value: &str, now_us: i64, inner: &Inner) {
        let counters = &inner.shared.counters;
        let mut value = value.to_owned();
        let truncated = value.len() > MAX_BAGGAGE_VALUE_LENGTH;
        if truncated {
            value = crate::span::mapping::truncate(value, MAX_BAGGAGE_VALUE_LENGTH);
            incr(&counters.baggage_truncations);
        }
        let previous = self.cx.baggage.set(key, value.clone());
        incr(&counters.baggage_updates_ok);
        if let Some(rec) = &mut self.rec {
            let max = inner.max_tag_value_length;
            let mut fields = vec![
                Tag::new("event", "baggage"),
                Tag::new("key", crate::span::mapping::truncate(key.to_owned(), max)),
                Tag::new("value", crate::span::mapping::truncate(value, max)),
            ];
            if previous.is_some() {
                fields.push(Tag::new("override", true));
            }
            if truncated {
                fields.push(Tag::new("truncated", true));
            }
            rec.logs.push(Log { timestamp_us: now_us, fields }, inner.max_logs_per_span);
        }
    }
}
