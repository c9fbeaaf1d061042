//! `Builder::from_env` applied end to end (through a getter: the process environment is
//! never touched by tests).

use std::collections::HashMap;
use std::time::Duration;

use tracing_subscriber::prelude::*;

use crate::receiver::Receiver;
use crate::{Builder, TagValue};

const WAIT: Duration = Duration::from_secs(10);

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).map(Into::into)
}

#[test]
fn env_configures_service_agent_sampler_tags_and_width() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let port = agent.local_addr().port().to_string();
    let vars = [
        ("JAEGER_SERVICE_NAME", "from-env"),
        ("JAEGER_AGENT_HOST", "127.0.0.1"),
        ("JAEGER_AGENT_PORT", port.as_str()),
        ("JAEGER_SAMPLER_TYPE", "const"),
        ("JAEGER_SAMPLER_PARAM", "1"),
        ("JAEGER_TAGS", "region=eu,owner=${OWNER:nobody}"),
        ("JAEGER_TRACEID_128BIT", "false"),
        ("JAEGER_PROPAGATION", "w3c,jaeger"),
    ];
    let (layer, guard) = Builder::from_env_with(env(&vars)).unwrap().build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("configured").in_scope(|| {
            let mut headers = HashMap::new();
            crate::JaegerSpanExt::inject(&tracing::Span::current(), &mut headers);
            assert!(headers.contains_key("traceparent") && headers.contains_key("uber-trace-id"));
        });
    });
    guard.flush(WAIT).unwrap();
    let spans = agent.wait_for_spans(1, WAIT);
    assert_eq!(spans[0].service_name, "from-env");
    assert_eq!(spans[0].trace_id.high, 0, "JAEGER_TRACEID_128BIT=false");
    assert_eq!(spans[0].tag("sampler.type"), Some(&TagValue::String("const".into())));
    let process = &agent.batches()[0].process;
    assert_eq!(process.tags[0], crate::Tag::new("region", "eu"));
    assert_eq!(process.tags[1], crate::Tag::new("owner", "nobody"));
}

#[test]
fn settings_after_from_env_win() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let vars = [("JAEGER_SERVICE_NAME", "env-name"), ("JAEGER_AGENT_PORT", "1")];
    let (layer, guard) = Builder::from_env_with(env(&vars))
        .unwrap()
        .service_name("code-name")
        .agent_endpoint(agent.local_addr().to_string())
        .sampler(crate::Sampler::always())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("x").in_scope(|| {});
    });
    guard.flush(WAIT).unwrap();
    assert_eq!(agent.wait_for_spans(1, WAIT)[0].service_name, "code-name");
}

#[test]
fn bad_env_values_are_typed_errors_naming_the_variable() {
    let err = Builder::from_env_with(env(&[("JAEGER_AGENT_PORT", "abc")])).map(|_| ()).unwrap_err();
    assert!(err.to_string().starts_with("cannot parse env var JAEGER_AGENT_PORT=abc"), "{err}");
    let err = Builder::from_env_with(env(&[("JAEGER_TAGS", "novalue")])).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("JAEGER_TAGS"), "{err}");
    let err = Builder::from_env_with(env(&[("JAEGER_SAMPLER_TYPE", "sometimes")])).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("JAEGER_SAMPLER_TYPE"), "{err}");
}

#[test]
fn disabled_from_env_builds_an_inert_layer() {
    let (layer, guard) =
        Builder::from_env_with(env(&[("JAEGER_DISABLED", "true"), ("JAEGER_SERVICE_NAME", "off")]))
            .unwrap()
            .build()
            .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("x").in_scope(|| {});
    });
    guard.flush(WAIT).unwrap();
    assert_eq!(guard.stats().spans_started_sampled + guard.stats().spans_started_unsampled, 0);
}

#[test]
fn endpoint_from_env_selects_the_collector() {
    let b = Builder::from_env_with(env(&[
        ("JAEGER_SERVICE_NAME", "s"),
        ("JAEGER_ENDPOINT", "http://127.0.0.1:1/api/traces"),
        ("JAEGER_USER", "u"),
        ("JAEGER_PASSWORD", "p"),
    ]))
    .unwrap();
    let dbg = format!("{b:?}");
    assert!(dbg.contains("127.0.0.1:1/api/traces") && !dbg.contains("\"p\""), "{dbg}");
    let (_layer, guard) = b.build().unwrap();
    guard.shutdown(Duration::from_secs(1)).unwrap();
}

