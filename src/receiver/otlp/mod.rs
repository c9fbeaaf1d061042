//! The OTLP side of the receiver: the protobuf messages, their translation into the
//! Jaeger model, and the OTLP/HTTP server.

pub(crate) mod proto;
pub(crate) mod server;
pub(crate) mod translate;

#[cfg(test)]
pub(crate) mod tests;
