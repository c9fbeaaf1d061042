//! Hand-written Thrift readers for the Jaeger structs (jaeger-idl `thrift/jaeger.thrift`),
//! generic over the input protocol. Used by the public [`receiver`](crate::receiver) module.
//!
//! The readers follow what Apache Thrift's generated code does: unknown fields and fields
//! of an unexpected type are skipped, a missing required field is an error. Strings that are
//! not UTF-8 are decoded lossily rather than rejected. Lengths and counts come from untrusted
//! input, so the protocol is configured to refuse any string or list larger than the input
//! itself, and no capacity is reserved from a count.

use std::borrow::Cow;

use thrift::protocol::{
    TBinaryInputProtocol, TCompactInputProtocol, TFieldIdentifier, TInputProtocol, TMessageType, TType,
};
use thrift::TConfiguration;

use crate::receiver::{DecodeError, ReceivedBatch, ReceivedClientStats, ReceivedProcess, ReceivedSpan};
use crate::span::data::{Log, RefType, SpanRef, Tag, TagValue};
use crate::span::id::TraceId;
use crate::thrift::writer::EMIT_BATCH;

type Result<T> = std::result::Result<T, DecodeError>;

/// Adds the struct being read to a thrift error.
fn ctx(what: &'static str) -> impl FnOnce(thrift::Error) -> DecodeError {
    move |e| DecodeError::new(format!("{what}: {e}"))
}

fn missing(what: &'static str, field: &str) -> DecodeError {
    DecodeError::new(format!("{what}: required field {field} is missing"))
}

/// Limits derived from the input: nothing inside can be longer than the input.
fn config(input_len: usize) -> TConfiguration {
    let len = input_len.max(1);
    TConfiguration::builder()
        .max_message_size(Some(len))
        .max_frame_size(Some(len))
        .max_string_size(Some(len))
        .max_container_size(Some(len))
        .build()
        .unwrap_or_default()
}

/// Decodes an `Agent.emitBatch` message, compact or binary, told apart by the first byte
/// (compact protocol id `0x82`, strict binary version word `0x80 0x01`).
pub(crate) fn decode_datagram(bytes: &[u8]) -> Result<ReceivedBatch> {
    match bytes {
        [0x82, ..] => {
            let mut input = bytes;
            let batch =
                read_emit_batch(&mut TCompactInputProtocol::with_config(&mut input, config(bytes.len())))?;
            finish(batch, input)
        }
        [0x80, 0x01, ..] => {
            let mut input = bytes;
            let batch = read_emit_batch(&mut TBinaryInputProtocol::with_config(
                &mut input,
                true,
                config(bytes.len()),
            ))?;
            finish(batch, input)
        }
        [] => Err(DecodeError::new("empty datagram".into())),
        [b, ..] => Err(DecodeError::new(format!(
            "not a Thrift message: first byte {b:#04x} is neither compact (0x82) nor strict binary (0x80)"
        ))),
    }
}

/// Decodes a bare `Batch` struct in the binary protocol (an HTTP collector body).
pub(crate) fn decode_batch(bytes: &[u8]) -> Result<ReceivedBatch> {
    let mut input = bytes;
    let batch = read_batch(&mut TBinaryInputProtocol::with_config(&mut input, true, config(bytes.len())))?;
    finish(batch, input)
}

fn finish(batch: ReceivedBatch, rest: &[u8]) -> Result<ReceivedBatch> {
    if rest.is_empty() {
        Ok(batch)
    } else {
        Err(DecodeError::new(format!("{} trailing bytes after the message", rest.len())))
    }
}

fn read_emit_batch<P: TInputProtocol>(p: &mut P) -> Result<ReceivedBatch> {
    let msg = p.read_message_begin().map_err(ctx("message header"))?;
    if msg.name != EMIT_BATCH {
        return Err(DecodeError::new(format!("unexpected method {:?}, expected emitBatch", msg.name)));
    }
    // jaeger-client-go writes CALL, other generators ONEWAY; the agent dispatches on the name
    // only, so it accepts both (jaeger-client-go `thrift-gen/agent/agent.go`, `Process`).
    if !matches!(msg.message_type, TMessageType::Call | TMessageType::OneWay) {
        return Err(DecodeError::new(format!("unexpected message type {:?}", msg.message_type)));
    }
    let mut batch = None;
    read_struct(p, "emitBatch_args", |p, f| {
        if f.id == Some(1) && f.field_type == TType::Struct {
            batch = Some(read_batch(p)?);
            Ok(true)
        } else {
            Ok(false)
        }
    })?;
    p.read_message_end().map_err(ctx("message end"))?;
    let mut batch = batch.ok_or_else(|| missing("emitBatch_args", "batch"))?;
    batch.message_seqid = Some(msg.sequence_number);
    Ok(batch)
}