// === edges: extreme values never panic, never lose data silently ===

fn build_err(b: Builder) -> crate::error::BuildError {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.build())) {
        Ok(Ok(_)) => panic!("should not build"),
        Ok(Err(e)) => e,
        Err(_) => panic!("build() panicked"),
    }
}

#[test]
fn extreme_durations_do_not_kill_the_exporter() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = crate::JaegerLayer::builder()
        .service_name("edges")
        .agent_endpoint(agent.local_addr().to_string())
        .flush_interval(Duration::MAX)
        .agent_reresolve_interval(Some(Duration::MAX))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("forever").in_scope(|| {});
    });
    guard.flush(WAIT).unwrap();
    assert_eq!(agent.wait_for_spans(1, WAIT)[0].operation_name, "forever");
    assert_eq!(guard.stats().spans_exported, 1);
}

#[test]
fn sizes_above_their_maximum_are_typed_errors_showing_the_value() {
    let b = || crate::JaegerLayer::builder().service_name("s");
    let collector = || b().collector_endpoint("http://127.0.0.1:1/api/traces");
    let max = usize::MAX;
    let cases = [
        (b().queue_capacity(max), "queue_capacity", "at most 16777216"),
        (b().max_packet_size(max), "max_packet_size", "between 256 and 65507"),
        (b().max_logs_per_span(max), "max_logs_per_span", "at most 262144"),
        (b().max_tag_value_length(max), "max_tag_value_length", "at most 4194304"),
        (collector().collector_batch_size(max), "collector_batch_size", "at most 65536"),
    ];
    for (builder, what, why) in cases {
        let msg = build_err(builder).to_string();
        assert!(msg.starts_with(&format!("invalid {what}={max}: ")) && msg.contains(why), "{msg}");
    }
}

#[test]
fn agent_port_zero_is_refused() {
    let err = build_err(crate::JaegerLayer::builder().service_name("s").agent_endpoint("127.0.0.1:0"));
    assert!(err.kind() == crate::error::BuildErrorKind::InvalidSetting, "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid agent_endpoint=\"127.0.0.1:0\": the port must be between 1 and 65535"
    );
    // An unbracketed IPv6 address would split as host ":" and port 1.
    let err = build_err(crate::JaegerLayer::builder().service_name("s").agent_endpoint("::1"));
    assert_eq!(
        err.to_string(),
        "invalid agent_endpoint=\"::1\": an IPv6 address needs brackets, e.g. [::1]:6831"
    );
    let agent = Receiver::bind("[::1]:0").or_else(|_| Receiver::bind("127.0.0.1:0")).unwrap();
    let ok = crate::JaegerLayer::builder().service_name("s").agent_endpoint(agent.local_addr().to_string());
    assert!(ok.build().is_ok(), "{}", agent.local_addr());
}

