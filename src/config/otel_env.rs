//! `OTEL_*` environment variables (opentelemetry-specification
//! `configuration/sdk-environment-variables.md`, `protocol/exporter.md`, `resource/sdk.md`),
//! read beside the `JAEGER_*` ones by [`read_otel`] through the same getter: empty values are
//! unset, a value that is not UTF-8 is an error.
//!
//! Where the specification asks for a warning and for the bad value to be ignored (a bad
//! enum, number or boolean, a bad `OTEL_TRACES_SAMPLER_ARG`, a malformed
//! `OTEL_RESOURCE_ATTRIBUTES`), this crate returns a [`BuildError`] naming the variable and the
//! value instead, as it does for the `JAEGER_*` variables: a typo then fails at start-up
//! rather than silently changing what is exported. Enum values are case-insensitive.
//!
//! Of each `OTEL_EXPORTER_OTLP_X` / `OTEL_EXPORTER_OTLP_TRACES_X` pair only the effective
//! one, the traces-specific one when set, is read, as a whole ("Each configuration option
//! MUST be overridable by a signal specific option", `protocol/exporter.md`): a generic value
//! meant for other signals is not checked, and traces headers replace the generic headers
//! rather than merging with them.

use std::time::Duration;

use ureq::http::{HeaderName, HeaderValue};

use super::env::parse;
use super::otlp::{Compression, OtlpEndpoint, OtlpSettings};
use crate::error::BuildError;
use crate::propagation::Propagator;
use crate::sampler::{RemoteSampler, Sampler};
use crate::transport::{check_endpoint, redact_userinfo, CaFile};

/// The OTLP/HTTP base URL used when `OTEL_TRACES_EXPORTER=otlp` names no endpoint
/// (`protocol/exporter.md`).
pub(crate) const DEFAULT_OTLP_BASE: &str = "http://localhost:4318";
/// The timeout that stands for `0` ("no limit", `configuration/common.md`): transports treat
/// durations this long as no deadline.
pub(crate) const NO_LIMIT: Duration = Duration::MAX;
/// Jaeger's gRPC sampling ports (collector 14250, Jaeger v2's `remote_sampling` 5779): the
/// remote sampler speaks the HTTP sampling API only (agent / Jaeger v2 port 5778).
const GRPC_SAMPLING_PORTS: [u16; 2] = [14250, 5779];

/// What the `OTEL_*` variables set; `None` (or `false`) where nothing was set.
#[derive(Clone, Debug, Default)]
pub(crate) struct OtelConfig {
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`.
    pub(crate) service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES` without `service.name`, in order, a repeated key keeping its
    /// first place and its last value.
    pub(crate) resource: Option<Vec<(String, String)>>,
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
    pub(crate) disabled: bool,
    /// Set when OTLP is selected: by `OTEL_TRACES_EXPORTER=otlp` or by an endpoint variable.
    pub(crate) otlp: Option<OtlpSettings>,
    /// `OTEL_TRACES_SAMPLER` with `OTEL_TRACES_SAMPLER_ARG`.
    pub(crate) sampler: Option<Sampler>,
    /// `OTEL_PROPAGATORS`.
    pub(crate) propagator: Option<Propagator>,
    /// `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`: the CA file, read when the layer is built.
    pub(crate) certificate: Option<CaFile>,
}

/// Variables whose values never appear in errors.
pub(crate) const SECRETS: [&str; 2] = ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"];

