//! The certificates `https://` servers are verified against: the webpki roots compiled in
//! with the `tls` feature, or, when [`Builder::tls_ca_certificates`](crate::Builder::tls_ca_certificates)
//! (or `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`) names a PEM file, the certificates in that
//! file *instead*.
//!
//! Instead, not as well: the OpenTelemetry specification describes the variable as "the
//! trusted certificate to use when verifying a server's TLS credentials"
//! (opentelemetry-specification `protocol/exporter.md`, "Configuration Options"), and the
//! OpenTelemetry Go exporters build a fresh pool from the file alone (`x509.NewCertPool` +
//! `AppendCertsFromPEM` as `tls.Config.RootCAs`, go.opentelemetry.io/otel
//! `exporters/otlp/otlptrace/internal/otlpconfig/tls.go`), refusing a file without a
//! certificate. ureq's `RootCerts::Specific` ("use these specific certificates as root
//! certs", ureq 3 `tls` module) does the same.
//!
//! The file is read and parsed once, when the layer is built, so that a missing or wrong file
//! fails `build()` rather than every export.

use std::fmt;
use std::path::PathBuf;
#[cfg(feature = "tls")]
use std::sync::Arc;

use crate::error::BuildError;

/// The builder setting that names the CA file.
pub(crate) const SETTING: &str = "tls_ca_certificates";

/// A CA file to load, and which setting or variable named it (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CaFile {
    pub(crate) path: PathBuf,
    /// [`SETTING`], or the `OTEL_*` variable the path came from.
    pub(crate) origin: &'static str,
}

impl CaFile {
    /// The path as error messages show it: quoted for the setter, as it is for a variable
    /// (as the other `cannot parse env var NAME=VALUE` messages show values).
    fn shown(&self) -> String {
        if self.origin == SETTING {
            format!("{:?}", self.path)
        } else {
            self.path.display().to_string()
        }
    }

    /// A [`BuildError`] about this file: an environment variable's error if it came from one.
    #[cfg(not(feature = "tls"))]
    fn invalid(&self, reason: impl Into<String>) -> BuildError {
        if self.origin == SETTING {
            BuildError::invalid(self.origin, self.shown(), reason)
        } else {
            BuildError::env(self.origin, self.shown(), reason)
        }
    }
}

/// The trusted roots every HTTP client of the layer uses; the default is the webpki roots.
/// Cheap to clone: the certificates are shared.
#[derive(Clone, Default)]
pub(crate) struct TrustRoots {
    #[cfg(feature = "tls")]
    certificates: Option<Arc<Vec<ureq::tls::Certificate<'static>>>>,
}

impl fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.len() {
            None => f.write_str("TrustRoots(webpki)"),
            Some(n) => write!(f, "TrustRoots({n} CA certificates)"),
        }
    }
}

/// The same roots: the default, or the same loaded file.
impl PartialEq for TrustRoots {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "tls")]
        {
            match (&self.certificates, &other.certificates) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = other;
            true
        }
    }
}

impl Eq for TrustRoots {}

impl TrustRoots {
    /// The roots for `file`: the webpki default for `None`, else the certificates read from it.
    ///
    /// # Errors
    ///
    /// Without the `tls` feature, any file: [`BuildErrorKind::InvalidSetting`](crate::BuildErrorKind::InvalidSetting)
    /// (or `InvalidEnvVar`) naming the feature. With it, [`BuildErrorKind::TlsCertificates`](crate::BuildErrorKind::TlsCertificates)
    /// for a file that cannot be read, is not valid PEM, or holds no certificate.
    pub(crate) fn load(file: Option<&CaFile>) -> Result<TrustRoots, BuildError> {
        let Some(file) = file else {
            return Ok(TrustRoots::default());
        };
        #[cfg(not(feature = "tls"))]
        {
            Err(file.invalid(
                "CA certificates are used for https://, which needs the `tls` feature of jaeger-layer",
            ))
        }
        #[cfg(feature = "tls")]
        {
            let pem = std::fs::read(&file.path).map_err(|e| {
                BuildError::certificates(file.origin, file.shown(), format!("cannot read it: {e}"), Some(e))
            })?;
            let certificates =
                parse(&pem).map_err(|why| BuildError::certificates(file.origin, file.shown(), why, None))?;
            Ok(TrustRoots { certificates: Some(Arc::new(certificates)) })
        }
    }

