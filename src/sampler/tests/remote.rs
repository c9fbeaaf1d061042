//! The remote sampler against a real HTTP server on loopback (behaviour of jaeger-client-go's
//! `sampler_remote.go`).
//!
//! Every test has its own server and sampler. Polls are triggered with `poll_now` (the refresh
//! interval is an hour unless the test is about the timer) and awaited on the counters: each
//! poll ends by incrementing exactly one of `sampler_queries_err`, `sampler_updates_ok` or
//! `sampler_updates_err`.

use std::net::TcpListener;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::rate_limiting::{advance, LimiterClock};
use super::*;
use crate::test_support::http_server::Server;

// === helpers ===

const WAIT: Duration = Duration::from_secs(20);
const HOUR: Duration = Duration::from_secs(3600);

/// Trace ids the probabilistic sampler accepts / rejects at any rate below 1.
const YES: TraceId = TraceId::new(0, 0);
const NO: TraceId = TraceId::new(0, 0x7fff_ffff_ffff_ffff);

const PROB_ONE: &str = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}"#;

/// Polls until `cond` holds, for at most [`WAIT`].
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// `[queries_ok, queries_err, updates_ok, updates_err]`.
fn counts(c: &Counters) -> [u64; 4] {
    [
        c.sampler_queries_ok.load(Relaxed),
        c.sampler_queries_err.load(Relaxed),
        c.sampler_updates_ok.load(Relaxed),
        c.sampler_updates_err.load(Relaxed),
    ]
}

/// Polls finished so far: each ends with exactly one of these three counters.
fn polls(c: &Counters) -> u64 {
    let [_, q_err, u_ok, u_err] = counts(c);
    q_err + u_ok + u_err
}

fn wait_polls(c: &Counters, n: u64) {
    wait_for(&format!("{n} polls"), || polls(c) >= n);
    assert_eq!(polls(c), n, "more polls than expected");
}

/// Starts a remote sampler on `endpoint` (an hour between polls unless `configure` says
/// otherwise), initial sampler `never`.
fn start(
    endpoint: &str,
    service: &str,
    configure: impl FnOnce(RemoteSampler) -> RemoteSampler,
) -> (ActiveSampler, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let config =
        RemoteSampler::new().endpoint(endpoint).refresh_interval(HOUR).initial_sampler(Sampler::never());
    let sampler = Sampler::remote(configure(config)).start(service, counters.clone()).unwrap();
    (sampler, counters)
}

fn poll(sampler: &ActiveSampler, counters: &Counters) {
    let before = polls(counters);
    sampler.poll_now();
    wait_polls(counters, before + 1);
}

fn never() -> SamplingDecision {
    SamplingDecision { sampled: false, sampler_type: TYPE_CONST, param: SamplerParam::Bool(false) }
}

fn decision(sampled: bool, sampler_type: &'static str, param: f64) -> SamplingDecision {
    SamplingDecision { sampled, sampler_type, param: SamplerParam::Double(param) }
}

// === tests ===

#[test]
fn first_poll_is_at_start_up_with_the_service_name_url_encoded() {
    let server = Server::start();
    server.reply(200, PROB_ONE);
    let (sampler, counters) = start(&server.url("/sampling"), "my svc/ä&x", |c| c);
    wait_polls(&counters, 1);
    assert_eq!(server.targets(), ["/sampling?service=my+svc%2F%C3%A4%26x"]);
    assert_eq!(counts(&counters), [1, 0, 1, 0]);
    assert_eq!(sampler.decide(NO, "op"), decision(true, TYPE_PROBABILISTIC, 1.0));
}

#[test]
fn initial_sampler_decides_while_a_slow_request_is_pending() {
    let server = Server::start();
    let release = server.hold(200, PROB_ONE);
    let (sampler, counters) = start(&server.url("/sampling"), "svc", |c| c);
    server.wait_requests(1);
    // The server holds its answer: decisions are still made, with the initial sampler.
    for i in 0..10_000 {
        assert_eq!(sampler.decide(TraceId::new(0, i), "op"), never());
    }
    assert_eq!(polls(&counters), 0, "the request is still pending");
    release.send(()).unwrap();
    wait_polls(&counters, 1);
    assert_eq!(sampler.decide(NO, "op"), decision(true, TYPE_PROBABILISTIC, 1.0));
}

