//! A small Thrift writer specialised for the Jaeger structs the exporter sends (jaeger-idl
//! `thrift/jaeger.thrift` and `thrift/agent.thrift`), in the compact (agent port 6831) and
//! strict binary (port 6832, HTTP collector) protocols, as Apache Thrift's
//! `doc/specs/thrift-compact-protocol.md` and `thrift-binary-protocol.md` define them. It
//! appends straight into a caller's reused `Vec<u8>`.
//!
//! Why not the `thrift` crate, which we keep for decoding and as the test reference
//! (`thrift::reference`): the exporter thread must keep up with many application threads,
//! and through `TCompactOutputProtocol` most of the time per span went into per-byte
//! `io::Write` calls through the sink the protocol writes to, its varint helper, and the
//! protocol's field-id stack. Here each field id is a constant at its call site, so compact
//! field-id deltas need no stack; varints and zigzag are a few shifts; nothing allocates once
//! the buffers have grown; and the implied tags (sampler, metadata, `error`) and CHILD_OF
//! reference are written from the span's fields instead of being built as a `Vec<Tag>` first.
//! The result is several times faster than the `thrift` crate's encoder: `cargo bench --bench
//! encode` measures the batcher, `cargo test --release --lib bench_encode -- --ignored
//! --nocapture` prints both encoders side by side. `thrift::writer::tests` asserts the
//! output is byte-identical to the `thrift` crate's for thousands of random structs.
//!
//! Functions are generic over [`Protocol`] (two zero-sized types), so each struct writer is
//! monomorphised per protocol; [`Wire`] picks one at run time, once per struct.

use crate::span::callsite::CallsiteCache;
use crate::span::data::{ClientStats, FinishedSpan, Log, Process, RefType, Tag, TagValue};
use crate::span::id::TraceId;
use crate::span::mapping::{self, SpanTags, TagRef};

/// The name of the agent's method (jaeger-idl `thrift/agent.thrift`).
pub(crate) const EMIT_BATCH: &str = "emitBatch";

/// Thrift `TMessageType::Call`: what jaeger-client-go writes for the oneway `emitBatch`
/// (its Thrift `TStandardClient.Send` always writes CALL; other generators write ONEWAY).
const MESSAGE_CALL: u8 = 1;

/// The Thrift value types the Jaeger structs use; each protocol numbers them its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    I32,
    I64,
    Double,
    String,
    Struct,
    List,
}

/// One Thrift protocol's primitive encodings. Every method appends to `out`.
pub(crate) trait Protocol {
    /// The header of field `id`, the previous field of the same struct being `prev`
    /// (0 for the first field).
    fn field(out: &mut Vec<u8>, prev: i16, id: i16, ty: Ty);
    /// A whole bool field (the compact protocol folds the value into the header).
    fn bool_field(out: &mut Vec<u8>, prev: i16, id: i16, v: bool);
    fn i32(out: &mut Vec<u8>, v: i32);
    fn i64(out: &mut Vec<u8>, v: i64);
    fn double(out: &mut Vec<u8>, v: f64);
    /// A string or binary value: length, then the bytes.
    fn bytes(out: &mut Vec<u8>, v: &[u8]);
    /// The header of a list of `n` struct elements.
    fn struct_list(out: &mut Vec<u8>, n: usize);
    /// The exact length [`Protocol::struct_list`] writes for `n`.
    fn struct_list_len(n: usize) -> usize;
    /// A message header: protocol id/version, message type, name, seqid.
    fn message_begin(out: &mut Vec<u8>, name: &str, message_type: u8, seqid: i32);
}

/// The compact protocol (Apache Thrift `doc/specs/thrift-compact-protocol.md`).
#[derive(Debug)]
pub(crate) enum Compact {}

/// The strict binary protocol.
#[derive(Debug)]
pub(crate) enum Binary {}

/// A list length as Thrift's i32, saturating (a list that long could never be sent anyway;
/// this keeps the function total, as the `thrift` crate's i32 sizes are).
fn list_len(n: usize) -> u32 {
    n.min(i32::MAX as usize) as u32
}

#[inline]
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

