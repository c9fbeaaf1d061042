//! Side-by-side cost of jaeger-layer and its peers. `cargo run --release` runs everything
//! (each measurement in a child process of this binary) and writes RESULTS.md and
//! results.svg next to Cargo.toml. `--quick` is a smoke test with small sizes;
//! `--tools a,b` runs a subset (names as in `tools::TOOLS`); `--from-raw results-raw.tsv`
//! writes the report again from the data of an earlier run.

mod child;
mod report;
mod sink;
mod tools;

use std::collections::HashMap;
use std::io::BufReader;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rounds of the keep-up and saturated measurements; tools are interleaved within a round
/// so that drift in the machine's load spreads over all of them.
pub const ROUNDS: usize = 5;
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// What one child printed: key -> the rest of its `R key ...` line.
pub type Output = HashMap<String, String>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || std::env::var_os("COMPARE_QUICK").is_some();
    if args.get(1).map(String::as_str) == Some("child") {
        child::run(&args[2], &args[3], &args[4], &args[5], &child::Sizes::get(quick));
        // Exit without the tools' shutdown paths: their results are printed already.
        std::process::exit(0);
    }
    let dir = env!("CARGO_MANIFEST_DIR");
    let (md, svg, raw) =
        (format!("{dir}/RESULTS.md"), format!("{dir}/results.svg"), format!("{dir}/results-raw.tsv"));
    if let Some(p) = args.iter().position(|a| a == "--from-raw") {
        let text = std::fs::read_to_string(&args[p + 1]).expect("read raw results");
        let (results, tools) = report::Results::from_raw(&text);
        std::fs::write(&md, results.markdown(&tools)).expect("write RESULTS.md");
        std::fs::write(&svg, results.svg(&tools)).expect("write results.svg");
        eprintln!("wrote {md} and {svg} from {}", args[p + 1]);
        return;
    }
    let tools: Vec<String> = match args.iter().position(|a| a == "--tools") {
        Some(p) => args[p + 1].split(',').map(str::to_string).collect(),
        None => tools::TOOLS.iter().map(|s| s.to_string()).collect(),
    };
    let started = Instant::now();
    let mut results = report::Results::new(report::machine(), quick);
    let rounds = if quick { 1 } else { ROUNDS };
    for round in 0..rounds {
        for tool in &tools {
            let out = run_child(tool, "keepup", quick);
            eprintln!("[{:>4}s] keepup round {round} {tool}: {out:?}", started.elapsed().as_secs());
            results.add(tool, "keepup", out);
        }
    }
    for round in 0..rounds {
        for phase in ["sat-a", "sat-b"] {
            for tool in &tools {
                let out = run_child(tool, phase, quick);
                eprintln!("[{:>4}s] {phase} round {round} {tool}: {out:?}", started.elapsed().as_secs());
                results.add(tool, phase, out);
            }
        }
    }
    for tool in &tools {
        let out = run_child(tool, "rss", quick);
        eprintln!("[{:>4}s] rss {tool}: {out:?}", started.elapsed().as_secs());
        results.add(tool, "rss", out);
    }
    results.finish(started.elapsed());
    std::fs::write(&raw, results.to_raw()).expect("write results-raw.tsv");
    std::fs::write(&md, results.markdown(&tools)).expect("write RESULTS.md");
    std::fs::write(&svg, results.svg(&tools)).expect("write results.svg");
    eprintln!("wrote {md} and {svg} in {:.0} s", started.elapsed().as_secs_f64());
}

/// Runs one measurement in a child process (bounded in time) with a fresh sink, answers its
/// requests to the sink, and parses its `R` lines.
fn run_child(tool: &str, phase: &str, quick: bool) -> Output {
    let sink = sink::Sink::start().expect("sink");
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args(["child", tool, phase, &sink.addr().to_string(), &sink.otlp_addr().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if quick {
        cmd.env("COMPARE_QUICK", "1");
    }
    let mut child = cmd.spawn().expect("spawn child");
    let (stdout, stdin) = (child.stdout.take().expect("stdout"), child.stdin.take().expect("stdin"));
    let child = Arc::new(Mutex::new(child));
    let watchdog = {
        let child = child.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            loop {
                let mut c = child.lock().unwrap();
                if let Some(status) = c.try_wait().expect("wait child") {
                    return Some(status);
                }
                if start.elapsed() > CHILD_TIMEOUT {
                    let _ = c.kill();
                    let _ = c.wait();
                    return None;
                }
                drop(c);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let lines = sink.serve(BufReader::new(stdout), stdin);
    let status = watchdog.join().expect("watchdog");
    let mut out: Output = lines
        .iter()
        .filter_map(|l| l.strip_prefix("R ")?.split_once(' '))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    sink.drain();
    out.insert("datagrams".into(), sink.datagrams().to_string());
    out.insert("requests".into(), sink.requests().to_string());
    out.insert("bytes".into(), sink.bytes().to_string());
    out.insert(
        "decode_errors".into(),
        format!("{} {}", sink.decode_errors(), sink.first_error().unwrap_or_default()).trim().to_string(),
    );
    out.insert("sink_kernel_drops".into(), sink.kernel_drops().map_or("unknown".into(), |d| d.to_string()));
    match status {
        Some(s) if s.success() => {}
        Some(s) => {
            out.insert("error".into(), format!("child exited with {s}"));
        }
        None => {
            out.insert("error".into(), format!("child killed after {} s", CHILD_TIMEOUT.as_secs()));
        }
    }
    out
}