    /// How many CA certificates replace the webpki roots; `None` for the webpki roots.
    pub(crate) fn len(&self) -> Option<usize> {
        #[cfg(feature = "tls")]
        {
            self.certificates.as_ref().map(|c| c.len())
        }
        #[cfg(not(feature = "tls"))]
        {
            None
        }
    }

    /// ureq's TLS configuration for these roots: rustls (with the process's default crypto
    /// provider, else *ring*, as ureq picks it), no client certificate.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_config(&self) -> ureq::tls::TlsConfig {
        let builder = ureq::tls::TlsConfig::builder();
        match &self.certificates {
            Some(certs) => builder.root_certs(ureq::tls::RootCerts::Specific(Arc::clone(certs))).build(),
            None => builder.root_certs(ureq::tls::RootCerts::WebPki).build(),
        }
    }
}

/// The certificates of a PEM file, in order. Other PEM sections (keys, requests) are skipped,
/// as Go's `AppendCertsFromPEM` skips them; a malformed section or a file without any
/// certificate is an error.
#[cfg(feature = "tls")]
fn parse(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        // Keys and other sections are skipped.
        let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| format!("not valid PEM: {e}"))? else {
            continue;
        };
        // rustls skips certificates it cannot parse when it builds the root store
        // (`RootCertStore::add_parsable_certificates`), which would leave nothing trusted
        // without a word: refuse what is not even one DER element here.
        if !is_one_der_sequence(c.der()) {
            let n = certificates.len() + 1;
            return Err(format!("certificate {n} is not a DER-encoded X.509 certificate"));
        }
        certificates.push(c);
    }
    if certificates.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it; a DER file must be \
                    converted to PEM"
            .to_owned());
    }
    Ok(certificates)
}

/// Whether `der` is exactly one DER `SEQUENCE` (tag 0x30, definite length, ITU-T X.690
/// §8.1.3), the outer shape of an X.509 `Certificate` (RFC 5280 §4.1). The rest is checked by
/// rustls when it connects.
#[cfg(feature = "tls")]
fn is_one_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (len, body) = match *first {
        n @ 0..=0x7f => (usize::from(n), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            if rest.len() < n {
                return false;
            }
            let (len, body) = rest.split_at(n);
            (len.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b)), body)
        }
        _ => return false,
    };
    len == body.len()
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    const CA: &str = include_str!("../../tests/tls/ca.pem");

    #[test]
    fn every_certificate_of_a_bundle_is_kept_and_keys_are_skipped() {
        let key = include_str!("../../tests/tls/server.key");
        let server = include_str!("../../tests/tls/server.pem");
        let bundle = format!("{CA}\n{key}\n{server}");
        assert_eq!(parse(bundle.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        for text in ["", "just text\n", include_str!("../../tests/tls/server.key")] {
            assert!(parse(text.as_bytes()).unwrap_err().contains("no PEM certificate"), "{text}");
        }
    }

    #[test]
    fn a_certificate_section_that_is_not_der_is_refused() {
        let garbage = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        assert!(parse(garbage.as_bytes()).unwrap_err().contains("certificate 1 is not"));
        // Cut in the middle of its base64: the length no longer matches.
        let lines: Vec<&str> = CA.lines().collect();
        let cut = format!("{}\n{}\n", lines[..lines.len() / 2].join("\n"), lines[lines.len() - 1]);
        assert!(parse(cut.as_bytes()).is_err());
    }

    #[test]
    fn der_lengths_short_and_long() {
        assert!(is_one_der_sequence(&[0x30, 0x00]));
        assert!(is_one_der_sequence(&[0x30, 0x02, 1, 2]));
        assert!(is_one_der_sequence(&[&[0x30, 0x81, 0x80][..], &[0; 0x80]].concat()));
        assert!(is_one_der_sequence(&[&[0x30, 0x82, 0x01, 0x00][..], &[0; 0x100]].concat()));
        for bad in [&[][..], &[0x30], &[0x31, 0x00], &[0x30, 0x01], &[0x30, 0x80], &[0x30, 0x82, 0x01]] {
            assert!(!is_one_der_sequence(bad), "{bad:?}");
        }
    }
}
