//! Trace and span identifiers, and the fast thread-local generator that makes them.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// A Jaeger trace id: 128 bits, kept as its high and low halves as on the wire.
///
/// A 64-bit trace id has `high == 0`. The id is valid when it is not zero.
///
/// ```
/// use jaeger_layer::TraceId;
/// let id = TraceId::new(0, 0xabc);
/// assert_eq!(id.to_string(), "0000000000000abc");
/// let wide = TraceId::new(1, 2);
/// assert_eq!(wide.to_string(), "00000000000000010000000000000002");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct TraceId {
    /// The high 64 bits (0 for a 64-bit id).
    pub high: u64,
    /// The low 64 bits.
    pub low: u64,
}

impl TraceId {
    /// A trace id from its halves.
    pub const fn new(high: u64, low: u64) -> Self {
        TraceId { high, low }
    }

    /// Whether the id is non-zero (Jaeger treats a zero trace id as "no trace").
    pub const fn is_valid(&self) -> bool {
        self.high != 0 || self.low != 0
    }

    /// The id as one 128-bit number.
    pub const fn to_u128(self) -> u128 {
        ((self.high as u128) << 64) | self.low as u128
    }
}

impl TraceId {
    /// A trace id of 1–32 hex digits of either case, as `uber-trace-id` and B3 carry it: the
    /// last 16 are the low half, the rest the high half (jaeger-client-go `TraceIDFromString`).
    pub(crate) fn from_hex(s: &str) -> Option<TraceId> {
        if s.is_empty() || s.len() > 32 {
            return None;
        }
        // Only ASCII hex digits parse, so any index that parses is a char boundary.
        let split = s.len().saturating_sub(16);
        let high = if split == 0 { 0 } else { parse_hex_u64(s.get(..split)?, 16)? };
        Some(TraceId::new(high, parse_hex_u64(s.get(split..)?, 16)?))
    }
}

/// Lower-case hex, 16 digits when `high == 0`, else 32 (jaeger-client-go `span_context.go`
/// TraceID.String).
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        let len = self.write_hex(&mut buf);
        f.pad(hex_str(&buf[..len]))
    }
}

impl TraceId {
    /// Writes the id as in `Display` into `out`, returning the length (16 or 32).
    pub(crate) fn write_hex(&self, out: &mut [u8; 32]) -> usize {
        if self.high == 0 {
            hex16(self.low, &mut out[..16]);
            16
        } else {
            hex16(self.high, &mut out[..16]);
            hex16(self.low, &mut out[16..]);
            32
        }
    }
}

