//! `Spans` look-ups and tree assertions on hand-made spans. The same code on spans that went
//! through the layer is tested in `tests/testing.rs`.

use super::*;
use crate::span::id::TraceId;
use crate::test_support::fixtures::received_span as span;

#[test]
fn spans_find_by_name_parent_children_and_roots() {
    let spans = Spans::new(vec![
        span(1, 2, 1, "child", 20, 1),
        span(1, 1, 0, "root", 10, 100),
        span(1, 3, 1, "child", 15, 1),
        span(1, 4, 99, "remote-child", 30, 1),
    ]);
    assert_eq!(spans.by_name("child").unwrap().span_id, 3, "earliest start first");
    assert_eq!(spans.all_named("child").iter().map(|s| s.span_id).collect::<Vec<_>>(), [3, 2]);
    let root = spans.by_name("root").unwrap();
    assert_eq!(spans.children_of(root).len(), 2);
    assert_eq!(spans.parent_of(spans.by_name("child").unwrap()).unwrap().span_id, 1);
    assert!(spans.parent_of(root).is_none());
    assert_eq!(spans.roots().iter().map(|s| s.span_id).collect::<Vec<_>>(), [1, 4]);
    assert!(spans.root().is_none(), "two roots: no single root");
    assert_eq!(spans.trace_ids(), [TraceId::new(0, 1)]);
    assert!(spans.by_name("missing").is_none());
    assert_eq!(spans.tag("root", "anything"), None);
}

#[test]
fn assert_tree_ignores_the_common_indentation() {
    let spans = Spans::new(vec![span(1, 1, 0, "root", 0, 10), span(1, 2, 1, "child", 1, 1)]);
    spans.assert_tree(
        "
        root
          child
        ",
    );
    spans.assert_tree("root\n  child\n");
    let failure = std::panic::catch_unwind(|| spans.assert_tree("root\nchild\n")).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(message.contains("--- expected\nroot\nchild\n--- actual\nroot\n  child\n"), "{message}");
}
