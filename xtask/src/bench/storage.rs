//! Figure 8 (Durable Object rows written per site-sweep) and part `storage`, measured on local
//! workerd: a stack with the shipped dispatcher, ledger, optimizer and stand-in runs real
//! sweeps, and every ledger instance answers what its SQLite statements read and wrote, as
//! workerd's cursors count them (`rowsRead`, `rowsWritten`: Cloudflare's billing, indexes
//! included), and its database size (`Route::Stats`, through the ledger's local debug passage).
//! D1's size is the local D1 file's.
//!
//! The run: `sites` sites, one sweep, `same_day` more sweeps of the same day, then one sweep
//! on the next UTC day, and a wait for the rollups' flush. From the sizes after each step:
//! - `first`: bytes one site adds with its first sweep (its lane, its day's rollup, what the
//!   sweep keeps of its job),
//! - `per_sweep`: bytes one site adds with each further sweep of a day,
//! - `per_day`: what the first sweep of a new day adds beyond `per_sweep` (a new rollup),
//! and the steady state of a shard holding `n` sites is
//! `empty + n × (first + (sweeps retained − 1) × per_sweep + (days kept − 1) × per_day)`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::local::{self, BenchStack};
use crate::interrupt::Interrupt;
use crate::Result;

/// Optimization jobs in one optimizer invocation, as deployed.
const JOBS_PER_BATCH: f64 =
    code24_shared::pipeline::budget::jobs_per_invocation(code24_shared::pipeline::optimize::SERVICE_BINDING_CALLS_PER_JOB) as f64;

/// The ledger's job shards and its coordinator.
fn instances() -> Vec<String> {
    let mut all: Vec<String> = (0..code24_shared::ledger::JOB_SHARDS).map(code24_shared::ledger::shard_object).collect();
    all.push(code24_shared::ledger::RUNS_OBJECT.to_owned());
    all
}

/// What one measuring run found.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) sites: u64,
    /// Site-sweeps run (sites × sweeps).
    pub(crate) site_sweeps: u64,
    /// Rows written and read by every ledger instance over the run, flush included.
    pub(crate) rows_written: u64,
    pub(crate) rows_read: u64,
    /// Rows written per route (and `alarm`), over the run.
    pub(crate) routes: Value,
    /// Bytes of one site, see the module's header.
    pub(crate) first: f64,
    pub(crate) per_sweep: f64,
    pub(crate) per_day: f64,
    /// An empty shard's bytes (the schema).
    pub(crate) empty_shard: f64,
    /// D1 bytes one rollup row adds (the local D1 file before and after the flush).
    pub(crate) d1_per_rollup: f64,
    /// The optimizer invocation's median wall time (wrangler's log) per job of a full batch.
    pub(crate) optimizer_ms_per_job: f64,
}

/// The sum of every instance's stats: (rows written, rows read, shard bytes, per-route written).
fn read_all(stack: &BenchStack) -> Result<(u64, u64, u64, Vec<(String, u64)>)> {
    let (mut written, mut read, mut bytes, mut routes) = (0, 0, 0, Vec::<(String, u64)>::new());
    for object in instances() {
        let s = stack.ledger_stats(&object)?;
        for r in s["routes"].as_array().into_iter().flatten() {
            let w = r["rows"]["written"].as_u64().unwrap_or(0);
            written += w;
            read += r["rows"]["read"].as_u64().unwrap_or(0);
            let name = r["route"].as_str().unwrap_or("?").to_owned();
            match routes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += w,
                None => routes.push((name, w)),
            }
        }
        if object != code24_shared::ledger::RUNS_OBJECT {
            bytes += s["database_bytes"].as_u64().unwrap_or(0);
        }
    }
    Ok((written, read, bytes, routes))
}

/// Runs the measuring sweeps on a fresh stack (see the module's header).
pub(crate) fn measure(root: &Path, sites: usize, same_day: usize, interrupt: &Interrupt) -> Result<Measured> {
    let unpaced = local::dispatcher_config(root, 0)?;
    local::with_stack(root, "storage", &local::sweep_configs(&unpaced), interrupt, |stack| {
        stack.sites(sites, sites)?;
        let d1_before = d1_bytes(stack);
        let (w0, r0, empty, routes0) = read_all(stack)?;
        stack.producer_sweep(sites, interrupt)?;
        let (_, _, after_first, _) = read_all(stack)?;
        for _ in 0..same_day {
            stack.producer_sweep(sites, interrupt)?;
        }
        let (_, _, after_day, _) = read_all(stack)?;
        // The next sweep is the first of the next UTC day.
        let day = 86_400_000;
        stack.next_slot_ms = (stack.next_slot_ms / day + 1) * day - 180_000;
        stack.producer_sweep(sites, interrupt)?;
        let (_, _, after_next_day, _) = read_all(stack)?;
        wait_for_flush(stack, interrupt)?;
        let (w1, r1, _, routes1) = read_all(stack)?;
        let d1_after = d1_bytes(stack);
        let n = sites as f64;
        let per_sweep = (after_day as f64 - after_first as f64) / n / same_day.max(1) as f64;
        let routes: serde_json::Map<String, Value> = routes1
            .iter()
            .map(|(name, w)| (name.clone(), json!(w - routes0.iter().find(|(n, _)| n == name).map_or(0, |(_, w0)| *w0))))
            .collect();
        Ok(Measured {
            sites: sites as u64,
            site_sweeps: (sites * (same_day + 2)) as u64,
            rows_written: w1 - w0,
            rows_read: r1 - r0,
            routes: Value::Object(routes),
            first: (after_first as f64 - empty as f64) / n,
            per_sweep,
            per_day: ((after_next_day as f64 - after_day as f64) / n - per_sweep).max(0.0),
            empty_shard: empty as f64 / code24_shared::ledger::JOB_SHARDS as f64,
            // Two days of rollups per site reached D1.
            d1_per_rollup: (d1_after.saturating_sub(d1_before)) as f64 / (2.0 * n),
            optimizer_ms_per_job: stack.batch_times(code24_shared::names::OPTIMIZE_QUEUE).median() / JOBS_PER_BATCH,
        })
    })
}

