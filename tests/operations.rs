//! Operating it for real: the HTTP collector, the binary agent protocol, a disabled layer.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use jaeger_layer::receiver::{decode_batch, ReceivedBatch, Receiver};
use jaeger_layer::{AgentProtocol, JaegerLayer, Sampler};
use support::WAIT;
use tracing::info_span;
use tracing_subscriber::prelude::*;

/// A collector on loopback: answers each request with the next status of `statuses` (the
/// last one repeats) and keeps every request's headers and decoded body.
/// One request as the collector saw it: its header lines and its decoded body.
type Request = (Vec<String>, Result<ReceivedBatch, String>);

struct Collector {
    url: String,
    requests: Arc<(Mutex<Vec<Request>>, Condvar)>,
}

impl Collector {
    fn start(statuses: &'static [u16]) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/traces", listener.local_addr().unwrap());
        let requests: Arc<(Mutex<Vec<_>>, Condvar)> = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(&stream);
                let mut headers = Vec::new();
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let line = line.trim_end().to_owned();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    headers.push(line);
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let status = statuses[i.min(statuses.len() - 1)];
                let _ =
                    write!(&stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let (lock, cv) = &*seen;
                lock.lock().unwrap().push((headers, decode_batch(&body).map_err(|e| e.to_string())));
                cv.notify_all();
            }
        });
        Collector { url, requests }
    }

    fn wait_for(&self, n: usize) -> Vec<Request> {
        let (lock, cv) = &*self.requests;
        let guard = cv.wait_timeout_while(lock.lock().unwrap(), WAIT, |r| r.len() < n).unwrap().0;
        guard.clone()
    }
}

#[test]
fn spans_go_to_the_collector_in_batches_with_auth() {
    let collector = Collector::start(&[202]);
    let (layer, guard) = JaegerLayer::builder()
        .service_name("http-service")
        .collector_endpoint(collector.url.clone())
        .collector_bearer_token("s3cret")
        .collector_header("x-tenant", "acme")
        .collector_batch_size(10)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..25i64 {
            info_span!("request", i).in_scope(|| {});
        }
    });
    guard.flush(WAIT).unwrap();
    let requests = collector.wait_for(3);
    assert_eq!(requests.len(), 3, "25 spans in batches of at most 10");
    let mut total = 0;
    for (headers, body) in &requests {
        let lower: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
        assert!(lower.iter().any(|h| h == "content-type: application/x-thrift"), "{headers:?}");
        assert!(headers
            .iter()
            .any(|h| h == "authorization: Bearer s3cret" || h == "Authorization: Bearer s3cret"));
        assert!(lower.iter().any(|h| h == "x-tenant: acme"));
        let batch = body.as_ref().unwrap();
        assert_eq!(batch.process.service_name, "http-service");
        assert!(batch.seq_no.is_none() && batch.stats.is_none(), "no seqNo/stats over HTTP");
        assert!(batch.spans.len() <= 10);
        total += batch.spans.len();
    }
    assert_eq!(total, 25);
    let s = guard.stats();
    assert_eq!((s.spans_exported, s.packets_sent, s.spans_failed), (25, 3, 0));
}

#[test]
fn a_failing_collector_counts_failures_and_export_resumes() {
    // 4xx is not retried: the first batch fails, the next one goes through.
    let collector = Collector::start(&[400, 202]);
    let (layer, guard) = JaegerLayer::builder()
        .service_name("flaky")
        .collector_endpoint(collector.url.clone())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || info_span!("lost").in_scope(|| {}));
    guard.flush(WAIT).unwrap();
    tracing::dispatcher::with_default(&dispatch, || info_span!("delivered").in_scope(|| {}));
    guard.flush(WAIT).unwrap();
    let requests = collector.wait_for(2);
    assert_eq!(requests.len(), 2);
    let s = guard.stats();
    assert_eq!((s.spans_failed, s.spans_exported, s.packets_failed), (1, 1, 1), "{s:#?}");
}

#[test]
fn the_binary_agent_protocol_is_decoded_too() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("binary")
        .agent_endpoint(agent.local_addr().to_string())
        .agent_protocol(AgentProtocol::Binary)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info_span!("over_6832", n = 1i64).in_scope(|| {});
    });
    guard.flush(WAIT).unwrap();
    let spans = agent.wait_for_spans(1, WAIT);
    assert_eq!(spans[0].operation_name, "over_6832");
    assert_eq!(spans[0].tag("n"), Some(&jaeger_layer::TagValue::Long(1)));
}

#[test]
fn a_disabled_layer_records_nothing_and_starts_no_thread() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("off")
        .agent_endpoint(agent.local_addr().to_string())
        .sampler(Sampler::always())
        .enabled(false)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = info_span!("ignored");
        span.in_scope(|| tracing::info!("also ignored"));
        assert!(jaeger_layer::JaegerSpanExt::context(&span).is_none());
    });
    guard.flush(WAIT).unwrap();
    assert_eq!(guard.stats(), jaeger_layer::Stats::default());
    assert!(agent.batches().is_empty());
    guard.shutdown(WAIT).unwrap();
}

#[test]
fn collector_settings_are_validated() {
    let err = |b: jaeger_layer::Builder| b.build().map(|_| ()).unwrap_err().to_string();
    let b = || JaegerLayer::builder().service_name("s");
    #[cfg(not(feature = "tls"))]
    assert!(
        err(b().collector_endpoint("https://x:14268/api/traces")).contains("https needs the `tls` feature")
    );
    #[cfg(feature = "tls")]
    {
        // Nothing is sent before the first flush; the guard is shut down at once.
        let (_layer, guard) = b().collector_endpoint("https://x:14268/api/traces").build().unwrap();
        drop(guard);
    }
    assert!(err(b().collector_endpoint("not a url")).contains("collector"));
    assert!(err(b().collector_bearer_token("t")).contains("collector_endpoint"));
    assert!(err(b().collector_endpoint("http://127.0.0.1:1/api/traces").collector_batch_size(0))
        .contains("batch"));
}
