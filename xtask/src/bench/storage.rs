//! Figure 8 (Durable Object rows written per site-sweep) and part `storage`, measured on local
//! workerd: a stack with the shipped dispatcher, ledger, optimizer and stand-in runs real
//! sweeps; the ledger logs what each of its SQLite statements read and wrote, as workerd's
//! cursors count them (`rowsRead`, `rowsWritten`: Cloudflare's billing, indexes included), and
//! every job shard answers its database size (`Route::Stats`, through the ledger's local debug
//! passage). D1's size is the local D1 database's ([`sqlite_bytes`]).
//!
//! The run: `sites` sites, one sweep, `same_day` more sweeps of the same day, then one sweep
//! on the next UTC day, and a wait for the rollups' flush. A job shard writes its rows behind
//! (`code24_shared::ledger::journal`): every alarm folds them into its tables, so the steady
//! window starts after a fold (a wait for the alarm) and ends after the fold of its own sweeps
//! (another wait), whose rows it counts. The stack's `ROLLUP_FLUSH_SECONDS` (when the alarm
//! folds and flushes) is longer than the window's sweeps take, so the window folds once: as
//! often as a deployed shard at 100,000 sites, whose ring fills about every 9 sweeps sent by
//! shard (a deployed shard folds hourly, 20 sweeps, or when its ring is full). The rows line
//! says how many alarm charges wrote during the window (`steady_alarms`: an alarm logs its fold
//! and its flush apart, so two per shard when the window folded once). The
//! journal is a ring of `JOURNAL_SLOTS` entries: what the steady window adds to the shards is
//! counted as journal entries (bytes per entry, an upper bound: it includes any growth of the
//! lanes), and a shard's steady state holds a full ring. From the sizes after each step:
//! - `first`: bytes one site adds with its first sweep (its lane, its day's rollup, what the
//!   sweep keeps of its job),
//! - `per_sweep`: bytes one site adds with each further sweep of a day: none beyond the
//!   journal's, which the ring bounds (see above),
//! - `per_day`: what the first sweep of a new day adds beyond `per_sweep` (a new rollup).
//!
//! The steady state of a shard holding `n` sites is
//! `empty + JOURNAL_SLOTS × journal_entry + n × (first + (sweeps retained − 1) × per_sweep + (days kept − 1) × per_day)`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::local::{self, BenchStack};
use crate::interrupt::Interrupt;
use crate::Result;

/// Optimization jobs in one optimizer invocation, as deployed.
const JOBS_PER_BATCH: f64 =
    code24_shared::pipeline::budget::jobs_per_invocation(code24_shared::pipeline::optimize::SERVICE_BINDING_CALLS_PER_JOB) as f64;

/// What one measuring run found.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) sites: u64,
    /// Site-sweeps run (sites × sweeps).
    pub(crate) site_sweeps: u64,
    /// Rows written and read by every ledger instance over the run, flush included.
    pub(crate) rows_written: u64,
    pub(crate) rows_read: u64,
    /// Rows written and read by the same-day sweeps after the first (each site's lane and the
    /// day's rollup exist already, as in the steady state; flushes during them included), per
    /// site-sweep.
    pub(crate) steady_written: f64,
    pub(crate) steady_read: f64,
    /// Alarm charges that wrote rows during the steady window (a shard's fold and its flush are
    /// logged apart), and the stack's flush interval.
    pub(crate) steady_alarms: u64,
    pub(crate) flush_s: u32,
    /// Rows written per route (and `alarm`), over the run, from the ledger's log lines.
    pub(crate) routes: Value,
    /// Bytes of one site, see the module's header.
    pub(crate) first: f64,
    pub(crate) per_sweep: f64,
    pub(crate) per_day: f64,
    /// An empty shard's bytes (the schema).
    pub(crate) empty_shard: f64,
    /// Bytes one journal entry adds to a shard (the steady window's growth per entry added):
    /// a full ring is `JOURNAL_SLOTS` of them.
    pub(crate) journal_entry: f64,
    /// D1 bytes one rollup row adds (the local D1 file before and after the flush).
    pub(crate) d1_per_rollup: f64,
    /// The optimizer invocation's median wall time (wrangler's log) per job of a full batch.
    pub(crate) optimizer_ms_per_job: f64,
}

