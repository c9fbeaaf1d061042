//! `JaegerSpanExt`: the Jaeger context of any `tracing::Span`, from application code.

use std::fmt;

use tracing::Span;

use crate::context::SpanContext;
use crate::layer::{SpanState, WithContext};

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
    /// sends it downstream. A sampled span logs `event=baggage, key, value`. Values longer
    /// than 2048 bytes are cut (and the log says `truncated=true`).
    ///
    /// ```
    /// use jaeger_layer::JaegerSpanExt;
    /// tracing::Span::none().set_baggage_item("user", "ada"); // inert without a layer
    /// ```
    fn set_baggage_item(&self, key: &str, value: &str);
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
        with_state(self, |state, inner| state.set_parent(parent, inner)).unwrap_or(Ok(()))
    }

    fn baggage_item(&self, key: &str) -> Option<String> {
        with_state(self, |state, _| state.cx.baggage.get(key).map(str::to_owned)).flatten()
    }

    fn set_baggage_item(&self, key: &str, value: &str) {
        with_state(self, |state, inner| {
            let now = inner.clock.now_us();
            state.set_baggage_item(key, value, now, inner)
        });
    }
}
