// The README is the crate's guide (as tracing-appender's and tracing-opentelemetry's are):
// one text for GitHub, crates.io and docs.rs, and its code blocks run as doc tests.
#![doc = include_str!("../README.md")]
#![deny(missing_docs, unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![cfg_attr(docsrs, deny(rustdoc::broken_intra_doc_links))]

mod config;
mod error;
mod export;
mod layer;
mod propagation;
mod sampler;
mod span;
#[cfg(test)]
mod test_support;
mod thrift;
mod transport;

#[cfg(feature = "receiver")]
pub mod receiver;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::builder::{AgentProtocol, Builder};
pub use error::{BuildError, BuildErrorKind, Error, FlushError, ShutdownError};
pub use export::stats::Stats;
pub use export::{ExporterGuard, StatsHandle};
pub use layer::span_ext::{JaegerSpanExt, SetParentError, SetParentFromError};
pub use layer::JaegerLayer;
pub use propagation::{
    extract, CarrierFormat, ExtractError, ExtractErrorKind, Extractor, HttpHeaders, Injector, Propagator,
    TextMap,
};
pub use sampler::{RemoteSampler, Sampler};
pub use span::context::{Baggage, SpanContext};
pub use span::data::{Log, RefType, SpanRef, Tag, TagValue};
pub use span::id::TraceId;

/// Hooks for this crate's own benches; not part of the API.
#[doc(hidden)]
pub use export::bench as __bench;
