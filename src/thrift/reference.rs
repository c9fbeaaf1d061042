//! The reference encoder, test-only: the Jaeger structs written through the `thrift`
//! crate's `TCompactOutputProtocol` / `TBinaryOutputProtocol`, as the exporter did before
//! `writer` replaced it for speed. `writer::tests` asserts that `writer` produces the
//! same bytes for every struct and format. Kept as the exporter wrote spans then: the
//! implied tags and the CHILD_OF reference are first expanded into the span
//! ([`expanded`]), which is what `writer` now does on the fly.

use std::cell::RefCell;
use std::fmt;
use std::io;

use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TListIdentifier, TMessageIdentifier,
    TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

use super::writer::{Envelope, EMIT_BATCH};
use crate::span::data::{ClientStats, FinishedSpan, Log, Process, RefType, SpanRef, Tag, TagValue};

/// The result of writing through a Thrift protocol.
pub(crate) type EncodeResult = thrift::Result<()>;

/// Structs are written with an empty name: neither the compact nor the binary protocol puts
/// names on the wire, and `String::new()` does not allocate.
const STRUCT: TStructIdentifier = TStructIdentifier { name: String::new() };

fn field<P: TOutputProtocol + ?Sized>(p: &mut P, id: i16, field_type: TType) -> EncodeResult {
    p.write_field_begin(&TFieldIdentifier { name: None, field_type, id: Some(id) })
}

fn i64_field<P: TOutputProtocol + ?Sized>(p: &mut P, id: i16, v: i64) -> EncodeResult {
    field(p, id, TType::I64)?;
    p.write_i64(v)?;
    p.write_field_end()
}

fn i32_field<P: TOutputProtocol + ?Sized>(p: &mut P, id: i16, v: i32) -> EncodeResult {
    field(p, id, TType::I32)?;
    p.write_i32(v)?;
    p.write_field_end()
}

fn string_field<P: TOutputProtocol + ?Sized>(p: &mut P, id: i16, v: &str) -> EncodeResult {
    field(p, id, TType::String)?;
    p.write_string(v)?;
    p.write_field_end()
}

/// A list length as Thrift's i32. Lists longer than `i32::MAX` cannot be built in memory
/// by a span anyway; saturating keeps the function total (the datagram would be rejected as
/// too large long before).
fn list_len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn struct_list_field<P, T>(
    p: &mut P,
    id: i16,
    items: &[T],
    mut write: impl FnMut(&mut P, &T) -> EncodeResult,
) -> EncodeResult
where
    P: TOutputProtocol + ?Sized,
{
    field(p, id, TType::List)?;
    p.write_list_begin(&TListIdentifier::new(TType::Struct, list_len(items.len())))?;
    for item in items {
        write(p, item)?;
    }
    p.write_list_end()?;
    p.write_field_end()
}

