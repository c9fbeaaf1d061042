//! One OTLP request in flight while the exporter encodes the next.
//!
//! An OTLP/HTTP export is a round trip: the exporter would otherwise wait for each answer
//! before it encodes another span. Here the transport runs on a second thread, the sender,
//! which takes one request at a time from a one-request slot; the exporter copies each
//! finished body into the slot and goes on encoding, waiting only when the slot is still
//! full. Requests stay in order and one at a time on the wire, as the OTLP exporters of the
//! OpenTelemetry SDKs send them (opentelemetry-specification `trace/sdk.md`: `Export` is not
//! called concurrently).
//!
//! Accounting: the spans of a handed-over request stay held by the exporter (`Claim`) until
//! the sender settles them by the outcome, so every span is in exactly one counter or still
//! held, at every moment; a flush returns only when the sender is idle. If the sender
//! thread cannot be started, requests are sent on the exporter thread as before; if it dies
//! (a bug), the request it had and every later one are counted as failed, and it is said
//! once on stderr.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use super::batch::{Deliver, Settle};
use super::{Export, OtlpSend};
use crate::export::stats::Counters;

/// The slot between the exporter and the sender.
#[derive(Default)]
struct Slot {
    /// The next request, its body and span count.
    next: Option<(Vec<u8>, u64)>,
    /// The body buffer the sender gave back, reused for the next copy.
    spare: Vec<u8>,
    /// Spans of the request being sent (0 when idle).
    in_flight: u64,
    /// The exporter is gone: the sender ends after what it has.
    stop: bool,
    /// The sender thread ended by a panic.
    dead: bool,
}

struct State {
    slot: Mutex<Slot>,
    changed: Condvar,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A poisoned lock means a panic elsewhere; the slot's fields are still consistent
        // (each change is one assignment), so go on with them.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Slot>) -> MutexGuard<'a, Slot> {
        self.changed.wait(g).unwrap_or_else(|p| p.into_inner())
    }
}

/// How requests reach the transport: through the sender thread, or on the exporter thread
/// when the sender could not be started.
pub(crate) struct Pipeline(Mode);

enum Mode {
    Threaded { state: Arc<State>, said_dead: bool },
    Inline { transport: Box<dyn OtlpSend>, counters: Arc<Counters> },
}

impl Pipeline {
    /// Starts the sender thread with `transport`, or keeps the transport here when the
    /// thread cannot be spawned.
    pub(crate) fn start(transport: Box<dyn OtlpSend>, counters: Arc<Counters>) -> Pipeline {
        let state = Arc::new(State { slot: Mutex::new(Slot::default()), changed: Condvar::new() });
        // The transport moves into the thread; if spawning fails it comes back here.
        let handoff = Arc::new(Mutex::new(Some(transport)));
        let (s, c, h) = (state.clone(), counters.clone(), handoff.clone());
        let spawned = thread::Builder::new().name("jaeger-layer-otlp".into()).spawn(move || {
            let transport = h.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(transport) = transport {
                send_loop(&s, transport, c);
            }
        });
        match spawned {
            Ok(_) => Pipeline(Mode::Threaded { state, said_dead: false }),
            Err(e) => {
                let transport = handoff.lock().unwrap_or_else(|p| p.into_inner()).take();
                eprintln!(
                    "jaeger-layer: could not start the OTLP sender thread ({e}); requests are sent \
                     from the exporter thread, one round trip at a time."
                );
                // A thread that failed to spawn never ran, so the transport is still here.
                let transport = transport.unwrap_or_else(|| Box::new(Gone));
                Pipeline(Mode::Inline { transport, counters })
            }
        }
    }

    /// Waits until every request handed over was settled (the sender is idle).
    pub(crate) fn wait_idle(&mut self) {
        if let Mode::Threaded { state, .. } = &self.0 {
            let mut g = state.lock();
            while (g.next.is_some() || g.in_flight > 0) && !g.dead {
                g = state.wait(g);
            }
        }
    }

    /// A sender thread that is gone is said once; its requests are counted as failed.
    fn dead(said: &mut bool) -> Export {
        if !std::mem::replace(said, true) {
            eprintln!(
                "jaeger-layer: the OTLP sender thread panicked (a bug in jaeger-layer, please \
                 report it); its request and every later one are counted in Stats::spans_failed."
            );
        }
        Export::Failed(std::io::Error::other("the OTLP sender thread is gone"))
    }
}

impl Deliver for Pipeline {
    fn deliver(&mut self, body: &[u8], spans: u64) -> Export {
        match &mut self.0 {
            Mode::Inline { transport, counters } => {
                let give_up = || counters.held.is_abandoned();
                transport.export(body, &give_up)
            }
            Mode::Threaded { state, said_dead, .. } => {
                let mut g = state.lock();
                while g.next.is_some() && !g.dead {
                    g = state.wait(g);
                }
                if g.dead {
                    return Pipeline::dead(said_dead);
                }
                let mut buf = std::mem::take(&mut g.spare);
                buf.clear();
                buf.extend_from_slice(body);
                g.next = Some((buf, spans));
                drop(g);
                state.changed.notify_all();
                Export::Handed
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // The sender finishes what it has (a flush waited for it already, unless a timed-out
        // shutdown gave up, and then the transport stops at once) and ends; nobody waits.
        if let Mode::Threaded { state, .. } = &self.0 {
            state.lock().stop = true;
            state.changed.notify_all();
        }
    }
}

/// A transport that is not there (never the case: see `Pipeline::start`).
struct Gone;

impl OtlpSend for Gone {
    fn export(&mut self, _: &[u8], _: &dyn Fn() -> bool) -> Export {
        Export::Failed(std::io::Error::other("no OTLP transport"))
    }
}

/// Marks the sender dead if it unwinds, and counts the request it had as failed.
struct Exit<'a> {
    state: &'a State,
    counters: &'a Counters,
}

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            let mut g = self.state.lock();
            let n = std::mem::take(&mut g.in_flight);
            g.dead = true;
            drop(g);
            let c = self.counters;
            c.settle(n, &c.spans_failed);
            crate::export::stats::incr(&c.packets_failed);
            self.state.changed.notify_all();
        }
    }
}

