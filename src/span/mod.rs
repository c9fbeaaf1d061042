//! A span's lifecycle, from creation to the record the exporter encodes: its ids and
//! context, its clock, the mapping of `tracing` fields and events onto Jaeger tags and logs,
//! and the pooled record that carries it to the exporter.

pub(crate) mod callsite;
pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod data;
pub(crate) mod id;
pub(crate) mod logs;
pub(crate) mod mapping;
pub(crate) mod record;
