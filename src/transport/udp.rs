//! UDP to the agent, with periodic re-resolution of the agent's host name so that an agent
//! that moves (a Kubernetes pod, say) is followed (jaeger-client-go
//! `utils/reconnecting_udp_conn.go`).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::Transport;

/// A connected UDP socket to `endpoint` (`host:port`), re-resolved every `reresolve` and after
/// a send error.
pub(crate) struct UdpTransport {
    endpoint: String,
    reresolve: Option<Duration>,
    socket: Option<(UdpSocket, SocketAddr)>,
    resolved_at: Instant,
    /// Name resolution; the system resolver, or a fake one in tests (no DNS traffic).
    resolve: Resolver,
}

type Resolver = Box<dyn FnMut(&str) -> io::Result<SocketAddr> + Send>;

fn system_resolve(endpoint: &str) -> io::Result<SocketAddr> {
    endpoint
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "agent address resolved to nothing"))
}

impl std::fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpTransport")
            .field("endpoint", &self.endpoint)
            .field("reresolve", &self.reresolve)
            .field("connected_to", &self.socket.as_ref().map(|(_, a)| a))
            .finish()
    }
}

impl UdpTransport {
    /// A transport to `endpoint`. Resolution failures are not fatal: sends fail (and are
    /// counted) until the name resolves.
    pub(crate) fn new(endpoint: String, reresolve: Option<Duration>) -> Self {
        Self::with_resolver(endpoint, reresolve, Box::new(system_resolve))
    }

    fn with_resolver(endpoint: String, reresolve: Option<Duration>, resolve: Resolver) -> Self {
        let mut t = UdpTransport { endpoint, reresolve, socket: None, resolved_at: Instant::now(), resolve };
        let _ = t.connect();
        t
    }

    fn connect(&mut self) -> io::Result<()> {
        self.resolved_at = Instant::now();
        let addr = (self.resolve)(&self.endpoint)?;
        if matches!(&self.socket, Some((_, current)) if *current == addr) {
            return Ok(());
        }
        let bind: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(addr)?;
        self.socket = Some((socket, addr));
        Ok(())
    }

    /// The local address of the socket (what `ip` process tag can report).
    pub(crate) fn local_ip(&self) -> Option<std::net::IpAddr> {
        self.socket.as_ref().and_then(|(s, _)| s.local_addr().ok()).map(|a| a.ip())
    }
}

impl Transport for UdpTransport {
    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        if self.reresolve.is_some_and(|every| self.resolved_at.elapsed() >= every) || self.socket.is_none() {
            // A failure keeps the old socket, if any.
            let _ = self.connect();
        }
        let Some((socket, _)) = &self.socket else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "agent address not resolved"));
        };
        match socket.send(payload) {
            Ok(_) => Ok(()),
            // An ICMP refusal of an earlier datagram: nobody listens there. The write was not
            // performed; retrying would only lose this datagram too (and hide the failure).
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(e),
            Err(first) => {
                // As Go does: re-resolve once and retry the write (the agent may have moved).
                if self.connect().is_ok() {
                    if let Some((socket, _)) = &self.socket {
                        return socket.send(payload).map(|_| ());
                    }
                }
                Err(first)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A resolver answering from a shared slot: `None` fails like an unknown host.
    fn fake(slot: &Arc<Mutex<Option<SocketAddr>>>) -> Resolver {
        let slot = slot.clone();
        Box::new(move |_| {
            slot.lock()
                .unwrap()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host (fake resolver)"))
        })
    }

    fn agent() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    #[test]
    fn a_name_that_does_not_resolve_fails_sends_until_it_does() {
        let slot = Arc::new(Mutex::new(None));
        let mut t = UdpTransport::with_resolver(
            "jaeger-agent:6831".into(),
            Some(Duration::from_secs(30)),
            fake(&slot),
        );
        assert!(t.socket.is_none(), "not fatal at start");
        assert!(t.send(b"lost").is_err());
        let a = agent();
        *slot.lock().unwrap() = Some(a.local_addr().unwrap());
        t.send(b"delivered").unwrap();
        let mut buf = [0; 16];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"delivered");
    }

    #[test]
    fn a_moved_agent_is_followed_at_the_next_re_resolution() {
        let (old, new) = (agent(), agent());
        let slot = Arc::new(Mutex::new(Some(old.local_addr().unwrap())));
        let mut t =
            UdpTransport::with_resolver("jaeger-agent:6831".into(), Some(Duration::ZERO), fake(&slot));
        t.send(b"one").unwrap();
        *slot.lock().unwrap() = Some(new.local_addr().unwrap());
        t.send(b"two").unwrap();
        let mut buf = [0; 16];
        let n = old.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = new.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
    }

    #[test]
    fn a_resolver_that_starts_failing_keeps_the_last_good_address() {
        let a = agent();
        let slot = Arc::new(Mutex::new(Some(a.local_addr().unwrap())));
        let mut t =
            UdpTransport::with_resolver("jaeger-agent:6831".into(), Some(Duration::ZERO), fake(&slot));
        *slot.lock().unwrap() = None;
        t.send(b"still").unwrap();
        let mut buf = [0; 16];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"still");
    }
}
