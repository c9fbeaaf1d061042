//! The remotely controlled sampler: a poller thread fetches the strategy, readers decide with
//! whichever strategy is current (jaeger-client-go `sampler_remote.go`, `RemotelyControlledSampler`).
//!
//! The current strategy is an `ArcSwap<Local>`: `decide` does one lock-free load, and the
//! poller (the only writer) stores a new one. The HTTP request runs only on the poller thread,
//! so a slow agent delays the next strategy, never a decision.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};

use super::per_operation::PerOperationSampler;
use super::probabilistic::Probabilistic;
use super::rate_limiting::{check_rate, LimiterClock, RateLimitingSampler};
use super::strategy::{self, Strategy};
use super::{Local, RemoteSampler};
use crate::error::BuildError;
use crate::export::stats::{incr, Counters};
use crate::transport::TrustRoots;

/// Go's `ResponseHeaderTimeout` for the strategy request (jaeger-client-go `sampler_remote.go`);
/// we apply it to the whole
/// request, and never longer than the refresh interval.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Strategies are a few hundred bytes; a per-operation one with 2000 names stays well below.
const MAX_BODY_BYTES: u64 = 4 << 20;
/// How long `shutdown` waits for the poller to notice; a request in flight is not awaited.
const SHUTDOWN_WAIT: Duration = Duration::from_millis(200);
const THREAD_NAME: &str = "jaeger-sampler";

/// The running remote sampler, owned by the `ActiveSampler`.
pub(super) struct Remote {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the poller thread and the deciding threads share.
struct Shared {
    current: ArcSwap<Local>,
    control: Mutex<Control>,
    /// Signals every change of `control`, in both directions.
    changed: Condvar,
}

#[derive(Default)]
struct Control {
    shutdown: bool,
    poll_requested: bool,
    exited: bool,
}

impl Shared {
    fn control(&self) -> MutexGuard<'_, Control> {
        // The lock only guards flags, which stay consistent even if a holder panicked.
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Remote {
    /// Checks the configuration and spawns the poller, which fetches a first strategy at once.
    pub(super) fn start(
        config: &RemoteSampler,
        initial: Local,
        service_name: &str,
        counters: Arc<Counters>,
        roots: &TrustRoots,
    ) -> Result<Remote, BuildError> {
        if config.refresh_interval.is_zero() {
            return Err(BuildError::invalid(
                "remote sampler refresh interval",
                "0s",
                "must be more than zero",
            ));
        }
        let url = sampling_url(&config.endpoint, service_name)?;
        let timeout = config.http_timeout.unwrap_or(HTTP_TIMEOUT.min(config.refresh_interval));
        let agent = crate::transport::agent::agent(Some(timeout), roots);
        let shared = Arc::new(Shared {
            current: ArcSwap::from_pointee(initial),
            control: Mutex::new(Control::default()),
            changed: Condvar::new(),
        });
        let poller = Poller {
            shared: Arc::clone(&shared),
            agent,
            url,
            refresh_interval: config.refresh_interval,
            max_operations: config.max_operations,
            clock: config.clock.clone().unwrap_or_else(LimiterClock::monotonic),
            counters,
        };
        let handle = thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || poller.run())
            .map_err(BuildError::spawn)?;
        Ok(Remote { shared, thread: Mutex::new(Some(handle)) })
    }

    /// The strategy in force; a lock-free load.
    #[inline]
    pub(super) fn current(&self) -> Guard<Arc<Local>> {
        self.shared.current.load()
    }

    #[cfg(test)]
    pub(super) fn poll_now(&self) {
        self.shared.control().poll_requested = true;
        self.shared.changed.notify_all();
    }

