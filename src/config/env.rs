//! `JAEGER_*` environment variables, read as the Go client reads them (jaeger-client-go
//! `config/config_env.go`), plus Java's `JAEGER_AUTH_TOKEN` and `JAEGER_PROPAGATION`.
//!
//! [`read_env`] is a pure function over a getter, so that tests never touch the process
//! environment; the builder passes [`std::env::var_os`]. It returns only what was
//! set, already parsed and validated; the builder applies each `Some` over its own defaults.
//!
//! Rules shared by every variable, as in Go: an empty value is the same as an unset one; values
//! are not trimmed; a bad value is an [`BuildError`] reading
//! `cannot parse env var NAME=VALUE: why` (secrets are never echoed). A value that is not
//! UTF-8 is such an error too (shown lossily), for every variable read, including one named in
//! a `JAEGER_TAGS` `${VAR:default}`; Go reads the raw bytes.
//!
//! Differences from Go, on purpose:
//! - No sampler type gives a remote sampler whose initial sampler is `probabilistic(0.001)`
//!   (Go's `FromEnv` starts from `probabilistic(0)`, sampling nothing until the first poll,
//!   `config/config_env.go` reads an unset param as 0); `JAEGER_SAMPLER_PARAM` still sets
//!   that initial rate.
//! - Go panics on a `JAEGER_TAGS` item without `=` or a `${VAR}` without `:`; here both are
//!   errors. Blank items (`a=1,,b=2`, a trailing comma) are skipped.
//! - Durations, queue size, refresh interval must be positive: Go's tickers panic on zero.
//!   `JAEGER_REPORTER_MAX_QUEUE_SIZE` is at most 16777216 (the queue is allocated up front).
//! - `JAEGER_ENDPOINT` must be an absolute `http://` URL (`https://` with the `tls`
//!   feature); Go also accepts an absolute path, which cannot be posted to.
//! - `JAEGER_SAMPLER_MANAGER_HOST_PORT` given as `host:port` (no scheme) becomes
//!   `http://host:port/sampling`; Go uses it verbatim and then fails every poll.
//! - IPv6 literals in `JAEGER_AGENT_HOST` are bracketed when composed with a port.
//! - `JAEGER_AUTH_TOKEN` and `JAEGER_USER`/`JAEGER_PASSWORD` together is an error (one
//!   `Authorization` header).

use std::cell::RefCell;
use std::ffi::OsString;
use std::time::Duration;

use super::otel_env::{read_otel, OtelConfig};
use crate::error::BuildError;
use crate::propagation::Propagator;
use crate::sampler::{RemoteSampler, Sampler};
use crate::transport::{redact_userinfo, Auth, HttpConfig};

const DEFAULT_AGENT_HOST: &str = "localhost";
const DEFAULT_AGENT_PORT: u16 = 6831;
/// Go's `DefaultSamplingServerPort`, used with `JAEGER_AGENT_HOST` (`constants.go`).
const SAMPLING_PORT: u16 = 5778;
/// The initial rate of an env-configured remote sampler without `JAEGER_SAMPLER_PARAM`.
const DEFAULT_INITIAL_RATE: f64 = 0.001;

