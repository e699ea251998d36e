//! Figures 1 and 2 on local workerd: one `wrangler dev` session per figure, with the shipped
//! Workers and the bare baselines of `bench/` side by side, measured alternately in the same
//! session.
//!
//! - Fan-out stack: the dispatcher (entry), the ledger, and the bare producer. No consumer of
//!   either queue runs, so Miniflare's queue broker accepts each `send_batch` and keeps
//!   nothing: both sides pay the same send round trips, and no message sets one of Miniflare's
//!   (at most 10,000) active timers.
//! - Sweep stack: the dispatcher, the ledger, the optimizer, the elite stand-in (zero added
//!   latency: no fault rules), the bare producer and the bare consumer.
//!
//! `wrangler dev` serves only its first Worker, so every stack starts with the bench router
//! (bench/router): it fires either side's scheduled handler through a service binding's
//! `scheduled()` and answers when the handler has returned, so the round trip is the event's
//! wall time, with the same overhead for both sides. The fan-out figure takes instead the time
//! each side logs for its fan-out ([`super::logs`]): the dispatcher's firing goes on with its
//! alert tick after the fan-out. Other requests are forwarded to the
//! Worker named by the `x-bench-to` header (the dispatcher's admin API, the bare producer's
//! setup route).

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::stats::{emit, merge, paired_ratios, Samples};
use crate::interrupt::Interrupt;
use crate::setup::Tools;
use crate::stack::{self, Stack};
use crate::{cmd, Result};

/// The dispatcher's sweep cron.
const SWEEP_CRON: &str = "*/3 * * * *";
/// The router's name for the bare producer, and for the dispatcher (bench/router/index.js).
const BARE: &str = "bare";
const DISPATCHER: &str = "dispatcher";
const ROUTER_CONFIG: &str = "bench/router/bench.toml";
const BARE_PRODUCER_CONFIG: &str = "bench/bare-producer/bench.toml";
const BARE_CONSUMER_CONFIG: &str = "bench/bare-consumer/bench.toml";
/// The queue the bare consumer reads (bench/bare-consumer/bench.toml).
pub(crate) const BARE_JOBS_QUEUE: &str = "code24-bench-jobs";
/// The bare consumer's per-batch log line (bench/bare-consumer/src/lib.rs).
/// How often the dispatcher's sweep progress is asked for (see [`BenchStack::producer_sweep`]).
const PIPELINE_POLL: Duration = Duration::from_secs(1);
/// How often the bare consumer's log is read.
const BARE_POLL: Duration = Duration::from_millis(100);
/// How long one sweep may take before the bench gives up on it.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(600);

/// A running bench stack and what the bench needs to drive it.
pub(crate) struct BenchStack {
    stack: Stack,
    pub(crate) state_dir: PathBuf,
    pub(crate) log_path: PathBuf,
    agent: ureq::Agent,
    token: String,
    /// The next scheduled time to fire: each firing gets its own, 3 minutes apart, so every
    /// firing is a new sweep.
    pub(crate) next_slot_ms: i64,
}