#[test]
fn rejected_settings_show_the_rejected_value() {
    let b = || crate::JaegerLayer::builder().service_name("s");
    let url = "http://127.0.0.1:1/api/traces";
    let cases = [
        (b().collector_endpoint("htp:/x"), "invalid collector_endpoint=\"htp:/x\": not a valid absolute URL"),
        (
            b().collector_endpoint("ftp://c/x"),
            "invalid collector_endpoint=\"ftp://c/x\": must be an absolute http://",
        ),
        (
            b().collector_endpoint("http://ada:hunter2@c/x"),
            "invalid collector_endpoint=\"http://<redacted>@c/x\": credentials in the URL",
        ),
        (b().collector_endpoint(url).collector_timeout(Duration::ZERO), "invalid collector_timeout=0ns: "),
        (
            b().collector_endpoint(url).collector_header("bad name", "v"),
            "invalid collector_header=\"bad name\": not a valid HTTP header name",
        ),
        (
            b().collector_endpoint(url).collector_header("x-ok", "a\nb"),
            "invalid collector_header x-ok=\"a\\nb\": not a valid HTTP header value",
        ),
        (b().agent_endpoint("localhost"), "invalid agent_endpoint=\"localhost\": expected host:port"),
        (b().service_name(" "), "invalid service_name=\" \": must not be empty"),
        (b().flush_interval(Duration::ZERO), "invalid flush_interval=0ns: must be positive"),
        (b().queue_capacity(0), "invalid queue_capacity=0: must be at least 1"),
    ];
    for (builder, want) in cases {
        let msg = build_err(builder).to_string();
        assert!(msg.starts_with(want), "got  {msg}\nwant {want}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}

#[test]
fn settings_that_can_only_lose_data_are_refused() {
    let b = || crate::JaegerLayer::builder().service_name("s").agent_endpoint("127.0.0.1:6831");
    let msg = build_err(b().max_packet_size(256)).to_string();
    for part in ["no span can fit", "the process", "bytes", "limit of 256 bytes", "raise max_packet_size"] {
        assert!(msg.contains(part), "{part:?} missing in {msg}");
    }
    let long_name = "n".repeat(100_000);
    let msg = build_err(b().service_name(long_name.as_str())).to_string();
    for part in ["the process", "100", "limit of 65000 bytes", "shorten the service name or the process tags"]
    {
        assert!(msg.contains(part), "{part:?} missing in {msg}");
    }
    assert!(msg.len() < 1000, "the service name is not echoed: {msg}");
    let msg = build_err(b().process_tag("blob", "x".repeat(70_000))).to_string();
    assert!(msg.contains("shorten the service name or the process tags"), "{msg}");
    // A 1500-byte MTU's payload is plenty.
    assert!(b().max_packet_size(1472).build().is_ok());
    // Over HTTP the limit is the 4 MiB request body.
    let collector = b().collector_endpoint("http://127.0.0.1:1/api/traces");
    let msg = build_err(collector.service_name("n".repeat(5 << 20))).to_string();
    assert!(msg.contains("limit of 4194304 bytes"), "{msg}");
}

#[test]
fn disabled_from_env_needs_no_service_name() {
    let (layer, guard) =
        Builder::from_env_with(env(&[("JAEGER_DISABLED", "true")])).unwrap().build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("x").in_scope(|| {});
    });
    guard.flush(WAIT).unwrap();
    assert_eq!(guard.stats().spans_started_sampled + guard.stats().spans_started_unsampled, 0);
    // As Go's NewTracer: disabled returns the no-op tracer before checking anything else.
    assert!(crate::JaegerLayer::builder().enabled(false).queue_capacity(usize::MAX).build().is_ok());
    let from_env = Builder::from_env_with(env(&[("JAEGER_DISABLED", "1")])).unwrap();
    assert!(from_env.agent_endpoint("no port").max_packet_size(1).build().is_ok());
    // But every variable is still parsed (Go's FromEnv), so a bad value is still an error.
    let err = Builder::from_env_with(env(&[("JAEGER_DISABLED", "true"), ("JAEGER_AGENT_PORT", "x")]))
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().starts_with("cannot parse env var JAEGER_AGENT_PORT=x"), "{err}");
}

#[test]
fn jaeger_version_is_lang_dash_version() {
    let tags = crate::config::builder::process_tags(Vec::new(), None);
    let version = tags.iter().find(|t| t.key == "jaeger.version").map(|t| t.value.clone());
    assert_eq!(version, Some(TagValue::String(format!("Rust-{}", env!("CARGO_PKG_VERSION")).into())));
}

#[test]
fn hostname_tag_is_the_hosts_name() {
    let tags = crate::config::builder::process_tags(Vec::new(), None);
    let Some(TagValue::String(host)) = tags.iter().find(|t| t.key == "hostname").map(|t| t.value.clone())
    else {
        panic!("no hostname tag in {tags:?}");
    };
    assert!(!host.trim().is_empty());
    // The kernel's name for the host: what `uname -n` and Go's `os.Hostname()` report.
    #[cfg(target_os = "linux")]
    if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        assert_eq!(host, kernel.trim());
    }
}

#[cfg(not(feature = "tls"))]
#[test]
fn ca_certificates_without_the_tls_feature_are_an_error_naming_it() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/ca.pem");
    let e = Builder::default().service_name("svc").tls_ca_certificates(ca).build().map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), crate::error::BuildErrorKind::InvalidSetting, "{e}");
    assert_eq!(e.setting(), Some("tls_ca_certificates"));
    assert!(e.to_string().contains("needs the `tls` feature"), "{e}");
}

#[cfg(feature = "tls")]
#[test]
fn ca_certificates_are_loaded_even_for_the_udp_agent() {
    // Validated early: a wrong file fails build() whatever the transport.
    let e = Builder::default().service_name("svc").tls_ca_certificates("/nonexistent/ca.pem").build();
    let e = e.map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), crate::error::BuildErrorKind::TlsCertificates, "{e}");
    // A disabled builder checks nothing, the file included.
    assert!(Builder::default().enabled(false).tls_ca_certificates("/nonexistent/ca.pem").build().is_ok());
}
