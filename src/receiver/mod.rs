//! A stand-in for the Jaeger agent: decodes `Agent.emitBatch` datagrams (compact or binary)
//! and collector HTTP bodies, and a UDP [`Receiver`] that collects what it receives; and a
//! stand-in for an OTLP/HTTP collector: [`decode_otlp`] and an [`OtlpReceiver`] that
//! collects the same [`ReceivedSpan`]s, translated as Jaeger shows OTLP spans.
//!
//! Meant for tests (yours and ours), examples and local viewing, not for production
//! ingestion. Decoding never panics on bad input: it returns a [`DecodeError`], and the
//! receiver counts undecodable datagrams in [`Receiver::decode_errors`].
//!
//! # Example: a test that checks what was sent
//!
//! ```
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use jaeger_layer::receiver::Receiver;
//! use jaeger_layer::TagValue;
//!
//! let receiver = Receiver::bind("127.0.0.1:0")?;
//!
//! // In a real test the layer sends here (its agent endpoint set to
//! // `receiver.local_addr()`); this datagram is an emitBatch with one span "op" of
//! // service "svc", as Apache Thrift's compact protocol encodes it.
//! let datagram = [
//!     0x82, 0x21, 0x01, 0x09, b'e', b'm', b'i', b't', b'B', b'a', b't', b'c', b'h',
//!     0x1c, 0x1c, 0x18, 0x03, b's', b'v', b'c', 0x19, 0x0c, 0x00,
//!     0x19, 0x1c, 0x16, 0x02, 0x16, 0x00, 0x16, 0x04, 0x16, 0x00, 0x18, 0x02, b'o', b'p',
//!     0x19, 0x0c, 0x15, 0x02, 0x16, 0x80, 0x89, 0x7a, 0x16, 0x0a,
//!     0x19, 0x1c, 0x18, 0x01, b'k', 0x15, 0x06, 0x46, 0x54, 0x00, // tag k = 42 (LONG)
//!     0x19, 0x0c, 0x00,
//!     0x16, 0x02, 0x1c, 0x16, 0x00, 0x16, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00,
//! ];
//! UdpSocket::bind("127.0.0.1:0")?.send_to(&datagram, receiver.local_addr())?;
//!
//! let spans = receiver.wait_for_spans(1, Duration::from_secs(5));
//! assert_eq!(spans.len(), 1);
//! assert_eq!(spans[0].operation_name, "op");
//! assert_eq!(spans[0].service_name, "svc");
//! assert_eq!(spans[0].span_id, 2);
//! assert_eq!(spans[0].tag("k"), Some(&TagValue::Long(42)));
//! assert_eq!(receiver.batches()[0].seq_no, Some(1));
//! assert_eq!(receiver.decode_errors(), 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::span::data::{Log, SpanRef, Tag, TagValue};
use crate::span::id::TraceId;
mod decode;
pub(crate) mod otlp;
pub mod render;
mod store;

pub use otlp::server::OtlpReceiver;

/// Large enough for any UDP datagram (IPv4 payloads stop at 65,507 bytes, IPv6 jumbograms
/// aside), so a datagram is never truncated into a decode error.
const RECV_BUFFER: usize = 65_536;

/// How often the receiver thread checks whether it should stop, if no wake-up arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Decodes one `Agent.emitBatch` datagram, compact (agent port 6831) or binary (port 6832).
///
/// The protocol is detected from the first byte: `0x82` is compact, `0x80 0x01` strict
/// binary (Apache Thrift's `doc/specs/thrift-compact-protocol.md` and `thrift-binary-protocol.md`).
/// Strings that are not UTF-8 are decoded lossily.
///
/// # Errors
///
/// When the bytes are not a complete, well-formed `emitBatch` message (also when bytes
/// follow the message).
pub fn decode_datagram(bytes: &[u8]) -> Result<ReceivedBatch, DecodeError> {
    decode::decode_datagram(bytes)
}

/// Decodes a bare `Batch` struct in the binary protocol: the body of an HTTP POST to the
/// collector's `/api/traces`. Such a batch has no message seqid, and usually no seqNo or
/// stats.
///
/// # Errors
///
/// When the bytes are not a complete, well-formed binary `Batch`.
pub fn decode_batch(bytes: &[u8]) -> Result<ReceivedBatch, DecodeError> {
    decode::decode_batch(bytes)
}

