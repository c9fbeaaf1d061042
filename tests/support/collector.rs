//! A collector stand-in on loopback whose behaviour a test can switch at any moment: accept,
//! fail, answer slowly, hang past the client's timeout, close the connection without
//! answering, and, for OTLP, refuse with 400, throttle with 429 and `Retry-After`, answer 503,
//! answer 200 with a body that is not protobuf, or report a partial success.
//!
//! [`Collector::start`] speaks Jaeger's Thrift/HTTP (`POST /api/traces`, bodies decoded with
//! `decode_batch`); [`Collector::start_otlp`] speaks OTLP/HTTP (`POST /v1/traces`, bodies
//! decoded with `decode_otlp`, gzip inflated). Every body is decoded and its spans counted,
//! so tests compare the layer's counters with what actually arrived.
//!
//! The server never panics on what a client sends: a request it cannot parse or decode is
//! answered 400 (or the connection closed) and counted in [`Collector::protocol_errors`].

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How the collector answers the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Accepted: 202 (Thrift, as Jaeger's collector answers) or 200 with an empty
    /// `ExportTraceServiceResponse` (OTLP).
    Accept,
    /// 500 Internal Server Error (not retried by OTLP clients).
    Fail,
    /// Accepted after a delay shorter than the client's timeout.
    Slow,
    /// No answer for longer than the client's timeout, then the connection is closed.
    Hang,
    /// Reads the request, then closes the connection without answering.
    Close,
    /// 400 Bad Request with a `google.rpc.Status` body (not retryable).
    BadRequest,
    /// 429 Too Many Requests with `Retry-After: <seconds>` (retryable).
    TooMany(u32),
    /// 503 Service Unavailable without `Retry-After` (retryable).
    Unavailable,
    /// 200 with a body that is not protobuf (a proxy's page).
    Garbage,
    /// 200 with `partial_success { rejected_spans: n, error_message }`.
    Partial(u64),
}

/// The modes of the Thrift collector tests.
pub const MODES: [Mode; 5] = [Mode::Accept, Mode::Fail, Mode::Slow, Mode::Hang, Mode::Close];

/// The modes an OTLP endpoint can be in.
pub const OTLP_MODES: [Mode; 10] = [
    Mode::Accept,
    Mode::Fail,
    Mode::Slow,
    Mode::Hang,
    Mode::Close,
    Mode::BadRequest,
    Mode::TooMany(0),
    Mode::Unavailable,
    Mode::Garbage,
    Mode::Partial(3),
];

/// The delays of `Slow` and `Hang`: tests set the client's timeout between the two.
pub const SLOW: Duration = Duration::from_millis(20);
pub const HANG: Duration = Duration::from_millis(400);

/// The `error_message` of a `Partial` answer.
pub const PARTIAL_MESSAGE: &str = "some spans were rejected";

/// A request that has not arrived in full after this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Thrift,
    Otlp,
}

/// The mode, and modes scripted for the next requests before it applies again.
struct Script {
    mode: Mode,
    first: VecDeque<Mode>,
}

struct State {
    protocol: Protocol,
    script: Mutex<Script>,
    /// Requests read in full (answered or not), with a condition variable for waiters.
    requests: Mutex<u64>,
    request_seen: Condvar,
    received_spans: AtomicU64,
    accepted_spans: AtomicU64,
    protocol_errors: AtomicU64,
    stop: AtomicBool,
}

pub struct Collector {
    addr: std::net::SocketAddr,
    state: Arc<State>,
}

