//! The one stand-in agent every tool exports to. It runs in the parent process (so a child's
//! peak RSS is the tool's alone) and has three threads: one only receives datagrams into a
//! queue, so that the socket's buffer does not overflow while the machine is busy; one is an
//! OTLP/HTTP endpoint (`POST /v1/traces`) that reads each request body into the same queue
//! and answers `200` with an empty `ExportTraceServiceResponse` at once (exporters wait for
//! that answer); the third decodes what is queued (`jaeger_layer::receiver::decode_datagram`,
//! `decode_otlp` after gunzip if needed) and counts spans, but only while the child waits for
//! the sink (untimed), so that decoding does not take CPU from the timed loops on a 2-core
//! machine.
//!
//! A child asks for counts and waits over its stdin/stdout (see `SinkClient`).

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// Receive buffer asked for with `SO_RCVBUFFORCE` (root only, this socket only), else
/// capped by `net.core.rmem_max`: room for ~500 full datagrams while the receiving thread
/// waits for a core.
const RCVBUF: usize = 32 << 20;

/// The OTLP/HTTP trace path (opentelemetry-proto `opentelemetry/proto/collector/trace/v1/
/// trace_service_http.yaml`).
const TRACES_PATH: &str = "/v1/traces";

/// What the receiving threads queue for the decoder.
enum Payload {
    Datagram(Vec<u8>),
    /// An OTLP/HTTP request body, as sent (`gzip`: `Content-Encoding: gzip`).
    Otlp {
        body: Vec<u8>,
        gzip: bool,
    },
    /// A request the endpoint refused, counted as a decode error.
    Refused(String),
}

#[derive(Default)]
struct Counts {
    /// Datagrams and requests queued for the decoder.
    received: AtomicU64,
    /// Of those, decoded (or refused): `received` once the decoder caught up.
    decoded: AtomicU64,
    datagrams: AtomicU64,
    requests: AtomicU64,
    spans: AtomicU64,
    bytes: AtomicU64,
    decode_errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// A running sink; stops when dropped.
pub struct Sink {
    addr: SocketAddr,
    otlp_addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    gate: Arc<Gate>,
    threads: Vec<JoinHandle<()>>,
}

/// Whether the decoder may run.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn set(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.changed.notify_all();
    }
    fn wait_open(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
    }
}