/// Decodes the body of an OTLP/HTTP trace export (`POST /v1/traces`): a binary protobuf
/// `ExportTraceServiceRequest` (opentelemetry-proto `collector/trace/v1/trace_service.proto`),
/// into one batch per `ResourceSpans`, translated as Jaeger translates OTLP for its UI
/// (opentelemetry-collector-contrib `pkg/translator/jaeger/traces_to_jaegerproto.go`):
///
/// - resource `service.name` becomes the service name, the other resource attributes
///   process tags (a resource without attributes is named `OTLPResourceNoServiceName`);
/// - span tags are `otel.scope.name`/`otel.scope.version` first, then the attributes
///   (typed; arrays and maps as a JSON string), then `span.kind` (also `internal`),
///   `otel.status_code` (`OK`/`ERROR`), `error=true` (ERROR), `otel.status_description`
///   and `w3c.tracestate`;
/// - the parent is `parent_id` and the first reference (CHILD_OF); links are FOLLOWS_FROM
///   references, CHILD_OF with the link attribute `opentracing.ref_type=child_of`;
/// - events are logs whose field `event` is the event name;
/// - flags bit 0 (sampled) is the sampled flag; times are in microseconds.
///
/// The batches have no `seq_no`, `stats` or `message_seqid`.
///
/// # Errors
///
/// When the bytes are not a protobuf `ExportTraceServiceRequest`, or an id has the wrong
/// length (trace ids 16 bytes, span ids 8) or is all zeros.
pub fn decode_otlp(body: &[u8]) -> Result<Vec<ReceivedBatch>, DecodeError> {
    otlp::translate::decode_otlp(body)
}

/// The OTLP receiver's body limit, for `testing`.
#[cfg(feature = "testing")]
pub(crate) fn otlp_max_body() -> usize {
    otlp::server::MAX_BODY
}

/// Why bytes could not be decoded as a Jaeger batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    pub(crate) fn new(message: String) -> DecodeError {
        DecodeError { message }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode Jaeger batch: {}", self.message)
    }
}

impl std::error::Error for DecodeError {}

/// A decoded `Batch`: the process, its spans, and what the envelope carried.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReceivedBatch {
    /// The reporting process.
    pub process: ReceivedProcess,
    /// The spans, in the order they were encoded.
    pub spans: Vec<ReceivedSpan>,
    /// `Batch.seqNo`, if present (agent batches number them from 1).
    pub seq_no: Option<i64>,
    /// `Batch.stats`, if present.
    pub stats: Option<ReceivedClientStats>,
    /// The message seqid of the `emitBatch` envelope; `None` for a bare batch.
    pub message_seqid: Option<i32>,
}

/// A decoded `Process`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReceivedProcess {
    /// The service name.
    pub service_name: String,
    /// The process tags (e.g. `hostname`, `jaeger.version`).
    pub tags: Vec<Tag>,
}

/// A decoded `ClientStats`: the sender's cumulative loss counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedClientStats {
    /// Spans dropped because the sender's queue was full.
    pub full_queue_dropped_spans: i64,
    /// Spans dropped because one alone did not fit in a packet.
    pub too_large_dropped_spans: i64,
    /// Spans lost to transport errors.
    pub failed_to_emit_spans: i64,
}

/// A decoded `Span`, with its process's service name attached.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReceivedSpan {
    /// The trace id (`traceIdHigh`, `traceIdLow`).
    pub trace_id: TraceId,
    /// The span id, as unsigned (the wire carries it bit-cast to i64).
    pub span_id: u64,
    /// The parent span id, 0 for a root span.
    pub parent_id: u64,
    /// The operation name.
    pub operation_name: String,
    /// References (CHILD_OF, FOLLOWS_FROM).
    pub references: Vec<SpanRef>,
    /// The flags: 1 sampled, 2 debug, 8 firehose.
    pub flags: i32,
    /// Start, in microseconds since the Unix epoch.
    pub start_time_us: i64,
    /// Duration in microseconds.
    pub duration_us: i64,
    /// The span's tags, in order.
    pub tags: Vec<Tag>,
    /// The span's logs, in order.
    pub logs: Vec<Log>,
    /// The service name of the batch's process.
    pub service_name: String,
}

impl ReceivedSpan {
    /// The value of the first tag named `key`.
    ///
    /// ```
    /// # use jaeger_layer::receiver::decode_datagram;
    /// # let datagram = [0x82, 0x21, 0x01, 0x09, b'e', b'm', b'i', b't', b'B', b'a', b't', b'c', b'h',
    /// #     0x1c, 0x1c, 0x18, 0x03, b's', b'v', b'c', 0x19, 0x0c, 0x00,
    /// #     0x19, 0x1c, 0x16, 0x02, 0x16, 0x00, 0x16, 0x04, 0x16, 0x00, 0x18, 0x02, b'o', b'p',
    /// #     0x19, 0x0c, 0x15, 0x02, 0x16, 0x80, 0x89, 0x7a, 0x16, 0x0a,
    /// #     0x19, 0x1c, 0x18, 0x01, b'k', 0x15, 0x06, 0x46, 0x54, 0x00,
    /// #     0x19, 0x0c, 0x00, 0x16, 0x02, 0x1c, 0x16, 0x00, 0x16, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00];
    /// use jaeger_layer::TagValue;
    /// let batch = decode_datagram(&datagram).unwrap();
    /// assert_eq!(batch.spans[0].tag("k"), Some(&TagValue::Long(42)));
    /// assert_eq!(batch.spans[0].tag("missing"), None);
    /// ```
    pub fn tag(&self, key: &str) -> Option<&TagValue> {
        self.tags.iter().find(|t| t.key == key).map(|t| &t.value)
    }
}

