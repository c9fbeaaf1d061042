// The README is the crate's guide (as tracing-appender's and tracing-opentelemetry's are):
// one text for GitHub, crates.io and docs.rs, and its code blocks run as doc tests. Two of
// them use the `testing` feature (docs.rs builds with all features): without it the crate
// docs are a pointer to the README.
#![cfg_attr(feature = "testing", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "testing"),
    doc = "A `tracing_subscriber::Layer` that reports the spans of any program instrumented \
           with `tracing` to Jaeger. The guide is the README (built into these docs with the \
           `testing` feature, as on docs.rs)."
)]
#![deny(missing_docs, unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![cfg_attr(docsrs, deny(rustdoc::broken_intra_doc_links))]
// docs.rs builds with `--cfg docsrs` on nightly (Cargo.toml, `package.metadata.docs.rs`) to
// label feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod export;
mod layer;
#[cfg(feature = "otlp")]
mod otlp;
mod propagation;
mod sampler;
mod span;
#[cfg(test)]
mod test_support;
mod thrift;
mod transport;

#[cfg(feature = "receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "receiver")))]
pub mod receiver;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use config::builder::{AgentProtocol, Builder};
pub use config::otlp::Compression;
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

/// Hooks for this repository's benches (feature `__bench`, unstable); not part of the API.
#[cfg(feature = "__bench")]
#[doc(hidden)]
pub use export::bench as __bench;
