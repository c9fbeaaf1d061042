//! URL escaping of header values. Decoding: Go's `url.QueryUnescape` (`+` is a space) for
//! Jaeger and B3 values in HTTP headers (jaeger-client-go `propagation.go`), lossy
//! percent-decoding for the W3C `baggage` header (W3C Baggage, `value`). Encoding: one
//! percent-encoding for all, with a space as `%20`, not Go's `+`: Go and Java decode both, but
//! jaeger-client-python decodes with `urllib.parse.unquote`, which leaves `+` as it is
//! (checked by the interop test), so `%20` is the form every peer reads back.

use std::borrow::Cow;

/// RFC 3986 unreserved characters: the only ones both encoders leave as they are
/// (Go's `shouldEscape` in query mode keeps exactly these).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn encode(s: &str, space_as_plus: bool) -> Cow<'_, str> {
    // `space_as_plus` would be Go's `QueryEscape`; kept for the unit test that pins the
    // difference, not used on the wire (see the module docs).
    if s.bytes().all(is_unreserved) {
        return Cow::Borrowed(s);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
    Cow::Owned(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` (and `+` as space when `plus_as_space`). `None` when a `%` is not followed by
/// two hex digits or the bytes are not UTF-8: callers keep the raw value then, as
/// jaeger-client-go's HTTP-headers propagator does on a decoding error.
fn decode(s: &str, plus_as_space: bool) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| b == b'%' || (plus_as_space && b == b'+')) {
        return Some(Cow::Borrowed(s));
    }
    // Decoding never grows the value, so this allocation is bounded by the input.
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex_val(*bytes.get(i + 1)?)?;
                let lo = hex_val(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Go's `url.QueryUnescape` (`+` is a space); `None` on a bad escape or non-UTF-8 result.
pub(crate) fn query_unescape(s: &str) -> Option<Cow<'_, str>> {
    decode(s, true)
}

/// `query_unescape`, keeping the raw value when it cannot be decoded (jaeger-client-go's
/// HTTP-headers propagator does the same, `propagation.go`).
pub(crate) fn query_unescape_or_raw(s: &str) -> Cow<'_, str> {
    query_unescape(s).unwrap_or(Cow::Borrowed(s))
}

/// Percent-encodes all but RFC 3986 unreserved characters (so also `+`, `%`, `,`, `;`, `=`),
/// a space as `%20`. Valid in a W3C baggage value and decoded right by every Jaeger client.
pub(crate) fn percent_encode(s: &str) -> Cow<'_, str> {
    encode(s, false)
}

/// Percent-decoding for W3C baggage values (`+` is a `+`): a `%` not followed by two hex
/// digits is kept as it is (the WHATWG URL percent-decode), and decoded bytes that are not
/// UTF-8 become U+FFFD, as the W3C Baggage spec requires of a `value`.
pub(crate) fn percent_decode_lossy(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1).copied(), bytes.get(i + 2).copied()) {
            (b'%', Some(hi), Some(lo)) => hex_val(hi).zip(hex_val(lo)),
            _ => None,
        };
        match escaped {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(v) => Cow::Owned(v),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_go_query_escape_with_space_as_pct20() {
        // Expected strings are what Go's url.QueryEscape returns for these inputs; ours
        // differs only in writing a space as %20.
        let cases = [
            ("abc", "abc"),
            ("a b", "a+b"),
            ("a:b/c", "a%3Ab%2Fc"),
            ("x+y=z&w", "x%2By%3Dz%26w"),
            ("é", "%C3%A9"),
            ("-_.~", "-_.~"),
            ("", ""),
        ];
        for (raw, go) in cases {
            assert_eq!(encode(raw, true), go, "{raw:?}");
            assert_eq!(percent_encode(raw), go.replace('+', "%20"), "{raw:?}");
            assert_eq!(query_unescape(go).as_deref(), Some(raw), "{go:?}");
            assert_eq!(query_unescape(&percent_encode(raw)).as_deref(), Some(raw), "{raw:?}");
        }
    }

    #[test]
    fn query_unescape_refuses_bad_escapes_and_lossy_decoding_replaces_them() {
        assert_eq!(query_unescape("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(query_unescape("%e2%9c%93").as_deref(), Some("✓"));
        for bad in ["%", "%2", "%zz", "a%g1", "%ff"] {
            assert_eq!(query_unescape(bad), None, "{bad:?}");
            assert_eq!(query_unescape_or_raw(bad), bad);
        }
        assert_eq!(percent_decode_lossy("a+b%20c"), "a+b c");
        // W3C Baggage: undecodable bytes are U+FFFD, stray `%` kept, the rest decoded.
        let cases = [
            ("%ff", "\u{fffd}"),
            ("a%C3%28b", "a\u{fffd}(b"),
            ("%E2%9C", "\u{fffd}"),
            ("%zz%20x", "%zz x"),
            ("100%", "100%"),
            ("%2", "%2"),
            ("%E2%9C%93", "✓"),
        ];
        for (raw, want) in cases {
            assert_eq!(percent_decode_lossy(raw), want, "{raw:?}");
        }
        assert_eq!(percent_encode("a b+c"), "a%20b%2Bc");
    }
}
