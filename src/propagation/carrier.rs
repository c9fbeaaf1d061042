//! Carriers: the `Injector`/`Extractor` traits, their impls for `HashMap` and (feature `http`)
//! `http::HeaderMap`, the [`HttpHeaders`] / [`TextMap`] wrappers that choose how values are
//! encoded, and the case-insensitive, size-checked view the propagators read through.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use super::error::ExtractError;
use super::escape;
use super::MAX_VALUE_LEN;

/// How a carrier holds values: the two carrier formats of Jaeger's clients (opentracing's
/// `TextMap` and `HTTPHeaders`, jaeger-client-go `propagation.go`).
///
/// | | [`TextMap`](Self::TextMap) | [`HttpHeaders`](Self::HttpHeaders) |
/// |---|---|---|
/// | `uberctx-*`, B3 `baggage-*` values on inject | verbatim | URL-encoded (a space as `%20`) |
/// | those and `jaeger-debug-id` on extract | verbatim | URL-decoded (`+` is a space), OWS trimmed |
/// | `uber-trace-id` on inject / extract | verbatim / OWS trimmed | verbatim / OWS trimmed, URL-decoded |
///
/// In both: `jaeger-baggage` is URL-decoded as a whole (jaeger-client-go
/// `parseCommaSeparatedMap` does so for either carrier), the W3C `baggage` value is
/// percent-encoded as its spec requires, and optional whitespace (spaces, tabs) around the
/// structured values (`uber-trace-id`, `traceparent`, `tracestate`, `baggage`,
/// `jaeger-baggage`, `b3`, `x-b3-*`) is ignored, since none of them can contain it.
///
/// Which carrier is which: `HashMap<String, String>` is a text map; `http::HeaderMap`
/// (feature `http`) is HTTP headers; wrap any carrier in [`HttpHeaders`] or [`TextMap`] to
/// choose; a custom carrier says so by overriding `carrier_format` of [`Injector`] /
/// [`Extractor`] (text map by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CarrierFormat {
    /// Values are kept exactly as they are, both ways (message metadata, in-process maps).
    #[default]
    TextMap,
    /// Values are HTTP header field values: baggage and debug id URL-encoded, optional
    /// whitespace around a value not part of it (RFC 9110 §5.5).
    HttpHeaders,
}

/// Somewhere to write propagation headers: outgoing HTTP headers, message metadata...
///
/// Propagators call [`set`](Self::set) with lower-case header names (except the baggage key
/// part of `uberctx-<key>` / `baggage-<key>`, which is written as the application set it).
/// Values are visible ASCII, except a W3C `tracestate` received from elsewhere and, in a
/// [`CarrierFormat::TextMap`] carrier, baggage values, which are written verbatim.
pub trait Injector {
    /// Sets header `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);

    /// How this carrier holds values. Defaults to [`CarrierFormat::TextMap`].
    fn carrier_format(&self) -> CarrierFormat {
        CarrierFormat::TextMap
    }
}

/// Somewhere to read propagation headers from: incoming HTTP headers, message metadata...
///
/// Header names are case-insensitive: the propagators list [`keys`](Self::keys), compare
/// them ignoring ASCII case, and then call [`get`](Self::get) with a key exactly as listed.
pub trait Extractor {
    /// The value stored under `key`.
    fn get(&self, key: &str) -> Option<&str>;
    /// Every key in the carrier.
    fn keys(&self) -> Vec<&str>;

    /// How this carrier holds values. Defaults to [`CarrierFormat::TextMap`].
    fn carrier_format(&self) -> CarrierFormat {
        CarrierFormat::TextMap
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, key: &str, value: String) {
        (**self).set(key, value);
    }

    fn carrier_format(&self) -> CarrierFormat {
        (**self).carrier_format()
    }
}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }

    fn keys(&self) -> Vec<&str> {
        (**self).keys()
    }

    fn carrier_format(&self) -> CarrierFormat {
        (**self).carrier_format()
    }
}

/// A text map: values verbatim both ways.
impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

/// A text map. `get` tries the exact key first, then any key equal to it ignoring ASCII case.
impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        match HashMap::get(self, key) {
            Some(v) => Some(v),
            None => self.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str()),
        }
    }

    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

/// HTTP headers. A header whose name or value `http` rejects (a baggage key with a space, a
/// received `tracestate` with a control character) is skipped: a request must still go out.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Injector for http::HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::header::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::try_from(value))
        {
            self.insert(name, value);
        }
    }

    fn carrier_format(&self) -> CarrierFormat {
        CarrierFormat::HttpHeaders
    }
}

