//! The `tracing_subscriber::Layer`: tracing spans → Jaeger spans.
//!
//! Per-span state is our own [`SpanState`] in the span's extensions (as tracing-opentelemetry
//! keeps its `OtelData`). The sampling decision is taken once in `on_new_span`; an unsampled
//! span keeps nothing until its context is asked for (see `materialize`). Nothing here holds
//! an extensions guard while user code (a field's `Debug`) runs or while anything is emitted
//! (tracing-subscriber's `fmt_layer.rs` drops its guards before re-entering).

pub(crate) mod span_ext;
#[cfg(all(test, feature = "receiver"))]
mod tests;

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing_core::span::{self, Attributes};
use tracing_core::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef as RegistrySpan};
use tracing_subscriber::Layer;

use crate::export::stats::{incr, Origin};
use crate::export::Shared;
use crate::sampler::{ActiveSampler, SamplerParam, SamplingDecision};
use crate::span::context::SpanContext;
use crate::span::data::{Log, RefType, SpanRef, Tag, TagValue, FLAG_DEBUG, FLAG_SAMPLED};
use crate::span::id;
use crate::span::mapping::{
    LogVisitor, OperationNameVisitor, PriorityVisitor, SpanFieldEffects, TagVisitor, OTEL_NAME,
    SAMPLING_PRIORITY,
};
use crate::span::record::Record;

/// A `tracing_subscriber::Layer` that reports sampled spans to Jaeger.
///
/// Built with [`JaegerLayer::builder`]; see the [crate docs](crate) for the mapping from
/// `tracing` to Jaeger.
#[derive(Clone)]
pub struct JaegerLayer {
    pub(crate) inner: Arc<Inner>,
    with_context: Option<WithContext>,
}

/// The layer's configuration and handles, shared with the span extension helpers.
pub(crate) struct Inner {
    /// `false` for a disabled layer (`JAEGER_DISABLED`): every callback returns at once.
    pub(crate) enabled: bool,
    pub(crate) shared: Arc<Shared>,
    pub(crate) sampler: ActiveSampler,
    pub(crate) trace_id_128bit: bool,
    pub(crate) max_tag_value_length: usize,
    pub(crate) metadata_tags: bool,
    pub(crate) max_logs_per_span: usize,
    pub(crate) propagator: crate::propagation::Propagator,
}

/// Reaches a span's [`SpanState`] through a `Dispatch`, for [`crate::JaegerSpanExt`]
/// (the `downcast_raw` pattern of tracing-error and tracing-opentelemetry).
#[derive(Clone, Copy)]
pub(crate) struct WithContext(
    #[allow(clippy::type_complexity)] fn(&Dispatch, &span::Id, &mut dyn FnMut(&mut SpanState, &Inner)),
);

impl WithContext {
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
/// sampler's "no" holds for it ([`ActiveSampler::unsampled_trace_id`]). Ancestors on the way
/// get state too (frozen: a descendant has now observed them).
fn materialize<S>(span: &RegistrySpan<'_, S>, inner: &Inner)
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
                name: s.metadata().name(),
                rec: None,
            });
        }
        next = ext.get_mut::<SpanState>().map(|st| child_context(&st.cx));
    }
}

