//! OTLP/HTTP delivery (opentelemetry-proto `docs/specification.md`, "OTLP/HTTP"): one
//! `POST` of an `ExportTraceServiceRequest` per batch, retried on 429, 502, 503 and 504 and
//! on connection failures with exponential backoff and jitter, waiting at least as long as
//! `Retry-After` says, all within the export timeout; never on any other status. A 2xx response's
//! `partial_success.rejected_spans` is handed back to be counted as failed.

use std::io;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::otlp::{Compression, OtlpEndpoint, OtlpSettings};
use crate::error::BuildError;
use crate::otlp::{Export, OtlpSend};
use crate::transport::agent;
use crate::transport::redact_userinfo;
use crate::transport::TrustRoots;

/// A response body larger than this is not read and the export fails, without retry
/// (opentelemetry-proto `docs/specification.md`, since v1.11.0: 4 MiB).
pub(crate) const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
/// The first wait before a retry; doubled after each, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Above this timeout there is no deadline (`Duration::MAX`, `OTEL_EXPORTER_OTLP_TIMEOUT=0`).
const NO_DEADLINE_ABOVE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// Waits are slept in slices this long, so that a timed-out shutdown is noticed.
const SLICE: Duration = Duration::from_millis(50);
/// How often, at most, a failed export is said on stderr.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// The default base URL (opentelemetry-specification `protocol/exporter.md`).
const DEFAULT_BASE: &str = "http://localhost:4318";

/// The OTLP/HTTP transport of the exporter thread.
pub(crate) struct OtlpTransport {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    #[cfg(feature = "gzip")]
    compression: Compression,
    #[cfg(feature = "gzip")]
    gzipped: Vec<u8>,
    rng: u64,
    last_report: Option<Instant>,
    failed_since_report: u64,
}

impl std::fmt::Debug for OtlpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpTransport")
            .field("url", &redact_userinfo(&self.url))
            .field("headers", &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One attempt's failure, and whether the spec allows another.
struct Failure {
    error: io::Error,
    retry: bool,
    retry_after: Option<Duration>,
}

impl OtlpTransport {
    /// Checks the URL and the compression and builds the HTTP client, which verifies
    /// `https://` servers against `roots`.
    pub(crate) fn new(settings: &OtlpSettings, roots: &TrustRoots) -> Result<Self, BuildError> {
        let endpoint = settings.endpoint.clone().unwrap_or(OtlpEndpoint::Base(DEFAULT_BASE.to_owned()));
        let url = endpoint.url();
        let setting = match endpoint {
            OtlpEndpoint::Base(_) => "otlp_endpoint",
            OtlpEndpoint::Traces(_) => "otlp_traces_endpoint",
        };
        agent::check_endpoint(&url)
            .map_err(|why| BuildError::invalid(setting, redact_userinfo(&url), why))?;
        for (name, value) in &settings.headers {
            let valid = ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && ureq::http::HeaderValue::from_str(value).is_ok();
            if !valid {
                return Err(BuildError::invalid(
                    "otlp_header",
                    name,
                    "not a valid HTTP header name and value",
                ));
            }
        }
        if settings.compression == Compression::Gzip && !cfg!(feature = "gzip") {
            return Err(BuildError::invalid(
                "otlp_compression",
                "Gzip",
                "gzip needs the `gzip` feature of jaeger-layer",
            ));
        }
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
        Ok(OtlpTransport {
            agent: agent::agent(None, roots),
            url,
            headers: settings.headers.clone(),
            timeout: settings.timeout,
            #[cfg(feature = "gzip")]
            compression: settings.compression,
            #[cfg(feature = "gzip")]
            gzipped: Vec::new(),
            rng: seed,
            last_report: None,
            failed_since_report: 0,
        })
    }

    /// A random factor in [0.5, 1.5) for the backoff (xorshift64: no dependency for this).
    fn jitter(&mut self, d: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let f = 0.5 + (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(f)
    }

    fn attempt(&self, body: &[u8], gzip: bool, budget: Option<Duration>) -> Result<Export, Failure> {
        let mut request = agent::post(&self.agent, &self.url, budget)
            .header("content-type", "application/x-protobuf")
            .header(
                "user-agent",
                concat!("OTel-OTLP-Exporter-Rust/jaeger-layer-", env!("CARGO_PKG_VERSION")),
            );
        if gzip {
            request = request.header("content-encoding", "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut response = request.send(body).map_err(classify)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = match response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec() {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(Failure {
                    error: io::Error::other(format!(
                        "OTLP response over {MAX_RESPONSE_BYTES} bytes (HTTP {status})"
                    )),
                    retry: false,
                    retry_after: None,
                })
            }
            Err(_) => Vec::new(),
        };
        if (200..300).contains(&status) {
            let (rejected, message) = partial_success(&body);
            return Ok(Export::Accepted { rejected, message });
        }
        let mut message = format!("OTLP endpoint answered HTTP {status}");
        let why = rpc_status_message(&body).unwrap_or_else(|| {
            let cut = &body[..body.len().min(200)];
            String::from_utf8_lossy(cut).trim().to_owned()
        });
        if !why.is_empty() {
            message.push_str(": ");
            message.push_str(&why);
        }
        Err(Failure {
            error: io::Error::other(message),
            retry: matches!(status, 429 | 502 | 503 | 504),
            retry_after,
        })
    }

    fn report(&mut self, error: &io::Error) {
        self.failed_since_report += 1;
        let now = Instant::now();
        if self.last_report.is_some_and(|t| now.duration_since(t) < REPORT_INTERVAL) {
            return;
        }
        self.last_report = Some(now);
        // stderr, not `tracing`: the exporter must never feed spans back into itself.
        eprintln!(
            "jaeger-layer: OTLP export to {} failed: {error}; {} request(s) failed since the last \
             report, their spans counted in Stats::spans_failed (reported at most every {}s).",
            redact_userinfo(&self.url),
            std::mem::take(&mut self.failed_since_report),
            REPORT_INTERVAL.as_secs()
        );
    }
}

