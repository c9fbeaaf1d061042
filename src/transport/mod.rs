//! Where encoded batches go: the agent over UDP (here), the collector over HTTP.

pub(crate) mod agent;
mod http;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
mod resolve;
pub(crate) mod tls;
mod udp;

pub(crate) use agent::check_endpoint;
pub(crate) use http::{
    redact_userinfo, Auth, HttpConfig, HttpTransport, DEFAULT_TIMEOUT as DEFAULT_HTTP_TIMEOUT,
};
pub(crate) use tls::{CaFile, TrustRoots};
pub(crate) use udp::UdpTransport;

/// Sends one encoded payload (a datagram or a request body). Called on the exporter thread
/// only, so implementations need not be thread-safe.
pub(crate) trait Transport: Send {
    fn send(&mut self, payload: &[u8]) -> std::io::Result<()>;
}
