//! The one place where HTTP clients are configured: the collector transport, the remote
//! sampler's poller and the OTLP transport all get their `ureq::Agent` and check their URLs
//! here, so that timeouts, status handling and TLS are the same everywhere.
//!
//! TLS is the `tls` cargo feature (`ureq/rustls`: rustls with the *ring* provider and the
//! Mozilla roots of `webpki-roots` compiled in; the operating system's store is not read).
//! Without it, an `https://` URL is refused when the layer is built, never at the first send.
//! A PEM file of CA certificates (`Builder::tls_ca_certificates`,
//! `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`) replaces the webpki roots for every client
//! built here (see `tls.rs`). Client certificates (mutual TLS: `OTEL_EXPORTER_OTLP_CLIENT_KEY`,
//! `..._CLIENT_CERTIFICATE`) are not supported.

use std::time::Duration;

use ureq::http::Uri;
use ureq::unversioned::transport::DefaultConnector;

use super::resolve::CachingResolver;
use super::tls::TrustRoots;

/// Whether this build can speak `https://` (the `tls` feature).
pub(crate) const TLS: bool = cfg!(feature = "tls");

/// The reason given for an `https://` URL in a build without the `tls` feature.
pub(crate) const NO_TLS: &str = "https needs the `tls` feature of jaeger-layer \
                                 (or send over http:// to a local collector or a TLS-terminating proxy)";

/// An agent whose every request is bounded by `timeout` (`None`: unbounded, or set per
/// request), that hands every status back to the caller (`http_status_as_error(false)`:
/// callers classify 4xx and 5xx themselves), ignores proxy variables (collectors and agents
/// are normally local) and sends `User-Agent: jaeger-layer/<version>`. With the `tls`
/// feature, `https://` URLs use rustls and verify servers against `roots` (the webpki roots
/// unless a CA file was configured); without it `roots` is always the default.
///
/// Redirects are followed (a GET, such as the sampler's, may be redirected); POSTing
/// transports set `max_redirects(0)` per request, since a redirected POST becomes a GET.
///
/// Host names are resolved through [`CachingResolver`]: no thread and no lookup per request.
pub(crate) fn agent(timeout: Option<Duration>, roots: &TrustRoots) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(timeout)
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(format!("jaeger-layer/{}", env!("CARGO_PKG_VERSION")));
    #[cfg(feature = "tls")]
    let config = config.tls_config(roots.tls_config());
    #[cfg(not(feature = "tls"))]
    let _ = roots;
    ureq::Agent::with_parts(config.build(), DefaultConnector::default(), CachingResolver::default())
}

/// Checks that `url` is an absolute `http://` URL, or `https://` with the `tls` feature,
/// with a host and without credentials in it. The reason is meant to follow
/// `<setting>=<url>: `.
///
/// # Errors
///
/// The reason the URL cannot be used.
pub(crate) fn check_endpoint(url: &str) -> Result<(), &'static str> {
    const ABSOLUTE: &str = if TLS {
        "must be an absolute http:// URL (or https://), e.g. http://localhost:14268/api/traces"
    } else {
        "must be an absolute http:// URL, e.g. http://localhost:14268/api/traces"
    };
    let uri: Uri = url.parse().map_err(|_| "not a valid absolute URL")?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if TLS => {}
        Some("https") => return Err(NO_TLS),
        _ => return Err(ABSOLUTE),
    }
    match uri.authority() {
        None => Err(ABSOLUTE),
        Some(a) if a.as_str().contains('@') => {
            Err("credentials in the URL are not supported; use the auth or header settings")
        }
        Some(a) if a.host().is_empty() => Err("the URL has no host"),
        Some(_) => Ok(()),
    }
}

/// A POST to `url` on `agent`, bounded by `budget` (`None`: unbounded) from DNS lookup to
/// the end of the response body, that does not follow redirects: a redirected POST becomes
/// a GET in HTTP clients, and collectors never redirect, so a 3xx is handed back to the
/// caller and reported as an error instead.
pub(crate) fn post(
    agent: &ureq::Agent,
    url: &str,
    budget: Option<Duration>,
) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
    agent.post(url).config().timeout_global(budget).max_redirects(0).max_redirects_will_error(false).build()
}