/// Reads one struct: `field` handles a field and returns whether it consumed it; fields it
/// does not consume are skipped.
fn read_struct<P: TInputProtocol>(
    p: &mut P,
    what: &'static str,
    mut field: impl FnMut(&mut P, &TFieldIdentifier) -> Result<bool>,
) -> Result<()> {
    p.read_struct_begin().map_err(ctx(what))?;
    loop {
        let f = p.read_field_begin().map_err(ctx(what))?;
        if f.field_type == TType::Stop {
            break;
        }
        if !field(p, &f)? {
            p.skip(f.field_type).map_err(ctx(what))?;
        }
        p.read_field_end().map_err(ctx(what))?;
    }
    p.read_struct_end().map_err(ctx(what))
}

fn read_list<P: TInputProtocol, T>(
    p: &mut P,
    what: &'static str,
    mut item: impl FnMut(&mut P) -> Result<T>,
) -> Result<Vec<T>> {
    let list = p.read_list_begin().map_err(ctx(what))?;
    if list.element_type != TType::Struct {
        return Err(DecodeError::new(format!("{what}: list of {} instead of structs", list.element_type)));
    }
    // No `with_capacity(size)`: the size is untrusted (the protocol bounds it by the input).
    let mut out = Vec::new();
    for _ in 0..list.size {
        out.push(item(p)?);
    }
    p.read_list_end().map_err(ctx(what))?;
    Ok(out)
}