/// What the `JAEGER_*` variables set; `None` where a variable was unset.
#[derive(Clone, Debug)]
pub(crate) struct EnvConfig {
    /// `JAEGER_SERVICE_NAME`.
    pub(crate) service_name: Option<String>,
    /// `JAEGER_DISABLED`: a no-op tracer.
    pub(crate) disabled: Option<bool>,
    /// `JAEGER_TAGS`: tracer (process) tags, string-valued, in order.
    pub(crate) tags: Option<Vec<(String, String)>>,
    /// `JAEGER_TRACEID_128BIT`.
    pub(crate) trace_id_128bit: Option<bool>,
    /// From `JAEGER_SAMPLER_TYPE`, `_PARAM`, `JAEGER_SAMPLING_ENDPOINT` (or its fallbacks),
    /// `JAEGER_SAMPLER_MAX_OPERATIONS`, `JAEGER_SAMPLER_REFRESH_INTERVAL`. Always there, as
    /// in Go: with no sampler variable at all it is the remote sampler with its defaults.
    pub(crate) sampler: Sampler,
    /// `JAEGER_REPORTER_MAX_QUEUE_SIZE`, between 1 and the builder's maximum queue capacity.
    pub(crate) reporter_max_queue_size: Option<usize>,
    /// `JAEGER_REPORTER_FLUSH_INTERVAL`, positive.
    pub(crate) reporter_flush_interval: Option<Duration>,
    /// `JAEGER_REPORTER_LOG_SPANS`.
    pub(crate) reporter_log_spans: Option<bool>,
    /// `JAEGER_ENDPOINT`: the collector URL; when set, spans go over HTTP and the agent
    /// host/port are ignored.
    pub(crate) endpoint: Option<String>,
    /// `JAEGER_USER` + `JAEGER_PASSWORD` (Basic) or `JAEGER_AUTH_TOKEN` (Bearer); read only
    /// with `JAEGER_ENDPOINT`.
    pub(crate) auth: Option<Auth>,
    /// `JAEGER_AGENT_HOST` and `JAEGER_AGENT_PORT` composed as `host:port`, the missing part
    /// defaulted (`localhost`, 6831); `None` when neither is set or `JAEGER_ENDPOINT` is.
    pub(crate) agent_host_port: Option<String>,
    /// `JAEGER_REPORTER_ATTEMPT_RECONNECTING_DISABLED`.
    pub(crate) reconnecting_disabled: Option<bool>,
    /// `JAEGER_REPORTER_ATTEMPT_RECONNECT_INTERVAL`, positive.
    pub(crate) reconnect_interval: Option<Duration>,
    /// `JAEGER_PROPAGATION`: e.g. `jaeger,w3c,b3` as one composite propagator.
    pub(crate) propagator: Option<Propagator>,
    /// The `OTEL_*` variables; the builder lets them win over the `JAEGER_*` ones.
    pub(crate) otel: OtelConfig,
}

impl EnvConfig {
    /// The agent re-resolve setting: `Some(None)` when reconnecting is disabled,
    /// `Some(Some(interval))` when only the interval is set, `None` when neither is
    /// (the interval is ignored when disabled, as in Go).
    pub(crate) fn agent_reresolve_interval(&self) -> Option<Option<Duration>> {
        match (self.reconnecting_disabled, self.reconnect_interval) {
            (Some(true), _) => Some(None),
            (_, Some(interval)) => Some(Some(interval)),
            (Some(false), None) | (None, None) => None,
        }
    }

    /// The collector transport's configuration when `JAEGER_ENDPOINT` is set.
    pub(crate) fn http_config(&self) -> Option<HttpConfig> {
        let endpoint = self.endpoint.clone()?;
        Some(HttpConfig { auth: self.auth.clone(), ..HttpConfig::new(endpoint) })
    }
}

/// Reads every `JAEGER_*` variable through `get` (see the module docs).
///
/// # Errors
///
/// [`BuildError`] for the first variable that does not parse, is out of range or is
/// not UTF-8.
pub(crate) fn read_env(get: impl Fn(&str) -> Option<OsString>) -> Result<EnvConfig, BuildError> {
    // The first variable read that is not UTF-8: the parsers below see it as unset, and it is
    // the error returned (it was read before any error they report).
    let not_utf8: RefCell<Option<BuildError>> = RefCell::new(None);
    // Go tests `e != ""` everywhere: empty is unset.
    let get = |name: &str| match get(name)?.into_string() {
        Ok(v) => Some(v).filter(|v| !v.is_empty()),
        Err(raw) => {
            let shown =
                if is_secret(name) { "<redacted>".to_owned() } else { raw.to_string_lossy().into_owned() };
            not_utf8.borrow_mut().get_or_insert_with(|| BuildError::env(name, shown, "not valid UTF-8"));
            None
        }
    };
    let parsed = read_all(&get);
    match not_utf8.into_inner() {
        Some(e) => Err(e),
        None => parsed,
    }
}

/// Variables whose values never appear in errors.
const SECRETS: [&str; 2] = ["JAEGER_PASSWORD", "JAEGER_AUTH_TOKEN"];

/// Whether the value of `name` must never appear in an error: the `JAEGER_*` and the
/// `OTEL_*` secrets, in one list, so that neither reader can echo the other's.
fn is_secret(name: &str) -> bool {
    SECRETS.contains(&name) || super::otel_env::SECRETS.contains(&name)
}

