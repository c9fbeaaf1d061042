//! A stand-in Jaeger agent for local development: prints every trace it receives as a
//! terminal waterfall once the trace goes quiet.
//!
//! ```text
//! cargo run --example tail -- [--port 6831] [--binary-port 6832] [--otlp-port 4318]
//!                             [--host ADDR] [--quiet-ms 500] [--json] [--no-color]
//!                             [--exit-after N]
//! ```
//!
//! Point any program using the layer at it (the layer's default agent endpoint is
//! `localhost:6831`, so usually there is nothing to configure) and run it: spans are grouped
//! by trace id, across processes and services, and a trace is printed when no new span of it
//! arrived for `--quiet-ms` milliseconds: a tree of operation, service, duration and a bar
//! showing when each span ran within the trace, with tags and logs below each span; error
//! spans are red (colour only on a terminal, never with `--no-color` or `NO_COLOR` set).
//! `--json` prints one JSON object per span instead (field names as in Jaeger UI's JSON).
//!
//! Datagrams are decoded as `Agent.emitBatch` in the compact or binary protocol, whichever
//! they are (the agent's ports 6831 and 6832). With `--otlp-port` (off by default; OTLP/HTTP's
//! usual port is 4318), tail also serves OTLP/HTTP there: exporters set to
//! `http://localhost:4318` post protobuf to `/v1/traces`, and their spans join the same
//! traces, with the tags Jaeger shows for OTLP spans (`otel.scope.name`, `span.kind`, ...).
//! Undecodable datagrams and requests are reported on stderr and counted, never fatal.
//! Without `--host`, both `127.0.0.1` and `::1` are bound, since `localhost` may resolve to
//! either.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jaeger_layer::receiver::{decode_datagram, render, OtlpReceiver, ReceivedSpan};
use jaeger_layer::{RefType, TagValue};
use serde_json::{json, Value};

const USAGE: &str = "usage: tail [--port 6831] [--binary-port PORT] [--otlp-port PORT] [--host ADDR] \
                     [--quiet-ms 500] [--json] [--no-color] [--exit-after N]\n  \
                     --otlp-port PORT  also serve OTLP/HTTP (POST /v1/traces, protobuf) on PORT, \
                     usually 4318 (default: off)";
/// A trace that keeps growing is printed (in parts) at this many spans, so memory stays bounded.
const MAX_TRACE_SPANS: usize = 10_000;
/// Undecodable datagrams reported one by one; after that, every hundredth.
const ERRORS_REPORTED: usize = 10;

// === arguments ===

#[derive(Debug, Clone, PartialEq)]
struct Args {
    host: Option<String>,
    port: u16,
    binary_port: Option<u16>,
    otlp_port: Option<u16>,
    json: bool,
    quiet: Duration,
    color: bool,
    exit_after: Option<usize>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            host: None,
            port: 6831,
            binary_port: None,
            otlp_port: None,
            json: false,
            quiet: Duration::from_millis(500),
            color: true,
            exit_after: None,
        }
    }
}

/// Parses the arguments after the program name. `Ok(None)` for `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Both `--port 6831` and `--port=6831`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => parsed.port = number(&flag, &value(&flag)?)?,
            "--binary-port" => parsed.binary_port = Some(number(&flag, &value(&flag)?)?),
            "--otlp-port" => parsed.otlp_port = Some(number(&flag, &value(&flag)?)?),
            "--host" => parsed.host = Some(value(&flag)?),
            "--quiet-ms" => parsed.quiet = Duration::from_millis(number(&flag, &value(&flag)?)?),
            "--exit-after" => parsed.exit_after = Some(number(&flag, &value(&flag)?)?),
            "--json" | "--no-color" if inline.is_some() => return Err(format!("{flag} takes no value")),
            "--json" => parsed.json = true,
            "--no-color" => parsed.color = false,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(parsed))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag}: not a valid number: {v:?}"))
}

// === listening ===

