//! OTLP/HTTP export (feature `otlp`): the protobuf encoding of spans (`encode`) and the
//! batcher that groups them into `ExportTraceServiceRequest` bodies under a size bound
//! (`batch`), for the transport in `transport::otlp`.

pub(crate) mod batch;
pub(crate) mod encode;
pub(crate) mod pipeline;
#[cfg(feature = "__bench")]
pub(crate) mod prost_path;
#[cfg(test)]
mod tests;

/// What became of one OTLP request.
#[derive(Debug)]
pub(crate) enum Export {
    /// 2xx: the server took the request. `rejected` is `partial_success.rejected_spans` (0
    /// when absent), with its `error_message`.
    Accepted {
        /// Spans the server says it rejected.
        rejected: u64,
        /// The server's explanation, if it gave one.
        message: Option<String>,
    },
    /// Not delivered: a status that must not be retried, retries exhausted within the
    /// timeout, a response too large to read.
    Failed(
        // The transport says it on stderr; kept for the tests and `Debug`.
        #[allow(dead_code)] std::io::Error,
    ),
    /// A timed-out shutdown gave up on the exporter between attempts: its spans are counted
    /// as abandoned already.
    GaveUp,
    /// Taken by the sender thread (`pipeline`), which accounts for the spans when it
    /// knows what became of the request.
    Handed,
}

/// Delivers one OTLP request body (`transport::otlp`; the tests' fakes).
pub(crate) trait OtlpSend: Send {
    /// Sends `body`, retrying as the OTLP spec says; `give_up` turns true when a timed-out
    /// shutdown abandoned the exporter, and the transport then stops at once.
    fn export(&mut self, body: &[u8], give_up: &dyn Fn() -> bool) -> Export;
}
