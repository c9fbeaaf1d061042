//! tracing → Jaeger mapping, end to end through UDP and the receiver.

mod support;

use std::borrow::Cow;

use jaeger_layer::{RefType, TagValue};
use support::{by_name, render, render_with, Harness};
use tracing::{info_span, instrument};

#[instrument]
fn outer(n: u64) {
    inner(n + 1);
    inner(n + 2);
}

#[instrument(fields(kind = "leaf"))]
fn inner(m: u64) {
    tracing::info!(m, "working");
}

#[test]
fn nested_instrument_spans_form_one_tree() {
    let h = Harness::new();
    h.run(|| outer(1));
    let spans = h.spans(3);
    assert_eq!(render(&spans), "outer\n  inner\n  inner\n");
    let root = by_name(&spans, "outer");
    assert_eq!(root.parent_id, 0);
    assert!(root.references.is_empty());
    assert_eq!(root.span_id, root.trace_id.low, "a root's span id is its trace id's low half");
    for child in spans.iter().filter(|s| s.operation_name == "inner") {
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_id, root.span_id);
        assert_eq!(child.references.len(), 1);
        assert_eq!(child.references[0].ref_type, RefType::ChildOf);
        assert_eq!(child.references[0].span_id, root.span_id);
        assert_eq!(child.references[0].trace_id, root.trace_id);
        assert_eq!(child.flags, 1);
        assert_eq!(child.service_name, "test-service");
    }
}

#[test]
fn an_explicit_parent_wins_over_the_current_span_and_parent_none_is_a_root() {
    let h = Harness::new();
    h.run(|| {
        let a = info_span!("a");
        let _b = info_span!("b").entered();
        // Explicit parent wins over the current span.
        info_span!(parent: &a, "child_of_a").in_scope(|| {});
        info_span!(parent: None, "orphan").in_scope(|| {});
    });
    let spans = h.spans(4);
    assert_eq!(render(&spans), "a\n  child_of_a\nb\norphan\n");
    let (a, b, orphan) = (by_name(&spans, "a"), by_name(&spans, "b"), by_name(&spans, "orphan"));
    assert_ne!(a.trace_id, b.trace_id);
    assert_ne!(orphan.trace_id, b.trace_id);
    assert_eq!(orphan.parent_id, 0);
}

#[test]
fn parents_cross_threads_and_spans_close_on_other_threads() {
    let h = Harness::new();
    h.run(|| {
        let root = info_span!("root");
        let dispatch = h.dispatch.clone();
        let r = root.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                info_span!(parent: &r, "on_thread").in_scope(|| {});
                // The last handle to `r` closes the root here, on another thread.
                drop(r);
            })
        })
        .join()
        .unwrap();
        drop(root);
    });
    let spans = h.spans(2);
    assert_eq!(render(&spans), "root\n  on_thread\n");
    assert!(by_name(&spans, "root").duration_us >= by_name(&spans, "on_thread").duration_us);
}

#[instrument]
async fn step(i: u32) {
    tokio::task::yield_now().await;
    tracing::info!(i, "step done");
}

#[instrument]
async fn pipeline() {
    step(1).await;
    step(2).await;
    let handle = tokio::spawn(tracing::Instrument::in_current_span(async { step(3).await }));
    handle.await.unwrap();
}

#[test]
fn async_tasks_keep_parents() {
    let h = Harness::new();
    h.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(pipeline());
    });
    let spans = h.spans(4);
    assert_eq!(render(&spans), "pipeline\n  step\n  step\n  step\n");
    let root = by_name(&spans, "pipeline");
    for s in &spans {
        assert_eq!(s.trace_id, root.trace_id);
        if s.operation_name == "step" {
            assert_eq!(s.logs.len(), 1);
        }
    }
}

#[derive(Debug)]
struct Custom {
    #[allow(dead_code)]
    x: u8,
}

#[derive(Debug)]
struct Oops;
impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("it broke")
    }
}
impl std::error::Error for Oops {}