/// The job shards' bytes together (`Route::Stats`: the database size, which survives the
/// instances' eviction) and their journals' entries.
fn shard_bytes_now(stack: &BenchStack) -> Result<(u64, u64)> {
    let (mut bytes, mut entries) = (0, 0);
    for shard in 0..code24_shared::ledger::JOB_SHARDS {
        let stats = stack.ledger_stats(&code24_shared::ledger::shard_object(shard))?;
        bytes += stats["database_bytes"].as_u64().unwrap_or(0);
        entries += stats["journal_entries"].as_u64().unwrap_or(0);
    }
    Ok((bytes, entries))
}

/// (rows written, rows read, written per route, alarms that wrote) of the ledger's `ROWS_LOG` lines in wrangler's
/// log between bytes `from` and `to`. Local workerd evicts an idle instance after about ten seconds, and
/// its in-memory counters with it: the log keeps every charge.
fn rows_logged(stack: &BenchStack, from: usize, to: usize) -> (u64, u64, serde_json::Map<String, Value>, u64) {
    let text = std::fs::read(&stack.log_path).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from..to.min(text.len())).unwrap_or_default());
    let (mut written, mut read, mut routes, mut alarms) = (0, 0, serde_json::Map::new(), 0);
    for (route, rows) in text.lines().filter_map(code24_shared::ledger::stats::parse_rows_log) {
        alarms += u64::from(route == "alarm" && rows.written > 0);
        written += rows.written;
        read += rows.read;
        let entry = routes.entry(route.to_owned()).or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap_or(0) + rows.written);
    }
    (written, read, routes, alarms)
}

/// Runs the measuring sweeps on a fresh stack (see the module's header).
pub(crate) fn measure(root: &Path, sites: usize, same_day: usize, flush_s: u32, interrupt: &Interrupt) -> Result<Measured> {
    let unpaced = local::dispatcher_config(root, 0)?;
    let ledger = local::ledger_config(root, flush_s)?;
    let configs: Vec<String> =
        local::sweep_configs(&unpaced).into_iter().map(|c| if c == "ledger/wrangler.toml" { ledger.clone() } else { c }).collect();
    local::with_stack(root, "storage", &configs, interrupt, |stack| {
        stack.sites(sites, sites)?;
        let d1_before = d1_bytes(stack);
        let (empty, _) = shard_bytes_now(stack)?;
        let log_from = stack.log_len() as usize;
        stack.producer_sweep(sites, interrupt)?;
        wait_for_flush(flush_s, interrupt)?;
        let (after_first, entries_first) = shard_bytes_now(stack)?;
        let steady_from = stack.log_len() as usize;
        for _ in 0..same_day {
            stack.producer_sweep(sites, interrupt)?;
        }
        wait_for_flush(flush_s, interrupt)?;
        let (after_day, entries_day) = shard_bytes_now(stack)?;
        let (steady_written, steady_read, _, steady_alarms) = rows_logged(stack, steady_from, stack.log_len() as usize);
        let steady_site_sweeps = (sites * same_day.max(1)) as f64;
        // The next sweep is the first of the next UTC day.
        let day = 86_400_000;
        stack.next_slot_ms = (stack.next_slot_ms / day + 1) * day - 180_000;
        stack.producer_sweep(sites, interrupt)?;
        wait_for_flush(flush_s, interrupt)?;
        let (after_next_day, entries_next_day) = shard_bytes_now(stack)?;
        let (written, read, routes, _) = rows_logged(stack, log_from, usize::MAX);
        let d1_after = d1_bytes(stack);
        let n = sites as f64;
        // What the same-day sweeps added is their journal entries (see the module's header).
        let journal_entry = after_day.saturating_sub(after_first) as f64 / entries_day.saturating_sub(entries_first).max(1) as f64;
        let per_sweep = 0.0;
        Ok(Measured {
            sites: sites as u64,
            site_sweeps: (sites * (same_day + 2)) as u64,
            rows_written: written,
            rows_read: read,
            steady_written: steady_written as f64 / steady_site_sweeps,
            steady_read: steady_read as f64 / steady_site_sweeps,
            steady_alarms,
            flush_s,
            routes: Value::Object(routes),
            first: (after_first as f64 - empty as f64) / n,
            per_sweep,
            // Less the next day's sweep's journal entries.
            per_day: ((after_next_day as f64 - after_day as f64 - entries_next_day.saturating_sub(entries_day) as f64 * journal_entry) / n
                - per_sweep)
                .max(0.0),
            empty_shard: empty as f64 / f64::from(code24_shared::ledger::JOB_SHARDS),
            journal_entry,
            // Two days of rollups per site reached D1.
            d1_per_rollup: d1_after.saturating_sub(d1_before) as f64 / (2.0 * n),
            optimizer_ms_per_job: stack.batch_times(code24_shared::names::OPTIMIZE_QUEUE).median() / JOBS_PER_BATCH,
        })
    })
}

