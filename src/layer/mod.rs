//! The `tracing_subscriber::Layer`: tracing spans → Jaeger spans.
//!
//! Per-span state is our own [`SpanState`] in the span's extensions (as tracing-opentelemetry
//! keeps its `OtelData`). The sampling decision is taken once in `on_new_span`; an unsampled
//! span keeps nothing until its context is asked for (see `materialize`). Nothing here holds
//! an extensions guard while user code (a field's `Debug`) runs or while anything is emitted
//! (tracing-subscriber's `fmt_layer.rs` drops its guards before re-entering).

pub(crate) mod span_ext;
mod state;
#[cfg(all(test, feature = "receiver"))]
mod tests;

use std::any::TypeId;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing_core::span::{self, Attributes};
use tracing_core::{Event, Subscriber};
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
    debug_id_tag, record_event, OperationNameVisitor, PriorityVisitor, SpanFieldEffects, TagVisitor,
    OTEL_NAME, SAMPLING_PRIORITY,
};
use crate::span::record::Record;
use state::child_context;
pub(crate) use state::{SpanState, WithContext};

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

/// Where a new span's parent stands.
enum Parent {
    /// No parent: the span starts a trace here.
    None,
    /// A parent with no state: unsampled and unobserved, so the child is too.
    Stateless,
    /// The parent's context, as a child starts from it.
    Known(SpanContext),
}

/// Buffers an event's fields are recorded into before its span is locked (see `on_event`).
/// Bounded: after each event it holds what a record had spare (see `span::record`).
struct Scratch {
    fields: Vec<Tag>,
    /// Cleared strings for string values, swapped with a record's spare ones at each event.
    strings: Vec<String>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch { fields: Vec::new(), strings: Vec::new() }) };
    /// The id of the span this thread last started sampled (under any of our layers): a hint
    /// that lets `on_event` skip the read lock of its sampled check when the event is in that
    /// span, the common case. Only a hint: another subscriber on this thread may hand out the
    /// same id, or `set_parent` may have unsampled the span since, so the write lock that
    /// appends the log checks again and a wrong hint only costs recording fields that are
    /// then dropped. (One registry never repeats a live or recent id: ids carry the slot's
    /// generation.)
    static LAST_SAMPLED: Cell<u64> = const { Cell::new(0) };
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

    /// Records an event into fresh buffers, for when this thread's scratch is in use (an
    /// event logged from inside a field's `Debug`) or gone (thread exit).
    #[cold]
    fn log_unbuffered<S>(&self, span: &RegistrySpan<'_, S>, event: &Event<'_>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let (mut fields, mut spare) = (Vec::new(), Vec::new());
        let error = record_event(event, &mut fields, &mut spare, self.inner.max_tag_value_length);
        let log = Log { timestamp_us: self.inner.shared.clock.now_us(), fields };
        let mut ext = span.extensions_mut();
        if let Some(rec) = ext.get_mut::<SpanState>().and_then(|s| s.rec.as_mut()) {
            rec.logs.push(log, self.inner.max_logs_per_span);
            rec.span.error |= error;
        }
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
        self.with_context = Some(WithContext::of::<S>());
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
                // An unsampled root keeps no id (see `materialize`), so a sampler that does not
                // read the id decides before one is drawn.
                let drawn = (!inner.sampler.decides_without_trace_id())
                    .then(|| id::new_trace_id(inner.trace_id_128bit));
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
                let d = self.decide(drawn.unwrap_or_default(), attrs, has_name);
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
                let trace_id = drawn.unwrap_or_else(|| id::new_trace_id(inner.trace_id_128bit));
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
        let state = SpanState { cx, frozen: false, origin, start_us, rec };
        if let Some(span) = ctx.span(id) {
            inner.shared.live_states.fetch_add(1, Ordering::AcqRel);
            span.extensions_mut().insert(state);
            let _ = LAST_SAMPLED.try_with(|last| last.set(id.into_u64()));
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
        // A read lock for the check, unless the span is the one this thread last started
        // sampled: the write lock is taken once, to push the log, and checks again.
        let hinted = LAST_SAMPLED.try_with(Cell::get).is_ok_and(|last| last == span.id().into_u64());
        if !hinted {
            let sampled = span.extensions().get::<SpanState>().is_some_and(|s| s.rec.is_some());
            if !sampled {
                return;
            }
        }
        let max_len = self.inner.max_tag_value_length;
        // The fields are recorded (user code: no guard held) into this thread's scratch
        // buffers. A `Debug` impl that logs an event itself finds them in use and records
        // into fresh ones.
        let done = SCRATCH.try_with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else { return false };
            let Scratch { fields, strings } = &mut *scratch;
            // Empty unless a `Debug` impl panicked while the last event was recorded.
            fields.clear();
            let error = record_event(event, fields, strings, max_len);
            let timestamp_us = self.inner.shared.clock.now_us();
            let mut ext = span.extensions_mut();
            if let Some(rec) = ext.get_mut::<SpanState>().and_then(|s| s.rec.as_mut()) {
                // The log takes the scratch vector and leaves the record's spare one in its
                // place; the spare strings change places too, so buffers keep circulating
                // between the records and the exporter's pool.
                let fields = std::mem::replace(fields, rec.fields.pop().unwrap_or_default());
                rec.logs.push(Log { timestamp_us, fields }, self.inner.max_logs_per_span);
                rec.span.error |= error;
                std::mem::swap(strings, &mut rec.strings);
            } else {
                // Closed or unsampled meanwhile (`set_parent`): nothing to log into.
                fields.clear();
            }
            true
        });
        if !matches!(done, Ok(true)) {
            self.log_unbuffered(&span, event);
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
        let (trace_id, span_id, parent_id, flags, start_us, mut rec, debug_id, trace_state) = {
            let mut ext = span.extensions_mut();
            let Some(state) = ext.get_mut::<SpanState>() else { return };
            let Some(rec) = state.rec.take() else {
                self.inner.shared.live_states.fetch_sub(1, Ordering::AcqRel);
                return;
            };
            // A sampled span's count is released by whoever takes its record: the exporter
            // (one subtraction per drain, not one atomic per span here) or a refused push.
            let cx = &mut state.cx;
            let (debug_id, trace_state) = (cx.debug_id.take(), cx.trace_state.take());
            (cx.trace_id, cx.span_id, cx.parent_id, cx.flags, state.start_us, rec, debug_id, trace_state)
        };
        let inner = &*self.inner;
        let end_us = inner.shared.clock.now_us();
        // The logs stay in the record's ring: the exporter puts them in order.
        let data = &mut rec.span;
        if let Some(debug_id) = debug_id {
            data.tags.push(debug_id_tag(debug_id));
        }
        data.trace_id = trace_id;
        data.span_id = span_id;
        data.parent_id = parent_id;
        data.flags = flags;
        data.start_us = start_us;
        data.duration_us = (end_us - start_us).max(0);
        data.metadata = inner.metadata_tags.then(|| span.metadata());
        data.trace_state = trace_state;
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
