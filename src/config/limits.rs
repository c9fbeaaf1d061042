//! The largest and smallest values the settings take: above or below them a setting could
//! only exhaust memory or lose every span, so `build()` refuses it.

/// The largest collector request body; a batch is split before it grows past this.
pub(crate) const COLLECTOR_MAX_BODY: usize = 4 << 20;
/// The largest UDP payload over IPv4 (65535 − 8 UDP header − 20 IP header).
pub(crate) const MAX_UDP_PAYLOAD: usize = 65_507;
/// Below this not even one small span fits next to the envelope and process.
pub(crate) const MIN_PACKET_SIZE: usize = 256;
/// The largest queue: 2^24 slots. The queue's slots (16 bytes each) are allocated up front,
/// so this is 256 MiB before a single span.
pub(crate) const MAX_QUEUE_CAPACITY: usize = 1 << 24;
/// The longest tag value: a longer one fits in no collector request either.
pub(crate) const MAX_TAG_VALUE_LENGTH: usize = COLLECTOR_MAX_BODY;
/// The most logs per span: more do not fit in a collector request (each log encodes to at
/// least 20 bytes in the binary protocol).
pub(crate) const MAX_LOGS_PER_SPAN: usize = 1 << 18;
/// The most spans per collector request: more small spans do not fit in one body.
pub(crate) const MAX_COLLECTOR_BATCH_SIZE: usize = 1 << 16;
