//! Hidden hooks for `benches/encode.rs` (feature `__bench`: unstable, for this repository's
//! benches only; criterion benches see only the public API otherwise): the
//! exporter's encode-and-batch step over prepared spans, with no socket. Not part of the
//! supported API; may change at any time.

use std::sync::Arc;

use super::batch::{root_span, Batcher, WireFormat};
use crate::export::stats::Counters;
use crate::span::data::{FinishedSpan, Process, Tag};

/// `n` spans of the headline workload, and the process they are reported under: what both
/// workloads encode.
fn prepare(n: usize, metadata: &'static tracing_core::Metadata<'static>) -> (Vec<FinishedSpan>, Process) {
    let spans = (0..n as u64).map(|i| root_span(i, metadata)).collect();
    let process = Process {
        service_name: "bench".into(),
        tags: vec![Tag::new("hostname", "box"), Tag::new("jaeger.version", "Rust-0.1.0")],
    };
    (spans, process)
}

/// Prepared spans and a batcher that encodes them into compact `emitBatch` datagrams of at
/// most 65,000 bytes, as the exporter thread does.
#[derive(Debug)]
pub struct Workload {
    spans: Vec<FinishedSpan>,
    batcher: Batcher,
}

impl Workload {
    /// `n` spans of the headline workload: a root span with 3 fields (LONG, STRING, BOOL),
    /// `sampler.type`/`sampler.param` and the 4 metadata tags of `metadata`, about 260
    /// bytes each in compact. `compact` picks the agent's compact or binary protocol.
    pub fn root_spans(n: usize, metadata: &'static tracing_core::Metadata<'static>, compact: bool) -> Self {
        let (spans, process) = prepare(n, metadata);
        let format = if compact { WireFormat::AgentCompact } else { WireFormat::AgentBinary };
        let batcher = Batcher::new(format, process, 65_000, 0, Arc::new(Counters::default()));
        Workload { spans, batcher }
    }

    /// The number of prepared spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no prepared spans.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Pushes every span through the batcher and flushes; returns the bytes "sent".
    pub fn run(&mut self) -> usize {
        let mut bytes = 0;
        let mut send = |d: &[u8]| {
            bytes += d.len();
            Ok(())
        };
        for s in &self.spans {
            self.batcher.push(s, &mut send);
        }
        self.batcher.flush(&mut send);
        bytes
    }
}

/// The same spans as [`Workload::root_spans`] into OTLP `ExportTraceServiceRequest`s of at
/// most 512 spans and 4 MiB (the exporter's defaults), by the exporter's encoder
/// ([`run`](Self::run)) and, as the baseline, by `opentelemetry-proto` structs encoded with
/// `prost` ([`run_prost`](Self::run_prost)).
#[derive(Debug)]
pub struct OtlpWorkload {
    spans: Vec<FinishedSpan>,
    ours: crate::otlp::batch::OtlpBatcher,
    prost: crate::otlp::prost_path::ProstBatcher,
}

impl OtlpWorkload {
    /// `n` spans of the headline workload (as [`Workload::root_spans`]).
    pub fn root_spans(n: usize, metadata: &'static tracing_core::Metadata<'static>) -> Self {
        let (spans, process) = prepare(n, metadata);
        let (size, count) = (4 << 20, 512);
        OtlpWorkload {
            spans,
            ours: crate::otlp::batch::OtlpBatcher::new(&process, size, count, Arc::new(Counters::default())),
            prost: crate::otlp::prost_path::ProstBatcher::new(&process, size, count),
        }
    }

    /// The number of prepared spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no prepared spans.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Encodes every span with the exporter's encoder and flushes; returns the bytes "sent".
    pub fn run(&mut self) -> usize {
        let mut bytes = 0;
        self.each_request_ours(|body| bytes += body.len());
        bytes
    }

    /// Maps every span into `opentelemetry-proto` structs, encodes the requests with
    /// `prost`; returns the bytes "sent".
    pub fn run_prost(&mut self) -> usize {
        let mut bytes = 0;
        self.each_request_prost(|body| bytes += body.len());
        bytes
    }

    /// The request bodies of both ways, for a check that they decode to the same requests.
    pub fn bodies(&mut self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut ours, mut prost) = (Vec::new(), Vec::new());
        self.each_request_ours(|b| ours.push(b.to_vec()));
        self.each_request_prost(|b| prost.push(b.to_vec()));
        (ours, prost)
    }

    fn each_request_ours(&mut self, mut f: impl FnMut(&[u8])) {
        let mut send = |body: &[u8]| {
            f(body);
            crate::otlp::Export::Accepted { rejected: 0, message: None }
        };
        for s in &self.spans {
            self.ours.push(s, &mut send);
        }
        self.ours.flush(&mut send);
    }

    fn each_request_prost(&mut self, mut f: impl FnMut(&[u8])) {
        let mut send = |body: &[u8]| f(body);
        for s in &self.spans {
            self.prost.push(s, &mut send);
        }
        self.prost.flush(&mut send);
    }
}