/// HTTP headers. Only the first value of a repeated header is read; a value that is not
/// visible ASCII reads as absent (Jaeger, W3C and B3 values are ASCII; baggage is
/// percent-encoded).
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Extractor for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key)?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        http::HeaderMap::keys(self).map(http::header::HeaderName::as_str).collect()
    }

    fn carrier_format(&self) -> CarrierFormat {
        CarrierFormat::HttpHeaders
    }
}

/// Any carrier read and written as HTTP headers ([`CarrierFormat::HttpHeaders`]): baggage
/// values URL-encoded on inject and URL-decoded on extract, as jaeger-client-go's
/// `HTTPHeaders` propagator does. For HTTP headers kept in a `HashMap` or a framework's own
/// header type.
///
/// ```
/// use std::collections::HashMap;
/// use jaeger_layer::{HttpHeaders, Propagator, SpanContext, TraceId};
///
/// let cx = SpanContext::new(TraceId::new(0, 1), 2, 0, 1)
///     .with_baggage([("user", "ada lovelace")].into_iter().collect());
/// let mut headers = HashMap::new();
/// Propagator::jaeger().inject(&cx, &mut HttpHeaders(&mut headers));
/// assert_eq!(headers["uberctx-user"], "ada%20lovelace");
///
/// headers.insert("uberctx-user".into(), "ada+lovelace".into()); // as Go writes it
/// let back = Propagator::jaeger().extract(&HttpHeaders(&headers)).unwrap().unwrap();
/// assert_eq!(back.baggage().get("user"), Some("ada lovelace"));
/// // The same map as a text map: verbatim.
/// let raw = Propagator::jaeger().extract(&headers).unwrap().unwrap();
/// assert_eq!(raw.baggage().get("user"), Some("ada+lovelace"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpHeaders<C>(pub C);

/// Any carrier read and written as a text map ([`CarrierFormat::TextMap`]): values verbatim,
/// as jaeger-client-go's `TextMap` propagator does. For an `http::HeaderMap` used as plain
/// metadata, say.
///
/// ```
/// use std::collections::HashMap;
/// use jaeger_layer::{Propagator, SpanContext, TextMap, TraceId};
///
/// let cx = SpanContext::new(TraceId::new(0, 1), 2, 0, 1)
///     .with_baggage([("path", "/a b")].into_iter().collect());
/// let mut map = HashMap::new();
/// Propagator::jaeger().inject(&cx, &mut TextMap(&mut map));
/// assert_eq!(map["uberctx-path"], "/a b");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextMap<C>(pub C);

macro_rules! carrier_wrapper {
    ($wrapper:ident, $format:ident) => {
        impl<C: Injector> Injector for $wrapper<C> {
            fn set(&mut self, key: &str, value: String) {
                self.0.set(key, value);
            }

            fn carrier_format(&self) -> CarrierFormat {
                CarrierFormat::$format
            }
        }

        impl<C: Extractor> Extractor for $wrapper<C> {
            fn get(&self, key: &str) -> Option<&str> {
                self.0.get(key)
            }

            fn keys(&self) -> Vec<&str> {
                self.0.keys()
            }

            fn carrier_format(&self) -> CarrierFormat {
                CarrierFormat::$format
            }
        }
    };
}

carrier_wrapper!(HttpHeaders, HttpHeaders);
carrier_wrapper!(TextMap, TextMap);

/// HTTP optional whitespace (RFC 9110 §5.6.3: spaces and tabs) around a value.
pub(crate) fn trim_ows(v: &str) -> &str {
    v.trim_matches([' ', '\t'])
}

// === impl Carrier ===

/// One scan of an extractor's keys, sorted so that the outcome never depends on a hash map's
/// iteration order: when a header appears under several spellings the lower-case one (the
/// greatest in byte order) wins, and repeated baggage keys override in sorted order.
pub(crate) struct Carrier<'a> {
    inner: &'a dyn Extractor,
    keys: Vec<&'a str>,
    format: CarrierFormat,
}

impl<'a> Carrier<'a> {
    pub(crate) fn new(inner: &'a dyn Extractor) -> Self {
        let mut keys = inner.keys();
        keys.sort_unstable();
        keys.dedup();
        Carrier { inner, keys, format: inner.carrier_format() }
    }

    /// The carrier's format.
    pub(crate) fn format(&self) -> CarrierFormat {
        self.format
    }

