//! A Jaeger collector stand-in on loopback (`POST /api/traces`) whose behaviour a test can
//! switch at any moment: accept, fail with 500, answer slowly, hang past the client's
//! timeout, or close the connection without answering. It decodes every body it accepts
//! with the crate's receiver (`decode_batch`) and counts the spans.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How the collector answers the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 202 Accepted, as Jaeger's collector answers.
    Accept,
    /// 500 Internal Server Error.
    Fail,
    /// 202 after a delay shorter than the client's timeout.
    Slow,
    /// No answer for longer than the client's timeout.
    Hang,
    /// Reads the request, then closes the connection without answering.
    Close,
}

pub const MODES: [Mode; 5] = [Mode::Accept, Mode::Fail, Mode::Slow, Mode::Hang, Mode::Close];

/// The delays of `Slow` and `Hang`: tests set the client's timeout between the two.
pub const SLOW: Duration = Duration::from_millis(20);
pub const HANG: Duration = Duration::from_millis(400);

struct State {
    mode: AtomicU8,
    accepted_spans: AtomicU64,
    requests: AtomicU64,
    stop: AtomicBool,
}

pub struct Collector {
    addr: std::net::SocketAddr,
    state: Arc<State>,
}

impl Collector {
    pub fn start(mode: Mode) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind collector");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            mode: AtomicU8::new(mode as u8),
            accepted_spans: AtomicU64::new(0),
            requests: AtomicU64::new(0),
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

    pub fn endpoint(&self) -> String {
        format!("http://{}/api/traces", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.state.mode.store(mode as u8, SeqCst);
    }

    /// Spans in the bodies this collector accepted (answered 202 to).
    pub fn accepted_spans(&self) -> u64 {
        self.state.accepted_spans.load(SeqCst)
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(SeqCst)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.state.stop.store(true, SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

fn mode(s: &State) -> Mode {
    MODES[s.mode.load(SeqCst) as usize]
}

fn serve(conn: TcpStream, s: &State) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        s.requests.fetch_add(1, SeqCst);
        let answer: &[u8] = match mode(s) {
            Mode::Accept => b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
            Mode::Fail => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nfail",
            Mode::Slow => {
                thread::sleep(SLOW);
                b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
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
        };
        if answer.starts_with(b"HTTP/1.1 202") {
            let batch = jaeger_layer::receiver::decode_batch(&body).expect("the collector decodes the body");
            s.accepted_spans.fetch_add(batch.spans.len() as u64, SeqCst);
        }
        if conn.write_all(answer).is_err() {
            return;
        }
    }
}
