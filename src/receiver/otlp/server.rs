//! [`OtlpReceiver`]: an OTLP/HTTP trace endpoint on a background thread, for tests and local
//! viewing. What it accepts and answers follows the OTLP specification
//! (opentelemetry-proto `docs/specification.md`, "OTLP/HTTP"): `POST /v1/traces` with a
//! binary protobuf `ExportTraceServiceRequest`, optionally gzipped; `200` with an empty
//! `ExportTraceServiceResponse`; errors as 4xx with a `google.rpc.Status` body.

use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prost::Message as _;
use tiny_http::{Header, Method, Request, Response, Server};

use super::proto::{ExportTraceServiceResponse, RpcStatus};
use super::translate;
use crate::receiver::store::Store;
use crate::receiver::{Arrivals, ReceivedBatch, ReceivedSpan};

/// The path of the trace signal (`trace_service_http.yaml`).
pub(crate) const TRACES_PATH: &str = "/v1/traces";
/// The largest request body accepted, before and after gunzip: the limit the specification
/// recommends ("OTLP/HTTP Request", size limits, since v1.11.0), 64 MiB.
pub(crate) const MAX_BODY: usize = 64 << 20;
const PROTOBUF: &str = "application/x-protobuf";
/// How often the serving thread checks whether it should stop, if no wake-up arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

// === impl OtlpReceiver ===

/// What the receiver collected; its `extra` is the number of HTTP requests.
type Shared = Store<usize>;