    /// Tells the poller to stop and waits [`SHUTDOWN_WAIT`] at most. A poller stuck in a
    /// request is detached: it exits when the request ends (bounded by the HTTP timeout) and
    /// holds nothing but its share of the strategy.
    pub(super) fn shutdown(&self) {
        let Some(handle) = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return; // already shut down
        };
        let mut control = self.shared.control();
        control.shutdown = true;
        self.shared.changed.notify_all();
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while !control.exited {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            control = self
                .shared
                .changed
                .wait_timeout(control, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let exited = control.exited;
        drop(control);
        if exited {
            // Returns at once; a panic in the poller has already been counted as nothing.
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
impl Remote {
    pub(super) fn poller_exited(&self) -> bool {
        self.shared.control().exited
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").field("current", &**self.shared.current.load()).finish_non_exhaustive()
    }
}

// === impl Poller ===

struct Poller {
    shared: Arc<Shared>,
    agent: ureq::Agent,
    /// The endpoint with `?service=...` appended.
    url: String,
    refresh_interval: Duration,
    max_operations: usize,
    /// For the rate limiters of new strategies.
    clock: LimiterClock,
    counters: Arc<Counters>,
}

/// Marks the poller as exited however it ends, so that `shutdown` never waits in vain.
struct ExitGuard<'a>(&'a Shared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.control().exited = true;
        self.0.changed.notify_all();
    }
}

impl Poller {
    fn run(self) {
        let _exit = ExitGuard(&self.shared);
        // The poller must not report its own activity to the layer it works for.
        let _quiet = crate::export::mute_this_thread();
        // Unlike Go, which waits one interval first, fetch at once (see `RemoteSampler`).
        while !self.shared.control().shutdown {
            self.poll();
            if !self.wait_for_next_poll() {
                break;
            }
        }
    }

    /// Sleeps until the next poll is due or requested; `false` on shutdown.
    fn wait_for_next_poll(&self) -> bool {
        // An absurdly long interval overflows `Instant`: then only a request or shutdown wakes us.
        let deadline = Instant::now().checked_add(self.refresh_interval);
        let mut control = self.shared.control();
        loop {
            if control.shutdown {
                return false;
            }
            if control.poll_requested {
                control.poll_requested = false;
                return true;
            }
            control = match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return true;
                    }
                    let waited = self.shared.changed.wait_timeout(control, deadline - now);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
                None => self.shared.changed.wait(control).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// One fetch-parse-apply round, counted as jaeger-client-go's `UpdateSampler` counts it: a failed fetch
    /// counts only a query error, unparsable JSON only an update error; otherwise a query ok,
    /// then an update ok or error.
    fn poll(&self) {
        let Some(body) = self.fetch() else {
            incr(&self.counters.sampler_queries_err);
            return;
        };
        let Ok(parsed) = strategy::parse(&body) else {
            incr(&self.counters.sampler_updates_err);
            return;
        };
        incr(&self.counters.sampler_queries_ok);
        match parsed.map(|s| self.apply(s)) {
            Some(Ok(())) => incr(&self.counters.sampler_updates_ok),
            // `None`: no strategy we know ("unsupported sampling strategy").
            Some(Err(_)) | None => incr(&self.counters.sampler_updates_err),
        }
    }

    /// The response body, or `None` on a transport error, a timeout or a status >= 400.
    fn fetch(&self) -> Option<Vec<u8>> {
        let mut response = self.agent.get(&self.url).call().ok()?;
        let body = response.body_mut().with_config().limit(MAX_BODY_BYTES).read_to_vec().ok()?;
        (response.status().as_u16() < 400).then_some(body)
    }

    /// Installs a strategy, updating the current sampler in place when it is of the same kind
    /// so that limiter balances carry over (as `sampler_remote.go`'s updaters do). On error
    /// nothing changes.
    fn apply(&self, strategy: Strategy) -> Result<(), BuildError> {
        let current = self.shared.current.load_full();
        let next = match strategy {
            Strategy::PerOperation(s) => {
                check_rate("per-operation lower bound", s.lower_bound)?;
                Local::PerOperation(match &*current {
                    Local::PerOperation(old) => old.updated(&s),
                    _ => PerOperationSampler::new(&s, self.max_operations, self.clock.clone()),
                })
            }
            Strategy::Probabilistic(rate) => {
                // Out of range is an update error, not clamped (Go's probabilistic updater).
                let next = Probabilistic::new(rate)?;
                if matches!(&*current, Local::Probabilistic(old) if *old == next) {
                    return Ok(());
                }
                Local::Probabilistic(next)
            }
            Strategy::RateLimiting(rate) => {
                // Go does not check; a negative rate would drain the bucket, so we refuse it.
                check_rate("rate limiting strategy", rate)?;
                if let Local::RateLimiting(old) = &*current {
                    old.update(rate);
                    return Ok(());
                }
                Local::RateLimiting(RateLimitingSampler::new(rate, self.clock.clone()))
            }
        };
        self.shared.current.store(Arc::new(next));
        Ok(())
    }
}

// === URL ===

/// `<endpoint>?service=<name>`, checking that the endpoint is an absolute `http://` URL
/// (`https://` with the `tls` feature).
fn sampling_url(endpoint: &str, service_name: &str) -> Result<String, BuildError> {
    const WHAT: &str = "remote sampler endpoint";
    crate::transport::check_endpoint(endpoint)
        .map_err(|why| BuildError::invalid(WHAT, crate::transport::redact_userinfo(endpoint), why))?;
    let uri: ureq::http::Uri =
        endpoint.parse().map_err(|e| BuildError::invalid(WHAT, endpoint, format!("{e}")))?;
    let separator = if uri.query().is_some() { '&' } else { '?' };
    Ok(format!("{endpoint}{separator}service={}", query_escape(service_name)))
}

/// Go's `url.QueryEscape`: unreserved bytes as is, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_matches_go() {
        assert_eq!(query_escape("svc"), "svc");
        assert_eq!(query_escape("my svc/ä&x=1+2%"), "my+svc%2F%C3%A4%26x%3D1%2B2%25");
        assert_eq!(query_escape("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(query_escape(""), "");
    }

    #[test]
    fn sampling_url_appends_the_encoded_service_and_refuses_non_http_endpoints() {
        assert_eq!(
            sampling_url("http://127.0.0.1:5778/sampling", "my svc").unwrap(),
            "http://127.0.0.1:5778/sampling?service=my+svc"
        );
        assert_eq!(sampling_url("http://agent:5778/?x=1", "s").unwrap(), "http://agent:5778/?x=1&service=s");
        for bad in ["", "127.0.0.1:5778/sampling", "ftp://agent/", "http://", "not a url", "http://u:p@a/"] {
            let err = sampling_url(bad, "s").unwrap_err();
            assert!(err.kind() == crate::error::BuildErrorKind::InvalidSetting, "{bad}: {err}");
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn an_https_sampling_endpoint_is_accepted_with_the_tls_feature() {
        assert_eq!(
            sampling_url("https://agent:5778/sampling", "s").unwrap(),
            "https://agent:5778/sampling?service=s"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn an_https_sampling_endpoint_without_the_tls_feature_names_the_feature() {
        let err = sampling_url("https://agent:5778/sampling", "s").unwrap_err().to_string();
        assert!(err.contains("https needs the `tls` feature"), "{err}");
    }
}