impl Sink {
    pub fn start() -> std::io::Result<Sink> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        if !force_recv_buffer(&socket, RCVBUF) {
            socket.set_recv_buffer_size(RCVBUF)?;
        }
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(Gate::default());
        let (tx, rx) = mpsc::channel::<Payload>();
        let receiver = {
            let (stop, counts, tx) = (stop.clone(), counts.clone(), tx.clone());
            std::thread::Builder::new()
                .name("sink-recv".into())
                .spawn(move || receive(&socket, &tx, &counts, &stop))?
        };
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let otlp_addr = server.server_addr().to_ip().expect("an IP listener");
        let http = {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::Builder::new()
                .name("sink-http".into())
                .spawn(move || serve_otlp(&server, &tx, &counts, &stop))?
        };
        let decoder = {
            let (counts, gate) = (counts.clone(), gate.clone());
            std::thread::Builder::new()
                .name("sink-decode".into())
                .spawn(move || decode(&rx, &counts, &gate))?
        };
        Ok(Sink { addr, otlp_addr, counts, stop, gate, threads: vec![receiver, http, decoder] })
    }

    /// The UDP agent address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OTLP/HTTP listener; exporters post to `http://{otlp_addr}/v1/traces`.
    pub fn otlp_addr(&self) -> SocketAddr {
        self.otlp_addr
    }

    pub fn spans(&self) -> u64 {
        self.counts.spans.load(Ordering::Relaxed)
    }

    pub fn datagrams(&self) -> u64 {
        self.counts.datagrams.load(Ordering::Relaxed)
    }

    /// OTLP requests decoded (refused ones are decode errors).
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.counts.bytes.load(Ordering::Relaxed)
    }

    pub fn decode_errors(&self) -> u64 {
        self.counts.decode_errors.load(Ordering::Relaxed)
    }

    pub fn first_error(&self) -> Option<String> {
        self.counts.first_error.lock().unwrap().clone()
    }

    /// Datagrams the kernel dropped at this socket (its buffer was full), from the `drops`
    /// column of /proc/net/udp; `None` when it cannot be read.
    pub fn kernel_drops(&self) -> Option<u64> {
        let table = std::fs::read_to_string("/proc/net/udp").ok()?;
        let local = format!("0100007F:{:04X}", self.addr.port());
        table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&local))?
            .split_whitespace()
            .last()?
            .parse()
            .ok()
    }

    /// Waits (bounded) until `expected` spans were counted, or nothing new was decoded for
    /// `idle`, or `max` passed. Returns the count.
    pub fn wait_for(&self, expected: u64, idle: Duration, max: Duration) -> u64 {
        self.gate.set(true);
        let start = Instant::now();
        let progress = || (self.spans(), self.counts.received.load(Ordering::Relaxed));
        let mut last = progress();
        let mut last_change = Instant::now();
        let count = loop {
            let now = progress();
            if now.0 >= expected || start.elapsed() >= max {
                break now.0;
            }
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() >= idle {
                break now.0;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        self.gate.set(false);
        count
    }

    /// Decodes everything received so far, then returns the span count.
    pub fn drain(&self) -> u64 {
        self.gate.set(true);
        while self.counts.decoded.load(Ordering::Relaxed) < self.counts.received.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.gate.set(false);
        self.spans()
    }

    /// Answers a child's requests until it closes its stdout: `S` -> the span count,
    /// `W expected idle_ms max_ms` -> `wait_for`, then the count. Other lines are results,
    /// returned.
    pub fn serve(&self, from_child: impl BufRead, mut to_child: impl Write) -> Vec<String> {
        let mut results = Vec::new();
        for line in from_child.lines() {
            let Ok(line) = line else { break };
            let mut parts = line.split_whitespace();
            let reply = match parts.next() {
                Some("S") => self.drain(),
                Some("W") => {
                    let mut n = || parts.next().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
                    let (expected, idle, max) = (n(), n(), n());
                    self.wait_for(expected, Duration::from_millis(idle), Duration::from_millis(max))
                }
                _ => {
                    results.push(line);
                    continue;
                }
            };
            if writeln!(to_child, "{reply}").and_then(|_| to_child.flush()).is_err() {
                break;
            }
        }
        results
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.gate.set(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `SO_RCVBUFFORCE` ignores `rmem_max` when the process has CAP_NET_ADMIN.
fn force_recv_buffer(socket: &Socket, bytes: usize) -> bool {
    use std::os::fd::AsRawFd;
    let value = bytes as libc::c_int;
    // SAFETY: a valid socket fd and a pointer to a c_int that outlives the call, with its size.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

fn receive(socket: &UdpSocket, tx: &mpsc::Sender<Payload>, counts: &Counts, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        if let Ok(n) = socket.recv(&mut buf) {
            counts.received.fetch_add(1, Ordering::Relaxed);
            if tx.send(Payload::Datagram(buf[..n].to_vec())).is_err() {
                return;
            }
        } // else: read timeout, look at `stop` again
    }
}

/// The OTLP/HTTP endpoint: reads each request's body, queues it, and answers at once,
/// before it is decoded (a `200` with an empty `ExportTraceServiceResponse`, which encodes
/// to no bytes). What is not `POST /v1/traces` gets a `404`/`405` and is counted as a decode
/// error. One request at a time: each exporter has one export in flight.
fn serve_otlp(server: &tiny_http::Server, tx: &mpsc::Sender<Payload>, counts: &Counts, stop: &AtomicBool) {
    let protobuf = tiny_http::Header::from_bytes("Content-Type", "application/x-protobuf").expect("header");
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(50)) else { continue };
        let gzip = request.headers().iter().any(|h| {
            h.field.equiv("Content-Encoding") && h.value.as_str().trim().eq_ignore_ascii_case("gzip")
        });
        let path = request.url().split('?').next().unwrap_or_default().to_owned();
        let (status, payload) = if path != TRACES_PATH {
            (404, Payload::Refused(format!("request to {path:?}")))
        } else if *request.method() != tiny_http::Method::Post {
            (405, Payload::Refused(format!("{} {path}", request.method())))
        } else {
            let mut body = Vec::with_capacity(request.body_length().unwrap_or(0));
            match request.as_reader().read_to_end(&mut body) {
                Ok(_) => (200, Payload::Otlp { body, gzip }),
                Err(e) => (400, Payload::Refused(format!("reading a request body: {e}"))),
            }
        };
        counts.received.fetch_add(1, Ordering::Relaxed);
        if tx.send(payload).is_err() {
            return;
        }
        let response = tiny_http::Response::empty(status).with_header(protobuf.clone());
        let _ = request.respond(response);
    }
}

fn decode(rx: &mpsc::Receiver<Payload>, counts: &Counts, gate: &Gate) {
    let error = |message: String| {
        counts.decode_errors.fetch_add(1, Ordering::Relaxed);
        counts.first_error.lock().unwrap().get_or_insert(message);
    };
    for payload in rx {
        gate.wait_open();
        match payload {
            Payload::Datagram(datagram) => {
                counts.datagrams.fetch_add(1, Ordering::Relaxed);
                counts.bytes.fetch_add(datagram.len() as u64, Ordering::Relaxed);
                match jaeger_layer::receiver::decode_datagram(&datagram) {
                    Ok(batch) => {
                        counts.spans.fetch_add(batch.spans.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => error(e.to_string()),
                }
            }
            Payload::Otlp { body, gzip } => {
                counts.requests.fetch_add(1, Ordering::Relaxed);
                // Bytes as sent (compressed, if it was).
                counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                let mut plain = Vec::new();
                let body = if gzip {
                    match flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain) {
                        Ok(_) => &plain[..],
                        Err(e) => {
                            error(format!("gunzip: {e}"));
                            counts.decoded.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                } else {
                    &body[..]
                };
                match jaeger_layer::receiver::decode_otlp(body) {
                    Ok(batches) => {
                        let n: usize = batches.iter().map(|b| b.spans.len()).sum();
                        counts.spans.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => error(e.to_string()),
                }
            }
            Payload::Refused(message) => error(message),
        }
        counts.decoded.fetch_add(1, Ordering::Relaxed);
    }
}

/// The child's side: the sink's addresses, and requests over stdout/stdin.
pub struct SinkClient {
    addr: SocketAddr,
    otlp_addr: SocketAddr,
    stdin: Mutex<std::io::StdinLock<'static>>,
}

impl SinkClient {
    pub fn new(addr: SocketAddr, otlp_addr: SocketAddr) -> SinkClient {
        SinkClient { addr, otlp_addr, stdin: Mutex::new(std::io::stdin().lock()) }
    }

    /// The UDP agent address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OTLP/HTTP listener (`http://{otlp_addr}/v1/traces`).
    pub fn otlp_addr(&self) -> SocketAddr {
        self.otlp_addr
    }

    fn ask(&self, request: &str) -> u64 {
        let mut stdin = self.stdin.lock().unwrap();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{request}").and_then(|_| out.flush());
        drop(out);
        let mut line = String::new();
        let _ = stdin.read_line(&mut line);
        line.trim().parse().unwrap_or(0)
    }

    pub fn spans(&self) -> u64 {
        self.ask("S")
    }

    pub fn wait_for(&self, expected: u64, idle: Duration, max: Duration) -> u64 {
        self.ask(&format!("W {expected} {} {}", idle.as_millis(), max.as_millis()))
    }
}
