//! `OTEL_*` variables through `read_env` and `Builder::from_env_with` over in-memory maps: the
//! process environment is never read or written.

use std::collections::HashMap;
use std::ffi::OsString;

use super::*;
use crate::config::builder::Builder;
use crate::config::env::{read_env, EnvConfig};
use crate::error::BuildErrorKind;

fn getter(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name| map.get(name).map(Into::into)
}

fn ok(vars: &[(&str, &str)]) -> OtelConfig {
    read_env(getter(vars)).unwrap_or_else(|e| panic!("{vars:?}: {e}")).otel
}

fn jaeger(vars: &[(&str, &str)]) -> EnvConfig {
    read_env(getter(vars)).unwrap_or_else(|e| panic!("{vars:?}: {e}"))
}

/// The error for `vars`, checked to be an env error naming `name` with the shown `value`;
/// returns the message.
fn err(vars: &[(&str, &str)], name: &str, value: &str, why: &str) -> String {
    let e = match read_env(getter(vars)) {
        Ok(c) => panic!("{vars:?} should fail, got {:?}", c.otel),
        Err(e) => e,
    };
    assert!(e.kind() == BuildErrorKind::InvalidEnvVar, "{e:?}");
    assert_eq!((e.setting(), e.value()), (Some(name), Some(value)), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(why), "{vars:?}: {msg:?} should contain {why:?}");
    msg
}

fn same_sampler(got: &Sampler, want: &Sampler) -> bool {
    format!("{got:?}") == format!("{want:?}")
}

#[test]
fn nothing_set_selects_nothing() {
    let c = ok(&[]);
    assert!(c.service_name.is_none() && c.resource.is_none() && !c.disabled);
    assert!(c.otlp.is_none() && c.sampler.is_none() && c.propagator.is_none());
    // Empty is unset.
    let c =
        ok(&[("OTEL_SERVICE_NAME", ""), ("OTEL_TRACES_EXPORTER", ""), ("OTEL_EXPORTER_OTLP_ENDPOINT", "")]);
    assert!(c.service_name.is_none() && c.otlp.is_none());
}

#[test]
fn otel_service_name_wins_over_the_resource_service_name() {
    let c = ok(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=res,team=pay")]);
    assert_eq!(c.service_name.as_deref(), Some("res"));
    assert_eq!(c.resource, Some(vec![("team".to_owned(), "pay".to_owned())]));
    let c = ok(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=res"), ("OTEL_SERVICE_NAME", "svc")]);
    assert_eq!(c.service_name.as_deref(), Some("svc"));
}

#[test]
fn resource_attributes_are_percent_decoded_split_at_the_first_equals_and_plus_is_a_plus() {
    let c = ok(&[(
        "OTEL_RESOURCE_ATTRIBUTES",
        " a%2Cb = x%3Dy ,url=http://h/?q=1,,plus=a+b,sp=%20v%C3%A9%20,a%2Cb=last",
    )]);
    let got: Vec<(&str, &str)> = c.resource.as_ref().unwrap().iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(got, [("a,b", "last"), ("url", "http://h/?q=1"), ("plus", "a+b"), ("sp", " vé ")]);
}

#[test]
fn a_malformed_resource_attribute_discards_the_whole_variable_as_an_error() {
    const N: &str = "OTEL_RESOURCE_ATTRIBUTES";
    for (value, why) in [
        ("a=1,novalue", "has no '='"),
        ("a=1,=2", "empty key"),
        ("a=%zz", "two hex digits"),
        ("a=%4", "two hex digits"),
        ("a=%+1", "two hex digits"),
        ("k%G0=1", "two hex digits"),
        ("a=%ff", "not UTF-8"),
    ] {
        err(&[(N, value)], N, value, why);
    }
}

#[test]
fn otlp_is_selected_by_an_endpoint_or_by_the_exporter_with_the_default_base() {
    assert!(ok(&[("OTEL_EXPORTER_OTLP_HEADERS", "a=1")]).otlp.is_none());
    let c = ok(&[("OTEL_TRACES_EXPORTER", "OTLP")]);
    assert_eq!(c.otlp.unwrap().endpoint, Some(OtlpEndpoint::Base("http://localhost:4318".into())));
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base/")]);
    let s = c.otlp.unwrap();
    assert_eq!(s.endpoint.as_ref().unwrap().url(), "http://c:4318/base/v1/traces");
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom"),
    ]);
    assert_eq!(c.otlp.unwrap().endpoint, Some(OtlpEndpoint::Traces("http://t:4318/custom".into())));
}

