//! A small instrumented program, end to end.
//!
//! `cargo run --example quickstart` starts a stand-in agent (the crate's `receiver`) on a
//! free loopback port, exports to it and prints the trace it received as a tree. With
//! `JAEGER_AGENT_HOST` and/or `JAEGER_AGENT_PORT` set, it exports to that agent instead
//! (for example a real `jaeger-all-in-one`), and prints the exporter's counters.

use std::collections::HashMap;
use std::time::Duration;

use jaeger_layer::receiver::{ReceivedSpan, Receiver};
use jaeger_layer::{JaegerLayer, TagValue};
use tracing::instrument;
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct OutOfStock(&'static str);
impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is out of stock", self.0)
    }
}
impl std::error::Error for OutOfStock {}

#[instrument]
fn checkout(order_id: u64, items: &[&'static str]) -> u64 {
    let mut total = 0;
    for item in items {
        match reserve(item) {
            Ok(price) => total += price,
            Err(e) => tracing::error!(error = &e as &(dyn std::error::Error + 'static), "reservation failed"),
        }
    }
    charge(total);
    total
}

#[instrument]
fn reserve(item: &'static str) -> Result<u64, OutOfStock> {
    std::thread::sleep(Duration::from_millis(2));
    if item == "unicorn" {
        return Err(OutOfStock(item));
    }
    tracing::info!(item, "reserved");
    Ok(item.len() as u64 * 100)
}

#[instrument]
fn charge(amount: u64) {
    // Work on a second thread, parented explicitly to this span.
    let parent = tracing::Span::current();
    std::thread::spawn(move || {
        let _span = tracing::info_span!(parent: &parent, "fraud_check", amount).entered();
        std::thread::sleep(Duration::from_millis(3));
    })
    .join()
    .unwrap();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let external = std::env::var("JAEGER_AGENT_HOST").is_ok() || std::env::var("JAEGER_AGENT_PORT").is_ok();
    let receiver = if external { None } else { Some(Receiver::bind("127.0.0.1:0")?) };
    let endpoint = match &receiver {
        Some(r) => r.local_addr().to_string(),
        None => format!(
            "{}:{}",
            std::env::var("JAEGER_AGENT_HOST").unwrap_or_else(|_| "localhost".into()),
            std::env::var("JAEGER_AGENT_PORT").unwrap_or_else(|_| "6831".into())
        ),
    };
    let (layer, guard) = JaegerLayer::builder()
        .service_name("quickstart")
        .agent_endpoint(endpoint.clone())
        .process_tag("example", true)
        .build()?;
    // The usual set-up: one global subscriber for the whole program, every thread.
    tracing_subscriber::registry().with(layer).init();
    checkout(1042, &["book", "unicorn", "lamp"]);
    guard.flush(Duration::from_secs(5))?;
    let stats = guard.stats();
    println!("exported {} spans to {endpoint}: {stats:?}", stats.spans_exported);
    if let Some(receiver) = receiver {
        let spans = receiver.wait_for_spans(stats.spans_exported as usize, Duration::from_secs(5));
        print!("{}", render(&spans));
        if spans.len() as u64 != stats.spans_exported {
            return Err(format!("received {} of {} spans", spans.len(), stats.spans_exported).into());
        }
    }
    Ok(())
}

/// The trace as an indented tree with durations, tags and logs.
fn render(spans: &[ReceivedSpan]) -> String {
    let mut children: HashMap<u64, Vec<&ReceivedSpan>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        if s.parent_id == 0 {
            roots.push(s);
        } else {
            children.entry(s.parent_id).or_default().push(s);
        }
    }
    let mut out = String::new();
    for root in roots {
        out.push_str(&format!("trace {} ({})\n", root.trace_id, root.service_name));
        walk(root, 1, &children, &mut out);
    }
    out
}

fn walk(s: &ReceivedSpan, depth: usize, children: &HashMap<u64, Vec<&ReceivedSpan>>, out: &mut String) {
    let pad = "  ".repeat(depth);
    out.push_str(&format!("{pad}{} {:.3} ms\n", s.operation_name, s.duration_us as f64 / 1000.0));
    for t in s.tags.iter().filter(|t| !t.key.starts_with("code.")) {
        out.push_str(&format!("{pad}    {} = {}\n", t.key, value(&t.value)));
    }
    for log in &s.logs {
        let fields: Vec<String> =
            log.fields.iter().map(|f| format!("{}={}", f.key, value(&f.value))).collect();
        out.push_str(&format!("{pad}    log: {}\n", fields.join(" ")));
    }
    let mut kids = children.get(&s.span_id).cloned().unwrap_or_default();
    kids.sort_by_key(|k| k.start_time_us);
    for k in kids {
        walk(k, depth + 1, children, out);
    }
}

fn value(v: &TagValue) -> String {
    match v {
        TagValue::String(s) => s.to_string(),
        TagValue::Double(d) => d.to_string(),
        TagValue::Bool(b) => b.to_string(),
        TagValue::Long(l) => l.to_string(),
        TagValue::Binary(b) => format!("{b:?}"),
    }
}
