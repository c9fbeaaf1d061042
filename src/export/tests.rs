//! The exporter thread against transports that misbehave: one that panics, one that hangs.
//! Each case checks that every span ends in exactly one counter and that the application's
//! calls return.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::error::{FlushError, ShutdownError};
use crate::span::data::{Process, FLAG_SAMPLED};
use crate::transport::Transport;

const WAIT: Duration = Duration::from_secs(10);

/// What a scripted transport does on `send`.
enum Behaviour {
    Accept,
    Panic,
    /// Blocks until the paired sender sends or is dropped, then succeeds.
    Hang(Mutex<mpsc::Receiver<()>>),
}

struct Scripted {
    behaviour: Behaviour,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Told when the transport is dropped, i.e. when the exporter thread has ended.
    dropped: Option<mpsc::Sender<()>>,
}

impl Transport for Scripted {
    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        match &self.behaviour {
            Behaviour::Accept => {}
            Behaviour::Panic => panic!("scripted transport panics (test)"),
            Behaviour::Hang(rx) => {
                let _ = rx.lock().unwrap().recv();
            }
        }
        self.sent.lock().unwrap().push(payload.to_vec());
        Ok(())
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        if let Some(tx) = self.dropped.take() {
            let _ = tx.send(());
        }
    }
}

struct Exporter {
    shared: Arc<Shared>,
    guard: ExporterGuard,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    ended: mpsc::Receiver<()>,
}

fn exporter(behaviour: Behaviour, capacity: usize) -> Exporter {
    let shared = Arc::new(Shared::new(capacity, None, Arc::new(Counters::default())));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let (tx, ended) = mpsc::channel();
    let transport = Scripted { behaviour, sent: sent.clone(), dropped: Some(tx) };
    let config = WorkerConfig {
        output: Output::Thrift {
            format: batch::WireFormat::AgentCompact,
            max_packet_size: 65_000,
            max_spans_per_batch: 0,
            transport: Box::new(transport),
        },
        process: Process { service_name: "svc".into(), tags: Vec::new() },
        flush_interval: Duration::from_secs(3600),
        log_spans: false,
        max_logs_per_span: 0,
    };
    let handle = spawn(shared.clone(), config).unwrap();
    Exporter { guard: ExporterGuard::new(shared.clone(), handle), shared, sent, ended }
}

/// A finished span as `on_close` hands it over (it counts as live until then).
fn finish(shared: &Shared, i: u64) {
    let mut rec = shared.pool.take();
    rec.span.trace_id = crate::span::id::TraceId::new(0, i + 1);
    rec.span.span_id = i + 1;
    rec.span.flags = FLAG_SAMPLED;
    rec.span.operation = "op".into();
    shared.live_states.fetch_add(1, Ordering::AcqRel);
    shared.push(rec);
}

#[test]
fn flush_and_shutdown_with_the_longest_timeout_do_not_overflow() {
    let e = exporter(Behaviour::Accept, 16);
    finish(&e.shared, 0);
    e.guard.flush(Duration::MAX).unwrap();
    assert_eq!(e.sent.lock().unwrap().len(), 1);
    let stats = e.guard.stats_handle();
    e.guard.shutdown(Duration::MAX).unwrap();
    let s = stats.stats();
    assert_eq!((s.spans_finished, s.spans_exported), (1, 1));
    assert!(s.is_settled(), "{s:#?}");
}

#[test]
fn a_dead_exporter_is_counted_and_flush_and_shutdown_say_closed() {
    let e = exporter(Behaviour::Panic, 16);
    finish(&e.shared, 0);
    finish(&e.shared, 1);
    // The flush makes the exporter send, and the transport panics.
    assert!(matches!(e.guard.flush(WAIT), Err(FlushError::Closed)));
    e.ended.recv_timeout(WAIT).expect("the exporter thread ended");
    let s = e.guard.stats();
    assert_eq!(s.exporter_panics, 1);
    assert_eq!(s.spans_abandoned, 2, "{s:#?}");
    assert!(s.is_settled(), "{s:#?}");
    // A span that finishes later is counted, not queued for a thread that is gone.
    finish(&e.shared, 2);
    let s = e.guard.stats();
    assert_eq!(s.spans_dropped_closed, 1, "{s:#?}");
    assert!(s.is_settled(), "{s:#?}");
    assert!(matches!(e.guard.flush(WAIT), Err(FlushError::Closed)));
    assert!(matches!(e.guard.shutdown(WAIT), Err(ShutdownError::Closed)));
}

