//! What `build()` refuses ([`BuildError`]), what `flush` and `shutdown` report at run time
//! ([`FlushError`], [`ShutdownError`]), and [`Error`], which holds any of them so that one `?`
//! serves a whole `main`.

use std::fmt;
use std::io;
use std::time::Duration;

// === impl BuildError ===

/// A setting, an environment variable or the environment itself (a socket, a thread) that
/// [`Builder::build`](crate::Builder::build), [`Builder::from_env`](crate::Builder::from_env)
/// or a sampler constructor refused. Its `Display` names the setting and shows the rejected
/// value; [`kind`](Self::kind) tells the cases apart.
pub struct BuildError {
    repr: Repr,
}

/// The cases of [`BuildError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// A setting is out of range or malformed.
    InvalidSetting,
    /// A `JAEGER_*` environment variable does not parse.
    InvalidEnvVar,
    /// The process (service name and process tags) and the batch envelope leave no room in
    /// one packet (or collector request) for even a small span: every span would be dropped
    /// as too large.
    NoRoomForSpans,
    /// A thread (the exporter, the remote sampler's poller) could not be spawned.
    Spawn,
    /// Two settings that exclude each other were both given (e.g. an OTLP endpoint and a
    /// Thrift collector endpoint).
    ConflictingSettings,
    /// The CA certificate file of
    /// [`Builder::tls_ca_certificates`](crate::Builder::tls_ca_certificates) (or
    /// `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`) cannot be read, is not valid PEM, or holds
    /// no certificate. [`setting`](BuildError::setting) names the setting or the variable,
    /// [`value`](BuildError::value) shows the path, and the I/O error is the
    /// [`source`](std::error::Error::source) when the file could not be read.
    TlsCertificates,
}

enum Repr {
    Invalid {
        what: String,
        value: String,
        reason: String,
        env: bool,
    },
    NoRoom {
        process_bytes: usize,
        envelope_bytes: usize,
        min_span_bytes: usize,
        limit: usize,
    },
    Spawn(io::Error),
    Conflict {
        first: String,
        second: String,
    },
    // Only the `tls` feature reads certificate files.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Certificates {
        what: String,
        value: String,
        reason: String,
        source: Option<io::Error>,
    },
}

impl BuildError {
    /// A setter's value out of range or malformed.
    pub(crate) fn invalid(
        what: impl Into<String>,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        let repr =
            Repr::Invalid { what: what.into(), value: value.to_string(), reason: reason.into(), env: false };
        BuildError { repr }
    }

    /// A bad environment variable; its message reads as Go's, `cannot parse env var
    /// NAME=VALUE: why` (jaeger-client-go `config/config_env.go`).
    pub(crate) fn env(name: &str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        let repr = Repr::Invalid {
            what: name.to_owned(),
            value: value.to_string(),
            reason: reason.into(),
            env: true,
        };
        BuildError { repr }
    }

    pub(crate) fn no_room(
        process_bytes: usize,
        envelope_bytes: usize,
        min_span_bytes: usize,
        limit: usize,
    ) -> Self {
        BuildError { repr: Repr::NoRoom { process_bytes, envelope_bytes, min_span_bytes, limit } }
    }

    /// `first` and `second` were both set, and only one of them can be.
    pub(crate) fn conflict(first: impl Into<String>, second: impl Into<String>) -> Self {
        BuildError { repr: Repr::Conflict { first: first.into(), second: second.into() } }
    }

    /// The CA file named by `what` (the setting or variable) at `path` cannot be used.
    #[cfg(feature = "tls")]
    pub(crate) fn certificates(
        what: &str,
        path: impl fmt::Display,
        reason: impl Into<String>,
        source: Option<io::Error>,
    ) -> Self {
        let repr = Repr::Certificates {
            what: what.to_owned(),
            value: path.to_string(),
            reason: reason.into(),
            source,
        };
        BuildError { repr }
    }

    pub(crate) fn spawn(e: io::Error) -> Self {
        BuildError { repr: Repr::Spawn(e) }
    }