impl OtlpSend for OtlpTransport {
    fn export(&mut self, body: &[u8], give_up: &dyn Fn() -> bool) -> Export {
        let start = Instant::now();
        let deadline = if self.timeout > NO_DEADLINE_ABOVE { None } else { start.checked_add(self.timeout) };
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        #[cfg(feature = "gzip")]
        let mut gzipped = std::mem::take(&mut self.gzipped);
        #[cfg(feature = "gzip")]
        let (body, gzip) = if self.compression == Compression::Gzip {
            use std::io::Write;
            gzipped.clear();
            let mut enc = flate2::write::GzEncoder::new(&mut gzipped, flate2::Compression::fast());
            let _ = enc.write_all(body).and_then(|_| enc.try_finish());
            drop(enc);
            (&gzipped[..], true)
        } else {
            (body, false)
        };
        #[cfg(not(feature = "gzip"))]
        let gzip = false;
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        let result = loop {
            if give_up() {
                break Export::GaveUp;
            }
            attempts += 1;
            let failure = match self.attempt(body, gzip, left()) {
                Ok(export) => break export,
                Err(f) => f,
            };
            // The greater of the backoff and `Retry-After`, as opentelemetry-go does
            // (`internal/shared/otlp/retry/retry.go.tmpl`): never sooner than the server asked,
            // and a `Retry-After: 0` (or a date already past, a clock skew away) does not
            // turn the retries into a busy loop against a server that is shedding load.
            let backoff_wait = self.jitter(backoff);
            let wait = failure.retry_after.map_or(backoff_wait, |after| after.max(backoff_wait));
            if !failure.retry || left().is_some_and(|l| wait >= l) {
                let noun = if attempts == 1 { "attempt" } else { "attempts" };
                let error =
                    io::Error::new(failure.error.kind(), format!("{} ({attempts} {noun})", failure.error));
                self.report(&error);
                break Export::Failed(error);
            }
            // Sleep in slices, so that a timed-out shutdown stops the wait.
            let until = Instant::now() + wait;
            while let Some(rest) = until.checked_duration_since(Instant::now()).filter(|r| !r.is_zero()) {
                if give_up() {
                    break;
                }
                thread::sleep(rest.min(SLICE));
            }
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
        };
        #[cfg(feature = "gzip")]
        {
            self.gzipped = gzipped;
        }
        result
    }
}

