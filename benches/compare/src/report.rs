//! Aggregates the children's outputs (medians) and writes RESULTS.md and the SVG chart.

use std::fmt::Write as _;
use std::time::Duration;

use crate::tools::label;
use crate::Output;

pub struct Machine {
    lines: Vec<(String, String)>,
}

fn sh(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("({cmd}: {e})"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or("unknown".into(), |k| format!("{:.1} GiB", k as f64 / (1 << 20) as f64));
    let lines = vec![
        ("date".into(), sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
        ("nproc".into(), sh("nproc", &[])),
        ("CPU".into(), model),
        ("memory".into(), mem),
        ("kernel".into(), sh("uname", &["-sr"])),
        ("rustc".into(), sh("rustc", &["--version"])),
        ("load average at start (1/5/15 min)".into(), loadavg()),
    ];
    Machine { lines }
}

pub struct Results {
    machine: Machine,
    quick: bool,
    runs: Vec<(String, String, Output)>,
    pub total_time: Duration,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn num(o: &Output, key: &str) -> Option<f64> {
    o.get(key)?.split_whitespace().next()?.parse().ok()
}

fn pct(delivered: f64, created: f64) -> String {
    if created == 0.0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * delivered / created)
    }
}

/// One table row.
struct Row {
    ns: Option<f64>,
    range: String,
    delivered: String,
    drops: String,
    /// Per run: created − delivered − drops, spans lost (or held) that nobody counted.
    unaccounted: String,
}

fn unaccounted(created: f64, delivered: f64, drops: f64) -> u64 {
    (created - delivered - drops).max(0.0) as u64
}

/// A run's unaccounted count, with the datagrams the sink's socket dropped, if any (then the
/// loss is the sink's, not the tool's).
fn unaccounted_run(o: &Output, created: f64, delivered: f64) -> String {
    let n = unaccounted(created, delivered, num(o, "drops").unwrap_or(0.0));
    match num(o, "sink_kernel_drops") {
        Some(k) if k > 0.0 => format!("{n} (sink socket dropped {k:.0} datagrams)"),
        _ => n.to_string(),
    }
}

fn join_str(v: &[String]) -> String {
    if v.is_empty() {
        "–".into()
    } else {
        v.join(" / ")
    }
}

const WORKLOADS: [(&str, &str); 2] =
    [("a", "a) root span, 3 fields"), ("b", "b) root + 10 children, 1 event each")];

impl Results {
    pub fn new(machine: Machine, quick: bool) -> Results {
        Results { machine, quick, runs: Vec::new(), total_time: Duration::ZERO }
    }

    pub fn add(&mut self, tool: &str, phase: &str, out: Output) {
        self.runs.push((tool.into(), phase.into(), out));
    }

    /// Records the end of the measurements.
    pub fn finish(&mut self, total: Duration) {
        self.total_time = total;
        self.machine.lines.push(("load average at end (1/5/15 min)".into(), loadavg()));
    }

    /// Everything measured, as tab-separated lines, so the report can be written again from
    /// the same data (`--from-raw`).
    pub fn to_raw(&self) -> String {
        let mut s = format!("quick\t{}\ntotal_secs\t{:.1}\n", self.quick, self.total_time.as_secs_f64());
        for (k, v) in &self.machine.lines {
            let _ = writeln!(s, "machine\t{k}\t{v}");
        }
        for (i, (tool, phase, o)) in self.runs.iter().enumerate() {
            let mut keys: Vec<_> = o.keys().collect();
            keys.sort();
            for k in keys {
                let _ = writeln!(s, "run\t{i}\t{tool}\t{phase}\t{k}\t{}", o[k]);
            }
        }
        s
    }

    /// Reads what `to_raw` wrote; returns the results and the tools in order of appearance.
    pub fn from_raw(text: &str) -> (Results, Vec<String>) {
        let mut r = Results::new(Machine { lines: Vec::new() }, false);
        let mut tools: Vec<String> = Vec::new();
        let mut current: Option<usize> = None;
        for line in text.lines() {
            let f: Vec<&str> = line.splitn(6, '\t').collect();
            match f.as_slice() {
                ["quick", v] => r.quick = *v == "true",
                ["total_secs", v] => r.total_time = Duration::from_secs_f64(v.parse().unwrap_or(0.0)),
                ["machine", k, v] => r.machine.lines.push((k.to_string(), v.to_string())),
                ["run", i, tool, phase, k, v] => {
                    let i: usize = i.parse().unwrap_or(0);
                    if current != Some(i) {
                        r.runs.push((tool.to_string(), phase.to_string(), Output::new()));
                        current = Some(i);
                    }
                    r.runs.last_mut().unwrap().2.insert(k.to_string(), v.to_string());
                    if !tools.iter().any(|t| t == tool) {
                        tools.push(tool.to_string());
                    }
                }
                _ => {}
            }
        }
        (r, tools)
    }

    fn outputs<'a>(&'a self, tool: &'a str, phase: &'a str) -> impl Iterator<Item = &'a Output> + 'a {
        self.runs.iter().filter(move |(t, p, _)| t == tool && p == phase).map(|(_, _, o)| o)
    }

    fn keepup(&self, tool: &str, w: &str) -> Row {
        let mut ns = Vec::new();
        let (mut created, mut delivered) = (0.0, 0.0);
        let mut drops = Vec::new();
        let mut lost = Vec::new();
        for o in self.outputs(tool, "keepup") {
            let sum =
                |k: &str| num(o, &format!("{k}_a")).unwrap_or(0.0) + num(o, &format!("{k}_b")).unwrap_or(0.0);
            lost.push(unaccounted_run(o, sum("created"), sum("delivered")));
            if let Some(v) = o.get(&format!("ns_{w}")) {
                ns.extend(v.split_whitespace().filter_map(|x| x.parse::<f64>().ok()));
            }
            created += num(o, &format!("created_{w}")).unwrap_or(0.0);
            delivered += num(o, &format!("delivered_{w}")).unwrap_or(0.0);
            if let Some(d) = num(o, "drops") {
                drops.push(d as u64);
            }
        }
        let range = range(&ns);
        let exported = tool != "floor";
        Row {
            ns: median(ns),
            range,
            delivered: if exported { pct(delivered, created) } else { "–".into() },
            // Keep-up runs count drops over both workloads of a child: shown once per run.
            drops: if exported { join(&drops) } else { "–".into() },
            unaccounted: if exported { join_str(&lost) } else { "–".into() },
        }
    }

    fn saturated(&self, tool: &str, w: &str) -> Row {
        let phase = format!("sat-{w}");
        let runs: Vec<&Output> = self.outputs(tool, &phase).collect();
        let ns: Vec<f64> = runs.iter().filter_map(|o| num(o, "ns")).collect();
        let delivered: Vec<f64> =
            runs.iter().filter_map(|o| Some(100.0 * num(o, "delivered")? / num(o, "created")?)).collect();
        // fastrace only: what had arrived once the thread sent a few more spans (those
        // spans themselves subtracted).
        let late: Vec<f64> = runs
            .iter()
            .filter_map(|o| {
                let mut v = o.get("delivered_after_nudge")?.split_whitespace().map(|x| x.parse::<f64>().ok());
                let (after, extra) = (v.next()??, v.next()??);
                Some(100.0 * (after - extra) / num(o, "created")?)
            })
            .collect();
        let drops: Vec<u64> = runs.iter().filter_map(|o| num(o, "drops").map(|d| d as u64)).collect();
        let lost: Vec<String> = runs
            .iter()
            .filter_map(|o| Some(unaccounted_run(o, num(o, "created")?, num(o, "delivered")?)))
            .collect();
        let exported = tool != "floor";
        Row {
            unaccounted: if exported { join_str(&lost) } else { "–".into() },
            range: range(&ns),
            ns: median(ns),
            delivered: match (median(delivered), median(late)) {
                (Some(d), Some(l)) if exported => format!("{d:.1} % ({l:.1} % once the thread sends again)"),
                (Some(d), None) if exported => format!("{d:.1} %"),
                _ => "–".into(),
            },
            drops: if exported { join(&drops) } else { "–".into() },
        }
    }

    pub fn markdown(&self, tools: &[String]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# jaeger-layer and its peers, side by side\n");
        let _ = writeln!(
            s,
            "Written by `cd benches/compare && cargo run --release{}` (README.md there says what each \
             column means and lists the caveats). All numbers below come from this one invocation \
             ({:.0} s); the machine is shared and noisy, so compare ratios, not absolute numbers.\n",
            if self.quick { " -- --quick" } else { "" },
            self.total_time.as_secs_f64()
        );
        if self.quick {
            let _ = writeln!(s, "**Smoke-test sizes (`--quick`): not a measurement.**\n");
        }
        let _ = writeln!(s, "## Machine\n");
        for (k, v) in &self.machine.lines {
            let _ = writeln!(s, "- {k}: {v}");
        }
        let _ = writeln!(s, "- versions (Cargo.lock): {}\n", versions());

        let _ = writeln!(s, "## ns per span\n");
        let z = crate::child::Sizes::get(self.quick);
        let rounds = if self.quick { 1 } else { crate::ROUNDS };
        let _ = writeln!(
            s,
            "Median over all repetitions; `range` is min–max. Keep-up: {rounds} round(s) × {} \
             repetitions of {} timed bursts of ~{} spans, each burst flushed and drained (untimed). \
             Saturated: {rounds} run(s) of one unbroken loop of {} spans. `delivered` is what the \
             sink decoded ÷ spans created; `drops` lists each run's count of spans lost before the \
             socket (the last section says who counts them and how); `unaccounted` is, per run, \
             created − delivered − drops: spans that no counter explains.\n",
            z.reps, z.bursts_per_rep, z.burst_spans, z.saturated_spans
        );
        let _ = writeln!(
            s,
            "| tool | workload | mode | ns/span | range | ratio to floor | delivered | drops | unaccounted |"
        );
        let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---:|");
        for (mode, is_keepup) in [("exporter keeps up", true), ("saturated", false)] {
            for (w, wl) in WORKLOADS {
                let floor = if is_keepup { self.keepup("floor", w) } else { self.saturated("floor", w) }.ns;
                for tool in tools {
                    let r = if is_keepup { self.keepup(tool, w) } else { self.saturated(tool, w) };
                    let _ = writeln!(
                        s,
                        "| {} | {wl} | {mode} | {} | {} | {} | {} | {} | {} |",
                        label(tool),
                        r.ns.map_or("failed".into(), |v| format!("{v:.0}")),
                        r.range,
                        ratio(r.ns, floor),
                        r.delivered,
                        r.drops,
                        r.unaccounted
                    );
                }
            }
        }

        let _ = writeln!(s, "\n## Peak RSS, saturated, 2 producer threads\n");
        let _ = writeln!(
            s,
            "Each tool in its own child process: workload b on 2 threads, {} spans each, \
             unbroken; then drained (untimed). Peak RSS is the child's `VmHWM` (the sink runs in \
             the parent). One run per tool.\n",
            crate::child::Sizes::get(self.quick).rss_spans_per_thread
        );
        let _ = writeln!(
            s,
            "| tool | peak RSS | over floor | ns/span (wall, 2 threads) | ratio to floor | delivered | drops | unaccounted |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let floor = self.outputs("floor", "rss").next();
        let (floor_rss, floor_ns) = (floor.and_then(|o| num(o, "hwm_kib")), floor.and_then(|o| num(o, "ns")));
        for tool in tools {
            let Some(o) = self.outputs(tool, "rss").next() else { continue };
            let rss = num(o, "hwm_kib");
            let exported = tool != "floor";
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                label(tool),
                rss.map_or("failed".into(), |k| format!("{:.1} MiB", k / 1024.0)),
                match (rss, floor_rss) {
                    (Some(r), Some(f)) if exported => format!("{:+.1} MiB", (r - f) / 1024.0),
                    _ => "–".into(),
                },
                num(o, "ns").map_or("failed".into(), |v| format!("{v:.0}")),
                ratio(num(o, "ns"), floor_ns),
                if exported {
                    pct(num(o, "delivered").unwrap_or(0.0), num(o, "created").unwrap_or(0.0))
                } else {
                    "–".into()
                },
                if exported {
                    num(o, "drops").map_or("–".into(), |d| format!("{d:.0}"))
                } else {
                    "–".into()
                },
                match (num(o, "created"), num(o, "delivered")) {
                    (Some(c), Some(d)) if exported => unaccounted_run(o, c, d),
                    _ => "–".into(),
                },
            );
        }

        let _ = writeln!(s, "\n## Notes\n");
        let _ = writeln!(
            s,
            "- Every peer built and ran; none was left out. Raw data: `results-raw.tsv` \
             (`cargo run --release -- --from-raw results-raw.tsv` writes this report again from it).\n\
             - Settings changed from the defaults (README.md): tracing-opentelemetry 0.24 with \
             `with_auto_split_batch(true)` (with the default, a 512-span batch over 65,000 bytes is \
             refused whole and almost nothing arrives) and OpenTelemetry's global error handler \
             counting instead of printing; tracing-opentelemetry 0.34 + OTLP with a global \
             subscriber counting the SDK's internal logs (its only drop report); rustracing with a \
             `bounded(16384)` span channel and a reporting loop of at most 100 spans per datagram \
             (rustracing has no loop of its own).\n\
             - UDP tools send compact Thrift `emitBatch` datagrams, OTLP tools protobuf \
             `ExportTraceServiceRequest`s over HTTP/1.1 (neither compresses by default); the sink \
             answers each request as soon as it has read the body and decodes later, untimed.\n\
             - tracing-opentelemetry 0.34's drops are the `dropped_span_count` its \
             `BatchSpanProcessor` logs at shutdown (the harness shuts it down at the end of each run); \
             export errors are logged without a span count, so spans in a failed export would be \
             `unaccounted`.\n\
             - fastrace counts no drops: in saturated runs, what overflowed the thread's channel waits in \
             that thread's deque until the thread sends again (the bracketed figure); in the 2-thread \
             run the producer threads end, and what does not fit in the ring is discarded when they \
             exit (`unaccounted`).\n\
             - rustracing counts no drops (`try_send` result ignored): its `drops` are the harness's \
             count of spans created that never reached the reporting loop.\n\
             - jaeger-layer's drops (both transports) are `ExporterGuard::stats()`; its `unaccounted` \
             should be 0 unless the sink's own socket dropped datagrams (then said in the cell)."
        );

        let _ = writeln!(
            s,
            "\n## Every run: drops as each tool counts them, datagrams / OTLP requests, decode errors\n"
        );
        for (tool, phase, o) in &self.runs {
            if tool == "floor" && !o.contains_key("error") {
                continue;
            }
            let _ = writeln!(
                s,
                "- {} {phase}: drops {}; sink: datagrams {}, OTLP requests {}, bytes {}, decode errors {}, \
                 dropped by the kernel {}{}",
                label(tool),
                o.get("drops").map_or("–", String::as_str),
                o.get("datagrams").map_or("–", String::as_str),
                o.get("requests").map_or("–", String::as_str),
                o.get("bytes").map_or("–", String::as_str),
                o.get("decode_errors").map_or("–", |v| v.trim()),
                o.get("sink_kernel_drops").map_or("–", String::as_str),
                o.get("error").map_or(String::new(), |e| format!("; **{e}**")),
            );
        }
        s
    }

    /// Horizontal bars of the median ns/span: rows keep-up / saturated, columns a / b.
    pub fn svg(&self, tools: &[String]) -> String {
        const PANEL_W: f64 = 700.0;
        const BAR_H: f64 = 22.0;
        // Room for "tracing-opentelemetry 0.24 + Jaeger (UDP)".
        const LABEL_W: f64 = 270.0;
        let panel_h = 40.0 + BAR_H * tools.len() as f64 + 10.0;
        let (w, h) = (2.0 * PANEL_W + 20.0, 40.0 + 2.0 * panel_h + 10.0);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="10" y="22" font-size="15" font-weight="bold">ns per span (median; ratio to the floor in brackets), one invocation, {}</text>"#,
            self.machine.lines[0].1
        );
        for (row, (mode, keepup)) in
            [("exporter keeps up", true), ("saturated", false)].into_iter().enumerate()
        {
            for (col, (w_key, w_label)) in WORKLOADS.into_iter().enumerate() {
                let (x0, y0) = (10.0 + col as f64 * (PANEL_W + 10.0), 40.0 + row as f64 * panel_h);
                let rows: Vec<Row> = tools
                    .iter()
                    .map(|t| if keepup { self.keepup(t, w_key) } else { self.saturated(t, w_key) })
                    .collect();
                let vals: Vec<Option<f64>> = rows.iter().map(|r| r.ns).collect();
                let floor = tools.iter().position(|t| t == "floor").and_then(|i| vals[i]);
                let max = vals.iter().flatten().cloned().fold(1.0, f64::max);
                let bar_max = PANEL_W - LABEL_W - 250.0;
                let _ = writeln!(
                    s,
                    r#"<text x="{x0}" y="{}" font-weight="bold">{w_label} — {mode}</text>"#,
                    y0 + 16.0
                );
                for (i, (tool, v)) in tools.iter().zip(&vals).enumerate() {
                    let y = y0 + 28.0 + i as f64 * BAR_H;
                    let _ = writeln!(
                        s,
                        r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                        x0 + LABEL_W - 6.0,
                        y + 14.0,
                        label(tool)
                    );
                    let Some(v) = v else {
                        let _ = writeln!(s, r#"<text x="{}" y="{}">failed</text>"#, x0 + LABEL_W, y + 14.0);
                        continue;
                    };
                    let bw = (v / max * bar_max).max(1.0);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{}" y="{}" width="{bw:.1}" height="{}" fill="{}"/>"#,
                        x0 + LABEL_W,
                        y + 3.0,
                        BAR_H - 6.0,
                        color(tool)
                    );
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{}">{v:.0} ns ({}){}</text>"#,
                        x0 + LABEL_W + bw + 5.0,
                        y + 14.0,
                        ratio(Some(*v), floor),
                        delivered_label(&rows[i].delivered, keepup)
                    );
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }
}

/// ", 76.1 % delivered" for a saturated bar; fastrace's "(100.0 % once the thread sends
/// again)" becomes "(100.0 % later)".
fn delivered_label(delivered: &str, keepup: bool) -> String {
    if keepup || delivered == "–" {
        return String::new();
    }
    match delivered.split_once(" (") {
        Some((now, later)) => {
            format!(", {now} delivered ({} later)", later.split(" once").next().unwrap_or(later))
        }
        None => format!(", {delivered} delivered"),
    }
}

fn color(tool: &str) -> &'static str {
    match tool {
        "floor" => "#9e9e9e",
        "jaeger-layer" => "#1f77b4",
        "jaeger-layer-otlp" => "#6baed6",
        "tracing-opentelemetry" => "#ff7f0e",
        "tracing-opentelemetry-otlp" => "#fdae6b",
        "fastrace" => "#2ca02c",
        "rustracing" => "#9467bd",
        _ => "#444444",
    }
}

fn ratio(v: Option<f64>, floor: Option<f64>) -> String {
    match (v, floor) {
        (Some(v), Some(f)) if f > 0.0 => format!("×{:.1}", v / f),
        _ => "–".into(),
    }
}

fn range(v: &[f64]) -> String {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        "–".into()
    } else {
        format!("{min:.0}–{max:.0}")
    }
}

fn join(v: &[u64]) -> String {
    if v.is_empty() {
        "–".into()
    } else {
        v.iter().map(u64::to_string).collect::<Vec<_>>().join(" / ")
    }
}

/// The peers' versions as resolved in Cargo.lock.
fn versions() -> String {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap_or_default();
    let wanted = [
        "tracing",
        "tracing-subscriber",
        "tracing-opentelemetry",
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry-jaeger",
        "opentelemetry-otlp",
        "reqwest",
        "tokio",
        "fastrace",
        "fastrace-jaeger",
        "rustracing",
        "rustracing_jaeger",
    ];
    let mut found = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if wanted.contains(&n.as_str()) {
                found.push(format!("{n} {}", v.trim_matches('"')));
            }
        }
    }
    found.join(", ")
}
