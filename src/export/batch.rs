//! Groups finished spans into batches whose encoded size is known exactly, so that a
//! datagram (or HTTP body) never exceeds the configured limit (jaeger-client-go `transport_udp.go`, `transport/http.go`).
//!
//! Each span is encoded once, straight into the open batch's span area. The bytes around the
//! span list (message header, cached process, seqNo, stats, stop bytes) are encoded when the
//! batch is opened, so the size of "this batch plus one more span" is a sum of known lengths
//! and the list header's length: no guess like Go's 70-byte `emitBatchOverhead`, and no
//! re-encoding to measure.

use std::fmt;
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::export::stats::{incr, Counters};
use crate::span::callsite::CallsiteCache;
use crate::span::data::{FinishedSpan, Process, SpanPart};
use crate::thrift::writer::{Envelope, Wire};

/// How often, at most, a dropped too-large span is reported on stderr.
const TOO_LARGE_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// What the batcher produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireFormat {
    /// `Agent.emitBatch` datagrams in the compact protocol (agent port 6831).
    AgentCompact,
    /// `Agent.emitBatch` datagrams in the binary protocol (agent port 6832).
    AgentBinary,
    /// A bare `Batch` in the binary protocol, without seqNo or stats: the body of a POST to
    /// the collector's `/api/traces` (jaeger-client-go `transport/http.go`).
    CollectorBinary,
}

impl WireFormat {
    fn is_agent(self) -> bool {
        !matches!(self, WireFormat::CollectorBinary)
    }

    fn wire(self) -> Wire {
        match self {
            WireFormat::AgentCompact => Wire::Compact,
            WireFormat::AgentBinary | WireFormat::CollectorBinary => Wire::Binary,
        }
    }
}

/// Room before the process in a batch's gap: the message header (protocol id, type and
/// version, `emitBatch`, a 5-byte seqid), the batch and process struct headers, and a list
/// header of at most 6 bytes, in either protocol, with room to spare.
const PREFIX_ROOM: usize = 64;

/// Turns spans into size-bounded batches and hands each encoded batch to a `send` callback.
///
/// Used by one exporter thread at a time; it is `Send` so it can be built elsewhere.
pub(crate) struct Batcher {
    format: WireFormat,
    wire: Wire,
    /// The `Process` struct, encoded once in this batcher's protocol.
    process_bytes: Vec<u8>,
    max_packet_size: usize,
    /// 0 means no limit on the count.
    max_spans_per_batch: usize,
    counters: Arc<Counters>,
    /// The bytes reserved before the spans for the batch's prefix and list header.
    gap: usize,
    /// The gap, then the open batch's spans, encoded back to back; at emit the prefix is
    /// written at the end of the gap and the suffix after the spans, so the datagram is one
    /// contiguous slice and no span is copied.
    pending: Vec<u8>,
    pending_count: usize,
    /// Bytes before and after the span list of the open batch (valid while it has spans).
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    /// The prefix and list header of the batch being sent, assembled before they are put
    /// in the gap; then the span that opens the next batch, while the suffix is in its place.
    out: Vec<u8>,
    /// The metadata tags of the callsites seen, encoded once in `wire`.
    callsites: CallsiteCache,
    /// The last message seqid and `Batch.seqNo` emitted (both start at 1, as in jaeger-client-go
    /// `utils/udp_client.go` and `transport_udp.go`).
    last_seqid: i32,
    last_seq_no: i64,
    last_too_large_report: Option<Instant>,
}

