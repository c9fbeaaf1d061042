#![no_main]
//! W3C `traceparent` (and `tracestate` pass-through).
use jaeger_layer::Propagator;
use jaeger_layer_fuzz::{check_extract, check_round_trip, text};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let value = text(data);
    let p = Propagator::w3c();
    let carrier = HashMap::from([
        ("traceparent".to_owned(), value.clone()),
        ("tracestate".to_owned(), value.clone()),
    ]);
    let Some(cx) = check_extract(&p, &carrier) else { return };
    // A valid traceparent is version 00 (55 bytes) or a longer future version.
    assert!(value.trim_matches([' ', '\t']).len() >= 55, "{value:?}");
    assert!(cx.is_valid() && cx.parent_id() == 0 && cx.flags() <= 1);
    if let Some(back) = check_round_trip(&p, &cx) {
        assert_eq!(back.trace_state(), cx.trace_state());
    }
});
