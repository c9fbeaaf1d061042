//! Async code on tokio's multi-threaded runtime: `#[instrument]` on async fns, tasks spawned
//! with `.instrument(span)`, spans kept open across `.await`s.
//!
//! `cargo run -p jaeger-layer-recipes --example async_tokio` exports to a stand-in agent on a
//! free loopback port, prints the trace it received and checks it: every span under the
//! right parent (also those that ran on other worker threads) and every duration covering
//! the awaits inside it, not just the time it was polled. Exits non-zero otherwise.
//!
//! The two rules the example shows: instrument futures (`#[instrument]` or `.instrument`),
//! never hold `span.enter()` guards across an `.await`; and give a spawned task its span
//! explicitly, since a new task does not inherit the spawner's current span by itself.

use std::time::Duration;

use jaeger_layer::receiver::Receiver;
use jaeger_layer::testing::Spans;
use jaeger_layer::JaegerLayer;
use tracing::{info_span, instrument, Instrument};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

#[instrument]
async fn handle_request(user_id: u64) -> u64 {
    let user = load_user(user_id).await;
    // Fan out: each task carries its span to whichever worker thread polls it. The span is
    // created here, so its parent is handle_request's span.
    let tasks: Vec<_> = (1..=3)
        .map(|item| tokio::spawn(fetch_price(item).instrument(info_span!("price_task", item))))
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("price task panicked");
    }
    render_page(&user, total).await;
    total
}

#[instrument]
async fn load_user(user_id: u64) -> String {
    tokio::time::sleep(Duration::from_millis(20)).await;
    tracing::info!("user loaded");
    format!("user-{user_id}")
}

#[instrument]
async fn fetch_price(item: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(10 * item)).await;
    tracing::info!(thread = ?std::thread::current().id(), "priced");
    item * 100
}

#[instrument(skip(user))]
async fn render_page(user: &str, total: u64) {
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    tracing::info!(user, "rendered");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let agent = Receiver::bind("127.0.0.1:0")?;
    let (layer, guard) = JaegerLayer::builder()
        .service_name("async-tokio")
        .agent_endpoint(agent.local_addr().to_string())
        .build()?;
    // Global: tasks run on tokio's worker threads, which must all see the subscriber.
    tracing_subscriber::registry().with(layer).init();

    let total = handle_request(7).await;
    assert_eq!(total, 600);

    guard.flush(WAIT)?;
    let spans = Spans::new(agent.wait_for_spans(9, WAIT));
    print!("{}", spans.render());
    check(&spans)?;
    println!("ok: {} spans, one trace, parents and durations as expected", spans.len());
    Ok(())
}

/// The trace must have the shape of the code and durations that include the awaits.
fn check(spans: &Spans) -> Result<(), String> {
    let expected =
        "handle_request\n  load_user\n  price_task\n    fetch_price\n  price_task\n    fetch_price\n  \
                    price_task\n    fetch_price\n  render_page\n";
    if spans.tree() != expected {
        return Err(format!("unexpected tree:\n{}expected:\n{expected}", spans.tree()));
    }
    if spans.trace_ids().len() != 1 {
        return Err(format!("expected one trace, got {:?}", spans.trace_ids()));
    }
    let ms = |name: &str| spans.by_name(name).map_or(0, |s| s.duration_us) / 1000;
    // load_user slept 20 ms across an await; fetch_price(3) slept 30 ms.
    if ms("load_user") < 20 {
        return Err(format!("load_user lasted {} ms, less than its 20 ms sleep", ms("load_user")));
    }
    for price in spans.all_named("fetch_price") {
        let slept_ms = match price.tag("item") {
            Some(jaeger_layer::TagValue::Long(item)) => 10 * item,
            other => return Err(format!("fetch_price has item {other:?}")),
        };
        if price.duration_us / 1000 < slept_ms {
            return Err(format!("fetch_price lasted {} us, slept {slept_ms} ms", price.duration_us));
        }
    }
    // Every child lies within its parent's time: spans close after the awaits they cover.
    for s in spans.iter() {
        if let Some(p) = spans.parent_of(s) {
            let (start, end) = (s.start_time_us, s.start_time_us + s.duration_us);
            if start < p.start_time_us || end > p.start_time_us + p.duration_us {
                return Err(format!("{} is not within its parent {}", s.operation_name, p.operation_name));
            }
        }
    }
    if ms("handle_request") < 20 + 30 + 5 {
        return Err(format!(
            "handle_request lasted {} ms, less than the awaits inside it",
            ms("handle_request")
        ));
    }
    Ok(())
}
