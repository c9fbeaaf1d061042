//! A scripted HTTP/1.1 server on loopback, for the remote sampler's polls and the collector
//! transport's posts: each connection gets the next scripted [`Reply`] (or the fallback once
//! they are used up), and every request is recorded before it is answered.
//!
//! Clients here are synchronous, and the server records a request before it answers (or
//! hangs up), so when a client call returns, every request it made is recorded;
//! [`Server::wait_requests`] still waits (bounded) so that a slow machine cannot make a check
//! racy.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long [`Server::wait_requests`] waits, and a connection may take to send its request.
const WAIT: Duration = Duration::from_secs(20);

/// What the server does with one request.
pub(crate) enum Reply {
    /// Answers with this status and body.
    Status(u16, String),
    /// Reads the request, then closes the connection without answering.
    HangUp,
    /// Answers with this status and body only once the test sends on (or drops) the paired
    /// sender.
    Hold(mpsc::Receiver<()>, u16, String),
}

impl Reply {
    pub(crate) fn status(status: u16, body: &str) -> Reply {
        Reply::Status(status, body.to_owned())
    }
}

/// A recorded request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query, e.g. `/sampling?service=svc`.
    pub(crate) target: String,
    /// Lower-cased names.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

struct State {
    replies: VecDeque<Reply>,
    /// Sent once the scripted replies are used up.
    fallback: (u16, String),
    requests: Vec<Request>,
    stop: bool,
}

/// The server; dropping it stops its thread.
pub(crate) struct Server {
    addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// A server with no scripted replies yet: until [`reply`](Self::reply) or
    /// [`hold`](Self::hold) adds some, it answers 503.
    pub(crate) fn start() -> Server {
        Server::with_replies(Vec::new())
    }

    /// A server answering with `replies`, in order, then 503.
    pub(crate) fn with_replies(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new((
            Mutex::new(State {
                replies: replies.into(),
                fallback: (503, "no scripted reply".into()),
                requests: Vec::new(),
                stop: false,
            }),
            Condvar::new(),
        ));
        let shared = Arc::clone(&state);
        let thread = thread::spawn(move || serve(&listener, &shared));
        Server { addr, state, thread: Some(thread) }
    }

    /// `http://<addr><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Scripts the next reply after those already scripted.
    pub(crate) fn reply(&self, status: u16, body: &str) {
        self.state.0.lock().unwrap().replies.push_back(Reply::status(status, body));
    }

    /// Scripts a reply that is sent only once the returned sender sends or is dropped.
    pub(crate) fn hold(&self, status: u16, body: &str) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        self.state.0.lock().unwrap().replies.push_back(Reply::Hold(rx, status, body.into()));
        tx
    }

    /// What is sent once the scripted replies are used up (503 unless set).
    pub(crate) fn fallback(&self, status: u16, body: &str) {
        self.state.0.lock().unwrap().fallback = (status, body.into());
    }

    /// The request target (path and query) of each request so far, in order.
    pub(crate) fn targets(&self) -> Vec<String> {
        self.state.0.lock().unwrap().requests.iter().map(|r| r.target.clone()).collect()
    }

    /// Waits (bounded) until `n` requests have arrived, then returns all of them.
    pub(crate) fn wait_requests(&self, n: usize) -> Vec<Request> {
        let (lock, cv) = &*self.state;
        let deadline = Instant::now() + WAIT;
        let mut state = lock.lock().unwrap();
        while state.requests.len() < n {
            let now = Instant::now();
            let targets: Vec<&str> = state.requests.iter().map(|r| r.target.as_str()).collect();
            assert!(now < deadline, "timed out waiting for request {n}; got {targets:?}");
            state = cv.wait_timeout(state, deadline - now).unwrap().0;
        }
        state.requests.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.0.lock().unwrap().stop = true;
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: &TcpListener, state: &(Mutex<State>, Condvar)) {
    for conn in listener.incoming() {
        if state.0.lock().unwrap().stop {
            return;
        }
        let Ok(mut conn) = conn else { continue };
        let Some(request) = read_request(&mut conn) else { continue };
        let reply = {
            let mut s = state.0.lock().unwrap();
            s.requests.push(request);
            state.1.notify_all();
            s.replies.pop_front()
        };
        let (status, body) = match reply {
            Some(Reply::Status(status, body)) => (status, body),
            Some(Reply::HangUp) => continue, // `conn` is dropped: the client sees it close
            Some(Reply::Hold(release, status, body)) => {
                // Bounded so that a test that forgets to release cannot hang the suite.
                let _ = release.recv_timeout(Duration::from_secs(60));
                (status, body)
            }
            None => state.0.lock().unwrap().fallback.clone(),
        };
        let reason = if status < 400 { "OK" } else { "Error" };
        let _ = write!(
            conn,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// Reads the request line, the headers and a `Content-Length` body (none without one).
fn read_request(conn: &mut TcpStream) -> Option<Request> {
    conn.set_read_timeout(Some(WAIT)).ok()?;
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = match headers.iter().find(|(n, _)| n == "content-length") {
        Some((_, v)) => v.parse().ok()?,
        None => 0,
    };
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, target, headers, body })
}