impl fmt::Debug for Batcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("format", &self.format)
            .field("max_packet_size", &self.max_packet_size)
            .field("max_spans_per_batch", &self.max_spans_per_batch)
            .field("pending_spans", &self.pending_count)
            .field("pending_bytes", &(self.pending.len() - self.gap))
            .field("last_seq_no", &self.last_seq_no)
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// A batcher for `format`. Datagrams or bodies never exceed `max_packet_size` bytes;
    /// a batch holds at most `max_spans_per_batch` spans (0 = no count limit).
    pub(crate) fn new(
        format: WireFormat,
        process: Process,
        max_packet_size: usize,
        max_spans_per_batch: usize,
        counters: Arc<Counters>,
    ) -> Batcher {
        let wire = format.wire();
        let mut process_bytes = Vec::new();
        wire.process(&mut process_bytes, &process);
        // The longest prefix: message header and batch begin with the largest seqid, the
        // process, the longest list header (both protocols stay within this bound).
        let gap = process_bytes.len() + PREFIX_ROOM;
        Batcher {
            format,
            wire,
            process_bytes,
            max_packet_size,
            max_spans_per_batch,
            counters,
            gap,
            pending: vec![0; gap],
            pending_count: 0,
            prefix: Vec::new(),
            suffix: Vec::new(),
            out: Vec::new(),
            callsites: CallsiteCache::default(),
            last_seqid: 0,
            last_seq_no: 0,
            last_too_large_report: None,
        }
    }

    /// The number of spans in the open batch (tests check it against the counters).
    #[cfg(all(test, feature = "receiver"))]
    pub(crate) fn pending_spans(&self) -> usize {
        self.pending_count
    }

    /// Encodes one span into the open batch, with its implied tags and CHILD_OF reference
    /// (see `thrift::writer`); emits full batches through `send`.
    pub(crate) fn push(&mut self, span: &FinishedSpan, send: &mut dyn FnMut(&[u8]) -> io::Result<()>) {
        let start = self.pending.len();
        self.wire.span(&mut self.pending, span, &mut self.callsites);
        let span_len = self.pending.len() - start;
        if self.pending_count == 0 {
            self.open_batch();
        }
        if self.batch_size(self.pending_count + 1, self.pending.len() - self.gap) > self.max_packet_size {
            if self.pending_count > 0 {
                // Emit the spans before this one, then start a new batch with it.
                self.emit(start, send);
                self.pending.drain(self.gap..start);
                self.open_batch();
            }
            if self.batch_size(1, span_len) > self.max_packet_size {
                self.pending.truncate(self.gap);
                // One huge span must not pin its buffer for the life of the exporter.
                if self.pending.capacity() > self.max_packet_size.saturating_mul(2) {
                    self.pending.shrink_to(self.max_packet_size);
                }
                self.drop_too_large(span, span_len);
                return;
            }
        }
        self.pending_count += 1;
        if self.max_spans_per_batch != 0 && self.pending_count >= self.max_spans_per_batch {
            self.flush(send);
        }
    }

    /// Emits the open batch, if it has spans (an empty flush consumes no seqNo).
    pub(crate) fn flush(&mut self, send: &mut dyn FnMut(&[u8]) -> io::Result<()>) {
        if self.pending_count > 0 {
            self.emit(self.pending.len(), send);
            self.pending.truncate(self.gap);
        }
    }

    /// The exact encoded size of the open batch's envelope holding `n` spans whose encodings
    /// total `span_bytes`.
    fn batch_size(&self, n: usize, span_bytes: usize) -> usize {
        self.prefix.len() + self.wire.struct_list_len(n) + span_bytes + self.suffix.len()
    }

    /// Encodes the bytes around the span list for the next batch. The seqid and seqNo are
    /// only committed when the batch is emitted; the stats are a snapshot taken now.
    fn open_batch(&mut self) {
        let agent = self.format.is_agent();
        let env = Envelope {
            message_seqid: agent.then(|| self.last_seqid.wrapping_add(1)),
            seq_no: agent.then(|| self.last_seq_no.wrapping_add(1)),
            stats: agent.then(|| self.counters.client_stats()),
        };
        self.prefix.clear();
        self.suffix.clear();
        self.wire.batch_prefix(&mut self.prefix, &env, &self.process_bytes);
        self.wire.batch_suffix(&mut self.suffix, &env);
    }

    /// Sends the spans encoded up to `end` (the gap included) as one batch of
    /// `pending_count` spans; what follows `end` (the span that opens the next batch) stays.
    fn emit(&mut self, end: usize, send: &mut dyn FnMut(&[u8]) -> io::Result<()>) {
        let n = self.pending_count;
        self.pending_count = 0;
        if self.format.is_agent() {
            self.last_seqid = self.last_seqid.wrapping_add(1);
            self.last_seq_no = self.last_seq_no.wrapping_add(1);
        }
        self.out.clear();
        self.out.extend_from_slice(&self.prefix);
        self.wire.struct_list(&mut self.out, n);
        let from = self.gap - self.out.len();
        self.pending[from..self.gap].copy_from_slice(&self.out);
        // The suffix goes after the spans; a span after them (the next batch's first) waits
        // in `out` meanwhile.
        self.out.clear();
        self.out.extend_from_slice(&self.pending[end..]);
        self.pending.truncate(end);
        self.pending.extend_from_slice(&self.suffix);
        let datagram = &self.pending[from..];
        debug_assert_eq!(datagram.len(), self.batch_size(n, end - self.gap), "size accounting is exact");
        let result = if self.counters.held.is_abandoned() {
            // A timed-out shutdown gave up on this thread and counted these spans as
            // abandoned: sending them now could only make that count wrong.
            Ok(None)
        } else if datagram.len() > self.max_packet_size {
            // Unreachable by construction (push checks the exact size); never send a
            // datagram the agent would truncate.
            Err(io::Error::new(io::ErrorKind::InvalidData, "batch exceeds the packet size limit"))
        } else {
            send(datagram).map(Some)
        };
        self.pending.truncate(end);
        self.pending.extend_from_slice(&self.out);
        let result = match result {
            Ok(None) => return,
            Ok(Some(())) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.counters.settle(n as u64, &self.counters.spans_exported);
                incr(&self.counters.packets_sent);
            }
            Err(_) => {
                self.counters.settle(n as u64, &self.counters.spans_failed);
                incr(&self.counters.packets_failed);
            }
        }
    }

    fn drop_too_large(&mut self, span: &FinishedSpan, span_len: usize) {
        self.counters.settle(1, &self.counters.spans_dropped_too_large);
        let now = Instant::now();
        let due =
            self.last_too_large_report.is_none_or(|t| now.duration_since(t) >= TOO_LARGE_REPORT_INTERVAL);
        if due {
            self.last_too_large_report = Some(now);
            let dropped = self.counters.spans_dropped_too_large.load(Relaxed);
            let envelope = self.batch_size(1, 0);
            // stderr, not `tracing`: the exporter must never feed spans back into itself.
            eprintln!(
                "{}",
                too_large_message(
                    &span.operation,
                    span_len,
                    envelope,
                    self.max_packet_size,
                    span.largest_part(),
                    dropped
                )
            );
        }
    }
}