impl Compact {
    #[inline]
    const fn ty(ty: Ty) -> u8 {
        match ty {
            Ty::Bool => 1,
            Ty::I32 => 5,
            Ty::I64 => 6,
            Ty::Double => 7,
            Ty::String => 8,
            Ty::List => 9,
            Ty::Struct => 12,
        }
    }

    #[inline]
    fn header(out: &mut Vec<u8>, prev: i16, id: i16, type_nibble: u8) {
        let delta = id.wrapping_sub(prev);
        if delta > 0 && delta < 15 {
            out.push(((delta as u8) << 4) | type_nibble);
        } else {
            // Long form: type, then the id as a zigzag varint i16 (never needed by the
            // Jaeger structs, whose ids rise by at most 11; kept so `field` is total).
            out.push(type_nibble);
            varint(out, u64::from(((id << 1) ^ (id >> 15)) as u16));
        }
    }
}

impl Protocol for Compact {
    #[inline]
    fn field(out: &mut Vec<u8>, prev: i16, id: i16, ty: Ty) {
        Self::header(out, prev, id, Self::ty(ty));
    }

    #[inline]
    fn bool_field(out: &mut Vec<u8>, prev: i16, id: i16, v: bool) {
        // Type nibble 1 = true, 2 = false (thrift-compact-protocol.md, "Boolean encoding").
        Self::header(out, prev, id, if v { 1 } else { 2 });
    }

    #[inline]
    fn i32(out: &mut Vec<u8>, v: i32) {
        varint(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
    }

    #[inline]
    fn i64(out: &mut Vec<u8>, v: i64) {
        varint(out, ((v << 1) ^ (v >> 63)) as u64);
    }

    #[inline]
    fn double(out: &mut Vec<u8>, v: f64) {
        // Little-endian in compact (thrift-compact-protocol.md), unlike binary.
        out.extend_from_slice(&v.to_le_bytes());
    }

    #[inline]
    fn bytes(out: &mut Vec<u8>, v: &[u8]) {
        varint(out, u64::from(v.len() as u32));
        out.extend_from_slice(v);
    }

    #[inline]
    fn struct_list(out: &mut Vec<u8>, n: usize) {
        let struct_ty = Self::ty(Ty::Struct);
        if n <= 14 {
            out.push(((n as u8) << 4) | struct_ty);
        } else {
            out.push(0xf0 | struct_ty);
            varint(out, u64::from(list_len(n)));
        }
    }

    fn struct_list_len(n: usize) -> usize {
        if n <= 14 {
            1
        } else {
            1 + varint_len(u64::from(list_len(n)))
        }
    }

    fn message_begin(out: &mut Vec<u8>, name: &str, message_type: u8, seqid: i32) {
        // Protocol id, then version 1 in the low 5 bits and the type above
        // (thrift-compact-protocol.md, "Message");
        // the seqid is a plain varint, not zigzag.
        out.push(0x82);
        out.push((message_type << 5) | 1);
        varint(out, u64::from(seqid as u32));
        Self::bytes(out, name.as_bytes());
    }
}

impl Binary {
    #[inline]
    const fn ty(ty: Ty) -> u8 {
        match ty {
            Ty::Bool => 2,
            Ty::Double => 4,
            Ty::I32 => 8,
            Ty::I64 => 10,
            Ty::String => 11,
            Ty::Struct => 12,
            Ty::List => 15,
        }
    }
}

impl Protocol for Binary {
    #[inline]
    fn field(out: &mut Vec<u8>, _prev: i16, id: i16, ty: Ty) {
        out.push(Self::ty(ty));
        out.extend_from_slice(&id.to_be_bytes());
    }

    #[inline]
    fn bool_field(out: &mut Vec<u8>, prev: i16, id: i16, v: bool) {
        Self::field(out, prev, id, Ty::Bool);
        out.push(u8::from(v));
    }

    #[inline]
    fn i32(out: &mut Vec<u8>, v: i32) {
        out.extend_from_slice(&v.to_be_bytes());
    }

    #[inline]
    fn i64(out: &mut Vec<u8>, v: i64) {
        out.extend_from_slice(&v.to_be_bytes());
    }

    #[inline]
    fn double(out: &mut Vec<u8>, v: f64) {
        out.extend_from_slice(&v.to_be_bytes());
    }

    #[inline]
    fn bytes(out: &mut Vec<u8>, v: &[u8]) {
        Self::i32(out, v.len() as i32);
        out.extend_from_slice(v);
    }

