//! What a receiver collected, shared by its receiving threads and its accessors: the UDP
//! [`Receiver`](super::Receiver) and the [`OtlpReceiver`](super::OtlpReceiver) keep the same
//! record and answer the same questions about it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{Arrivals, ReceivedBatch, ReceivedSpan};

/// Every batch and span received, in arrival order, the number of undecodable arrivals, and
/// what only one kind of receiver records (`extra`).
#[derive(Debug, Default)]
pub(crate) struct Collected<X> {
    batches: Vec<ReceivedBatch>,
    spans: Vec<ReceivedSpan>,
    pub(crate) errors: usize,
    pub(crate) extra: X,
}

impl<X> Collected<X> {
    /// Records a decoded batch, and its spans.
    pub(crate) fn push(&mut self, batch: ReceivedBatch) {
        self.spans.extend(batch.spans.iter().cloned());
        self.batches.push(batch);
    }
}

/// The [`Collected`] record, a condvar for those waiting for spans, the stop flag of the
/// receiving thread, and the [`Arrivals`] also told of each arrival.
#[derive(Debug, Default)]
pub(crate) struct Store<X> {
    collected: Mutex<Collected<X>>,
    arrived: Condvar,
    stop: AtomicBool,
    also_notify: Option<Arc<Arrivals>>,
}

impl<X: Default> Store<X> {
    pub(crate) fn new(also_notify: Option<Arc<Arrivals>>) -> Self {
        Store { also_notify, ..Store::default() }
    }
}

impl<X> Store<X> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Collected<X>> {
        // A poisoned lock only means a panic elsewhere; the data is still a valid record.
        self.collected.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an arrival with `record`, then, with the lock released, wakes the waiters.
    pub(crate) fn arrive(&self, record: impl FnOnce(&mut Collected<X>)) {
        record(&mut self.lock());
        self.arrived.notify_all();
        if let Some(a) = &self.also_notify {
            a.bump();
        }
    }

    /// Asks the receiving thread to stop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Waits until at least `n` spans were received or `timeout` passed, then returns all
    /// spans received so far.
    pub(crate) fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let guard = self.lock();
        let (guard, _) = self
            .arrived
            .wait_timeout_while(guard, timeout, |c| c.spans.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        guard.spans.clone()
    }

    pub(crate) fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.clone()
    }

    pub(crate) fn batches(&self) -> Vec<ReceivedBatch> {
        self.lock().batches.clone()
    }

    /// Removes and returns the batches, and their spans; the counts stay.
    pub(crate) fn take_batches(&self) -> Vec<ReceivedBatch> {
        let mut c = self.lock();
        c.spans.clear();
        std::mem::take(&mut c.batches)
    }

    pub(crate) fn errors(&self) -> usize {
        self.lock().errors
    }
}