enum Event {
    Spans(Vec<ReceivedSpan>),
    Undecodable {
        from: SocketAddr,
        len: usize,
        error: String,
    },
    /// `count` more OTLP requests to `at` had a body that did not decode (answered 400).
    UndecodableOtlp {
        at: SocketAddr,
        count: usize,
    },
}

/// What [`listen`] bound.
#[derive(Debug, Default)]
struct Bound {
    udp: Vec<SocketAddr>,
    otlp: Vec<SocketAddr>,
}

/// Binds every (host, port) pair and forwards what each socket receives, decoded, to `tx`.
/// Returns the bound addresses. Without `--host`, a failure to bind `::1` is not an error
/// (no IPv6 loopback on this machine).
fn listen(args: &Args, tx: &mpsc::Sender<Event>) -> io::Result<Bound> {
    let hosts: Vec<(&str, bool)> = match &args.host {
        Some(h) => vec![(h.as_str(), true)],
        None => vec![("127.0.0.1", true), ("::1", false)],
    };
    let mut bound = Bound::default();
    for port in std::iter::once(args.port).chain(args.binary_port) {
        for &(host, required) in &hosts {
            let socket = match UdpSocket::bind((host, port)) {
                Ok(s) => s,
                Err(e) if required => {
                    return Err(io::Error::new(e.kind(), format!("bind {host}:{port}: {e}")))
                }
                Err(_) => continue,
            };
            // As the crate's Receiver does: bursts of datagrams overflow the default receive
            // buffer before the thread reads them; ask for 4 MiB (capped by net.core.rmem_max).
            let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
            bound.udp.push(socket.local_addr()?);
            let tx = tx.clone();
            std::thread::Builder::new().name(format!("tail-{port}")).spawn(move || receive(&socket, &tx))?;
        }
    }
    if let Some(port) = args.otlp_port {
        for &(host, required) in &hosts {
            let receiver = match OtlpReceiver::bind((host, port)) {
                Ok(r) => r,
                Err(e) if required => {
                    return Err(io::Error::new(e.kind(), format!("bind tcp {host}:{port}: {e}")))
                }
                Err(_) => continue,
            };
            bound.otlp.push(receiver.local_addr());
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("tail-otlp-{port}"))
                .spawn(move || forward_otlp(&receiver, &tx))?;
        }
    }
    Ok(bound)
}

/// Moves what an OTLP receiver collected to `tx`, so that it keeps nothing.
fn forward_otlp(receiver: &OtlpReceiver, tx: &mpsc::Sender<Event>) {
    let mut errors = 0;
    loop {
        // Returns at once when spans are waiting, else after the timeout.
        receiver.wait_for_spans(1, Duration::from_millis(100));
        let spans: Vec<ReceivedSpan> = receiver.take_batches().into_iter().flat_map(|b| b.spans).collect();
        if !spans.is_empty() && tx.send(Event::Spans(spans)).is_err() {
            return; // the printer is gone
        }
        let now = receiver.decode_errors();
        if now > errors {
            let event = Event::UndecodableOtlp { at: receiver.local_addr(), count: now - errors };
            errors = now;
            if tx.send(event).is_err() {
                return;
            }
        }
    }
}

fn receive(socket: &UdpSocket, tx: &mpsc::Sender<Event>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let event = match socket.recv_from(&mut buf) {
            // The decoder tells compact (0x82) from binary (0x80) by the first byte.
            Ok((len, from)) => match decode_datagram(&buf[..len]) {
                Ok(batch) => Event::Spans(batch.spans),
                Err(e) => Event::Undecodable { from, len, error: e.to_string() },
            },
            // ICMP reports and other transient errors: keep listening.
            Err(_) => continue,
        };
        if tx.send(event).is_err() {
            return; // the printer is gone
        }
    }
}

// === grouping ===

/// Traces being received, printed once quiet.
#[derive(Default)]
struct Pending {
    traces: HashMap<u128, PendingTrace>,
    /// Arrival order of trace ids, for printing quiet traces in a stable order.
    next_seq: u64,
}