/// Writes a `Tag`: key, vType, and only the value field of that type (jaeger-idl `thrift/jaeger.thrift`).
pub(crate) fn write_tag<P: TOutputProtocol + ?Sized>(p: &mut P, tag: &Tag) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    string_field(p, 1, &tag.key)?;
    i32_field(p, 2, tag.value.thrift_type())?;
    match &tag.value {
        TagValue::String(s) => string_field(p, 3, s)?,
        TagValue::Double(d) => {
            field(p, 4, TType::Double)?;
            p.write_double(*d)?;
            p.write_field_end()?;
        }
        TagValue::Bool(b) => {
            // The compact protocol folds the value into the field header (Apache Thrift's
            // `doc/specs/thrift-compact-protocol.md`).
            field(p, 5, TType::Bool)?;
            p.write_bool(*b)?;
            p.write_field_end()?;
        }
        TagValue::Long(v) => i64_field(p, 6, *v)?,
        TagValue::Binary(b) => {
            field(p, 7, TType::String)?;
            p.write_bytes(b)?;
            p.write_field_end()?;
        }
    }
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Writes a `Log`: timestamp, fields.
pub(crate) fn write_log<P: TOutputProtocol + ?Sized>(p: &mut P, log: &Log) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    i64_field(p, 1, log.timestamp_us)?;
    struct_list_field(p, 2, &log.fields, |p, t| write_tag(p, t))?;
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Writes a `SpanRef`: refType, traceIdLow, traceIdHigh, spanId (ids bit-cast to i64).
pub(crate) fn write_span_ref<P: TOutputProtocol + ?Sized>(p: &mut P, r: &SpanRef) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    let ref_type = match r.ref_type {
        RefType::ChildOf => 0,
        RefType::FollowsFrom => 1,
    };
    i32_field(p, 1, ref_type)?;
    i64_field(p, 2, r.trace_id.low as i64)?;
    i64_field(p, 3, r.trace_id.high as i64)?;
    i64_field(p, 4, r.span_id as i64)?;
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Writes a `Span`. Fields 6 (references), 10 (tags) and 11 (logs) are always present,
/// possibly empty, as jaeger-client-go's `jaeger_thrift_span.go` writes them (the minimal span of
/// jaeger-idl's `jaeger.thrift`, encoded by Apache Thrift's compact protocol, is checked in
/// `differential_tests::vector_103_minimal_span`).
pub(crate) fn write_span<P: TOutputProtocol + ?Sized>(p: &mut P, s: &FinishedSpan) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    i64_field(p, 1, s.trace_id.low as i64)?;
    i64_field(p, 2, s.trace_id.high as i64)?;
    i64_field(p, 3, s.span_id as i64)?;
    i64_field(p, 4, s.parent_id as i64)?;
    string_field(p, 5, &s.operation)?;
    struct_list_field(p, 6, &s.references, |p, r| write_span_ref(p, r))?;
    // The whole sampling-state byte, firehose included (jaeger-client-go `jaeger_thrift_span.go`).
    i32_field(p, 7, i32::from(s.flags))?;
    i64_field(p, 8, s.start_us)?;
    i64_field(p, 9, s.duration_us)?;
    struct_list_field(p, 10, &s.tags, |p, t| write_tag(p, t))?;
    struct_list_field(p, 11, &s.logs, |p, l| write_log(p, l))?;
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Writes a `Process`; field 2 (tags) is always present, possibly empty, as jaeger-client-go
/// writes it (checked in `differential_tests::vector_104_process`).
pub(crate) fn write_process<P: TOutputProtocol + ?Sized>(p: &mut P, process: &Process) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    string_field(p, 1, &process.service_name)?;
    struct_list_field(p, 2, &process.tags, |p, t| write_tag(p, t))?;
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Writes a `ClientStats` with its three cumulative counters.
pub(crate) fn write_client_stats<P: TOutputProtocol + ?Sized>(
    p: &mut P,
    stats: &ClientStats,
) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    i64_field(p, 1, stats.full_queue_dropped_spans)?;
    i64_field(p, 2, stats.too_large_dropped_spans)?;
    i64_field(p, 3, stats.failed_to_emit_spans)?;
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Writes everything that precedes the span list's own header: the message header and the
/// `emitBatch_args` field (when a message), the `Batch` struct start, the `process` field
/// whose struct bytes come from `write_process_bytes`, and the `spans` field header.
///
/// `write_process_bytes` splices the cached, already encoded `Process` struct into the
/// output; it is called between protocol calls, so the protocol state stays in step.
pub(crate) fn write_batch_prefix<P: TOutputProtocol + ?Sized>(
    p: &mut P,
    env: &Envelope,
    write_process_bytes: impl FnOnce(),
) -> EncodeResult {
    if let Some(seqid) = env.message_seqid {
        // CALL, not ONEWAY: what jaeger-client-go writes (its Thrift `TStandardClient.Send`).
        p.write_message_begin(&TMessageIdentifier::new(EMIT_BATCH, TMessageType::Call, seqid))?;
        p.write_struct_begin(&STRUCT)?; // emitBatch_args
        field(p, 1, TType::Struct)?;
    }
    p.write_struct_begin(&STRUCT)?; // Batch
    field(p, 1, TType::Struct)?;
    write_process_bytes();
    p.write_field_end()?;
    field(p, 2, TType::List)
}

/// Writes the span list header for `n` struct elements. It does not touch the protocol's
/// field-id state, so it can be written after the prefix and suffix were produced.
pub(crate) fn write_span_list_header<P: TOutputProtocol + ?Sized>(p: &mut P, n: usize) -> EncodeResult {
    p.write_list_begin(&TListIdentifier::new(TType::Struct, list_len(n)))
}