/// The context a child of `parent` starts from (its own span id still to be drawn).
fn child_context(parent: &SpanContext) -> SpanContext {
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

/// Where a new span's parent stands.
enum Parent {
    /// No parent: the span starts a trace here.
    None,
    /// A parent with no state: unsampled and unobserved, so the child is too.
    Stateless,
    /// The parent's context, as a child starts from it.
    Known(SpanContext),
}

/// What we keep per span, in its extensions.
pub(crate) struct SpanState {
    pub(crate) cx: SpanContext,
    /// The context was observed (a child was created, it was injected, or read through
    /// `context()`): from now on `set_parent` would split the trace, so it is refused.
    pub(crate) frozen: bool,
    /// How the span started: it decides which counter it is in.
    pub(crate) origin: Origin,
    pub(crate) start_us: i64,
    /// The span's name, for a recording started late by `set_parent`.
    pub(crate) name: &'static str,
    /// Present iff the span is sampled: the record being filled in, handed to the exporter
    /// by pointer at close.
    pub(crate) rec: Option<Box<Record>>,
}

impl Record {
    /// Adds recorded tags; a key recorded again replaces its earlier value.
    fn merge(&mut self, tags: Vec<Tag>, effects: SpanFieldEffects) {
        for tag in tags {
            match self.span.tags.iter_mut().find(|t| t.key == tag.key) {
                Some(old) => *old = tag,
                None => self.span.tags.push(tag),
            }
        }
        if let Some(op) = effects.operation {
            self.span.operation = Cow::Owned(op);
        }
        self.span.error |= effects.error;
    }
}

impl JaegerLayer {
    /// The sampler's decision for a new root, keyed by the operation name it will be reported
    /// under: an `otel.name` given at creation, else the span name (jaeger-client-go's
    /// `PerOperationSampler` decides on the operation name at span creation). A name recorded
    /// later does not change the decision, as in Go without `OperationNameLateBinding`.
    /// `has_name`: the span has an `otel.name` field (its value may still be empty).
    #[inline]
    fn decide(&self, trace_id: id::TraceId, attrs: &Attributes<'_>, has_name: bool) -> SamplingDecision {
        let sampler = &self.inner.sampler;
        let meta = attrs.metadata();
        if has_name {
            let mut decision = None;
            attrs.record(&mut OperationNameVisitor(|name: &str| {
                if decision.is_none() {
                    decision = Some(sampler.decide(trace_id, name));
                }
            }));
            if let Some(d) = decision {
                return d;
            }
        }
        sampler.decide(trace_id, meta.name())
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        JaegerLayer { inner, with_context: None }
    }

    /// The parent's context, explicit or contextual, marking the parent observed.
    fn parent<S>(&self, attrs: &Attributes<'_>, ctx: &Context<'_, S>) -> Parent
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let parent: Option<RegistrySpan<'_, S>> = if let Some(id) = attrs.parent() {
            ctx.span(id)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        let Some(parent) = parent else { return Parent::None };
        // No span anywhere has state: the parent has none either, no need to lock it.
        if self.inner.shared.live_states.load(Ordering::Acquire) == 0 {
            return Parent::Stateless;
        }
        let mut ext = parent.extensions_mut();
        match ext.get_mut::<SpanState>() {
            Some(state) => {
                state.frozen = true;
                Parent::Known(child_context(&state.cx))
            }
            None => Parent::Stateless,
        }
    }
}

