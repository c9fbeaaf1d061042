//! Received spans as text: [`waterfall`], one terminal waterfall per trace (what
//! `examples/tail.rs` prints and `testing::render_tree` returns), and [`display_order`],
//! the order it shows spans in.
//!
//! ```text
//! trace 4bf92f3577b34da6a3ce929d0e0e4736: 2 spans, 2 services (web, db), 10.00ms
//! GET /users (web)       10.00ms |████████████████████████████████████████|
//!   tags: span.kind="server"
//!   query (db) [error]    4.00ms |        ████████████████                |
//!     tags: error=true
//!     log +1.00ms: message="timeout"
//! ```
//!
//! The input may come from any datagram a stand-in agent received, so nothing here trusts
//! it: parent cycles, self-parents, duplicate ids, absurd timestamps and control characters
//! in names render (every span exactly once) instead of looping, overflowing or garbling
//! the terminal.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::{ReceivedSpan, TagValue};

/// Columns of the waterfall bar.
const BAR_WIDTH: usize = 40;
/// Longest tree column (indentation, operation, service) before it is cut with `…`.
const MAX_LABEL: usize = 72;
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// One line of a laid-out tree: the span (index into the input) and its depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) index: usize,
    pub(crate) depth: usize,
}

/// The spans of one trace in display order.
#[derive(Debug)]
pub(crate) struct TraceRows {
    pub(crate) rows: Vec<Row>,
}

/// Lays spans out as trees, one per trace id, traces ordered by their first start time.
///
/// Parents are matched by (trace id, span id). A span whose parent is not among `spans` is
/// a root. Children follow their parent ordered by start time, then operation name. Spans
/// left unplaced (a parent cycle has no root) are placed as roots afterwards, so every
/// span appears exactly once; a duplicate span id keeps only the first as parent target.
pub(crate) fn layout(spans: &[ReceivedSpan]) -> Vec<TraceRows> {
    let order = |&i: &usize| (spans[i].start_time_us, spans[i].operation_name.as_str(), i);

    // Group by trace, keeping the first start of each trace for the trace order.
    let mut traces: Vec<(u128, Vec<usize>)> = Vec::new();
    let mut trace_index: HashMap<u128, usize> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        let key = s.trace_id.to_u128();
        let slot = *trace_index.entry(key).or_insert_with(|| {
            traces.push((key, Vec::new()));
            traces.len() - 1
        });
        traces[slot].1.push(i);
    }
    let mut out: Vec<(i64, TraceRows)> = Vec::new();
    for (_, members) in traces {
        let mut by_id: HashMap<u64, usize> = HashMap::new();
        for &i in &members {
            by_id.entry(spans[i].span_id).or_insert(i);
        }
        let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut roots = Vec::new();
        for &i in &members {
            let s = &spans[i];
            match by_id.get(&s.parent_id) {
                Some(&p) if s.parent_id != 0 && p != i => children.entry(p).or_default().push(i),
                _ => roots.push(i),
            }
        }
        for kids in children.values_mut() {
            kids.sort_by(|a, b| order(a).cmp(&order(b)));
        }
        roots.sort_by(|a, b| order(a).cmp(&order(b)));
        let mut placed = HashSet::new();
        let mut rows = Vec::with_capacity(members.len());
        let mut leftovers = members.clone();
        leftovers.sort_by(|a, b| order(a).cmp(&order(b)));
        for start in roots.into_iter().chain(leftovers) {
            // An explicit stack: a hostile chain of thousands of spans must not overflow ours.
            let mut stack = vec![(start, 0usize)];
            while let Some((i, depth)) = stack.pop() {
                if !placed.insert(i) {
                    continue;
                }
                rows.push(Row { index: i, depth });
                if let Some(kids) = children.get(&i) {
                    stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
                }
            }
        }
        let first = members.iter().map(|&i| spans[i].start_time_us).min().unwrap_or(0);
        out.push((first, TraceRows { rows }));
    }
    out.sort_by_key(|(first, _)| *first);
    out.into_iter().map(|(_, t)| t).collect()
}

/// The indices of `spans` in the order [`waterfall`] shows them: traces ordered by their
/// first start time, each as a tree (a span whose parent is not in `spans` is a root),
/// children after their parent ordered by start time, then operation name. Every index
/// appears exactly once, whatever the parent links say.
pub fn display_order(spans: &[ReceivedSpan]) -> Vec<usize> {
    layout(spans).into_iter().flat_map(|t| t.rows).map(|r| r.index).collect()
}

/// The operation names as an indented tree, two spaces per level, one line each.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn names(spans: &[ReceivedSpan]) -> String {
    let mut out = String::new();
    for trace in layout(spans) {
        for row in trace.rows {
            let _ = writeln!(out, "{}{}", "  ".repeat(row.depth), clean(&spans[row.index].operation_name));
        }
    }
    out
}

/// Renders `spans` as one waterfall per trace: a header line (trace id, span count,
/// services, duration), then one line per span with its operation, service, duration and a
/// bar placed by its offset from the trace's start and sized by its duration (like Jaeger
/// UI's timeline), its tags and logs one level deeper. Error spans (`error=true`) are
/// marked `[error]`, and in red (ANSI escapes) when `color` is on. Spans come in
/// [`display_order`]; control characters in received names and values are escaped.
pub fn waterfall(spans: &[ReceivedSpan], color: bool) -> String {
    waterfall_with_width(spans, color, BAR_WIDTH)
}

