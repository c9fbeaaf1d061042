//! UDP to the agent, with periodic re-resolution of the agent's host name so that an agent
//! that moves (a Kubernetes pod, say) is followed (facts §1.3).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::Transport;

/// A connected UDP socket to `endpoint` (`host:port`), re-resolved every `reresolve` and after
/// a send error.
#[derive(Debug)]
pub(crate) struct UdpTransport {
    endpoint: String,
    reresolve: Option<Duration>,
    socket: Option<(UdpSocket, SocketAddr)>,
    resolved_at: Instant,
}

impl UdpTransport {
    /// A transport to `endpoint`. Resolution failures are not fatal: sends fail (and are
    /// counted) until the name resolves.
    pub(crate) fn new(endpoint: String, reresolve: Option<Duration>) -> Self {
        let mut t = UdpTransport { endpoint, reresolve, socket: None, resolved_at: Instant::now() };
        let _ = t.connect();
        t
    }

    fn connect(&mut self) -> io::Result<()> {
        self.resolved_at = Instant::now();
        let addr =
            self.endpoint.to_socket_addrs()?.next().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "agent address resolved to nothing")
            })?;
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