    /// Whether header `name` (lower-case) is present under any spelling.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.keys.iter().any(|k| k.eq_ignore_ascii_case(name))
    }

    /// The raw value of header `name` (lower-case), rejected as too large before anyone
    /// parses it.
    fn raw(&self, name: &'static str) -> Result<Option<&'a str>, ExtractError> {
        let Some(key) = self.keys.iter().rev().find(|k| k.eq_ignore_ascii_case(name)) else {
            return Ok(None);
        };
        match self.inner.get(key) {
            Some(v) if v.len() > MAX_VALUE_LEN => {
                Err(ExtractError::too_large(name, "value longer than 8192 bytes"))
            }
            v => Ok(v),
        }
    }

    /// The value of a structured header (`uber-trace-id`, `traceparent`, `b3`, ...), which
    /// cannot contain blanks at its ends: optional whitespace around it is dropped whatever
    /// the carrier format.
    pub(crate) fn get(&self, name: &'static str) -> Result<Option<&'a str>, ExtractError> {
        Ok(self.raw(name)?.map(trim_ows))
    }

    /// The value of a free-form header (`jaeger-debug-id`) as [`Self::value`] reads it.
    pub(crate) fn get_text(&self, name: &'static str) -> Result<Option<Cow<'a, str>>, ExtractError> {
        Ok(self.raw(name)?.map(|v| self.value(v)))
    }

    /// A free-form value (baggage, debug id) of this carrier: verbatim from a text map; from
    /// HTTP headers without optional whitespace and URL-decoded with `+` as a space, the raw
    /// value kept when that fails (jaeger-client-go `propagation.go`, `QueryUnescape`).
    pub(crate) fn value(&self, v: &'a str) -> Cow<'a, str> {
        match self.format {
            CarrierFormat::TextMap => Cow::Borrowed(v),
            CarrierFormat::HttpHeaders => escape::query_unescape_or_raw(trim_ows(v)),
        }
    }

    /// `(key suffix, raw value)` of every header whose name starts with `prefix`
    /// (lower-case), the suffix non-empty; an oversized key or value is an error naming that
    /// header.
    pub(crate) fn with_prefix(
        &self,
        prefix: &'static str,
    ) -> impl Iterator<Item = Result<(&'a str, &'a str), ExtractError>> + '_ {
        self.keys.iter().filter_map(move |key| {
            let n = prefix.len();
            // The first `n` bytes matched ASCII, so `n` is a char boundary of `key`.
            if key.len() <= n || !key.as_bytes()[..n].eq_ignore_ascii_case(prefix.as_bytes()) {
                return None;
            }
            let value = self.inner.get(key)?;
            if key.len() > MAX_VALUE_LEN || value.len() > MAX_VALUE_LEN {
                let name: Cow<'static, str> =
                    if key.len() > 64 { Cow::Borrowed(prefix) } else { Cow::Owned(key.to_ascii_lowercase()) };
                return Some(Err(ExtractError::too_large(name, "key or value longer than 8192 bytes")));
            }
            Some(Ok((&key[n..], value)))
        })
    }
}

/// Writes a free-form value (baggage) into `carrier` as its format wants it: verbatim into a
/// text map, URL-encoded (a space as `%20`) into HTTP headers.
pub(crate) fn encode_value<'v>(carrier: &dyn Injector, v: &'v str) -> Cow<'v, str> {
    match carrier.carrier_format() {
        CarrierFormat::TextMap => Cow::Borrowed(v),
        CarrierFormat::HttpHeaders => escape::percent_encode(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn lookups_ignore_case_and_prefer_lower_case() {
        let m = map(&[("Uber-Trace-Id", "upper"), ("uber-trace-id", "lower"), ("X", "x")]);
        let c = Carrier::new(&m);
        assert_eq!(c.get("uber-trace-id").unwrap(), Some("lower"));
        assert!(c.has("x"));
        assert_eq!(c.get("x").unwrap(), Some("x"));
        assert_eq!(c.get("missing").unwrap(), None);
        assert_eq!(Extractor::get(&map(&[("A-B", "1")]), "a-b"), Some("1"));
    }

    #[test]
    fn prefix_scan_skips_bare_prefix_and_checks_sizes() {
        let big = "v".repeat(MAX_VALUE_LEN + 1);
        let m = map(&[("uberctx-", "empty key"), ("UBERCTX-a", "1"), ("other", "2")]);
        let c = Carrier::new(&m);
        let got: Vec<_> = c.with_prefix("uberctx-").collect::<Result<_, _>>().unwrap();
        assert_eq!(got, vec![("a", "1")]);
        let m = map(&[("uberctx-k", &big)]);
        let err = Carrier::new(&m).with_prefix("uberctx-").next().unwrap().unwrap_err();
        assert_eq!(err.header(), "uberctx-k");
        let m = map(&[("uber-trace-id", &big)]);
        assert!(Carrier::new(&m).get("uber-trace-id").is_err());
    }
}
