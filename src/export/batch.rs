//! Groups finished spans into batches whose encoded size is known exactly, so that a
//! datagram (or HTTP body) never exceeds the configured limit (facts §1.3, §2).
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

use crate::span_data::{FinishedSpan, Process};
use crate::stats::{add, incr, Counters};
use crate::thrift::encode::{self, Envelope};
use crate::thrift::{Encoder, Sink};

/// How often, at most, a dropped too-large span is reported on stderr.
const TOO_LARGE_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// What the batcher produces.
#[allow(dead_code)] // constructed by the exporter thread (merged separately)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireFormat {
    /// `Agent.emitBatch` datagrams in the compact protocol (agent port 6831).
    AgentCompact,
    /// `Agent.emitBatch` datagrams in the binary protocol (agent port 6832).
    AgentBinary,
    /// A bare `Batch` in the binary protocol, without seqNo or stats: the body of a POST to
    /// the collector's `/api/traces` (facts §2, vector 108).
    CollectorBinary,
}

impl WireFormat {
    fn is_agent(self) -> bool {
        !matches!(self, WireFormat::CollectorBinary)
    }
}

/// Turns spans into size-bounded batches and hands each encoded batch to a `send` callback.
///
/// Used by one exporter thread at a time; it is `Send` so it can be built elsewhere.
#[allow(dead_code)] // driven by the exporter thread (merged separately)
pub(crate) struct Batcher {
    format: WireFormat,
    enc: Encoder,
    /// The `Process` struct, encoded once in this batcher's protocol.
    process_bytes: Vec<u8>,
    max_packet_size: usize,
    /// 0 means no limit on the count.
    max_spans_per_batch: usize,
    counters: Arc<Counters>,
    /// The open batch's spans, encoded back to back.
    pending: Vec<u8>,
    pending_count: usize,
    /// Bytes before and after the span list of the open batch (valid while it has spans).
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    /// The datagram being assembled, reused.
    out: Vec<u8>,
    /// The last message seqid and `Batch.seqNo` emitted (both start at 1, facts §1.1/§1.3).
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
            .field("pending_bytes", &self.pending.len())
            .field("last_seq_no", &self.last_seq_no)
            .finish_non_exhaustive()
    }
}

