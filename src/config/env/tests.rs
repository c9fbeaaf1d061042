//! `read_env` over in-memory maps: the process environment is never read or written.

use std::collections::HashMap;

use super::*;

/// One test environment.
type Vars<'a> = &'a [(&'a str, &'a str)];

fn read(vars: &[(&str, &str)]) -> Result<EnvConfig, BuildError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    read_env(|name| map.get(name).map(Into::into))
}

fn ok(vars: &[(&str, &str)]) -> EnvConfig {
    read(vars).unwrap_or_else(|e| panic!("{vars:?}: {e}"))
}

fn err(vars: &[(&str, &str)]) -> String {
    match read(vars) {
        Ok(c) => panic!("{vars:?} should fail, got {c:?}"),
        Err(e) => {
            assert!(e.kind() == crate::error::BuildErrorKind::InvalidEnvVar, "{e:?}");
            e.to_string()
        }
    }
}

/// Samplers have no `PartialEq`; their `Debug` shows every setting, so equal `Debug` output
/// means equal configuration.
fn same_sampler(got: &Sampler, want: &Sampler) -> bool {
    format!("{got:?}") == format!("{want:?}")
}

fn remote() -> RemoteSampler {
    RemoteSampler::new()
}

#[test]
fn nothing_set_gives_nothing_but_the_remote_sampler() {
    for vars in [&[][..], &[("JAEGER_SERVICE_NAME", ""), ("JAEGER_AGENT_PORT", ""), ("UNRELATED", "x")][..]] {
        let c = ok(vars);
        assert_eq!(c.service_name, None);
        assert_eq!((c.disabled, c.trace_id_128bit, c.reporter_log_spans), (None, None, None));
        assert_eq!(c.tags, None);
        assert_eq!((c.reporter_max_queue_size, c.reporter_flush_interval), (None, None));
        assert_eq!(
            (c.endpoint.as_deref(), c.auth.as_ref(), c.agent_host_port.as_deref()),
            (None, None, None)
        );
        assert_eq!((c.reconnecting_disabled, c.reconnect_interval), (None, None));
        assert_eq!(c.agent_reresolve_interval(), None);
        assert!(c.http_config().is_none());
        assert!(c.propagator.is_none());
        // Our documented difference from Go: initial rate 0.001, not 0.
        let want = Sampler::remote(remote().initial_sampler(Sampler::probabilistic(0.001).unwrap()));
        assert!(same_sampler(&c.sampler, &want), "{:?}", c.sampler);
        assert!(same_sampler(&c.sampler, &Sampler::remote(remote())), "the crate's remote defaults");
    }
}

#[test]
fn strings_are_taken_verbatim() {
    let c = ok(&[("JAEGER_SERVICE_NAME", " my svc ")]);
    assert_eq!(c.service_name.as_deref(), Some(" my svc "));
}

#[test]
fn bools_follow_go_parse_bool() {
    type Field = fn(&EnvConfig) -> Option<bool>;
    let fields: [(&str, Field); 4] = [
        ("JAEGER_DISABLED", |c| c.disabled),
        ("JAEGER_TRACEID_128BIT", |c| c.trace_id_128bit),
        ("JAEGER_REPORTER_LOG_SPANS", |c| c.reporter_log_spans),
        ("JAEGER_REPORTER_ATTEMPT_RECONNECTING_DISABLED", |c| c.reconnecting_disabled),
    ];
    let good = [
        ("1", true),
        ("t", true),
        ("T", true),
        ("TRUE", true),
        ("true", true),
        ("True", true),
        ("0", false),
        ("f", false),
        ("F", false),
        ("FALSE", false),
        ("false", false),
        ("False", false),
    ];
    for (name, field) in fields {
        assert_eq!(field(&ok(&[])), None, "{name}");
        for (value, want) in good {
            assert_eq!(field(&ok(&[(name, value)])), Some(want), "{name}={value}");
        }
        for bad in ["yes", "tRUE", " true", "2", "on"] {
            let msg = err(&[(name, bad)]);
            assert_eq!(
                msg,
                format!("cannot parse env var {name}={bad}: invalid syntax (expected true or false)")
            );
        }
    }
}

