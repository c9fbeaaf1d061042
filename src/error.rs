//! Configuration and runtime errors.

use std::fmt;
use std::io;
use std::time::Duration;

/// What went wrong building the layer or talking to the exporter.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range or malformed.
    InvalidConfig {
        /// The setting or environment variable.
        what: String,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The process (service name and process tags) and the batch envelope leave no room in one
    /// packet (or collector request) for even a small span, so every span would be dropped as
    /// too large. Reported by [`Builder::build`](crate::Builder::build).
    NoRoomForSpans {
        /// Encoded bytes of the process: the service name and every process tag.
        process_bytes: usize,
        /// Encoded bytes of the rest of the batch envelope (message header, `seqNo`, stats).
        envelope_bytes: usize,
        /// Encoded bytes of a small root span: a typical operation name, the sampler tags and,
        /// unless switched off, the metadata tags the layer writes.
        min_span_bytes: usize,
        /// The limit: `max_packet_size` over UDP, the request body limit over HTTP.
        limit: usize,
    },
    /// The transport could not be set up (socket bind, address resolution, HTTP client).
    Transport(io::Error),
    /// The exporter thread could not be spawned.
    Spawn(io::Error),
    /// `flush` did not complete within its timeout.
    FlushTimeout(Duration),
    /// The exporter has shut down.
    Closed,
}

impl Error {
    pub(crate) fn invalid(
        what: impl Into<String>,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidConfig { what: what.into(), value: value.to_string(), reason: reason.into() }
    }

    /// A bad environment variable: an [`Error::InvalidConfig`] whose `what` is
    /// `env var NAME` and whose message reads as Go's, `cannot parse env var NAME=VALUE: why`
    /// (jaeger-client-go `config/config_env.go`).
    pub(crate) fn env(name: &str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        Error::invalid(format!("{ENV_VAR}{name}"), value, reason)
    }
}

/// The `what` prefix of errors about environment variables (see [`Error::env`]).
const ENV_VAR: &str = "env var ";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig { what, value, reason } if what.starts_with(ENV_VAR) => {
                write!(f, "cannot parse {what}={value}: {reason}")
            }
            Error::InvalidConfig { what, value, reason } => {
                write!(f, "invalid {what}={value}: {reason}")
            }
            Error::NoRoomForSpans { process_bytes, envelope_bytes, min_span_bytes, limit } => {
                let total = process_bytes + envelope_bytes + min_span_bytes;
                write!(
                    f,
                    "no span can fit in one packet: the process (service name and process tags) \
                     encodes to {process_bytes} bytes, the batch envelope to {envelope_bytes} and \
                     a small span to {min_span_bytes}: {total} bytes, over the limit of {limit} \
                     bytes; "
                )?;
                // Name the larger part: the process, or the span and envelope next to it.
                if *process_bytes > envelope_bytes + min_span_bytes {
                    f.write_str("shorten the service name or the process tags")
                } else {
                    f.write_str("raise max_packet_size")
                }
            }
            Error::Transport(e) => write!(f, "jaeger transport: {e}"),
            Error::Spawn(e) => write!(f, "cannot spawn the jaeger exporter thread: {e}"),
            Error::FlushTimeout(d) => write!(f, "jaeger flush did not finish within {d:?}"),
            Error::Closed => f.write_str("the jaeger exporter has shut down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) | Error::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
