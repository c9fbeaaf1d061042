#![no_main]
//! A whole header block (`name: value` lines) through every propagator and the composite.
use jaeger_layer::Propagator;
use jaeger_layer_fuzz::{check_extract, check_round_trip, text};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let block = text(data);
    let carrier: HashMap<String, String> = block
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim_start().to_owned()))
        .collect();
    let all = Propagator::composite([Propagator::jaeger(), Propagator::w3c(), Propagator::b3()]);
    for p in [Propagator::jaeger(), Propagator::w3c(), Propagator::b3(), Propagator::b3_single(), all] {
        if let Some(cx) = check_extract(&p, &carrier) {
            check_round_trip(&p, &cx);
        }
    }
    let _ = jaeger_layer::extract(&carrier);
});
