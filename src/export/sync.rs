//! The synchronisation the exporter's hand-written protocols use, from `std` or, when built
//! with `RUSTFLAGS="--cfg jaeger_loom"`, from [`loom`](https://docs.rs/loom), so that the model
//! tests in `export::handshake` explore every interleaving of the real code (the approach of
//! `hawkw/thingbuf`'s `src/loom.rs` and `hawkw/sharded-slab`'s `src/sync.rs`).
//!
//! Only the flush/shutdown handshake and the exporter's claim on the spans it holds go
//! through this module; everything else uses `std` directly.

#[cfg(not(jaeger_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(jaeger_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(jaeger_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(jaeger_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

use std::time::Instant;

/// Waits on `cv` until notified or, with a deadline, until it passes (spurious wake-ups are
/// the caller's to handle). A poisoned lock is taken over: the data it guards are counters
/// that stay meaningful.
pub(crate) fn wait_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> MutexGuard<'a, T> {
    match deadline {
        #[cfg(not(jaeger_loom))]
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            cv.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()).0
        }
        // The models never set a deadline: time does not exist in them.
        #[cfg(jaeger_loom)]
        Some(_) => cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
        None => cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
    }
}

/// Locks `m`, taking over a poisoned lock (see [`wait_until`]).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