impl BenchStack {
    /// Starts a fresh stack (empty state, migrations applied) with the given configs.
    pub(crate) fn start(root: &Path, name: &str, configs: &[String], interrupt: &Interrupt) -> Result<Self> {
        let tools = Tools::at(root);
        let state_dir = root.join(format!("target/bench-state-{name}-{}", std::process::id()));
        if state_dir.exists() {
            fs::remove_dir_all(&state_dir).map_err(|e| format!("cannot clear {}: {e}", state_dir.display()))?;
        }
        stack::apply_migrations(root, &tools, &state_dir)?;
        let token = crate::dev_vars::ensure(root)?;
        let log_path = state_dir.join("wrangler.log");
        let mut stack = Stack::start_with_configs(
            root,
            &tools,
            &stack::Options {
                persist_dir: state_dir.clone(),
                port: stack::free_port()?,
                inspector_port: Some(stack::free_port()?),
                log_path: log_path.clone(),
                echo: false,
            },
            &configs.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        let ready = stack.wait_ready(interrupt)?;
        println!("bench: {name} stack answers on {} after {}", stack.base_url(), cmd::duration(ready));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        // Round down to a 3-minute slot, a day back: far from the clock's present, always new.
        let now = chrono::Utc::now().timestamp_millis();
        let slot = 180_000;
        Ok(Self { stack, state_dir, log_path, agent, token, next_slot_ms: (now - 86_400_000) / slot * slot })
    }

    fn slot(&mut self) -> i64 {
        self.next_slot_ms += 180_000;
        self.next_slot_ms
    }

    /// GET on `worker` (the router's name for it) through the router.
    fn get(&self, path: &str, worker: &str) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.stack.base_url());
        let request = self.agent.get(&url).header("authorization", &format!("Bearer {}", self.token)).header("x-bench-to", worker);
        let response = request.call().map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().read_to_string().unwrap_or_default()))
    }

    /// The rows read and written by ledger instance `object` since it started, and its size
    /// (`code24_shared::ledger::stats::LedgerStats`, through the ledger's local debug passage).
    pub(crate) fn ledger_stats(&self, object: &str) -> Result<Value> {
        let url = format!("{}/debug/{object}/stats", self.stack.base_url());
        let response = self.agent.post(&url).header("x-bench-to", "ledger").send("{}").map_err(|e| format!("POST {url}: {e}"))?;
        let (status, body) = (response.status().as_u16(), response.into_body().read_to_string().unwrap_or_default());
        if status != 200 {
            return Err(format!("POST {url}: HTTP {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("POST {url}: {e}: {body}"))
    }

    /// Leaves exactly the first `active` of `total` synthetic sites active in D1.
    pub(crate) fn sites(&self, total: usize, active: usize) -> Result<()> {
        let (status, body) = self.get(&format!("/bench/sites?total={total}&active={active}"), BARE)?;
        if status != 200 {
            return Err(format!("seeding {active}/{total} sites: HTTP {status}: {body}"));
        }
        Ok(())
    }

    /// The bare producer's profile of the registry reads (bench/bare-producer, `profile`).
    pub(crate) fn profile(&self) -> Result<Value> {
        let (status, body) = self.get("/bench/profile", BARE)?;
        if status != 200 {
            return Err(format!("profile: HTTP {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("profile: {e}: {body}"))
    }

    /// Fires a scheduled event and returns its wall time in milliseconds.
    fn fire(&self, cron: &str, time_ms: i64, worker: &str) -> Result<f64> {
        let path = format!("/bench/scheduled?to={worker}&cron={}&time={time_ms}", stack::percent_encode(cron));
        let started = Instant::now();
        let (status, body) = self.get(&path, worker)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            return Err(format!("scheduled {cron:?} on {worker}: HTTP {status}: {body}"));
        }
        Ok(ms)
    }

    /// One dispatcher fan-out (a new sweep); checks that it enqueued `sites` messages. Returns
    /// the fan-out's own time as the dispatcher logs it (`FanoutReport::elapsed_ms`: from the
    /// work fronts' read to the announcements), not the firing's, whose alert tick follows the
    /// fan-out.
    pub(crate) fn producer_fanout(&mut self, sites: usize) -> Result<f64> {
        let slot = self.slot();
        let from = self.log_len();
        self.fire(SWEEP_CRON, slot, DISPATCHER)?;
        let sweep = self.sweep(slot)?;
        let enqueued = sweep["enqueued"].as_u64().unwrap_or(0);
        if enqueued != sites as u64 || sweep["phase"] != "enqueued" {
            return Err(format!("the dispatcher's sweep is not fully enqueued: {sweep}"));
        }
        let id = sweep["sweep_id"].as_str().unwrap_or_default().to_owned();
        self.logged(from, "the dispatcher's fanout line", |line| {
            let event: Value = serde_json::from_str(&line[line.find('{')?..]).ok()?;
            let ours = event["event"] == "fanout" && event["report"]["sweep_id"] == id.as_str();
            ours.then(|| event["report"]["elapsed_ms"].as_f64()).flatten()
        })
    }

    /// One bare fan-out of `sites` messages: its time as the bare producer logs it.
    pub(crate) fn bare_fanout(&mut self, sites: usize) -> Result<f64> {
        let slot = self.slot();
        let from = self.log_len();
        self.fire(&format!("bench-fanout {sites}"), slot, BARE)?;
        let sent = format!("bare-producer: sent {sites} to BENCH_FANOUT in ");
        self.logged(from, "the bare producer's sent line", |line| line.split(&sent).nth(1)?.trim_end_matches(" ms").trim().parse().ok())
    }

    /// The dispatcher's sweep scheduled at `slot`, as the admin API lists it.
    fn sweep(&self, slot: i64) -> Result<Value> {
        let (status, body) = self.get("/api/sweeps?limit=5", DISPATCHER)?;
        if status != 200 {
            return Err(format!("GET /api/sweeps: HTTP {status}: {body}"));
        }
        let all: Value = serde_json::from_str(&body).map_err(|e| format!("GET /api/sweeps: {e}: {body}"))?;
        all.as_array()
            .and_then(|a| a.iter().find(|s| s["task"] == "optimize" && s["scheduled_ms"] == slot).cloned())
            .ok_or_else(|| format!("no sweep scheduled at {slot} in {body}"))
    }

    /// One dispatcher sweep: from firing to the ledger reporting it complete with every site
    /// succeeded. The end is the ledger's own finish time (its last job's end, on the same
    /// host clock as the firing), so the progress polls can be rare: each one is nine ledger
    /// requests, which would otherwise compete with the consumer for the one workerd thread.
    pub(crate) fn producer_sweep(&mut self, sites: usize, interrupt: &Interrupt) -> Result<f64> {
        let slot = self.slot();
        let started = Instant::now();
        let fired_ms = chrono::Utc::now().timestamp_millis();
        self.fire(SWEEP_CRON, slot, DISPATCHER)?;
        loop {
            let sweep = self.sweep(slot)?;
            if sweep["complete"] == true {
                if sweep["succeeded"].as_u64() != Some(sites as u64) {
                    return Err(format!("the sweep completed without every site succeeded: {sweep}"));
                }
                let finished = sweep["finished_ms"].as_i64().ok_or_else(|| format!("a complete sweep without finished_ms: {sweep}"))?;
                return Ok((finished - fired_ms) as f64);
            }
            self.wait(started, interrupt, &format!("sweep {}", sweep["sweep_id"]), PIPELINE_POLL)?;
        }
    }

    /// One bare sweep: from firing the bare producer to the bare consumer's log lines adding up
    /// to `sites` messages done (the log is read from where it ended before the firing, every
    /// 100 ms).
    pub(crate) fn bare_sweep(&mut self, sites: usize, interrupt: &Interrupt) -> Result<f64> {
        let slot = self.slot();
        let mut offset = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        self.fire(&format!("bench-sweep {sites}"), slot, BARE)?;
        let (mut done, mut failed) = (0, 0);
        loop {
            let (more_done, more_failed, read_to) = self.bare_done(offset);
            (done, failed, offset) = (done + more_done, failed + more_failed, read_to);
            if failed > 0 {
                return Err(format!("the bare consumer failed {failed} messages; see {}", self.log_path.display()));
            }
            if done >= sites as u64 {
                return Ok(started.elapsed().as_secs_f64() * 1000.0);
            }
            self.wait(started, interrupt, "bare sweep", BARE_POLL)?;
        }
    }

    fn wait(&mut self, started: Instant, interrupt: &Interrupt, what: &str, every: Duration) -> Result<()> {
        if interrupt.requested() {
            return Err("interrupted".into());
        }
        if let Some(status) = self.stack.exited() {
            return Err(format!("wrangler exited ({status})"));
        }
        if started.elapsed() > SWEEP_TIMEOUT {
            return Err(format!("{what}: not complete after {}", cmd::duration(SWEEP_TIMEOUT)));
        }
        thread::sleep(every);
        Ok(())
    }

    /// Stops the stack; the state is removed unless `keep` (kept for a failure's diagnosis).
    pub(crate) fn stop(mut self, keep: bool) {
        self.stack.stop();
        if keep {
            println!("--- wrangler log (tail; full log and state in {}) ---\n{}", self.state_dir.display(), self.stack.log_tail(40));
        } else {
            let _ = fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// Runs `work` on the stack, stopping it afterwards whatever happens.
pub(crate) fn with_stack<T>(
    root: &Path,
    name: &str,
    configs: &[String],
    interrupt: &Interrupt,
    work: impl FnOnce(&mut BenchStack) -> Result<T>,
) -> Result<T> {
    let mut stack = BenchStack::start(root, name, configs, interrupt)?;
    let outcome = work(&mut stack);
    // CODE24_BENCH_KEEP_STATE keeps a successful run's state and log too (for profiling).
    stack.stop(outcome.is_err() || std::env::var_os("CODE24_BENCH_KEEP_STATE").is_some());
    outcome
}

/// The configs of the fan-out stack, with `dispatcher` (see [`dispatcher_config`]).
pub(crate) fn fanout_configs(dispatcher: &str) -> Vec<String> {
    [ROUTER_CONFIG, dispatcher, "ledger/wrangler.toml", BARE_PRODUCER_CONFIG].map(str::to_owned).to_vec()
}

/// The dispatcher's local config sending at `rate_per_s` (`QUEUE_SEND_RATE_PER_S`; 0 sends
/// unpaced, which only a local environment accepts). The fan-out figure measures the
/// dispatcher's own overhead unpaced; the paced figure, the rate it achieves against the
/// configured one.
pub(crate) fn dispatcher_config(root: &Path, rate_per_s: u32) -> Result<String> {
    crate::dev_vars::ensure(root)?;
    local_copy(root, "wrangler.toml", code24_shared::names::var::QUEUE_SEND_RATE_PER_S, rate_per_s, "dispatcher")
}

/// The ledger's local config folding and flushing every `flush_s` seconds
/// (`ROLLUP_FLUSH_SECONDS`; 30 as shipped locally).
pub(crate) fn ledger_config(root: &Path, flush_s: u32) -> Result<String> {
    local_copy(root, "ledger/wrangler.toml", code24_shared::names::var::ROLLUP_FLUSH_SECONDS, flush_s, "ledger")
}

/// The top level of the wrangler.toml at `source` (relative to the root) with its paths made
/// absolute and `var` set to `value`, written under `target/bench-config/` beside a copy of the
/// source's `.dev.vars` (the dispatcher's admin token); returns its path.
fn local_copy(root: &Path, source: &str, var: &str, value: u32, name: &str) -> Result<String> {
    let text = fs::read_to_string(root.join(source)).map_err(|e| format!("cannot read {source}: {e}"))?;
    let base = root.join(source).parent().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
    let mut out = String::new();
    for line in text.lines().take_while(|l| !l.starts_with("[env.")) {
        match line.split_once(" = \"") {
            Some((key @ ("main" | "migrations_dir"), path)) => out.push_str(&format!("{key} = \"{}/{path}\n", base.display())),
            _ if line.starts_with(var) => {}
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
        if line == "[vars]" {
            out.push_str(&format!("{var} = \"{value}\"\n"));
        }
    }
    let dir = root.join(format!("target/bench-config/{name}-{value}"));
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if let Ok(dev_vars) = fs::read_to_string(base.join(".dev.vars")) {
        fs::write(dir.join(".dev.vars"), dev_vars).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    }
    let path = dir.join("wrangler.toml");
    fs::write(&path, out).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// The configs of the sweep stack, with `dispatcher` (unpaced: the figure compares the
/// consumers; the producer's pacing has its own figure).
pub(crate) fn sweep_configs(dispatcher: &str) -> Vec<String> {
    [
        ROUTER_CONFIG,
        dispatcher,
        "ledger/wrangler.toml",
        "consumers/optimizer/wrangler.toml",
        "elite-standin/wrangler.toml",
        BARE_PRODUCER_CONFIG,
        BARE_CONSUMER_CONFIG,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Measures both sides `runs` times, alternating which goes first, after one unmeasured
/// warm-up of each when `warm_up`; prints and returns (side a, side b, ratio a/b) as JSON
/// lines.
pub(crate) fn alternate(
    bench: &str,
    extra: Value,
    (runs, warm_up): (usize, bool),
    names: (&str, &str),
    mut a: impl FnMut() -> Result<f64>,
    mut b: impl FnMut() -> Result<f64>,
) -> Result<(Samples, Samples, Samples)> {
    if warm_up {
        a()?;
        b()?;
    }
    let (mut sa, mut sb) = (Samples::default(), Samples::default());
    for run in 0..runs {
        if run % 2 == 0 {
            sa.push(a()?);
            sb.push(b()?);
        } else {
            sb.push(b()?);
            sa.push(a()?);
        }
    }
    emit(bench, merge(merge(extra.clone(), json!({"side": names.0})), sa.fields()));
    emit(bench, merge(merge(extra.clone(), json!({"side": names.1})), sb.fields()));
    let ratio = paired_ratios(&sa, &sb);
    let r = json!({
        "side": format!("ratio {}/{}", names.0, names.1),
        "median": super::stats::round(ratio.median()),
        "min": super::stats::round(ratio.min()),
        "max": super::stats::round(ratio.max()),
        "runs": runs,
    });
    emit(bench, merge(extra, r));
    Ok((sa, sb, ratio))
}