/// What a request that got no response failed of (see [`agent::request_failure`]); a retry
/// waits out the backoff.
fn classify(error: ureq::Error) -> Failure {
    let (error, retry) = agent::request_failure(error, "OTLP request");
    Failure { error, retry, retry_after: None }
}

/// `Retry-After` as delay-seconds or an IMF-fixdate (RFC 9110 §10.2.3; the obsolete date
/// forms are not read and count as absent).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_imf_fixdate(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_imf_fixdate(s: &str) -> Option<SystemTime> {
    let mut parts = s.split(' ');
    let _weekday = parts.next().filter(|w| w.len() == 4 && w.ends_with(','))?;
    let day: u64 = parts.next().filter(|d| d.len() == 2)?.parse().ok()?;
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mon = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == mon)? as u64 + 1;
    let year: u64 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let mut field = |max: u64| hms.next().filter(|f| f.len() == 2)?.parse::<u64>().ok().filter(|v| *v <= max);
    let (h, m, sec) = (field(23)?, field(59)?, field(60)?);
    if parts.next() != Some("GMT") || parts.next().is_some() || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's `days_from_civil`).
    let (y, mo) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    let secs = days.checked_mul(86_400)?.checked_add(h * 3600 + m * 60 + sec)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

// === the few protobuf fields read from responses ===

/// Reads a varint at `*at`.
fn read_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Calls `f(field, wire_type, value bytes or varint)` for each field of a message; `None`
/// if the bytes are not a well-formed message.
fn fields<'a>(b: &'a [u8], mut f: impl FnMut(u64, Field<'a>)) -> Option<()> {
    let mut at = 0;
    while at < b.len() {
        let key = read_varint(b, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => f(field, Field::Varint(read_varint(b, &mut at)?)),
            1 => at = at.checked_add(8).filter(|e| *e <= b.len())?,
            2 => {
                let len = usize::try_from(read_varint(b, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|e| *e <= b.len())?;
                f(field, Field::Bytes(&b[at..end]));
                at = end;
            }
            5 => at = at.checked_add(4).filter(|e| *e <= b.len())?,
            _ => return None,
        }
    }
    Some(())
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// `ExportTraceServiceResponse.partial_success` { `rejected_spans` = 1, `error_message` = 2 }.
/// A 2xx body that is not such a message (a proxy's page, an empty body) is a full success:
/// the server took the request, and nothing says otherwise.
pub(crate) fn partial_success(body: &[u8]) -> (u64, Option<String>) {
    let mut out = (0, None);
    let _ = fields(body, |field, v| {
        if let (1, Field::Bytes(ps)) = (field, v) {
            let mut rejected = 0;
            let mut message = None;
            let parsed = fields(ps, |f, v| match (f, v) {
                (1, Field::Varint(n)) => rejected = n as i64,
                (2, Field::Bytes(m)) => message = Some(String::from_utf8_lossy(m).into_owned()),
                _ => {}
            });
            if parsed.is_some() {
                out = (rejected.max(0) as u64, message.filter(|m| !m.is_empty()));
            }
        }
    });
    out
}

/// `google.rpc.Status.message` (field 2) of an error body, if it is one.
fn rpc_status_message(body: &[u8]) -> Option<String> {
    let mut message = None;
    fields(body, |field, v| {
        if let (2, Field::Bytes(m)) = (field, v) {
            message = std::str::from_utf8(m).ok().map(str::to_owned);
        }
    })?;
    message.filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests;