/// The stderr report for a span too large to send even alone, naming what the user can fix:
/// the process and envelope (`envelope_size`, the batch without spans) when they are the
/// larger part, else the span's largest part. Long operation names are cut in the report.
pub(crate) fn too_large_message(
    operation: &str,
    span_size: usize,
    envelope_size: usize,
    limit: usize,
    largest: SpanPart<'_>,
    dropped_so_far: u64,
) -> String {
    const SHOWN: usize = 64;
    let mut end = operation.len().min(SHOWN);
    while !operation.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < operation.len() { "..." } else { "" };
    let mut msg = format!(
        "jaeger-layer: dropped span {:?}{cut}: it encodes to {span_size} bytes, {} with the \
         process and batch envelope, over the limit of {limit} bytes per packet",
        &operation[..end],
        span_size.saturating_add(envelope_size)
    );
    if envelope_size >= span_size {
        msg.push_str(&format!(
            "; the process (service name and process tags) and batch envelope are the larger part \
             ({envelope_size} bytes, leaving {} for the span): shorten the service name or the \
             process tags",
            limit.saturating_sub(envelope_size)
        ));
    } else {
        msg.push_str(&format!("; its largest part is {largest}"));
    }
    msg.push_str(&format!(
        ", or raise the maximum packet size. {dropped_so_far} span(s) dropped as too large so far \
         (reported at most every {}s).",
        TOO_LARGE_REPORT_INTERVAL.as_secs()
    ));
    msg
}

/// Span `i` of the headline workload: a sampled root span with 3 fields (LONG, STRING, BOOL),
/// `sampler.type`/`sampler.param` and the metadata tags of `metadata`, about 260 bytes in
/// compact. The benches' `Workload::root_spans` and the batcher's tests share it.
#[cfg(any(all(test, feature = "receiver"), feature = "__bench"))]
pub(crate) fn root_span(i: u64, metadata: &'static tracing_core::Metadata<'static>) -> FinishedSpan {
    use crate::span::data::{Tag, TagValue, FLAG_SAMPLED};
    FinishedSpan {
        trace_id: crate::span::id::TraceId::new(0, 0x9e37_79b9_7f4a_7c15 ^ i),
        span_id: 0xdead_beef_0000 + i,
        parent_id: 0,
        flags: FLAG_SAMPLED,
        operation: std::borrow::Cow::Borrowed("checkout"),
        references: vec![],
        start_us: 1_700_000_000_000_000 + i as i64,
        duration_us: 12,
        tags: vec![Tag::new("order", i as i64), Tag::new("user", "ada"), Tag::new("paid", true)],
        logs: vec![],
        sampler: Some(("const", TagValue::Bool(true))),
        metadata: Some(metadata),
        error: false,
        trace_state: None,
        dropped_logs: 0,
    }
}

#[cfg(all(test, feature = "receiver"))]
pub(crate) mod tests {
    //! Every emitted datagram is decoded with our decoder (and, in `thrift::tests`,
    //! with jaeger-client-python's) and checked against what was pushed.
    use std::borrow::Cow;

