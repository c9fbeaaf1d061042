//! Test your instrumentation: an in-process Jaeger agent and assertions on the spans it
//! received (feature `testing`).
//!
//! [`TestAgent::start`] binds a [`Receiver`] (Jaeger Thrift over UDP) and an
//! [`OtlpReceiver`] (OTLP/HTTP) on free loopback ports; [`TestAgent::layer_builder`] gives a
//! [`Builder`] already pointed at the first, [`TestAgent::otlp_layer_builder`] one pointed
//! at the second. Run the code under
//! test with that layer as the *thread's* subscriber (`with_default`, never a global one, so
//! tests stay independent), flush the guard, and [`TestAgent::wait_for`] the spans: a
//! [`Spans`] collection that finds spans by name, walks parents and children, and compares
//! the trace's shape with [`Spans::assert_tree`].
//!
//! # Example: a test of an instrumented function
//!
//! ```
//! use std::time::Duration;
//! use jaeger_layer::testing::TestAgent;
//! use jaeger_layer::TagValue;
//! use tracing_subscriber::prelude::*;
//!
//! #[tracing::instrument]
//! fn checkout(order_id: u64) {
//!     for item in ["book", "lamp"] {
//!         reserve(item);
//!     }
//! }
//!
//! #[tracing::instrument]
//! fn reserve(item: &str) {
//!     tracing::info!("reserved");
//! }
//!
//! #[test]
//! # fn _elided_outside_cargo_test() {}
//! fn checkout_reserves_every_item() {
//!     let agent = TestAgent::start();
//!     let (layer, guard) = agent.layer_builder("shop").build().unwrap();
//!     let subscriber = tracing_subscriber::registry().with(layer);
//!     tracing::subscriber::with_default(subscriber, || checkout(7));
//!     guard.flush(Duration::from_secs(5)).unwrap();
//!
//!     let spans = agent.wait_for(3, Duration::from_secs(5));
//!     spans.assert_tree(
//!         "
//!         checkout
//!           reserve
//!           reserve
//!         ",
//!     );
//!     assert_eq!(spans.tag("checkout", "order_id"), Some(&TagValue::Long(7)));
//!     let root = spans.root().unwrap();
//!     assert_eq!(spans.children_of(root).len(), 2);
//!     assert_eq!(spans.all_named("reserve")[1].tag("item"), Some(&TagValue::from("lamp")));
//!     assert!(spans.iter().all(|s| s.trace_id == root.trace_id && s.service_name == "shop"));
//! }
//! # checkout_reserves_every_item();
//! ```
//!
//! When an assertion fails, print [`Spans::render`] (or [`render_tree`]): the whole trace
//! with durations, tags and logs.
//!
//! # Spans over OTLP
//!
//! The agent collects spans from both of its receivers into one [`Spans`], so the same
//! assertions hold whichever protocol delivered them, and a test can mix services that
//! export over UDP with services (or other SDKs) that export OTLP to
//! [`TestAgent::otlp_endpoint`]. OTLP spans are translated as Jaeger shows them
//! ([`decode_otlp`](crate::receiver::decode_otlp)): the same operation names, parents and
//! typed attributes, plus the tags Jaeger adds (`otel.scope.name`, `span.kind`,
//! `otel.status_code`).
//!
//! ```no_run
//! # use std::time::Duration;
//! # use jaeger_layer::testing::TestAgent;
//! # use tracing_subscriber::prelude::*;
//! let agent = TestAgent::start();
//! let (layer, guard) = agent.otlp_layer_builder("shop").build().unwrap();
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     let _checkout = tracing::info_span!("checkout").entered();
//!     tracing::info_span!("reserve").in_scope(|| {});
//! });
//! guard.flush(Duration::from_secs(5)).unwrap();
//! agent.wait_for(2, Duration::from_secs(5)).assert_tree(
//!     "
//!     checkout
//!       reserve
//!     ",
//! );
//! assert_eq!(agent.otlp_receiver().spans().len(), 2);
//! ```

// The example shows `#[test]` because that is how it is written in a test file; a hidden
// line calls the function, so the doc test does run it.
#![allow(clippy::test_attr_in_doctest)]

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::builder::Builder;
use crate::layer::JaegerLayer;
use crate::receiver::{render, Arrivals, OtlpReceiver, ReceivedSpan, Receiver};
use crate::span::data::TagValue;
use crate::span::id::TraceId;