#[test]
fn rpc_metrics_is_checked_like_every_bool_but_has_no_effect() {
    for good in ["1", "t", "TRUE", "false", "F"] {
        ok(&[("JAEGER_RPC_METRICS", good)]);
    }
    for bad in ["yes", "tRUE", "2"] {
        assert_eq!(
            err(&[("JAEGER_RPC_METRICS", bad)]),
            format!("cannot parse env var JAEGER_RPC_METRICS={bad}: invalid syntax (expected true or false)")
        );
    }
}

#[test]
fn durations_positive_for_every_duration_variable() {
    type Field = fn(&EnvConfig) -> Option<Duration>;
    let fields: [(&str, Field); 2] = [
        ("JAEGER_REPORTER_FLUSH_INTERVAL", |c| c.reporter_flush_interval),
        ("JAEGER_REPORTER_ATTEMPT_RECONNECT_INTERVAL", |c| c.reconnect_interval),
    ];
    for (name, field) in fields {
        assert_eq!(field(&ok(&[(name, "1m1s")])), Some(Duration::from_secs(61)), "{name}");
        assert_eq!(field(&ok(&[(name, "250ms")])), Some(Duration::from_millis(250)), "{name}");
        for (bad, why) in [
            ("0", "must be positive"),
            ("0s", "must be positive"),
            ("-1s", "negative"),
            ("5", "missing unit"),
        ] {
            let msg = err(&[(name, bad)]);
            assert!(
                msg.starts_with(&format!("cannot parse env var {name}={bad}: ")) && msg.contains(why),
                "{msg}"
            );
        }
    }
    // The refresh interval belongs to the remote sampler.
    let c = ok(&[("JAEGER_SAMPLER_REFRESH_INTERVAL", "30s")]);
    assert!(same_sampler(&c.sampler, &Sampler::remote(remote().refresh_interval(Duration::from_secs(30)))));
    assert!(err(&[("JAEGER_SAMPLER_REFRESH_INTERVAL", "0s")]).contains("must be positive"));
}

