//! The crate's own threads (the exporter, the OTLP sender, the remote sampler's poller) mute `tracing` for themselves
//! without changing what the application's callsites cost: a callsite every subscriber
//! always enables stays `Interest::always`, so no span or event pays a dynamic `enabled`
//! call while the exporter runs. Its own test binary: callsite interest is process-wide, and
//! other tests' subscribers (filters) would change it.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jaeger_layer::{Builder, ExporterGuard, JaegerLayer};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Always interested, and counts the dynamic `enabled` checks it is asked for: with
/// `Interest::always` there are none.
struct CountEnabled(Arc<AtomicUsize>);

impl<S: Subscriber> Layer<S> for CountEnabled {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }
    fn enabled(&self, _: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// One unit of work: a span with a field and an event in it.
fn unit(i: i64) {
    let span = tracing::info_span!("unit", i);
    let _g = span.enter();
    tracing::info!(i, "inside");
}

/// Our layer, exporting to a UDP agent that nobody reads, configured by `configure`.
fn udp_layer(agent: &UdpSocket, configure: impl FnOnce(Builder) -> Builder) -> (JaegerLayer, ExporterGuard) {
    let builder = JaegerLayer::builder()
        .service_name("interest")
        .agent_endpoint(agent.local_addr().unwrap().to_string());
    configure(builder).build().unwrap()
}

/// Runs 100 spans (each with an event) under `layer` and the counter, after a flush has
/// made sure the exporter's threads run (and have muted themselves); returns the count.
fn enabled_checks(layer: JaegerLayer, guard: &ExporterGuard) -> usize {
    let checks = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(layer).with(CountEnabled(checks.clone()));
    tracing::subscriber::with_default(subscriber, || {
        unit(-1);
        guard.flush(Duration::from_secs(10)).expect("the exporter flushes");
        checks.store(0, Ordering::Relaxed);
        (0..100).for_each(unit);
        guard.flush(Duration::from_secs(10)).expect("the exporter flushes");
    });
    assert_eq!(guard.stats().spans_exported, 101, "{:?}", guard.stats());
    checks.load(Ordering::Relaxed)
}

#[test]
fn the_exporter_thread_leaves_callsites_always_enabled() {
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = udp_layer(&agent, |b| b);
    assert_eq!(enabled_checks(layer, &guard), 0, "a muted thread made the callsites `sometimes`");
}

#[cfg(all(feature = "otlp", feature = "receiver"))]
#[test]
fn the_otlp_sender_thread_leaves_callsites_always_enabled() {
    let collector = jaeger_layer::receiver::OtlpReceiver::bind("127.0.0.1:0").unwrap();
    let (layer, guard) =
        JaegerLayer::builder().service_name("interest").otlp_endpoint(collector.endpoint()).build().unwrap();
    assert_eq!(enabled_checks(layer, &guard), 0, "a muted thread made the callsites `sometimes`");
}

#[test]
fn the_remote_sampler_poller_leaves_callsites_always_enabled() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    // A sampling endpoint that answers its first poll; once it has, the poller thread is
    // running (it mutes itself before it polls).
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sampling", server.local_addr().unwrap());
    let (polled, was_polled) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = server.accept() else { return };
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let body = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1.0}}"#;
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = polled.send(());
    });
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sampler = jaeger_layer::Sampler::remote(
        jaeger_layer::RemoteSampler::new().endpoint(url).initial_sampler(jaeger_layer::Sampler::always()),
    );
    let (layer, guard) = udp_layer(&agent, |b| b.sampler(sampler));
    was_polled.recv_timeout(Duration::from_secs(10)).expect("the poller polls at start-up");
    assert_eq!(enabled_checks(layer, &guard), 0, "a muted thread made the callsites `sometimes`");
}