impl<S> Layer<S> for JaegerLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        self.with_context = Some(WithContext(with_state::<S>));
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if !self.inner.enabled {
            return;
        }
        let inner = &*self.inner;
        let counters = &inner.shared.counters;
        let meta = attrs.metadata();
        let parent = self.parent(attrs, &ctx);
        let local_root = matches!(parent, Parent::None);

        let mut decision = None;
        let cx = match parent {
            Parent::Known(p) if p.flags & FLAG_SAMPLED != 0 => {
                SpanContext { span_id: id::new_span_id(), ..p }
            }
            // Unsampled and not observed: no state at all (see `materialize`).
            Parent::Known(_) | Parent::Stateless => {
                incr(&counters.children_started_unsampled);
                return;
            }
            Parent::None => {
                let trace_id = id::new_trace_id(inner.trace_id_128bit);
                // One pass over the field names for the two that matter to the decision.
                let (mut has_priority, mut has_name) = (false, false);
                for field in meta.fields() {
                    match field.name() {
                        SAMPLING_PRIORITY => has_priority = true,
                        OTEL_NAME => has_name = true,
                        _ => {}
                    }
                }
                let mut priority = PriorityVisitor(None);
                if has_priority {
                    attrs.record(&mut priority);
                }
                // The sampler decides first, even when `sampling.priority` then overrides it,
                // as in jaeger-client-go (`tracer.go`: the sampler runs at span creation, the
                // start tags after it, `span.go` setSamplingPriority): a rate limiter is
                // charged, and a forced root keeps the sampler's tags if it said yes too.
                let d = self.decide(trace_id, attrs, has_name);
                let flags = match priority.0 {
                    Some(0) => 0,
                    Some(_) => FLAG_SAMPLED | FLAG_DEBUG,
                    None if d.sampled => FLAG_SAMPLED,
                    None => 0,
                };
                // Sampler tags go only on a span whose sampler said yes (`sampler.go`).
                decision = d.sampled.then_some(d);
                if flags & FLAG_SAMPLED == 0 {
                    incr(&counters.traces_started_unsampled);
                    return;
                }
                incr(&counters.traces_started_sampled);
                // Jaeger roots reuse the low trace id bits as span id (jaeger-client-go
                // `tracer.go`, startSpanWithOptions).
                SpanContext { trace_id, span_id: trace_id.low, flags, ..Default::default() }
            }
        };
        let start_us = inner.shared.clock.now_us();

        if !local_root {
            incr(&counters.children_started_sampled);
        }
        let mut rec = inner.shared.pool.take();
        rec.span.operation = Cow::Borrowed(meta.name());
        rec.span.tags.reserve(meta.fields().len());
        rec.span.sampler = decision.map(|d| {
            let param = match d.param {
                SamplerParam::Bool(b) => TagValue::Bool(b),
                SamplerParam::Double(x) => TagValue::Double(x),
            };
            (d.sampler_type, param)
        });
        // User code (Debug impls) runs here, before any extensions guard is taken.
        let mut effects = SpanFieldEffects::default();
        let Record { span: data, strings, .. } = &mut *rec;
        attrs.record(&mut TagVisitor {
            tags: &mut data.tags,
            spare: strings,
            effects: &mut effects,
            max_len: inner.max_tag_value_length,
        });
        if let Some(op) = effects.operation {
            data.operation = Cow::Owned(op);
        }
        data.error = effects.error;
        let rec = Some(rec);

        let origin = if local_root { Origin::Root } else { Origin::Child };
        let state = SpanState { cx, frozen: false, origin, start_us, name: meta.name(), rec };
        if let Some(span) = ctx.span(id) {
            inner.shared.live_states.fetch_add(1, Ordering::AcqRel);
            span.extensions_mut().insert(state);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if !self.inner.enabled {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let sampled = span.extensions().get::<SpanState>().is_some_and(|s| s.rec.is_some());
        if !sampled {
            return;
        }
        let mut tags = Vec::new();
        let mut effects = SpanFieldEffects::default();
        values.record(&mut TagVisitor {
            tags: &mut tags,
            spare: &mut Vec::new(),
            effects: &mut effects,
            max_len: self.inner.max_tag_value_length,
        });
        let mut ext = span.extensions_mut();
        if let Some(rec) = ext.get_mut::<SpanState>().and_then(|s| s.rec.as_mut()) {
            rec.merge(tags, effects);
        }
    }

    fn on_follows_from(&self, id: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        if !self.inner.enabled {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // Missing targets (closed, filtered) are skipped, not an error (as tracing-opentelemetry's
        // `parent_context` degrades).
        let Some(target) = ctx.span(follows) else { return };
        let Some(target_cx) = target.extensions_mut().get_mut::<SpanState>().map(|s| {
            s.frozen = true;
            (s.cx.trace_id, s.cx.span_id)
        }) else {
            return;
        };
        let mut ext = span.extensions_mut();
        if let Some(rec) = ext.get_mut::<SpanState>().and_then(|s| s.rec.as_mut()) {
            rec.span.references.push(SpanRef {
                ref_type: RefType::FollowsFrom,
                trace_id: target_cx.0,
                span_id: target_cx.1,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.inner.enabled {
            return;
        }
        // No span anywhere has state (all unsampled and unobserved): nothing to log into.
        if self.inner.shared.live_states.load(Ordering::Acquire) == 0 {
            return;
        }
        // Events outside any span, or in an unsampled one, cost one lookup and nothing else.
        let Some(span) = ctx.event_span(event) else { return };
        // Borrow a cleared field vector and the spare strings from the record; the visitor
        // (user code) runs with no guard held.
        let (mut fields, mut spare) = {
            let mut ext = span.extensions_mut();
            let Some(rec) = ext.get_mut::<SpanState>().and_then(|s| s.rec.as_mut()) else { return };
            (rec.fields.pop().unwrap_or_default(), std::mem::take(&mut rec.strings))
        };
        let meta = event.metadata();
        fields.reserve(meta.fields().len() + 1);
        let mut visitor = LogVisitor {
            fields: &mut fields,
            spare: &mut spare,
            error: false,
            max_len: self.inner.max_tag_value_length,
        };
        event.record(&mut visitor);
        let error = visitor.error || *meta.level() == Level::ERROR;
        fields.push(Tag::new("level", meta.level().as_str()));
        let log = Log { timestamp_us: self.inner.shared.clock.now_us(), fields };
        let mut ext = span.extensions_mut();
        if let Some(rec) = ext.get_mut::<SpanState>().and_then(|s| s.rec.as_mut()) {
            rec.logs.push(log, self.inner.max_logs_per_span);
            rec.span.error |= error;
            rec.strings = spare;
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if !self.inner.enabled {
            return;
        }
        // No span has state (everything alive is unsampled and unobserved): nothing to look
        // up. This keeps closing an unsampled span nearly free in lightly sampled services.
        if self.inner.shared.live_states.load(Ordering::Acquire) == 0 {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        // Take only the recording (and the few ids) out; the rest of the state is dropped by
        // the registry when it clears the span. Moving less keeps the close cheap.
        let (trace_id, span_id, parent_id, flags, start_us, mut rec, debug_id) = {
            let mut ext = span.extensions_mut();
            let Some(state) = ext.get_mut::<SpanState>() else { return };
            let Some(rec) = state.rec.take() else {
                self.inner.shared.live_states.fetch_sub(1, Ordering::AcqRel);
                return;
            };
            // A sampled span's count is released by whoever takes its record: the exporter
            // (one subtraction per drain, not one atomic per span here) or a refused push.
            let cx = &mut state.cx;
            (cx.trace_id, cx.span_id, cx.parent_id, cx.flags, state.start_us, rec, cx.debug_id.take())
        };
        let inner = &*self.inner;
        let end_us = inner.shared.clock.now_us();
        // The logs stay in the record's ring: the exporter puts them in order.
        let data = &mut rec.span;
        if let Some(debug_id) = debug_id {
            data.tags.push(Tag::new("jaeger-debug-id", debug_id));
        }
        data.trace_id = trace_id;
        data.span_id = span_id;
        data.parent_id = parent_id;
        data.flags = flags;
        data.start_us = start_us;
        data.duration_us = (end_us - start_us).max(0);
        data.metadata = inner.metadata_tags.then(|| span.metadata());
        inner.shared.push(rec);
    }

    // SAFETY: the pointers returned point to `self` and to a field of `self`, each of the
    // type whose `TypeId` was asked for, and live as long as `self` (the contract of
    // `downcast_raw`).
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<WithContext>() {
            self.with_context.as_ref().map(|w| w as *const WithContext as *const ())
        } else {
            None
        }
    }
}

impl fmt::Debug for JaegerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaegerLayer")
            .field("trace_id_128bit", &self.inner.trace_id_128bit)
            .field("max_tag_value_length", &self.inner.max_tag_value_length)
            .finish_non_exhaustive()
    }
}

// === impl SpanState: the operations behind JaegerSpanExt ===

/// Baggage values longer than this are cut (Jaeger's default restriction: jaeger-client-go
/// `internal/baggage/restriction_manager.go`).
pub(crate) const MAX_BAGGAGE_VALUE_LENGTH: usize = 2048;

impl SpanState {
    /// Re-parents the span under a remote context (or starts a debug/baggage-carrying trace
    /// from a context with no trace id). Refused once the context was observed.
    pub(crate) fn set_parent(
        &mut self,
        remote: SpanContext,
        inner: &Inner,
    ) -> Result<(), crate::SetParentError> {
        if self.frozen {
            return Err(crate::SetParentError::already_observed());
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
                rec.span.operation = Cow::Borrowed(self.name);
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