    use super::*;
    use crate::receiver::{decode_batch, decode_datagram, ReceivedBatch, ReceivedSpan};
    use crate::span::data::{Log, RefType, SpanRef, Tag, TagValue, FLAG_DEBUG, FLAG_SAMPLED};
    /// Jaeger's firehose flag (jaeger-client-go `span_context.go`): the layer never sets it,
    /// but the encoder must carry the whole flags byte.
    const FLAG_FIREHOSE: u8 = 0x08;
    use crate::span::id::TraceId;
    use crate::test_support::fixtures::{minimal_span, real_metadata, Rng, BARE_METADATA};
    use crate::thrift::reference::expanded;

    const FORMATS: [WireFormat; 3] =
        [WireFormat::AgentCompact, WireFormat::AgentBinary, WireFormat::CollectorBinary];

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    fn process() -> Process {
        Process {
            service_name: "svc".into(),
            tags: vec![Tag::new("hostname", "box"), Tag::new("jaeger.version", "Rust-0.1.0")],
        }
    }

    fn batcher(format: WireFormat, max: usize, max_spans: usize) -> (Batcher, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (Batcher::new(format, process(), max, max_spans, Arc::clone(&counters)), counters)
    }

    fn decode(format: WireFormat, bytes: &[u8]) -> ReceivedBatch {
        match format {
            WireFormat::CollectorBinary => decode_batch(bytes),
            _ => decode_datagram(bytes),
        }
        .unwrap_or_else(|e| panic!("{format:?}: {e}"))
    }

    /// A span with every tag type, logs, references, and ids chosen to hit the sign bit;
    /// some have sampler, metadata and error tags or a parent without a CHILD_OF reference
    /// to be implied by the encoder.
    pub(crate) fn rich_span(i: u64, rng: &mut Rng) -> FinishedSpan {
        let wide = i % 2 == 0;
        let pad = "x".repeat(rng.below(200) as usize);
        FinishedSpan {
            trace_id: TraceId::new(if wide { u64::MAX - i } else { 0 }, (1 << 63) + i),
            span_id: u64::MAX - i * 7,
            parent_id: if i % 3 == 0 { 0 } else { i },
            flags: [FLAG_SAMPLED, FLAG_SAMPLED | FLAG_DEBUG, FLAG_SAMPLED | FLAG_FIREHOSE][i as usize % 3],
            operation: Cow::Owned(format!("op-{i}-ü")),
            references: (0..i % 3)
                .map(|k| SpanRef {
                    ref_type: if k == 1 { RefType::ChildOf } else { RefType::FollowsFrom },
                    trace_id: TraceId::new(k, u64::MAX - k),
                    span_id: (1 << 63) | k,
                })
                .collect(),
            start_us: 1_700_000_000_000_000 + i as i64,
            duration_us: rng.below(1_000_000) as i64,
            tags: vec![
                Tag::new("s", format!("v{i} {pad} ✓")),
                Tag::new("d", -1.5e-300 * i as f64),
                Tag::new("b", i % 2 == 1),
                Tag::new("l", i64::MIN + i as i64),
                Tag::new("bin", TagValue::Binary(vec![0xff, 0x00, i as u8])),
            ],
            logs: (0..i % 4)
                .map(|k| Log {
                    timestamp_us: 1_700_000_000_000_000 + k as i64,
                    fields: vec![Tag::new("event", "x"), Tag::new("n", k as i64)],
                })
                .collect(),
            sampler: match i % 4 {
                0 => Some(("probabilistic", TagValue::Double(0.25))),
                1 => Some(("const", TagValue::Bool(true))),
                _ => None,
            },
            metadata: match i % 5 {
                0 | 1 => Some(real_metadata()),
                2 => Some(&BARE_METADATA),
                _ => None,
            },
            error: i % 7 < 3,
            trace_state: None,
            dropped_logs: 0,
        }
    }

    /// A small span of random size, up to a sixth of `max`: alone it always fits `max`.
    fn sized_span(i: u64, rng: &mut Rng, max: usize) -> FinishedSpan {
        let mut s = minimal_span();
        s.span_id = (1 << 63) + i;
        s.trace_id = TraceId::new(i, u64::MAX - i);
        s.tags.push(Tag::new("s", "x".repeat(rng.below(max as u64 / 6) as usize)));
        if rng.below(4) == 0 {
            s.logs.push(Log { timestamp_us: i as i64, fields: vec![Tag::new("k", i as i64)] });
        }
        s
    }

    /// `got` decodes to `sent` with its implied tags and CHILD_OF reference (`expanded` is
    /// the test reference for those).
    pub(crate) fn assert_same(sent: &FinishedSpan, got: &ReceivedSpan) {
        let sent = &expanded(sent);
        assert_eq!(got.trace_id, sent.trace_id);
        assert_eq!(got.span_id, sent.span_id);
        assert_eq!(got.parent_id, sent.parent_id);
        assert_eq!(got.operation_name, sent.operation);
        assert_eq!(got.references, sent.references);
        assert_eq!(got.flags, i32::from(sent.flags));
        assert_eq!(got.start_time_us, sent.start_us);
        assert_eq!(got.duration_us, sent.duration_us);
        assert_eq!(got.tags, sent.tags);
        assert_eq!(got.logs, sent.logs);
        assert_eq!(got.service_name, "svc");
    }

