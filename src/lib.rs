//! jaeger-layer: a `tracing_subscriber::Layer` that reports spans to Jaeger.
#![deny(missing_docs, unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![cfg_attr(docsrs, deny(rustdoc::broken_intra_doc_links))]

mod context;
mod error;
mod id;
mod propagation;
mod span_data;
mod stats;

pub use context::{Baggage, SpanContext};
pub use error::Error;
pub use id::TraceId;
pub use propagation::{extract, ExtractError, ExtractErrorKind, Extractor, Injector, Propagator};
pub use span_data::{Log, RefType, SpanRef, Tag, TagValue};
pub use stats::Stats;