#[test]
fn a_timed_out_shutdown_counts_what_it_abandons_exactly_once() {
    let (release, rx) = mpsc::channel();
    let e = exporter(Behaviour::Hang(Mutex::new(rx)), 64);
    finish(&e.shared, 0);
    // The exporter takes the span and hangs in its send.
    assert!(matches!(e.guard.flush(Duration::from_millis(50)), Err(FlushError::Timeout(_))));
    for i in 1..6 {
        finish(&e.shared, i);
    }
    let s = e.guard.stats();
    assert_eq!((s.spans_finished, s.spans_queued), (6, 6), "{s:#?}");
    let stats = e.guard.stats_handle();
    assert!(matches!(e.guard.shutdown(Duration::from_millis(50)), Err(ShutdownError::Timeout(_))));
    let s = stats.stats();
    assert_eq!(s.spans_abandoned, 6, "the one in the request and the five queued: {s:#?}");
    assert!(s.is_settled(), "{s:#?}");
    // Spans that finish after the shutdown are dropped and counted.
    finish(&e.shared, 6);
    assert_eq!(stats.stats().spans_dropped_closed, 1);
    // The request finally returns: the exporter must not count its span a second time.
    drop(release);
    e.ended.recv_timeout(WAIT).expect("the exporter thread ended");
    let s = stats.stats();
    assert_eq!(s.spans_exported, 0, "{s:#?}");
    assert_eq!(s.spans_abandoned + s.spans_dropped_closed, 7, "{s:#?}");
    assert!(s.is_settled(), "{s:#?}");
    assert_eq!(e.sent.lock().unwrap().len(), 1, "nothing more is sent once abandoned");
}

#[test]
fn the_loss_summary_names_every_kind_of_loss() {
    let s = Stats {
        spans_finished: 10,
        spans_exported: 3,
        spans_dropped_queue_full: 1,
        spans_failed: 2,
        spans_abandoned: 3,
        spans_dropped_closed: 1,
        ..Stats::default()
    };
    assert_eq!(
        guard::loss_summary(&s),
        "7 of 10 finished spans were not exported (1 dropped at a full queue, 2 failed to send, \
         3 abandoned when the shutdown timed out, 1 finished after the exporter stopped)"
    );
}

/// An OTLP peer that decodes every request with opentelemetry-proto and answers with a
/// partial success rejecting one span of each request.
#[cfg(feature = "otlp")]
struct Rejecting {
    spans: Arc<Mutex<Vec<String>>>,
}

#[cfg(feature = "otlp")]
impl crate::otlp::OtlpSend for Rejecting {
    fn export(&mut self, body: &[u8], _: &dyn Fn() -> bool) -> crate::otlp::Export {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;
        let req = ExportTraceServiceRequest::decode(body).expect("a valid request");
        let mut spans = self.spans.lock().unwrap();
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                spans.extend(ss.spans.iter().map(|s| s.name.clone()));
            }
        }
        crate::otlp::Export::Accepted { rejected: 1, message: Some("one bad span".into()) }
    }
}

#[cfg(feature = "otlp")]
#[test]
fn the_exporter_thread_sends_otlp_requests_and_settles_partial_successes() {
    let shared = Arc::new(Shared::new(64, None, Arc::new(Counters::default())));
    let spans = Arc::new(Mutex::new(Vec::new()));
    let config = WorkerConfig {
        output: Output::Otlp {
            max_request_size: 1 << 20,
            max_spans_per_request: 4,
            transport: Box::new(Rejecting { spans: spans.clone() }),
        },
        process: Process { service_name: "svc".into(), tags: Vec::new() },
        flush_interval: Duration::from_secs(3600),
        log_spans: false,
        max_logs_per_span: 0,
    };
    let handle = spawn(shared.clone(), config).unwrap();
    let guard = ExporterGuard::new(shared.clone(), handle);
    for i in 0..10 {
        finish(&shared, i);
    }
    guard.flush(WAIT).unwrap();
    assert_eq!(spans.lock().unwrap().len(), 10);
    // Requests of 4, 4 and 2 spans, one rejected in each.
    let s = guard.stats();
    assert_eq!((s.spans_exported, s.spans_failed, s.packets_sent), (7, 3, 3), "{s:#?}");
    assert!(s.is_settled(), "{s:#?}");
    guard.shutdown(WAIT).unwrap();
}
