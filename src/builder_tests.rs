//! `Builder::from_env` applied end to end (through a getter: the process environment is
//! never touched by tests).

use std::collections::HashMap;
use std::time::Duration;

use tracing_subscriber::prelude::*;

use crate::receiver::Receiver;
use crate::{Builder, TagValue};

const WAIT: Duration = Duration::from_secs(10);

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
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
