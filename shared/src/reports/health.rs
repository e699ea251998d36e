//! The dev health check's report (`dev/health-checks/{timestamp}.json`): each elite worker's
//! `/health`, an R2 write/read/delete round trip, D1 reachability, the active customer sites'
//! HTTP status, and one canary optimization, each with its latency, and the overall status.
//!
//! The overall status says who has to act: `ok` when every check passed; `degraded` when only
//! customer sites failed (the platform works; a customer's site is down or unreachable);
//! `failing` when any check of the platform itself failed.

use serde::{Deserialize, Serialize};

/// Version of the health-check object.
pub const HEALTH_REPORT_VERSION: u32 = 1;
/// Each site's HTTP check is abandoned (as unreachable) after this long.
pub const SITE_TIMEOUT_MS: u32 = 5_000;
/// Site checks in flight at once: enough to finish 50 sites in a few timeouts' time, few
/// enough not to look like a burst to anyone's site, and within the invocation's connection
/// budget (`pipeline::budget::connection_budget`, 4 of 6).
pub const SITE_CONCURRENCY: usize = 4;
/// Active sites checked per run, the first by customer id; the report says how many exist.
pub const MAX_SITES: u32 = 50;
/// The R2 key the round trip writes, reads back and deletes.
pub const PROBE_KEY: &str = "dev/health-checks/.probe";
/// The canary's customer id and site: not a real customer, so the canary never shows in a
/// customer's results or rollups (it writes nothing), and fault rules can aim at it.
pub const CANARY_CUSTOMER: &str = "code24-canary";
pub const CANARY_SITE_URL: &str = "https://canary.code24.example";

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Degraded,
    Failing,
}

/// What a check is about, which decides what its failure means for the overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckGroup {
    /// One elite worker's `/health` (counted as N/3 healthy).
    Elite,
    /// The platform's own storage and pipeline: R2, D1, the canary.
    Platform,
    /// The customer sites (their failure only degrades).
    Sites,
}

/// One check and how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub group: CheckGroup,
    pub ok: bool,
    pub latency_ms: i64,
    /// What was seen: a version, a status, the error.
    pub detail: String,
}

/// One customer site's HTTP check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteCheck {
    pub customer_id: String,
    pub url: String,
    /// A 2xx or 3xx answer within the timeout.
    pub ok: bool,
    pub http_status: Option<u16>,
    /// Why it was unreachable (network error, timeout).
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl SiteCheck {
    /// Whether an HTTP status counts as up: a redirect is an answer of a working site.
    pub fn status_ok(status: u16) -> bool {
        (200..400).contains(&status)
    }
}

/// `N/3 healthy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EliteHealthSummary {
    pub healthy: u32,
    pub total: u32,
    pub summary: String,
}

/// `dev/health-checks/{timestamp}.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    pub v: u32,
    pub run_id: String,
    /// The hourly slot this check stands for (RFC 3339).
    pub scheduled_at: String,
    pub generated_at: String,
    pub status: HealthStatus,
    pub elite: EliteHealthSummary,
    /// Every check, the sites' included as one aggregate check.
    pub checks: Vec<Check>,
    /// Each checked site, ordered by customer id.
    pub sites: Vec<SiteCheck>,
}

/// The overall status of a set of checks (see the module docs).
pub fn overall_status(checks: &[Check]) -> HealthStatus {
    let failed = |group: &dyn Fn(CheckGroup) -> bool| checks.iter().any(|c| !c.ok && group(c.group));
    if failed(&|g| g != CheckGroup::Sites) {
        HealthStatus::Failing
    } else if failed(&|g| g == CheckGroup::Sites) {
        HealthStatus::Degraded
    } else {
        HealthStatus::Ok
    }
}

/// The aggregate check of the sites: ok when every checked site answered. `latency_ms` is the
/// wall time of all site checks together.
pub fn sites_check(sites: &[SiteCheck], active: usize, latency_ms: i64) -> Check {
    let up = sites.iter().filter(|s| s.ok).count();
    let detail = match (sites.len(), active) {
        (0, _) => "no active sites".to_owned(),
        (n, a) if a > n => format!("{up}/{n} reachable (the first {n} of {a} active sites)"),
        (n, _) => format!("{up}/{n} reachable"),
    };
    Check { name: "sites".into(), group: CheckGroup::Sites, ok: up == sites.len(), latency_ms, detail }
}

impl HealthReport {
    /// The report of a set of checks: the elite summary and the status follow from them.
    pub fn new(run_id: &str, scheduled_at: &str, generated_at: &str, checks: Vec<Check>, mut sites: Vec<SiteCheck>) -> Self {
        sites.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        let elite: Vec<&Check> = checks.iter().filter(|c| c.group == CheckGroup::Elite).collect();
        let healthy = elite.iter().filter(|c| c.ok).count() as u32;
        let total = elite.len() as u32;
        Self {
            v: HEALTH_REPORT_VERSION,
            run_id: run_id.to_owned(),
            scheduled_at: scheduled_at.to_owned(),
            generated_at: generated_at.to_owned(),
            status: overall_status(&checks),
            elite: EliteHealthSummary { healthy, total, summary: format!("{healthy}/{total} healthy") },
            checks,
            sites,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, group: CheckGroup, ok: bool) -> Check {
        Check { name: name.into(), group, ok, latency_ms: 1, detail: String::new() }
    }

    fn site(customer: &str, ok: bool) -> SiteCheck {
        SiteCheck {
            customer_id: customer.into(),
            url: format!("https://{customer}.example"),
            ok,
            http_status: ok.then_some(200),
            error: None,
            latency_ms: 3,
        }
    }

    #[test]
    fn the_status_says_who_has_to_act() {
        let platform = || vec![check("elite_brand", CheckGroup::Elite, true), check("r2", CheckGroup::Platform, true)];
        let with = |extra: Vec<Check>| platform().into_iter().chain(extra).collect::<Vec<_>>();
        assert_eq!(overall_status(&with(vec![check("sites", CheckGroup::Sites, true)])), HealthStatus::Ok);
        assert_eq!(overall_status(&with(vec![check("sites", CheckGroup::Sites, false)])), HealthStatus::Degraded);
        assert_eq!(overall_status(&with(vec![check("canary", CheckGroup::Platform, false)])), HealthStatus::Failing);
        assert_eq!(
            overall_status(&with(vec![check("elite_designer", CheckGroup::Elite, false), check("sites", CheckGroup::Sites, false)])),
            HealthStatus::Failing
        );
    }

    #[test]
    fn sites_aggregate_and_elites_count() {
        let sites = vec![site("b", false), site("a", true)];
        let agg = sites_check(&sites, 2, 40);
        assert_eq!((agg.ok, agg.detail.as_str(), agg.latency_ms), (false, "1/2 reachable", 40));
        assert_eq!(sites_check(&sites[1..], 70, 5).detail, "1/1 reachable (the first 1 of 70 active sites)");
        assert!(sites_check(&[], 0, 0).ok);
        let checks = vec![
            check("elite_brand", CheckGroup::Elite, true),
            check("elite_designer", CheckGroup::Elite, false),
            check("elite_developer", CheckGroup::Elite, true),
            agg,
        ];
        let r = HealthReport::new("local.health-check.x", "s", "g", checks, sites);
        assert_eq!(r.elite.summary, "2/3 healthy");
        assert_eq!(r.status, HealthStatus::Failing);
        assert_eq!(r.sites.iter().map(|s| s.customer_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(SiteCheck::status_ok(301) && !SiteCheck::status_ok(404) && !SiteCheck::status_ok(500));
    }
}
