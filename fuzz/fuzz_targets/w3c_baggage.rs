#![no_main]
//! W3C `baggage` header.
use jaeger_layer::Propagator;
use jaeger_layer_fuzz::{check_extract, check_round_trip, one_header, sorted_baggage, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Propagator::w3c();
    let Some(cx) = check_extract(&p, &one_header("baggage", text(data))) else { return };
    // Keys are tokens and values re-encode exactly: the baggage survives a round trip.
    if let Some(back) = check_round_trip(&p, &cx) {
        assert_eq!(sorted_baggage(&back), sorted_baggage(&cx));
    }
});
