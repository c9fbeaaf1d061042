#![no_main]
//! `uber-trace-id`: `FromStr`, `Display` and Jaeger extraction (URL-decoding first).
use jaeger_layer::{Propagator, SpanContext};
use jaeger_layer_fuzz::{check_extract, check_round_trip, one_header, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = text(data);
    if let Ok(cx) = value.parse::<SpanContext>() {
        // What parses prints in the canonical form, which parses to the same context.
        let canonical = cx.to_string();
        assert_eq!(canonical.parse::<SpanContext>().as_ref(), Ok(&cx), "{value:?}");
        assert!(canonical.len() <= 32 + 16 + 16 + 2 + 3);
    }
    let p = Propagator::jaeger();
    if let Some(cx) = check_extract(&p, &one_header("uber-trace-id", value)) {
        check_round_trip(&p, &cx);
    }
});
