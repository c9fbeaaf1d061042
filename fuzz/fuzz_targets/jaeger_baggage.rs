#![no_main]
//! `jaeger-baggage: k=v, k2=v2` and `uberctx-*` values.
use jaeger_layer::Propagator;
use jaeger_layer_fuzz::{check_extract, check_round_trip, one_header, sorted_baggage, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Propagator::jaeger();
    let value = text(data);
    // The same bytes as one `uberctx-` value: it is kept whole, decoded or raw.
    if let Some(cx) = check_extract(&p, &one_header("uberctx-k", value.clone())) {
        assert_eq!(cx.baggage().len(), 1);
        let back = check_round_trip(&p, &cx);
        if let Some(back) = back {
            assert_eq!(back.baggage().get("k"), cx.baggage().get("k"));
        }
    }
    let Some(cx) = check_extract(&p, &one_header("jaeger-baggage", value)) else { return };
    let Some(back) = check_round_trip(&p, &cx) else { return };
    // Re-injected as `uberctx-<key>`, which lower-cases keys on the way back in.
    if cx.baggage().iter().all(|(k, _)| k.to_lowercase() == k) {
        assert_eq!(sorted_baggage(&back), sorted_baggage(&cx));
    }
});