struct PendingTrace {
    spans: Vec<ReceivedSpan>,
    last: Instant,
    seq: u64,
}

impl Pending {
    /// Adds spans received at `now`. Returns traces that reached `MAX_TRACE_SPANS`.
    fn add(&mut self, spans: Vec<ReceivedSpan>, now: Instant) -> Vec<Vec<ReceivedSpan>> {
        let mut full = Vec::new();
        for span in spans {
            let key = span.trace_id.to_u128();
            let seq = self.next_seq;
            let trace =
                self.traces.entry(key).or_insert_with(|| PendingTrace { spans: Vec::new(), last: now, seq });
            if trace.seq == seq {
                self.next_seq += 1;
            }
            trace.last = now;
            trace.spans.push(span);
            if trace.spans.len() >= MAX_TRACE_SPANS {
                full.push(std::mem::take(&mut trace.spans));
            }
        }
        self.traces.retain(|_, t| !t.spans.is_empty());
        full
    }

    /// Removes and returns the traces that received nothing for `quiet`, oldest first.
    fn take_quiet(&mut self, now: Instant, quiet: Duration) -> Vec<Vec<ReceivedSpan>> {
        let mut ready: Vec<(u64, u128)> = self
            .traces
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(t.last) >= quiet)
            .map(|(k, t)| (t.seq, *k))
            .collect();
        ready.sort_unstable();
        ready.into_iter().filter_map(|(_, k)| self.traces.remove(&k)).map(|t| t.spans).collect()
    }
}

// === printing ===

fn print_trace(spans: &[ReceivedSpan], args: &Args, color: bool, out: &mut dyn Write) -> io::Result<()> {
    if args.json {
        for i in render::display_order(spans) {
            writeln!(out, "{}", span_json(&spans[i]))?;
        }
    } else {
        writeln!(out, "{}", render::waterfall(spans, color))?;
    }
    out.flush()
}