    /// Pushes `spans`, flushes, and returns every emitted buffer.
    fn run(b: &mut Batcher, spans: &[FinishedSpan]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut send = |bytes: &[u8]| {
            out.push(bytes.to_vec());
            Ok(())
        };
        for s in spans {
            b.push(s, &mut send);
        }
        b.flush(&mut send);
        out
    }

    #[test]
    fn a_minimal_batch_encodes_to_the_64_byte_datagram_of_jaeger_idl() {
        let (mut b, _) = batcher(WireFormat::AgentCompact, 65_000, 0);
        b = Batcher { process_bytes: hex("18 03 73 76 63 19 0c 00"), ..b };
        let out = run(&mut b, &[minimal_span()]);
        let expected = hex("82 21 01 09 65 6d 69 74 42 61 74 63 68 1c 1c 18 03 73 76 63 19 0c 00 19 1c \
             16 02 16 00 16 04 16 00 18 02 6f 70 19 0c 15 02 16 80 89 7a 16 0a 19 0c 19 0c 00 \
             16 02 1c 16 00 16 00 16 00 00 00 00");
        assert_eq!(out, vec![expected]);
    }

    #[test]
    fn a_minimal_collector_body_is_138_bytes_without_seq_no_or_stats() {
        let counters = Arc::new(Counters::default());
        let p = Process { service_name: "svc".into(), tags: vec![] };
        let mut b = Batcher::new(WireFormat::CollectorBinary, p, 65_000, 100, counters);
        let out = run(&mut b, &[minimal_span()]);
        assert_eq!(out.len(), 1);
        let body = &out[0];
        assert_eq!(body.len(), 138);
        let start =
            hex("0c 00 01 0b 00 01 00 00 00 03 73 76 63 0f 00 02 0c 00 00 00 00 00 0f 00 02 0c 00 00 00 01 \
             0a 00 01 00 00 00 00 00 00 00 01");
        assert_eq!(&body[..start.len()], &start[..]);
        assert!(body.ends_with(&hex("0f 00 0b 0c 00 00 00 00 00 00")));
        let batch = decode_batch(body).unwrap();
        assert_eq!((batch.seq_no, batch.stats, batch.message_seqid), (None, None, None));
    }

    #[test]
    fn rich_spans_round_trip_in_every_format_with_implied_tags_and_stats() {
        let mut rng = Rng(1);
        let spans: Vec<_> = (0..40).map(|i| rich_span(i, &mut rng)).collect();
        for format in FORMATS {
            let (mut b, counters) = batcher(format, 65_000, 0);
            counters.spans_dropped_queue_full.store(3, Relaxed);
            let out = run(&mut b, &spans);
            assert_eq!(out.len(), 1, "{format:?}: 40 spans fit one batch");
            let batch = decode(format, &out[0]);
            assert_eq!(batch.process.service_name, "svc");
            assert_eq!(batch.process.tags, process().tags);
            assert_eq!(batch.spans.len(), spans.len());
            for (sent, got) in spans.iter().zip(&batch.spans) {
                assert_same(sent, got);
            }
            if format == WireFormat::CollectorBinary {
                assert_eq!((batch.seq_no, batch.stats, batch.message_seqid), (None, None, None));
            } else {
                assert_eq!((batch.seq_no, batch.message_seqid), (Some(1), Some(1)));
                assert_eq!(batch.stats.unwrap().full_queue_dropped_spans, 3);
            }
        }
    }

