//! A service whose sampling changes when the strategy served by the "agent" changes.
//!
//! `cargo run --example remote_sampling`: serves Jaeger sampling strategies on a loopback
//! HTTP port (as jaeger-agent does on 5778), points a remote sampler at it, and runs the
//! same traffic under three strategies in turn, printing how many traces each sampled.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jaeger_layer::receiver::Receiver;
use jaeger_layer::{JaegerLayer, RemoteSampler, Sampler};
use tracing_subscriber::prelude::*;

/// A minimal strategy server: answers every request with the current JSON body.
fn serve(strategy: Arc<Mutex<String>>) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/sampling", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            // Read the request head up to the blank line.
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let body = strategy.lock().unwrap().clone();
            let _ = write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(url)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let strategy = Arc::new(Mutex::new(
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.0}}"#.to_owned(),
    ));
    let url = serve(strategy.clone())?;
    let agent = Receiver::bind("127.0.0.1:0")?;
    let sampler = Sampler::remote(
        RemoteSampler::new()
            .endpoint(url.clone())
            .refresh_interval(Duration::from_millis(100))
            .initial_sampler(Sampler::never()),
    );
    let (layer, guard) = JaegerLayer::builder()
        .service_name("remote-sampling-demo")
        .agent_endpoint(agent.local_addr().to_string())
        .sampler(sampler)
        .build()?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    println!("strategies served at {url}");

    let phases = [
        (
            "probabilistic 0.0",
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.0}}"#,
        ),
        ("probabilistic 1.0", r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":1.0}}"#),
        (
            "per-operation: GET /orders 1.0, others 0.0",
            r#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0.0,
               "defaultLowerBoundTracesPerSecond":0.0,
               "perOperationStrategies":[{"operation":"GET /orders","probabilisticSampling":{"samplingRate":1.0}}]}}"#,
        ),
    ];
    let mut results = Vec::new();
    for (name, body) in phases {
        let before = guard.stats().sampler_updates_ok;
        *strategy.lock().unwrap() = body.to_owned();
        // Wait (bounded) until the poller applied this strategy twice: the second update
        // was certainly fetched after the change.
        let deadline = Instant::now() + Duration::from_secs(10);
        while guard.stats().sampler_updates_ok < before + 2 {
            if Instant::now() > deadline {
                return Err(format!("strategy {name:?} was not picked up: {:?}", guard.stats()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let start = guard.stats().traces_started_sampled;
        tracing::dispatcher::with_default(&dispatch, || {
            for _ in 0..50 {
                tracing::info_span!("GET /orders").in_scope(|| {});
                tracing::info_span!("GET /health").in_scope(|| {});
            }
        });
        let sampled = guard.stats().traces_started_sampled - start;
        println!("{name:<45} sampled {sampled:>3} of 100 traces");
        results.push(sampled);
    }
    guard.flush(Duration::from_secs(5))?;
    let spans = agent.wait_for_spans(151, Duration::from_secs(5));
    let orders = spans.iter().filter(|s| s.operation_name == "GET /orders").count();
    // An operation the strategy does not list gets the default rate (0 here) plus Jaeger's
    // lower-bound limiter, which starts with one credit: exactly one GET /health goes through,
    // tagged `sampler.type=lowerbound`.
    let lowerbound = spans
        .iter()
        .filter(|s| s.operation_name == "GET /health")
        .filter(|s| s.tag("sampler.type") == Some(&jaeger_layer::TagValue::String("lowerbound".into())))
        .count();
    println!(
        "the agent received {} spans ({orders} GET /orders, {lowerbound} GET /health by the lower bound)",
        spans.len()
    );
    if results != [0, 100, 51] || spans.len() != 151 || orders != 100 || lowerbound != 1 {
        return Err(format!("unexpected sampling: {results:?}, {} spans", spans.len()).into());
    }
    Ok(())
}
