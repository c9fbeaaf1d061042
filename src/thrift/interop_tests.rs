//! Interop with jaeger-client-python (facts §13); filled in below.