#[allow(dead_code)] // driven by the exporter thread (merged separately)
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
        let mut enc = Encoder::new(format == WireFormat::AgentCompact);
        let mut process_bytes = Vec::new();
        // Writing to memory cannot fail; if it somehow did, the batches would carry an
        // empty process struct rather than the exporter panicking.
        if enc.append(&mut process_bytes, |p| encode::write_process(p, &process)).is_err() {
            process_bytes = vec![0];
        }
        Batcher {
            format,
            enc,
            process_bytes,
            max_packet_size,
            max_spans_per_batch,
            counters,
            pending: Vec::new(),
            pending_count: 0,
            prefix: Vec::new(),
            suffix: Vec::new(),
            out: Vec::new(),
            last_seqid: 0,
            last_seq_no: 0,
            last_too_large_report: None,
        }
    }

    /// The number of spans in the open batch.
    pub(crate) fn pending_spans(&self) -> usize {
        self.pending_count
    }

    /// Encodes one span into the open batch; emits full batches through `send`.
    pub(crate) fn push(&mut self, span: &FinishedSpan, send: &mut dyn FnMut(&[u8]) -> io::Result<()>) {
        let start = self.pending.len();
        if self.enc.append(&mut self.pending, |p| encode::write_span(p, span)).is_err() {
            // Cannot happen when writing to memory; counted so that the totals still add up.
            self.pending.truncate(start);
            incr(&self.counters.spans_failed);
            return;
        }
        let span_len = self.pending.len() - start;
        if self.pending_count == 0 {
            self.open_batch();
        }
        if self.batch_size(self.pending_count + 1, self.pending.len()) > self.max_packet_size {
            if self.pending_count > 0 {
                // Emit the spans before this one, then start a new batch with it.
                self.emit(start, send);
                self.pending.drain(..start);
                self.open_batch();
            }
            if self.batch_size(1, span_len) > self.max_packet_size {
                self.pending.clear();
                self.drop_too_large(span, span_len);
                return;
            }
        }
        self.pending_count += 1;
        incr(&self.counters.spans_in_batch);
        if self.max_spans_per_batch != 0 && self.pending_count >= self.max_spans_per_batch {
            self.flush(send);
        }
    }

    /// Emits the open batch, if it has spans (an empty flush consumes no seqNo).
    pub(crate) fn flush(&mut self, send: &mut dyn FnMut(&[u8]) -> io::Result<()>) {
        if self.pending_count > 0 {
            self.emit(self.pending.len(), send);
            self.pending.clear();
        }
    }

    /// The exact encoded size of the open batch's envelope holding `n` spans whose encodings
    /// total `span_bytes`.
    fn batch_size(&self, n: usize, span_bytes: usize) -> usize {
        self.prefix.len()
            + encode::span_list_header_len(self.enc.is_compact(), n)
            + span_bytes
            + self.suffix.len()
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
        let process = &self.process_bytes;
        let prefix = self
            .enc
            .append(&mut self.prefix, |p| encode::write_batch_prefix(p, &env, || Sink::splice(process)));
        let suffix = self.enc.append(&mut self.suffix, |p| encode::write_batch_suffix(p, &env));
        debug_assert!(prefix.is_ok() && suffix.is_ok(), "writing to memory cannot fail");
    }

    /// Sends the first `n_bytes` of the span area as one batch of `pending_count` spans.
    fn emit(&mut self, n_bytes: usize, send: &mut dyn FnMut(&[u8]) -> io::Result<()>) {
        let n = self.pending_count;
        self.pending_count = 0;
        self.counters.spans_in_batch.fetch_sub(n as u64, Relaxed);
        if self.format.is_agent() {
            self.last_seqid = self.last_seqid.wrapping_add(1);
            self.last_seq_no = self.last_seq_no.wrapping_add(1);
        }
        self.out.clear();
        self.out.extend_from_slice(&self.prefix);
        let header = self.enc.append(&mut self.out, |p| encode::write_span_list_header(p, n));
        self.out.extend_from_slice(&self.pending[..n_bytes]);
        self.out.extend_from_slice(&self.suffix);
        debug_assert_eq!(self.out.len(), self.batch_size(n, n_bytes), "size accounting is exact");
        let result = if header.is_err() || self.out.len() > self.max_packet_size {
            // Unreachable by construction (push checks the exact size); never send a
            // datagram the agent would truncate.
            Err(io::Error::new(io::ErrorKind::InvalidData, "batch exceeds the packet size limit"))
        } else {
            send(&self.out)
        };
        match result {
            Ok(()) => {
                add(&self.counters.spans_exported, n as u64);
                incr(&self.counters.packets_sent);
            }
            Err(_) => {
                add(&self.counters.spans_failed, n as u64);
                incr(&self.counters.packets_failed);
            }
        }
    }

    fn drop_too_large(&mut self, span: &FinishedSpan, span_len: usize) {
        incr(&self.counters.spans_dropped_too_large);
        let now = Instant::now();
        let due =
            self.last_too_large_report.map_or(true, |t| now.duration_since(t) >= TOO_LARGE_REPORT_INTERVAL);
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
                    span.largest_field(),
                    dropped
                )
            );
        }
    }
}

#[allow(dead_code)] // called by the batcher above
/// The stderr report for a span too large to send even alone, naming what the user can fix.
pub(crate) fn too_large_message(
    operation: &str,
    span_size: usize,
    envelope_size: usize,
    limit: usize,
    largest_field: Option<(&str, usize)>,
    dropped_so_far: u64,
) -> String {
    let mut msg = format!(
        "jaeger-layer: dropped span {operation:?}: it encodes to {span_size} bytes, {} with the \
         process and batch envelope, over the limit of {limit} bytes per packet",
        span_size + envelope_size
    );
    match largest_field {
        Some((key, len)) if len > 0 => {
            msg.push_str(&format!("; its largest field is {key:?} ({len} bytes): shorten it"));
        }
        _ => msg.push_str("; it has many tags or logs: record fewer"),
    }
    msg.push_str(&format!(
        " or raise the maximum packet size. {dropped_so_far} span(s) dropped as too large so far \
         (reported at most every {}s).",
        TOO_LARGE_REPORT_INTERVAL.as_secs()
    ));
    msg
}