fn string<P: TInputProtocol>(p: &mut P, what: &'static str) -> Result<String> {
    let bytes = p.read_bytes().map_err(ctx(what))?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn is(f: &TFieldIdentifier, id: i16, ty: TType) -> bool {
    f.id == Some(id) && f.field_type == ty
}

fn read_batch<P: TInputProtocol>(p: &mut P) -> Result<ReceivedBatch> {
    let (mut process, mut spans, mut seq_no, mut stats) = (None, None, None, None);
    read_struct(p, "Batch", |p, f| {
        match f.id {
            Some(1) if is(f, 1, TType::Struct) => process = Some(read_process(p)?),
            Some(2) if is(f, 2, TType::List) => spans = Some(read_list(p, "Batch.spans", read_span)?),
            Some(3) if is(f, 3, TType::I64) => seq_no = Some(p.read_i64().map_err(ctx("Batch.seqNo"))?),
            Some(4) if is(f, 4, TType::Struct) => stats = Some(read_stats(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let process = process.ok_or_else(|| missing("Batch", "process"))?;
    let mut spans: Vec<ReceivedSpan> = spans.ok_or_else(|| missing("Batch", "spans"))?;
    for s in &mut spans {
        s.service_name.clone_from(&process.service_name);
    }
    Ok(ReceivedBatch { process, spans, seq_no, stats, message_seqid: None })
}

fn read_process<P: TInputProtocol>(p: &mut P) -> Result<ReceivedProcess> {
    let (mut service_name, mut tags) = (None, Vec::new());
    read_struct(p, "Process", |p, f| {
        if is(f, 1, TType::String) {
            service_name = Some(string(p, "Process.serviceName")?);
        } else if is(f, 2, TType::List) {
            tags = read_list(p, "Process.tags", read_tag)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(ReceivedProcess { service_name: service_name.ok_or_else(|| missing("Process", "serviceName"))?, tags })
}

fn read_stats<P: TInputProtocol>(p: &mut P) -> Result<ReceivedClientStats> {
    let mut v = [None; 3];
    read_struct(p, "ClientStats", |p, f| match f.id {
        Some(id @ 1..=3) if f.field_type == TType::I64 => {
            v[id as usize - 1] = Some(p.read_i64().map_err(ctx("ClientStats"))?);
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(ReceivedClientStats {
        full_queue_dropped_spans: v[0].ok_or_else(|| missing("ClientStats", "fullQueueDroppedSpans"))?,
        too_large_dropped_spans: v[1].ok_or_else(|| missing("ClientStats", "tooLargeDroppedSpans"))?,
        failed_to_emit_spans: v[2].ok_or_else(|| missing("ClientStats", "failedToEmitSpans"))?,
    })
}

fn read_span<P: TInputProtocol>(p: &mut P) -> Result<ReceivedSpan> {
    // Required i64 fields 1-4, 8, 9 by id.
    let mut ints: [Option<i64>; 10] = [None; 10];
    let (mut op, mut flags) = (None, None);
    let (mut refs, mut tags, mut logs) = (Vec::new(), Vec::new(), Vec::new());
    read_struct(p, "Span", |p, f| {
        match (f.id, f.field_type) {
            (Some(id @ (1..=4 | 8 | 9)), TType::I64) => {
                ints[id as usize] = Some(p.read_i64().map_err(ctx("Span"))?);
            }
            (Some(5), TType::String) => op = Some(string(p, "Span.operationName")?),
            (Some(6), TType::List) => refs = read_list(p, "Span.references", read_span_ref)?,
            (Some(7), TType::I32) => flags = Some(p.read_i32().map_err(ctx("Span.flags"))?),
            (Some(10), TType::List) => tags = read_list(p, "Span.tags", read_tag)?,
            (Some(11), TType::List) => logs = read_list(p, "Span.logs", read_log)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let int = |id: usize, name: &str| ints[id].ok_or_else(|| missing("Span", name));
    Ok(ReceivedSpan {
        trace_id: TraceId::new(int(2, "traceIdHigh")? as u64, int(1, "traceIdLow")? as u64),
        span_id: int(3, "spanId")? as u64,
        parent_id: int(4, "parentSpanId")? as u64,
        operation_name: op.ok_or_else(|| missing("Span", "operationName"))?,
        references: refs,
        flags: flags.ok_or_else(|| missing("Span", "flags"))?,
        start_time_us: int(8, "startTime")?,
        duration_us: int(9, "duration")?,
        tags,
        logs,
        service_name: String::new(),
    })
}

fn read_span_ref<P: TInputProtocol>(p: &mut P) -> Result<SpanRef> {
    let (mut ref_type, mut ints) = (None, [None; 5]);
    read_struct(p, "SpanRef", |p, f| {
        match (f.id, f.field_type) {
            (Some(1), TType::I32) => ref_type = Some(p.read_i32().map_err(ctx("SpanRef"))?),
            (Some(id @ 2..=4), TType::I64) => ints[id as usize] = Some(p.read_i64().map_err(ctx("SpanRef"))?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let ref_type = match ref_type {
        Some(0) => RefType::ChildOf,
        Some(1) => RefType::FollowsFrom,
        Some(other) => return Err(DecodeError::new(format!("SpanRef: unknown refType {other}"))),
        None => return Err(missing("SpanRef", "refType")),
    };
    let int = |id: usize, name: &str| ints[id].ok_or_else(|| missing("SpanRef", name));
    Ok(SpanRef {
        ref_type,
        trace_id: TraceId::new(int(3, "traceIdHigh")? as u64, int(2, "traceIdLow")? as u64),
        span_id: int(4, "spanId")? as u64,
    })
}

fn read_log<P: TInputProtocol>(p: &mut P) -> Result<Log> {
    let (mut timestamp, mut fields) = (None, None);
    read_struct(p, "Log", |p, f| {
        if is(f, 1, TType::I64) {
            timestamp = Some(p.read_i64().map_err(ctx("Log.timestamp"))?);
        } else if is(f, 2, TType::List) {
            fields = Some(read_list(p, "Log.fields", read_tag)?);
        } else {
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(Log {
        timestamp_us: timestamp.ok_or_else(|| missing("Log", "timestamp"))?,
        fields: fields.ok_or_else(|| missing("Log", "fields"))?,
    })
}

#[derive(Default)]
struct RawTag {
    key: Option<String>,
    v_type: Option<i32>,
    v_str: Option<String>,
    v_double: Option<f64>,
    v_bool: Option<bool>,
    v_long: Option<i64>,
    v_binary: Option<Vec<u8>>,
}

fn read_tag<P: TInputProtocol>(p: &mut P) -> Result<Tag> {
    let mut t = RawTag::default();
    read_struct(p, "Tag", |p, f| {
        let e = ctx("Tag");
        match (f.id, f.field_type) {
            (Some(1), TType::String) => t.key = Some(string(p, "Tag.key")?),
            (Some(2), TType::I32) => t.v_type = Some(p.read_i32().map_err(e)?),
            (Some(3), TType::String) => t.v_str = Some(string(p, "Tag.vStr")?),
            (Some(4), TType::Double) => t.v_double = Some(p.read_double().map_err(e)?),
            (Some(5), TType::Bool) => t.v_bool = Some(p.read_bool().map_err(e)?),
            (Some(6), TType::I64) => t.v_long = Some(p.read_i64().map_err(e)?),
            (Some(7), TType::String) => t.v_binary = Some(p.read_bytes().map_err(e)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let key = t.key.ok_or_else(|| missing("Tag", "key"))?;
    let absent = |name: &str| DecodeError::new(format!("Tag {key:?}: vType {name} without its value field"));
    let value = match t.v_type {
        Some(0) => TagValue::String(Cow::Owned(t.v_str.ok_or_else(|| absent("STRING"))?)),
        Some(1) => TagValue::Double(t.v_double.ok_or_else(|| absent("DOUBLE"))?),
        Some(2) => TagValue::Bool(t.v_bool.ok_or_else(|| absent("BOOL"))?),
        Some(3) => TagValue::Long(t.v_long.ok_or_else(|| absent("LONG"))?),
        Some(4) => TagValue::Binary(t.v_binary.ok_or_else(|| absent("BINARY"))?),
        Some(other) => return Err(DecodeError::new(format!("Tag {key:?}: unknown vType {other}"))),
        None => return Err(missing("Tag", "vType")),
    };
    Ok(Tag { key: Cow::Owned(key), value })
}
