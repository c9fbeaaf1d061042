use super::*;

fn counters() -> Arc<Counters> {
    Arc::new(Counters::default())
}

fn start(s: &Sampler) -> ActiveSampler {
    s.start("svc", counters()).unwrap()
}

#[test]
fn const_samplers_always_or_never_sample_with_const_tags() {
    let id = TraceId::new(0, 42);
    assert_eq!(
        start(&Sampler::always()).decide(id, "op"),
        SamplingDecision { sampled: true, sampler_type: "const", param: SamplerParam::Bool(true) }
    );
    assert_eq!(
        start(&Sampler::never()).decide(id, "op"),
        SamplingDecision { sampled: false, sampler_type: "const", param: SamplerParam::Bool(false) }
    );
}

#[test]
fn probabilistic_sampler_decides_from_the_trace_id() {
    let s = start(&Sampler::probabilistic(0.5).unwrap());
    let yes = s.decide(TraceId::new(7, 0x4000_0000_0000_0000), "op");
    assert_eq!(
        yes,
        SamplingDecision { sampled: true, sampler_type: "probabilistic", param: SamplerParam::Double(0.5) }
    );
    assert!(!s.decide(TraceId::new(0, 0x4000_0000_0000_0001), "op").sampled);
}

#[test]
fn unsampled_trace_ids_are_rejected_by_the_probabilistic_rule() {
    for rate in [0.0, 0.001, 0.5, 0.9, 0.999] {
        let s = start(&Sampler::probabilistic(rate).unwrap());
        for wide in [false, true] {
            for _ in 0..1000 {
                let id = s.unsampled_trace_id(wide);
                assert!(!s.decide(id, "op").sampled, "rate {rate}: {id}");
                assert_eq!(id.high != 0, wide);
            }
        }
    }
    // Rate 1.0, const and rate limiting: any non-zero random id.
    for s in [Sampler::probabilistic(1.0).unwrap(), Sampler::never(), Sampler::rate_limiting(1.0).unwrap()] {
        let s = start(&s);
        let ids: std::collections::HashSet<_> = (0..100).map(|_| s.unsampled_trace_id(false)).collect();
        assert_eq!(ids.len(), 100);
        assert!(ids.iter().all(|id| id.is_valid()));
    }
}

#[test]
fn rate_limiting_sampler_spends_its_initial_budget_and_tags_its_rate() {
    let s = start(&Sampler::rate_limiting(3.0).unwrap());
    let d: Vec<_> = (0..4).map(|i| s.decide(TraceId::new(0, i), "op")).collect();
    // Starts full with 3 credits; a real clock may add a little, never a whole credit
    // within this test unless the machine stalls for a third of a second.
    assert!(d[..3].iter().all(|d| d.sampled));
    assert!(d.iter().all(|d| d.sampler_type == "ratelimiting" && d.param == SamplerParam::Double(3.0)));
}

#[test]
fn constructors_refuse_rates_outside_their_range() {
    for bad in [-0.1, 1.1, f64::NAN] {
        assert!(
            matches!(Sampler::probabilistic(bad), Err(ref e) if e.kind() == crate::error::BuildErrorKind::InvalidSetting),
            "{bad}"
        );
    }
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(Sampler::rate_limiting(bad), Err(ref e) if e.kind() == crate::error::BuildErrorKind::InvalidSetting),
            "{bad}"
        );
    }
    assert!(Sampler::rate_limiting(0.0).is_ok());
    assert!(Sampler::probabilistic(0.0).is_ok() && Sampler::probabilistic(1.0).is_ok());
}

#[test]
fn remote_sampler_defaults_match_jaeger_client_go() {
    let r = RemoteSampler::new();
    assert_eq!(r.endpoint, "http://127.0.0.1:5778/sampling");
    assert_eq!(r.refresh_interval, Duration::from_secs(60));
    assert_eq!(r.max_operations, 2000);
    assert!(matches!(r.initial.kind, Kind::Probabilistic(rate) if rate == 0.001));
}

#[test]
fn remote_initial_sampler_cannot_be_remote() {
    let nested = Sampler::remote(RemoteSampler::new().initial_sampler(Sampler::remote(RemoteSampler::new())));
    assert!(
        matches!(nested.start("svc", counters()), Err(e) if e.kind() == crate::error::BuildErrorKind::InvalidSetting)
    );
}

#[test]
fn shutdown_of_a_local_sampler_is_a_no_op() {
    let s = start(&Sampler::always());
    s.shutdown();
    s.shutdown();
    assert!(s.decide(TraceId::new(0, 1), "op").sampled);
}

#[test]
fn active_sampler_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ActiveSampler>();
    check::<Sampler>();
}

/// The remote sampler against a strategy server on loopback.
mod remote;