/// An OTLP/HTTP trace receiver: an HTTP server that decodes every export it receives with
/// [`decode_otlp`](crate::receiver::decode_otlp) on a background thread; the OTLP
/// counterpart of [`Receiver`](crate::receiver::Receiver), with the same accessors.
///
/// It answers `POST /v1/traces` with `Content-Type: application/x-protobuf` (and
/// `Content-Encoding` absent, `identity` or `gzip`) with `200` and an empty
/// `ExportTraceServiceResponse`. Anything else gets a `google.rpc.Status` protobuf body and
/// one of: `404` (another path), `405` (another method), `415` (another content type, JSON
/// included, or content encoding), `413` (a body over 64 MiB, before or after gunzip),
/// `400` (a body that does not decode; counted in [`decode_errors`](Self::decode_errors)).
/// Each request is handled on a short-lived thread of its own, so a stalled client holds
/// up no other; dropping the receiver stops its accepting thread at once (a request still
/// being read finishes, or fails, on its own thread).
///
/// ```
/// use std::time::Duration;
/// use jaeger_layer::receiver::OtlpReceiver;
///
/// let receiver = OtlpReceiver::bind("127.0.0.1:0")?;
/// // An exporter posts to `{endpoint}/v1/traces`.
/// let url = format!("{}/v1/traces", receiver.endpoint());
/// assert!(url.starts_with("http://127.0.0.1:"));
///
/// // An ExportTraceServiceRequest with one span "op" of service "svc", as protobuf.
/// let mut span = vec![0x0a, 0x10];
/// span.extend([1; 16]); // trace_id
/// span.extend([0x12, 0x08, 0, 0, 0, 0, 0, 0, 0, 2, 0x2a, 0x02, b'o', b'p']); // span_id 2, name
/// let mut scope_spans = vec![0x12, span.len() as u8];
/// scope_spans.extend(span);
/// let resource = [0x0a, 0x15, 0x0a, 0x0c, b's', b'e', b'r', b'v', b'i', b'c', b'e', b'.', b'n',
///     b'a', b'm', b'e', 0x12, 0x05, 0x0a, 0x03, b's', b'v', b'c'];
/// let mut resource_spans = vec![0x0a, resource.len() as u8];
/// resource_spans.extend(resource);
/// resource_spans.extend([0x12, scope_spans.len() as u8]);
/// resource_spans.extend(scope_spans);
/// let mut body = vec![0x0a, resource_spans.len() as u8];
/// body.extend(resource_spans);
///
/// # fn post(url: &str, body: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
/// #     use std::io::{Read, Write};
/// #     let addr = url.trim_start_matches("http://").split('/').next().unwrap();
/// #     let mut s = std::net::TcpStream::connect(addr)?;
/// #     write!(s, "POST /v1/traces HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n\
/// #         Content-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
/// #     s.write_all(body)?;
/// #     let mut reply = Vec::new();
/// #     s.read_to_end(&mut reply)?;
/// #     assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&reply));
/// #     Ok(())
/// # }
/// post(&url, &body).unwrap(); // any HTTP client
/// let spans = receiver.wait_for_spans(1, Duration::from_secs(5));
/// assert_eq!((spans[0].operation_name.as_str(), spans[0].service_name.as_str()), ("op", "svc"));
/// assert_eq!(spans[0].span_id, 2);
/// assert_eq!((receiver.requests(), receiver.decode_errors()), (1, 0));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Binds a TCP listener (use `127.0.0.1:0` for any free loopback port) and starts the
    /// serving thread.
    ///
    /// # Errors
    ///
    /// When the listener cannot be bound or the thread cannot be spawned.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<OtlpReceiver> {
        OtlpReceiver::bind_with(addr, MAX_BODY, None)
    }

    /// [`bind`](Self::bind) with another body limit, also bumping `arrivals` after each
    /// request.
    pub(crate) fn bind_with(
        addr: impl ToSocketAddrs,
        max_body: usize,
        arrivals: Option<Arc<Arrivals>>,
    ) -> io::Result<OtlpReceiver> {
        let server = Server::http(addr).map_err(|e| match e.downcast::<io::Error>() {
            Ok(e) => *e,
            Err(e) => io::Error::other(e),
        })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("OTLP receiver: not bound to an IP address"))?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared::new(arrivals));
        let thread = std::thread::Builder::new().name("jaeger-otlp-receiver".into()).spawn({
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            move || serve(&server, &shared, max_body)
        })?;
        Ok(OtlpReceiver { shared, server, addr, thread: Some(thread) })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://ADDR:PORT` with no path: what `OTEL_EXPORTER_OTLP_ENDPOINT` is
    /// set to; exporters append `/v1/traces`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
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

    /// All batches received so far (one per `ResourceSpans`), in arrival order.
    pub fn batches(&self) -> Vec<ReceivedBatch> {
        self.shared.batches()
    }

    /// Removes and returns the batches received so far, and their spans from
    /// [`spans`](Self::spans): for a long-running consumer (such as `examples/tail.rs`) that
    /// must not keep every span it was sent. Counters are not reset.
    pub fn take_batches(&self) -> Vec<ReceivedBatch> {
        self.shared.take_batches()
    }

    /// The number of HTTP requests received, whatever the answer.
    pub fn requests(&self) -> usize {
        self.shared.lock().extra
    }

    /// The number of requests whose body could not be decoded (answered `400`).
    pub fn decode_errors(&self) -> usize {
        self.shared.errors()
    }
}

impl std::fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpReceiver")
            .field("addr", &self.addr)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.shared.stop();
        // Wake the thread now rather than at its next poll.
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &Server, shared: &Arc<Shared>, max_body: usize) {
    while !shared.stopped() {
        // `Ok(None)` and `Err` are a timeout, an unblock, or a connection that failed before
        // it made a request.
        if let Ok(Some(request)) = server.recv_timeout(POLL_INTERVAL) {
            // Each request on a thread of its own: a client that stops sending in the middle
            // of a body then blocks only that thread, never this loop or `Drop`.
            let shared_for_thread = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name("jaeger-otlp-request".into())
                .spawn(move || handle(request, &shared_for_thread, max_body));
            if spawned.is_err() {
                // Out of threads: the request is dropped (tiny_http answers 500), and counted.
                shared.lock().extra += 1;
            }
        }
    }
}

/// An error answer: the HTTP status, the `google.rpc.Status` code (googleapis
/// `google/rpc/code.proto`; OTLP clients must not rely on it) and a message.
struct Failure {
    http: u16,
    rpc: i32,
    message: String,
    /// The body was read but is not a protobuf request (or not gzip): a decode error.
    undecodable: bool,
}

