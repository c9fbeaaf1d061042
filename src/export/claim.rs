//! The exporter's claim on the spans it took off the queue and has not yet accounted for.
//!
//! Normally only the exporter touches it: `take` when it pops spans, `settle` when it counts
//! them as exported, failed or too large. When a shutdown times out (the exporter is stuck in
//! a request to a collector that hangs) or the exporter dies, the application side calls
//! `abandon`, which counts everything still held as abandoned and marks the claim: from then
//! on `settle` refuses (those spans are counted already) and `take` refuses (the caller
//! counts what it took as abandoned itself). Every span is thus counted exactly once, however
//! the two sides interleave (see the `loom` model in `handshake`).

use std::sync::atomic::Ordering::AcqRel;

use crate::export::sync::AtomicU64;

/// Set once the held spans were abandoned.
const ABANDONED: u64 = 1 << 63;

/// Spans held by the exporter (low bits) and the abandoned mark (top bit).
#[derive(Debug, Default)]
pub(crate) struct Claim {
    held: AtomicU64,
}

impl Claim {
    /// The exporter took `n` spans. `false` once abandoned: the caller counts them.
    pub(crate) fn take(&self, n: u64) -> bool {
        self.held
            .fetch_update(AcqRel, std::sync::atomic::Ordering::Acquire, |h| {
                (h & ABANDONED == 0).then_some(h + n)
            })
            .is_ok()
    }

    /// The exporter accounts for `n` of the spans it holds. `false` once abandoned: they are
    /// counted already, the caller counts nothing.
    pub(crate) fn settle(&self, n: u64) -> bool {
        self.held
            .fetch_update(AcqRel, std::sync::atomic::Ordering::Acquire, |h| {
                (h & ABANDONED == 0).then(|| h.saturating_sub(n))
            })
            .is_ok()
    }

    /// Marks the claim abandoned and returns how many spans were held (0 if it already was).
    pub(crate) fn abandon(&self) -> u64 {
        let h = self.held.fetch_or(ABANDONED, AcqRel);
        if h & ABANDONED != 0 {
            0
        } else {
            h
        }
    }

    /// How many spans are held (tests check the batcher's accounting with it).
    #[cfg(all(test, any(feature = "receiver", feature = "otlp")))]
    pub(crate) fn count(&self) -> u64 {
        self.held.load(std::sync::atomic::Ordering::Acquire) & !ABANDONED
    }

    /// Whether the held spans were abandoned.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.held.load(std::sync::atomic::Ordering::Acquire) & ABANDONED != 0
    }
}