/// How often spans the layer has not been asked to flush go out to the test agent: short, so
/// [`TestAgent::wait_for`] also works in tests that do not flush the guard.
const TEST_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Renders spans as a terminal waterfall, one block per trace: a header (trace id, span
/// count, services, duration), then per span its operation, service, duration and a bar
/// whose offset and length show when it ran within the trace (as in Jaeger UI's timeline),
/// with its tags and logs one level deeper; error spans are marked `[error]`. Plain text, no
/// colour: [`receiver::render::waterfall`](crate::receiver::render::waterfall).
///
/// ```text
/// trace 4bf92f3577b34da6a3ce929d0e0e4736: 2 spans, 2 services (web, db), 10.00ms
/// GET /users (web)       10.00ms |████████████████████████████████████████|
///   tags: span.kind="server"
///   query (db) [error]    4.00ms |        ████████████████                |
///     tags: error=true
///     log +1.00ms: message="timeout"
/// ```
pub fn render_tree(spans: &[ReceivedSpan]) -> String {
    render::waterfall(spans, false)
}

// === impl TestAgent ===

/// A Jaeger agent for tests: a [`Receiver`] (Jaeger Thrift over UDP) and an
/// [`OtlpReceiver`] (OTLP/HTTP) on free `127.0.0.1` ports, and layer builders that export to
/// them. What either receives is one collection of spans ([`spans`](Self::spans),
/// [`wait_for`](Self::wait_for)). Dropping it stops both receiving threads.
#[derive(Debug)]
pub struct TestAgent {
    receiver: Receiver,
    otlp: OtlpReceiver,
    arrivals: Arc<Arrivals>,
}

impl TestAgent {
    /// Starts an agent on `127.0.0.1:0` (a free UDP port and a free TCP port).
    ///
    /// # Panics
    ///
    /// When no loopback socket can be bound; use [`try_start`](Self::try_start) to get
    /// the error instead.
    pub fn start() -> TestAgent {
        TestAgent::try_start().unwrap_or_else(|e| panic!("TestAgent: cannot bind 127.0.0.1:0: {e}"))
    }

    /// Starts an agent on `127.0.0.1:0` (a free UDP port and a free TCP port).
    ///
    /// # Errors
    ///
    /// When a socket cannot be bound or a receiving thread cannot be spawned.
    pub fn try_start() -> io::Result<TestAgent> {
        let arrivals = Arc::new(Arrivals::default());
        Ok(TestAgent {
            receiver: Receiver::bind_notifying("127.0.0.1:0", Some(Arc::clone(&arrivals)))?,
            otlp: OtlpReceiver::bind_with(
                "127.0.0.1:0",
                crate::receiver::otlp_max_body(),
                Some(Arc::clone(&arrivals)),
            )?,
            arrivals,
        })
    }

    /// The UDP agent's address as `host:port`, for [`Builder::agent_endpoint`].
    pub fn endpoint(&self) -> String {
        self.receiver.local_addr().to_string()
    }

    /// The OTLP/HTTP base URL, `http://127.0.0.1:PORT`, for [`Builder::otlp_endpoint`] or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (exporters append `/v1/traces`).
    pub fn otlp_endpoint(&self) -> String {
        self.otlp.endpoint()
    }

    /// A layer builder with `service` as service name, exporting to this agent over UDP, and
    /// a 50 ms flush interval (so spans arrive even when a test does not flush the guard).
    /// Everything else is the builder's default and can still be changed.
    pub fn layer_builder(&self, service: impl Into<String>) -> Builder {
        JaegerLayer::builder()
            .service_name(service)
            .agent_endpoint(self.endpoint())
            .flush_interval(TEST_FLUSH_INTERVAL)
    }

    /// Like [`layer_builder`](Self::layer_builder), exporting over OTLP/HTTP to
    /// [`otlp_endpoint`](Self::otlp_endpoint) instead.
    pub fn otlp_layer_builder(&self, service: impl Into<String>) -> Builder {
        JaegerLayer::builder()
            .service_name(service)
            .otlp_endpoint(self.otlp_endpoint())
            .flush_interval(TEST_FLUSH_INTERVAL)
    }

    /// Waits until at least `n` spans arrived (over either protocol), then returns all spans
    /// received so far.
    ///
    /// Flush the [`ExporterGuard`](crate::ExporterGuard) first to make the wait short.
    ///
    /// # Panics
    ///
    /// When fewer than `n` spans arrived within `timeout`; the message shows those that did.
    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Spans {
        let deadline = Instant::now() + timeout;
        let spans = loop {
            let seen = self.arrivals.generation();
            let spans = self.spans();
            let left = deadline.saturating_duration_since(Instant::now());
            if spans.len() >= n || left.is_zero() {
                break spans;
            }
            self.arrivals.wait_past(seen, left);
        };
        if spans.len() < n {
            panic!(
                "TestAgent: expected at least {n} spans within {timeout:?}, received {} \
                 ({} undecodable datagrams, {} undecodable OTLP requests):\n{}",
                spans.len(),
                self.receiver.decode_errors(),
                self.otlp.decode_errors(),
                spans.render()
            );
        }
        spans
    }

    /// All spans received so far, without waiting: those that came over UDP, then those
    /// that came over OTLP, each in arrival order.
    pub fn spans(&self) -> Spans {
        let mut spans = self.receiver.spans();
        spans.extend(self.otlp.spans());
        Spans::new(spans)
    }

    /// The UDP receiver: batches, process tags, datagram sizes, decode errors.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The OTLP/HTTP receiver: batches (one per resource), request and decode error counts.
    pub fn otlp_receiver(&self) -> &OtlpReceiver {
        &self.otlp
    }
}

// === impl Spans ===

/// Received spans, with look-ups by name and relation. Dereferences to a slice of
/// [`ReceivedSpan`] in arrival order.
///
/// Relations are matched by trace id and span id, so spans of several traces (or several
/// services of one trace) can be mixed. Spans of one name are ordered by start time.
#[derive(Clone, PartialEq)]
pub struct Spans {
    spans: Vec<ReceivedSpan>,
}

impl Spans {
    /// Wraps spans (for instance [`Receiver::spans`]).
    pub fn new(spans: Vec<ReceivedSpan>) -> Spans {
        Spans { spans }
    }

    /// The first started span named `operation`.
    pub fn by_name(&self, operation: &str) -> Option<&ReceivedSpan> {
        self.all_named(operation).into_iter().next()
    }

    /// Every span named `operation`, by start time.
    pub fn all_named(&self, operation: &str) -> Vec<&ReceivedSpan> {
        by_start(self.spans.iter().filter(|s| s.operation_name == operation).collect())
    }

    /// The spans whose parent is `span`, by start time.
    pub fn children_of(&self, span: &ReceivedSpan) -> Vec<&ReceivedSpan> {
        by_start(
            self.spans
                .iter()
                .filter(|s| s.trace_id == span.trace_id && s.parent_id == span.span_id && s.parent_id != 0)
                .collect(),
        )
    }

    /// The parent of `span`, if it is among these spans.
    pub fn parent_of(&self, span: &ReceivedSpan) -> Option<&ReceivedSpan> {
        if span.parent_id == 0 {
            return None;
        }
        self.spans.iter().find(|s| s.trace_id == span.trace_id && s.span_id == span.parent_id)
    }

    /// The spans without a parent among these spans (true roots, and spans whose parent is
    /// in another process that did not report here), by start time.
    pub fn roots(&self) -> Vec<&ReceivedSpan> {
        let ids: HashSet<(TraceId, u64)> = self.spans.iter().map(|s| (s.trace_id, s.span_id)).collect();
        let has_parent = |s: &ReceivedSpan| s.parent_id != 0 && ids.contains(&(s.trace_id, s.parent_id));
        by_start(self.spans.iter().filter(|s| !has_parent(s)).collect())
    }

    /// The root span, when there is exactly one (see [`roots`](Self::roots)).
    pub fn root(&self) -> Option<&ReceivedSpan> {
        match self.roots().as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The value of tag `key` on the first started span named `operation`.
    pub fn tag(&self, operation: &str, key: &str) -> Option<&TagValue> {
        self.by_name(operation)?.tag(key)
    }

    /// The distinct trace ids, in order of first arrival.
    pub fn trace_ids(&self) -> Vec<TraceId> {
        let mut ids = Vec::new();
        for s in &self.spans {
            if !ids.contains(&s.trace_id) {
                ids.push(s.trace_id);
            }
        }
        ids
    }

    /// The operation names as an indented tree: two spaces per level, children by start
    /// time, traces by start time.
    ///
    /// ```text
    /// checkout
    ///   reserve
    ///   charge
    ///     fraud_check
    /// ```
    pub fn tree(&self) -> String {
        render::names(&self.spans)
    }

    /// Asserts that [`tree`](Self::tree) is `expected`. Blank lines around `expected` and
    /// the indentation common to its lines are ignored, so it can be written indented in
    /// the test.
    ///
    /// # Panics
    ///
    /// When the trees differ; the message shows both and the full [`render`](Self::render).
    #[track_caller]
    pub fn assert_tree(&self, expected: &str) {
        let expected = dedent(expected);
        let actual = self.tree();
        if actual != expected {
            panic!(
                "span tree mismatch\n--- expected\n{expected}--- actual\n{actual}--- received spans\n{}",
                self.render()
            );
        }
    }

    /// The spans as a waterfall with durations, tags and logs: [`render_tree`].
    pub fn render(&self) -> String {
        render_tree(&self.spans)
    }

    /// The spans, in arrival order.
    pub fn into_vec(self) -> Vec<ReceivedSpan> {
        self.spans
    }
}

impl Deref for Spans {
    type Target = [ReceivedSpan];

    fn deref(&self) -> &[ReceivedSpan] {
        &self.spans
    }
}

impl<'a> IntoIterator for &'a Spans {
    type Item = &'a ReceivedSpan;
    type IntoIter = std::slice::Iter<'a, ReceivedSpan>;

    fn into_iter(self) -> Self::IntoIter {
        self.spans.iter()
    }
}

/// The tree, which is what a failing test wants to see first.
impl fmt::Debug for Spans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spans({} spans)\n{}", self.spans.len(), self.tree())
    }
}

fn by_start(mut spans: Vec<&ReceivedSpan>) -> Vec<&ReceivedSpan> {
    spans.sort_by_key(|s| s.start_time_us);
    spans
}

/// Drops leading and trailing blank lines and the indentation common to the other lines;
/// every line ends with `\n`.
fn dedent(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| !l.is_empty()).map_or(first, |i| i + 1);
    let body = &lines[first..last];
    let margin =
        body.iter().filter(|l| !l.is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    body.iter().map(|l| format!("{}\n", l.get(margin..).unwrap_or(""))).collect()
}

#[cfg(test)]
mod tests;
