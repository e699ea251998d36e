//! Figure 7, the capacity table: `code24-bench-native --capacity N` for each site count runs
//! every invocation kind through the core with its own per-invocation meter and prints one
//! JSON line per (invocation, figure) against its limit (see bench/native/src/capacity.rs).
//! Computed, not timed, so `--quick` runs it whole. This module prints those lines, gives one
//! table row per site count, and renders the table of BENCHMARKS.md: every figure at every
//! site count, the largest site count inside every limit, and what breaks first beyond it.

use std::path::Path;

use serde_json::Value;

use super::native::{run_binary, thousands};
use super::{Figure, Verdict};
use crate::Result;

/// The site counts of the table (the issue's).
pub(crate) const SITES: &[u64] = &[1_000, 10_000, 100_000, 1_000_000];

/// One line of the native binary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub(crate) sites: u64,
    pub(crate) invocation: String,
    pub(crate) figure: String,
    pub(crate) value: u64,
    pub(crate) limit: u64,
    pub(crate) ok: bool,
}

impl Line {
    fn of(v: &Value) -> Option<Self> {
        (v["part"] == "capacity").then_some(())?;
        Some(Self {
            sites: v["sites"].as_u64()?,
            invocation: v["invocation"].as_str()?.to_owned(),
            figure: v["figure"].as_str()?.to_owned(),
            value: v["value"].as_u64()?,
            limit: v["limit"].as_u64()?,
            ok: v["ok"].as_bool()?,
        })
    }

    fn name(&self) -> String {
        format!("{} {}", self.invocation, self.figure)
    }
}

/// Runs the table's site counts; prints and returns every line.
pub(crate) fn run(root: &Path) -> Result<Vec<Line>> {
    let args: Vec<String> = SITES.iter().flat_map(|n| ["--capacity".to_owned(), n.to_string()]).collect();
    let values = run_binary(root, &args)?;
    for v in &values {
        println!("{v}");
    }
    let lines: Vec<Line> = values.iter().filter_map(Line::of).collect();
    if SITES.iter().any(|n| !lines.iter().any(|l| l.sites == *n)) {
        return Err(format!("the capacity run printed no lines for some of {SITES:?}"));
    }
    Ok(lines)
}

/// The figures over the design's headroom at `sites`, as `invocation figure value/limit`,
/// the first to break first: each with the site count where it crosses 80 % of its limit,
/// interpolated linearly from the size before (the figures grow linearly with the sites), when
/// it was within its headroom there.
fn over(lines: &[Line], sites: u64) -> Vec<String> {
    let mut broken: Vec<(u64, String)> = lines
        .iter()
        .filter(|l| l.sites == sites && !l.ok)
        .map(|l| {
            let crossing = crossing(lines, l);
            let from = crossing.map_or(String::new(), |n| format!(" (over 80 % from about {} sites)", thousands(n)));
            (crossing.unwrap_or(0), format!("{} {}/{}{from}", l.name(), value(l), value_of(l, l.limit)))
        })
        .collect();
    broken.sort_by_key(|(crossing, _)| *crossing);
    broken.into_iter().map(|(_, text)| text).collect()
}

/// Where `over` (a line over its headroom) crossed 80 % of its limit, between the table's size
/// before and its own, if it was within its headroom at the size before.
fn crossing(lines: &[Line], over: &Line) -> Option<u64> {
    let before = *SITES.iter().take_while(|n| **n < over.sites).last()?;
    let prev = lines.iter().find(|l| l.sites == before && l.invocation == over.invocation && l.figure == over.figure && l.ok)?;
    let bar = over.limit as f64 * 0.8;
    let (v0, v1) = (prev.value as f64, over.value as f64);
    if v1 <= v0 {
        return None;
    }
    let n = before as f64 + (bar - v0) / (v1 - v0) * (over.sites - before) as f64;
    // Rounded down to a thousand: the largest size known to be inside.
    Some((n as u64) / 1_000 * 1_000)
}

/// The largest site count with every figure inside its headroom (`None` if even the smallest
/// is not), and what breaks at the next one.
pub(crate) fn verdict(lines: &[Line]) -> (Option<u64>, Vec<String>) {
    verdict_without(lines, &[])
}

/// [`verdict`] leaving aside the figures named in `aside` (as `invocation figure`).
fn verdict_without(lines: &[Line], aside: &[String]) -> (Option<u64>, Vec<String>) {
    let kept: Vec<Line> = lines.iter().filter(|l| !aside.contains(&l.name())).cloned().collect();
    let mut largest = None;
    for &sites in SITES {
        let broken = over(&kept, sites);
        if !broken.is_empty() {
            return (largest, broken);
        }
        largest = Some(sites);
    }
    (largest, Vec::new())
}

/// The figures over their headroom already at the smallest size: per-invocation figures that
/// do not grow with the number of sites (a batch's), named `invocation figure`.
fn over_at_every_size(lines: &[Line]) -> Vec<String> {
    let names: Vec<String> = lines.iter().filter(|l| l.sites == SITES[0] && !l.ok).map(Line::name).collect();
    names.into_iter().filter(|n| SITES.iter().all(|&s| lines.iter().any(|l| l.sites == s && !l.ok && l.name() == *n))).collect()
}