/// Waits until the flush alarm has rung after the last request (it rings within the ledger's
/// flush delay of the request that dirtied a rollup).
fn wait_for_flush(stack: &BenchStack, interrupt: &Interrupt) -> Result<()> {
    let until = Instant::now() + Duration::from_millis(code24_shared::ledger::rollups::FLUSH_DELAY_MS as u64 + 10_000);
    while Instant::now() < until {
        if interrupt.requested() {
            return Err("interrupted".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = stack;
    Ok(())
}

/// The local D1 database's bytes (every SQLite file under the stack's D1 state).
fn d1_bytes(stack: &BenchStack) -> u64 {
    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else if p.to_string_lossy().contains(".sqlite") {
                e.metadata().map_or(0, |m| m.len())
            } else {
                0
            }
        }).sum()
    }
    walk(&stack.state_dir.join("v3/d1"))
}

/// The site counts the storage and cost parts are computed at (also in `--quick`).
pub(crate) const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Cloudflare's limits on a SQLite Durable Object's and a D1 database's size: 10 GB each.
pub(crate) const TEN_GB: u64 = 10 * 1024 * 1024 * 1024;
/// The share of a limit a store may fill (the target).
pub(crate) const STORE_TARGET_PERCENT: u64 = 20;
/// Optimization sweeps per hour (every 3 minutes) and per day.
const SWEEPS_PER_HOUR: u64 = 20;

/// Prints one line of a bench part, `{"part": part, ...fields}` (the shape).
pub(crate) fn emit_part(part: &str, fields: Value) {
    let mut line = json!({ "part": part });
    if let (Some(out), Value::Object(more)) = (line.as_object_mut(), fields) {
        out.extend(more);
    }
    println!("{line}");
}

/// Bytes of one ledger shard in the steady state at `sites` sites: every site's lane and
/// rollups, and what the job retention keeps of its sweeps.
pub(crate) fn shard_bytes(m: &Measured, sites: u64) -> f64 {
    let retention_h = u64::from(code24_shared::config::LedgerConfig::MIN_RETENTION_HOURS);
    let sweeps_kept = retention_h * SWEEPS_PER_HOUR;
    let days_kept = retention_h / 24 + code24_shared::ledger::rollups::SHARD_KEEPS_DAYS_BEYOND_RETENTION;
    let per_site = m.first + (sweeps_kept - 1) as f64 * m.per_sweep + (days_kept - 1) as f64 * m.per_day;
    m.empty_shard + sites as f64 / f64::from(code24_shared::ledger::JOB_SHARDS) * per_site
}

/// Bytes of D1's daily rollups after a year at `sites` sites: one row per customer and day,
/// none deleted.
pub(crate) fn d1_bytes_after_a_year(m: &Measured, sites: u64) -> f64 {
    sites as f64 * 365.0 * m.d1_per_rollup
}

/// Figure 8 and the `storage` part's lines and figures.
pub(crate) fn figures(m: &Measured) -> Vec<super::Figure> {
    use super::native::thousands;
    use super::{Figure, Verdict};
    let per_site_sweep = m.rows_written as f64 / m.site_sweeps.max(1) as f64;
    emit_part(
        "rows",
        json!({"sites": m.sites, "site_sweeps": m.site_sweeps, "do_rows_written": m.rows_written, "do_rows_read": m.rows_read,
               "do_rows_written_per_site_sweep": super::stats::round(per_site_sweep * 100.0) / 100.0,
               "do_rows_read_per_site_sweep": super::stats::round(m.rows_read as f64 / m.site_sweeps.max(1) as f64),
               "by_route": m.routes, "bytes_per_site_first": m.first, "bytes_per_site_sweep": m.per_sweep,
               "bytes_per_site_day": m.per_day, "d1_bytes_per_rollup": m.d1_per_rollup}),
    );
    let mut figures = vec![Figure {
        figure: format!("8. Durable Object rows written per site-sweep (workerd's counts, {} sites)", thousands(m.sites)),
        value: format!("**{per_site_sweep:.2}** ({} rows over {} site-sweeps, flush included; by route: {})", m.rows_written, m.site_sweeps, m.routes),
        target: "≤ 1.0".into(),
        verdict: Verdict::of(per_site_sweep <= 1.0),
    }];
    let limit = TEN_GB as f64 * STORE_TARGET_PERCENT as f64 / 100.0;
    for sites in SIZES {
        for (store, bytes) in [("ledger_shard", shard_bytes(m, sites)), ("d1", d1_bytes_after_a_year(m, sites))] {
            let ok = bytes <= limit;
            emit_part("storage", json!({"store": store, "sites": sites, "bytes": bytes.round() as u64, "limit": TEN_GB, "ok": ok}));
            let what = if store == "d1" { "D1 after a year" } else { "ledger shard, steady state" };
            figures.push(Figure {
                figure: format!("9. storage: {what}, {} sites", thousands(sites)),
                value: format!("{:.2} GB ({:.1} % of 10 GB)", bytes / 1e9, bytes / TEN_GB as f64 * 100.0),
                target: format!("≤ {STORE_TARGET_PERCENT} % of 10 GB"),
                verdict: Verdict::of(ok),
            });
        }
    }
    figures
}