/// A poisoned lock (a panicking test thread) must not cascade into the server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Collector {
    /// A Jaeger Thrift/HTTP collector (`POST /api/traces`).
    pub fn start(mode: Mode) -> Collector {
        Self::spawn(mode, Protocol::Thrift)
    }

    /// An OTLP/HTTP trace endpoint (`POST /v1/traces`).
    pub fn start_otlp(mode: Mode) -> Collector {
        Self::spawn(mode, Protocol::Otlp)
    }

    fn spawn(mode: Mode, protocol: Protocol) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind collector");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            protocol,
            script: Mutex::new(Script { mode, first: VecDeque::new() }),
            requests: Mutex::new(0),
            request_seen: Condvar::new(),
            received_spans: AtomicU64::new(0),
            accepted_spans: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                thread::spawn(move || serve(conn, &s));
            }
        });
        Collector { addr, state }
    }

    /// The Thrift collector's full URL, for `collector_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/api/traces", self.addr)
    }

    /// The OTLP base URL, for `otlp_endpoint` (the layer appends `/v1/traces`).
    pub fn otlp_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every later request in `mode` (and forgets modes scripted with `then`).
    pub fn set(&self, mode: Mode) {
        let mut script = lock(&self.state.script);
        script.mode = mode;
        script.first.clear();
    }

    /// Answers the next `k` requests in `first`, then the later ones in `after`.
    pub fn script(&self, first: Mode, k: usize, after: Mode) {
        let mut script = lock(&self.state.script);
        script.mode = after;
        script.first = std::iter::repeat_n(first, k).collect();
    }

    /// Spans the collector took: in bodies it answered with a success, minus those a partial
    /// success said it rejected.
    pub fn accepted_spans(&self) -> u64 {
        self.state.accepted_spans.load(SeqCst)
    }

    /// Spans in every body it read, whatever it answered.
    pub fn received_spans(&self) -> u64 {
        self.state.received_spans.load(SeqCst)
    }

    /// Requests read in full.
    pub fn requests(&self) -> u64 {
        *lock(&self.state.requests)
    }

    /// Requests with a wrong method, path or content type, or a body that does not decode.
    pub fn protocol_errors(&self) -> u64 {
        self.state.protocol_errors.load(SeqCst)
    }

    /// Waits (at most `timeout`) until `n` requests were read in full; returns the count.
    pub fn wait_requests(&self, n: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut seen = lock(&self.state.requests);
        while *seen < n {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            seen = self.state.request_seen.wait_timeout(seen, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        *seen
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.state.stop.store(true, SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

fn next_mode(s: &State) -> Mode {
    let mut script = lock(&s.script);
    let mode = script.mode;
    script.first.pop_front().unwrap_or(mode)
}

/// One HTTP request as the small test servers read it.
pub struct Request {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub gzip: bool,
    pub body: Vec<u8>,
}

/// Reads one request with a `content-length` body; `None` at the end of the connection or
/// on anything this small server does not understand.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let (mut length, mut content_type, mut gzip) = (0usize, String::new(), false);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = value.to_ascii_lowercase();
        } else if name.eq_ignore_ascii_case("content-encoding") {
            gzip = value.eq_ignore_ascii_case("gzip");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return None; // not needed by the clients under test
        }
    }
    let mut body = vec![0; length.min(64 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, content_type, gzip, body })
}

/// The spans in a request, or `None` if it is not what the protocol expects.
fn decode(protocol: Protocol, r: &Request) -> Option<u64> {
    match protocol {
        Protocol::Thrift => {
            let batch = jaeger_layer::receiver::decode_batch(&r.body).ok()?;
            (r.method == "POST" && r.path == "/api/traces").then_some(batch.spans.len() as u64)
        }
        Protocol::Otlp => {
            if r.method != "POST" || r.path != "/v1/traces" || r.content_type != "application/x-protobuf" {
                return None;
            }
            let inflated;
            let body = if r.gzip {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).ok()?;
                inflated = out;
                &inflated[..]
            } else {
                &r.body[..]
            };
            let batches = jaeger_layer::receiver::decode_otlp(body).ok()?;
            Some(batches.iter().map(|b| b.spans.len() as u64).sum())
        }
    }
}

/// Appends `v` as a protobuf varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `ExportTraceServiceResponse { partial_success (1) { rejected_spans (1): n,
/// error_message (2): PARTIAL_MESSAGE } }`, encoded by hand.
pub fn partial_success_body(rejected: u64) -> Vec<u8> {
    let mut inner = vec![0x08];
    varint(&mut inner, rejected);
    inner.push(0x12);
    varint(&mut inner, PARTIAL_MESSAGE.len() as u64);
    inner.extend_from_slice(PARTIAL_MESSAGE.as_bytes());
    let mut out = vec![0x0a];
    varint(&mut out, inner.len() as u64);
    out.extend(inner);
    out
}

/// `google.rpc.Status { message (2): m }`.
fn rpc_status(m: &str) -> Vec<u8> {
    let mut out = vec![0x12];
    varint(&mut out, m.len() as u64);
    out.extend_from_slice(m.as_bytes());
    out
}

fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out =
        format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n{headers}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

fn serve(conn: TcpStream, s: &State) {
    let _ = conn.set_read_timeout(Some(READ_TIMEOUT));
    let Ok(read_half) = conn.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut conn = conn;
    while let Some(request) = read_request(&mut reader) {
        let spans = decode(s.protocol, &request);
        let mode = next_mode(s);
        {
            let mut seen = lock(&s.requests);
            *seen += 1;
            s.request_seen.notify_all();
        }
        let Some(spans) = spans else {
            s.protocol_errors.fetch_add(1, SeqCst);
            let answer = response("400 Bad Request", "", &rpc_status("undecodable request"));
            if conn.write_all(&answer).is_err() {
                return;
            }
            continue;
        };
        s.received_spans.fetch_add(spans, SeqCst);
        let ok = match s.protocol {
            Protocol::Thrift => response("202 Accepted", "", b""),
            Protocol::Otlp => response("200 OK", "content-type: application/x-protobuf\r\n", b""),
        };
        let (answer, accepted) = match mode {
            Mode::Accept => (ok, spans),
            Mode::Slow => {
                thread::sleep(SLOW);
                (ok, spans)
            }
            Mode::Hang => {
                thread::sleep(HANG);
                let _ = conn.shutdown(Shutdown::Both);
                return;
            }
            Mode::Close => {
                let _ = conn.shutdown(Shutdown::Both);
                return;
            }
            Mode::Fail => (response("500 Internal Server Error", "", b"fail"), 0),
            Mode::BadRequest => (response("400 Bad Request", "", &rpc_status("bad request")), 0),
            Mode::TooMany(secs) => {
                (response("429 Too Many Requests", &format!("retry-after: {secs}\r\n"), b""), 0)
            }
            Mode::Unavailable => (response("503 Service Unavailable", "", b""), 0),
            Mode::Garbage => {
                (response("200 OK", "content-type: text/html\r\n", b"<html>not protobuf</html>"), spans)
            }
            Mode::Partial(n) => (
                response("200 OK", "content-type: application/x-protobuf\r\n", &partial_success_body(n)),
                spans - n.min(spans),
            ),
        };
        // Counted before the answer is written: when the client has its answer, the count
        // already includes it.
        s.accepted_spans.fetch_add(accepted, SeqCst);
        if conn.write_all(&answer).is_err() {
            return;
        }
    }
}
