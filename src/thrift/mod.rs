//! Jaeger's Thrift structs on the wire, written and read by hand through the `thrift` crate's
//! protocol traits (no generated code): [`encode`] for the exporter, `decode` for the
//! receiver.

use std::cell::RefCell;
use std::fmt;
use std::io;

use thrift::protocol::{TBinaryOutputProtocol, TCompactOutputProtocol, TOutputProtocol};

#[cfg(feature = "receiver")]
pub(crate) mod decode;
pub(crate) mod encode;
#[cfg(all(test, feature = "receiver"))]
mod interop_tests;

thread_local! {
    /// Where the protocol's bytes go. `Encoder::append` swaps its target `Vec` in for the
    /// length of one call and swaps it back out, so this is empty between calls.
    static SINK: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The protocol's transport: appends to the thread's [`SINK`].
///
/// A `TCompactOutputProtocol` keeps an internal stack and offers no access to its transport,
/// so we create one protocol per [`Encoder`] and keep it; this writer lets us still choose,
/// per call, which buffer the bytes land in, and splice pre-encoded bytes (the cached
/// process, the spans) between protocol calls. Being a zero-sized handle to a thread-local
/// rather than an `Rc<RefCell<..>>`, it keeps the encoder `Send`: the exporter may build its
/// batcher on one thread and run it on another.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sink;

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        SINK.with(|s| s.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write(buf).map(|_| ())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// Appends raw, already encoded bytes to the current target (inside [`Encoder::append`]).
    pub(crate) fn splice(bytes: &[u8]) {
        SINK.with(|s| s.borrow_mut().extend_from_slice(bytes));
    }
}

/// One long-lived output protocol, compact or strict binary.
pub(crate) struct Encoder {
    proto: Box<dyn TOutputProtocol + Send>,
    compact: bool,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder").field("compact", &self.compact).finish_non_exhaustive()
    }
}

impl Encoder {
    /// A compact (`compact == true`) or strict binary protocol encoder.
    pub(crate) fn new(compact: bool) -> Encoder {
        Encoder { proto: Self::protocol(compact), compact }
    }

    fn protocol(compact: bool) -> Box<dyn TOutputProtocol + Send> {
        if compact {
            Box::new(TCompactOutputProtocol::new(Sink))
        } else {
            // Strict: the message header starts with the version word 0x8001 (facts §1.1).
            Box::new(TBinaryOutputProtocol::new(Sink, true))
        }
    }

    /// Whether this is the compact protocol.
    pub(crate) fn is_compact(&self) -> bool {
        self.compact
    }

    /// Runs `f` with the protocol, appending what it writes (and what it [`Sink::splice`]s)
    /// to `out`.
    ///
    /// Writing to memory cannot fail, but if `f` ever returns an error half-way through a
    /// struct, the protocol's field-id stack is out of step: it is then replaced by a fresh
    /// one, so one bad call cannot corrupt the next.
    pub(crate) fn append(
        &mut self,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut dyn TOutputProtocol) -> encode::EncodeResult,
    ) -> encode::EncodeResult {
        SINK.with(|s| std::mem::swap(&mut *s.borrow_mut(), out));
        let result = f(&mut *self.proto);
        SINK.with(|s| std::mem::swap(&mut *s.borrow_mut(), out));
        if result.is_err() {
            self.proto = Self::protocol(self.compact);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_targets_the_given_buffer_and_leaves_the_sink_empty() {
        let mut enc = Encoder::new(true);
        let mut a = vec![0xaa];
        let mut b = Vec::new();
        enc.append(&mut a, |p| p.write_i32(-1)).unwrap();
        enc.append(&mut b, |p| {
            Sink::splice(&[1, 2]);
            p.write_i64(1)
        })
        .unwrap();
        assert_eq!(a, [0xaa, 0x01]); // zigzag(-1) = 1
        assert_eq!(b, [1, 2, 0x02]);
        SINK.with(|s| assert!(s.borrow().is_empty()));
    }

    #[test]
    fn encoder_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Encoder>();
    }
}
