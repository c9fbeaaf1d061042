//! Configuration: the [`Builder`](builder::Builder) and its validation, and `from_env`'s
//! reading of the `JAEGER_*` variables.

pub(crate) mod builder;
pub(crate) mod env;
mod limits;
pub(crate) mod otel_env;
pub(crate) mod otlp;