/// A failed request (no response) as an I/O error, and whether it is worth another
/// attempt. A connection that failed, was refused, reset or closed is. A timeout has used up
/// the budget. `InvalidData` is not: that is what rustls reports through ureq for a TLS
/// handshake that fails (a certificate that does not verify, no common protocol: rustls
/// `conn.complete_io`) and what a malformed response gives, both of which would fail the
/// same way again; neither is the rest (a bad URL, a protocol violation). `what` names the
/// request in the timeout's message ("OTLP request").
pub(crate) fn request_failure(error: ureq::Error, what: &str) -> (std::io::Error, bool) {
    use std::io::{Error, ErrorKind};
    match error {
        ureq::Error::Io(e) => {
            let retry = e.kind() != ErrorKind::InvalidData;
            (e, retry)
        }
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            (Error::new(ErrorKind::ConnectionRefused, error.to_string()), true)
        }
        ureq::Error::Timeout(t) => {
            (Error::new(ErrorKind::TimedOut, format!("{what} timed out ({t})")), false)
        }
        other => (Error::other(other.to_string()), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_connections_are_retried_and_failed_handshakes_are_not() {
        use std::io::{Error, ErrorKind};
        let retry = |e: ureq::Error| request_failure(e, "test request").1;
        for kind in [ErrorKind::ConnectionReset, ErrorKind::UnexpectedEof, ErrorKind::BrokenPipe] {
            assert!(retry(ureq::Error::Io(Error::from(kind))), "{kind:?}");
        }
        assert!(retry(ureq::Error::ConnectionFailed) && retry(ureq::Error::HostNotFound));
        assert!(!retry(ureq::Error::Io(Error::new(ErrorKind::InvalidData, "invalid peer certificate"))));
        let (timeout, again) = request_failure(ureq::Error::Timeout(ureq::Timeout::Global), "test request");
        assert!(!again && timeout.to_string().starts_with("test request timed out"), "{timeout}");
    }

    #[test]
    fn plain_http_urls_with_a_host_are_accepted() {
        for ok in ["http://localhost:14268/api/traces", "http://[::1]:4318", "http://c/x?y=1"] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn relative_credentialed_and_foreign_urls_are_refused() {
        for bad in ["", "localhost:4318", "/api/traces", "ftp://c/", "http://", "http://u:p@c/", "not a url"]
        {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
        assert!(check_endpoint("http://u:p@c/").unwrap_err().contains("credentials"));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn https_is_accepted_with_the_tls_feature() {
        assert_eq!(check_endpoint("https://collector.example.com:4318/v1/traces"), Ok(()));
        assert!(check_endpoint("https://u:p@c/").is_err());
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn https_without_the_tls_feature_names_the_feature() {
        let why = check_endpoint("https://collector.example.com:4318/v1/traces").unwrap_err();
        assert!(why.contains("https needs the `tls` feature"), "{why}");
    }

    #[test]
    fn the_agent_hands_statuses_back_with_its_timeout() {
        let a = agent(Some(Duration::from_secs(3)), &TrustRoots::default());
        let c = a.config();
        assert!(!c.http_status_as_error());
        assert_eq!(c.timeouts().global, Some(Duration::from_secs(3)));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn the_agent_trusts_the_configured_roots_only() {
        use ureq::tls::RootCerts;
        let a = agent(None, &TrustRoots::default());
        assert!(matches!(a.config().tls_config().root_certs(), RootCerts::WebPki));
        let file = super::super::tls::CaFile {
            path: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/ca.pem").into(),
            origin: super::super::tls::SETTING,
        };
        let roots = TrustRoots::load(Some(&file)).unwrap();
        let a = agent(None, &roots);
        assert!(matches!(a.config().tls_config().root_certs(), RootCerts::Specific(c) if c.len() == 1));
    }
}
