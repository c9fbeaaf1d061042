//! What the layer keeps per span, in its extensions ([`SpanState`], as tracing-opentelemetry
//! keeps its `OtelData`), how an unsampled span that kept nothing gets its context when
//! someone asks for it ([`materialize`]), and how application code reaches the state through
//! a `Dispatch` ([`WithContext`]).

use std::sync::atomic::Ordering;

use tracing_core::span;
use tracing_core::{Dispatch, Subscriber};
use tracing_subscriber::registry::{LookupSpan, SpanRef as RegistrySpan};

use super::{Inner, JaegerLayer};
use crate::export::stats::Origin;
use crate::span::context::SpanContext;
use crate::span::id;
use crate::span::record::Record;

/// What we keep per span, in its extensions.
pub(crate) struct SpanState {
    pub(crate) cx: SpanContext,
    /// The context was observed (a child was created, it was injected, or read through
    /// `context()`): from now on `set_parent` would split the trace, so it is refused.
    pub(crate) frozen: bool,
    /// How the span started: it decides which counter it is in.
    pub(crate) origin: Origin,
    pub(crate) start_us: i64,
    /// Present iff the span is sampled: the record being filled in, handed to the exporter
    /// by pointer at close.
    pub(crate) rec: Option<Box<Record>>,
}

/// Reaches a span's [`SpanState`] through a `Dispatch`, for [`crate::JaegerSpanExt`]
/// (the `downcast_raw` pattern of tracing-error and tracing-opentelemetry).
#[derive(Clone, Copy)]
pub(crate) struct WithContext(
    #[allow(clippy::type_complexity)] fn(&Dispatch, &span::Id, &mut dyn FnMut(&mut SpanState, &Inner)),
);

impl WithContext {
    /// The state of spans of the subscriber `S` (set when the layer is added to it).
    pub(super) fn of<S>() -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        WithContext(with_state::<S>)
    }

    /// Runs `f` with the span's state, if the span exists and is ours. `f` runs under the
    /// span's extensions lock: it must not run user code or emit anything.
    pub(crate) fn with_state(
        &self,
        dispatch: &Dispatch,
        id: &span::Id,
        f: &mut dyn FnMut(&mut SpanState, &Inner),
    ) {
        (self.0)(dispatch, id, f)
    }
}

fn with_state<S>(dispatch: &Dispatch, id: &span::Id, f: &mut dyn FnMut(&mut SpanState, &Inner))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let (Some(subscriber), Some(layer)) =
        (dispatch.downcast_ref::<S>(), dispatch.downcast_ref::<JaegerLayer>())
    else {
        return;
    };
    if !layer.inner.enabled {
        return;
    }
    let Some(span) = subscriber.span(id) else { return };
    materialize(&span, &layer.inner);
    let mut ext = span.extensions_mut();
    if let Some(state) = ext.get_mut::<SpanState>() {
        f(state, &layer.inner);
    }
}

/// Gives an unsampled span, which keeps no state until someone looks at its context, the
/// context it implicitly had: a child of its nearest ancestor with state, or — for the top
/// of an unsampled local trace — a new unsampled trace, whose id is drawn now so that the
/// sampler's "no" holds for it ([`ActiveSampler::unsampled_trace_id`](crate::sampler::ActiveSampler::unsampled_trace_id)). Ancestors on the way
/// get state too (frozen: a descendant has now observed them).
pub(super) fn materialize<S>(span: &RegistrySpan<'_, S>, inner: &Inner)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if span.extensions().get::<SpanState>().is_some() {
        return;
    }
    // The stateless spans from `span` up to (excluding) the nearest ancestor with state.
    let mut chain = Vec::new();
    let mut base = None;
    for s in span.scope() {
        let known = s.extensions_mut().get_mut::<SpanState>().map(|st| {
            st.frozen = true;
            child_context(&st.cx)
        });
        match known {
            Some(cx) => {
                base = Some(cx);
                break;
            }
            None => chain.push(s),
        }
    }
    let start_us = inner.shared.clock.now_us();
    let mut next = base;
    let last = chain.len().saturating_sub(1);
    for (i, s) in chain.into_iter().rev().enumerate() {
        let local_root = next.is_none();
        let cx = next.take().unwrap_or_else(|| {
            let trace_id = inner.sampler.unsampled_trace_id(inner.trace_id_128bit);
            SpanContext { trace_id, span_id: trace_id.low, ..Default::default() }
        });
        let cx = SpanContext { span_id: if local_root { cx.span_id } else { id::new_span_id() }, ..cx };
        let mut ext = s.extensions_mut();
        // Another thread may have materialized it meanwhile: keep the first one.
        if ext.get_mut::<SpanState>().is_none() {
            inner.shared.live_states.fetch_add(1, Ordering::AcqRel);
            ext.insert(SpanState {
                cx,
                frozen: i != last,
                origin: if local_root { Origin::Root } else { Origin::Child },
                start_us,
                rec: None,
            });
        }
        next = ext.get_mut::<SpanState>().map(|st| child_context(&st.cx));
    }
}

/// The context a child of `parent` starts from (its own span id still to be drawn).
pub(super) fn child_context(parent: &SpanContext) -> SpanContext {
    SpanContext {
        trace_id: parent.trace_id,
        span_id: 0,
        parent_id: parent.span_id,
        flags: parent.flags,
        baggage: parent.baggage.clone(),
        trace_state: parent.trace_state.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_state_is_small() {
        // It is moved by value into the registry's extension box at every span's creation:
        // up to 128 bytes the copy is a few vector moves, above it a `memcpy` call, twice.
        assert!(std::mem::size_of::<SpanState>() <= 128, "{}", std::mem::size_of::<SpanState>());
    }
}