    #[inline]
    fn struct_list(out: &mut Vec<u8>, n: usize) {
        out.push(Self::ty(Ty::Struct));
        Self::i32(out, list_len(n) as i32);
    }

    fn struct_list_len(_n: usize) -> usize {
        5
    }

    fn message_begin(out: &mut Vec<u8>, name: &str, message_type: u8, seqid: i32) {
        // Strict: the version word 0x8001, then the type (Apache Thrift
        // `doc/specs/thrift-binary-protocol.md`, "Message").
        Self::i32(out, (0x8001_0000u32 | u32::from(message_type)) as i32);
        Self::bytes(out, name.as_bytes());
        Self::i32(out, seqid);
    }
}

// === struct writers ===

/// The stop byte ending every struct (0 in both protocols).
#[inline]
fn stop(out: &mut Vec<u8>) {
    out.push(0);
}

#[inline]
fn i64_field<P: Protocol>(out: &mut Vec<u8>, prev: i16, id: i16, v: i64) {
    P::field(out, prev, id, Ty::I64);
    P::i64(out, v);
}

#[inline]
fn i32_field<P: Protocol>(out: &mut Vec<u8>, prev: i16, id: i16, v: i32) {
    P::field(out, prev, id, Ty::I32);
    P::i32(out, v);
}

#[inline]
fn bytes_field<P: Protocol>(out: &mut Vec<u8>, prev: i16, id: i16, v: &[u8]) {
    P::field(out, prev, id, Ty::String);
    P::bytes(out, v);
}

/// `Tag` fields 1 (key) and 2 (vType); the value field follows with `prev` = 2.
#[inline]
fn tag_head<P: Protocol>(out: &mut Vec<u8>, key: &str, type_id: i32) {
    bytes_field::<P>(out, 0, 1, key.as_bytes());
    i32_field::<P>(out, 1, 2, type_id);
}

/// A STRING tag (vStr, field 3).
fn str_tag<P: Protocol>(out: &mut Vec<u8>, key: &str, v: &str) {
    tag_head::<P>(out, key, 0);
    bytes_field::<P>(out, 2, 3, v.as_bytes());
    stop(out);
}

/// A LONG tag (vLong, field 6).
fn long_tag<P: Protocol>(out: &mut Vec<u8>, key: &str, v: i64) {
    tag_head::<P>(out, key, 3);
    i64_field::<P>(out, 2, 6, v);
    stop(out);
}

/// A BOOL tag (vBool, field 5).
fn bool_tag<P: Protocol>(out: &mut Vec<u8>, key: &str, v: bool) {
    tag_head::<P>(out, key, 2);
    P::bool_field(out, 2, 5, v);
    stop(out);
}

/// A `Tag`: key, vType, and only the value field of that type (jaeger-idl `thrift/jaeger.thrift`).
pub(crate) fn tag<P: Protocol>(out: &mut Vec<u8>, key: &str, value: &TagValue) {
    match value {
        TagValue::String(s) => str_tag::<P>(out, key, s),
        TagValue::Double(d) => {
            tag_head::<P>(out, key, 1);
            P::field(out, 2, 4, Ty::Double);
            P::double(out, *d);
            stop(out);
        }
        TagValue::Bool(b) => bool_tag::<P>(out, key, *b),
        TagValue::Long(v) => long_tag::<P>(out, key, *v),
        TagValue::Binary(b) => {
            tag_head::<P>(out, key, 4);
            bytes_field::<P>(out, 2, 7, b);
            stop(out);
        }
    }
}

/// A list-of-`Tag` field, header and elements.
fn tag_list_field<P: Protocol>(out: &mut Vec<u8>, prev: i16, id: i16, tags: &[Tag]) {
    P::field(out, prev, id, Ty::List);
    P::struct_list(out, tags.len());
    for t in tags {
        tag::<P>(out, &t.key, &t.value);
    }
}

/// A `Log`: timestamp, fields.
pub(crate) fn log<P: Protocol>(out: &mut Vec<u8>, log: &Log) {
    i64_field::<P>(out, 0, 1, log.timestamp_us);
    tag_list_field::<P>(out, 1, 2, &log.fields);
    stop(out);
}

/// A `SpanRef`: refType, traceIdLow, traceIdHigh, spanId (ids bit-cast to i64).
pub(crate) fn span_ref<P: Protocol>(out: &mut Vec<u8>, ref_type: RefType, trace_id: TraceId, span_id: u64) {
    let ref_type = match ref_type {
        RefType::ChildOf => 0,
        RefType::FollowsFrom => 1,
    };
    i32_field::<P>(out, 0, 1, ref_type);
    i64_field::<P>(out, 1, 2, trace_id.low as i64);
    i64_field::<P>(out, 2, 3, trace_id.high as i64);
    i64_field::<P>(out, 3, 4, span_id as i64);
    stop(out);
}

/// The span's tag list as [`mapping::SpanTags`] lays it out.
/// The metadata tags, the same for every span of a callsite, are copied from `callsites`
/// after the first span (each `Tag` struct is encoded on its own, so its bytes do not depend
/// on what comes before it).
fn span_tags<P: Protocol>(out: &mut Vec<u8>, s: &FinishedSpan, callsites: &mut CallsiteCache) {
    let tags = SpanTags::of(s);
    P::field(out, 9, 10, Ty::List);
    P::struct_list(out, tags.count());
    fn one<P: Protocol>(out: &mut Vec<u8>, key: &str, value: TagRef<'_>) {
        match value {
            TagRef::Str(v) => str_tag::<P>(out, key, v),
            TagRef::Long(v) => long_tag::<P>(out, key, v),
            TagRef::Value(v) => tag::<P>(out, key, v),
        }
    }
    tags.for_each_own(|key, value| one::<P>(out, key, value));
    if let Some(meta) = s.metadata {
        callsites.write(out, meta, |b| mapping::metadata_tags(meta, |k, v| one::<P>(b, k, v)));
    }
    if tags.writes_error() {
        bool_tag::<P>(out, "error", true);
    }
}

/// A `Span`. Fields 6 (references), 10 (tags) and 11 (logs) are always present, possibly
/// empty, as jaeger-client-go's `jaeger_thrift_span.go` writes them (the minimal span of
/// jaeger-idl's `jaeger.thrift`, encoded by Apache Thrift's compact protocol, is checked in
/// `differential_tests::vector_103_minimal_span`).
pub(crate) fn span<P: Protocol>(out: &mut Vec<u8>, s: &FinishedSpan, callsites: &mut CallsiteCache) {
    i64_field::<P>(out, 0, 1, s.trace_id.low as i64);
    i64_field::<P>(out, 1, 2, s.trace_id.high as i64);
    i64_field::<P>(out, 2, 3, s.span_id as i64);
    i64_field::<P>(out, 3, 4, s.parent_id as i64);
    bytes_field::<P>(out, 4, 5, s.operation.as_bytes());
    let parent_ref = mapping::implied_parent_ref(s);
    P::field(out, 5, 6, Ty::List);
    P::struct_list(out, s.references.len() + usize::from(parent_ref));
    if parent_ref {
        span_ref::<P>(out, RefType::ChildOf, s.trace_id, s.parent_id);
    }
    for r in &s.references {
        span_ref::<P>(out, r.ref_type, r.trace_id, r.span_id);
    }
    // The whole sampling-state byte, firehose included (jaeger-client-go `jaeger_thrift_span.go`).
    i32_field::<P>(out, 6, 7, i32::from(s.flags));
    i64_field::<P>(out, 7, 8, s.start_us);
    i64_field::<P>(out, 8, 9, s.duration_us);
    span_tags::<P>(out, s, callsites);
    P::field(out, 10, 11, Ty::List);
    P::struct_list(out, s.logs.len());
    for l in &s.logs {
        log::<P>(out, l);
    }
    stop(out);
}

/// A `Process`; field 2 (tags) is always present, possibly empty, as jaeger-client-go writes it
/// (checked in `differential_tests::vector_104_process`).
pub(crate) fn process<P: Protocol>(out: &mut Vec<u8>, process: &Process) {
    bytes_field::<P>(out, 0, 1, process.service_name.as_bytes());
    tag_list_field::<P>(out, 1, 2, &process.tags);
    stop(out);
}

/// A `ClientStats` with its three cumulative counters.
pub(crate) fn client_stats<P: Protocol>(out: &mut Vec<u8>, stats: &ClientStats) {
    i64_field::<P>(out, 0, 1, stats.full_queue_dropped_spans);
    i64_field::<P>(out, 1, 2, stats.too_large_dropped_spans);
    i64_field::<P>(out, 2, 3, stats.failed_to_emit_spans);
    stop(out);
}

/// What is known of a batch before its spans: the parts around the span list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Envelope {
    /// `Some(seqid)` for an `Agent.emitBatch` message, `None` for a bare `Batch` (HTTP body).
    pub(crate) message_seqid: Option<i32>,
    /// `Batch.seqNo` (field 3), if written.
    pub(crate) seq_no: Option<i64>,
    /// `Batch.stats` (field 4), if written.
    pub(crate) stats: Option<ClientStats>,
}