#[test]
fn otlp_settings_take_the_traces_variable_over_the_generic_one() {
    let c = ok(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "Authorization=Basic%20YWxh+,b=3"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc"), // overridden: not read
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZip"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), // for other signals
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
    ]);
    let s = c.otlp.unwrap();
    let headers = [("Authorization".to_owned(), "Basic YWxh+".to_owned()), ("b".to_owned(), "3".to_owned())];
    assert_eq!(s.headers, headers);
    assert_eq!(s.timeout, Duration::from_millis(2500));
    assert_eq!(s.compression, Compression::Gzip);

    let s = ok(&[("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,a=2")]).otlp.unwrap();
    assert_eq!(s.headers, [("a".to_owned(), "2".to_owned())]);
    assert_eq!(s.timeout, super::super::otlp::DEFAULT_OTLP_TIMEOUT);
    assert_eq!(s.compression, Compression::None);
}

#[test]
fn a_zero_timeout_is_no_limit() {
    let s = ok(&[("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "0")]).otlp.unwrap();
    assert_eq!(s.timeout, Duration::MAX);
}

#[test]
fn bad_otlp_values_are_errors_naming_the_variable_and_hiding_header_values() {
    let with = |name: &'static str, value: &'static str| [("OTEL_TRACES_EXPORTER", "otlp"), (name, value)];
    for (name, value, shown, why) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "grpc", "grpc is not supported, use http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", "http/json", "http/json is not supported"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift", "thrift", "unknown protocol"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5", "-5", "must not be negative"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1.5", "1.5", "integer milliseconds"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10s", "10s", "integer milliseconds"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "zstd", "expected gzip or none"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate", "deflate", "expected gzip or none"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318", "localhost:4318", "absolute"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://c/", "ftp://c/", "absolute"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://u:p@c/", "http://u:p@c/", "credentials"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=se%zzcret", "<redacted>", "two hex digits"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad key=secret", "<redacted>", "not a valid header name"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "k=line%0Abreak", "<redacted>", "not a valid header value"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "secret", "<redacted>", "has no '='"),
    ] {
        let msg = err(&with(name, value), name, shown, why);
        if shown == "<redacted>" {
            assert!(!msg.contains("secret") || why == "has no '='", "{msg}");
        }
    }
    // Checked even when OTLP is not selected.
    err(
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "grpc",
        "use http/protobuf",
    );
}

#[test]
fn a_header_item_without_equals_shows_only_its_first_characters() {
    // The item is the key as far as the parser can tell; a secret pasted as a whole line is
    // not echoed past 40 characters.
    let long = "x".repeat(100);
    let vars = [("OTEL_EXPORTER_OTLP_HEADERS", long.as_str())];
    let e = read_env(getter(&vars)).unwrap_err().to_string();
    assert!(!e.contains(&long) && e.contains(&"x".repeat(40)), "{e}");
}

#[cfg(not(feature = "tls"))]
#[test]
fn an_https_otlp_endpoint_needs_the_tls_feature() {
    const N: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    err(&[(N, "https://c:4318")], N, "https://c:4318", "https needs the `tls` feature");
}

#[cfg(feature = "tls")]
#[test]
fn an_https_otlp_endpoint_is_accepted_with_the_tls_feature() {
    let c = ok(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")]);
    assert_eq!(c.otlp.unwrap().endpoint, Some(OtlpEndpoint::Base("https://c:4318".into())));
}

#[cfg(feature = "tls")]
#[test]
fn the_traces_certificate_wins_over_the_generic_one_and_keeps_its_name() {
    const G: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
    const T: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
    let file = |path: &str, origin| Some(CaFile { path: path.into(), origin });
    assert_eq!(ok(&[(G, "/g.pem")]).certificate, file("/g.pem", G));
    assert_eq!(ok(&[(G, "/g.pem"), (T, "/t.pem")]).certificate, file("/t.pem", T));
    assert_eq!(ok(&[(G, "/g.pem"), (T, "")]).certificate, file("/g.pem", G), "empty is unset");
    assert_eq!(ok(&[]).certificate, None);
}

#[cfg(feature = "tls")]
#[test]
fn the_certificate_is_read_by_build_and_its_errors_name_the_variable() {
    const T: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/ca.pem");
    // Selected OTLP: the file is used, and build() reads it.
    let vars = [("OTEL_SERVICE_NAME", "svc"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"), (T, ca)];
    let shown = format!("{:?}", builder(&vars));
    assert!(shown.contains("tls_ca_certificates: Some") && shown.contains(T), "{shown}");
    let _built = builder(&vars).build().unwrap();
    let missing = "/nonexistent/jaeger-layer/ca.pem";
    let vars =
        [("OTEL_SERVICE_NAME", "svc"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"), (T, missing)];
    let e = builder(&vars).build().map(|_| ()).unwrap_err();
    assert_eq!((e.kind(), e.setting(), e.value()), (BuildErrorKind::TlsCertificates, Some(T), Some(missing)));
    assert!(
        e.to_string().starts_with(&format!("cannot load the TLS CA certificates of {T}={missing}")),
        "{e}"
    );
    // Without OTLP selected it is checked but not used, as the other OTLP variables.
    let shown = format!("{:?}", builder(&[(T, missing)]));
    assert!(shown.contains("tls_ca_certificates: None"), "{shown}");
}

#[cfg(not(feature = "tls"))]
#[test]
fn a_certificate_needs_the_tls_feature() {
    for name in ["OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"] {
        err(&[(name, "/ca.pem")], name, "/ca.pem", "needs the `tls` feature");
    }
}

#[test]
fn the_exporter_none_and_sdk_disabled_disable() {
    assert!(ok(&[("OTEL_TRACES_EXPORTER", "none")]).disabled);
    assert!(ok(&[("OTEL_SDK_DISABLED", "TRUE")]).disabled);
    assert!(!ok(&[("OTEL_SDK_DISABLED", "false")]).disabled);
    err(&[("OTEL_SDK_DISABLED", "1")], "OTEL_SDK_DISABLED", "1", "expected true or false");
    for bad in ["zipkin", "console", "jaeger", "otlp,console"] {
        err(&[("OTEL_TRACES_EXPORTER", bad)], "OTEL_TRACES_EXPORTER", bad, "expected otlp or none");
    }
}

#[test]
fn samplers_map_to_the_crates_samplers_parentbased_or_not() {
    let s = |vars: &[(&str, &str)]| ok(vars).sampler.unwrap();
    for (name, want) in [
        ("always_on", Sampler::always()),
        ("parentbased_always_on", Sampler::always()),
        ("ALWAYS_OFF", Sampler::never()),
        ("parentbased_always_off", Sampler::never()),
        ("traceidratio", Sampler::always()),
    ] {
        assert!(same_sampler(&s(&[("OTEL_TRACES_SAMPLER", name)]), &want), "{name}");
    }
    let ratio =
        s(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.25")]);
    assert!(same_sampler(&ratio, &Sampler::probabilistic(0.25).unwrap()));
    // The argument is ignored without a sampler, and by samplers that take none.
    assert!(ok(&[("OTEL_TRACES_SAMPLER_ARG", "junk")]).sampler.is_none());
    assert!(same_sampler(
        &s(&[("OTEL_TRACES_SAMPLER", "always_on"), ("OTEL_TRACES_SAMPLER_ARG", "junk")]),
        &Sampler::always()
    ));
    // OTEL wins over JAEGER_SAMPLER_TYPE in the builder; the JAEGER one is still read.
    let env = jaeger(&[("OTEL_TRACES_SAMPLER", "always_off"), ("JAEGER_SAMPLER_TYPE", "const")]);
    assert!(same_sampler(env.otel.sampler.as_ref().unwrap(), &Sampler::never()));
}

#[test]
fn jaeger_remote_starts_from_the_jaeger_settings_and_takes_the_argument_over_them() {
    let s = |vars: &[(&str, &str)]| ok(vars).sampler.unwrap();
    let plain = s(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]);
    assert!(same_sampler(&plain, &Sampler::remote(RemoteSampler::new())));
    let from_jaeger = s(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
        ("JAEGER_SAMPLING_ENDPOINT", "http://j:5778/sampling"),
        ("JAEGER_SAMPLER_MAX_OPERATIONS", "7"),
        ("JAEGER_SAMPLER_PARAM", "0.5"),
    ]);
    let want = RemoteSampler::new()
        .endpoint("http://j:5778/sampling")
        .max_operations(7)
        .initial_sampler(Sampler::probabilistic(0.5).unwrap());
    assert!(same_sampler(&from_jaeger, &Sampler::remote(want)), "{from_jaeger:?}");
    let with_arg = s(&[
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("JAEGER_SAMPLING_ENDPOINT", "http://j:5778/sampling"),
        ("JAEGER_SAMPLER_TYPE", "const"), // its param is then not an initial rate
        ("JAEGER_SAMPLER_PARAM", "1"),
        (
            "OTEL_TRACES_SAMPLER_ARG",
            "endpoint=http://o:5778/sampling,pollingIntervalMs=5000,initialSamplingRate=0.25",
        ),
    ]);
    let want = RemoteSampler::new()
        .endpoint("http://o:5778/sampling")
        .refresh_interval(Duration::from_secs(5))
        .initial_sampler(Sampler::probabilistic(0.25).unwrap());
    assert!(same_sampler(&with_arg, &Sampler::remote(want)), "{with_arg:?}");
}

#[test]
fn bad_sampler_values_are_errors_naming_the_variable() {
    const S: &str = "OTEL_TRACES_SAMPLER";
    const A: &str = "OTEL_TRACES_SAMPLER_ARG";
    err(&[(S, "xray")], S, "xray", "unsupported sampler");
    err(&[(S, "sometimes")], S, "sometimes", "unsupported sampler");
    for (sampler, arg, why) in [
        ("traceidratio", "1.5", "between 0.0 and 1.0"),
        ("parentbased_traceidratio", "half", "expected a probability"),
        ("jaeger_remote", "endpoint=http://localhost:14250", "gRPC sampling port"),
        ("jaeger_remote", "endpoint=http://jaeger:5779", "HTTP sampling API"),
        ("jaeger_remote", "endpoint=localhost:5778", "absolute"),
        ("jaeger_remote", "pollingIntervalMs=0", "not a positive integer"),
        ("jaeger_remote", "pollingIntervalMs=5s", "not a positive integer"),
        ("jaeger_remote", "initialSamplingRate=2", "initialSamplingRate"),
        ("jaeger_remote", "polling=5", "unknown key"),
        ("jaeger_remote", "endpoint", "has no '='"),
    ] {
        err(&[(S, sampler), (A, arg)], A, arg, why);
    }
}

#[test]
fn propagators_map_in_order_without_duplicates() {
    let p = |v: &str| ok(&[("OTEL_PROPAGATORS", v)]).propagator.unwrap();
    assert_eq!(p("tracecontext,baggage"), Propagator::w3c());
    assert_eq!(p("tracecontext"), Propagator::w3c());
    assert_eq!(
        p(" B3 , b3multi,jaeger,tracecontext,jaeger"),
        Propagator::composite([
            Propagator::b3_single(),
            Propagator::b3(),
            Propagator::jaeger(),
            Propagator::w3c()
        ])
    );
    assert_eq!(p("none"), Propagator::composite([]));
    const N: &str = "OTEL_PROPAGATORS";
    err(&[(N, "zipkin")], N, "zipkin", "unknown propagator");
    err(&[(N, "xray")], N, "xray", "not supported");
    err(&[(N, "ottrace,jaeger")], N, "ottrace,jaeger", "not supported");
    err(&[(N, "none,jaeger")], N, "none,jaeger", "cannot be combined");
    err(&[(N, "jaeger,baggage")], N, "jaeger,baggage", "baggage needs tracecontext");
}

#[test]
fn percent_decoding_keeps_plus_and_refuses_broken_escapes() {
    assert_eq!(percent_decode("a+b%20c%2B%2c").unwrap(), "a+b c+,");
    assert_eq!(percent_decode("%E2%9C%93").unwrap(), "✓");
    for bad in ["%", "%2", "%g1", "%-1", "%C3%28"] {
        assert!(percent_decode(bad).is_err(), "{bad}");
    }
}

// === through the builder ===

fn builder(vars: &[(&str, &str)]) -> Builder {
    Builder::from_env_with(getter(vars)).unwrap_or_else(|e| panic!("{vars:?}: {e}"))
}

#[test]
fn otel_variables_win_over_jaeger_ones_in_the_builder() {
    let b = builder(&[
        ("JAEGER_SERVICE_NAME", "jaeger-name"),
        ("OTEL_SERVICE_NAME", "otel-name"),
        ("JAEGER_TAGS", "team=a,zone=z"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=b,host.arch=x"),
        ("JAEGER_PROPAGATION", "jaeger"),
        ("OTEL_PROPAGATORS", "b3multi"),
        ("JAEGER_SAMPLER_TYPE", "const"),
        ("JAEGER_SAMPLER_PARAM", "1"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
        ("JAEGER_ENDPOINT", "http://collector:14268/api/traces"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otlp:4318"),
    ]);
    let shown = format!("{b:?}");
    assert!(shown.contains(r#"service_name: Some("otel-name")"#), "{shown}");
    // JAEGER_TAGS first, without the key the resource sets, then the resource attributes.
    let tags = shown.split("process_tags: ").nth(1).unwrap();
    let order: Vec<usize> =
        ["zone", "\"team\"", "b\"", "host.arch"].iter().map(|t| tags.find(t).unwrap()).collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]) && !tags[..tags.find("queue").unwrap()].contains("\"a\""),
        "{tags}"
    );
    assert!(shown.contains("formats: [B3Multi]"), "{shown}");
    assert!(shown.contains("Const(false)"), "{shown}");
    assert!(shown.contains("collector: None"), "{shown}");
    assert!(shown.contains(r#"url: Some("http://otlp:4318/v1/traces")"#), "{shown}");
}

#[test]
fn any_disabling_variable_disables_the_builder() {
    for vars in [
        &[("OTEL_SDK_DISABLED", "true"), ("JAEGER_DISABLED", "false")][..],
        &[("OTEL_TRACES_EXPORTER", "none")][..],
        &[("JAEGER_DISABLED", "true"), ("OTEL_SDK_DISABLED", "false")][..],
    ] {
        // Disabled: builds without a service name.
        let _built = builder(vars).build().unwrap_or_else(|e| panic!("{vars:?}: {e}"));
        assert!(format!("{:?}", builder(vars)).contains("enabled: false"), "{vars:?}");
    }
    assert!(format!("{:?}", builder(&[("OTEL_SDK_DISABLED", "false")])).contains("enabled: true"));
}

#[test]
fn every_bad_otel_value_fails_from_env_with_a_typed_error() {
    for (name, value) in [
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_RESOURCE_ATTRIBUTES", "a"),
        ("OTEL_PROPAGATORS", "nope"),
        ("OTEL_TRACES_SAMPLER", "nope"),
        ("OTEL_SDK_DISABLED", "yes"),
    ] {
        let e = Builder::from_env_with(getter(&[(name, value)])).map(|_| ()).unwrap_err();
        assert!(e.kind() == BuildErrorKind::InvalidEnvVar && e.setting() == Some(name), "{e}");
    }
}
