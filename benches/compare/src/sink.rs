//! The one stand-in agent every tool exports to: a thread on a loopback UDP socket that
//! decodes each datagram with `jaeger_layer::receiver::decode_datagram` and counts spans.
//!
//! It keeps counters only (no spans), so its memory is the same for every tool.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// Receive buffer asked for: `net.core.rmem_max` on the bench machine (4 MiB); the kernel
/// doubles it. A larger buffer hides less of a burst's loss, and is the same for every tool.
const RCVBUF: usize = 4 << 20;

#[derive(Default)]
struct Counts {
    datagrams: AtomicU64,
    spans: AtomicU64,
    bytes: AtomicU64,
    decode_errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// A running sink; stops when dropped.
pub struct Sink {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    pub fn start() -> std::io::Result<Sink> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        socket.set_recv_buffer_size(RCVBUF)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counts, stop) = (counts.clone(), stop.clone());
            std::thread::Builder::new().name("sink".into()).spawn(move || run(&socket, &counts, &stop))?
        };
        Ok(Sink { addr, counts, stop, thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn spans(&self) -> u64 {
        self.counts.spans.load(Ordering::Relaxed)
    }

    pub fn datagrams(&self) -> u64 {
        self.counts.datagrams.load(Ordering::Relaxed)
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

    /// Waits (bounded) until `expected` spans were counted, or nothing arrived for `idle`,
    /// or `max` passed. Returns the count.
    pub fn wait_for(&self, expected: u64, idle: Duration, max: Duration) -> u64 {
        let start = Instant::now();
        let mut last = self.spans();
        let mut last_change = Instant::now();
        loop {
            let now = self.spans();
            if now >= expected || start.elapsed() >= max {
                return now;
            }
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() >= idle {
                return now;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(socket: &UdpSocket, counts: &Counts, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => continue, // read timeout: look at `stop` again
        };
        counts.datagrams.fetch_add(1, Ordering::Relaxed);
        counts.bytes.fetch_add(n as u64, Ordering::Relaxed);
        match jaeger_layer::receiver::decode_datagram(&buf[..n]) {
            Ok(batch) => {
                counts.spans.fetch_add(batch.spans.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                counts.decode_errors.fetch_add(1, Ordering::Relaxed);
                counts.first_error.lock().unwrap().get_or_insert_with(|| e.to_string());
            }
        }
    }
}