/// Everything that precedes the span list's own header: the message header and the
/// `emitBatch_args` field (when a message), the `Batch` struct start, the `process` field
/// (the cached, already encoded struct) and the `spans` field header.
pub(crate) fn batch_prefix<P: Protocol>(out: &mut Vec<u8>, env: &Envelope, process_bytes: &[u8]) {
    if let Some(seqid) = env.message_seqid {
        P::message_begin(out, EMIT_BATCH, MESSAGE_CALL, seqid);
        P::field(out, 0, 1, Ty::Struct); // emitBatch_args.batch
    }
    P::field(out, 0, 1, Ty::Struct); // Batch.process
    out.extend_from_slice(process_bytes);
    P::field(out, 1, 2, Ty::List); // Batch.spans
}

/// Everything after the span list: seqNo, stats, the stop bytes.
pub(crate) fn batch_suffix<P: Protocol>(out: &mut Vec<u8>, env: &Envelope) {
    let mut prev = 2;
    if let Some(seq_no) = env.seq_no {
        i64_field::<P>(out, prev, 3, seq_no);
        prev = 3;
    }
    if let Some(stats) = &env.stats {
        P::field(out, prev, 4, Ty::Struct);
        client_stats::<P>(out, stats);
    }
    stop(out); // Batch
    if env.message_seqid.is_some() {
        stop(out); // emitBatch_args
    }
}

