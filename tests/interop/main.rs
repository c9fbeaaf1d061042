//! Interop with implementations we did not write, jaeger-client-python and
//! opentelemetry-proto (PyPI), through the public API only: its Tracer's UDP datagrams
//! decoded by our [`Receiver`], Jaeger-format propagation in both directions, and OTLP
//! requests built by the official Python classes decoded by our `decode_otlp`.
//!
//! Needs the venv made by `tests/interop/setup-venv.sh`; without it each test prints a note
//! and passes, unless `JAEGER_LAYER_REQUIRE_INTEROP=1` is set (then it fails).
//!
//! [`Receiver`]: jaeger_layer::receiver::Receiver

#[cfg(feature = "receiver")]
mod otlp;
mod propagation;
mod python;
#[cfg(feature = "receiver")]
mod receiver;