/// [`read_env`] over a getter of UTF-8 values (empty ones as unset).
fn read_all(get: &impl Fn(&str) -> Option<String>) -> Result<EnvConfig, BuildError> {
    // Go's RPC metrics observer has no equivalent here: the variable is only checked, so that
    // a value Go would refuse is refused here too (jaeger-client-go `config/config_env.go`).
    parse(get, "JAEGER_RPC_METRICS", parse_bool)?;
    let mut c = EnvConfig {
        sampler: read_sampler(get)?,
        service_name: get("JAEGER_SERVICE_NAME"),
        disabled: parse(get, "JAEGER_DISABLED", parse_bool)?,
        trace_id_128bit: parse(get, "JAEGER_TRACEID_128BIT", parse_bool)?,
        reporter_max_queue_size: parse(
            get,
            "JAEGER_REPORTER_MAX_QUEUE_SIZE",
            |v| match parse_positive_int(v)? {
                n if n > super::limits::MAX_QUEUE_CAPACITY => {
                    Err(format!("must be at most {}", super::limits::MAX_QUEUE_CAPACITY))
                }
                n => Ok(n),
            },
        )?,
        reporter_flush_interval: parse(get, "JAEGER_REPORTER_FLUSH_INTERVAL", parse_positive_duration)?,
        reporter_log_spans: parse(get, "JAEGER_REPORTER_LOG_SPANS", parse_bool)?,
        reconnecting_disabled: parse(get, "JAEGER_REPORTER_ATTEMPT_RECONNECTING_DISABLED", parse_bool)?,
        reconnect_interval: parse(
            get,
            "JAEGER_REPORTER_ATTEMPT_RECONNECT_INTERVAL",
            parse_positive_duration,
        )?,
        propagator: parse(get, "JAEGER_PROPAGATION", |v| {
            v.parse::<Propagator>().map_err(|e| reason_of(e, "expected a list of jaeger, w3c, b3, b3-single"))
        })?,
        tags: None,
        endpoint: None,
        auth: None,
        agent_host_port: None,
        otel: OtelConfig::default(),
    };
    if let Some(tags) = get("JAEGER_TAGS") {
        c.tags = Some(parse_tags(&tags, get).map_err(|why| BuildError::env("JAEGER_TAGS", &tags, why))?);
    }
    if let Some(endpoint) = get("JAEGER_ENDPOINT") {
        crate::transport::check_endpoint(&endpoint)
            .map_err(|why| BuildError::env("JAEGER_ENDPOINT", redact_userinfo(&endpoint), why))?;
        c.endpoint = Some(endpoint);
        c.auth = read_auth(get)?;
    } else {
        c.agent_host_port = read_agent_host_port(get)?;
    }
    c.otel = read_otel(get, || jaeger_remote(get))?;
    Ok(c)
}

/// Parses `name` with `f` if set, turning its reason into a `cannot parse env var` error
/// that shows the value, or `<redacted>` for a secret. The `OTEL_*` reader uses it too.
pub(crate) fn parse<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, BuildError> {
    get(name)
        .map(|v| {
            f(&v).map_err(|why| {
                let shown = if is_secret(name) { "<redacted>" } else { v.as_str() };
                BuildError::env(name, shown, why)
            })
        })
        .transpose()
}

/// The reason of a crate error from a constructor, for an env error about the same value.
fn reason_of(e: BuildError, fallback: &str) -> String {
    e.reason().unwrap_or(fallback).to_owned()
}

// === sampler ===

