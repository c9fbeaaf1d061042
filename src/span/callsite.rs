//! What is the same for every span of a callsite, encoded once: the metadata tags
//! (`code.filepath`, `code.lineno`, `code.namespace`, `level`) that
//! [`mapping::metadata_tags`](super::mapping::metadata_tags) gives every span, which an
//! encoder on the exporter thread writes once per callsite and then copies.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tracing_core::Metadata;

/// At most this many callsites, and this many bytes of their encoded tags, are kept; past
/// that, a new callsite's tags are encoded per span, as without the cache.
const MAX_CALLSITES: usize = 4096;
const MAX_BYTES: usize = 1 << 20;

/// Encoded bytes per callsite, keyed by the address of its `&'static Metadata`, which is
/// unique to the callsite and never freed. One encoder's cache holds one encoding.
#[derive(Default)]
pub(crate) struct CallsiteCache {
    index: HashMap<usize, (u32, u32), BuildHasherDefault<AddressHasher>>,
    bytes: Vec<u8>,
}

impl CallsiteCache {
    /// Appends to `buf` what `encode` writes for `meta`'s callsite: copied when it was
    /// encoded before, else encoded (and kept, within the bounds).
    #[inline]
    pub(crate) fn write(
        &mut self,
        buf: &mut Vec<u8>,
        meta: &'static Metadata<'static>,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        let key = std::ptr::from_ref(meta) as usize;
        if let Some(&(at, len)) = self.index.get(&key) {
            buf.extend_from_slice(&self.bytes[at as usize..(at + len) as usize]);
            return;
        }
        let start = buf.len();
        encode(buf);
        let len = buf.len() - start;
        if self.index.len() < MAX_CALLSITES && self.bytes.len() + len <= MAX_BYTES {
            self.index.insert(key, (self.bytes.len() as u32, len as u32));
            self.bytes.extend_from_slice(&buf[start..]);
        }
    }

    /// How many callsites are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

/// A hasher for addresses (Fibonacci hashing: a multiply and a rotation). The keys are
/// distinct addresses of statics, not input an attacker chooses.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fixtures::{real_metadata, BARE_METADATA};

    #[test]
    fn a_callsite_is_encoded_once_and_copied_after() {
        let mut cache = CallsiteCache::default();
        let mut encoded = 0;
        let mut out = Vec::new();
        for meta in [real_metadata(), &BARE_METADATA, real_metadata(), real_metadata(), &BARE_METADATA] {
            let mut one = Vec::new();
            cache.write(&mut one, meta, |b| {
                encoded += 1;
                b.extend_from_slice(meta.name().as_bytes());
            });
            assert_eq!(one, meta.name().as_bytes());
            out.push(one);
        }
        assert_eq!((encoded, cache.len()), (2, 2));
    }
}
