//! How the application and the exporter thread agree that a flush or a shutdown is done.
//!
//! The application asks (`flush`: a new generation number; `shutdown`: a flag), wakes the
//! exporter and waits on a condition variable; the exporter reads the requests *before* it
//! drains the queue, drains, sends, and only then publishes what it completed. Because a
//! span is pushed before `flush` increments the generation, and the exporter reads the
//! generation before its pops, every span pushed before `flush` was called is taken by that
//! round: `flush` returns only once those spans were sent or counted as lost.
//!
//! The exporter parks only after checking that nothing is pending, and every request unparks
//! it after it was made, so no wake-up is lost (an `unpark` that comes first leaves the token
//! that makes the next `park` return at once). Both properties are checked by the `loom`
//! models below (`RUSTFLAGS="--cfg jaeger_loom" cargo test --lib loom`).

use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

use crate::export::sync::{lock, wait_until, AtomicBool, AtomicU64, Condvar, Mutex};
use std::sync::atomic::Ordering::SeqCst;

#[cfg(not(jaeger_loom))]
use std::thread::{self, Thread};

#[cfg(jaeger_loom)]
use loom::thread::{self, Thread};

/// The two sides of the flush and shutdown requests.
#[derive(Debug, Default)]
pub(crate) struct Handshake {
    /// Generation of the latest flush request.
    flush_requested: AtomicU64,
    shutdown: AtomicBool,
    progress: Mutex<Progress>,
    cv: Condvar,
    /// The exporter thread, for `unpark`.
    worker: OnceCell<Thread>,
}

/// What the exporter has completed.
#[derive(Debug, Default)]
struct Progress {
    flushed: u64,
    exited: bool,
}

/// How a wait for the exporter ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// What was asked for is done.
    Done,
    /// The exporter thread is gone (shut down, or it died) and will never do it.
    Closed,
    /// The deadline passed first.
    TimedOut,
}

/// The requests the exporter read at the start of a round.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Requests {
    pub(crate) flush: u64,
    pub(crate) stop: bool,
}

impl Handshake {
    /// Records the exporter thread (once, right after it is spawned).
    pub(crate) fn set_worker(&self, t: Thread) {
        let _ = self.worker.set(t);
    }

    /// Wakes the exporter (a futex syscall: callers avoid it on the hot path).
    pub(crate) fn unpark(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    // === the application's side ===

    /// Asks for a flush and waits until the exporter has sent (or counted) every span pushed
    /// before this call; `deadline` `None` waits as long as it takes.
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> Waited {
        let gen = self.flush_requested.fetch_add(1, SeqCst) + 1;
        self.unpark();
        self.wait(deadline, |p| p.flushed >= gen)
    }

    /// Asks the exporter to send what it has and stop, and waits until it has.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) -> Waited {
        self.request_shutdown();
        self.wait(deadline, |p| p.exited)
    }

    /// Asks the exporter to send what it has and stop, without waiting.
    fn request_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.unpark();
    }
    // A model of a flush racing a shutdown from another thread is not possible with loom 0.7:
    // an `unpark` that reaches the exporter while it waits for the `progress` lock wakes that
    // wait too (tokio-rs/loom#422), and loom then fails on its own assertion. The real
    // `Condvar` does not share the park token; the property tests in `tests/accounting.rs`
    // flush and shut down while real threads produce and read.

    fn wait(&self, deadline: Option<Instant>, done: impl Fn(&Progress) -> bool) -> Waited {
        let mut p = lock(&self.progress);
        loop {
            if done(&p) {
                return Waited::Done;
            }
            if p.exited {
                return Waited::Closed;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Waited::TimedOut;
            }
            p = wait_until(&self.cv, p, deadline);
        }
    }

    // === the exporter's side ===

    /// Whether a flush newer than `flushed` or a shutdown was asked for.
    pub(crate) fn pending(&self, flushed: u64) -> bool {
        self.flush_requested.load(SeqCst) != flushed || self.shutdown.load(SeqCst)
    }

    /// Reads the requests; called before draining, so the round covers every span pushed
    /// before them.
    pub(crate) fn requests(&self) -> Requests {
        Requests { flush: self.flush_requested.load(SeqCst), stop: self.shutdown.load(SeqCst) }
    }

    /// Sleeps until unparked or, outside the models, for at most `timeout`.
    pub(crate) fn park(&self, timeout: Duration) {
        #[cfg(not(jaeger_loom))]
        thread::park_timeout(timeout);
        #[cfg(jaeger_loom)]
        {
            let _ = timeout; // a model must not rely on a timer to make progress
            thread::park();
        }
    }

    /// Publishes that every span pushed before flush request `gen` was sent or counted.
    pub(crate) fn flushed(&self, gen: u64) {
        let mut p = lock(&self.progress);
        p.flushed = p.flushed.max(gen);
        self.cv.notify_all();
    }

    /// Publishes that the exporter is gone: waiters return `Done` (shutdown) or `Closed`.
    pub(crate) fn exited(&self) {
        let mut p = lock(&self.progress);
        p.exited = true;
        self.cv.notify_all();
    }

    /// Whether the exporter is gone.
    pub(crate) fn has_exited(&self) -> bool {
        lock(&self.progress).exited
    }
}

