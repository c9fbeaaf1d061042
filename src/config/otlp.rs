//! The OTLP/HTTP exporter settings, gathered by the `otlp_*` setters of the
//! [`Builder`](crate::Builder) and by the `OTEL_EXPORTER_OTLP_*` variables.

use std::time::Duration;

/// Body compression for OTLP/HTTP requests (`OTEL_EXPORTER_OTLP_COMPRESSION`: `gzip` or
/// `none`, opentelemetry-specification `protocol/exporter.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// The body is sent as it is encoded (the default).
    #[default]
    None,
    /// `Content-Encoding: gzip`. Needs the `gzip` cargo feature; without it
    /// [`build`](crate::Builder::build) refuses this setting.
    Gzip,
}

/// Where OTLP requests go: a base URL to which `v1/traces` is appended (as
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), or a full URL used as it is (as
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), per opentelemetry-specification
/// `protocol/exporter.md`, "Endpoint URLs for OTLP/HTTP".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OtlpEndpoint {
    Base(String),
    Traces(String),
}

/// The default export timeout: 10 s per request, retries included
/// (opentelemetry-specification `protocol/exporter.md`).
pub(crate) const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);
/// The default cap on one request body, before compression.
pub(crate) const DEFAULT_OTLP_MAX_REQUEST_SIZE: usize = 4 * 1024 * 1024;
/// The largest allowed cap: the 64 MiB a client should never exceed (opentelemetry-proto
/// `docs/specification.md`, since v1.11.0).
#[cfg(feature = "otlp")]
pub(crate) const MAX_OTLP_REQUEST_SIZE: usize = 64 * 1024 * 1024;
/// The smallest allowed cap on one request body.
#[cfg(feature = "otlp")]
pub(crate) const MIN_OTLP_REQUEST_SIZE: usize = 1024;
/// The most spans per request `otlp_batch_size` accepts.
#[cfg(feature = "otlp")]
pub(crate) const MAX_OTLP_BATCH_SIZE: usize = 65_536;
/// Spans per request: `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`'s default.
pub(crate) const DEFAULT_OTLP_BATCH_SIZE: usize = 512;

/// The settings of the OTLP/HTTP transport. Its `Debug` (and so the `Builder`'s) shows the
/// header names only: their values are often credentials.
#[derive(Clone)]
pub(crate) struct OtlpSettings {
    pub(crate) endpoint: Option<OtlpEndpoint>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    pub(crate) max_request_size: usize,
    pub(crate) batch_size: usize,
}

impl std::fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(k, _)| (k.as_str(), "<redacted>")).collect();
        f.debug_struct("OtlpSettings")
            .field("url", &self.endpoint.as_ref().map(|e| crate::transport::redact_userinfo(&e.url())))
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("max_request_size", &self.max_request_size)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Default for OtlpSettings {
    fn default() -> Self {
        OtlpSettings {
            endpoint: None,
            headers: Vec::new(),
            timeout: DEFAULT_OTLP_TIMEOUT,
            compression: Compression::None,
            max_request_size: DEFAULT_OTLP_MAX_REQUEST_SIZE,
            batch_size: DEFAULT_OTLP_BATCH_SIZE,
        }
    }
}

impl OtlpEndpoint {
    /// The URL requests are posted to: a base URL gets `v1/traces` after a `/`; a traces URL
    /// is used as it is, except that a URL without a path gets `/`.
    pub(crate) fn url(&self) -> String {
        match self {
            OtlpEndpoint::Base(base) => {
                let mut url = base.clone();
                if !url.ends_with('/') {
                    url.push('/');
                }
                url.push_str("v1/traces");
                url
            }
            OtlpEndpoint::Traces(url) => {
                let after_scheme = url.find("://").map_or(0, |i| i + 3);
                if url[after_scheme..].contains('/') {
                    url.clone()
                } else {
                    format!("{url}/")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_endpoint_gets_v1_traces_appended_once() {
        assert_eq!(OtlpEndpoint::Base("http://c:4318".into()).url(), "http://c:4318/v1/traces");
        assert_eq!(
            OtlpEndpoint::Base("http://c:4318/mycollector/".into()).url(),
            "http://c:4318/mycollector/v1/traces"
        );
    }

    #[test]
    fn debug_shows_header_names_but_no_credentials() {
        let settings = OtlpSettings {
            endpoint: Some(OtlpEndpoint::Base("https://user:pa55@c:4318".into())),
            headers: vec![("authorization".into(), "Bearer s3cret".into())],
            ..OtlpSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(shown.contains("authorization") && shown.contains("c:4318/v1/traces"), "{shown}");
        assert!(!shown.contains("s3cret") && !shown.contains("pa55"), "{shown}");
    }

    #[test]
    fn a_traces_endpoint_is_used_as_is_but_gets_a_root_path() {
        assert_eq!(OtlpEndpoint::Traces("http://c:4318".into()).url(), "http://c:4318/");
        assert_eq!(OtlpEndpoint::Traces("http://c:4318/v1/traces".into()).url(), "http://c:4318/v1/traces");
        assert_eq!(OtlpEndpoint::Traces("https://c/x".into()).url(), "https://c/x");
    }
}
