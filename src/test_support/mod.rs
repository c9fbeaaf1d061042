//! What the crate's own unit tests share: a scripted loopback HTTP server (for the remote
//! sampler and the collector transport), deterministic span fixtures, and the lookup of the
//! Python interop venv. Test-only; `tests/support` is its counterpart for the integration
//! tests, which see only the public API.

pub(crate) mod fixtures;
pub(crate) mod http_server;
// Only the receiver-gated Thrift interop test needs it.
#[cfg(feature = "receiver")]
pub(crate) mod python;