    /// Which case this is.
    pub fn kind(&self) -> BuildErrorKind {
        match &self.repr {
            Repr::Invalid { env: false, .. } => BuildErrorKind::InvalidSetting,
            Repr::Invalid { env: true, .. } => BuildErrorKind::InvalidEnvVar,
            Repr::NoRoom { .. } => BuildErrorKind::NoRoomForSpans,
            Repr::Spawn(_) => BuildErrorKind::Spawn,
            Repr::Conflict { .. } => BuildErrorKind::ConflictingSettings,
            Repr::Certificates { .. } => BuildErrorKind::TlsCertificates,
        }
    }

    /// The setting (e.g. `queue_capacity`) or environment variable (e.g.
    /// `JAEGER_AGENT_PORT`) that was refused, for the invalid-value and certificate cases.
    pub fn setting(&self) -> Option<&str> {
        match &self.repr {
            Repr::Invalid { what, .. } | Repr::Certificates { what, .. } => Some(what),
            _ => None,
        }
    }

    /// The refused value as shown in the message (secrets redacted), for the invalid-value
    /// cases; the file's path for the certificate case.
    pub fn value(&self) -> Option<&str> {
        match &self.repr {
            Repr::Invalid { value, .. } | Repr::Certificates { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Why the value was refused, for the invalid-value cases.
    pub(crate) fn reason(&self) -> Option<&str> {
        match &self.repr {
            Repr::Invalid { reason, .. } | Repr::Certificates { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Invalid { what, value, reason, env: true } => {
                write!(f, "cannot parse env var {what}={value}: {reason}")
            }
            Repr::Invalid { what, value, reason, env: false } => {
                write!(f, "invalid {what}={value}: {reason}")
            }
            Repr::NoRoom { process_bytes, envelope_bytes, min_span_bytes, limit } => {
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
            Repr::Spawn(e) => write!(f, "cannot spawn a jaeger-layer thread: {e}"),
            Repr::Conflict { first, second } => {
                write!(f, "{first} and {second} cannot both be set: choose one transport")
            }
            Repr::Certificates { what, value, reason, .. } => {
                write!(f, "cannot load the TLS CA certificates of {what}={value}: {reason}")
            }
        }
    }
}

impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildError").field("kind", &self.kind()).field("message", &self.to_string()).finish()
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Spawn(e) => Some(e),
            Repr::Certificates { source: Some(e), .. } => Some(e),
            _ => None,
        }
    }
}

// === impl FlushError, ShutdownError ===

/// Why [`ExporterGuard::flush`](crate::ExporterGuard::flush) returned before every span
/// finished so far was sent or counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The exporter did not finish within the timeout; the spans stay queued and are sent
    /// later.
    Timeout(Duration),
    /// The exporter is gone: it was shut down, or its thread died.
    Closed,
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushError::Timeout(d) => write!(f, "jaeger flush did not finish within {d:?}"),
            FlushError::Closed => f.write_str("the jaeger exporter has shut down"),
        }
    }
}

impl std::error::Error for FlushError {}

/// Why [`ExporterGuard::shutdown`](crate::ExporterGuard::shutdown) did not end with every
/// span sent or counted by a stopped exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The exporter did not stop within the timeout: what it still held or had queued was
    /// abandoned and counted ([`Stats::spans_abandoned`](crate::Stats::spans_abandoned)).
    Timeout(Duration),
    /// The exporter was gone already: its thread had died.
    Closed,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Timeout(d) => {
                write!(f, "the jaeger exporter did not stop within {d:?}; what it held was abandoned")
            }
            ShutdownError::Closed => f.write_str("the jaeger exporter had stopped already"),
        }
    }
}

impl std::error::Error for ShutdownError {}

// === impl Error ===

/// Any error of this crate, so that building, flushing and shutting down can share one `?`
/// (e.g. in `fn main() -> Result<(), jaeger_layer::Error>`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The layer could not be built.
    Build(BuildError),
    /// A flush did not complete.
    Flush(FlushError),
    /// A shutdown did not complete.
    Shutdown(ShutdownError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Build(e) => e.fmt(f),
            Error::Flush(e) => e.fmt(f),
            Error::Shutdown(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Build(e) => Some(e),
            Error::Flush(e) => Some(e),
            Error::Shutdown(e) => Some(e),
        }
    }
}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Self {
        Error::Build(e)
    }
}

impl From<FlushError> for Error {
    fn from(e: FlushError) -> Self {
        Error::Flush(e)
    }
}

impl From<ShutdownError> for Error {
    fn from(e: ShutdownError) -> Self {
        Error::Shutdown(e)
    }
}