/// Writes `v` as 16 lower-case, zero-padded hex digits into `out[..16]` (`format!("{:016x}")`
/// without the formatting machinery: ids are written on every inject).
#[inline]
pub(crate) fn hex16(v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in out[..16].iter_mut().enumerate() {
        *b = DIGITS[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// Bytes written by [`hex16`] as a `str`.
#[inline]
pub(crate) fn hex_str(bytes: &[u8]) -> &str {
    // Only ASCII hex digits are ever written; the fallback is unreachable in practice.
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Hex digit values by byte; 0xff for bytes that are not hex digits.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Parses 1 to `max` (at most 16) hex digits, either case; `None` for anything else (no
/// sign, no prefix, no blanks, the empty string). A table look-up per digit: random ids mix
/// digits and letters, on which a `match` mispredicts.
#[inline]
pub(crate) fn parse_hex_u64(s: &str, max: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max.min(16) {
        return None;
    }
    let mut v = 0u64;
    let mut bad = 0u8;
    for &b in s.as_bytes() {
        let d = HEX_VALUE[b as usize];
        bad |= d;
        v = (v << 4) | u64::from(d & 0xf);
    }
    // Every valid digit is < 0x10, so any 0xff sets the high bits.
    (bad < 0x10).then_some(v)
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

// === impl generator ===

thread_local! {
    // 0 means "not seeded yet"; a seeded state is never 0 (splitmix64 state is any u64,
    // we keep 0 as the sentinel and reseed if we ever land on it).
    static RNG_STATE: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    // RandomState is seeded from the OS once per thread (std caches per-thread keys), so this
    // costs one hash per thread, never a syscall per id.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    let s = h.finish();
    if s == 0 {
        1
    } else {
        s
    }
}

/// `N` random non-zero u64s from a per-thread splitmix64 generator, in one thread-local
/// access. No lock, no syscall.
#[inline]
fn draw<const N: usize>() -> [u64; N] {
    RNG_STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        let mut out = [0; N];
        for slot in &mut out {
            while *slot == 0 {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                *slot = z ^ (z >> 31);
            }
        }
        // 0 means "not seeded": never store it.
        state.set(if s == 0 { 1 } else { s });
        out
    })
}

/// A random non-zero u64.
#[inline]
pub(crate) fn random_u64() -> u64 {
    draw::<1>()[0]
}

/// A new span id: random and never zero.
#[inline]
pub(crate) fn new_span_id() -> u64 {
    random_u64()
}

/// A new trace id: the low half random and non-zero, the high half random when `wide`.
#[inline]
pub(crate) fn new_trace_id(wide: bool) -> TraceId {
    #[cfg(test)]
    if let Some(id) = test_seam::next() {
        return id;
    }
    if wide {
        let [high, low] = draw::<2>();
        TraceId { high, low }
    } else {
        TraceId { high: 0, low: random_u64() }
    }
}

/// Deterministic trace ids for the crate's own tests (not compiled otherwise, so the hot
/// path pays nothing for it).
#[cfg(test)]
pub(crate) mod test_seam {
    use super::TraceId;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    thread_local! {
        static NEXT: RefCell<VecDeque<TraceId>> = const { RefCell::new(VecDeque::new()) };
    }

    /// The next trace ids this thread's new roots get, in order (the layer's tests, which
    /// read spans back through the receiver).
    #[cfg(feature = "receiver")]
    pub(crate) fn queue(ids: impl IntoIterator<Item = TraceId>) {
        NEXT.with(|n| n.borrow_mut().extend(ids));
    }

    pub(super) fn next() -> Option<TraceId> {
        NEXT.with(|n| n.borrow_mut().pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_from_1_to_16_or_32_hex_digits_of_either_case() {
        assert_eq!(parse_hex_u64("0", 16), Some(0));
        assert_eq!(parse_hex_u64("FfFf", 16), Some(0xffff));
        assert_eq!(parse_hex_u64("ffffffffffffffff", 16), Some(u64::MAX));
        for bad in ["", "+1", "-1", "0x1", " 1", "1 ", "1_0", "g", "10000000000000000", "é"] {
            assert_eq!(parse_hex_u64(bad, 16), None, "{bad:?}");
        }
        assert_eq!(TraceId::from_hex("1"), Some(TraceId::new(0, 1)));
        assert_eq!(TraceId::from_hex("10000000000000002"), Some(TraceId::new(1, 2)));
        assert_eq!(TraceId::from_hex(&"f".repeat(32)), Some(TraceId::new(u64::MAX, u64::MAX)));
        assert_eq!(TraceId::from_hex(&"f".repeat(33)), None);
        assert_eq!(TraceId::from_hex("ééééééééé"), None);
    }
    use std::collections::HashSet;

    #[test]
    fn ids_are_non_zero_and_distinct() {
        let ids: HashSet<u64> = (0..10_000).map(|_| new_span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn threads_draw_different_sequences() {
        let a: Vec<u64> = std::thread::spawn(|| (0..4).map(|_| random_u64()).collect()).join().unwrap();
        let b: Vec<u64> = std::thread::spawn(|| (0..4).map(|_| random_u64()).collect()).join().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn trace_ids_are_64_or_128_bit_and_narrow_ones_print_as_16_hex_digits() {
        assert_eq!(new_trace_id(false).high, 0);
        let wide = new_trace_id(true);
        assert_ne!(wide.high, 0);
        assert_eq!(TraceId::new(0, 0x1f).to_string(), "000000000000001f");
        assert!(!TraceId::default().is_valid());
    }

    #[test]
    fn hex_writer_and_parser_agree_with_std() {
        let mut values = vec![0, 1, 0xf, 0x10, u64::MAX, 1 << 63];
        values.extend((0..2_000).map(|i| random_u64() >> (i % 64)));
        for v in values {
            let mut out = [0u8; 16];
            hex16(v, &mut out);
            let text = hex_str(&out);
            assert_eq!(text, format!("{v:016x}"));
            assert_eq!(parse_hex_u64(text, 16), Some(v));
            let upper = format!("{v:X}");
            assert_eq!(parse_hex_u64(&upper, 16), Some(v), "{upper}");
            assert_eq!(parse_hex_u64(&upper, upper.len() - 1), None, "longer than max");
            let t = TraceId::new(v, v.rotate_left(7));
            let want = if v == 0 { format!("{:016x}", t.low) } else { format!("{v:016x}{:016x}", t.low) };
            assert_eq!(t.to_string(), want);
        }
        for bad in ["", "+1", "-1", "0x1", " 1", "1 ", "1_0", "g", "é", "10000000000000000"] {
            assert_eq!(parse_hex_u64(bad, 16), None, "{bad:?}");
        }
        assert_eq!(format!("{:>18}", TraceId::new(0, 1)), "  0000000000000001", "padding is honoured");
    }
}