/// One span as JSON, with Jaeger UI's field names (ids as hex strings, times in µs).
fn span_json(s: &ReceivedSpan) -> Value {
    let kv = |key: &str, v: &TagValue| {
        let (ty, value) = match v {
            TagValue::String(s) => ("string", json!(s)),
            TagValue::Double(d) => ("float64", json!(d)),
            TagValue::Bool(b) => ("bool", json!(b)),
            TagValue::Long(l) => ("int64", json!(l)),
            TagValue::Binary(b) => {
                ("binary", json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
            }
        };
        json!({ "key": key, "type": ty, "value": value })
    };
    json!({
        "traceID": s.trace_id.to_string(),
        "spanID": format!("{:016x}", s.span_id),
        "parentSpanID": format!("{:016x}", s.parent_id),
        "operationName": s.operation_name,
        "serviceName": s.service_name,
        "flags": s.flags,
        "startTime": s.start_time_us,
        "duration": s.duration_us,
        "references": s.references.iter().map(|r| json!({
            "refType": match r.ref_type { RefType::ChildOf => "CHILD_OF", RefType::FollowsFrom => "FOLLOWS_FROM" },
            "traceID": r.trace_id.to_string(),
            "spanID": format!("{:016x}", r.span_id),
        })).collect::<Vec<_>>(),
        "tags": s.tags.iter().map(|t| kv(&t.key, &t.value)).collect::<Vec<_>>(),
        "logs": s.logs.iter().map(|l| json!({
            "timestamp": l.timestamp_us,
            "fields": l.fields.iter().map(|f| kv(&f.key, &f.value)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Receives from `rx` and prints traces as they go quiet, until `args.exit_after` traces
/// were printed, every listener is gone, stdout is closed, or `give_up` passes.
fn run(
    rx: &mpsc::Receiver<Event>,
    args: &Args,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
    give_up: Option<Instant>,
) -> io::Result<usize> {
    let tick = (args.quiet / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
    let mut pending = Pending::default();
    let (mut printed, mut undecodable) = (0usize, 0usize);
    loop {
        let mut ready = Vec::new();
        match rx.recv_timeout(tick) {
            Ok(Event::Spans(spans)) => ready.extend(pending.add(spans, Instant::now())),
            Ok(Event::Undecodable { from, len, error }) => {
                undecodable += 1;
                if undecodable <= ERRORS_REPORTED || undecodable % 100 == 0 {
                    writeln!(err, "tail: undecodable datagram ({len} bytes from {from}): {error} [{undecodable} so far]")?;
                }
            }
            Ok(Event::UndecodableOtlp { at, count }) => {
                for _ in 0..count {
                    undecodable += 1;
                    if undecodable <= ERRORS_REPORTED || undecodable % 100 == 0 {
                        writeln!(err, "tail: undecodable OTLP request to http://{at}/v1/traces (answered 400) [{undecodable} so far]")?;
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(printed),
        }
        ready.extend(pending.take_quiet(Instant::now(), args.quiet));
        for trace in ready {
            print_trace(&trace, args, color, out)?;
            printed += 1;
            if args.exit_after.is_some_and(|n| printed >= n) {
                return Ok(printed);
            }
        }
        if give_up.is_some_and(|t| Instant::now() >= t) {
            return Ok(printed);
        }
    }
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("tail: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let (tx, rx) = mpsc::channel();
    match listen(&args, &tx) {
        Ok(bound) => {
            let addrs: Vec<String> = bound.udp.iter().map(ToString::to_string).collect();
            eprintln!("tail: listening on udp {} (compact and binary emitBatch)", addrs.join(", "));
            if !bound.otlp.is_empty() {
                let urls: Vec<String> = bound.otlp.iter().map(|a| format!("http://{a}/v1/traces")).collect();
                eprintln!("tail: listening for OTLP/HTTP (protobuf) on {}", urls.join(", "));
            }
        }
        Err(e) => {
            eprintln!("tail: {e}");
            std::process::exit(1);
        }
    }
    drop(tx);
    let color = args.color && std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal();
    // A closed stdout (`tail ... | head`) ends the program quietly.
    let _ = run(&rx, &args, color, &mut io::stdout().lock(), &mut io::stderr(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]).unwrap().unwrap(), Args::default());
        let a = parse(&["--port", "7000", "--binary-port=7001", "--json", "--quiet-ms", "20", "--no-color"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.port, a.binary_port, a.json, a.quiet, a.color),
            (7000, Some(7001), true, Duration::from_millis(20), false)
        );
        assert_eq!(a.otlp_port, None, "OTLP is off by default");
        assert_eq!(parse(&["--otlp-port", "4318"]).unwrap().unwrap().otlp_port, Some(4318));
        assert_eq!(parse(&["--otlp-port=0"]).unwrap().unwrap().otlp_port, Some(0));
        assert_eq!(parse(&["--help"]).unwrap(), None);
        for bad in [
            &["--port"][..],
            &["--port", "x"],
            &["--port", "70000"],
            &["--otlp-port"],
            &["--otlp-port", "http://x"],
            &["--otlp-port", "65536"],
            &["--quiet-ms", "-1"],
            &["--json=1"],
            &["--what"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn traces_print_once_quiet_in_arrival_order() {
        let trace = |low: u64, id: u64| {
            let b = jaeger_layer::receiver::decode_datagram(&one_span_datagram()).unwrap();
            let mut s = b.spans[0].clone();
            s.trace_id = jaeger_layer::TraceId::new(0, low);
            s.span_id = id;
            s
        };
        let t0 = Instant::now();
        let quiet = Duration::from_millis(500);
        let mut p = Pending::default();
        assert!(p.add(vec![trace(2, 1)], t0).is_empty());
        p.add(vec![trace(1, 1)], t0);
        p.add(vec![trace(2, 2)], t0 + Duration::from_millis(400));
        assert!(p.take_quiet(t0 + Duration::from_millis(499), quiet).is_empty());
        let first = p.take_quiet(t0 + Duration::from_millis(500), quiet);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0][0].trace_id.low, 1, "trace 2 got a span at 400 ms, still open");
        let second = p.take_quiet(t0 + Duration::from_millis(900), quiet);
        assert_eq!(second[0].iter().map(|s| s.span_id).collect::<Vec<_>>(), [1, 2]);
        assert!(p.take_quiet(t0 + Duration::from_secs(10), quiet).is_empty(), "printed once");
    }

    #[test]
    fn a_huge_trace_is_printed_in_parts() {
        let span = jaeger_layer::receiver::decode_datagram(&one_span_datagram()).unwrap().spans[0].clone();
        let mut p = Pending::default();
        let full = p.add(vec![span; MAX_TRACE_SPANS + 5], Instant::now());
        assert_eq!(full.len(), 1);
        assert_eq!(full[0].len(), MAX_TRACE_SPANS);
        assert_eq!(p.take_quiet(Instant::now() + Duration::from_secs(1), Duration::ZERO)[0].len(), 5);
    }

    /// An emitBatch (compact) with one span "op" of service "svc" (from the receiver docs).
    fn one_span_datagram() -> Vec<u8> {
        vec![
            0x82, 0x21, 0x01, 0x09, b'e', b'm', b'i', b't', b'B', b'a', b't', b'c', b'h', 0x1c, 0x1c, 0x18,
            0x03, b's', b'v', b'c', 0x19, 0x0c, 0x00, 0x19, 0x1c, 0x16, 0x02, 0x16, 0x00, 0x16, 0x04, 0x16,
            0x00, 0x18, 0x02, b'o', b'p', 0x19, 0x0c, 0x15, 0x02, 0x16, 0x80, 0x89, 0x7a, 0x16, 0x0a, 0x19,
            0x1c, 0x18, 0x01, b'k', 0x15, 0x06, 0x46, 0x54, 0x00, 0x19, 0x0c, 0x00, 0x16, 0x02, 0x1c, 0x16,
            0x00, 0x16, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00,
        ]
    }

    /// End to end: two services (two layers, context propagated through headers) report one
    /// trace to tail's sockets, with a garbage datagram in between; tail prints one tree
    /// holding both and reports the garbage.
    #[test]
    fn two_services_one_tree_and_garbage_reported() {
        use jaeger_layer::{JaegerLayer, JaegerSpanExt};
        use tracing_subscriber::prelude::*;

        let args = Args {
            host: Some("127.0.0.1".into()),
            port: 0,
            quiet: Duration::from_millis(150),
            exit_after: Some(1),
            ..Args::default()
        };
        let (tx, rx) = mpsc::channel();
        let bound = listen(&args, &tx).unwrap().udp;
        drop(tx);
        let endpoint = bound[0].to_string();

        let layer = |service: &str| {
            JaegerLayer::builder().service_name(service).agent_endpoint(endpoint.clone()).build().unwrap()
        };
        let (front, front_guard) = layer("frontend");
        let (back, back_guard) = layer("backend");
        let front = tracing::Dispatch::new(tracing_subscriber::registry().with(front));
        let back = tracing::Dispatch::new(tracing_subscriber::registry().with(back));
        tracing::dispatcher::with_default(&front, || {
            let _call = tracing::info_span!("call_backend").entered();
            let mut headers = HashMap::<String, String>::new();
            tracing::Span::current().inject(&mut headers);
            tracing::dispatcher::with_default(&back, || {
                let span = tracing::info_span!("handle", error = true);
                span.set_parent_from(&headers).unwrap();
                let _e = span.entered();
                tracing::info!("handled");
            });
        });
        UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"not thrift", bound[0]).unwrap();
        back_guard.flush(Duration::from_secs(5)).unwrap();
        front_guard.flush(Duration::from_secs(5)).unwrap();

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let give_up = Instant::now() + Duration::from_secs(10);
        let printed = run(&rx, &args, false, &mut out, &mut err, Some(give_up)).unwrap();
        let (out, err) = (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap());
        assert_eq!(printed, 1, "stdout: {out}\nstderr: {err}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains("2 spans, 2 services (frontend, backend)"), "{out}");
        assert!(lines[1].starts_with("call_backend (frontend)"), "{out}");
        let handle = lines.iter().find(|l| l.contains("handle (backend)")).unwrap();
        assert!(handle.starts_with("  handle (backend) [error]"), "child of the client span: {out}");
        assert!(out.contains("message=\"handled\""), "{out}");
        assert!(err.contains("undecodable datagram (10 bytes") && err.contains("[1 so far]"), "{err}");
    }

    /// An ExportTraceServiceRequest (protobuf) with one span "op" (span id 2, trace id 0x01
    /// repeated) of service "svc", as in `OtlpReceiver`'s docs.
    fn one_span_otlp_request() -> Vec<u8> {
        let mut span = vec![0x0a, 0x10];
        span.extend([1; 16]);
        span.extend([0x12, 0x08, 0, 0, 0, 0, 0, 0, 0, 2, 0x2a, 0x02, b'o', b'p']);
        let mut scope_spans = vec![0x12, span.len() as u8];
        scope_spans.extend(span);
        // Resource { attributes: [KeyValue { key: "service.name", value: "svc" }] }.
        let mut resource_spans = vec![0x0a, 0x17, 0x0a, 0x15, 0x0a, 0x0c];
        resource_spans.extend(b"service.name");
        resource_spans.extend([0x12, 0x05, 0x0a, 0x03, b's', b'v', b'c']);
        resource_spans.extend([0x12, scope_spans.len() as u8]);
        resource_spans.extend(scope_spans);
        let mut body = vec![0x0a, resource_spans.len() as u8];
        body.extend(resource_spans);
        body
    }

    /// With `--otlp-port`, spans posted over OTLP/HTTP are printed, and an undecodable
    /// request is reported.
    #[test]
    fn otlp_spans_are_printed_and_bad_requests_reported() {
        let args = Args {
            host: Some("127.0.0.1".into()),
            port: 0,
            otlp_port: Some(0),
            quiet: Duration::from_millis(100),
            exit_after: Some(1),
            ..Args::default()
        };
        let (tx, rx) = mpsc::channel();
        let bound = listen(&args, &tx).unwrap();
        drop(tx);
        assert_eq!((bound.udp.len(), bound.otlp.len()), (1, 1));
        let url = format!("http://{}/v1/traces", bound.otlp[0]);
        let agent =
            ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
        let post = |body: &[u8]| {
            agent.post(&url).content_type("application/x-protobuf").send(body).unwrap().status().as_u16()
        };
        assert_eq!(post(b"\x0a\x05\x01"), 400);
        assert_eq!(post(&one_span_otlp_request()), 200);

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let give_up = Instant::now() + Duration::from_secs(10);
        let printed = run(&rx, &args, false, &mut out, &mut err, Some(give_up)).unwrap();
        let (out, err) = (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap());
        assert_eq!(printed, 1, "stdout: {out}\nstderr: {err}");
        assert!(out.starts_with("trace 01010101010101010101010101010101: 1 span, 1 service (svc)"), "{out}");
        assert!(out.contains("op (svc)"), "{out}");
        assert!(
            err.contains("undecodable OTLP request to http://127.0.0.1:") && err.contains("[1 so far]"),
            "{err}"
        );
    }

    #[test]
    fn json_has_jaeger_ui_field_names() {
        let span = jaeger_layer::receiver::decode_datagram(&one_span_datagram()).unwrap().spans[0].clone();
        let v = span_json(&span);
        assert_eq!(v["operationName"], "op");
        assert_eq!(v["serviceName"], "svc");
        assert_eq!(v["spanID"], "0000000000000002");
        assert_eq!(v["tags"][0], json!({"key": "k", "type": "int64", "value": 42}));
        let line = v.to_string();
        assert!(!line.contains('\n'), "one object per line");
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), v);
    }
}
