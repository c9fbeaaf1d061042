//! Interop, the other direction: jaeger-client-python's own Tracer and UDP
//! Reporter send spans to our [`Receiver`], which must decode every field they carry.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use jaeger_layer::receiver::Receiver;
use jaeger_layer::{RefType, TagValue};

use crate::python::interop_python;

#[test]
fn receiver_decodes_what_jaeger_client_python_sends() {
    let Some(python) = interop_python() else { return };
    let receiver = Receiver::bind("127.0.0.1:0").unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/send_spans.py");
    let out = Command::new(python)
        .arg(script)
        .arg("127.0.0.1")
        .arg(receiver.local_addr().port().to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "send_spans.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trace_low = sent["trace_id"].as_u64().unwrap();
    let parent_id = sent["parent_span_id"].as_u64().unwrap();
    let child_id = sent["child_span_id"].as_u64().unwrap();

    let follower_id = sent["follower_span_id"].as_u64().unwrap();

    let spans = receiver.wait_for_spans(3, Duration::from_secs(10));
    assert_eq!(receiver.decode_errors(), 0);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let batch = &receiver.batches()[0];
    assert_eq!(batch.process.service_name, "python-interop");
    let process_tag = |k: &str| batch.process.tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
    assert_eq!(process_tag("interop.tag"), Some(TagValue::String("py".into())));
    assert_eq!(process_tag("jaeger.version"), Some(TagValue::String("Python-4.8.0".into())));

    let parent = spans.iter().find(|s| s.operation_name == "parent").unwrap();
    let child = spans.iter().find(|s| s.operation_name == "child").unwrap();
    assert_eq!((parent.trace_id.low, parent.span_id, parent.parent_id), (trace_low, parent_id, 0));
    assert_eq!((child.trace_id, child.span_id, child.parent_id), (parent.trace_id, child_id, parent_id));
    assert_eq!(parent.flags & 1, 1, "sampled");
    assert!(parent.duration_us >= child.duration_us);
    assert!(child.start_time_us >= parent.start_time_us);
    // With `child_of` alone Python's client leaves Span.references out (absent, not empty).
    assert!(child.references.is_empty());
    let follower = spans.iter().find(|s| s.operation_name == "follower").unwrap();
    assert_eq!((follower.trace_id, follower.span_id), (parent.trace_id, follower_id));
    assert_eq!(follower.references.len(), 1);
    let r = &follower.references[0];
    assert_eq!((r.ref_type, r.trace_id, r.span_id), (RefType::FollowsFrom, parent.trace_id, parent_id));
    assert_eq!(parent.tag("http.status_code"), Some(&TagValue::Long(200)));
    assert_eq!(parent.tag("error"), Some(&TagValue::Bool(true)));
    assert_eq!(parent.tag("ratio"), Some(&TagValue::Double(0.25)));
    assert_eq!(parent.tag("sampler.type"), Some(&TagValue::String("const".into())));
    assert_eq!(child.tag("peer.service"), Some(&TagValue::String("db".into())));
    assert_eq!(parent.logs.len(), 1);
    let log = &parent.logs[0];
    assert!(log.timestamp_us >= parent.start_time_us);
    let field = |k: &str| log.fields.iter().find(|t| t.key == k).map(|t| t.value.clone());
    assert_eq!(field("event"), Some(TagValue::String("started".into())));
    assert_eq!(field("attempt"), Some(TagValue::Long(1)));
}
