//! jaeger-layer: a `tracing_subscriber::Layer` that reports spans to Jaeger.
#![deny(missing_docs, unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![cfg_attr(docsrs, deny(rustdoc::broken_intra_doc_links))]

mod builder;
mod context;
mod error;
mod export;
mod fields;
mod id;
mod layer;
mod propagation;
mod sampler;
mod span_data;
mod span_ext;
mod stats;
mod thrift;
mod transport;

#[cfg(feature = "receiver")]
pub mod receiver;
#[cfg(feature = "testing")]
pub mod testing;

pub use builder::Builder;
pub use context::{Baggage, SpanContext};
pub use error::Error;
pub use export::ExporterGuard;
pub use id::TraceId;
pub use layer::JaegerLayer;
pub use propagation::{extract, ExtractError, ExtractErrorKind, Extractor, Injector, Propagator};
pub use sampler::{RemoteSampler, Sampler};
pub use span_data::{Log, RefType, SpanRef, Tag, TagValue};
pub use span_ext::{JaegerSpanExt, SetParentError, SetParentFromError};
pub use stats::Stats;
