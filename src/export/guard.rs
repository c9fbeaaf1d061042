//! The handle the application keeps: flush, stats, and a bounded flush at drop.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::handshake::Waited;
use super::Shared;
use crate::error::{FlushError, ShutdownError};
use crate::export::stats::Stats;

/// How long dropping the guard waits for the final flush.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the exporter thread alive; flushes and stops it when dropped.
///
/// Dropping the guard sends every span that finished before the drop, waiting at most
/// 5 seconds (a dead agent never hangs the program), then stops the exporter thread. Keep it
/// alive for as long as spans should be exported, typically in `main`.
///
/// ```no_run
/// # fn main() -> Result<(), jaeger_layer::Error> {
/// use std::time::Duration;
/// use tracing_subscriber::prelude::*;
///
/// let (layer, guard) = jaeger_layer::JaegerLayer::builder().service_name("checkout").build()?;
/// let _subscriber = tracing_subscriber::registry().with(layer).set_default();
/// tracing::info_span!("work").in_scope(|| {});
/// guard.flush(Duration::from_secs(1))?;
/// println!("{:?}", guard.stats());
/// # Ok(())
/// # }
/// ```
#[must_use = "dropping the guard stops the exporter: keep it alive for as long as you trace"]
pub struct ExporterGuard {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
    /// Built with `enabled(false)`: there is no exporter, and nothing to flush.
    disabled: bool,
}

impl ExporterGuard {
    pub(crate) fn new(shared: Arc<Shared>, handle: JoinHandle<()>) -> Self {
        ExporterGuard { shared, handle: Some(handle), disabled: false }
    }

    /// The guard of a disabled layer: flushing succeeds at once, there is no thread.
    pub(crate) fn disabled(shared: Arc<Shared>) -> Self {
        ExporterGuard { shared, handle: None, disabled: true }
    }

    /// Sends every span that finished before this call, waiting at most `timeout`
    /// (`Duration::MAX` waits as long as it takes).
    ///
    /// # Errors
    /// [`FlushError::Timeout`] when the exporter did not finish in time (the spans stay queued
    /// and are sent later), [`FlushError::Closed`] after [`shutdown`](Self::shutdown) or if the
    /// exporter thread died.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.disabled {
            return Ok(());
        }
        if self.handle.is_none() {
            return Err(FlushError::Closed);
        }
        match self.shared.hs.flush(deadline(timeout)) {
            Waited::Done => Ok(()),
            Waited::Closed => Err(FlushError::Closed),
            Waited::TimedOut => Err(FlushError::Timeout(timeout)),
        }
    }

    /// The cumulative counters: spans started, sampled, exported, and every kind of loss.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// A handle that reads the same counters as [`stats`](Self::stats), also after the guard
    /// was shut down or dropped (e.g. to log the final figures, or for a metrics endpoint).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle { shared: Arc::clone(&self.shared) }
    }

    /// Flushes and stops the exporter thread, waiting at most `timeout` (`Duration::MAX`
    /// waits as long as it takes). Spans that finish afterwards are dropped and counted in
    /// [`Stats::spans_dropped_closed`].
    ///
    /// If the exporter does not finish in time (say a collector that hangs), the spans it
    /// still holds or has queued are given up, counted in [`Stats::spans_abandoned`] and in
    /// the summary printed on stderr; the thread is left to end on its own and sends nothing
    /// more.
    ///
    /// # Errors
    /// [`ShutdownError::Timeout`] when the exporter did not stop in time, [`ShutdownError::Closed`] if
    /// the exporter thread had died.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.disabled {
            return Ok(());
        }
        let Some(handle) = self.handle.take() else { return Err(ShutdownError::Closed) };
        let result = match self.shared.hs.shutdown(deadline(timeout)) {
            // A thread that died (and was counted) ends the wait too: its join says so.
            Waited::Done => handle.join().map_err(|_| ShutdownError::Closed),
            Waited::Closed => Err(ShutdownError::Closed),
            Waited::TimedOut => {
                // Give up on the exporter: producers stop queueing, and everything it holds
                // or has queued is counted as abandoned, exactly once (see `claim`). The
                // thread is detached; it ends when its current request does.
                self.shared.close();
                self.shared.counters.abandon_held();
                self.shared.discard_queued(&self.shared.counters.spans_abandoned);
                Err(ShutdownError::Timeout(timeout))
            }
        };
        let s = self.stats();
        if s.lost() > 0 || s.spans_queued > 0 {
            eprintln!("jaeger-layer: {}", loss_summary(&s));
        }
        result
    }
}

/// `now + timeout`, or no deadline when that is beyond what `Instant` can represent.
fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The stderr summary at shutdown: every kind of loss, by name.
pub(crate) fn loss_summary(s: &Stats) -> String {
    let mut msg =
        format!("{} of {} finished spans were not exported", s.lost() + s.spans_queued, s.spans_finished);
    let parts = [
        (s.spans_dropped_queue_full, "dropped at a full queue"),
        (s.spans_dropped_too_large, "too large to send"),
        (s.spans_failed, "failed to send"),
        (s.spans_abandoned, "abandoned when the shutdown timed out"),
        (s.spans_dropped_closed, "finished after the exporter stopped"),
        (s.spans_queued, "still queued"),
    ];
    let listed: Vec<String> =
        parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
    msg.push_str(&format!(" ({})", listed.join(", ")));
    msg
}

/// Reads the layer's counters; cloneable, and valid after the guard is gone.
///
/// ```
/// # fn main() -> Result<(), jaeger_layer::Error> {
/// use std::time::Duration;
///
/// let (_layer, guard) = jaeger_layer::JaegerLayer::builder().service_name("svc").build()?;
/// let stats = guard.stats_handle();
/// guard.shutdown(Duration::from_secs(1))?;
/// assert!(stats.stats().is_settled());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct StatsHandle {
    shared: Arc<Shared>,
}

impl StatsHandle {
    /// The counters now (see [`ExporterGuard::stats`]).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}

impl fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsHandle").field("stats", &self.stats()).finish()
    }
}

impl Drop for ExporterGuard {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.stop(DEFAULT_SHUTDOWN_TIMEOUT);
        }
    }
}

impl fmt::Debug for ExporterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterGuard").field("stats", &self.stats()).finish()
    }
}
