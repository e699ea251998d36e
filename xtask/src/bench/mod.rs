//! `cargo xtask bench`: the figures of the benchmarks issue, each printed as one JSON line,
//! and BENCHMARKS.md with the machine, the date, the command and a table against the targets.
//!
//! Every comparison is a ratio of two sides measured in the same run, alternately, with the
//! median and spread of the paired ratios (these machines are shared and noisy).
//!
//! - [`bundles`]: figure 5, the size of each Worker's bundle.
//! - [`native`]: figure 6, a sweep of 100,000 and 1,000,000 sites through the core over its
//!   in-memory twins (bench/native), whose counts also give figures 3 and 4.
//! - [`cost`]: figure 4's monthly cost, from the counts and docs/PRICES.md.
//! - [`local`]: figures 1 and 2 on local workerd, against the bare Workers of `bench/`.
//! - [`capacity`]: figure 7, every invocation kind's counted figures against Cloudflare's
//!   limits at 1k to 1M sites (computed, not timed: `--quick` runs it whole).
//! - [`storage`]: figures 8 and 9 (parts `rows` and `storage`) on local workerd: the ledger's
//!   rows written per site-sweep as workerd counts them, and every store's size against its
//!   limit at 10k, 100k and 1M sites; with them [`cost`]'s part `cost` (figure 10).
//! - [`stats`]: medians, spreads and JSON lines; [`report`]: BENCHMARKS.md.

mod bundles;
mod capacity;
mod cost;
mod local;
mod logs;
mod native;
mod report;
mod stats;
mod storage;

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::interrupt;
use crate::workers::{self, Worker};
use crate::{cmd, setup, Result};
use native::thousands;
use stats::{emit, merge, Samples};

/// The bench's own Workers (bench tree only, never deployed).
#[rustfmt::skip]
pub(crate) const BENCH_WORKERS: &[Worker] = &[
    Worker { name: "bench-bare-producer", crate_dir: "bench/bare-producer", config: "bench/bare-producer/bench.toml", admin_token: false },
    Worker { name: "bench-bare-consumer", crate_dir: "bench/bare-consumer", config: "bench/bare-consumer/bench.toml", admin_token: false },
];

#[derive(Debug)]
pub(crate) struct Options {
    /// The reduced CI variant: small sizes, few runs, no BENCHMARKS.md.
    pub(crate) quick: bool,
    /// Only these parts (`bundles`, `native`, `capacity`, `storage` and `cost` (one run), `fanout`,
    /// `sweep`); all when empty. A partial run never writes BENCHMARKS.md.
    pub(crate) only: Vec<String>,
}

impl Options {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// The sizes and run counts of one variant.
struct Plan {
    native_sites: &'static [usize],
    fanout_sites: &'static [usize],
    fanout_runs: usize,
    sweep_sites: usize,
    sweep_runs: usize,
    /// The storage part's sites, and its stack's `ROLLUP_FLUSH_SECONDS` (when the ledger folds
    /// and flushes): longer than the steady window's ten sweeps take, so the window folds once,
    /// as often as a deployed shard at 100,000 sites (see `storage`).
    storage: (usize, u32),
}

const FULL: Plan = Plan {
    native_sites: &[100_000, 1_000_000],
    fanout_sites: &[1_000, 10_000, 20_000],
    fanout_runs: 5,
    sweep_sites: 10_000,
    sweep_runs: 3,
    storage: (2_000, 240),
};

const QUICK: Plan =
    Plan { native_sites: &[10_000], fanout_sites: &[1_000], fanout_runs: 2, sweep_sites: 200, sweep_runs: 1, storage: (200, 60) };

/// One row of BENCHMARKS.md's table.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) figure: String,
    pub(crate) value: String,
    pub(crate) target: String,
    pub(crate) verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Miss,
    /// A measured figure without a target.
    Info,
}

impl Verdict {
    pub(crate) fn of(pass: bool) -> Self {
        if pass {
            Self::Pass
        } else {
            Self::Miss
        }
    }
}

pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    let started = Instant::now();
    let plan = if options.quick { &QUICK } else { &FULL };
    let interrupt = interrupt::install()?;
    setup::run(root)?;
    workers::build(root, None)?;
    workers::build_selected(root, BENCH_WORKERS.iter().collect())?;

    let mut figures = Vec::new();
    if options.wants("bundles") {
        println!("\n==== bench: bundle sizes ====");
        figures.extend(bundles::measure(root)?);
    }
    if options.wants("native") {
        println!("\n==== bench: native simulation ====");
        let reports = native::run(root, plan.native_sites)?;
        figures.extend(native::figures(&reports));
        let counted = &reports[0];
        figures.push(ledger_figure(counted));
        figures.extend(cost::figures(counted));
    }
    if options.wants("storage") || options.wants("cost") {
        println!("\n==== bench: ledger rows, storage and cost (local workerd) ====");
        // Ten same-day sweeps: a deployed shard folds its journal at most hourly (20 sweeps) or
        // when its ring is full (about 9 sweeps at 100,000 sites sent by shard); the stack's
        // flush interval is set so the window folds once.
        let (sites, flush_s) = plan.storage;
        let measured = storage::measure(root, sites, 10, flush_s, &interrupt)?;
        figures.extend(storage::figures(&measured));
        let counted = native::run(root, &[10_000])?.remove(0);
        figures.extend(cost::extended(&counted, measured.steady_written, measured.steady_read, measured.optimizer_ms_per_job));
    }
    let mut sections = String::new();
    if options.wants("capacity") {
        println!("\n==== bench: capacity against Cloudflare's limits (computed, every size) ====");
        let lines = capacity::run(root)?;
        figures.extend(capacity::figures(&lines));
        sections.push_str(&capacity::section(&lines));
    }
    if options.wants("fanout") {
        println!("\n==== bench: producer fan-out (local workerd) ====");
        figures.extend(fanout(root, plan, &interrupt)?);
    }
    if options.wants("sweep") {
        println!("\n==== bench: sweep completion (local workerd) ====");
        figures.extend(sweep(root, plan, &interrupt)?);
    }

    let took = cmd::duration(started.elapsed());
    let command = if options.quick { "cargo xtask bench --quick" } else { "cargo xtask bench" };
    let text = report::render(&figures, command, &format!("took {took}"), &load_note()) + &sections;
    if options.quick || !options.only.is_empty() {
        let path = root.join("target/bench-quick.md");
        std::fs::write(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("bench: wrote {} (BENCHMARKS.md is left as it is: a --quick or --only run)", cmd::rel(root, &path));
    } else {
        report::write(root, &text)?;
    }
    println!("\n{text}");
    println!("bench: done in {took}");
    Ok(())
}

/// Figure 3 from the native run's counts.
fn ledger_figure(r: &serde_json::Value) -> Figure {
    let per_shard = r["ledger_requests_per_shard_touched_max"].as_f64().unwrap_or(f64::INFINITY);
    let sites = r["sites"].as_f64().unwrap_or(1.0).max(1.0);
    let per_site = (r["ledger_requests_producer"].as_f64().unwrap_or(0.0) + r["ledger_requests_consumer"].as_f64().unwrap_or(0.0)) / sites;
    emit(
        "ledger",
        json!({
            "sites": r["sites"], "requests_per_shard_touched_max": per_shard,
            "requests_per_batch_mean": r["ledger_requests_per_batch_mean"],
            "shards_touched_per_batch_mean": r["shards_touched_per_batch_mean"],
            "requests_per_site_per_sweep": (per_site * 10_000.0).round() / 10_000.0,
        }),
    );
    Figure {
        figure: "3. ledger Durable Object requests per consumer batch".into(),
        value: format!(
            "max {per_shard} per shard touched; mean {} per 100-message batch over {} shards; {per_site:.3} per site per sweep (producer + consumers)",
            r["ledger_requests_per_batch_mean"], r["shards_touched_per_batch_mean"]
        ),
        target: "≤ 2 per shard touched".into(),
        verdict: Verdict::of(per_shard <= 2.0),
    }
}

/// A note on the machine's load, from the load average at the end of the run.
fn load_note() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let one = load.split_whitespace().next().unwrap_or("?");
    format!("1-minute load average at the end of the run: {one} (other builds and stacks may share this machine)")
}

/// Figure 1: the dispatcher's fan-out against the bare producer, with pacing switched off (its
/// own overhead: the bare producer paces nothing), then the paced rate it achieves against the
/// configured one.
fn fanout(root: &Path, plan: &Plan, interrupt: &interrupt::Interrupt) -> Result<Vec<Figure>> {
    let total = *plan.fanout_sites.iter().max().unwrap_or(&0);
    let unpaced = local::dispatcher_config(root, 0)?;
    let mut figures = local::with_stack(root, "fanout", &local::fanout_configs(&unpaced), interrupt, |stack| {
        let mut figures = Vec::new();
        let mut medians: Vec<(usize, f64)> = Vec::new();
        for &sites in plan.fanout_sites {
            stack.sites(total, sites)?;
            let stack = std::cell::RefCell::new(&mut *stack);
            let (producer, bare, ratio) = local::alternate(
                "fanout",
                json!({"sites": sites}),
                (plan.fanout_runs, true),
                ("producer", "bare"),
                || stack.borrow_mut().producer_fanout(sites),
                || stack.borrow_mut().bare_fanout(sites),
            )?;
            medians.push((sites, producer.median()));
            let profile = stack.borrow().profile()?;
            emit("fanout_profile", merge(json!({"sites": sites}), profile));
            figures.push(Figure {
                figure: format!(
                    "1. fan-out, {} sites: dispatcher (pacing off) / bare producer, as each logs its time",
                    thousands(sites as u64)
                ),
                value: ratio_text(&producer, &bare, &ratio),
                target: "≤ 1.5×".into(),
                verdict: Verdict::of(ratio.median() <= 1.5),
            });
        }
        if let Some(f) = linearity(&medians) {
            figures.push(f);
        }
        Ok(figures)
    })?;
    figures.push(paced(root, total, interrupt)?);
    Ok(figures)
}