/// Writes everything after the span list: seqNo, stats, the stop bytes and message end.
pub(crate) fn write_batch_suffix<P: TOutputProtocol + ?Sized>(p: &mut P, env: &Envelope) -> EncodeResult {
    p.write_list_end()?;
    p.write_field_end()?;
    if let Some(seq_no) = env.seq_no {
        i64_field(p, 3, seq_no)?;
    }
    if let Some(stats) = &env.stats {
        field(p, 4, TType::Struct)?;
        write_client_stats(p, stats)?;
        p.write_field_end()?;
    }
    p.write_field_stop()?;
    p.write_struct_end()?; // Batch
    if env.message_seqid.is_some() {
        p.write_field_end()?;
        p.write_field_stop()?;
        p.write_struct_end()?; // emitBatch_args
        p.write_message_end()?;
    }
    Ok(())
}

// === the protocol's transport ===

thread_local! {
    /// Where the protocol's bytes go. `Encoder::append` swaps its target `Vec` in for the
    /// length of one call and swaps it back out, so this is empty between calls.
    static SINK: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The protocol's transport: appends to the thread's [`SINK`]. A `TCompactOutputProtocol`
/// offers no access to its transport, so this lets us choose, per call, which buffer the
/// bytes land in, and splice pre-encoded bytes (the cached process) between protocol calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sink;

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        SINK.with(|s| s.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// Appends raw, already encoded bytes to the current target (inside [`Encoder::append`]).
    pub(crate) fn splice(bytes: &[u8]) {
        SINK.with(|s| s.borrow_mut().extend_from_slice(bytes));
    }
}

/// One output protocol, compact or strict binary.
pub(crate) struct Encoder {
    proto: Box<dyn TOutputProtocol>,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Encoder {
    /// A compact (`compact == true`) or strict binary protocol encoder.
    pub(crate) fn new(compact: bool) -> Encoder {
        let proto: Box<dyn TOutputProtocol> = if compact {
            Box::new(TCompactOutputProtocol::new(Sink))
        } else {
            Box::new(TBinaryOutputProtocol::new(Sink, true))
        };
        Encoder { proto }
    }

    /// Runs `f` with the protocol, appending what it writes (and what it [`Sink::splice`]s)
    /// to `out`.
    pub(crate) fn append(
        &mut self,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut dyn TOutputProtocol) -> EncodeResult,
    ) {
        SINK.with(|s| std::mem::swap(&mut *s.borrow_mut(), out));
        let result = f(&mut *self.proto);
        SINK.with(|s| std::mem::swap(&mut *s.borrow_mut(), out));
        result.expect("writing to memory cannot fail");
    }

    /// `f`'s output alone.
    pub(crate) fn bytes(compact: bool, f: impl FnOnce(&mut dyn TOutputProtocol) -> EncodeResult) -> Vec<u8> {
        let mut out = Vec::new();
        Encoder::new(compact).append(&mut out, f);
        out
    }
}

// === the implied tags and reference, expanded as the exporter did before `writer` ===

/// The span as the exporter used to hand it to the encoder: a CHILD_OF reference to the
/// parent inserted first (unless one exists), and all tags in wire order: sampler tags,
/// user tags, metadata tags, `error`.
pub(crate) fn expanded(span: &FinishedSpan) -> FinishedSpan {
    let mut span = span.clone();
    if span.parent_id != 0 && !span.references.iter().any(|r| r.ref_type == RefType::ChildOf) {
        span.references.insert(
            0,
            SpanRef { ref_type: RefType::ChildOf, trace_id: span.trace_id, span_id: span.parent_id },
        );
    }
    let mut all = Vec::with_capacity(span.tags.len() + 7);
    if let Some((sampler_type, param)) = span.sampler.take() {
        all.push(Tag::new("sampler.type", sampler_type));
        all.push(Tag::new("sampler.param", param));
    }
    let has_error_tag = span.tags.iter().any(|t| t.key == "error");
    all.append(&mut span.tags);
    if let Some(meta) = span.metadata.take() {
        if let Some(file) = meta.file() {
            all.push(Tag::new("code.filepath", file));
        }
        if let Some(line) = meta.line() {
            all.push(Tag::new("code.lineno", i64::from(line)));
        }
        if let Some(module) = meta.module_path() {
            all.push(Tag::new("code.namespace", module));
        }
        all.push(Tag::new("level", meta.level().as_str()));
    }
    if std::mem::take(&mut span.error) && !has_error_tag {
        all.push(Tag::new("error", true));
    }
    span.tags = all;
    span
}
