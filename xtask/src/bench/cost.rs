//! Figure 4's monthly cost: the operations one site costs per sweep (counted by the native
//! run, see bench/native) times the sweeps in a month, priced with the dated table in
//! docs/PRICES.md. The table here is that document's numbers; a test keeps them equal.

use serde_json::{json, Value};

use super::native::thousands;
use super::stats::{emit, round};
use super::{Figure, Verdict};

/// Sweeps per month: every 3 minutes for 30 days.
pub(crate) const SWEEPS_PER_MONTH: f64 = 20.0 * 24.0 * 30.0;

/// One billed unit: (name, USD per million beyond the monthly inclusion, included per month).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Price {
    pub(crate) unit: &'static str,
    pub(crate) usd_per_million: f64,
    pub(crate) included_per_month: f64,
}

/// Workers Paid prices, as in docs/PRICES.md (read 2026-11-29).
pub(crate) const PRICES: &[Price] = &[
    Price { unit: "queue_operations", usd_per_million: 0.40, included_per_month: 1e6 },
    Price { unit: "do_requests", usd_per_million: 0.15, included_per_month: 1e6 },
    Price { unit: "do_rows_written", usd_per_million: 1.00, included_per_month: 50e6 },
    Price { unit: "r2_class_a", usd_per_million: 4.50, included_per_month: 1e6 },
    Price { unit: "d1_rows_read", usd_per_million: 0.001, included_per_month: 25e9 },
    Price { unit: "d1_rows_written", usd_per_million: 1.00, included_per_month: 50e6 },
    Price { unit: "worker_requests", usd_per_million: 0.30, included_per_month: 10e6 },
    Price { unit: "worker_cpu_ms", usd_per_million: 0.02, included_per_month: 30e6 },
    Price { unit: "do_duration_gb_s", usd_per_million: 12.50, included_per_month: 400e3 },
    Price { unit: "do_rows_read", usd_per_million: 0.001, included_per_month: 25e9 },
];

/// The Workers Paid subscription, per month.
pub(crate) const BASE_USD: f64 = 5.0;

/// Operations per site per sweep, from one native run's report.
pub(crate) fn per_site(report: &Value) -> Vec<(&'static str, f64)> {
    let n = report["sites"].as_f64().unwrap_or(1.0).max(1.0);
    let f = |k: &str| report[k].as_f64().unwrap_or(0.0);
    vec![
        // Each message is written, read and deleted once (under 64 KB each): 3 operations.
        ("queue_operations", 3.0 * f("queue_messages_sent") / n),
        ("do_requests", (f("ledger_requests_producer") + f("ledger_requests_consumer")) / n),
        ("do_rows_written", (f("ledger_rows_written") + f("ledger_sweep_rows_written")) / n),
        ("r2_class_a", f("r2_puts") / n),
        ("d1_rows_read", f("d1_rows_read") / n),
        ("d1_rows_written", f("d1_rows_written_max") / n),
        // The scheduled invocation and one consumer invocation per batch; the elite calls are
        // service-binding subrequests to workers outside this system (not priced here).
        ("worker_requests", (1.0 + f("consumer_batches")) / n),
    ]
}

