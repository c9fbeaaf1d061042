//! HTTP POST to the Jaeger collector's `/api/traces` (jaeger-client-go `transport/http.go`).
//!
//! `https://` needs the `tls` feature (see `agent.rs`).
//!
//! The payload is the batcher's `WireFormat::CollectorBinary` output: a bare binary-protocol
//! `Batch`. Unlike Go, which makes one attempt with a 5 s client timeout, a connection error or
//! a 5xx answer is retried with a bounded exponential backoff; the whole `send`, retries and
//! waits included, never takes longer than the configured timeout, so the exporter thread can
//! block here but never hang. A timeout too large to be a deadline (`Duration::MAX`, anything
//! above [`NO_DEADLINE_ABOVE`]) means no deadline at all.

use std::fmt;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use ureq::http::{HeaderName, HeaderValue};

use super::agent::check_endpoint;
use super::tls::TrustRoots;

use super::Transport;
use crate::error::BuildError;

/// Go's `HTTPTimeout` default (`transport/http.go`); here the budget of one whole `send`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first attempt plus two retries.
const MAX_ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Timeouts above this (about 100 years) set no deadline: `Instant + timeout` could overflow,
/// here or in the HTTP client, which adds the remaining budget to its own clock readings.
const NO_DEADLINE_ABOVE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// The collector answers with an empty body (or a short error text); a bounded read lets the
/// connection be reused without trusting the peer.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// How much of an error body is quoted in the error message.
const MAX_QUOTED_BYTES: usize = 200;
/// The content type the collector decodes with the binary Thrift protocol (jaeger
/// `cmd/collector/app/handler/http_handler.go`).
const CONTENT_TYPE: &str = "application/x-thrift";
/// Headers the transport sets itself and that extra headers may therefore not set.
const RESERVED_HEADERS: [&str; 4] = ["content-type", "content-length", "transfer-encoding", "host"];

// === impl Auth ===

/// Credentials sent to the collector on every request.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Basic base64(user:password)` (Go's `HTTPBasicAuth`).
    Basic { user: String, password: String },
    /// `Authorization: Bearer <token>` (jaeger-client-java's `JAEGER_AUTH_TOKEN`).
    Bearer(String),
}

/// Never prints the password or the token.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { user, .. } => {
                f.debug_struct("Basic").field("user", user).field("password", &"<redacted>").finish()
            }
            Auth::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
        }
    }
}

