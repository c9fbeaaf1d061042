//! What the per-span benches share: the floor's no-op layer, our layer on a loopback sink,
//! and the timed-bursts loop (timed work, then an untimed flush so the exporter keeps up).

#![allow(dead_code)]

pub mod minimal;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jaeger_layer::{ExporterGuard, JaegerLayer, Sampler};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tracing::Dispatch;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::prelude::*;
use tracing_subscriber::Registry;

/// Flushes between bursts wait at most this long.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The floor's layer: does nothing.
pub struct NoopLayer;
impl<S: tracing::Subscriber> Layer<S> for NoopLayer {}

/// The floor: `registry()` + a no-op layer.
pub fn floor() -> Dispatch {
    Dispatch::new(Registry::default().with(NoopLayer))
}

/// Our layer with `sampler`, exporting to `sink` (defaults otherwise).
pub fn ours(sampler: Sampler, sink: &UdpSocket) -> (Dispatch, ExporterGuard) {
    let (layer, guard) = JaegerLayer::builder()
        .service_name("bench")
        .agent_endpoint(sink.local_addr().unwrap().to_string())
        .sampler(sampler)
        .build()
        .unwrap();
    (Dispatch::new(Registry::default().with(layer)), guard)
}

/// Our layer with `sampler`, exporting over OTLP/HTTP to `sink` (defaults otherwise).
pub fn ours_otlp(sampler: Sampler, sink: &OtlpSink) -> (Dispatch, ExporterGuard) {
    let (layer, guard) = JaegerLayer::builder()
        .service_name("bench")
        .otlp_endpoint(format!("http://{}", sink.addr))
        .sampler(sampler)
        .build()
        .unwrap();
    (Dispatch::new(Registry::default().with(layer)), guard)
}

/// Panics if any span was dropped at the queue: the keep-up rungs must not overflow it.
pub fn assert_kept_up(guard: &ExporterGuard) {
    let s = guard.stats();
    assert_eq!(s.spans_dropped_queue_full, 0, "the exporter must keep up in this bench");
}

/// Runs `iters` units of work under `dispatch` in bursts of at most `per_burst`, timing only
/// `burst(start index, count)`; flushes (untimed) between bursts when `flush` is given.
pub fn timed_bursts(
    dispatch: &Dispatch,
    flush: Option<&ExporterGuard>,
    iters: u64,
    per_burst: u64,
    burst: impl FnMut(u64, u64),
) -> Duration {
    let between = || {
        if let Some(g) = flush {
            let _ = g.flush(FLUSH_TIMEOUT);
        }
    };
    timed_bursts_then(dispatch, iters, per_burst, burst, between)
}

/// [`timed_bursts`] with `between` run (untimed) after each burst.
pub fn timed_bursts_then(
    dispatch: &Dispatch,
    iters: u64,
    per_burst: u64,
    mut burst: impl FnMut(u64, u64),
    mut between: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    tracing::dispatcher::with_default(dispatch, || {
        while done < iters {
            let n = per_burst.min(iters - done);
            let start = Instant::now();
            burst(done, n);
            total += start.elapsed();
            done += n;
            between();
        }
    });
    total
}

/// A loopback OTLP/HTTP endpoint for the OTLP rungs: answers every `POST` with 200 and an
/// empty body (an `ExportTraceServiceResponse` without partial success). While timing it
/// only reads the body; with `decode` set it decodes each one with `opentelemetry-proto`
/// and counts the spans.
pub struct OtlpSink {
    pub addr: std::net::SocketAddr,
    pub decode: Arc<AtomicBool>,
    pub decoded_spans: Arc<AtomicU64>,
    pub decode_errors: Arc<AtomicU64>,
}

impl OtlpSink {
    pub fn start() -> OtlpSink {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = OtlpSink {
            addr: listener.local_addr().unwrap(),
            decode: Arc::default(),
            decoded_spans: Arc::default(),
            decode_errors: Arc::default(),
        };
        let (decode, spans, errors) =
            (sink.decode.clone(), sink.decoded_spans.clone(), sink.decode_errors.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (decode, spans, errors) = (decode.clone(), spans.clone(), errors.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut body = Vec::new();
                    loop {
                        let mut length = 0;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let l = line.trim_end();
                            if l.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = l.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    length = v.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                        body.resize(length, 0);
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        if decode.load(Ordering::Acquire) {
                            match ExportTraceServiceRequest::decode(&body[..]) {
                                Ok(r) => {
                                    let n: usize = (r.resource_spans.iter().flat_map(|r| &r.scope_spans))
                                        .map(|s| s.spans.len())
                                        .sum();
                                    spans.fetch_add(n as u64, Ordering::Relaxed);
                                }
                                Err(_) => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                        if conn.write_all(answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        sink
    }
}
