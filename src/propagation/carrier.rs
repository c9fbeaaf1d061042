//! Carriers: the `Injector`/`Extractor` traits, their impls for `HashMap` and (feature `http`)
//! `http::HeaderMap`, and the case-insensitive, size-checked view the propagators read through.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use super::error::ExtractError;
use super::MAX_VALUE_LEN;

/// Somewhere to write propagation headers: outgoing HTTP headers, message metadata...
///
/// Propagators call [`set`](Self::set) with lower-case header names (except the baggage key
/// part of `uberctx-<key>` / `baggage-<key>`, which is written as the application set it) and
/// values that are valid visible ASCII except for a W3C `tracestate` received from elsewhere.
pub trait Injector {
    /// Sets header `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
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
}

impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

/// `get` tries the exact key first, then any key equal to it ignoring ASCII case.
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

/// A header whose name or value `http` rejects (a baggage key with a space, a received
/// `tracestate` with a control character) is skipped: a request must still go out.
#[cfg(feature = "http")]
impl Injector for http::HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::header::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::try_from(value))
        {
            self.insert(name, value);
        }
    }
}

/// Only the first value of a repeated header is read; a value that is not visible ASCII reads
/// as absent (Jaeger, W3C and B3 values are ASCII; baggage is percent-encoded).
#[cfg(feature = "http")]
impl Extractor for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key)?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        http::HeaderMap::keys(self).map(http::header::HeaderName::as_str).collect()
    }
}

// === impl Carrier ===

/// One scan of an extractor's keys, sorted so that the outcome never depends on a hash map's
/// iteration order: when a header appears under several spellings the lower-case one (the
/// greatest in byte order) wins, and repeated baggage keys override in sorted order.
pub(crate) struct Carrier<'a> {
    inner: &'a dyn Extractor,
    keys: Vec<&'a str>,
}

impl<'a> Carrier<'a> {
    pub(crate) fn new(inner: &'a dyn Extractor) -> Self {
        let mut keys = inner.keys();
        keys.sort_unstable();
        keys.dedup();
        Carrier { inner, keys }
    }

    /// Whether header `name` (lower-case) is present under any spelling.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.keys.iter().any(|k| k.eq_ignore_ascii_case(name))
    }

    /// The value of header `name` (lower-case), rejected as too large before anyone parses it.
    pub(crate) fn get(&self, name: &'static str) -> Result<Option<&'a str>, ExtractError> {
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

    /// `(key suffix, value)` of every header whose name starts with `prefix` (lower-case),
    /// the suffix non-empty; an oversized key or value is an error naming that header.
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
