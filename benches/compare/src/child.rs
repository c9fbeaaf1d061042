//! One measurement, run in a child process so that each tool has its own globals (fastrace's
//! collector, OpenTelemetry's error handler) and its own peak RSS. Results go to stdout as
//! `R <key> <values...>` lines that the parent parses.

use std::time::{Duration, Instant};

use crate::sink::SinkClient as Sink;
use crate::tools::{self, Tool, Workload};

/// Sizes of one run; `quick` (smoke test) divides them.
pub struct Sizes {
    pub burst_spans: u64,
    pub bursts_per_rep: u64,
    pub reps: u64,
    pub saturated_spans: u64,
    pub rss_spans_per_thread: u64,
}

impl Sizes {
    pub fn get(quick: bool) -> Sizes {
        let d = if quick { 10 } else { 1 };
        Sizes {
            burst_spans: 1000,
            bursts_per_rep: 10 / d.min(5),
            reps: if quick { 2 } else { 5 },
            saturated_spans: 300_000 / d,
            rss_spans_per_thread: 200_000 / d,
        }
    }
}

fn units(w: Workload, spans: u64) -> u64 {
    spans.div_ceil(w.spans_per_unit())
}

/// Waits (untimed) until the tool's exporter has delivered `expected` spans to the sink, or
/// delivery stalled for `idle`.
fn settle(tool: &dyn Tool, sink: &Sink, expected: u64, idle: Duration, max: Duration) {
    if tool.exports() {
        tool.flush();
        sink.wait_for(expected, idle, max);
    }
}

fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or(0)
}

pub fn run(tool_name: &str, phase: &str, agent: &str, otlp: &str, sizes: &Sizes) {
    let sink = Sink::new(agent.parse().expect("agent address"), otlp.parse().expect("OTLP address"));
    let tool = tools::make(tool_name, sink.addr(), sink.otlp_addr());
    match phase {
        "keepup" => keepup(&*tool, &sink, sizes),
        "sat-a" => saturated(&*tool, &sink, Workload::A, sizes),
        "sat-b" => saturated(&*tool, &sink, Workload::B, sizes),
        "rss" => rss(&*tool, &sink, sizes),
        other => panic!("unknown phase {other}"),
    }
}

fn print_drops(tool: &dyn Tool, created: u64, before: u64) {
    if let Some((n, text)) = tool.final_drops(created) {
        println!("R drops {} {}", n - before, text);
    }
}

/// Timed bursts, each followed by an untimed flush + wait: the exporter keeps up.
fn keepup(tool: &dyn Tool, sink: &Sink, sizes: &Sizes) {
    let mut created = 0u64;
    for w in [Workload::A, Workload::B] {
        let n = units(w, sizes.burst_spans);
        let spans = n * w.spans_per_unit();
        let (sink_before, created_before) = (sink.spans(), created);
        let mut ns = Vec::new();
        let mut i = 0u64;
        tool.with_context(&mut || {
            let mut burst = |created: &mut u64| {
                let start = Instant::now();
                for _ in 0..n {
                    tool.run(w, i);
                    i += 1;
                }
                let t = start.elapsed();
                *created += spans;
                settle(
                    tool,
                    sink,
                    sink_before + (*created - created_before),
                    Duration::from_millis(300),
                    Duration::from_secs(3),
                );
                t
            };
            burst(&mut created); // warm-up
            for _ in 0..sizes.reps {
                let mut t = Duration::ZERO;
                for _ in 0..sizes.bursts_per_rep {
                    t += burst(&mut created);
                }
                ns.push(t.as_nanos() as f64 / (spans * sizes.bursts_per_rep) as f64);
            }
        });
        let l = w.label();
        println!("R ns_{l} {}", ns.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(" "));
        println!("R created_{l} {}", created - created_before);
        println!("R delivered_{l} {}", sink.spans() - sink_before);
    }
    print_drops(tool, created, 0);
}

/// At most this many workload units are run after a saturated loop for a tool that sends
/// only on the thread's next span.
const MAX_NUDGES: u64 = 300;

/// One long unbroken loop; then (untimed) flush and wait for what still arrives.
fn saturated(tool: &dyn Tool, sink: &Sink, w: Workload, sizes: &Sizes) {
    let warm = units(w, sizes.burst_spans);
    let n = units(w, sizes.saturated_spans);
    let mut i = 0u64;
    let mut elapsed = Duration::ZERO;
    let mut created = 0;
    let mut drops_before = 0;
    let mut sink_before = 0;
    tool.with_context(&mut || {
        for _ in 0..warm {
            tool.run(w, i);
            i += 1;
        }
        created = warm * w.spans_per_unit();
        settle(tool, sink, created, Duration::from_millis(300), Duration::from_secs(3));
        drops_before = tool.drops(created).map_or(0, |d| d.0);
        sink_before = sink.spans();
        let start = Instant::now();
        for _ in 0..n {
            tool.run(w, i);
            i += 1;
        }
        elapsed = start.elapsed();
        created += n * w.spans_per_unit();
        settle(
            tool,
            sink,
            sink_before + n * w.spans_per_unit(),
            Duration::from_secs(1),
            Duration::from_secs(30),
        );
    });
    let spans = n * w.spans_per_unit();
    let delivered = sink.spans() - sink_before;

    if tool.holds_until_next_send() {
        // fastrace parks what overflows a thread's channel in that thread's deque, sent only
        // when the thread sends again (at most a channel's worth each time): show what
        // arrives once the thread creates more spans, until that brings nothing more.
        let mut extra = 0;
        let mut last = delivered;
        tool.with_context(&mut || {
            for k in 0..MAX_NUDGES {
                tool.run(w, i + k);
                extra += w.spans_per_unit();
                settle(tool, sink, u64::MAX, Duration::from_millis(100), Duration::from_secs(3));
                let now = sink.spans() - sink_before;
                if now <= last + w.spans_per_unit() {
                    break;
                }
                last = now;
            }
        });
        println!("R delivered_after_nudge {} {extra}", sink.spans() - sink_before);
    }
    println!("R ns {:.1}", elapsed.as_nanos() as f64 / spans as f64);
    println!("R created {spans}");
    println!("R delivered {delivered}");
    print_drops(tool, created, drops_before);
}

/// Workload b on two producer threads, unbroken; peak RSS of this process.
fn rss(tool: &dyn Tool, sink: &Sink, sizes: &Sizes) {
    let per_thread = units(Workload::B, sizes.rss_spans_per_thread);
    println!("R hwm_before_kib {}", vm_kib("VmHWM:"));
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            s.spawn(move || {
                tool.with_context(&mut || {
                    for k in 0..per_thread {
                        tool.run(Workload::B, t * per_thread + k);
                    }
                })
            });
        }
    });
    let elapsed = start.elapsed();
    let spans = 2 * per_thread * tools::SPANS_B;
    tool.with_context(&mut || {
        settle(tool, sink, spans, Duration::from_secs(1), Duration::from_secs(30));
    });
    println!("R ns {:.1}", elapsed.as_nanos() as f64 / spans as f64);
    println!("R created {spans}");
    println!("R delivered {}", sink.spans());
    println!("R hwm_kib {}", vm_kib("VmHWM:"));
    print_drops(tool, spans, 0);
}