/// Figure 1, paced: one fan-out of `sites` at the deployed default rate, its achieved rate
/// (sites over the firing's wall time) against the configured one. It must not exceed the
/// configured rate by more than the pacer's one batch a second; below twice the rate in sites,
/// the firing's fixed round trips dominate and the figure is only informative.
fn paced(root: &Path, sites: usize, interrupt: &interrupt::Interrupt) -> Result<Figure> {
    let rate = code24_shared::config::ProducerConfig::DEFAULT_SEND_RATE_PER_S;
    let config = local::dispatcher_config(root, rate)?;
    local::with_stack(root, "fanout-paced", &local::fanout_configs(&config), interrupt, |stack| {
        stack.sites(sites, sites)?;
        let ms = stack.producer_fanout(sites)?;
        let achieved = (sites as f64 * 1000.0 / ms.max(1.0)).round() as u64;
        let ceiling = u64::from(rate) + code24_shared::limits::QUEUE_SEND_BATCH_MESSAGES;
        let measured = sites as u64 >= 2 * u64::from(rate);
        emit("fanout_paced", json!({"sites": sites, "ms": stats::round(ms), "achieved_per_s": achieved, "configured_per_s": rate}));
        Ok(Figure {
            figure: format!("1. paced fan-out, {} sites: achieved / configured send rate", thousands(sites as u64)),
            value: format!("{} msg/s against {} configured ({ms:.0} ms)", thousands(achieved), thousands(u64::from(rate))),
            target: format!("≤ {} msg/s (configured + one batch)", thousands(ceiling)),
            verdict: if measured { Verdict::of(achieved <= ceiling) } else { Verdict::Info },
        })
    })
}

/// Whether the dispatcher's time grows linearly: the marginal time per site between
/// consecutive sizes stays within 1.5× of the first such step.
fn linearity(medians: &[(usize, f64)]) -> Option<Figure> {
    if medians.len() < 3 {
        return None;
    }
    let steps: Vec<f64> = medians.windows(2).map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0) as f64 * 1000.0).collect();
    let first = steps[0];
    let linear = steps.iter().all(|s| *s <= first * 1.5 && *s >= first / 1.5);
    emit("fanout_linearity", json!({"ms_per_1000_sites_between_sizes": steps.iter().map(|s| stats::round(*s)).collect::<Vec<_>>()}));
    Some(Figure {
        figure: "1. fan-out growth with sites (dispatcher)".into(),
        value: format!(
            "{} ms per 1,000 more sites between consecutive sizes",
            steps.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>().join(" → ")
        ),
        target: "linear (each step within 1.5× of the first)".into(),
        verdict: Verdict::of(linear),
    })
}

/// Figure 2: sweep completion against the bare consumer.
fn sweep(root: &Path, plan: &Plan, interrupt: &interrupt::Interrupt) -> Result<Vec<Figure>> {
    let sites = std::env::var("CODE24_BENCH_SWEEP_SITES").ok().and_then(|v| v.parse().ok()).unwrap_or(plan.sweep_sites);
    let unpaced = local::dispatcher_config(root, 0)?;
    local::with_stack(root, "sweep", &local::sweep_configs(&unpaced), interrupt, |stack| {
        stack.sites(sites, sites)?;
        let stack = std::cell::RefCell::new(stack);
        let (producer, bare, ratio) = local::alternate(
            "sweep",
            json!({"sites": sites}),
            (plan.sweep_runs, false),
            ("pipeline", "bare"),
            || stack.borrow_mut().producer_sweep(sites, interrupt),
            || stack.borrow_mut().bare_sweep(sites, interrupt),
        )?;
        let stack = stack.into_inner();
        let (optimizer, bare_batches) =
            (stack.batch_times(code24_shared::names::OPTIMIZE_QUEUE), stack.batch_times(local::BARE_JOBS_QUEUE));
        emit("sweep_profile", merge(json!({"sites": sites, "consumer": "optimizer"}), optimizer.fields()));
        emit("sweep_profile", merge(json!({"sites": sites, "consumer": "bare"}), bare_batches.fields()));
        Ok(vec![
            Figure {
                figure: format!("2. sweep completion, {} sites: pipeline / bare consumer", thousands(sites as u64)),
                value: ratio_text(&producer, &bare, &ratio),
                target: "≤ 1.3×".into(),
                verdict: Verdict::of(ratio.median() <= 1.3),
            },
            Figure {
                figure: "2. profile: one consumer invocation (batch of up to 8), wrangler's timing".into(),
                value: format!(
                    "optimizer {:.0} ms median ({} batches), bare {:.0} ms median ({} batches)",
                    optimizer.median(),
                    optimizer.ms.len(),
                    bare_batches.median(),
                    bare_batches.ms.len()
                ),
                target: "(profile)".into(),
                verdict: Verdict::Info,
            },
        ])
    })
}

fn ratio_text(a: &Samples, b: &Samples, ratio: &Samples) -> String {
    format!(
        "**{:.2}×** (spread {:.2}–{:.2}); {:.0} ms vs {:.0} ms median, {} runs each",
        ratio.median(),
        ratio.min(),
        ratio.max(),
        a.median(),
        b.median(),
        ratio.ms.len()
    )
}