/// Reads every `OTEL_*` variable this crate knows through `get` (UTF-8, empty as unset).
/// `jaeger_remote` gives the remote sampler the `JAEGER_*` variables configure, which the
/// `jaeger_remote` samplers start from.
///
/// # Errors
///
/// [`BuildError`] for the first variable that is malformed or names something unsupported.
pub(crate) fn read_otel(
    get: &impl Fn(&str) -> Option<String>,
    jaeger_remote: impl FnOnce() -> Result<RemoteSampler, BuildError>,
) -> Result<OtelConfig, BuildError> {
    let mut c = OtelConfig {
        disabled: parse(get, "OTEL_SDK_DISABLED", parse_bool)?.unwrap_or(false),
        ..OtelConfig::default()
    };
    if let Some(attrs) = parse(get, "OTEL_RESOURCE_ATTRIBUTES", parse_resource)? {
        let (service, rest): (Vec<_>, Vec<_>) = attrs.into_iter().partition(|(k, _)| k == "service.name");
        c.service_name = service.into_iter().next().map(|(_, v)| v);
        c.resource = Some(rest);
    }
    if let Some(name) = get("OTEL_SERVICE_NAME") {
        c.service_name = Some(name);
    }
    let exporter = parse(get, "OTEL_TRACES_EXPORTER", |v| match v.trim().to_ascii_lowercase().as_str() {
        "otlp" => Ok(true),
        "none" => Ok(false),
        _ => Err("unsupported exporter (expected otlp or none)".to_owned()),
    })?;
    c.disabled |= exporter == Some(false);
    let mut otlp = read_otlp(get)?;
    if exporter == Some(true) || otlp.endpoint.is_some() {
        otlp.endpoint.get_or_insert_with(default_endpoint);
        c.otlp = Some(otlp);
    }
    c.certificate = read_certificate(get)?;
    c.sampler = read_sampler(get, jaeger_remote)?;
    c.propagator = parse(get, "OTEL_PROPAGATORS", parse_propagators)?;
    Ok(c)
}

/// The traces-specific variable if set, else the generic one, parsed with `f`.
fn parse_pair<T>(
    get: &impl Fn(&str) -> Option<String>,
    suffix: &str,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, BuildError> {
    let traces = format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}");
    let name = if get(&traces).is_some() { traces } else { format!("OTEL_EXPORTER_OTLP_{suffix}") };
    parse(get, &name, f)
}

// === OTLP exporter ===

/// The `OTEL_EXPORTER_OTLP_*` settings over the builder's defaults (`endpoint` stays `None`
/// when no endpoint variable is set).
fn read_otlp(get: &impl Fn(&str) -> Option<String>) -> Result<OtlpSettings, BuildError> {
    let mut s = OtlpSettings::default();
    parse_pair(get, "PROTOCOL", |v| match v.trim().to_ascii_lowercase().as_str() {
        "http/protobuf" => Ok(()),
        "grpc" => Err("grpc is not supported, use http/protobuf".to_owned()),
        "http/json" => Err("http/json is not supported, use http/protobuf".to_owned()),
        _ => Err("unknown protocol (expected http/protobuf)".to_owned()),
    })?;
    let url = |v: &str| check_endpoint(v).map(|()| v.to_owned()).map_err(str::to_owned);
    s.endpoint = match parse(get, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)? {
        Some(full) => Some(OtlpEndpoint::Traces(full)),
        None => parse(get, "OTEL_EXPORTER_OTLP_ENDPOINT", url)?.map(OtlpEndpoint::Base),
    };
    if let Some(headers) = parse_pair(get, "HEADERS", parse_headers)? {
        s.headers = headers;
    }
    if let Some(timeout) = parse_pair(get, "TIMEOUT", parse_timeout)? {
        s.timeout = timeout;
    }
    if let Some(compression) =
        parse_pair(get, "COMPRESSION", |v| match v.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            _ => Err("unknown compression (expected gzip or none)".to_owned()),
        })?
    {
        s.compression = compression;
    }
    Ok(s)
}

/// `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` ("the trusted certificate to use when verifying
/// a server's TLS credentials", `protocol/exporter.md`): a path, kept with the variable's name
/// so that `build()`, which reads the file, names the variable in its errors. Without the
/// `tls` feature nothing could use it: an error now, as for an `https://` endpoint.
fn read_certificate(get: &impl Fn(&str) -> Option<String>) -> Result<Option<CaFile>, BuildError> {
    const TRACES: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
    const GENERIC: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
    let origin = if get(TRACES).is_some() { TRACES } else { GENERIC };
    parse(get, origin, |v| {
        if !crate::transport::agent::TLS {
            return Err("a CA certificate is used for https://, which needs the `tls` feature of \
                        jaeger-layer"
                .to_owned());
        }
        Ok(CaFile { path: v.into(), origin })
    })
}