/// Go's `SamplerConfig` from env (`config/config_env.go`): a type, one param, and the remote
/// settings.
fn read_sampler(get: &impl Fn(&str) -> Option<String>) -> Result<Sampler, BuildError> {
    const PARAM: &str = "JAEGER_SAMPLER_PARAM";
    let param = parse(get, PARAM, |v| v.parse::<f64>().map_err(|e| e.to_string()))?;
    // Errors of the constructors (rate out of range) are about the param's value.
    let param_err = |e: BuildError| {
        let shown = get(PARAM).unwrap_or_else(|| "(unset)".to_owned());
        BuildError::env(PARAM, shown, reason_of(e, "out of range"))
    };
    // Parsed whatever the type, as Go does, so that a typo never hides behind another type
    // (`jaeger_remote` reads them again).
    parse(get, "JAEGER_SAMPLER_MAX_OPERATIONS", |v| v.parse::<usize>().map_err(|e| e.to_string()))?;
    parse(get, "JAEGER_SAMPLER_REFRESH_INTERVAL", parse_positive_duration)?;
    let kind = get("JAEGER_SAMPLER_TYPE");
    match kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("const") => Ok(if param.unwrap_or(0.0) != 0.0 { Sampler::always() } else { Sampler::never() }),
        Some("probabilistic") => Sampler::probabilistic(param.unwrap_or(0.0)).map_err(param_err),
        Some("ratelimiting") => Sampler::rate_limiting(param.unwrap_or(0.0)).map_err(param_err),
        None | Some("remote") => jaeger_remote(get).map(Sampler::remote),
        Some(_) => Err(BuildError::env(
            "JAEGER_SAMPLER_TYPE",
            kind.unwrap_or_default(),
            "unknown sampler type (expected remote, const, probabilistic or ratelimiting)",
        )),
    }
}

/// The remote sampler the `JAEGER_*` variables configure: `JAEGER_SAMPLER_PARAM` as the
/// initial rate when the type is `remote` or unset (else 0.001), the sampling endpoint, the
/// maximum operations and the refresh interval. Also the base of `OTEL_TRACES_SAMPLER=jaeger_remote`.
fn jaeger_remote(get: &impl Fn(&str) -> Option<String>) -> Result<RemoteSampler, BuildError> {
    const PARAM: &str = "JAEGER_SAMPLER_PARAM";
    let is_remote = get("JAEGER_SAMPLER_TYPE").is_none_or(|t| t.eq_ignore_ascii_case("remote"));
    let param = match is_remote {
        true => parse(get, PARAM, |v| v.parse::<f64>().map_err(|e| e.to_string()))?,
        false => None,
    };
    let initial = Sampler::probabilistic(param.unwrap_or(DEFAULT_INITIAL_RATE)).map_err(|e| {
        let shown = get(PARAM).unwrap_or_else(|| "(unset)".to_owned());
        BuildError::env(PARAM, shown, reason_of(e, "out of range"))
    })?;
    let mut remote = RemoteSampler::new().initial_sampler(initial);
    if let Some(url) = sampling_endpoint(get)? {
        remote = remote.endpoint(url);
    }
    if let Some(n) =
        parse(get, "JAEGER_SAMPLER_MAX_OPERATIONS", |v| v.parse::<usize>().map_err(|e| e.to_string()))?
    {
        remote = remote.max_operations(n);
    }
    if let Some(d) = parse(get, "JAEGER_SAMPLER_REFRESH_INTERVAL", parse_positive_duration)? {
        remote = remote.refresh_interval(d);
    }
    Ok(remote)
}

