//! Hand-written Thrift encoders for the Jaeger structs (facts §1.2), generic over the
//! protocol so the compact (agent port 6831) and binary (port 6832, HTTP collector) encodings
//! share one code path.
//!
//! Every function writes one whole struct: `write_struct_begin` .. `write_struct_end`. A
//! struct's bytes do not depend on where it is nested (the compact protocol restarts its
//! field-id deltas at each struct), which is what lets the batcher encode a span or the
//! process once and splice the bytes into any batch.

use thrift::protocol::{
    TFieldIdentifier, TListIdentifier, TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier,
    TType,
};

use crate::span_data::{ClientStats, FinishedSpan, Log, Process, RefType, SpanRef, Tag, TagValue};

/// The result of writing through a Thrift protocol.
pub(crate) type EncodeResult = thrift::Result<()>;

/// The name of the agent's method (facts §1.1).
pub(crate) const EMIT_BATCH: &str = "emitBatch";

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

/// Writes a `Tag`: key, vType, and only the value field of that type (facts §1.2).
pub(crate) fn write_tag<P: TOutputProtocol + ?Sized>(p: &mut P, tag: &Tag) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    string_field(p, 1, &tag.key)?;
    i32_field(p, 2, tag.value.type_id())?;
    match &tag.value {
        TagValue::String(s) => string_field(p, 3, s)?,
        TagValue::Double(d) => {
            field(p, 4, TType::Double)?;
            p.write_double(*d)?;
            p.write_field_end()?;
        }
        TagValue::Bool(b) => {
            // The compact protocol folds the value into the field header (facts §1.1).
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
/// possibly empty, as the Go client writes them (facts §1.2, vector 103).
pub(crate) fn write_span<P: TOutputProtocol + ?Sized>(p: &mut P, s: &FinishedSpan) -> EncodeResult {
    p.write_struct_begin(&STRUCT)?;
    i64_field(p, 1, s.trace_id.low as i64)?;
    i64_field(p, 2, s.trace_id.high as i64)?;
    i64_field(p, 3, s.span_id as i64)?;
    i64_field(p, 4, s.parent_id as i64)?;
    string_field(p, 5, &s.operation)?;
    struct_list_field(p, 6, &s.references, |p, r| write_span_ref(p, r))?;
    // The whole sampling-state byte, firehose included (facts §1.2).
    i32_field(p, 7, i32::from(s.flags))?;
    i64_field(p, 8, s.start_us)?;
    i64_field(p, 9, s.duration_us)?;
    struct_list_field(p, 10, &s.tags, |p, t| write_tag(p, t))?;
    struct_list_field(p, 11, &s.logs, |p, l| write_log(p, l))?;
    p.write_field_stop()?;
    p.write_struct_end()
}

/// Writes a `Process`; field 2 (tags) is always present, possibly empty (vector 104).
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
        // CALL, not ONEWAY: what the Go client writes (facts §1.1).
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

/// The exact size of the span list header for `n` elements (compact: 1 byte up to 14
/// elements, else 1 + varint; binary: element type + i32), facts §1.1. Must agree with
/// [`write_span_list_header`]; the batcher asserts it in debug builds and the tests check it.
pub(crate) fn span_list_header_len(compact: bool, n: usize) -> usize {
    if !compact {
        return 5;
    }
    if n <= 14 {
        1
    } else {
        1 + varint_len(list_len(n) as u32 as u64)
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[cfg(test)]
pub(crate) mod tests {
    //! Byte-exact vectors of facts §12.1 and the envelope overheads of §12.3. The vectors were
    //! produced by Apache Thrift's own library, so matching them checks our encoder against an
    //! implementation we did not write.
    use super::*;
    use crate::id::TraceId;
    use crate::thrift::{Encoder, Sink};

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    fn compact(f: impl FnOnce(&mut dyn TOutputProtocol) -> EncodeResult) -> Vec<u8> {
        let mut out = Vec::new();
        Encoder::new(true).append(&mut out, f).unwrap();
        out
    }

    pub(crate) fn span_103() -> FinishedSpan {
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
        }
    }

    #[test]
    fn vector_103_minimal_span() {
        let bytes = compact(|p| write_span(p, &span_103()));
        assert_eq!(
            bytes,
            hex("16 02 16 00 16 04 16 00 18 02 6f 70 19 0c 15 02 16 80 89 7a 16 0a 19 0c 19 0c 00")
        );
    }

    #[test]
    fn vector_104_process() {
        let process = Process { service_name: "svc".into(), tags: vec![] };
        assert_eq!(compact(|p| write_process(p, &process)), hex("18 03 73 76 63 19 0c 00"));
    }

    #[test]
    fn vector_106_tags() {
        let cases: Vec<(Tag, &str)> = vec![
            (
                Tag::new("sampler.type", "const"),
                "18 0c 73 61 6d 70 6c 65 72 2e 74 79 70 65 15 00 18 05 63 6f 6e 73 74 00",
            ),
            (Tag::new("sampler.param", true), "18 0d 73 61 6d 70 6c 65 72 2e 70 61 72 61 6d 15 04 31 00"),
            (Tag::new("sampler.param", false), "18 0d 73 61 6d 70 6c 65 72 2e 70 61 72 61 6d 15 04 32 00"),
            (Tag::new("k", -1i64), "18 01 6b 15 06 46 01 00"),
            (Tag::new("k", 0.5), "18 01 6b 15 02 27 00 00 00 00 00 00 e0 3f 00"),
            (Tag::new("k", TagValue::Binary(vec![1, 2])), "18 01 6b 15 08 58 02 01 02 00"),
        ];
        for (tag, expected) in cases {
            assert_eq!(compact(|p| write_tag(p, &tag)), hex(expected), "{tag:?}");
        }
    }

    #[test]
    fn vector_107_span_ref_and_log() {
        let r = SpanRef { ref_type: RefType::FollowsFrom, trace_id: TraceId::new(0, 1), span_id: 2 };
        assert_eq!(compact(|p| write_span_ref(p, &r)), hex("15 02 16 02 16 00 16 04 00"));
        let log = Log { timestamp_us: 1_000_000, fields: vec![Tag::new("event", "x")] };
        assert_eq!(
            compact(|p| write_log(p, &log)),
            hex("16 80 89 7a 19 1c 18 05 65 76 65 6e 74 15 00 18 01 78 00 00")
        );
    }

    /// Total envelope bytes around `n` spans: prefix + list header + suffix, minus the
    /// process, encoded for real (the process spliced in as the batcher does).
    fn overhead(compact: bool, n: usize, env: Envelope) -> usize {
        let process = vec![0u8; 8];
        let mut enc = Encoder::new(compact);
        let mut out = Vec::new();
        enc.append(&mut out, |p| {
            write_batch_prefix(p, &env, || Sink::splice(&process))?;
            write_span_list_header(p, n)?;
            write_batch_suffix(p, &env)
        })
        .unwrap();
        out.len() - process.len()
    }

    #[test]
    fn envelope_overheads_of_facts_12_3() {
        let bare = Envelope { message_seqid: Some(1), seq_no: None, stats: None };
        let max = i64::MAX;
        let full_stats = ClientStats {
            full_queue_dropped_spans: max,
            too_large_dropped_spans: max,
            failed_to_emit_spans: max,
        };
        let full = Envelope { message_seqid: Some(1), seq_no: Some(max), stats: Some(full_stats) };
        let wide_seqid = Envelope { message_seqid: Some(i32::MAX), ..full };
        let table = [(1, 19, 65), (2, 19, 65), (14, 19, 65), (15, 20, 66), (377, 21, 67), (500, 21, 67)];
        let more = [(65000, 22, 68), (65535, 22, 68)];
        for (n, without_stats, with_stats) in table.into_iter().chain(more) {
            assert_eq!(overhead(true, n, bare), without_stats, "n={n} without stats");
            assert_eq!(overhead(true, n, full), with_stats, "n={n} with stats");
            assert_eq!(overhead(true, n, wide_seqid), with_stats + 4, "n={n} with seqid 2^31-1");
        }
    }

    #[test]
    fn list_header_length_matches_the_protocol() {
        for compact in [true, false] {
            for n in [0, 1, 14, 15, 127, 128, 16_383, 16_384, 2_097_152, i32::MAX as usize] {
                let mut out = Vec::new();
                Encoder::new(compact).append(&mut out, |p| write_span_list_header(p, n)).unwrap();
                assert_eq!(out.len(), span_list_header_len(compact, n), "compact={compact} n={n}");
            }
        }
    }
}