impl Auth {
    fn header_value(&self) -> Result<HeaderValue, BuildError> {
        let (value, what) = match self {
            Auth::Basic { user, password } => {
                if user.contains(':') {
                    // RFC 7617: the user id cannot contain a colon.
                    return Err(BuildError::invalid(
                        "collector_basic_auth user",
                        format!("{user:?}"),
                        "must not contain ':'",
                    ));
                }
                (format!("Basic {}", base64(format!("{user}:{password}").as_bytes())), "collector_basic_auth")
            }
            Auth::Bearer(token) => (format!("Bearer {token}"), "collector_bearer_token"),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            BuildError::invalid(what, "<redacted>", "must be visible ASCII (no control characters)")
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

// === impl HttpConfig ===

/// Where and how to POST batches to the collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpConfig {
    /// An absolute `http://` URL, typically `http://collector:14268/api/traces`.
    pub(crate) endpoint: String,
    pub(crate) auth: Option<Auth>,
    /// Added to every request (Go's `HTTPHeaders`).
    pub(crate) headers: Vec<(String, String)>,
    /// Bound on one whole `send`, retries included. Defaults to 5 s.
    pub(crate) timeout: Duration,
    /// What `https://` collectors are verified against. Defaults to the webpki roots.
    pub(crate) roots: TrustRoots,
}

impl HttpConfig {
    /// A configuration for `endpoint`, without auth or extra headers, with a 5 s timeout.
    pub(crate) fn new(endpoint: impl Into<String>) -> Self {
        HttpConfig {
            endpoint: endpoint.into(),
            auth: None,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            roots: TrustRoots::default(),
        }
    }
}

// === impl HttpTransport ===

/// POSTs each payload to the collector; see the module docs for retries and timeouts.
pub(crate) struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    /// Authorization and extra headers, checked once.
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    max_attempts: u32,
    first_backoff: Duration,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.url)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed, and whether another may succeed.
struct Failure {
    error: io::Error,
    retry: bool,
}

impl HttpTransport {
    /// Checks the configuration; nothing is sent or resolved yet.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for an endpoint that is not an absolute `http://` URL (or `https://`
    /// with the `tls` feature), a zero
    /// timeout, credentials or extra headers that cannot be sent as header values, or an extra
    /// header the transport sets itself (`Content-Type`, `Content-Length`, `Transfer-Encoding`,
    /// `Host`, and `Authorization` when auth is configured).
    pub(crate) fn new(config: HttpConfig) -> Result<Self, BuildError> {
        check_endpoint(&config.endpoint).map_err(|why| {
            BuildError::invalid("collector_endpoint", format!("{:?}", redact_userinfo(&config.endpoint)), why)
        })?;
        if config.timeout.is_zero() {
            return Err(BuildError::invalid(
                "collector_timeout",
                format!("{:?}", config.timeout),
                "must be positive",
            ));
        }
        let mut headers = Vec::with_capacity(config.headers.len() + 1);
        if let Some(auth) = &config.auth {
            headers.push((ureq::http::header::AUTHORIZATION, auth.header_value()?));
        }
        for (name, value) in &config.headers {
            let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                BuildError::invalid("collector_header", format!("{name:?}"), "not a valid HTTP header name")
            })?;
            let reserved = RESERVED_HEADERS.contains(&parsed.as_str())
                || (config.auth.is_some() && parsed == ureq::http::header::AUTHORIZATION);
            if reserved {
                return Err(BuildError::invalid(
                    "collector_header",
                    format!("{name:?}"),
                    "is set by the transport",
                ));
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                BuildError::invalid(
                    format!("collector_header {name}"),
                    format!("{value:?}"),
                    "not a valid HTTP header value",
                )
            })?;
            headers.push((parsed, value));
        }
        // Statuses are ours to classify (4xx final, 5xx retried); the timeout and the
        // redirect policy are set per attempt.
        let agent = super::agent::agent(None, &config.roots);
        Ok(HttpTransport {
            agent,
            url: config.endpoint,
            headers,
            timeout: config.timeout,
            max_attempts: MAX_ATTEMPTS,
            first_backoff: FIRST_BACKOFF,
        })
    }

    /// One POST, bounded by `budget` (`None`: unbounded) from DNS lookup to the end of the
    /// response body.
    fn attempt(&self, payload: &[u8], budget: Option<Duration>) -> Result<(), Failure> {
        let mut request = super::agent::post(&self.agent, &self.url, budget)
            .header(ureq::http::header::CONTENT_TYPE, CONTENT_TYPE);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut response = request.send(payload).map_err(classify)?;
        let status = response.status();
        // Drained (bounded) so that the connection can be reused, as Go does (`transport/http.go`).
        let body =
            response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec().unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        let quoted = String::from_utf8_lossy(&body[..body.len().min(MAX_QUOTED_BYTES)]).trim().to_owned();
        let mut message = format!("error from collector: {status}");
        if !quoted.is_empty() {
            message.push_str(": ");
            message.push_str(&quoted);
        }
        Err(Failure { error: io::Error::other(message), retry: status.is_server_error() })
    }
}

/// What a request that got no response failed of (see [`super::agent::request_failure`]).
fn classify(error: ureq::Error) -> Failure {
    let (error, retry) = super::agent::request_failure(error, "collector request");
    Failure { error, retry }
}

impl Transport for HttpTransport {
    /// Up to three attempts; waits 100 ms, then 200 ms between them, and only when the wait
    /// still leaves time before the deadline. The error of the last attempt is returned, with
    /// the number of attempts. Without a deadline (see [`NO_DEADLINE_ABOVE`]) every attempt is
    /// unbounded and the waits always fit.
    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let deadline = deadline(Instant::now(), self.timeout);
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let mut backoff = self.first_backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.attempt(payload, left()) {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let no_time = left().is_some_and(|left| backoff >= left);
            if !failure.retry || attempts >= self.max_attempts || no_time {
                let error = failure.error;
                let kind = error.kind();
                let noun = if attempts == 1 { "attempt" } else { "attempts" };
                return Err(io::Error::new(kind, format!("{error} ({attempts} {noun})")));
            }
            thread::sleep(backoff);
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
        }
    }
}

/// `now + timeout`, or `None` (no deadline) for a timeout above [`NO_DEADLINE_ABOVE`] or one
/// the clock cannot represent.
fn deadline(now: Instant, timeout: Duration) -> Option<Instant> {
    if timeout > NO_DEADLINE_ABOVE {
        return None;
    }
    now.checked_add(timeout)
}

/// The URL without anything between `://` and `@` (credentials), for error messages.
pub(crate) fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}<redacted>{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the Basic auth header.
fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests;