/// One row of the figures table per site count.
pub(crate) fn figures(lines: &[Line]) -> Vec<Figure> {
    SITES
        .iter()
        .map(|&sites| {
            let broken = over(lines, sites);
            Figure {
                figure: format!("7. capacity, {} sites: every per-invocation figure", thousands(sites)),
                value: if broken.is_empty() {
                    "all within 80 % of their limits".into()
                } else {
                    format!("over 80 %: {}", broken.join("; "))
                },
                target: "≤ 80 % of each limit".into(),
                verdict: Verdict::of(broken.is_empty()),
            }
        })
        .collect()
}

fn value(l: &Line) -> String {
    value_of(l, l.value)
}

/// Bytes in MB, everything else as counted.
fn value_of(l: &Line, n: u64) -> String {
    if l.figure.contains("memory") {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        thousands(n)
    }
}

/// BENCHMARKS.md's capacity section.
pub(crate) fn section(lines: &[Line]) -> String {
    let mut out = String::from("## Capacity: each invocation against Cloudflare's limits (figure 7)\n\n");
    let (largest, broken) = verdict(lines);
    let beyond = |broken: &[String]| {
        if broken.is_empty() {
            String::new()
        } else {
            format!(" Beyond it, what breaks first: {}.", broken.join("; "))
        }
    };
    out.push_str(&match largest {
        Some(n) => format!("Largest site count with every figure within 80 % of its limit: **{}**.{}\n\n", thousands(n), beyond(&broken)),
        None => {
            let always = over_at_every_size(lines);
            let (scaling, next) = verdict_without(lines, &always);
            format!(
                "Largest site count with every figure within 80 % of its limit: **none**: at every size, {} (figures of one \
                 invocation that do not grow with the number of sites). Leaving those aside, every figure stays within 80 % up to \
                 **{}** sites.{}\n\n",
                always.join(", "),
                scaling.map_or("no".into(), thousands),
                beyond(&next)
            )
        }
    });
    out.push_str("| Invocation | Figure | Limit |");
    for n in SITES {
        out.push_str(&format!(" {} |", thousands(*n)));
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(SITES.len()));
    out.push('\n');
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for l in lines {
        if !rows.contains(&(&l.invocation, &l.figure)) {
            rows.push((&l.invocation, &l.figure));
        }
    }
    for (invocation, figure) in rows {
        let of = |n: u64| lines.iter().find(|l| l.sites == n && l.invocation == invocation && l.figure == figure);
        let Some(first) = of(SITES[0]) else { continue };
        out.push_str(&format!("| {invocation} | {figure} | {} |", value_of(first, first.limit)));
        for n in SITES {
            match of(*n) {
                Some(l) if l.ok => out.push_str(&format!(" {} |", value(l))),
                Some(l) => out.push_str(&format!(" **{}** over |", value(l))),
                None => out.push_str(" |"),
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sites: u64, figure: &str, value: u64, limit: u64) -> Line {
        let ok = value * 100 <= limit * 80;
        Line { sites, invocation: "producer".into(), figure: figure.into(), value, limit, ok }
    }

    #[test]
    fn the_table_names_the_largest_size_inside_every_limit_and_what_breaks_beyond() {
        let lines: Vec<Line> = SITES.iter().flat_map(|&n| [line(n, "subrequests", n / 90, 10_000), line(n, "connections", 4, 6)]).collect();
        let broken = "producer subrequests 11,111/10,000 (over 80 % from about 720,000 sites)".to_owned();
        assert_eq!(verdict(&lines), (Some(100_000), vec![broken.clone()]));
        let text = section(&lines);
        assert!(text.contains(&format!("**100,000**. Beyond it, what breaks first: {broken}")), "{text}");
        assert!(text.contains("| producer | subrequests | 10,000 | 11 | 111 | 1,111 | **11,111** over |"), "{text}");
        assert_eq!(figures(&lines).iter().filter(|f| f.verdict == Verdict::Pass).count(), 3);
        let all_ok: Vec<Line> = lines.iter().filter(|l| l.figure == "connections").cloned().collect();
        assert_eq!(verdict(&all_ok), (Some(1_000_000), Vec::new()));
        // A figure over at every size is named apart; the rest still gives its largest size.
        let mut always = lines.clone();
        always.extend(SITES.iter().map(|&n| line(n, "service_binding_calls", 300, 32)));
        assert_eq!(over_at_every_size(&always), ["producer service_binding_calls"]);
        let text = section(&always);
        assert!(text.contains("**none**: at every size, producer service_binding_calls"), "{text}");
        assert!(text.contains(&format!("up to **100,000** sites. Beyond it, what breaks first: {broken}.")), "{text}");
    }

    #[test]
    fn what_breaks_first_is_ordered_by_where_each_figure_crosses_its_headroom() {
        let mut lines: Vec<Line> = SITES.iter().map(|&n| line(n, "subrequests", n / 90, 10_000)).collect();
        // Over 80 % from 124,000 sites: 643 at 100k, 6,411 at 1M, limit 1,000.
        lines.extend([(1_000, 7), (10_000, 65), (100_000, 643), (1_000_000, 6_411)].map(|(n, v)| line(n, "d1_queries", v, 1_000)));
        let (largest, broken) = verdict(&lines);
        assert_eq!(largest, Some(100_000));
        assert_eq!(
            broken,
            [
                "producer d1_queries 6,411/1,000 (over 80 % from about 124,000 sites)",
                "producer subrequests 11,111/10,000 (over 80 % from about 720,000 sites)"
            ]
        );
        // Over already at the smallest size: no size before, no crossing to name.
        let always: Vec<Line> = SITES.iter().map(|&n| line(n, "connections", 6, 6)).collect();
        assert_eq!(verdict(&always), (None, vec!["producer connections 6/6".to_owned()]));
    }
}
