//! Framework recipes for `jaeger-layer`, run as examples of this package:
//! `cargo run -p jaeger-layer-recipes --example axum_server`.