/// Monthly USD for `sites` sites, per unit and in total (base subscription included).
pub(crate) fn monthly(per_site: &[(&'static str, f64)], sites: f64) -> (Vec<(&'static str, f64)>, f64) {
    let mut lines = Vec::new();
    let mut total = BASE_USD;
    for (unit, per) in per_site {
        let price = PRICES.iter().find(|p| p.unit == *unit).expect("every counted unit has a price");
        let volume = per * sites * SWEEPS_PER_MONTH;
        let usd = (volume - price.included_per_month).max(0.0) / 1e6 * price.usd_per_million;
        total += usd;
        lines.push((*unit, usd));
    }
    (lines, total)
}

/// The per-site figures and the monthly cost at 1k / 10k / 100k sites.
pub(crate) fn figures(report: &Value) -> Vec<Figure> {
    let ops = per_site(report);
    let mut fields = json!({"sites_counted": report["sites"]});
    for (unit, per) in &ops {
        fields[unit] = json!((*per * 10_000.0).round() / 10_000.0);
    }
    emit("ops_per_site_per_sweep", fields);
    let mut figures = vec![Figure {
        figure: "4. operations per site per sweep".into(),
        value: ops.iter().map(|(u, v)| format!("{u} {:.3}", v)).collect::<Vec<_>>().join(", "),
        target: "(counted, no target)".into(),
        verdict: Verdict::Info,
    }];
    for sites in [1_000u64, 10_000, 100_000] {
        let (lines, total) = monthly(&ops, sites as f64);
        let mut fields = json!({"sites": sites, "usd_per_month": round(total), "sweeps_per_month": SWEEPS_PER_MONTH});
        for (unit, usd) in &lines {
            fields[format!("{unit}_usd")] = json!(round(*usd));
        }
        emit("monthly_cost", fields);
        let biggest: Vec<String> = {
            let mut l = lines.clone();
            l.sort_by(|a, b| b.1.total_cmp(&a.1));
            l.iter().take(3).filter(|(_, u)| *u > 0.0).map(|(n, u)| format!("{n} ${u:.0}")).collect()
        };
        figures.push(Figure {
            figure: format!("4. monthly cost, {} sites", thousands(sites)),
            value: format!(
                "**${total:.0}/month** (largest: {})",
                if biggest.is_empty() { "none beyond the inclusions".into() } else { biggest.join(", ") }
            ),
            target: "(counted statements, not billed rows: figure 10 prices the rows workerd counts)".into(),
            verdict: Verdict::Info,
        });
    }
    figures
}

/// The unavoidable floor of one site-sweep: one R2 write and three queue operations.
pub(crate) const FLOOR: &[(&str, f64)] = &[("r2_class_a", 1.0), ("queue_operations", 3.0)];
/// The target: the monthly cost at 100,000 sites within this multiple of the floor.
pub(crate) const TARGET_RATIO: f64 = 1.3;
/// Seconds in the priced month (30 days) and the memory a Durable Object is billed at (GB).
const MONTH_S: f64 = 30.0 * 86_400.0;
const DO_GB: f64 = 0.128;

/// Monthly USD of `per_site` at `sites` sites, without the subscription.
fn usd(per_site: &[(&'static str, f64)], sites: f64) -> f64 {
    monthly(per_site, sites).1 - BASE_USD
}

/// Part `cost`: figure 4's operations with the ledger's rows as workerd counted them
/// (`rows_written_per_site_sweep`, `rows_read_per_site_sweep`), D1's rollup upserts as the
/// write-behind flush makes them (one per customer and flush), Worker CPU at the optimizer's
/// measured wall time per job (`cpu_ms_per_job`), and Durable Object duration as if every
/// ledger instance were active all month, against the floor, at 10k, 100k and 1M sites.
pub(crate) fn extended(
    report: &Value,
    rows_written_per_site_sweep: f64,
    rows_read_per_site_sweep: f64,
    cpu_ms_per_job: f64,
) -> Vec<Figure> {
    let replaced = ["do_rows_written", "d1_rows_written"];
    let mut ops: Vec<(&'static str, f64)> = per_site(report).into_iter().filter(|(u, _)| !replaced.contains(u)).collect();
    ops.push(("do_rows_written", rows_written_per_site_sweep));
    // Written behind: one upsert per customer and day per flush, not one per job.
    let flushes_per_day = 86_400.0 / f64::from(code24_shared::config::LedgerConfig::DEFAULT_ROLLUP_FLUSH_S);
    ops.push(("d1_rows_written", flushes_per_day / (SWEEPS_PER_MONTH / 30.0)));
    ops.push(("do_rows_read", rows_read_per_site_sweep));
    ops.push(("worker_cpu_ms", cpu_ms_per_job));
    let instances = f64::from(code24_shared::ledger::JOB_SHARDS + 1);
    let mut figures = Vec::new();
    for sites in super::storage::SIZES {
        let n = sites as f64;
        // Duration is per instance, not per site: priced as a per-site-sweep figure at this size.
        let mut all = ops.clone();
        all.push(("do_duration_gb_s", instances * MONTH_S * DO_GB / (n * SWEEPS_PER_MONTH)));
        let total = usd(&all, n);
        let floor = usd(FLOOR, n);
        let ratio = total / floor;
        super::storage::emit_part(
            "cost",
            json!({"sites": sites, "usd_month": round(total), "floor_usd_month": round(floor), "ratio": round(ratio),
                   "do_rows_written_per_site": round(rows_written_per_site_sweep)}),
        );
        let (lines, _) = monthly(&all, n);
        let mut biggest = lines.clone();
        biggest.sort_by(|a, b| b.1.total_cmp(&a.1));
        let biggest: Vec<String> = biggest.iter().take(4).filter(|(_, u)| *u > 0.0).map(|(u, d)| format!("{u} ${d:.0}")).collect();
        figures.push(Figure {
            figure: format!("10. monthly cost against the R2 + Queues floor, {} sites", thousands(sites)),
            value: format!("**{ratio:.2}×**: ${total:.0}/month against ${floor:.0} (largest: {})", biggest.join(", ")),
            target: if sites == 100_000 { format!("≤ {TARGET_RATIO}×") } else { "(priced, no target)".into() },
            verdict: if sites == 100_000 { Verdict::of(ratio <= TARGET_RATIO) } else { Verdict::Info },
        });
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_price_table_matches_the_document() {
        let doc = std::fs::read_to_string(crate::workspace_root().join("docs/PRICES.md")).unwrap();
        for price in PRICES {
            let row = doc
                .lines()
                .find(|l| l.contains(&format!("`{}`", price.unit)))
                .unwrap_or_else(|| panic!("docs/PRICES.md has no row for `{}`", price.unit));
            assert!(row.contains(&format!("${:.3}", price.usd_per_million)), "{row}");
        }
        assert!(doc.contains(&format!("${BASE_USD:.2}")));
    }

    #[test]
    fn nothing_is_billed_within_the_inclusions() {
        let ops = vec![("queue_operations", 3.0)];
        let (_, total) = monthly(&ops, 10.0);
        assert_eq!(total, BASE_USD);
        let (lines, _) = monthly(&ops, 1_000.0);
        // 3 × 1,000 × 14,400 = 43.2M operations, 42.2M of them billed at $0.40/M.
        assert!((lines[0].1 - 16.88).abs() < 1e-9, "{lines:?}");
    }

    #[test]
    fn the_floor_at_100k_sites_is_the_issues() {
        // One R2 write and three queue operations per site-sweep: about $8,200 a month.
        let floor = usd(FLOOR, 100_000.0);
        assert!((floor - 8_203.1).abs() < 1.0, "{floor}");
    }
}
