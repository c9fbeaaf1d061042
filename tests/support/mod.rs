//! Shared test helpers: a layer exporting to a loopback receiver, and a span-tree renderer.
#![allow(dead_code)]

pub mod collector;

use std::collections::HashMap;
use std::time::Duration;

use jaeger_layer::receiver::{ReceivedSpan, Receiver};
use jaeger_layer::{Builder, ExporterGuard, JaegerLayer, TagValue};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

pub const WAIT: Duration = Duration::from_secs(10);

/// A receiver on an ephemeral loopback port and a dispatcher whose JaegerLayer exports to it.
pub struct Harness {
    pub receiver: Receiver,
    pub dispatch: Dispatch,
    pub guard: ExporterGuard,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|b| b)
    }

    pub fn with(configure: impl FnOnce(Builder) -> Builder) -> Self {
        let receiver = Receiver::bind("127.0.0.1:0").expect("bind receiver");
        let builder = JaegerLayer::builder()
            .service_name("test-service")
            .agent_endpoint(receiver.local_addr().to_string())
            // Only explicit flushes move spans in tests.
            .flush_interval(Duration::from_secs(3600));
        let (layer, guard) = configure(builder).build().expect("build layer");
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        Harness { receiver, dispatch, guard }
    }

    /// Runs `f` with this harness's subscriber as the thread's default.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// Flushes and waits for `n` spans at the receiver.
    pub fn spans(&self, n: usize) -> Vec<ReceivedSpan> {
        self.guard.flush(WAIT).expect("flush");
        let spans = self.receiver.wait_for_spans(n, WAIT);
        assert_eq!(spans.len(), n, "expected {n} spans, got {}: {}", spans.len(), render(&spans));
        spans
    }
}

pub fn by_name<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans.iter().find(|s| s.operation_name == name).unwrap_or_else(|| panic!("no span named {name}"))
}

/// Renders spans as an indented tree (children under parents, ordered by start time),
/// each line `name` plus the tags listed in `show`.
pub fn render(spans: &[ReceivedSpan]) -> String {
    render_with(spans, &[])
}

pub fn render_with(spans: &[ReceivedSpan], show: &[&str]) -> String {
    let mut children: HashMap<u64, Vec<&ReceivedSpan>> = HashMap::new();
    let ids: std::collections::HashSet<u64> = spans.iter().map(|s| s.span_id).collect();
    let mut roots = Vec::new();
    for s in spans {
        if s.parent_id != 0 && ids.contains(&s.parent_id) {
            children.entry(s.parent_id).or_default().push(s);
        } else {
            roots.push(s);
        }
    }
    fn walk(
        s: &ReceivedSpan,
        depth: usize,
        children: &HashMap<u64, Vec<&ReceivedSpan>>,
        show: &[&str],
        out: &mut String,
    ) {
        out.push_str(&"  ".repeat(depth));
        out.push_str(&s.operation_name);
        for key in show {
            if let Some(v) = s.tag(key) {
                out.push_str(&format!(" {key}={}", fmt_value(v)));
            }
        }
        out.push('\n');
        let mut kids = children.get(&s.span_id).cloned().unwrap_or_default();
        kids.sort_by_key(|k| (k.start_time_us, k.operation_name.clone()));
        for k in kids {
            walk(k, depth + 1, children, show, out);
        }
    }
    roots.sort_by_key(|k| (k.start_time_us, k.operation_name.clone()));
    let mut out = String::new();
    for r in roots {
        walk(r, 0, &children, show, &mut out);
    }
    out
}

pub fn fmt_value(v: &TagValue) -> String {
    match v {
        TagValue::String(s) => format!("{s:?}"),
        TagValue::Double(d) => format!("{d}"),
        TagValue::Bool(b) => format!("{b}"),
        TagValue::Long(l) => format!("{l}"),
        TagValue::Binary(b) => format!("{b:?}"),
    }
}