#[test]
fn strategies_of_every_kind_and_both_strategy_type_forms_are_picked_up() {
    let server = Server::start();
    let (clock, _t) = LimiterClock::manual();
    server.reply(200, PROB_ONE);
    let (sampler, counters) = start(&server.url("/sampling"), "svc", |c| c.clock(clock).max_operations(2));
    wait_polls(&counters, 1);
    assert_eq!(sampler.decide(NO, "op"), decision(true, TYPE_PROBABILISTIC, 1.0));

    // Integer strategyType (the agent's legacy endpoint), rate limiting.
    server.reply(200, r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":2}}"#);
    poll(&sampler, &counters);
    let d: Vec<_> = (0..3).map(|_| sampler.decide(YES, "op")).collect();
    assert_eq!(
        d,
        [
            decision(true, TYPE_RATE_LIMITING, 2.0),
            decision(true, TYPE_RATE_LIMITING, 2.0),
            decision(false, TYPE_RATE_LIMITING, 2.0)
        ]
    );

    // Per-operation, with max_operations passed through.
    server.reply(
        200,
        r#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0,
        "defaultLowerBoundTracesPerSecond":1,"perOperationStrategies":[
        {"operation":"GET /x","probabilisticSampling":{"samplingRate":1}}]}}"#,
    );
    poll(&sampler, &counters);
    assert_eq!(sampler.decide(NO, "GET /x"), decision(true, TYPE_PROBABILISTIC, 1.0));
    assert_eq!(sampler.decide(NO, "other"), decision(true, TYPE_LOWERBOUND, 0.0));
    assert_eq!(sampler.decide(NO, "other"), decision(false, TYPE_LOWERBOUND, 0.0));
    // Two operations known: a third one gets the default probabilistic sampler.
    assert_eq!(sampler.decide(NO, "third"), decision(false, TYPE_PROBABILISTIC, 0.0));
    assert_eq!(sampler.decide(YES, "third"), decision(true, TYPE_PROBABILISTIC, 0.0));

    // Integer 0, probabilistic.
    server.reply(200, r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#);
    poll(&sampler, &counters);
    assert_eq!(sampler.decide(TraceId::new(0, 1 << 62), "op"), decision(true, TYPE_PROBABILISTIC, 0.5));
    assert_eq!(
        sampler.decide(TraceId::new(0, (1 << 62) + 1), "op"),
        decision(false, TYPE_PROBABILISTIC, 0.5)
    );

    assert_eq!(counts(&counters), [4, 0, 4, 0]);
    assert_eq!(server.targets().len(), 4);
}

#[test]
fn limiter_balances_survive_updates_of_the_same_kind() {
    let server = Server::start();
    let (clock, t) = LimiterClock::manual();
    server.reply(200, r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":10}}"#);
    let (sampler, counters) = start(&server.url("/sampling"), "svc", |c| c.clock(clock));
    wait_polls(&counters, 1);
    let sampled = |n: usize| (0..n).filter(|_| sampler.decide(YES, "op").sampled).count();
    assert_eq!(sampled(5), 5); // balance 10 -> 5

    // Pro-rated: 5 * 20 / 10 = 10 credits, not a fresh 20.
    server.reply(200, r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":20}}"#);
    poll(&sampler, &counters);
    assert_eq!(sampler.decide(YES, "op").param, SamplerParam::Double(20.0));
    assert_eq!(sampled(11), 9, "one of the 10 credits went to the decision above");

    // The same rate again changes nothing; time refills at the new rate.
    server.reply(200, r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":20}}"#);
    poll(&sampler, &counters);
    assert_eq!(sampled(1), 0);
    advance(&t, 0.25);
    assert_eq!(sampled(6), 5);

    // Per-operation lower bounds are kept too (pro-rated when the bound changes).
    let per_op = |lb: f64| {
        format!(
            r#"{{"operationSampling":{{"defaultSamplingProbability":0,"defaultLowerBoundTracesPerSecond":{lb},
            "perOperationStrategies":[{{"operation":"a","probabilisticSampling":{{"samplingRate":0}}}}]}}}}"#
        )
    };
    server.reply(200, &per_op(4.0));
    poll(&sampler, &counters);
    let lower = |n: usize| (0..n).filter(|_| sampler.decide(NO, "a").sampled).count();
    assert_eq!(lower(3), 3); // 4 -> 1
    server.reply(200, &per_op(8.0));
    poll(&sampler, &counters);
    assert_eq!(lower(3), 2, "1 * 8 / 4 = 2 credits");
    assert_eq!(counts(&counters), [5, 0, 5, 0]);
}