#[cfg(all(test, jaeger_loom))]
mod loom_tests {
    //! The exporter's loop reduced to its synchronisation: a queue, the handshake, and a
    //! worker that drains, "sends" (counts) and publishes exactly as `worker::run` does.
    use std::collections::VecDeque;
    use std::sync::atomic::Ordering::SeqCst;

    use loom::sync::atomic::AtomicU64;
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    use super::*;
    use crate::export::claim::Claim;

    struct Model {
        hs: Handshake,
        queue: Mutex<VecDeque<u32>>,
        sent: AtomicU64,
    }

    impl Model {
        fn new() -> Arc<Self> {
            Arc::new(Model {
                hs: Handshake::default(),
                queue: Mutex::new(VecDeque::new()),
                sent: AtomicU64::new(0),
            })
        }

        /// A producer's push: enqueue, then wake the worker (its wake threshold is 1 here).
        fn push(&self, v: u32) {
            self.queue.lock().unwrap().push_back(v);
            self.hs.unpark();
        }
    }

    /// `worker::run`'s order: park unless something is pending, read the requests, drain,
    /// send, publish the flush, exit on shutdown.
    fn worker(m: &Model) {
        let mut flushed = 0;
        loop {
            if !m.hs.pending(flushed) && m.queue.lock().unwrap().is_empty() {
                m.hs.park(Duration::from_secs(1));
            }
            let req = m.hs.requests();
            while let Some(_span) = m.queue.lock().unwrap().pop_front() {
                m.sent.fetch_add(1, SeqCst);
            }
            if req.flush != flushed {
                flushed = req.flush;
                m.hs.flushed(req.flush);
            }
            if req.stop {
                m.hs.exited();
                return;
            }
        }
    }

    /// As `worker::spawn` does: the handle is recorded before anyone can push or flush.
    fn spawn_worker(m: &Arc<Model>) -> thread::JoinHandle<()> {
        let w = {
            let m = m.clone();
            thread::spawn(move || worker(&m))
        };
        m.hs.set_worker(w.thread().clone());
        w
    }

    #[test]
    fn loom_flush_returns_after_every_span_pushed_before_it_was_sent() {
        loom::model(|| {
            let m = Model::new();
            let w = spawn_worker(&m);
            m.push(1);
            assert_eq!(m.hs.flush(None), Waited::Done);
            assert_eq!(m.sent.load(SeqCst), 1, "flush returned before the span was sent");
            assert_eq!(m.hs.shutdown(None), Waited::Done);
            w.join().unwrap();
        });
    }

    #[test]
    fn loom_shutdown_never_loses_its_wake_up_and_sends_everything() {
        loom::model(|| {
            let m = Model::new();
            let w = spawn_worker(&m);
            let p = {
                let m = m.clone();
                thread::spawn(move || m.push(1))
            };
            p.join().unwrap();
            m.push(2);
            // A lost wake-up would leave the worker parked forever: loom reports a deadlock.
            assert_eq!(m.hs.shutdown(None), Waited::Done);
            w.join().unwrap();
            assert_eq!(m.sent.load(SeqCst), 2);
            assert_eq!(m.hs.flush(None), Waited::Closed, "a flush after the exit is refused");
        });
    }

    #[test]
    fn loom_abandoned_spans_are_counted_exactly_once() {
        // The exporter holds two spans in a request while a timed-out shutdown abandons
        // what it holds: each span ends in exactly one of `exported` and `abandoned`.
        loom::model(|| {
            let claim = Arc::new(Claim::default());
            let exported = Arc::new(AtomicU64::new(0));
            let abandoned = Arc::new(AtomicU64::new(0));
            let e = {
                let (claim, exported, abandoned) = (claim.clone(), exported.clone(), abandoned.clone());
                thread::spawn(move || {
                    if !claim.take(2) {
                        abandoned.fetch_add(2, SeqCst);
                        return;
                    }
                    if claim.settle(1) {
                        exported.fetch_add(1, SeqCst);
                    }
                    if claim.settle(1) {
                        exported.fetch_add(1, SeqCst);
                    }
                })
            };
            abandoned.fetch_add(claim.abandon(), SeqCst);
            e.join().unwrap();
            assert_eq!(exported.load(SeqCst) + abandoned.load(SeqCst), 2);
        });
    }
}