/// The endpoint for `OTEL_TRACES_EXPORTER=otlp` without an endpoint variable.
fn default_endpoint() -> OtlpEndpoint {
    OtlpEndpoint::Base(DEFAULT_OTLP_BASE.to_owned())
}

/// Integer milliseconds (`configuration/common.md`, "Timeout"); `0` is no limit.
fn parse_timeout(v: &str) -> Result<Duration, String> {
    let negative =
        v.strip_prefix('-').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if negative {
        return Err("must not be negative (integer milliseconds, 0 for no limit)".to_owned());
    }
    match v.parse::<u64>() {
        Ok(0) => Ok(NO_LIMIT),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(e) => Err(format!("{e} (expected integer milliseconds, 0 for no limit)")),
    }
}

/// `k=v,k2=v2` as a W3C baggage header without properties (`protocol/exporter.md`,
/// "Specifying headers via environment variables"): keys and values trimmed, then
/// percent-decoded (`+` stays `+`); a repeated key keeps its last value. Errors name the key,
/// never the value.
fn parse_headers(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (key, value) in pairs(s)? {
        HeaderName::from_bytes(key.as_bytes()).map_err(|_| format!("{key:?} is not a valid header name"))?;
        HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of {key:?} is not a valid header value"))?;
        insert_last_wins(&mut headers, key, value);
    }
    Ok(headers)
}

/// `key=value,...` with percent-encoded keys and values (`resource/sdk.md`); any error
/// discards the whole variable.
fn parse_resource(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut attrs = Vec::new();
    for (key, value) in pairs(s)? {
        insert_last_wins(&mut attrs, key, value);
    }
    Ok(attrs)
}

/// The items of a `k=v,k=v` list: blank items skipped, each split at its first `=`, key and
/// value trimmed and percent-decoded; a key must not be empty.
fn pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in s.split(',').filter(|i| !i.trim().is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            let key = item.trim();
            return Err(format!("item {:?} has no '=' (expected key=value)", truncate(key)));
        };
        let key =
            percent_decode(key.trim()).map_err(|why| format!("key {:?}: {why}", truncate(key.trim())))?;
        if key.is_empty() {
            return Err("an item has an empty key".to_owned());
        }
        let value = percent_decode(value.trim()).map_err(|why| format!("the value of {key:?}: {why}"))?;
        out.push((key, value));
    }
    Ok(out)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn insert_last_wins(list: &mut Vec<(String, String)>, key: String, value: String) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key, value)),
    }
}

/// RFC 3986 percent-decoding: `%XX` is a byte, `+` is itself; a `%` without two hex digits,
/// or bytes that are not UTF-8, are errors.
pub(crate) fn percent_decode(s: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
            // Two hex digits make at most 0xff.
            (Some(high), Some(low)) => out.push((high * 16 + low) as u8),
            _ => return Err("a '%' not followed by two hex digits".to_owned()),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| "percent-decodes to bytes that are not UTF-8".to_owned())
}

/// `true` or `false`, ignoring case (`configuration/sdk-environment-variables.md`, "Boolean";
/// anything else is an error here rather than `false` with a warning).
fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

// === sampler ===

/// `OTEL_TRACES_SAMPLER` and its argument. The layer always follows a parent's sampled flag,
/// as Jaeger's clients do, so `X` and `parentbased_X` give the same sampler.
fn read_sampler(
    get: &impl Fn(&str) -> Option<String>,
    jaeger_remote: impl FnOnce() -> Result<RemoteSampler, BuildError>,
) -> Result<Option<Sampler>, BuildError> {
    const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
    let Some(kind) = get("OTEL_TRACES_SAMPLER") else {
        return Ok(None); // the argument is read only with a sampler
    };
    let arg_err = |value: &str, why: String| BuildError::env(ARG, value, why);
    let sampler = match kind.trim().to_ascii_lowercase().as_str() {
        "always_on" | "parentbased_always_on" => Sampler::always(),
        "always_off" | "parentbased_always_off" => Sampler::never(),
        "traceidratio" | "parentbased_traceidratio" => match get(ARG) {
            None => Sampler::always(),
            Some(v) => parse_rate(&v).map_err(|why| arg_err(&v, why))?,
        },
        "jaeger_remote" | "parentbased_jaeger_remote" => {
            let mut remote = jaeger_remote()?;
            if let Some(v) = get(ARG) {
                remote = remote_arg(remote, &v).map_err(|why| arg_err(&v, why))?;
            }
            Sampler::remote(remote)
        }
        _ => {
            return Err(BuildError::env(
                "OTEL_TRACES_SAMPLER",
                kind,
                "unsupported sampler (expected always_on, always_off, traceidratio, \
                 jaeger_remote, or one of these with parentbased_)",
            ))
        }
    };
    Ok(Some(sampler))
}

