//! The handle the application keeps: flush, stats, and a bounded flush at drop.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Shared;
use crate::error::Error;
use crate::stats::Stats;

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

    /// Sends every span that finished before this call, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::FlushTimeout`] when the exporter did not finish in time (the spans stay queued
    /// and are sent later), [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        if self.disabled {
            return Ok(());
        }
        if self.handle.is_none() {
            return Err(Error::Closed);
        }
        let gen = self.shared.flush_requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.shared.unpark();
        let deadline = Instant::now() + timeout;
        let mut done = self.shared.done.lock().unwrap_or_else(|e| e.into_inner());
        while done.flushed < gen {
            if done.exited {
                return Err(Error::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::FlushTimeout(timeout));
            }
            done =
                self.shared.done_cv.wait_timeout(done, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        Ok(())
    }

    /// The cumulative counters: spans started, sampled, exported, and every kind of loss.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot(&self.shared.queue)
    }

    /// Flushes and stops the exporter thread, waiting at most `timeout`. Spans that finish
    /// afterwards stay in the queue (counted as queued) until it is full, then count as
    /// dropped.
    ///
    /// # Errors
    /// [`Error::FlushTimeout`] when the exporter did not stop in time (it is left to finish
    /// in the background), [`Error::Closed`] if it was already shut down.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), Error> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), Error> {
        if self.disabled {
            return Ok(());
        }
        let Some(handle) = self.handle.take() else { return Err(Error::Closed) };
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.unpark();
        let deadline = Instant::now() + timeout;
        let mut done = self.shared.done.lock().unwrap_or_else(|e| e.into_inner());
        while !done.exited {
            let now = Instant::now();
            if now >= deadline {
                // Detach: the thread finishes (or not) on its own; the program is not held.
                return Err(Error::FlushTimeout(timeout));
            }
            done =
                self.shared.done_cv.wait_timeout(done, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        drop(done);
        let _ = handle.join();
        let s = self.stats();
        let lost = s.spans_dropped_queue_full + s.spans_dropped_too_large + s.spans_failed;
        if lost > 0 {
            eprintln!(
                "jaeger-layer: {lost} of {} finished spans were not exported ({} queue full, {} too large, \
                 {} failed to send)",
                s.spans_finished, s.spans_dropped_queue_full, s.spans_dropped_too_large, s.spans_failed
            );
        }
        Ok(())
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