#[test]
fn durations_parse_with_go_duration_syntax() {
    let ms = Duration::from_millis;
    let good = [
        ("0", Duration::ZERO),
        ("+0", Duration::ZERO),
        ("-0", Duration::ZERO),
        ("0s", Duration::ZERO),
        ("1m", Duration::from_secs(60)),
        ("30s", Duration::from_secs(30)),
        ("1m1s", Duration::from_secs(61)),
        ("500ms", ms(500)),
        ("1h", Duration::from_secs(3600)),
        ("1.5s", ms(1500)),
        (".5s", ms(500)),
        ("1.s", Duration::from_secs(1)),
        ("1us", Duration::from_micros(1)),
        ("1µs", Duration::from_micros(1)),
        ("1μs", Duration::from_micros(1)),
        ("7ns", Duration::from_nanos(7)),
        ("+2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
        ("1h1m1s1ms1us1ns", Duration::new(3661, 1_001_001)),
        ("0.0000000019s", Duration::from_nanos(1)), // truncated, as Go
        ("1.000000000000000000001s", Duration::from_secs(1)),
        ("2562047h", Duration::from_secs(2_562_047 * 3600)),
        ("9223372036854775807ns", Duration::from_nanos(i64::MAX as u64)),
    ];
    for (s, want) in good {
        assert_eq!(parse_duration(s), Ok(want), "{s}");
    }
    let bad = [
        ("", "invalid duration"),
        ("+", "invalid duration"),
        ("-", "invalid duration"),
        (".", "invalid duration"),
        ("s", "invalid duration"),
        ("1", "missing unit"),
        ("1s2", "missing unit"),
        ("1.5", "missing unit"),
        ("1d", "unknown unit \"d\""),
        ("1 s", "unknown unit \" s\""),
        ("1S", "unknown unit \"S\""),
        ("1s ", "unknown unit \"s \""),
        ("1..5s", "missing unit"), // as Go: `1.` then an empty unit
        ("-1s", "must not be negative"),
        ("9223372036854775808ns", "out of range"),
        ("2562048h", "out of range"),
        ("99999999999999999999999999999999999999999h", "out of range"),
        ("1h9999999999999999999h", "out of range"),
    ];
    for (s, why) in bad {
        let got = parse_duration(s);
        assert!(got.as_ref().is_err_and(|e| e.contains(why)), "{s}: {got:?}");
    }
}

#[test]
fn integer_variables_are_parsed_within_their_bounds() {
    let c = ok(&[("JAEGER_REPORTER_MAX_QUEUE_SIZE", "1000")]);
    assert_eq!(c.reporter_max_queue_size, Some(1000));
    assert_eq!(ok(&[("JAEGER_REPORTER_MAX_QUEUE_SIZE", "16777216")]).reporter_max_queue_size, Some(1 << 24));
    for (bad, why) in [
        ("0", "must be at least 1"),
        // 1.6 PB of queue slots: refused here, never allocated.
        ("99999999999999", "must be at most 16777216"),
        ("16777217", "must be at most 16777216"),
        ("-5", "invalid digit"),
        ("1e3", "invalid digit"),
        ("99999999999999999999999", "too large"),
    ] {
        let msg = err(&[("JAEGER_REPORTER_MAX_QUEUE_SIZE", bad)]);
        assert!(
            msg.starts_with(&format!("cannot parse env var JAEGER_REPORTER_MAX_QUEUE_SIZE={bad}: ")),
            "{msg}"
        );
        assert!(msg.contains(why), "{msg}");
    }
    let c = ok(&[("JAEGER_SAMPLER_MAX_OPERATIONS", "10")]);
    assert!(same_sampler(&c.sampler, &Sampler::remote(remote().max_operations(10))));
    assert!(err(&[("JAEGER_SAMPLER_MAX_OPERATIONS", "ten")]).contains("JAEGER_SAMPLER_MAX_OPERATIONS=ten"));
    // Checked whatever the sampler type, as in Go.
    let msg = err(&[("JAEGER_SAMPLER_TYPE", "const"), ("JAEGER_SAMPLER_MAX_OPERATIONS", "-1")]);
    assert!(msg.starts_with("cannot parse env var JAEGER_SAMPLER_MAX_OPERATIONS=-1: "), "{msg}");
    let msg = err(&[("JAEGER_SAMPLER_TYPE", "probabilistic"), ("JAEGER_SAMPLER_REFRESH_INTERVAL", "1")]);
    assert!(msg.starts_with("cannot parse env var JAEGER_SAMPLER_REFRESH_INTERVAL=1: missing unit"), "{msg}");
}

#[test]
fn sampler_type_and_param_select_the_sampler() {
    let p = |r| Sampler::probabilistic(r).unwrap();
    let cases: Vec<(Vars<'_>, Sampler)> = vec![
        (&[("JAEGER_SAMPLER_TYPE", "const"), ("JAEGER_SAMPLER_PARAM", "1")], Sampler::always()),
        (&[("JAEGER_SAMPLER_TYPE", "const"), ("JAEGER_SAMPLER_PARAM", "0.5")], Sampler::always()),
        (&[("JAEGER_SAMPLER_TYPE", "CONST"), ("JAEGER_SAMPLER_PARAM", "0")], Sampler::never()),
        (&[("JAEGER_SAMPLER_TYPE", "const")], Sampler::never()),
        (&[("JAEGER_SAMPLER_TYPE", "probabilistic"), ("JAEGER_SAMPLER_PARAM", "0.25")], p(0.25)),
        (&[("JAEGER_SAMPLER_TYPE", "Probabilistic")], p(0.0)),
        (
            &[("JAEGER_SAMPLER_TYPE", "ratelimiting"), ("JAEGER_SAMPLER_PARAM", "2.5")],
            Sampler::rate_limiting(2.5).unwrap(),
        ),
        (
            &[("JAEGER_SAMPLER_TYPE", "rateLimiting"), ("JAEGER_SAMPLER_PARAM", "1e1")],
            Sampler::rate_limiting(10.0).unwrap(),
        ),
        (&[("JAEGER_SAMPLER_TYPE", "ratelimiting")], Sampler::rate_limiting(0.0).unwrap()),
        (&[("JAEGER_SAMPLER_TYPE", "remote")], Sampler::remote(remote())),
        (&[("JAEGER_SAMPLER_PARAM", "0.2")], Sampler::remote(remote().initial_sampler(p(0.2)))),
        (
            &[("JAEGER_SAMPLER_TYPE", "Remote"), ("JAEGER_SAMPLER_PARAM", "0")],
            Sampler::remote(remote().initial_sampler(p(0.0))),
        ),
        (
            &[
                ("JAEGER_SAMPLER_TYPE", "remote"),
                ("JAEGER_SAMPLER_PARAM", "1"),
                ("JAEGER_SAMPLING_ENDPOINT", "http://agent:5778/sampling"),
                ("JAEGER_SAMPLER_MAX_OPERATIONS", "5"),
                ("JAEGER_SAMPLER_REFRESH_INTERVAL", "1m30s"),
            ],
            Sampler::remote(
                remote()
                    .initial_sampler(p(1.0))
                    .endpoint("http://agent:5778/sampling")
                    .max_operations(5)
                    .refresh_interval(Duration::from_secs(90)),
            ),
        ),
        // Remote-only settings do not matter to the other types.
        (
            &[
                ("JAEGER_SAMPLER_TYPE", "const"),
                ("JAEGER_SAMPLER_PARAM", "1"),
                ("JAEGER_SAMPLING_ENDPOINT", "x"),
            ],
            Sampler::always(),
        ),
    ];
    for (vars, want) in cases {
        let got = ok(vars).sampler;
        assert!(same_sampler(&got, &want), "{vars:?}: got {got:?}, want {want:?}");
    }
}

#[test]
fn bad_sampler_variables_are_errors_naming_the_variable() {
    let cases: [(Vars<'_>, &str); 7] = [
        (
            &[("JAEGER_SAMPLER_TYPE", "lowerbound")],
            "cannot parse env var JAEGER_SAMPLER_TYPE=lowerbound: unknown sampler type",
        ),
        (
            &[("JAEGER_SAMPLER_TYPE", "adaptive")],
            "cannot parse env var JAEGER_SAMPLER_TYPE=adaptive: unknown sampler type",
        ),
        (
            &[("JAEGER_SAMPLER_PARAM", "abc")],
            "cannot parse env var JAEGER_SAMPLER_PARAM=abc: invalid float literal",
        ),
        (
            &[("JAEGER_SAMPLER_TYPE", "probabilistic"), ("JAEGER_SAMPLER_PARAM", "1.5")],
            "cannot parse env var JAEGER_SAMPLER_PARAM=1.5: must be between",
        ),
        (
            &[("JAEGER_SAMPLER_PARAM", "-0.1")],
            "cannot parse env var JAEGER_SAMPLER_PARAM=-0.1: must be between",
        ),
        (
            &[("JAEGER_SAMPLER_TYPE", "ratelimiting"), ("JAEGER_SAMPLER_PARAM", "-1")],
            "cannot parse env var JAEGER_SAMPLER_PARAM=-1: must be a finite",
        ),
        (
            &[("JAEGER_SAMPLER_TYPE", "probabilistic"), ("JAEGER_SAMPLER_PARAM", "NaN")],
            "cannot parse env var JAEGER_SAMPLER_PARAM=NaN: must be between",
        ),
    ];
    for (vars, want) in cases {
        let msg = err(vars);
        assert!(msg.starts_with(want), "{vars:?}: {msg}");
    }
}

#[test]
fn sampling_endpoint_precedence_and_fallbacks() {
    let endpoint = |vars: &[(&str, &str)], want: &str| {
        let got = ok(vars).sampler;
        let expected = Sampler::remote(remote().endpoint(want));
        assert!(same_sampler(&got, &expected), "{vars:?}: got {got:?}, want {want}");
    };
    let all = [
        ("JAEGER_SAMPLING_ENDPOINT", "http://a:1/s"),
        ("JAEGER_SAMPLER_MANAGER_HOST_PORT", "http://b:2/s"),
        ("JAEGER_AGENT_HOST", "c"),
    ];
    endpoint(&all, "http://a:1/s");
    endpoint(&all[1..], "http://b:2/s");
    endpoint(&all[2..], "http://c:5778/sampling");
    endpoint(&[("JAEGER_SAMPLER_MANAGER_HOST_PORT", "mgr:5778")], "http://mgr:5778/sampling");
    endpoint(&[("JAEGER_AGENT_HOST", "::1")], "http://[::1]:5778/sampling");
    // The agent port is the UDP port, not the sampling port.
    endpoint(&[("JAEGER_AGENT_HOST", "c"), ("JAEGER_AGENT_PORT", "1234")], "http://c:5778/sampling");
    // With the collector endpoint set, the agent host still locates the sampling server.
    endpoint(
        &[("JAEGER_AGENT_HOST", "c"), ("JAEGER_ENDPOINT", "http://col:14268/api/traces")],
        "http://c:5778/sampling",
    );

    #[cfg(feature = "tls")]
    endpoint(&[("JAEGER_SAMPLING_ENDPOINT", "https://a/s")], "https://a/s");
    for (name, bad, why) in [
        #[cfg(not(feature = "tls"))]
        ("JAEGER_SAMPLING_ENDPOINT", "https://a/s", "https needs the `tls` feature"),
        ("JAEGER_SAMPLING_ENDPOINT", "a:5778", "absolute"),
        ("JAEGER_SAMPLING_ENDPOINT", "http://", "absolute"),
        ("JAEGER_SAMPLER_MANAGER_HOST_PORT", "bad host:1", "absolute"),
        ("JAEGER_AGENT_HOST", "bad host", "absolute"),
    ] {
        let msg = err(&[(name, bad)]);
        assert!(msg.starts_with(&format!("cannot parse env var {name}=")) && msg.contains(why), "{msg}");
    }
}

#[test]
fn agent_host_and_port_compose_an_endpoint_with_defaults_and_ipv6_brackets() {
    let cases: [(Vars<'_>, Option<&str>); 7] = [
        (&[], None),
        (&[("JAEGER_AGENT_HOST", "agent")], Some("agent:6831")),
        (&[("JAEGER_AGENT_PORT", "6832")], Some("localhost:6832")),
        (&[("JAEGER_AGENT_HOST", "agent"), ("JAEGER_AGENT_PORT", "1")], Some("agent:1")),
        (&[("JAEGER_AGENT_HOST", "fe80::1"), ("JAEGER_AGENT_PORT", "65535")], Some("[fe80::1]:65535")),
        (&[("JAEGER_AGENT_HOST", "[::1]")], Some("[::1]:6831")),
        // The collector wins: host and port are not touched (`config/config_env.go`).
        (&[("JAEGER_AGENT_HOST", "agent"), ("JAEGER_ENDPOINT", "http://c:14268/api/traces")], None),
    ];
    for (vars, want) in cases {
        assert_eq!(ok(vars).agent_host_port.as_deref(), want, "{vars:?}");
    }
    assert_eq!(
        err(&[("JAEGER_AGENT_PORT", "abc")]),
        "cannot parse env var JAEGER_AGENT_PORT=abc: invalid digit found in string"
    );
    assert!(err(&[("JAEGER_AGENT_PORT", "0")]).contains("between 1 and 65535"));
    assert!(err(&[("JAEGER_AGENT_PORT", "65536")]).contains("too large"));
    assert!(err(&[("JAEGER_AGENT_PORT", "-1")]).contains("JAEGER_AGENT_PORT=-1"));
}

#[test]
fn reconnect_variables_disable_reconnecting_or_set_its_interval() {
    let cases: [(Vars<'_>, Option<Option<Duration>>); 5] = [
        (&[], None),
        (&[("JAEGER_REPORTER_ATTEMPT_RECONNECTING_DISABLED", "true")], Some(None)),
        (&[("JAEGER_REPORTER_ATTEMPT_RECONNECTING_DISABLED", "false")], None),
        (&[("JAEGER_REPORTER_ATTEMPT_RECONNECT_INTERVAL", "10s")], Some(Some(Duration::from_secs(10)))),
        // Ignored when disabled, as in Go.
        (
            &[
                ("JAEGER_REPORTER_ATTEMPT_RECONNECTING_DISABLED", "1"),
                ("JAEGER_REPORTER_ATTEMPT_RECONNECT_INTERVAL", "10s"),
            ],
            Some(None),
        ),
    ];
    for (vars, want) in cases {
        assert_eq!(ok(vars).agent_reresolve_interval(), want, "{vars:?}");
    }
}

#[test]
fn jaeger_endpoint_selects_the_collector_with_basic_or_bearer_auth() {
    const URL: &str = "http://collector:14268/api/traces";
    let c = ok(&[("JAEGER_ENDPOINT", URL)]);
    assert_eq!((c.endpoint.as_deref(), c.auth.as_ref()), (Some(URL), None));
    assert_eq!(c.http_config(), Some(HttpConfig::new(URL)));

    let c = ok(&[("JAEGER_ENDPOINT", URL), ("JAEGER_USER", "ada"), ("JAEGER_PASSWORD", "pw")]);
    let basic = Auth::Basic { user: "ada".into(), password: "pw".into() };
    assert_eq!(c.auth.as_ref(), Some(&basic));
    assert_eq!(c.http_config().unwrap().auth, Some(basic));
    assert_eq!(c.http_config().unwrap().timeout, Duration::from_secs(5));

    let c = ok(&[("JAEGER_ENDPOINT", URL), ("JAEGER_AUTH_TOKEN", "tok")]);
    assert_eq!(c.auth, Some(Auth::Bearer("tok".into())));

    // Credentials are only read with an endpoint, as in Go.
    let c = ok(&[("JAEGER_USER", "ada"), ("JAEGER_AUTH_TOKEN", "tok")]);
    assert_eq!((c.endpoint.as_deref(), c.auth.as_ref()), (None, None));
}

#[test]
fn collector_errors_never_show_secrets() {
    const URL: &str = "http://collector:14268/api/traces";
    const TOGETHER: &str = "you must set JAEGER_USER and JAEGER_PASSWORD env vars together";
    let e = |var: &str, value: &str, why: &str| format!("cannot parse env var {var}={value}: {why}");
    let with_url = |more: &[(&'static str, &'static str)]| {
        let mut v = vec![("JAEGER_ENDPOINT", URL)];
        v.extend_from_slice(more);
        v
    };
    let cases = [
        (with_url(&[("JAEGER_USER", "ada")]), e("JAEGER_USER", "ada", TOGETHER)),
        (with_url(&[("JAEGER_PASSWORD", "hunter2")]), e("JAEGER_PASSWORD", "<redacted>", TOGETHER)),
        (
            with_url(&[
                ("JAEGER_USER", "a"),
                ("JAEGER_PASSWORD", "hunter2"),
                ("JAEGER_AUTH_TOKEN", "hunter2"),
            ]),
            e("JAEGER_AUTH_TOKEN", "<redacted>", "cannot be combined"),
        ),
        #[cfg(not(feature = "tls"))]
        (
            vec![("JAEGER_ENDPOINT", "https://collector/api/traces")],
            e("JAEGER_ENDPOINT", "https://collector/api/traces", "https needs the `tls` feature"),
        ),
        (
            vec![("JAEGER_ENDPOINT", "collector:14268")],
            e("JAEGER_ENDPOINT", "collector:14268", "must be an absolute http:// URL"),
        ),
        (
            vec![("JAEGER_ENDPOINT", "/api/traces")],
            e("JAEGER_ENDPOINT", "/api/traces", "must be an absolute http:// URL"),
        ),
        (
            vec![("JAEGER_ENDPOINT", "not a url")],
            e("JAEGER_ENDPOINT", "not a url", "not a valid absolute URL"),
        ),
        (
            vec![("JAEGER_ENDPOINT", "http://ada:hunter2@c/api/traces")],
            e("JAEGER_ENDPOINT", "http://<redacted>@c/api/traces", "credentials in the URL"),
        ),
    ];
    for (vars, want) in cases {
        let msg = err(&vars);
        assert!(msg.starts_with(&want), "{vars:?}:\n{msg}\n{want}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
    let c = ok(&[("JAEGER_ENDPOINT", URL), ("JAEGER_USER", "ada"), ("JAEGER_PASSWORD", "hunter2")]);
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn jaeger_tags_parse_key_value_pairs_with_env_references() {
    let env = [("HOST_ENV", "box7"), ("EMPTY_ENV", "")];
    let cases: [(&str, &[(&str, &str)]); 9] = [
        ("a=1", &[("a", "1")]),
        (" a = 1 , b=2", &[("a", "1"), ("b", "2")]),
        ("a=b=c", &[("a", "b=c")]),
        ("a=", &[("a", "")]),
        ("h=${HOST_ENV:none}", &[("h", "box7")]),
        ("h=${MISSING_ENV:none}", &[("h", "none")]),
        ("h=${EMPTY_ENV:none},i=${MISSING_ENV:}", &[("h", "none"), ("i", "")]),
        ("h=${HOST_ENV:a:b}", &[("h", "box7")]),
        ("a=1,,b=2,", &[("a", "1"), ("b", "2")]),
    ];
    for (value, want) in cases {
        let mut vars = env.to_vec();
        vars.push(("JAEGER_TAGS", value));
        let got = ok(&vars).tags.unwrap();
        let want: Vec<_> = want.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(got, want, "{value}");
    }
    for (bad, why) in [
        ("a", "tag \"a\" has no '='"),
        ("a=1,b", "tag \"b\" has no '='"),
        ("=1", "empty key"),
        ("h=${HOST_ENV}", "\"${HOST_ENV}\" has no ':'"),
    ] {
        let msg = err(&[("JAEGER_TAGS", bad)]);
        assert!(
            msg.starts_with(&format!("cannot parse env var JAEGER_TAGS={bad}: ")) && msg.contains(why),
            "{msg}"
        );
    }
}

#[test]
fn jaeger_propagation_selects_one_or_a_composite_propagator() {
    let cases = [
        ("jaeger", Propagator::jaeger()),
        ("w3c", Propagator::w3c()),
        ("b3", Propagator::b3()),
        ("jaeger,w3c,b3", Propagator::composite([Propagator::jaeger(), Propagator::w3c(), Propagator::b3()])),
        ("w3c, jaeger", Propagator::composite([Propagator::w3c(), Propagator::jaeger()])),
        ("b3-single", Propagator::b3_single()),
    ];
    for (value, want) in cases {
        assert_eq!(ok(&[("JAEGER_PROPAGATION", value)]).propagator, Some(want), "{value}");
    }
    for bad in ["zipkin", "jaeger,", "jaeger;w3c"] {
        let msg = err(&[("JAEGER_PROPAGATION", bad)]);
        let why = "expected a comma-separated list of jaeger, w3c, b3, b3-single";
        assert_eq!(msg, format!("cannot parse env var JAEGER_PROPAGATION={bad}: {why}"));
    }
}

#[test]
fn env_errors_keep_the_invalid_config_shape() {
    match read(&[("JAEGER_AGENT_PORT", "abc")]) {
        Err(e) => {
            assert_eq!(e.kind(), crate::error::BuildErrorKind::InvalidEnvVar);
            assert_eq!((e.setting(), e.value()), (Some("JAEGER_AGENT_PORT"), Some("abc")));
            assert_eq!(e.reason(), Some("invalid digit found in string"));
        }
        other => panic!("{other:?}"),
    }
    // Other config errors keep their wording.
    assert_eq!(
        BuildError::invalid("max_packet_size", 1, "too small").to_string(),
        "invalid max_packet_size=1: too small"
    );
}

#[cfg(unix)]
#[test]
fn values_that_are_not_utf8_are_errors() {
    use std::os::unix::ffi::OsStringExt;
    let read_raw = |vars: &[(&str, &[u8])]| {
        let map: HashMap<String, OsString> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), OsString::from_vec(v.to_vec()))).collect();
        read_env(|name| map.get(name).cloned())
    };
    let bad: &[u8] = b"a\xffb";
    for name in [
        "JAEGER_SERVICE_NAME",
        "JAEGER_AGENT_HOST",
        "JAEGER_AGENT_PORT",
        "JAEGER_DISABLED",
        "JAEGER_SAMPLER_TYPE",
        "JAEGER_TAGS",
        "JAEGER_ENDPOINT",
    ] {
        let got = read_raw(&[(name, bad)]).map(|_| ()).unwrap_err().to_string();
        assert_eq!(got, format!("cannot parse env var {name}=a\u{fffd}b: not valid UTF-8"));
    }
    // Secrets stay secret; the error is the non-UTF-8 variable, not the consequence of
    // reading it as unset ("set JAEGER_USER and JAEGER_PASSWORD together").
    let got = read_raw(&[
        ("JAEGER_ENDPOINT", b"http://c:14268/api/traces"),
        ("JAEGER_USER", b"ada"),
        ("JAEGER_PASSWORD", b"hunter\xff2"),
    ])
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert_eq!(got, "cannot parse env var JAEGER_PASSWORD=<redacted>: not valid UTF-8");
    // A variable named by a JAEGER_TAGS reference is read too.
    let got = read_raw(&[("JAEGER_TAGS", b"h=${HOST_ENV:x}"), ("HOST_ENV", bad)]).map(|_| ()).unwrap_err();
    assert_eq!(got.to_string(), "cannot parse env var HOST_ENV=a\u{fffd}b: not valid UTF-8");
    // Unrelated variables are never read.
    assert!(read_raw(&[("OTHER", bad)]).is_ok());
}
