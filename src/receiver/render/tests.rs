//! Layout and rendering on hand-made spans (exact timings, hostile shapes).

use super::{bar, duration, layout, names, waterfall, waterfall_with_width};
use crate::receiver::ReceivedSpan;
use crate::span::data::{Log, Tag};
use crate::test_support::fixtures::received_span as span;

/// The bar part of each span line (between the `|`s), in display order.
fn bars(rendered: &str) -> Vec<String> {
    rendered
        .lines()
        .filter_map(|l| {
            let open = l.find('|')?;
            let close = l.rfind('|')?;
            (close > open).then(|| l[open + 1..close].to_owned())
        })
        .collect()
}

#[test]
fn tree_orders_children_by_start_and_nests_them() {
    // Arrival order is not start order: children are sorted, not appended.
    let spans = vec![
        span(1, 3, 1, "second", 300, 10),
        span(1, 1, 0, "root", 100, 1000),
        span(1, 4, 3, "grandchild", 305, 2),
        span(1, 2, 1, "first", 200, 10),
    ];
    assert_eq!(names(&spans), "root\n  first\n  second\n    grandchild\n");
}

#[test]
fn traces_are_separate_trees_ordered_by_first_start() {
    let spans = vec![
        span(2, 5, 0, "later", 500, 1),
        span(1, 1, 0, "earlier", 100, 1),
        span(2, 6, 5, "child", 501, 1),
    ];
    assert_eq!(names(&spans), "earlier\nlater\n  child\n");
}

#[test]
fn same_span_id_in_another_trace_is_not_a_parent() {
    let spans = vec![span(1, 7, 0, "a", 0, 1), span(2, 8, 7, "orphan", 1, 1)];
    assert_eq!(names(&spans), "a\norphan\n");
}

#[test]
fn hostile_shapes_render_every_span_once() {
    let spans = vec![
        span(1, 1, 2, "cycle-a", 0, 1),
        span(1, 2, 1, "cycle-b", 1, 1),
        span(1, 3, 3, "self-parent", 2, 1),
        span(1, 4, 0, "dup", 3, 1),
        span(1, 4, 0, "dup", 4, 1),
        span(1, 9, 0, "\x1b[2Jclear", i64::MAX, i64::MAX),
        span(1, 10, 0, "neg", i64::MIN, -5),
    ];
    let rows: Vec<usize> = layout(&spans).iter().flat_map(|t| t.rows.iter().map(|r| r.index)).collect();
    let mut sorted = rows.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..spans.len()).collect::<Vec<_>>());
    let out = waterfall_with_width(&spans, true, 40);
    assert!(!out.contains("\x1b[2J"), "control characters escaped: {out}");
    assert!(out.contains("\\u{1b}[2Jclear"));
    assert!(bars(&out).iter().all(|b| b.chars().count() == 40 && b.contains('█')));
}

#[test]
fn a_deep_chain_does_not_overflow_the_stack() {
    let spans: Vec<ReceivedSpan> = (1..=50_000u64).map(|i| span(1, i, i - 1, "s", i as i64, 1)).collect();
    let rows = &layout(&spans)[0].rows;
    assert_eq!(rows.len(), 50_000);
    assert_eq!(rows.last().unwrap().depth, 49_999);
}

#[test]
fn waterfall_bars_follow_offsets_and_durations() {
    // A 40 ms trace over 40 columns: one column per millisecond.
    let spans = vec![
        span(1, 1, 0, "root", 1_000_000, 40_000),
        span(1, 2, 1, "first-half", 1_000_000, 20_000),
        span(1, 3, 1, "last-quarter", 1_030_000, 10_000),
        span(1, 4, 1, "instant", 1_010_000, 0),
    ];
    let out = waterfall_with_width(&spans, false, 40);
    let b = bars(&out);
    assert_eq!(b[0], "█".repeat(40));
    assert_eq!(b[1], format!("{}{}", "█".repeat(20), " ".repeat(20)));
    assert_eq!(b[2], format!("{}█{}", " ".repeat(10), " ".repeat(29)), "a zero duration still shows");
    assert_eq!(b[3], format!("{}{}", " ".repeat(30), "█".repeat(10)));
    assert!(out.starts_with("trace 0000000000000001: 4 spans, 1 service (svc), 40.00ms\n"), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1].starts_with("root (svc)") && lines[1].contains("40.00ms"));
    assert!(lines[2].starts_with("  first-half (svc)") && lines[2].contains("20.00ms"));
    // Bars line up in one column whatever the label lengths.
    let columns: Vec<usize> = lines[1..].iter().map(|l| l.chars().position(|c| c == '|').unwrap()).collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{out}");
}

#[test]
fn bar_is_clamped_to_the_width() {
    assert_eq!(bar(0, 10, 10, 4), "████");
    assert_eq!(bar(10, 0, 10, 4), "   █", "a span at the very end keeps one column");
    assert_eq!(bar(-5, 100, 10, 4), "████");
    assert_eq!(bar(5, 5, 10, 1), "█");
}

#[test]
fn error_spans_are_marked_and_red_with_tags_and_logs_below() {
    let mut root = span(1, 1, 0, "GET /users", 0, 10_000);
    root.service_name = "web".into();
    root.tags.push(Tag::new("span.kind", "server"));
    let mut query = span(1, 2, 1, "query", 2_000, 4_000);
    query.service_name = "db".into();
    query.tags.push(Tag::new("error", true));
    query.tags.push(Tag::new("rows", 3i64));
    query.logs.push(Log { timestamp_us: 3_000, fields: vec![Tag::new("message", "timeout")] });
    let spans = vec![root, query];

    let plain = waterfall_with_width(&spans, false, 40);
    let expected_lines = [
        "trace 0000000000000001: 2 spans, 2 services (web, db), 10.00ms",
        "GET /users (web)  ",
        "  tags: span.kind=\"server\"",
        "  query (db) [error]",
        "    tags: error=true rows=3",
        "    log +1.00ms: message=\"timeout\"",
    ];
    for (line, want) in plain.lines().zip(expected_lines) {
        assert!(line.starts_with(want), "{line:?} should start with {want:?}\n{plain}");
    }
    assert_eq!(plain.lines().count(), 6);
    assert!(!plain.contains('\x1b'));

    let colored = waterfall_with_width(&spans, true, 40);
    let red: Vec<&str> = colored.lines().filter(|l| l.starts_with("\x1b[31m")).collect();
    assert_eq!(red.len(), 1);
    assert!(red[0].contains("query (db) [error]") && red[0].ends_with("\x1b[0m"));
    assert_eq!(waterfall(&spans, false), plain, "the default bar width is 40");
}

#[test]
fn durations_read_like_jaeger_ui() {
    assert_eq!(duration(850), "850µs");
    assert_eq!(duration(12_345), "12.35ms");
    assert_eq!(duration(3_200_000), "3.20s");
}