/// A protocol chosen at run time; each method dispatches once to the monomorphised writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    /// [`Compact`].
    Compact,
    /// [`Binary`].
    Binary,
}

macro_rules! dispatch {
    ($wire:expr, $f:ident($($arg:expr),*)) => {
        match $wire {
            Wire::Compact => $f::<Compact>($($arg),*),
            Wire::Binary => $f::<Binary>($($arg),*),
        }
    };
}

impl Wire {
    /// Appends one `Span` struct.
    pub(crate) fn span(self, out: &mut Vec<u8>, s: &FinishedSpan, callsites: &mut CallsiteCache) {
        dispatch!(self, span(out, s, callsites))
    }

    /// Appends one `Process` struct.
    pub(crate) fn process(self, out: &mut Vec<u8>, p: &Process) {
        dispatch!(self, process(out, p))
    }

    /// Appends the bytes before the span list header (see [`batch_prefix`]).
    pub(crate) fn batch_prefix(self, out: &mut Vec<u8>, env: &Envelope, process_bytes: &[u8]) {
        dispatch!(self, batch_prefix(out, env, process_bytes))
    }

    /// Appends the bytes after the spans (see [`batch_suffix`]).
    pub(crate) fn batch_suffix(self, out: &mut Vec<u8>, env: &Envelope) {
        dispatch!(self, batch_suffix(out, env))
    }

    /// Appends the header of a list of `n` structs.
    pub(crate) fn struct_list(self, out: &mut Vec<u8>, n: usize) {
        match self {
            Wire::Compact => Compact::struct_list(out, n),
            Wire::Binary => Binary::struct_list(out, n),
        }
    }

    /// The exact length [`Wire::struct_list`] writes for `n` (compact: 1 byte up to 14
    /// elements, else 1 + varint; binary: element type + i32), per Apache Thrift's protocol specs.
    pub(crate) fn struct_list_len(self, n: usize) -> usize {
        match self {
            Wire::Compact => Compact::struct_list_len(n),
            Wire::Binary => Binary::struct_list_len(n),
        }
    }
}

#[cfg(test)]
mod tests;