#[test]
fn errors_keep_the_last_strategy_and_are_counted_like_go() {
    let server = Server::start();
    server.reply(200, PROB_ONE);
    let (sampler, counters) = start(&server.url("/sampling"), "svc", |c| c);
    wait_polls(&counters, 1);
    assert_eq!(counts(&counters), [1, 0, 1, 0]);

    let steps: [(u16, &str, [u64; 4]); 8] = [
        // HTTP error: a query error only, even with a valid strategy in the body.
        (500, r#"{"probabilisticSampling":{"samplingRate":0}}"#, [1, 1, 1, 0]),
        (404, "not found", [1, 2, 1, 0]),
        // Malformed JSON: an update error only.
        (200, "{not json", [1, 2, 1, 1]),
        (200, r#"{"strategyType":"ADAPTIVE"}"#, [1, 2, 1, 2]),
        // Well-formed but unusable: a query ok, then an update error.
        (200, "{}", [2, 2, 1, 3]),
        (200, r#"{"probabilisticSampling":{"samplingRate":1.5}}"#, [3, 2, 1, 4]),
        (200, r#"{"rateLimitingSampling":{"maxTracesPerSecond":-1}}"#, [4, 2, 1, 5]),
        (200, r#"{"operationSampling":{"defaultLowerBoundTracesPerSecond":-2}}"#, [5, 2, 1, 6]),
    ];
    for (status, body, expected) in steps {
        server.reply(status, body);
        poll(&sampler, &counters);
        assert_eq!(counts(&counters), expected, "after {status} {body}");
        assert_eq!(sampler.decide(NO, "op"), decision(true, TYPE_PROBABILISTIC, 1.0), "after {body}");
    }
    // And the poller still applies a good strategy afterwards.
    server.reply(200, r#"{"probabilisticSampling":{"samplingRate":0}}"#);
    poll(&sampler, &counters);
    assert_eq!(counts(&counters), [6, 2, 2, 6]);
    assert_eq!(sampler.decide(NO, "op"), decision(false, TYPE_PROBABILISTIC, 0.0));
}

#[test]
fn connection_refused_counts_query_errors_and_keeps_the_initial_sampler() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (sampler, counters) = start(&format!("http://127.0.0.1:{port}/sampling"), "svc", |c| c);
    wait_polls(&counters, 1);
    poll(&sampler, &counters);
    assert_eq!(counts(&counters), [0, 2, 0, 0]);
    assert_eq!(sampler.decide(YES, "op"), never());
}

#[test]
fn a_request_that_times_out_is_a_query_error() {
    let server = Server::start();
    let release = server.hold(200, PROB_ONE);
    let (sampler, counters) =
        start(&server.url("/sampling"), "svc", |c| c.http_timeout(Duration::from_millis(300)));
    wait_polls(&counters, 1);
    assert_eq!(counts(&counters), [0, 1, 0, 0]);
    assert_eq!(sampler.decide(YES, "op"), never());
    drop(release);
    // The next poll is answered at once.
    server.reply(200, PROB_ONE);
    poll(&sampler, &counters);
    assert_eq!(counts(&counters), [1, 1, 1, 0]);
}

#[test]
fn polls_repeat_every_refresh_interval() {
    let server = Server::start();
    server.fallback(200, PROB_ONE);
    let (_sampler, counters) = start(&server.url("/sampling"), "svc", |c| {
        c.refresh_interval(Duration::from_millis(20)).http_timeout(Duration::from_secs(5))
    });
    wait_for("three timed polls", || polls(&counters) >= 3);
    assert!(server.targets().iter().all(|r| r == "/sampling?service=svc"));
}

#[test]
fn shutdown_does_not_wait_for_a_slow_request() {
    let server = Server::start();
    let release = server.hold(200, PROB_ONE);
    let (sampler, counters) =
        start(&server.url("/sampling"), "svc", |c| c.http_timeout(Duration::from_secs(60)));
    server.wait_requests(1);
    let t0 = Instant::now();
    sampler.shutdown();
    // The poller waits up to 200 ms; the request would take 60 s to time out.
    assert!(t0.elapsed() < Duration::from_secs(10), "shutdown took {:?}", t0.elapsed());
    assert_eq!(sampler.poller_exited(), Some(false), "detached while its request is pending");
    sampler.shutdown(); // idempotent
    assert_eq!(sampler.decide(YES, "op"), never(), "decisions still work after shutdown");
    // Once answered, the detached poller applies what it got and exits without polling again.
    release.send(()).unwrap();
    wait_for("the detached poller to exit", || sampler.poller_exited() == Some(true));
    assert_eq!(counts(&counters), [1, 0, 1, 0]);
    assert_eq!(server.targets().len(), 1);
}

#[test]
fn shutdown_of_an_idle_poller_joins_it_and_drop_shuts_down() {
    let server = Server::start();
    server.fallback(200, PROB_ONE);
    let (sampler, counters) = start(&server.url("/sampling"), "svc", |c| c);
    wait_polls(&counters, 1);
    sampler.shutdown();
    assert_eq!(sampler.poller_exited(), Some(true));
    // Joined: the thread is gone, and with it its handle on the counters.
    assert_eq!(Arc::strong_count(&counters), 1);

    let (sampler, counters) = start(&server.url("/sampling"), "svc", |c| c);
    wait_polls(&counters, 1);
    assert_eq!(Arc::strong_count(&counters), 2, "the poller holds the counters");
    drop(sampler);
    assert_eq!(Arc::strong_count(&counters), 1, "drop shut the poller down and joined it");
}

#[test]
fn invalid_remote_configurations_fail_at_start() {
    let counters = Arc::new(Counters::default());
    for config in [
        RemoteSampler::new().endpoint("localhost:5778/sampling"),
        #[cfg(not(feature = "tls"))]
        RemoteSampler::new().endpoint("https://agent:5778/sampling"),
        RemoteSampler::new().endpoint("ftp://agent:5778/sampling"),
        RemoteSampler::new().endpoint("http://bad host/"),
        RemoteSampler::new().refresh_interval(Duration::ZERO),
    ] {
        let err = Sampler::remote(config.clone()).start("svc", counters.clone()).unwrap_err();
        assert!(err.kind() == crate::error::BuildErrorKind::InvalidSetting, "{config:?}: {err}");
    }
    assert_eq!(counts(&counters), [0; 4]);
}