/// `JAEGER_SAMPLING_ENDPOINT`, else `JAEGER_SAMPLER_MANAGER_HOST_PORT`, else the agent host's
/// port 5778, else `None` for the default (`config/config_env.go`); checked as an `http://` URL
/// (`https://` with the `tls` feature).
fn sampling_endpoint(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, BuildError> {
    let (name, url) = if let Some(url) = get("JAEGER_SAMPLING_ENDPOINT") {
        ("JAEGER_SAMPLING_ENDPOINT", url)
    } else if let Some(v) = get("JAEGER_SAMPLER_MANAGER_HOST_PORT") {
        let url = if v.contains("://") { v } else { format!("http://{v}/sampling") };
        ("JAEGER_SAMPLER_MANAGER_HOST_PORT", url)
    } else if let Some(host) = get("JAEGER_AGENT_HOST") {
        ("JAEGER_AGENT_HOST", format!("http://{}/sampling", host_port(&host, SAMPLING_PORT)))
    } else {
        return Ok(None);
    };
    crate::transport::check_endpoint(&url)
        .map_err(|why| BuildError::env(name, redact_userinfo(&url), why))?;
    Ok(Some(url))
}

// === reporter ===

/// Basic or bearer auth for the collector (`config/config_env.go`; Basic needs both variables).
fn read_auth(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Auth>, BuildError> {
    const TOGETHER: &str = "you must set JAEGER_USER and JAEGER_PASSWORD env vars together";
    let basic = match (get("JAEGER_USER"), get("JAEGER_PASSWORD")) {
        (Some(user), Some(password)) => Some(Auth::Basic { user, password }),
        (Some(user), None) => return Err(BuildError::env("JAEGER_USER", user, TOGETHER)),
        (None, Some(_)) => return Err(BuildError::env("JAEGER_PASSWORD", "<redacted>", TOGETHER)),
        (None, None) => None,
    };
    match (basic, get("JAEGER_AUTH_TOKEN")) {
        (Some(_), Some(_)) => Err(BuildError::env(
            "JAEGER_AUTH_TOKEN",
            "<redacted>",
            "cannot be combined with JAEGER_USER/JAEGER_PASSWORD (one Authorization header)",
        )),
        (basic, token) => Ok(basic.or(token.map(Auth::Bearer))),
    }
}

/// Go's composition (`config/config_env.go`): either variable set gives `host:port` with the other part
/// defaulted; neither gives `None`.
fn read_agent_host_port(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, BuildError> {
    let host = get("JAEGER_AGENT_HOST");
    let port = parse(get, "JAEGER_AGENT_PORT", |v| match v.parse::<u16>() {
        Ok(0) => Err("the port must be between 1 and 65535".to_owned()),
        Ok(p) => Ok(p),
        Err(e) => Err(e.to_string()),
    })?;
    if host.is_none() && port.is_none() {
        return Ok(None);
    }
    let host = host.as_deref().unwrap_or(DEFAULT_AGENT_HOST);
    Ok(Some(host_port(host, port.unwrap_or(DEFAULT_AGENT_PORT))))
}

/// `host:port`, bracketing an IPv6 literal.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// === tags ===

/// `k=v,k2=${ENV:default}` (`config/config_env.go`): split on `,`, each item at its first `=`, key and value
/// trimmed; `${NAME:default}` is `NAME`'s value if non-empty, else `default`.
fn parse_tags(s: &str, get: &impl Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, String> {
    let mut tags = Vec::new();
    for item in s.split(',').filter(|i| !i.trim().is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("tag {:?} has no '=' (expected key=value)", item.trim()));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(format!("tag {:?} has an empty key", item.trim()));
        }
        let value = match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
            Some(reference) => {
                let Some((var, default)) = reference.split_once(':') else {
                    return Err(format!("{value:?} has no ':' (expected ${{VAR:default}})"));
                };
                get(var).unwrap_or_else(|| default.to_owned())
            }
            None => value.to_owned(),
        };
        tags.push((key.to_owned(), value));
    }
    Ok(tags)
}

// === scalars ===

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("invalid syntax (expected true or false)".to_owned()),
    }
}

fn parse_positive_int(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_positive_duration(v: &str) -> Result<Duration, String> {
    match parse_duration(v)? {
        d if d.is_zero() => Err("must be positive".to_owned()),
        d => Ok(d),
    }
}

/// Go's `time.ParseDuration`: an optionally signed sequence of decimal numbers, each with an
/// optional fraction and a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`), e.g. `1.5s`,
/// `1h2m`; `0` alone needs no unit. Negative durations are refused (none makes sense here).
/// Fractions beyond nanoseconds are truncated; totals over Go's limit (~292 years) refused.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    const MAX_NANOS: u128 = i64::MAX as u128;
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("invalid duration".to_owned());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => a.split_at(a.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err("invalid duration (expected a number, e.g. 1m30s)".to_owned());
        }
        let unit_len = after.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err("missing unit in duration (ns, us, ms, s, m or h)".to_owned()),
            _ => return Err(format!("unknown unit {unit:?} in duration (ns, us, ms, s, m or h)")),
        };
        let out_of_range = || "duration out of range".to_owned();
        // Digits beyond 30 overflow the product below anyway; the check keeps `parse` total.
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| out_of_range())? };
        total = whole.checked_mul(per_unit).and_then(|n| total.checked_add(n)).ok_or_else(out_of_range)?;
        // Only the first 19 fractional digits can matter at nanosecond resolution.
        let frac = &frac[..frac.len().min(19)];
        if !frac.is_empty() {
            let digits: u128 = frac.parse().map_err(|_| out_of_range())?;
            total += digits * per_unit / 10u128.pow(frac.len() as u32);
        }
        if total > MAX_NANOS {
            return Err(out_of_range());
        }
        rest = after;
    }
    if negative && total > 0 {
        return Err("must not be negative".to_owned());
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests;