fn send_loop(state: &State, mut transport: Box<dyn OtlpSend>, counters: Arc<Counters>) {
    // Anything the transport emits through `tracing` must not come back into the layer.
    let _mute = crate::export::mute_this_thread();
    let _exit = Exit { state, counters: &counters };
    let mut settle = Settle::new(counters.clone());
    loop {
        let (body, n) = {
            let mut g = state.lock();
            loop {
                if let Some((body, n)) = g.next.take() {
                    g.in_flight = n;
                    break (body, n);
                }
                if g.stop {
                    return;
                }
                g = state.wait(g);
            }
        };
        // The slot is free for the next request while this one is sent.
        state.changed.notify_all();
        let give_up = || counters.held.is_abandoned();
        let export = transport.export(&body, &give_up);
        settle.outcome(n, export);
        let mut g = state.lock();
        g.in_flight = 0;
        g.spare = body;
        drop(g);
        state.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    /// A transport that records each body's first byte and, for the bodies listed in
    /// `gate`, waits for a go-ahead; answers as `answer` says.
    struct Fake {
        seen: Arc<Mutex<Vec<u8>>>,
        gate: Option<mpsc::Receiver<()>>,
        answer: fn(u8) -> Export,
    }

    impl OtlpSend for Fake {
        fn export(&mut self, body: &[u8], _: &dyn Fn() -> bool) -> Export {
            if let Some(gate) = &self.gate {
                let _ = gate.recv();
            }
            self.seen.lock().unwrap().push(body[0]);
            (self.answer)(body[0])
        }
    }

    fn accepted(_: u8) -> Export {
        Export::Accepted { rejected: 0, message: None }
    }

    #[test]
    fn requests_are_sent_in_order_and_settled_on_the_sender_thread() {
        let counters = Arc::new(Counters::default());
        counters.held.take(6);
        let seen = Arc::default();
        let (go, gate) = mpsc::channel();
        let fake = Fake { seen: Arc::clone(&seen), gate: Some(gate), answer: accepted };
        let mut p = Pipeline::start(Box::new(fake), counters.clone());
        assert!(matches!(p.0, Mode::Threaded { .. }));
        // The first request is in flight (held at the gate), the second waits in the slot:
        // both were handed over without waiting, their spans still held.
        assert!(matches!(p.deliver(&[1], 2), Export::Handed));
        assert!(matches!(p.deliver(&[2], 3), Export::Handed));
        assert_eq!(counters.held.count(), 6);
        assert_eq!(counters.snapshot().spans_exported, 0);
        for _ in 0..2 {
            go.send(()).unwrap();
        }
        p.wait_idle();
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
        let st = counters.snapshot();
        assert_eq!((st.spans_exported, st.packets_sent), (5, 2));
        assert_eq!(counters.held.count(), 1);
    }

    #[test]
    fn a_sender_that_panics_counts_its_request_and_later_ones_as_failed() {
        let counters = Arc::new(Counters::default());
        counters.held.take(5);
        fn panics(_: u8) -> Export {
            panic!("a bug in the transport");
        }
        let fake = Fake { seen: Arc::default(), gate: None, answer: panics };
        let mut p = Pipeline::start(Box::new(fake), counters.clone());
        assert!(matches!(p.deliver(&[1], 2), Export::Handed));
        p.wait_idle();
        assert_eq!(counters.snapshot().spans_failed, 2);
        // Later requests fail at once, for the batcher to count.
        assert!(matches!(p.deliver(&[2], 3), Export::Failed(_)));
        assert_eq!(counters.held.count(), 3);
    }

    #[test]
    fn dropping_the_pipeline_ends_the_sender() {
        let counters = Arc::new(Counters::default());
        let calls = Arc::new(AtomicUsize::new(0));
        struct Count(Arc<AtomicUsize>);
        impl OtlpSend for Count {
            fn export(&mut self, _: &[u8], _: &dyn Fn() -> bool) -> Export {
                self.0.fetch_add(1, Ordering::Relaxed);
                Export::Accepted { rejected: 0, message: None }
            }
        }
        let p = Pipeline::start(Box::new(Count(calls.clone())), counters);
        let state = match &p.0 {
            Mode::Threaded { state, .. } => state.clone(),
            Mode::Inline { .. } => unreachable!("the sender starts"),
        };
        drop(p);
        // The sender holds the last other reference to the state until it ends.
        while Arc::strong_count(&state) > 1 {
            std::thread::yield_now();
        }
        assert_eq!(calls.load(Ordering::Relaxed), 0);
    }
}