/// The receive buffer the receiver asks for.
const RECV_BUFFER_BYTES: usize = 4 << 20;

// === impl Arrivals ===

/// A wake-up shared by several receivers (`testing::TestAgent` waits on a Thrift and an
/// OTLP receiver at once): a generation number bumped after each arrival.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Arrivals {
    fn lock(&self) -> MutexGuard<'_, u64> {
        self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by a receiver after it recorded what arrived.
    pub(crate) fn bump(&self) {
        *self.lock() += 1;
        self.changed.notify_all();
    }

    /// The current generation: read it before looking at the receivers, then
    /// [`wait_past`](Self::wait_past) it, and no arrival in between is missed.
    #[cfg(feature = "testing")]
    pub(crate) fn generation(&self) -> u64 {
        *self.lock()
    }

    /// Waits until the generation is past `seen` or `timeout` passed.
    #[cfg(feature = "testing")]
    pub(crate) fn wait_past(&self, seen: u64, timeout: Duration) {
        let guard = self.lock();
        let _ = self.changed.wait_timeout_while(guard, timeout, |g| *g == seen);
    }
}

// === impl Receiver ===

/// What the receiver collected; its `extra` is the size in bytes of every datagram.
type Shared = store::Store<Vec<usize>>;

/// A UDP socket that decodes every datagram it receives on a background thread.
///
/// Dropping the receiver stops its thread. See the [module docs](self) for an example.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Binds a UDP socket (use port 0 for any free port) and starts the receiving thread.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or configured, or the thread cannot be spawned.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Receiver> {
        Receiver::bind_notifying(addr, None)
    }

    /// [`bind`](Self::bind), also bumping `arrivals` after each datagram.
    pub(crate) fn bind_notifying(
        addr: impl ToSocketAddrs,
        arrivals: Option<Arc<Arrivals>>,
    ) -> io::Result<Receiver> {
        let socket = UdpSocket::bind(addr)?;
        // Bursts of small datagrams overflow the default receive buffer (about 200 KiB) before
        // this thread reads them; ask for 4 MiB (the kernel caps it at net.core.rmem_max).
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER_BYTES);
        socket.set_read_timeout(Some(POLL_INTERVAL))?;
        let addr = socket.local_addr()?;
        let shared = Arc::new(Shared::new(arrivals));
        let thread = std::thread::Builder::new().name("jaeger-receiver".into()).spawn({
            let shared = Arc::clone(&shared);
            move || receive_loop(&socket, &shared)
        })?;
        Ok(Receiver { shared, addr, thread: Some(thread) })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until at least `n` spans were received or `timeout` passed, then returns all
    /// spans received so far (which may be fewer than `n` on timeout).
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        self.shared.wait_for_spans(n, timeout)
    }

    /// All spans received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared.spans()
    }

    /// All batches received so far, in arrival order.
    pub fn batches(&self) -> Vec<ReceivedBatch> {
        self.shared.batches()
    }

    /// The size in bytes of every datagram received (decodable or not), in arrival order.
    pub fn datagram_sizes(&self) -> Vec<usize> {
        self.shared.lock().extra.clone()
    }

    /// The number of datagrams that could not be decoded.
    pub fn decode_errors(&self) -> usize {
        self.shared.errors()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop();
        // Wake the thread now rather than at its next read timeout.
        let target = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, a.port())),
            SocketAddr::V6(a) if a.ip().is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, a.port())),
            other => other,
        };
        let local: SocketAddr = match target {
            SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
        };
        if let Ok(s) = UdpSocket::bind(local) {
            let _ = s.send_to(&[], target);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn receive_loop(socket: &UdpSocket, shared: &Shared) {
    let mut buf = vec![0u8; RECV_BUFFER];
    while !shared.stopped() {
        let len = match socket.recv_from(&mut buf) {
            Ok((len, _)) => len,
            // Read timeout (WouldBlock/TimedOut) or a transient error such as an ICMP
            // report: look at the stop flag and carry on.
            Err(_) => continue,
        };
        if shared.stopped() {
            break;
        }
        let decoded = decode::decode_datagram(&buf[..len]);
        shared.arrive(|c| {
            c.extra.push(len);
            match decoded {
                Ok(batch) => c.push(batch),
                Err(_) => c.errors += 1,
            }
        });
    }
}
