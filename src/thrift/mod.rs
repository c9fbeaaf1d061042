//! Jaeger's Thrift structs on the wire, without generated code: [`writer`] encodes what the
//! exporter sends (a small specialised compact/binary writer, for speed). The receiver decodes
//! it with the `thrift` crate's protocols (`receiver::decode`), which also serve as the
//! test-only reference encoder (`reference`) that `writer` is checked against byte for byte.

pub(crate) mod writer;

#[cfg(test)]
pub(crate) mod reference;
#[cfg(all(test, feature = "receiver"))]
mod tests;
