//! The error of a failed extraction: opaque, with a kind and the header at fault.

use std::borrow::Cow;
use std::fmt;

/// Why a propagation header could not be used.
///
/// An [`ExtractError`] means the carrier *had* a context but it is unusable; the caller
/// (the layer) then starts a new root span and counts a decoding error. A carrier without
/// any propagation header is not an error: extraction returns `Ok(None)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExtractErrorKind {
    /// The value does not follow the format: wrong part count or length, a non-hex digit,
    /// a sign or `0x` prefix, whitespace, an overflowing or forbidden (zero) id, an unknown
    /// sampling value.
    Corrupt,
    /// A header value, the number of baggage items or the total baggage size is over the
    /// limits documented on [`Propagator`](crate::Propagator); rejected before parsing.
    TooLarge,
}

/// A propagation header that could not be parsed.
///
/// Opaque on purpose (like `http::header::InvalidHeaderValue`): match on [`kind`](Self::kind),
/// log the [`Display`](fmt::Display) form. The header value itself is never included, since it
/// comes from the network and may be large.
///
/// ```
/// use jaeger_layer::ExtractErrorKind;
/// let err = "abc:1:0".parse::<jaeger_layer::SpanContext>().unwrap_err();
/// assert_eq!(err.kind(), ExtractErrorKind::Corrupt);
/// assert_eq!(err.header(), "uber-trace-id");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractError {
    kind: ExtractErrorKind,
    header: Cow<'static, str>,
    reason: &'static str,
}

impl ExtractError {
    pub(crate) fn corrupt(header: impl Into<Cow<'static, str>>, reason: &'static str) -> Self {
        ExtractError { kind: ExtractErrorKind::Corrupt, header: header.into(), reason }
    }

    pub(crate) fn too_large(header: impl Into<Cow<'static, str>>, reason: &'static str) -> Self {
        ExtractError { kind: ExtractErrorKind::TooLarge, header: header.into(), reason }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ExtractErrorKind {
        self.kind
    }

    /// The (lower-case) name of the header at fault, e.g. `uber-trace-id` or `uberctx-user`.
    pub fn header(&self) -> &str {
        &self.header
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ExtractErrorKind::Corrupt => "malformed",
            ExtractErrorKind::TooLarge => "oversized",
        };
        write!(f, "{what} `{}` header: {}", self.header, self.reason)
    }
}

impl std::error::Error for ExtractError {}
