//! Interop with an implementation we did not write, jaeger-client-python (PyPI), through
//! the public API only: its Tracer's UDP datagrams decoded by our [`Receiver`], and
//! Jaeger-format propagation in both directions.
//!
//! Needs the venv made by `tests/interop/setup-venv.sh`; without it each test prints a note
//! and passes, unless `JAEGER_LAYER_REQUIRE_INTEROP=1` is set (then it fails).
//!
//! [`Receiver`]: jaeger_layer::receiver::Receiver

mod propagation;
mod python;
#[cfg(feature = "receiver")]
mod receiver;