/// [`waterfall`] with bars `bar_width` columns wide.
pub(crate) fn waterfall_with_width(spans: &[ReceivedSpan], color: bool, bar_width: usize) -> String {
    let mut out = String::new();
    for trace in layout(spans) {
        render_trace(spans, &trace, color, bar_width.max(1), &mut out);
    }
    out
}

fn render_trace(spans: &[ReceivedSpan], trace: &TraceRows, color: bool, width: usize, out: &mut String) {
    let members = trace.rows.iter().map(|r| &spans[r.index]);
    // i128: start + duration of hostile spans may overflow i64.
    let t0 = members.clone().map(|s| i128::from(s.start_time_us)).min().unwrap_or(0);
    let end = members.clone().map(|s| i128::from(s.start_time_us) + i128::from(s.duration_us.max(0))).max();
    let total = (end.unwrap_or(t0) - t0).max(1);
    let mut services: Vec<&str> = Vec::new();
    for s in members.clone() {
        if !services.contains(&s.service_name.as_str()) {
            services.push(&s.service_name);
        }
    }
    let first = &spans[trace.rows[0].index];
    let _ = writeln!(
        out,
        "trace {}: {} span{}, {} service{} ({}), {}",
        first.trace_id,
        trace.rows.len(),
        if trace.rows.len() == 1 { "" } else { "s" },
        services.len(),
        if services.len() == 1 { "" } else { "s" },
        clean(&services.join(", ")),
        duration(i64::try_from(total).unwrap_or(i64::MAX)),
    );
    let labels: Vec<String> = trace
        .rows
        .iter()
        .map(|r| {
            let s = &spans[r.index];
            let err = if is_error(s) { " [error]" } else { "" };
            let label = format!(
                "{}{} ({}){err}",
                "  ".repeat(r.depth),
                clean(&s.operation_name),
                clean(&s.service_name)
            );
            cut(label, MAX_LABEL)
        })
        .collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    for (row, label) in trace.rows.iter().zip(labels) {
        let s = &spans[row.index];
        let pad = label_width - label.chars().count();
        let line = format!(
            "{label}{} {:>9} |{}|",
            " ".repeat(pad),
            duration(s.duration_us),
            bar(i128::from(s.start_time_us) - t0, i128::from(s.duration_us), total, width)
        );
        if color && is_error(s) {
            let _ = writeln!(out, "{RED}{line}{RESET}");
        } else {
            let _ = writeln!(out, "{line}");
        }
        let indent = "  ".repeat(row.depth + 1);
        if !s.tags.is_empty() {
            let tags: Vec<String> =
                s.tags.iter().map(|t| format!("{}={}", clean(&t.key), value(&t.value))).collect();
            let _ = writeln!(out, "{indent}tags: {}", tags.join(" "));
        }
        for log in &s.logs {
            let fields: Vec<String> =
                log.fields.iter().map(|f| format!("{}={}", clean(&f.key), value(&f.value))).collect();
            let at = duration(log.timestamp_us.saturating_sub(s.start_time_us));
            let _ = writeln!(out, "{indent}log +{at}: {}", fields.join(" "));
        }
    }
}

/// The bar of one span: `offset` and `dur` from the trace start, in µs, of a trace `total`
/// µs long, drawn over `width` columns. At least one column, never past the end.
pub(crate) fn bar(offset: i128, dur: i128, total: i128, width: usize) -> String {
    let w = width as i128;
    let start = (offset.clamp(0, total) * w / total).min(w - 1);
    let len = ((dur.clamp(0, total) * w + total - 1) / total).clamp(1, w - start);
    let mut s = String::with_capacity(width * 3);
    for col in 0..w {
        s.push(if col >= start && col < start + len { '█' } else { ' ' });
    }
    s
}

/// `error=true` (BOOL, or the string "true" some clients send).
pub(crate) fn is_error(s: &ReceivedSpan) -> bool {
    s.tags.iter().filter(|t| t.key == "error").any(|t| match &t.value {
        TagValue::Bool(b) => *b,
        TagValue::String(v) => v == "true",
        _ => false,
    })
}

/// A duration in µs as Jaeger UI writes it: `850µs`, `12.35ms`, `3.2s`.
pub(crate) fn duration(us: i64) -> String {
    if us.unsigned_abs() < 1_000 {
        format!("{us}µs")
    } else if us.unsigned_abs() < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// A tag value: strings quoted and escaped (a received string may hold terminal escapes).
pub(crate) fn value(v: &TagValue) -> String {
    match v {
        TagValue::String(s) => format!("{s:?}"),
        TagValue::Double(d) => d.to_string(),
        TagValue::Bool(b) => b.to_string(),
        TagValue::Long(l) => l.to_string(),
        TagValue::Binary(b) => {
            let mut hex = String::from("0x");
            for byte in b.iter().take(32) {
                let _ = write!(hex, "{byte:02x}");
            }
            if b.len() > 32 {
                hex.push('…');
            }
            hex
        }
    }
}

/// A name with control characters escaped, so a received name cannot drive the terminal.
pub(crate) fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

fn cut(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests;
