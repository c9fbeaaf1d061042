//! Deterministic inputs shared by the encoder, batcher and transport tests.

use std::sync::OnceLock;

use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::{Kind, Level, Metadata};
use tracing_core::subscriber::Interest;

#[cfg(feature = "receiver")]
use crate::receiver::ReceivedSpan;
use crate::span::data::FinishedSpan;
use crate::span::id::TraceId;

/// A small deterministic generator (splitmix64), so failures reproduce.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The smallest sampled span: trace 1, span 2, operation `op`, started at 1 s for 5 µs, no
/// tags, logs or references. Its bytes in Apache Thrift's compact protocol are the
/// 27-byte vector the writer tests check.
pub(crate) fn minimal_span() -> FinishedSpan {
    FinishedSpan {
        trace_id: TraceId::new(0, 1),
        span_id: 2,
        parent_id: 0,
        flags: 1,
        operation: "op".into(),
        references: vec![],
        start_us: 1_000_000,
        duration_us: 5,
        tags: vec![],
        logs: vec![],
        sampler: None,
        metadata: None,
        error: false,
        trace_state: None,
        dropped_logs: 0,
    }
}

/// The metadata of a real `tracing` span callsite: file, line, module path, level INFO.
pub(crate) fn real_metadata() -> &'static Metadata<'static> {
    static META: OnceLock<&'static Metadata<'static>> = OnceLock::new();
    META.get_or_init(|| {
        let registry = tracing_subscriber::registry();
        tracing::subscriber::with_default(registry, || {
            tracing::info_span!("checkout", order = 1i64, user = "ada", paid = true).metadata()
        })
        .expect("a registry enables every span")
    })
}

struct BareCallsite;
impl Callsite for BareCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &BARE_METADATA
    }
}
static BARE_CALLSITE: BareCallsite = BareCallsite;
/// Metadata with no file, line or module path: only `level` (WARN) is implied.
pub(crate) static BARE_METADATA: Metadata<'static> = Metadata::new(
    "bare",
    "bare",
    Level::WARN,
    None,
    None,
    None,
    FieldSet::new(&[], Identifier(&BARE_CALLSITE)),
    Kind::SPAN,
);

/// A received span of service `svc` in trace `trace`, with no tags, logs or references.
#[cfg(feature = "receiver")]
pub(crate) fn received_span(
    trace: u64,
    id: u64,
    parent: u64,
    name: &str,
    start: i64,
    dur: i64,
) -> ReceivedSpan {
    ReceivedSpan {
        trace_id: TraceId::new(0, trace),
        span_id: id,
        parent_id: parent,
        operation_name: name.to_owned(),
        references: Vec::new(),
        flags: 1,
        start_time_us: start,
        duration_us: dur,
        tags: Vec::new(),
        logs: Vec::new(),
        service_name: "svc".to_owned(),
    }
}