#[test]
fn fields_become_typed_tags() {
    let h = Harness::with(|b| b.max_tag_value_length(8));
    h.run(|| {
        let err = Oops;
        let span = info_span!(
            "typed",
            long = -5i64,
            small_u = 7u64,
            big_u = u64::MAX,
            double = 0.5f64,
            flag = true,
            text = "hello",
            long_text = "ééééé", // 10 bytes, cut at 8 on a char boundary
            custom = ?Custom { x: 1 },
            cause = &err as &(dyn std::error::Error + 'static),
            later = tracing::field::Empty,
        );
        span.record("later", 42i64);
        span.record("text", "replaced");
        span.in_scope(|| {});
    });
    let spans = h.spans(1);
    let s = &spans[0];
    let t = |k: &str| s.tag(k).cloned().unwrap_or_else(|| panic!("no tag {k}: {:?}", s.tags));
    assert_eq!(t("long"), TagValue::Long(-5));
    assert_eq!(t("small_u"), TagValue::Long(7));
    assert_eq!(t("big_u"), TagValue::String(Cow::Owned(u64::MAX.to_string())));
    assert_eq!(t("double"), TagValue::Double(0.5));
    assert_eq!(t("flag"), TagValue::Bool(true));
    assert_eq!(t("text"), TagValue::String("replaced".into()));
    assert_eq!(t("long_text"), TagValue::String("éééé".into()));
    assert_eq!(t("custom"), TagValue::String("Custom {".into()), "Debug rendering, cut at 8 bytes");
    assert_eq!(t("cause"), TagValue::String("it broke".into()));
    assert_eq!(t("error"), TagValue::Bool(true));
    assert_eq!(t("later"), TagValue::Long(42));
    assert_eq!(s.tags.iter().filter(|t| t.key == "text").count(), 1, "a re-recorded field replaces its tag");
    // Metadata tags.
    assert_eq!(t("code.filepath"), TagValue::String(file!().into()));
    assert!(matches!(t("code.lineno"), TagValue::Long(l) if l > 0));
    assert_eq!(t("code.namespace"), TagValue::String(module_path!().into()));
    assert_eq!(t("level"), TagValue::String("INFO".into()));
    // Sampler tags come first on the root.
    assert_eq!(s.tags[0].key, "sampler.type");
    assert_eq!(s.tags[1].key, "sampler.param");
}

#[test]
fn metadata_tags_can_be_switched_off() {
    let h = Harness::with(|b| b.metadata_tags(false));
    h.run(|| info_span!("plain", a = 1i64).in_scope(|| {}));
    let s = &h.spans(1)[0];
    for key in ["code.filepath", "code.lineno", "code.namespace", "level"] {
        assert!(s.tag(key).is_none(), "{key} present");
    }
    assert_eq!(s.tag("a"), Some(&TagValue::Long(1)));
}

#[test]
fn otel_fields_are_honoured() {
    let h = Harness::new();
    h.run(|| {
        let span = info_span!(
            "generic",
            otel.name = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty
        );
        span.record("otel.name", "GET /users/{id}");
        span.record("otel.status_code", "Error");
        span.in_scope(|| {});
        info_span!("internal_one", otel.kind = "internal").in_scope(|| {});
        info_span!("fine", otel.status_code = "Ok").in_scope(|| {});
        info_span!("unset", otel.status_code = "unset").in_scope(|| {});
    });
    let spans = h.spans(4);
    let s = by_name(&spans, "GET /users/{id}");
    assert_eq!(s.tag("span.kind"), Some(&TagValue::String("server".into())));
    assert_eq!(s.tag("error"), Some(&TagValue::Bool(true)));
    assert!(s.tag("otel.name").is_none() && s.tag("otel.kind").is_none());
    assert!(by_name(&spans, "internal_one").tag("span.kind").is_none());
    // Ok is kept the way Jaeger v2 shows (and reads back) an OK status; Unset says nothing.
    let fine = by_name(&spans, "fine");
    assert_eq!(fine.tag("otel.status_code"), Some(&TagValue::String("OK".into())));
    assert!(fine.tag("error").is_none());
    assert!(by_name(&spans, "unset").tag("otel.status_code").is_none());
}

#[test]
fn events_become_logs_and_errors_mark_the_span() {
    let h = Harness::new();
    let before_us = now_us();
    h.run(|| {
        tracing::info!("outside any span: costs nothing, goes nowhere");
        info_span!("with_logs").in_scope(|| {
            tracing::info!(answer = 42i64, "first");
            tracing::warn!(ratio = 0.25f64, ok = false, "second");
        });
        info_span!("failing").in_scope(|| {
            tracing::error!("boom");
        });
    });
    let after_us = now_us();
    let spans = h.spans(2);
    let s = by_name(&spans, "with_logs");
    assert_eq!(s.logs.len(), 2);
    let first = &s.logs[0];
    let field =
        |log: &jaeger_layer::Log, k: &str| log.fields.iter().find(|t| t.key == k).map(|t| t.value.clone());
    assert_eq!(field(first, "message"), Some(TagValue::String("first".into())));
    assert_eq!(field(first, "answer"), Some(TagValue::Long(42)));
    assert_eq!(field(first, "level"), Some(TagValue::String("INFO".into())));
    assert_eq!(field(&s.logs[1], "ratio"), Some(TagValue::Double(0.25)));
    assert_eq!(field(&s.logs[1], "ok"), Some(TagValue::Bool(false)));
    assert_eq!(field(&s.logs[1], "level"), Some(TagValue::String("WARN".into())));
    assert!(first.timestamp_us >= before_us && first.timestamp_us <= after_us);
    assert!(s.logs[1].timestamp_us >= first.timestamp_us);
    assert!(s.tag("error").is_none());
    assert_eq!(by_name(&spans, "failing").tag("error"), Some(&TagValue::Bool(true)));
}

#[test]
fn follows_from_becomes_a_reference() {
    let h = Harness::new();
    h.run(|| {
        let cause = info_span!("cause");
        let effect = info_span!(parent: None, "effect");
        effect.follows_from(&cause);
        drop(effect);
        drop(cause);
    });
    let spans = h.spans(2);
    let (cause, effect) = (by_name(&spans, "cause"), by_name(&spans, "effect"));
    assert_eq!(effect.references.len(), 1);
    let r = effect.references[0];
    assert_eq!(r.ref_type, RefType::FollowsFrom);
    assert_eq!((r.trace_id, r.span_id), (cause.trace_id, cause.span_id));
}

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

#[test]
fn times_are_microseconds_since_the_epoch() {
    let h = Harness::new();
    let before = now_us();
    h.run(|| {
        let span = info_span!("timed");
        // Entered and exited several times: the duration is creation → close.
        for _ in 0..3 {
            let _g = span.enter();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let after = now_us();
    let s = &h.spans(1)[0];
    assert!(s.start_time_us >= before - 1000 && s.start_time_us <= after, "{s:?}");
    assert!(s.duration_us >= 15_000, "duration {} µs", s.duration_us);
    assert!(s.start_time_us + s.duration_us <= after + 1000);
}

#[test]
fn trace_id_width_is_configurable() {
    let wide = Harness::new();
    wide.run(|| info_span!("w").in_scope(|| {}));
    assert_ne!(wide.spans(1)[0].trace_id.high, 0, "128-bit by default");
    let narrow = Harness::with(|b| b.trace_id_128bit(false));
    narrow.run(|| info_span!("n").in_scope(|| {}));
    assert_eq!(narrow.spans(1)[0].trace_id.high, 0);
}

#[test]
fn process_carries_service_user_tags_then_client_tags() {
    let h =
        Harness::with(|b| b.service_name("checkout").process_tag("region", "eu").process_tag("shard", 3i64));
    h.run(|| info_span!("p").in_scope(|| {}));
    h.spans(1);
    let batch = &h.receiver.batches()[0];
    assert_eq!(batch.process.service_name, "checkout");
    let keys: Vec<&str> = batch.process.tags.iter().map(|t| t.key.as_ref()).collect();
    assert_eq!(keys[..3], ["region", "shard", "jaeger.version"]);
    assert_eq!(batch.process.tags[1].value, TagValue::Long(3));
    assert_eq!(
        batch.process.tags[2].value,
        TagValue::String(format!("Rust-{}", env!("CARGO_PKG_VERSION")).into())
    );
    assert_eq!(keys.last(), Some(&"client-uuid"));
    assert!(keys.contains(&"ip"));
}

#[test]
fn unsampled_spans_are_never_exported() {
    let h = Harness::with(|b| b.sampler(jaeger_layer::Sampler::never()));
    h.run(|| {
        info_span!("root", a = 1i64).in_scope(|| {
            info_span!("child").in_scope(|| tracing::info!("ignored"));
        })
    });
    h.guard.flush(support::WAIT).unwrap();
    let s = h.guard.stats();
    assert_eq!(s.spans_started_unsampled, 2);
    assert_eq!(s.spans_started_sampled, 0);
    assert_eq!(s.traces_started_unsampled, 1);
    assert_eq!(s.spans_finished, 0);
    assert!(h.receiver.batches().is_empty());
    let _ = render_with(&[], &[]);
}

/// A field whose `Debug` itself traces: if the layer held a span's extensions lock while
/// formatting it, this would deadlock (a known bug class of tracing layers).
struct Reentrant;
impl std::fmt::Debug for Reentrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!("logged from inside Debug");
        let inner = info_span!("span_from_debug");
        inner.in_scope(|| tracing::info!("nested"));
        f.write_str("reentrant")
    }
}

#[test]
fn field_formatting_that_traces_does_not_deadlock() {
    let h = Harness::new();
    h.run(|| {
        let span = info_span!("outer", value = ?Reentrant, later = tracing::field::Empty);
        span.in_scope(|| {
            span.record("later", tracing::field::debug(Reentrant));
            tracing::info!(value = ?Reentrant, "event with a reentrant field");
        });
    });
    // tracing-core disables dispatch re-entered from inside a subscriber callback on some
    // paths (creation, events) and not on others (`Span::record`): whatever was enabled is
    // exported; what matters is that nothing deadlocked and the values were recorded.
    h.guard.flush(support::WAIT).unwrap();
    let exported = h.guard.stats().spans_exported as usize;
    let spans = h.spans(exported);
    let outer = by_name(&spans, "outer");
    assert_eq!(outer.tag("value"), Some(&TagValue::String("reentrant".into())));
    assert_eq!(outer.tag("later"), Some(&TagValue::String("reentrant".into())));
    // The event's own log; events emitted from inside `Debug` may add more, depending on
    // which of tracing-core's paths re-entered.
    let event_log = outer.logs.iter().find(|l| {
        l.fields
            .iter()
            .any(|f| f.key == "message" && f.value == TagValue::String("event with a reentrant field".into()))
    });
    let value = event_log.and_then(|l| l.fields.iter().find(|f| f.key == "value"));
    assert_eq!(value.map(|f| f.value.clone()), Some(TagValue::String("reentrant".into())));
}

/// A field whose `Debug` panics.
struct Panics;
impl std::fmt::Debug for Panics {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Debug panicked")
    }
}

#[test]
fn an_event_whose_field_panics_leaves_nothing_in_the_next_log() {
    let h = Harness::new();
    h.run(|| {
        info_span!("span").in_scope(|| {
            let panicked = std::panic::catch_unwind(|| tracing::info!(first = 1i64, bad = ?Panics, "lost"));
            assert!(panicked.is_err());
            tracing::info!(second = 2i64, "kept");
        })
    });
    let s = &h.spans(1)[0];
    let kept = s.logs.last().expect("the second event's log");
    let keys: Vec<&str> = kept.fields.iter().map(|f| &*f.key).collect();
    assert_eq!(keys, ["message", "second", "level"]);
}

#[test]
fn max_logs_per_span_keeps_the_oldest_and_newest() {
    let h = Harness::with(|b| b.max_logs_per_span(5));
    h.run(|| {
        info_span!("chatty").in_scope(|| {
            for i in 0..1000i64 {
                tracing::info!(i, "tick");
            }
        })
    });
    let s = &h.spans(1)[0];
    assert_eq!(s.logs.len(), 5);
    let i = |n: usize| s.logs[n].fields.iter().find(|f| f.key == "i").map(|f| f.value.clone());
    assert_eq!((i(0), i(1)), (Some(TagValue::Long(0)), Some(TagValue::Long(1))));
    assert_eq!(s.logs[2].fields[0].value, TagValue::String("dropped Span logs".into()));
    assert_eq!(s.logs[2].fields[1].value, TagValue::Long(996));
    assert_eq!((i(3), i(4)), (Some(TagValue::Long(998)), Some(TagValue::Long(999))));
}

#[test]
fn recycled_records_carry_nothing_over_to_the_next_span() {
    // Records (and their string buffers) are reused once the exporter has sent them: a span
    // that follows a rich one must come out with only its own tags, logs and references.
    let h = Harness::with(|b| b.metadata_tags(false).max_logs_per_span(3));
    h.run(|| {
        let cause = info_span!("cause");
        cause.in_scope(|| {});
        let rich = info_span!("rich", a = "a long string value", b = 2i64, otel.name = "renamed");
        rich.follows_from(&cause);
        rich.in_scope(|| {
            for i in 0..5i64 {
                tracing::error!(i, text = "some log text", "log");
            }
        });
    });
    let first = h.spans(2);
    assert_eq!(by_name(&first, "renamed").logs.len(), 3);
    h.run(|| {
        for i in 0..50i64 {
            info_span!("plain", s = "x").in_scope(|| {
                if i % 2 == 0 {
                    tracing::info!("one");
                }
            });
        }
    });
    let spans: Vec<_> = h.spans(52).into_iter().filter(|s| s.operation_name == "plain").collect();
    assert_eq!(spans.len(), 50);
    for s in &spans {
        let own: Vec<_> = s.tags.iter().filter(|t| !t.key.starts_with("sampler.")).collect();
        assert_eq!(own.len(), 1, "{:?}", s.tags);
        assert_eq!(s.tag("s"), Some(&TagValue::String("x".into())));
        assert!(s.references.is_empty(), "{:?}", s.references);
        assert!(s.logs.len() <= 1);
        for log in &s.logs {
            assert_eq!(log.fields.len(), 2, "{:?}", log.fields);
        }
    }
    assert_eq!(spans.iter().filter(|s| s.logs.len() == 1).count(), 25);
}

/// A log field's value by key.
fn log_field(log: &jaeger_layer::Log, key: &str) -> Option<TagValue> {
    log.fields.iter().find(|f| f.key == key).map(|f| f.value.clone())
}

#[test]
fn byte_fields_become_binary_tags_and_log_fields_cut_at_the_limit() {
    let h = Harness::with(|b| b.max_tag_value_length(8).metadata_tags(false));
    let bytes: Vec<u8> = (0u8..12).chain([0xff, 0xfe]).collect();
    h.run(|| {
        let span =
            info_span!("bytes", raw = &bytes[..], short = &b"\x00\xff"[..], later = tracing::field::Empty);
        span.record("later", &b"\x01\x02\x03"[..]);
        span.in_scope(|| tracing::info!(payload = &bytes[..], "got"));
    });
    let s = &h.spans(1)[0];
    assert_eq!(s.tag("raw"), Some(&TagValue::Binary((0u8..8).collect())), "cut at 8 bytes");
    assert_eq!(s.tag("short"), Some(&TagValue::Binary(vec![0, 0xff])));
    assert_eq!(s.tag("later"), Some(&TagValue::Binary(vec![1, 2, 3])));
    assert_eq!(log_field(&s.logs[0], "payload"), Some(TagValue::Binary((0u8..8).collect())));
}

#[test]
fn huge_event_fields_are_cut_so_the_span_is_still_exported() {
    // Default limit: 256 bytes. Each value alone would make the span too large to send.
    let h = Harness::new();
    let big = "€".repeat((10 << 20) / 3); // ~10 MB of 3-byte chars
    let bytes = vec![7u8; 10 << 20];
    h.run(|| {
        info_span!("huge").in_scope(|| {
            tracing::info!(text = big.as_str(), shown = %big, debugged = ?bytes.len(), "one");
            tracing::info!(raw = &bytes[..], "two");
            let err: Box<dyn std::error::Error> = big.clone().into();
            tracing::warn!(error = &*err as &(dyn std::error::Error + 'static), "three");
        });
    });
    let spans = h.spans(1);
    let s = &spans[0];
    assert_eq!(h.guard.stats().spans_dropped_too_large, 0);
    let cut = TagValue::String("€".repeat(85).into()); // 255 bytes: 256 would split a char
    assert_eq!(log_field(&s.logs[0], "text"), Some(cut.clone()));
    assert_eq!(log_field(&s.logs[0], "shown"), Some(cut.clone()));
    assert_eq!(log_field(&s.logs[0], "debugged"), Some(TagValue::String(bytes.len().to_string().into())));
    assert_eq!(log_field(&s.logs[1], "raw"), Some(TagValue::Binary(vec![7; 256])));
    assert_eq!(log_field(&s.logs[2], "error.object"), Some(cut));
}

#[test]
fn wide_integers_are_longs_when_they_fit() {
    let h = Harness::new();
    h.run(|| {
        info_span!("ints", small = -3i128, unsigned = 9u128, huge = u128::MAX).in_scope(|| {
            tracing::info!(n = 5i128, "log");
        })
    });
    let s = &h.spans(1)[0];
    assert_eq!(s.tag("small"), Some(&TagValue::Long(-3)));
    assert_eq!(s.tag("unsigned"), Some(&TagValue::Long(9)));
    assert_eq!(s.tag("huge"), Some(&TagValue::String(u128::MAX.to_string().into())));
    assert_eq!(log_field(&s.logs[0], "n"), Some(TagValue::Long(5)));
}

/// Two subscribers on one thread hand out the same span ids: an event in an unsampled span
/// of one, whose id is that of the sampled span the other started last, is logged nowhere,
/// and the sampled spans keep exactly their own logs.
#[test]
fn an_event_in_an_unsampled_span_with_another_subscribers_sampled_id_is_logged_nowhere() {
    let (h1, h2) = (Harness::new(), Harness::new());
    // Keeps a sampled span alive in h2, so its events are not skipped wholesale.
    let keep = h2.run(|| info_span!("keep"));
    let unsampled = h2.run(|| info_span!(parent: None, "unsampled", sampling.priority = 0i64));
    let (a, b) = h1.run(|| (info_span!("a"), info_span!("b")));
    assert_eq!(b.id(), h2.run(|| unsampled.id()), "the ids do not collide: the case is not exercised");
    h2.run(|| unsampled.in_scope(|| tracing::info!(n = 1i64, "in unsampled")));
    h1.run(|| b.in_scope(|| tracing::info!("in b")));
    h2.run(|| keep.in_scope(|| tracing::info!("in keep")));
    drop((unsampled, a, b, keep));
    let messages = |spans: &[jaeger_layer::receiver::ReceivedSpan], name: &str| -> Vec<String> {
        by_name(spans, name)
            .logs
            .iter()
            .flat_map(|l| l.fields.iter())
            .filter(|t| t.key == "message")
            .map(|t| match &t.value {
                TagValue::String(m) => m.to_string(),
                other => panic!("message {other:?}"),
            })
            .collect()
    };
    let (s1, s2) = (h1.spans(2), h2.spans(1));
    assert_eq!(messages(&s1, "b"), ["in b"]);
    assert!(messages(&s1, "a").is_empty());
    assert_eq!(messages(&s2, "keep"), ["in keep"]);
}