    /// Random-ish spans, some too large, some sends failing: every packet fits and decodes,
    /// no span is lost or duplicated, sequence numbers count up, the stats travel, and the
    /// counters account for every span.
    #[test]
    fn batches_never_exceed_the_limit_and_account_for_every_span() {
        for format in FORMATS {
            for (max, max_spans) in [(300, 0), (1000, 0), (1000, 3), (9216, 0), (65_000, 0), (65_000, 100)] {
                // Binary spans and envelopes are larger: 300 bytes would hold hardly any span.
                let max = if format == WireFormat::AgentCompact { max } else { max.max(450) };
                let mut rng = Rng(max as u64 ^ max_spans as u64);
                let (mut b, counters) = batcher(format, max, max_spans);
                let mut spans: Vec<FinishedSpan> = (0..300).map(|i| sized_span(i, &mut rng, max)).collect();
                // A few too large for any limit here.
                for i in [5, 77, 150] {
                    spans[i].tags.push(Tag::new("payload", "y".repeat(70_000)));
                }
                let mut packets: Vec<(Vec<u8>, bool)> = Vec::new();
                let mut sends = 0u64;
                let mut send = |bytes: &[u8]| {
                    sends += 1;
                    // Every 7th send fails, as a refused datagram would.
                    let ok = sends % 7 != 0;
                    packets.push((bytes.to_vec(), ok));
                    if ok {
                        Ok(())
                    } else {
                        Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
                    }
                };
                for s in &spans {
                    // As the worker does: claim the span, then hand it to the batcher, which
                    // settles it when it is sent, fails or is too large.
                    assert!(counters.held.take(1));
                    b.push(s, &mut send);
                    assert_eq!(counters.held.count(), b.pending_spans() as u64);
                }
                b.flush(&mut send);
                let ctx = format!("{format:?} max={max} max_spans={max_spans}");

                let mut received: Vec<ReceivedSpan> = Vec::new();
                let (mut ok_spans, mut failed_spans) = (0u64, 0u64);
                let mut last_stats = None;
                for (i, (bytes, ok)) in packets.iter().enumerate() {
                    assert!(bytes.len() <= max, "{ctx}: packet of {} bytes", bytes.len());
                    let batch = decode(format, bytes);
                    assert!(!batch.spans.is_empty(), "{ctx}: empty batch");
                    if max_spans != 0 {
                        assert!(batch.spans.len() <= max_spans, "{ctx}");
                    }
                    if format == WireFormat::CollectorBinary {
                        assert_eq!(batch.seq_no, None);
                    } else {
                        assert_eq!(batch.seq_no, Some(i as i64 + 1), "{ctx}");
                        assert_eq!(batch.message_seqid, Some(i as i32 + 1), "{ctx}");
                        let stats = batch.stats.unwrap();
                        // Snapshotted when the batch opened: failures before it are in it.
                        assert_eq!(stats.failed_to_emit_spans as u64, failed_spans, "{ctx} batch {i}");
                        if let Some(prev) = last_stats.replace(stats) {
                            assert!(stats.too_large_dropped_spans >= prev.too_large_dropped_spans);
                        }
                    }
                    if *ok {
                        ok_spans += batch.spans.len() as u64;
                    } else {
                        failed_spans += batch.spans.len() as u64;
                    }
                    received.extend(batch.spans);
                }
                let expected: Vec<&FinishedSpan> = spans
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| ![5, 77, 150].contains(i))
                    .map(|(_, s)| s)
                    .collect();
                assert_eq!(received.len(), expected.len(), "{ctx}");
                for (sent, got) in expected.iter().zip(&received) {
                    assert_same(sent, got);
                }
                let g = |c: &std::sync::atomic::AtomicU64| c.load(Relaxed);
                assert_eq!(g(&counters.spans_dropped_too_large), 3, "{ctx}");
                assert_eq!(g(&counters.spans_exported), ok_spans, "{ctx}");
                assert_eq!(g(&counters.spans_failed), failed_spans, "{ctx}");
                assert_eq!(counters.held.count(), 0, "{ctx}");
                assert_eq!(ok_spans + failed_spans + 3, spans.len() as u64, "{ctx}");
                let failed_packets = packets.iter().filter(|(_, ok)| !ok).count() as u64;
                assert_eq!(g(&counters.packets_failed), failed_packets, "{ctx}");
                assert_eq!(g(&counters.packets_sent), packets.len() as u64 - failed_packets, "{ctx}");
            }
        }
    }

    #[test]
    fn a_span_exactly_filling_the_limit_is_sent() {
        for format in FORMATS {
            let (probe, _) = batcher(format, usize::MAX, 0);
            let mut one = Batcher { ..probe };
            let out = run(&mut one, &[minimal_span()]);
            let exact = out[0].len();

            let (mut b, counters) = batcher(format, exact, 0);
            let out = run(&mut b, &[minimal_span()]);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].len(), exact, "{format:?}");
            assert_eq!(decode(format, &out[0]).spans.len(), 1);
            assert_eq!(counters.spans_exported.load(Relaxed), 1);

            let (mut b, counters) = batcher(format, exact - 1, 0);
            assert!(counters.held.take(1));
            assert!(run(&mut b, &[minimal_span()]).is_empty());
            assert_eq!(counters.spans_dropped_too_large.load(Relaxed), 1, "{format:?}");
            assert_eq!(counters.held.count(), 0);
        }
    }

    #[test]
    fn two_spans_exactly_filling_the_limit_share_a_packet() {
        for format in FORMATS {
            let (mut probe, _) = batcher(format, usize::MAX, 0);
            let two = run(&mut probe, &[minimal_span(), minimal_span()])[0].len();
            let (mut b, _) = batcher(format, two, 0);
            let out = run(&mut b, &[minimal_span(), minimal_span(), minimal_span()]);
            let sizes: Vec<usize> = out.iter().map(Vec::len).collect();
            assert_eq!(sizes[0], two, "{format:?}");
            assert_eq!(out.len(), 2);
            assert_eq!(decode(format, &out[0]).spans.len(), 2);
            assert_eq!(decode(format, &out[1]).spans.len(), 1);
        }
    }

    #[test]
    fn a_too_large_span_is_dropped_and_its_neighbours_go_through() {
        let mut rng = Rng(9);
        let a = rich_span(1, &mut rng);
        let mut huge = rich_span(2, &mut rng);
        huge.tags.push(Tag::new("payload", "z".repeat(70_000)));
        let c = rich_span(3, &mut rng);
        let (mut b, counters) = batcher(WireFormat::AgentCompact, 65_000, 0);
        let out = run(&mut b, &[a.clone(), huge, c.clone()]);
        let spans: Vec<ReceivedSpan> = out.iter().flat_map(|d| decode_datagram(d).unwrap().spans).collect();
        assert_eq!(spans.len(), 2);
        assert_same(&a, &spans[0]);
        assert_same(&c, &spans[1]);
        assert_eq!(counters.spans_dropped_too_large.load(Relaxed), 1);
        assert_eq!(counters.spans_exported.load(Relaxed), 2);
        assert!(b.pending.capacity() <= 2 * 65_000, "the huge span's buffer was released");
    }

    #[test]
    fn an_empty_flush_sends_nothing_and_consumes_no_seq_no() {
        let (mut b, counters) = batcher(WireFormat::AgentCompact, 65_000, 0);
        assert!(run(&mut b, &[]).is_empty());
        let out = run(&mut b, &[minimal_span()]);
        assert_eq!(decode_datagram(&out[0]).unwrap().seq_no, Some(1));
        assert_eq!(counters.packets_sent.load(Relaxed), 1);
    }

    #[test]
    fn a_packet_limit_below_the_envelope_drops_without_panicking() {
        for format in FORMATS {
            let (mut b, counters) = batcher(format, 10, 0);
            assert!(run(&mut b, &[minimal_span(), minimal_span()]).is_empty());
            assert_eq!(counters.spans_dropped_too_large.load(Relaxed), 2);
        }
    }

    #[test]
    fn too_large_message_names_what_to_fix() {
        let msg = too_large_message("upload", 70_100, 64, 65_000, SpanPart::Tag("payload", 70_000), 4);
        for part in [
            "\"upload\"",
            "70100 bytes",
            "70164",
            "65000 bytes",
            "its largest part is tag \"payload\" (a 70000-byte value): shorten it",
            "raise the maximum packet size",
            "4 span(s)",
        ] {
            assert!(msg.contains(part), "{part:?} missing in {msg}");
        }
        let msg = too_large_message("many", 70_100, 64, 65_000, SpanPart::Logs(5000, 69_000), 1);
        assert!(msg.contains("its largest part is its 5000 logs (about 69000 bytes): record fewer"), "{msg}");
        // The process is the big part: say so, whatever the span's largest field is.
        let msg = too_large_message("small", 200, 64_900, 65_000, SpanPart::Tag("level", 4), 1);
        assert!(!msg.contains("\"level\""), "{msg}");
        for part in ["process (service name and process tags)", "(64900 bytes, leaving 100 for the span)"] {
            assert!(msg.contains(part), "{part:?} missing in {msg}");
        }
        // A huge operation name is not echoed whole.
        let long = "o".repeat(10_000);
        let msg = too_large_message(&long, 70_000, 64, 65_000, SpanPart::Operation(10_000), 1);
        assert!(msg.len() < 500 && msg.contains("the operation name (10000 bytes)"), "{msg}");
        // From a real span: the batcher names the culprit it measured.
        let mut huge = minimal_span();
        huge.tags.push(Tag::new("small", "s"));
        huge.logs.push(Log { timestamp_us: 0, fields: vec![Tag::new("big", "b".repeat(99))] });
        assert_eq!(huge.largest_part(), SpanPart::LogField("big", 99));
    }

    #[test]
    fn too_large_reports_are_rate_limited() {
        let mut huge = minimal_span();
        huge.tags.push(Tag::new("payload", "z".repeat(2_000)));
        let (mut b, counters) = batcher(WireFormat::AgentCompact, 1_000, 0);
        assert!(b.last_too_large_report.is_none());
        assert!(run(&mut b, &[huge.clone()]).is_empty());
        let first = b.last_too_large_report.expect("the first drop is reported");
        assert!(run(&mut b, &[huge.clone(), huge]).is_empty());
        // Counted every time, reported once within the interval.
        assert_eq!(b.last_too_large_report, Some(first));
        assert_eq!(counters.spans_dropped_too_large.load(Relaxed), 3);
    }

    fn rounds() -> usize {
        std::env::var("JL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
    }

    fn workloads() -> [(&'static str, Vec<FinishedSpan>); 2] {
        let mut rng = Rng(7);
        let meta = real_metadata();
        [
            ("root+3 fields+sampler+metadata", (0..1_000).map(|i| root_span(i, meta)).collect()),
            ("rich (5 tags, logs, refs)", (0..1_000).map(|i| rich_span(i, &mut rng)).collect()),
        ]
    }

    /// Throughput of the batcher (what the exporter thread does per span), every format:
    /// `JL_ROUNDS=200 cargo test --release --lib bench_encode -- --ignored --nocapture`.
    /// The criterion version over the public hooks is `benches/encode.rs`.
    #[test]
    #[ignore = "measurement; run in release"]
    fn bench_encode_throughput() {
        for (name, spans) in workloads() {
            for format in FORMATS {
                let (mut b, counters) = batcher(format, 65_000, 0);
                let (mut bytes, mut packets) = (0usize, 0usize);
                let mut send = |d: &[u8]| {
                    bytes += d.len();
                    packets += 1;
                    Ok(())
                };
                let rounds = rounds();
                let start = Instant::now();
                for _ in 0..rounds {
                    for s in &spans {
                        b.push(s, &mut send);
                    }
                }
                b.flush(&mut send);
                let secs = start.elapsed().as_secs_f64();
                let n = (rounds * spans.len()) as f64;
                assert_eq!(counters.spans_exported.load(Relaxed), n as u64);
                println!(
                    "{name}, {format:?}: {:.2} M spans/s, {:.0} MB/s, {:.0} ns/span, {} B/span, {packets} packets",
                    n / secs / 1e6,
                    bytes as f64 / secs / 1e6,
                    secs * 1e9 / n,
                    bytes / n as usize
                );
            }
        }
    }

    /// Old against new in one run: encoding alone (one span into a reused buffer), the
    /// `thrift`-crate reference given spans already expanded (so its figure leaves out the
    /// expansion the old exporter also paid for) against `thrift::writer`.
    #[test]
    #[ignore = "measurement; run in release"]
    fn bench_encode_old_vs_new() {
        use crate::thrift::reference::{write_span, Encoder};
        use crate::thrift::writer::Wire;
        for (name, spans) in workloads() {
            let expanded_spans: Vec<FinishedSpan> = spans.iter().map(expanded).collect();
            for (wire, compact) in [(Wire::Compact, true), (Wire::Binary, false)] {
                let rounds = rounds();
                let n = (rounds * spans.len()) as f64;
                let mut out = Vec::with_capacity(65_000);
                let start = Instant::now();
                let mut enc = Encoder::new(compact);
                for _ in 0..rounds {
                    for s in &expanded_spans {
                        out.clear();
                        enc.append(&mut out, |p| write_span(p, s));
                    }
                }
                let old = start.elapsed().as_secs_f64();
                let start = Instant::now();
                for _ in 0..rounds {
                    for s in &spans {
                        out.clear();
                        wire.span(&mut out, s, &mut Default::default());
                    }
                }
                let new = start.elapsed().as_secs_f64();
                std::hint::black_box(&out);
                println!(
                    "{name}, {wire:?} span encode: thrift crate {:.2} M spans/s ({:.0} ns), writer {:.2} M spans/s ({:.0} ns), x{:.1}",
                    n / old / 1e6,
                    old * 1e9 / n,
                    n / new / 1e6,
                    new * 1e9 / n,
                    old / new
                );
            }
        }
    }

    /// For callgrind (`--toggle-collect='*Batcher*push*'`): JL_ROUNDS × 1,000 headline
    /// spans through a compact batcher, nothing else.
    #[test]
    #[ignore = "measurement; run in release under callgrind"]
    fn bench_headline_pushes() {
        let meta = real_metadata();
        let spans: Vec<FinishedSpan> = (0..1_000).map(|i| root_span(i, meta)).collect();
        let (mut b, counters) = batcher(WireFormat::AgentCompact, 65_000, 0);
        let mut send = |_: &[u8]| Ok(());
        let rounds = rounds();
        for _ in 0..rounds {
            for s in &spans {
                b.push(s, &mut send);
            }
        }
        b.flush(&mut send);
        assert_eq!(counters.spans_exported.load(Relaxed), (rounds * spans.len()) as u64);
    }

    #[test]
    fn batcher_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Batcher>();
    }
}