/// A probability in `[0, 1]`, as a probabilistic sampler (Jaeger's rule on the trace id).
fn parse_rate(v: &str) -> Result<Sampler, String> {
    let rate: f64 = v.trim().parse().map_err(|e| format!("{e} (expected a probability in [0, 1])"))?;
    Sampler::probabilistic(rate)
        .map_err(|e| e.reason().unwrap_or("expected a probability in [0, 1]").to_owned())
}

/// `endpoint=...,pollingIntervalMs=...,initialSamplingRate=...` over `remote`.
fn remote_arg(mut remote: RemoteSampler, v: &str) -> Result<RemoteSampler, String> {
    for (key, value) in pairs(v)? {
        remote = match key.as_str() {
            "endpoint" => {
                check_endpoint(&value)
                    .map_err(|why| format!("endpoint {:?}: {why}", redact_userinfo(&value)))?;
                let port = value.parse::<ureq::http::Uri>().ok().and_then(|u| u.port_u16());
                if port.is_some_and(|p| GRPC_SAMPLING_PORTS.contains(&p)) {
                    return Err(format!(
                        "endpoint {value:?} is a Jaeger gRPC sampling port; this remote sampler \
                         speaks Jaeger's HTTP sampling API, e.g. http://jaeger:5778/sampling"
                    ));
                }
                remote.endpoint(value)
            }
            "pollingIntervalMs" => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => remote.refresh_interval(Duration::from_millis(ms)),
                _ => return Err(format!("pollingIntervalMs {value:?} is not a positive integer")),
            },
            "initialSamplingRate" => remote
                .initial_sampler(parse_rate(&value).map_err(|why| format!("initialSamplingRate: {why}"))?),
            _ => {
                return Err(format!(
                    "unknown key {key:?} (expected endpoint, pollingIntervalMs, initialSamplingRate)"
                ))
            }
        };
    }
    Ok(remote)
}

// === propagators ===

/// `OTEL_PROPAGATORS`: names in order, duplicates removed. `tracecontext` is this crate's W3C
/// propagator, which carries `baggage` with `traceparent`; so `baggage` needs `tracecontext`,
/// and `tracecontext` alone propagates baggage too. `b3` is the single `b3` header, `b3multi`
/// the `x-b3-*` headers; `none` propagates nothing and stands alone.
fn parse_propagators(v: &str) -> Result<Propagator, String> {
    let (mut parts, mut baggage, mut none, mut w3c) = (Vec::new(), false, false, false);
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name.to_ascii_lowercase().as_str() {
            "tracecontext" => {
                w3c = true;
                parts.push(Propagator::w3c());
            }
            "baggage" => baggage = true,
            "b3" => parts.push(Propagator::b3_single()),
            "b3multi" => parts.push(Propagator::b3()),
            "jaeger" => parts.push(Propagator::jaeger()),
            "none" => none = true,
            "xray" | "ottrace" => return Err(format!("the {name} propagator is not supported")),
            _ => {
                return Err(format!(
                "unknown propagator {name:?} (expected tracecontext, baggage, b3, b3multi, jaeger or none)"
            ))
            }
        }
    }
    if none && (baggage || !parts.is_empty()) {
        return Err("none cannot be combined with other propagators".to_owned());
    }
    if baggage && !w3c {
        return Err(
            "baggage needs tracecontext: W3C baggage is carried by the tracecontext propagator".to_owned()
        );
    }
    Ok(Propagator::composite(parts))
}

#[cfg(test)]
mod tests;
