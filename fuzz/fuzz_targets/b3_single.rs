#![no_main]
//! The single `b3` header.
use jaeger_layer::Propagator;
use jaeger_layer_fuzz::{check_extract, check_round_trip, one_header, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = text(data);
    for p in [Propagator::b3_single(), Propagator::b3()] {
        let Some(cx) = check_extract(&p, &one_header("b3", value.clone())) else { continue };
        assert!(cx.is_valid() && matches!(cx.flags(), 0 | 1 | 3), "{value:?}");
        check_round_trip(&p, &cx);
    }
});