/// Waits until the flush alarm has rung after the last request: it rings within the stack's
/// `ROLLUP_FLUSH_SECONDS` (`flush_s`) of the request that dirtied a rollup.
fn wait_for_flush(flush_s: u32, interrupt: &Interrupt) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(u64::from(flush_s) + 10);
    while Instant::now() < until {
        if interrupt.requested() {
            return Err("interrupted".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// The local D1 database's bytes: the page count of its newest commit (in the write-ahead log
/// when there is one, else in the database file's header) times the page size, which is what
/// a database's size is on Cloudflare too.
fn d1_bytes(stack: &BenchStack) -> u64 {
    let dir = stack.state_dir.join("v3/d1/miniflare-D1DatabaseObject");
    let files = std::fs::read_dir(&dir).into_iter().flatten().flatten().map(|e| e.path());
    files
        .filter(|p| p.extension().is_some_and(|e| e == "sqlite") && !p.ends_with("metadata.sqlite"))
        .map(|p| sqlite_bytes(&std::fs::read(&p).unwrap_or_default(), &std::fs::read(p.with_extension("sqlite-wal")).unwrap_or_default()))
        .sum()
}

/// A SQLite database's size from its file and its write-ahead log (see [`d1_bytes`]).
pub(crate) fn sqlite_bytes(db: &[u8], wal: &[u8]) -> u64 {
    let be32 = |b: &[u8], at: usize| b.get(at..at + 4).map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]));
    let page_size = match db.get(16..18).map(|x| u16::from_be_bytes([x[0], x[1]])) {
        Some(1) => 65_536,
        Some(n) => u64::from(n),
        None => return 0,
    };
    let mut pages = u64::from(be32(db, 28));
    // WAL: a 32-byte header (salts at 16 and 20), then frames of a 24-byte header and a page;
    // a commit frame's header holds the database's page count after the commit (at 4), and a
    // frame is current only while its salts equal the header's.
    if wal.len() >= 32 {
        let frame = 24 + page_size as usize;
        let mut at = 32;
        while at + frame <= wal.len() {
            if wal[at + 8..at + 16] != wal[16..24] {
                break;
            }
            let committed = be32(wal, at + 4);
            if committed > 0 {
                pages = u64::from(committed);
            }
            at += frame;
        }
    }
    pages * page_size
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
/// rollups, what the job retention keeps of its sweeps, and a full journal.
pub(crate) fn shard_bytes(m: &Measured, sites: u64) -> f64 {
    let retention_h = u64::from(code24_shared::config::LedgerConfig::MIN_RETENTION_HOURS);
    let sweeps_kept = retention_h * SWEEPS_PER_HOUR;
    let days_kept = retention_h / 24 + code24_shared::ledger::rollups::SHARD_KEEPS_DAYS_BEYOND_RETENTION;
    let per_site = m.first + (sweeps_kept - 1) as f64 * m.per_sweep + (days_kept - 1) as f64 * m.per_day;
    let journal = code24_shared::ledger::journal::JOURNAL_SLOTS as f64 * m.journal_entry;
    m.empty_shard + journal + sites as f64 / f64::from(code24_shared::ledger::JOB_SHARDS) * per_site
}

/// Bytes of D1's daily rollups after a year at `sites` sites: one row per customer and day of
/// the days D1 keeps (`rollups::D1_KEEPS_DAYS`).
pub(crate) fn d1_bytes_after_a_year(m: &Measured, sites: u64) -> f64 {
    sites as f64 * code24_shared::ledger::rollups::D1_KEEPS_DAYS.min(365) as f64 * m.d1_per_rollup
}

/// Figure 8 and the `storage` part's lines and figures.
pub(crate) fn figures(m: &Measured) -> Vec<super::Figure> {
    use super::native::thousands;
    use super::{Figure, Verdict};
    let per_site_sweep = m.rows_written as f64 / m.site_sweeps.max(1) as f64;
    let steady = m.steady_written;
    emit_part(
        "rows",
        json!({"sites": m.sites, "site_sweeps": m.site_sweeps, "do_rows_written": m.rows_written, "do_rows_read": m.rows_read,
               "do_rows_written_per_site_sweep": super::stats::round(per_site_sweep),
               "do_rows_read_per_site_sweep": super::stats::round(m.rows_read as f64 / m.site_sweeps.max(1) as f64),
               "steady_do_rows_written_per_site_sweep": super::stats::round(steady),
               "steady_do_rows_read_per_site_sweep": super::stats::round(m.steady_read),
               "steady_alarms": m.steady_alarms, "ledger_flush_seconds": m.flush_s,
               "by_route": m.routes, "bytes_per_site_first": m.first, "bytes_per_site_sweep": m.per_sweep,
               "bytes_per_site_day": m.per_day, "d1_bytes_per_rollup": m.d1_per_rollup}),
    );
    let mut figures = vec![Figure {
        figure: format!("8. Durable Object rows written per site-sweep (workerd's counts, {} sites)", thousands(m.sites)),
        value: format!(
            "**{steady:.2}** in a day's later sweeps; {per_site_sweep:.2} over the whole run ({} rows over {} site-sweeps, \
             with each lane's and day's first write and the flushes; by route: {})",
            m.rows_written, m.site_sweeps, m.routes
        ),
        target: "≤ 1.0".into(),
        verdict: Verdict::of(steady <= 1.0),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_size_is_its_newest_commit_times_the_page_size() {
        let mut db = vec![0u8; 100];
        db[16..18].copy_from_slice(&512u16.to_be_bytes());
        db[28..32].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(sqlite_bytes(&db, &[]), 3 * 512);
        let mut wal = vec![0u8; 32];
        wal[16..24].copy_from_slice(b"saltsalt");
        for (commit, salt) in [(0u32, b"saltsalt"), (5, b"saltsalt"), (0, b"saltsalt"), (9, b"oldsalts")] {
            let mut frame = vec![0u8; 24 + 512];
            frame[4..8].copy_from_slice(&commit.to_be_bytes());
            frame[8..16].copy_from_slice(salt);
            wal.extend(frame);
        }
        // The frame with other salts is left over from before the log restarted: not current.
        assert_eq!(sqlite_bytes(&db, &wal), 5 * 512);
        assert_eq!(sqlite_bytes(&[], &[]), 0);
    }
}