fn fail(http: u16, message: impl Into<String>) -> Failure {
    let rpc = match http {
        400 | 415 => 3, // INVALID_ARGUMENT
        404 => 5,       // NOT_FOUND
        413 => 8,       // RESOURCE_EXHAUSTED
        _ => 12,        // UNIMPLEMENTED (405)
    };
    Failure { http, rpc, message: message.into(), undecodable: false }
}

fn handle(mut request: Request, shared: &Shared, max_body: usize) {
    shared.lock().extra += 1;
    let result = accept(&mut request, max_body);
    let (status, body, drain) = match result {
        Ok(batches) => {
            shared.arrive(|c| batches.into_iter().for_each(|batch| c.push(batch)));
            (200, ExportTraceServiceResponse::default().encode_to_vec(), false)
        }
        Err(f) => {
            if f.undecodable {
                shared.arrive(|c| c.errors += 1);
            }
            let body = RpcStatus { code: f.rpc, message: f.message }.encode_to_vec();
            (f.http, body, f.http == 413)
        }
    };
    let mut response = Response::from_data(body)
        .with_status_code(status)
        .with_header(Header::from_bytes("Content-Type", PROTOBUF).expect("a valid header; this is a bug"));
    if status == 405 {
        response.add_header(Header::from_bytes("Allow", "POST").expect("a valid header; this is a bug"));
    }
    if drain {
        // A body over the limit was not read to its end, and tiny_http would read the rest
        // into one buffer of the remaining length when the request is dropped: read it here
        // in small pieces instead (the client sends it before it reads the answer).
        let _ = io::copy(request.as_reader(), &mut io::sink());
        response
            .add_header(Header::from_bytes("Connection", "close").expect("a valid header; this is a bug"));
    }
    let _ = request.respond(response);
}

/// Checks the request and decodes its body.
fn accept(request: &mut Request, max_body: usize) -> Result<Vec<ReceivedBatch>, Failure> {
    let path = request.url().split('?').next().unwrap_or_default();
    if path != TRACES_PATH {
        return Err(fail(404, format!("no such path {path:?}; traces go to POST {TRACES_PATH}")));
    }
    if *request.method() != Method::Post {
        return Err(fail(405, format!("method {} not allowed; use POST", request.method())));
    }
    let header = |name: &'static str| {
        request.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().trim().to_owned())
    };
    let content_type = header("Content-Type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case(PROTOBUF) {
        return Err(fail(
            415,
            format!("unsupported Content-Type {content_type:?}; this receiver reads only {PROTOBUF}"),
        ));
    }
    let gzip = match header("Content-Encoding").as_deref() {
        None | Some("") => false,
        Some(e) if e.eq_ignore_ascii_case("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(e) => return Err(fail(415, format!("unsupported Content-Encoding {e:?}; use gzip or none"))),
    };
    let too_large = || fail(413, format!("request body over {max_body} bytes"));
    if request.body_length().is_some_and(|len| len > max_body) {
        return Err(too_large());
    }
    let body = read_capped(request.as_reader(), max_body)
        .map_err(|e| fail(400, format!("cannot read the request body: {e}")))?
        .ok_or_else(too_large)?;
    let body = if gzip {
        read_capped(&mut flate2::read::GzDecoder::new(&body[..]), max_body)
            .map_err(|e| Failure { undecodable: true, ..fail(400, format!("cannot gunzip the body: {e}")) })?
            .ok_or_else(too_large)?
    } else {
        body
    };
    translate::decode_otlp(&body).map_err(|e| Failure { undecodable: true, ..fail(400, e.to_string()) })
}

/// Reads to the end, `None` if there are more than `max` bytes.
fn read_capped(reader: &mut dyn Read, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    reader.take(max as u64 + 1).read_to_end(&mut out)?;
    Ok((out.len() <= max).then_some(out))
}

#[cfg(test)]
mod tests;
